"""The coordinator's tables, as SQLAlchemy Core metadata: one ``MetaData`` every part of the
coordinator declares its tables on (tasks and workers here; users, groups and keys in
:mod:`shipyard.coordinator.authschema`), and the Alembic migrations under
``coordinator/migrations`` create them revision by revision."""

from __future__ import annotations

from sqlalchemy import MetaData

#: Constraint names Alembic can find again (and that read well in an error).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)
