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

What a check read is believed for a short while, in bounded LRU caches keyed by the token
string (issue 13 §7: a hot worker or client must not pay a signature check and row reads per
request): a worker's or manager's principal for ``principal_ttl`` (1 s), a user's identity and
a user's memberships for ``user_ttl`` (2 s). A token's expiry is checked at every request all
the same. How soon a change applies:

- made through this coordinator: a password change, an admin flag, a membership or a new group
  at the next request (they bump :func:`authstore.generation`, which voids every believed user
  and memberships; a request racing the change's commit may still believe the old rows, within
  the TTL); a revoked worker or manager token at the next request
  (:meth:`Auth.forget_principals`);
- made by another coordinator of the same database (or in SQL): within the TTL — that is the
  bound, and tests hold it (tests/integration/test_coordinator_identity_cache.py);
- a grant (a new membership, a higher role) made elsewhere never waits at the task routes'
  group checks (``routes._group_id``, ``routes._task_for``: what the believed memberships would
  refuse is read again first); a suite's or a manager's own check by id may refuse it for up
  to the TTL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

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
#: How long a user's checked token and memberships are believed without reading their rows
#: again (seconds; see the module's doc for how soon a change applies).
USER_TTL = 2.0
#: The most entries each cache keeps (least recently used dropped first: bounded memory).
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


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Believed(Generic[K, V]):
    """A bounded LRU of values read at a time and a :func:`authstore.generation`; thread-safe
    (the routes run on a thread pool)."""

    def __init__(self, limit: int = _CACHE_LIMIT) -> None:
        self._limit = limit
        self._entries: OrderedDict[K, tuple[V, float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, now: float, ttl: float, generation: int | None) -> V | None:
        """The value, unless older than ``ttl`` or read before ``generation`` moved."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, read, seen = entry
            if not 0 <= now - read < ttl or (generation is not None and seen != generation):
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V, read: float, generation: int = 0) -> None:
        with self._lock:
            self._entries[key] = (value, read, generation)
            self._entries.move_to_end(key)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Auth:
    def __init__(
        self,
        engine: Engine,
        private_pem: str,
        public_pem: str,
        *,
        clock: Callable[[], float] = time.time,
        principal_ttl: float = PRINCIPAL_TTL,
        user_ttl: float = USER_TTL,
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
        self.user_ttl = user_ttl
        # token → (its claims, the principal or user): when read, see _Believed
        self._believed: _Believed[str, tuple[Claims, Principal]] = _Believed()
        self._users: _Believed[str, tuple[Claims, User]] = _Believed()
        # (user id, admin) → the user's memberships, as memberships() answers
        self._memberships: _Believed[tuple[int, bool], dict[str, tuple[int, Role]]] = _Believed()

    @classmethod
    def start(
        cls,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        principal_ttl: float = PRINCIPAL_TTL,
        user_ttl: float = USER_TTL,
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
        return cls(
            engine, private_pem, public_pem, clock=clock, principal_ttl=principal_ttl,
            user_ttl=user_ttl,
        )  # fmt: skip

    def forget_principals(self) -> None:
        """Read every worker's and manager's row again at its next request (after a revocation)."""
        self._believed.clear()

    def forget(self) -> None:
        """Read every row again at its next request: principals, users and memberships."""
        self._believed.clear()
        self._users.clear()
        self._memberships.clear()

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
        believed = self._believed_user(credentials)
        if believed is not None:
            return believed
        # Read before the row: a change committed after this is seen at the next request.
        generation, now = authstore.generation(), self.clock()
        claims = self.claims(credentials, Kind.USER)
        with self._reads.connect() as connection:
            row = authstore.user_by_name(connection, claims.subject)
        if row is None:
            raise Unauthorized(f"the token's user {claims.subject!r} no longer exists")
        if row.signature != claims.signature:
            raise Unauthorized("the token was revoked: the password changed after it was issued",
                hint="log in again (POST /login)",
            )  # fmt: skip
        user = User(row.id, row.name, row.admin)
        if self.user_ttl > 0 and credentials is not None:
            self._users.put(credentials.credentials, (claims, user), now, generation)
        return user

    async def served_user(self, credentials: Credentials) -> User:
        """:meth:`current_user` as the task routes' dependency: a believed token is answered on
        the event loop (no thread hand-off, no signature check, no row read); else on a
        thread, as :meth:`served_worker` does."""
        believed = self._believed_user(credentials)
        if believed is not None:
            return believed
        return await run_in_threadpool(self.current_user, credentials)

    def _believed_user(self, credentials: HTTPAuthorizationCredentials | None) -> User | None:
        if credentials is None:
            return None
        now = self.clock()
        found = self._users.get(credentials.credentials, now, self.user_ttl, authstore.generation())
        if found is None:
            return None
        claims, user = found
        check_claims(_as_raw(claims), Kind.USER, now)  # not expired since
        return user

    def memberships(self, user: User, *, fresh: bool = False) -> dict[str, tuple[int, Role]]:
        """The user's groups: name → (id, role); every group, as Admin, for an administrator.
        Believed for ``user_ttl``; ``fresh``: read them now (before refusing anything)."""
        key = (user.id, user.admin)
        generation, now = authstore.generation(), self.clock()
        if not fresh:
            found = self._memberships.get(key, now, self.user_ttl, generation)
            if found is not None:
                return dict(found)  # a copy: a caller's change never reaches the cache
        with self._reads.connect() as connection:
            read = authstore.memberships_of(connection, user.id, admin=user.admin)
        if self.user_ttl > 0:
            self._memberships.put(key, read, now, generation)
        return read

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
        if credentials is None:
            return None
        now = self.clock()
        believed = self._believed.get(credentials.credentials, now, self.principal_ttl, None)
        if believed is None:
            return None
        claims, principal = believed
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
            self._believed.put(token, (claims, found), now)
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
