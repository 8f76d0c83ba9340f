"""Alembic's environment for the coordinator's migrations (issue 13 §3).

Run from code only (:mod:`shipyard.coordinator.migrate` builds the ``Config``): the database URL
comes in ``config.attributes["url"]``, so no ``alembic.ini`` and no URL in a file. Online mode
only: the coordinator migrates a live database, and offline SQL scripts are not offered.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import shipyard.coordinator.tables  # noqa: F401  (declares the tables on the metadata)
from shipyard.coordinator.schema import metadata

_url = str(context.config.attributes["url"])
_engine = create_engine(_url, poolclass=pool.NullPool)
with _engine.connect() as _connection:
    context.configure(connection=_connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
_engine.dispose()
