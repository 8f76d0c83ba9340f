"""The coordinator's tables for who may do what (issue 13 §2): users, groups, a role per
membership, the worker and manager principals tokens are issued to, and the token signing key.

Declared on the one :data:`shipyard.coordinator.schema.metadata`; the Alembic revision
``0002_auth`` creates them. Roles are stored as small integers (Read=0 < Write=1 < Admin=2, so
"at least Write" is ``role >= 1`` in SQL too), checked by the database as well as the code.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
)

from shipyard.coordinator.schema import metadata

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    # "scrypt$N$r$p$salt$hash" (shipyard.coordinator.passwords): the KDF's parameters travel
    # with the hash, so they can be raised later without invalidating existing passwords.
    Column("password_hash", Text, nullable=False),
    Column("admin", Boolean, nullable=False, server_default="false"),
    # Copied into every token issued to the user; a new value (password change) revokes them all.
    Column("signature", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

groups = Table(
    "groups",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("creator_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("group_id", BigInteger, ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("role", SmallInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("user_id", "group_id"),
    CheckConstraint("role BETWEEN 0 AND 2", name="role"),
)

#: Workers and node managers: not users, they hold tokens of their own kind for one group.
principals = Table(
    "principals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("group_id", BigInteger, ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("creator_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL")),
    Column("signature", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('worker', 'manager')", name="kind"),
)

#: The Ed25519 key pair tokens are signed with: one row, made by the first coordinator to start.
#: Kept in the database, not in a file under one server's home, because coordinators are
#: stateless and several may serve one database: each must verify the others' tokens.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("private_pem", Text, nullable=False),
    Column("public_pem", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("id = 1", name="one_key"),
)
