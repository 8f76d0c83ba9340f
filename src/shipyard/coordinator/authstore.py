"""Every query of the coordinator's users, groups, memberships, principals and signing key, by
name (issue 13 §2). Each takes an open SQLAlchemy ``Connection``; the caller owns the
transaction (``engine.begin()``), so several calls commit together or not at all.

Each write that changes who a user is or what they may do (password, admin flag, groups,
memberships) bumps :func:`generation`: :class:`~shipyard.coordinator.auth.Auth` believes a user's
identity and memberships read before the bump no more (a change made through this process
applies at its next request; one made by another process, within ``Auth``'s ``user_ttl``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shipyard.coordinator.authschema import groups, memberships, principals, signing_keys, users
from shipyard.coordinator.tokens import (
    Kind,
    Role,
    generate_key_pair,
    name_problem,
    new_signature,
)

_generation = 0


def generation() -> int:
    """How many user or membership writes this process has made (see the module's doc)."""
    return _generation


def _changed() -> None:
    # Two increments racing may count as one; it still moves, and any move is enough.
    global _generation
    _generation += 1


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    password_hash: str
    admin: bool
    signature: int


@dataclass(frozen=True)
class PrincipalRow:
    id: uuid.UUID
    kind: Kind
    group: str
    signature: int
    revoked: bool


def _user(row: object) -> UserRow:
    mapping = row._mapping  # type: ignore[attr-defined]
    return UserRow(
        int(mapping["id"]),
        str(mapping["name"]),
        str(mapping["password_hash"]),
        bool(mapping["admin"]),
        int(mapping["signature"]),
    )


def _nameable(name: str) -> bool:
    """Whether any user or group could have ``name``: others (a NUL byte, which PostgreSQL's
    text refuses with an error; 10,000 characters) are not looked up at all."""
    return name_problem("", name) is None


def user_by_name(connection: Connection, name: str) -> UserRow | None:
    if not _nameable(name):
        return None
    row = connection.execute(select(users).where(users.c.name == name)).first()
    return _user(row) if row is not None else None


def create_user(
    connection: Connection, name: str, password_hash: str, *, admin: bool
) -> UserRow | None:
    """A new user; None when the name is taken (by a creation at the same moment too)."""
    _changed()
    row = connection.execute(
        pg_insert(users)
        .values(name=name, password_hash=password_hash, admin=admin, signature=new_signature())
        .on_conflict_do_nothing(index_elements=[users.c.name])
        .returning(users)
    ).first()
    return _user(row) if row is not None else None


def list_users(connection: Connection) -> list[UserRow]:
    return [_user(row) for row in connection.execute(select(users).order_by(users.c.name))]


def set_password(connection: Connection, user_id: int, password_hash: str) -> int:
    """Store a new hash and draw a new signature (every older token of the user stops
    working); the new signature."""
    signature = new_signature()
    _changed()
    connection.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, signature=signature, updated_at=func.now())
    )
    return signature


def set_admin(connection: Connection, user_id: int, admin: bool) -> None:
    _changed()
    connection.execute(
        update(users).where(users.c.id == user_id).values(admin=admin, updated_at=func.now())
    )


def count_admins(connection: Connection) -> int:
    """How many administrators there are, their rows locked until the transaction ends: two
    demotions at once cannot both see the other administrator still there."""
    locked = select(users.c.id).where(users.c.admin).with_for_update()
    return len(connection.execute(locked).all())


# Groups and memberships


def group_id(connection: Connection, name: str) -> int | None:
    if not _nameable(name):
        return None
    found = connection.execute(select(groups.c.id).where(groups.c.name == name)).scalar()
    return int(found) if found is not None else None


def create_group(connection: Connection, name: str, creator_id: int) -> int | None:
    """A new group whose creator is its Admin; None when the name is taken."""
    _changed()  # an administrator's memberships are every group
    created = connection.execute(
        pg_insert(groups)
        .values(name=name, creator_id=creator_id)
        .on_conflict_do_nothing(index_elements=[groups.c.name])
        .returning(groups.c.id)
    ).scalar()
    if created is None:
        return None
    set_member(connection, int(created), creator_id, Role.ADMIN)
    return int(created)


def set_member(connection: Connection, group: int, user_id: int, role: Role) -> None:
    """Add a member, or change the member's role."""
    _changed()
    statement = pg_insert(memberships).values(user_id=user_id, group_id=group, role=int(role))
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[memberships.c.user_id, memberships.c.group_id],
            set_={"role": statement.excluded.role},
        )
    )


def remove_member(connection: Connection, group: int, user_id: int) -> bool:
    _changed()
    removed = connection.execute(
        delete(memberships).where(memberships.c.group_id == group, memberships.c.user_id == user_id)
    )
    return removed.rowcount > 0


def role_in(connection: Connection, user_id: int, group_name: str) -> tuple[bool, Role | None]:
    """(whether the group exists, the user's role in it or None)."""
    if not _nameable(group_name):
        return False, None
    row = connection.execute(
        select(groups.c.id, memberships.c.role)
        .select_from(
            groups.outerjoin(
                memberships,
                (memberships.c.group_id == groups.c.id) & (memberships.c.user_id == user_id),
            )
        )
        .where(groups.c.name == group_name)
    ).first()
    if row is None:
        return False, None
    return True, (Role(row.role) if row.role is not None else None)


def groups_of(connection: Connection, user_id: int) -> dict[str, Role]:
    rows = connection.execute(
        select(groups.c.name, memberships.c.role)
        .join(memberships, memberships.c.group_id == groups.c.id)
        .where(memberships.c.user_id == user_id)
        .order_by(groups.c.name)
    )
    return {str(row.name): Role(row.role) for row in rows}


def memberships_of(
    connection: Connection, user_id: int, *, admin: bool
) -> dict[str, tuple[int, Role]]:
    """The user's groups: name → (id, role); every group, as Admin, for an administrator."""
    if admin:
        rows = connection.execute(select(groups.c.name, groups.c.id)).all()
        return {str(row.name): (int(row.id), Role.ADMIN) for row in rows}
    rows = connection.execute(
        select(groups.c.name, groups.c.id, memberships.c.role)
        .join(memberships, memberships.c.group_id == groups.c.id)
        .where(memberships.c.user_id == user_id)
    ).all()
    return {str(row.name): (int(row.id), Role(row.role)) for row in rows}


def members_of(connection: Connection, group: int) -> dict[str, Role]:
    rows = connection.execute(
        select(users.c.name, memberships.c.role)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.group_id == group)
        .order_by(users.c.name)
    )
    return {str(row.name): Role(row.role) for row in rows}


def count_group_admins(connection: Connection, group: int) -> int:
    """How many Admins the group has, their memberships locked as in :func:`count_admins`."""
    locked = (
        select(memberships.c.user_id)
        .where(memberships.c.group_id == group, memberships.c.role == int(Role.ADMIN))
        .with_for_update()
    )
    return len(connection.execute(locked).all())


# Worker and manager principals


def create_principal(
    connection: Connection, kind: Kind, group: int, creator_id: int
) -> PrincipalRow:
    new = uuid.uuid4()
    signature = new_signature()
    connection.execute(
        insert(principals).values(
            id=new, kind=kind.value, group_id=group, creator_id=creator_id, signature=signature
        )
    )
    name = connection.execute(select(groups.c.name).where(groups.c.id == group)).scalar_one()
    return PrincipalRow(new, kind, str(name), signature, False)


def principal_by_id(connection: Connection, principal: uuid.UUID) -> PrincipalRow | None:
    row = connection.execute(
        select(principals, groups.c.name.label("group_name"))
        .join(groups, groups.c.id == principals.c.group_id)
        .where(principals.c.id == principal)
    ).first()
    if row is None:
        return None
    return PrincipalRow(
        row.id, Kind(row.kind), str(row.group_name), int(row.signature), bool(row.revoked)
    )


def revoke_principal(connection: Connection, principal: uuid.UUID, group: int) -> bool:
    """Revoke a worker's or manager's token(s) of ``group``; whether there was one."""
    done = connection.execute(
        update(principals)
        .where(principals.c.id == principal, principals.c.group_id == group)
        .values(revoked=True)
    )
    return done.rowcount > 0


# The signing key


def signing_key_pair(connection: Connection) -> tuple[str, str]:
    """The (private, public) PEM pair, made by whichever coordinator asks first: two starting
    at once both insert, one wins, and both read the winner's pair."""
    private_pem, public_pem = generate_key_pair()
    connection.execute(
        pg_insert(signing_keys)
        .values(id=1, private_pem=private_pem, public_pem=public_pem)
        .on_conflict_do_nothing(index_elements=[signing_keys.c.id])
    )
    row = connection.execute(
        select(signing_keys.c.private_pem, signing_keys.c.public_pem).where(signing_keys.c.id == 1)
    ).one()
    return str(row.private_pem), str(row.public_pem)
