"""The coordinator (issue 13, cluster mode): tasks, workers, users and their roles, on
PostgreSQL. Served by ``shipyard serve --db postgresql://…``."""
