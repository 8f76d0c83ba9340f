"""``shipyard serve``: the Operations protocol over HTTP (FastAPI + uvicorn), and with
``--db postgresql://…`` the coordinator's routes too (issue 13)."""
