"""The coordinator's routes for users, groups and tokens (issue 13 §2), on an ``APIRouter``.

``install(app, auth)`` mounts them with the ``{"msg": …}`` error handlers; ``router(auth)``
alone is the router, for a server that registers the handlers itself. Creations answer 201.

- ``POST /login`` name + password → a user token. ``GET /me``; ``POST /me/password`` (a new
  token; every older one of the user stops working).
- Administrators: ``GET|POST /users``, ``PUT /users/{name}/admin``, ``POST /users/{name}/password``.
- ``POST /groups`` (the creator is its Admin), ``GET /groups`` (the caller's), ``GET
  /groups/{group}`` (Read), ``PUT|DELETE /groups/{group}/members/{user}`` (Admin),
  ``POST /groups/{group}/workers`` and ``…/managers`` (Write): a token of that kind;
  ``DELETE /groups/{group}/principals/{id}`` (Write) revokes one.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations, and theirs
name the ``auth`` of the enclosing factory (``Depends(auth.current_user)``), which only an
annotation evaluated where it is written can see.
"""

import uuid
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shipyard.coordinator import authstore, passwords
from shipyard.coordinator.auth import (
    PRINCIPAL_LIFETIME,
    USER_LIFETIME,
    Auth,
    Issued,
    Membership,
    User,
)
from shipyard.coordinator.httperrors import Forbidden, Unauthorized, install_handlers
from shipyard.coordinator.throttle import LoginThrottle
from shipyard.coordinator.tokens import Kind, Role, name_problem
from shipyard.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Connection

RoleLabel = Literal["Read", "Write", "Admin"]


class Login(BaseModel):
    name: str = Field(max_length=200)
    password: str = Field(max_length=passwords.MAX_PASSWORD)


class Token(BaseModel):
    token: str
    kind: Literal["user", "worker", "manager"]
    expires_at: int = Field(description="Seconds since the epoch (UTC).")


class Me(BaseModel):
    name: str
    admin: bool
    groups: dict[str, RoleLabel]


class PasswordChange(BaseModel):
    old_password: str = Field(max_length=passwords.MAX_PASSWORD)
    new_password: str = Field(max_length=passwords.MAX_PASSWORD)


class NewUser(BaseModel):
    name: str = Field(max_length=200)
    password: str = Field(max_length=passwords.MAX_PASSWORD)
    admin: bool = False


class UserInfo(BaseModel):
    name: str
    admin: bool


class Users(BaseModel):
    users: list[UserInfo]


class AdminFlag(BaseModel):
    admin: bool


class NewPassword(BaseModel):
    password: str = Field(max_length=passwords.MAX_PASSWORD)


class NewGroup(BaseModel):
    name: str = Field(max_length=200)


class Groups(BaseModel):
    groups: dict[str, RoleLabel]


class GroupInfo(BaseModel):
    name: str
    role: RoleLabel = Field(description="The caller's role in the group.")
    members: dict[str, RoleLabel]


class MemberRole(BaseModel):
    role: RoleLabel


class Member(BaseModel):
    group: str
    user: str
    role: RoleLabel | None = Field(description="None once removed.")


class NewPrincipal(BaseModel):
    lifetime_seconds: int = Field(default=PRINCIPAL_LIFETIME, ge=60, le=366 * 24 * 3600)


class PrincipalToken(BaseModel):
    id: str
    kind: Literal["worker", "manager"]
    group: str
    token: str
    expires_at: int


class Revoked(BaseModel):
    id: str
    group: str
    revoked: bool


def _valid_name(what: str, name: str) -> str:
    problem = name_problem(what, name)
    if problem:
        raise BadRequest(problem)
    return name


def _valid_password(password: str) -> str:
    problem = passwords.password_problem(password)
    if problem:
        raise BadRequest(problem)
    return password


def _user_token(auth: Auth, name: str, signature: int) -> Token:
    issued: Issued = auth.issue(name, Kind.USER, signature, USER_LIFETIME)
    return Token(token=issued.token, kind="user", expires_at=issued.expires)


def _known_user(connection: "Connection", name: str) -> authstore.UserRow:
    row = authstore.user_by_name(connection, name)
    if row is None:
        raise NotFound(f"no user named {name[:64]!r}", hint="GET /users lists them")
    return row


def install(app: "FastAPI", auth: Auth, *, throttle: LoginThrottle | None = None) -> None:
    """Mount the routes on ``app`` with the handlers that answer refusals as ``{"msg": …}``."""
    install_handlers(app)
    app.include_router(router(auth, throttle=throttle))


def router(auth: Auth, *, throttle: LoginThrottle | None = None) -> APIRouter:
    """The routes; ``throttle`` counts failed logins (default: one of its own on the auth's
    clock)."""
    routes = APIRouter(tags=["users and groups"])
    _session_routes(routes, auth, throttle or LoginThrottle(auth.clock))
    _user_routes(routes, auth)
    _group_routes(routes, auth)
    _principal_routes(routes, auth)
    return routes


def _session_routes(routes: APIRouter, auth: Auth, throttle: LoginThrottle) -> None:
    @routes.post("/login", responses={429: {"description": "Too many failed logins"}})
    def login(body: Login) -> Token:
        """A user token for a name and password (7 days)."""
        throttle.check(body.name)
        with auth.engine.connect() as connection:
            row = authstore.user_by_name(connection, body.name)
        # An unknown name costs a hash too: how long a login takes tells no one which names exist.
        stored = row.password_hash if row is not None else passwords.DUMMY_HASH
        if not passwords.verify_password(body.password, stored) or row is None:
            throttle.failed(body.name)
            raise Unauthorized("wrong name or password")
        throttle.succeeded(body.name)
        return _user_token(auth, row.name, row.signature)

    @routes.get("/me")
    def me(user: Annotated[User, Depends(auth.current_user)]) -> Me:
        with auth.engine.connect() as connection:
            groups = authstore.groups_of(connection, user.id)
        return Me(name=user.name, admin=user.admin, groups=_labels(groups))

    @routes.post("/me/password")
    def change_password(
        body: PasswordChange, user: Annotated[User, Depends(auth.current_user)]
    ) -> Token:
        """Every token the user held stops working; the new one is returned."""
        _valid_password(body.new_password)
        throttle.check(user.name)  # a stolen token is no way to guess the password faster
        with auth.engine.begin() as connection:
            row = _known_user(connection, user.name)
            if not passwords.verify_password(body.old_password, row.password_hash):
                throttle.failed(user.name)
                raise Forbidden("the old password is wrong")
            signature = authstore.set_password(
                connection, row.id, passwords.hash_password(body.new_password)
            )
        return _user_token(auth, row.name, signature)


def _labels(roles: dict[str, Role]) -> dict[str, RoleLabel]:
    return {name: role.label for name, role in roles.items()}  # type: ignore[misc]


def _user_routes(routes: APIRouter, auth: Auth) -> None:
    Admin = Annotated[User, Depends(auth.require_admin)]

    @routes.get("/users")
    def list_users(admin: Admin) -> Users:
        with auth.engine.connect() as connection:
            rows = authstore.list_users(connection)
        return Users(users=[UserInfo(name=row.name, admin=row.admin) for row in rows])

    @routes.post("/users", status_code=201)
    def create_user(body: NewUser, admin: Admin) -> UserInfo:
        name = _valid_name("user", body.name)
        hashed = passwords.hash_password(_valid_password(body.password))
        with auth.engine.begin() as connection:
            row = authstore.create_user(connection, name, hashed, admin=body.admin)
        if row is None:
            raise Conflict(f"a user named {name!r} exists")
        return UserInfo(name=row.name, admin=row.admin)

    @routes.put("/users/{name}/admin")
    def set_admin(name: str, body: AdminFlag, admin: Admin) -> UserInfo:
        with auth.engine.begin() as connection:
            row = _known_user(connection, name)
            if row.admin and not body.admin and authstore.count_admins(connection) <= 1:
                raise Conflict(f"{name} is the last administrator", hint="make another first")
            authstore.set_admin(connection, row.id, body.admin)
        return UserInfo(name=row.name, admin=body.admin)

    @routes.post("/users/{name}/password")
    def reset_password(name: str, body: NewPassword, admin: Admin) -> UserInfo:
        """Set a user's password; the user's tokens stop working."""
        hashed = passwords.hash_password(_valid_password(body.password))
        with auth.engine.begin() as connection:
            row = _known_user(connection, name)
            authstore.set_password(connection, row.id, hashed)
        return UserInfo(name=row.name, admin=row.admin)


def _group_routes(routes: APIRouter, auth: Auth) -> None:
    @routes.post("/groups", status_code=201)
    def create_group(
        body: NewGroup, user: Annotated[User, Depends(auth.current_user)]
    ) -> GroupInfo:
        name = _valid_name("group", body.name)
        with auth.engine.begin() as connection:
            if authstore.create_group(connection, name, user.id) is None:
                raise Conflict(f"a group named {name!r} exists", hint="choose another name")
        return GroupInfo(name=name, role="Admin", members={user.name: "Admin"})

    @routes.get("/groups")
    def my_groups(user: Annotated[User, Depends(auth.current_user)]) -> Groups:
        """The caller's groups and roles."""
        with auth.engine.connect() as connection:
            return Groups(groups=_labels(authstore.groups_of(connection, user.id)))

    @routes.get("/groups/{group}")
    def group_info(
        group: str, member: Annotated[Membership, Depends(auth.require_role(Role.READ))]
    ) -> GroupInfo:
        with auth.engine.connect() as connection:
            members = authstore.members_of(connection, _group_id(connection, group))
        return GroupInfo(name=group, role=member.role.label, members=_labels(members))

    @routes.put("/groups/{group}/members/{user}")
    def set_member(
        group: str,
        user: str,
        body: MemberRole,
        member: Annotated[Membership, Depends(auth.require_role(Role.ADMIN))],
    ) -> Member:
        """Add a member with a role, or change the member's role."""
        role = Role.parse(body.role)
        with auth.engine.begin() as connection:
            target, group_id = _known_user(connection, user), _group_id(connection, group)
            if role is not Role.ADMIN:
                _keep_an_admin(connection, group_id, group, target.id)
            authstore.set_member(connection, group_id, target.id, role)
        return Member(group=group, user=user, role=body.role)

    @routes.delete("/groups/{group}/members/{user}")
    def remove_member(
        group: str,
        user: str,
        member: Annotated[Membership, Depends(auth.require_role(Role.ADMIN))],
    ) -> Member:
        with auth.engine.begin() as connection:
            target, group_id = _known_user(connection, user), _group_id(connection, group)
            _keep_an_admin(connection, group_id, group, target.id)
            if not authstore.remove_member(connection, group_id, target.id):
                raise NotFound(f"{user} is not a member of {group}")
        return Member(group=group, user=user, role=None)


def _group_id(connection: "Connection", group: str) -> int:
    found = authstore.group_id(connection, group)
    if found is None:  # removed since the role check
        raise NotFound(f"no group named {group[:64]!r}")
    return found


def _keep_an_admin(connection: "Connection", group_id: int, group: str, leaving: int) -> None:
    """Refuse to take the Admin role from a group's last Admin (nobody could manage it)."""
    members = authstore.groups_of(connection, leaving)
    if members.get(group) is Role.ADMIN and authstore.count_group_admins(connection, group_id) <= 1:
        raise Conflict(
            f"the last Admin of {group} cannot leave or step down",
            hint="make another member Admin first",
        )


def _principal_routes(routes: APIRouter, auth: Auth) -> None:
    Writer = Annotated[Membership, Depends(auth.require_role(Role.WRITE))]

    @routes.post("/groups/{group}/workers", status_code=201)
    def issue_worker(
        group: str, member: Writer, body: NewPrincipal | None = None
    ) -> PrincipalToken:
        """A worker token for the group (its own kind: it cannot call user routes)."""
        return _issue(auth, Kind.WORKER, member, body or NewPrincipal())

    @routes.post("/groups/{group}/managers", status_code=201)
    def issue_manager(
        group: str, member: Writer, body: NewPrincipal | None = None
    ) -> PrincipalToken:
        """A node manager token for the group."""
        return _issue(auth, Kind.MANAGER, member, body or NewPrincipal())

    @routes.delete("/groups/{group}/principals/{principal}")
    def revoke(group: str, principal: uuid.UUID, member: Writer) -> Revoked:
        """Revoke a worker's or manager's token: it is refused (401) from the next request."""
        with auth.engine.begin() as connection:
            if not authstore.revoke_principal(connection, principal, _group_id(connection, group)):
                raise NotFound(f"no worker or manager {principal} in group {group}")
        auth.forget_principals()
        return Revoked(id=str(principal), group=group, revoked=True)


def _issue(auth: Auth, kind: Kind, member: Membership, body: NewPrincipal) -> PrincipalToken:
    with auth.engine.begin() as connection:
        row = authstore.create_principal(
            connection, kind, _group_id(connection, member.group), member.user.id
        )
    issued = auth.issue(str(row.id), kind, row.signature, body.lifetime_seconds)
    return PrincipalToken(
        id=str(row.id),
        kind=kind.value,
        group=row.group,
        token=issued.token,
        expires_at=issued.expires,
    )
