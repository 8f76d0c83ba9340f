"""Who is calling, and may they (issue 13 §2): the FastAPI dependencies every coordinator route
uses.

One :class:`Auth` per served app holds the database engine and the signing key; its methods are
the dependencies — ``Depends(auth.current_user)``, ``Depends(auth.require_role(Role.WRITE))``,
``Depends(auth.require_admin)``, ``Depends(auth.current_worker)``,
``Depends(auth.current_manager)``. Each decodes the bearer token (EdDSA), checks its kind and
expiry (:func:`~shipyard.coordinator.tokens.check_claims`), then that its holder still exists
with the same signature version (a password change revokes older tokens), and for a group
route the caller's role in the group. Refusals are :class:`Unauthorized` (401: no token, a
malformed, expired or revoked one) or :class:`Forbidden` (403: a token of another kind, too low
a role), answered as ``{"msg": …}`` by :func:`shipyard.coordinator.httperrors.install_handlers`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import jwt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shipyard.coordinator import authstore
from shipyard.coordinator.httperrors import Forbidden, Unauthorized
from shipyard.coordinator.tokens import (
    ALGORITHM,
    Claims,
    Kind,
    Role,
    check_claims,
    make_claims,
    role_allows,
)
from shipyard.errors import BadRequest, DatabaseUnavailable, NotFound

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: Token lifetimes (seconds): a user logs in again weekly; a worker or manager token lasts a
#: month unless asked otherwise when issued.
USER_LIFETIME = 7 * 24 * 3600
PRINCIPAL_LIFETIME = 30 * 24 * 3600
#: How long a worker's or manager's checked token is believed without reading its row again
#: (seconds). Their routes are the queue's hot path (a fetch, a heartbeat); the row read costs
#: a round trip to PostgreSQL (bench/auth.py). A revocation through this coordinator applies at
#: once; one made through another coordinator of the same database, within this delay.
PRINCIPAL_TTL = 1.0
#: Past this many cached tokens the cache starts again (bounded memory).
_CACHE_LIMIT = 10_000

#: Missing or non-Bearer headers reach the dependencies as None (answered 401 with our own
#: message); declared so the OpenAPI document shows the scheme.
_bearer = HTTPBearer(auto_error=False, description="A token from POST /login, or a worker's.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@dataclass(frozen=True)
class User:
    id: int
    name: str
    admin: bool


@dataclass(frozen=True)
class Principal:
    """A worker or a node manager, acting for one group."""

    id: uuid.UUID
    kind: Kind
    group: str


@dataclass(frozen=True)
class Membership:
    """The caller of a group route, with the role it holds there (Admin for site admins)."""

    user: User
    group: str
    role: Role


@dataclass(frozen=True)
class Issued:
    token: str
    expires: int


class Auth:
    def __init__(
        self,
        engine: Engine,
        private_pem: str,
        public_pem: str,
        *,
        clock: Callable[[], float] = time.time,
        principal_ttl: float = PRINCIPAL_TTL,
    ) -> None:
        from cryptography.hazmat.primitives import serialization

        self.engine = engine
        # The checks only read, one statement each: in autocommit there is no BEGIN before it
        # and no ROLLBACK when the connection goes back to the pool (one round trip, not three).
        self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        self._public = serialization.load_pem_public_key(public_pem.encode())
        self.clock = clock
        self.principal_ttl = principal_ttl
        # token → (its claims, the principal, when its row was read)
        self._believed: dict[str, tuple[Claims, Principal, float]] = {}

    @classmethod
    def start(
        cls,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        principal_ttl: float = PRINCIPAL_TTL,
    ) -> Auth:
        """Over a migrated database; the key pair is made there on the first start."""
        from sqlalchemy import inspect
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with engine.begin() as connection:
                if not inspect(connection).has_table("signing_keys"):
                    raise BadRequest(
                        "the coordinator's database has no users tables yet",
                        hint="migrate it: shipyard db upgrade --db URL",
                    )
                private_pem, public_pem = authstore.signing_key_pair(connection)
        except SQLAlchemyError as error:
            first = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise DatabaseUnavailable(
                f"cannot read the coordinator's signing key: {first}",
                hint="check that PostgreSQL runs there and the URL's user may connect",
            ) from None
        return cls(engine, private_pem, public_pem, clock=clock, principal_ttl=principal_ttl)

    def forget_principals(self) -> None:
        """Read every worker's and manager's row again at its next request (after a revocation)."""
        self._believed.clear()

    def issue(self, subject: str, kind: Kind, signature: int, lifetime: int) -> Issued:
        now = int(self.clock())
        claims = make_claims(subject, kind, signature, now, lifetime)
        token = jwt.encode(claims, self._private, algorithm=ALGORITHM)  # type: ignore[arg-type]
        return Issued(token, now + lifetime)

    def claims(self, credentials: HTTPAuthorizationCredentials | None, expected: Kind) -> Claims:
        """The checked claims of the request's bearer token (no database yet)."""
        if credentials is None or not credentials.credentials:
            raise Unauthorized("no token: this route needs an Authorization: Bearer header",
                hint="log in (POST /login) and send the token it returns",
            )  # fmt: skip
        try:
            raw = jwt.decode(
                credentials.credentials,
                self._public,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired", hint="get a new one") from None
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"the token is not valid ({error})") from None
        return check_claims(raw, expected, self.clock())

    # The dependencies

    def current_user(self, credentials: Credentials) -> User:
        claims = self.claims(credentials, Kind.USER)
        with self._reads.connect() as connection:
            row = authstore.user_by_name(connection, claims.subject)
        if row is None:
            raise Unauthorized(f"the token's user {claims.subject!r} no longer exists")
        if row.signature != claims.signature:
            raise Unauthorized("the token was revoked: the password changed after it was issued",
                hint="log in again (POST /login)",
            )  # fmt: skip
        return User(row.id, row.name, row.admin)

    def current_worker(self, credentials: Credentials) -> Principal:
        return self._principal(credentials, Kind.WORKER)

    def current_manager(self, credentials: Credentials) -> Principal:
        return self._principal(credentials, Kind.MANAGER)

    async def served_worker(self, credentials: Credentials) -> Principal:
        """:meth:`current_worker` as the worker routes' dependency. FastAPI runs a plain
        ``def`` dependency on a thread of its pool; a believed token needs no I/O, so it is
        answered here on the event loop, and only a row read goes to a thread: one hand-off
        less on each fetch and report (the thread hand-offs were a third of the server's CPU
        under load, measured with py-spy)."""
        believed = self._believed_principal(credentials, Kind.WORKER)
        if believed is not None:
            return believed
        return await run_in_threadpool(self.current_worker, credentials)

    def _believed_principal(
        self, credentials: HTTPAuthorizationCredentials | None, kind: Kind
    ) -> Principal | None:
        believed = self._believed.get(credentials.credentials if credentials is not None else "")
        now = self.clock()
        if believed is None or now - believed[2] >= self.principal_ttl:
            return None
        claims, principal, _ = believed
        check_claims(_as_raw(claims), kind, now)  # still its kind, not expired since
        return principal

    def _principal(self, credentials: HTTPAuthorizationCredentials | None, kind: Kind) -> Principal:
        token = credentials.credentials if credentials is not None else ""
        believed = self._believed_principal(credentials, kind)
        if believed is not None:
            return believed
        now = self.clock()
        claims = self.claims(credentials, kind)
        found = self._principal_row(claims, kind)
        if self.principal_ttl > 0:
            if len(self._believed) >= _CACHE_LIMIT:
                self._believed.clear()
            self._believed[token] = (claims, found, now)
        return found

    def _principal_row(self, claims: Claims, kind: Kind) -> Principal:
        try:
            principal = uuid.UUID(claims.subject)
        except ValueError:
            raise Unauthorized(f"the token's subject is not a {kind.value} id") from None
        with self._reads.connect() as connection:
            row = authstore.principal_by_id(connection, principal)
        if row is None or row.kind is not kind:
            raise Unauthorized(f"the token's {kind.value} {principal} is not known here")
        if row.revoked or row.signature != claims.signature:
            raise Unauthorized(f"the token of {kind.value} {principal} was revoked")
        return Principal(row.id, row.kind, row.group)

    def require_admin(self, credentials: Credentials) -> User:
        user = self.current_user(credentials)
        if not user.admin:
            raise Forbidden(f"{user.name} is not an administrator")
        return user

    def require_role(
        self, role: Role, *, group_parameter: str = "group"
    ) -> Callable[..., Membership]:
        """A dependency for routes whose path names a group (``/groups/{group}/…``): the
        caller must hold at least ``role`` there."""

        def dependency(request: Request, credentials: Credentials) -> Membership:
            user = self.current_user(credentials)
            return self.check_role(user, str(request.path_params[group_parameter]), role)

        return dependency

    def check_role(self, user: User, group: str, needed: Role) -> Membership:
        """The same check for a group named elsewhere (a request's body)."""
        with self._reads.connect() as connection:
            exists, held = authstore.role_in(connection, user.id, group)
        if not exists:
            raise NotFound(f"no group named {group[:64]!r}", hint="GET /groups lists yours")
        if user.admin:
            return Membership(user, group, Role.ADMIN)
        if not role_allows(held, needed):
            has = f"is {held.label}" if held is not None else "is not a member"
            raise Forbidden(f"{user.name} {has} in group {group}; this needs {needed.label}")
        assert held is not None
        return Membership(user, group, held)


def _as_raw(claims: Claims) -> dict[str, object]:
    return {"sub": claims.subject, "kind": claims.kind.value, "sig": claims.signature,
            "exp": claims.expires}  # fmt: skip
