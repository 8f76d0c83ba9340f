"""The coordinator's users, groups, roles and tokens over real HTTP against a real PostgreSQL
(issue 13 §2): the auth routes plus one protected route per kind of holder, in a FastAPI app
served by uvicorn on 127.0.0.1, on a database migrated by the real migrations.

The matrix: no token, a malformed one, one signed by another key, an expired one, one revoked
by a password change, too low a role in the group, a worker's or manager's token on a user
route and a user's on a worker route — each refused with 401 or 403 and a JSON ``{"msg": …}``;
and the paths that must work.

No ``from __future__ import annotations``: FastAPI reads the test routes' annotations, which
name the ``auth`` of the enclosing function.
"""

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI
from sqlalchemy import Engine, create_engine

from shipyard.coordinator import admin, authroutes, migrate
from shipyard.coordinator.auth import Auth, Membership, Principal, User
from shipyard.coordinator.throttle import LoginThrottle
from shipyard.coordinator.tokens import Kind, Role, generate_key_pair
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

ADMIN_PASSWORD = "admin-password"
PASSWORD = "a fine password"


def protected_app(auth: Auth, throttle: LoginThrottle) -> FastAPI:
    """The auth routes and one route per kind of check, as the coordinator's routes use them."""
    app = FastAPI()
    authroutes.install(app, auth, throttle=throttle)

    @app.get("/test/user")
    def as_user(user: Annotated[User, Depends(auth.current_user)]) -> dict[str, str]:
        return {"name": user.name}

    @app.get("/test/admin")
    def as_admin(user: Annotated[User, Depends(auth.require_admin)]) -> dict[str, str]:
        return {"name": user.name}

    @app.get("/test/groups/{group}/write")
    def as_writer(
        group: str, member: Annotated[Membership, Depends(auth.require_role(Role.WRITE))]
    ) -> dict[str, str]:
        return {"name": member.user.name, "role": member.role.label}

    @app.get("/test/worker")
    def as_worker(worker: Annotated[Principal, Depends(auth.current_worker)]) -> dict[str, str]:
        return {"id": str(worker.id), "group": worker.group}

    @app.get("/test/manager")
    def as_manager(manager: Annotated[Principal, Depends(auth.current_manager)]) -> dict[str, str]:
        return {"id": str(manager.id), "group": manager.group}

    return app


class Clock:
    """The login throttle's clock: still unless moved (token expiry runs on the real one)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Coordinator:
    http: httpx.Client
    auth: Auth
    engine: Engine
    clock: Clock

    def login(self, name: str, password: str = PASSWORD) -> str:
        answer = self.http.post("/login", json={"name": name, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])

    def user(self, admin_token: str, name: str, *, is_admin: bool = False) -> str:
        """A new user, logged in: its token."""
        made = self.http.post(
            "/users",
            json={"name": name, "password": PASSWORD, "admin": is_admin},
            headers=bearer(admin_token),
        )
        assert made.status_code == 201, made.text
        return self.login(name)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _serve(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, int]:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = int(listening.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return server, thread, port


@pytest.fixture
def coordinator(pg_url: str) -> Iterator[Coordinator]:  # noqa: F811
    migrate.upgrade(pg_url)
    admin.create_user(pg_url, "root", ADMIN_PASSWORD, admin=True)
    engine = create_engine(migrate.sqlalchemy_url(pg_url))
    auth, clock = Auth.start(engine), Clock()
    server, thread, port = _serve(protected_app(auth, LoginThrottle(clock)))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Coordinator(http, auth, engine, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()


def refused(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    message = answer.json()["msg"]
    assert words in message, message
    assert "Traceback" not in answer.text


# The matrix: each refusal


def test_no_token_is_401_with_the_scheme_to_use(coordinator: Coordinator) -> None:
    for path in ("/me", "/test/user", "/test/worker", "/test/groups/g/write", "/users"):
        answer = coordinator.http.get(path)
        refused(answer, 401, "no token")
        assert answer.headers["www-authenticate"] == "Bearer"
    # Another scheme than Bearer is no token either.
    refused(
        coordinator.http.get("/me", headers={"Authorization": "Basic cm9vdDp4"}), 401, "no token"
    )


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0.", "x" * 5000],
)
def test_a_malformed_token_is_401(coordinator: Coordinator, token: str) -> None:
    refused(coordinator.http.get("/me", headers=bearer(token)), 401, "the token is not valid")


def test_a_token_signed_by_another_key_is_401(coordinator: Coordinator) -> None:
    private_pem, public_pem = generate_key_pair()
    forger = Auth(coordinator.engine, private_pem, public_pem)
    with coordinator.engine.connect() as connection:
        from shipyard.coordinator import authstore

        root = authstore.user_by_name(connection, "root")
    assert root is not None
    forged = forger.issue("root", Kind.USER, root.signature, 3600).token
    refused(coordinator.http.get("/users", headers=bearer(forged)), 401, "the token is not valid")


def test_an_expired_token_is_401(coordinator: Coordinator) -> None:
    # Issued a week and a day ago for a week, with the coordinator's own key.
    with coordinator.engine.connect() as connection:
        from shipyard.coordinator import authstore

        root = authstore.user_by_name(connection, "root")
    assert root is not None
    auth = coordinator.auth
    past = Auth.start(coordinator.engine, clock=lambda: time.time() - 8 * 24 * 3600)
    old = past.issue("root", Kind.USER, root.signature, 7 * 24 * 3600).token
    refused(coordinator.http.get("/me", headers=bearer(old)), 401, "expired")
    # The same claims issued now pass: it was the expiry.
    fresh = auth.issue("root", Kind.USER, root.signature, 7 * 24 * 3600).token
    assert coordinator.http.get("/me", headers=bearer(fresh)).status_code == 200


def test_a_password_change_revokes_the_older_tokens(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    second = coordinator.login("ada")
    changed = coordinator.http.post(
        "/me/password",
        json={"old_password": PASSWORD, "new_password": "another fine one"},
        headers=bearer(ada),
    )
    assert changed.status_code == 200, changed.text
    for old in (ada, second):
        refused(coordinator.http.get("/me", headers=bearer(old)), 401, "revoked")
    assert coordinator.http.get("/me", headers=bearer(changed.json()["token"])).status_code == 200
    refused(
        coordinator.http.post("/login", json={"name": "ada", "password": PASSWORD}),
        401,
        "wrong name or password",
    )
    assert coordinator.login("ada", "another fine one")


def test_an_admin_reset_revokes_the_users_tokens(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    bob = coordinator.user(root, "bob")
    reset = coordinator.http.post(
        "/users/bob/password", json={"password": "reset by root"}, headers=bearer(root)
    )
    assert reset.status_code == 200, reset.text
    refused(coordinator.http.get("/me", headers=bearer(bob)), 401, "revoked")
    assert coordinator.login("bob", "reset by root")


def test_a_wrong_old_password_changes_nothing(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    answer = coordinator.http.post(
        "/me/password",
        json={"old_password": "not it at all", "new_password": "another fine one"},
        headers=bearer(ada),
    )
    refused(answer, 403, "the old password is wrong")
    assert coordinator.http.get("/me", headers=bearer(ada)).status_code == 200


def test_roles_in_the_group_decide(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    owner, reader, stranger = (coordinator.user(root, name) for name in ("own", "rea", "str"))
    made = coordinator.http.post("/groups", json={"name": "lab"}, headers=bearer(owner))
    assert made.status_code == 201, made.text
    added = coordinator.http.put(
        "/groups/lab/members/rea", json={"role": "Read"}, headers=bearer(owner)
    )
    assert added.status_code == 200, added.text

    refused(coordinator.http.get("/test/groups/lab/write", headers=bearer(reader)), 403,
            "rea is Read in group lab; this needs Write")  # fmt: skip
    refused(coordinator.http.get("/test/groups/lab/write", headers=bearer(stranger)), 403,
            "str is not a member in group lab")  # fmt: skip
    refused(
        coordinator.http.put(
            "/groups/lab/members/str", json={"role": "Admin"}, headers=bearer(reader)
        ),
        403,
        "this needs Admin",
    )
    refused(
        coordinator.http.post("/groups/lab/workers", headers=bearer(reader)), 403, "needs Write"
    )
    refused(coordinator.http.get("/groups/lab", headers=bearer(stranger)), 403, "not a member")
    refused(coordinator.http.get("/test/groups/nope/write", headers=bearer(owner)), 404,
            "no group named 'nope'")  # fmt: skip

    # Raised to Write, the reader passes; the owner (Admin) always did.
    coordinator.http.put("/groups/lab/members/rea", json={"role": "Write"}, headers=bearer(owner))
    writer = coordinator.http.get("/test/groups/lab/write", headers=bearer(reader))
    assert writer.json() == {"name": "rea", "role": "Write"}
    assert coordinator.http.get("/test/groups/lab/write", headers=bearer(owner)).json() == {
        "name": "own",
        "role": "Admin",
    }


def test_a_non_admin_cannot_manage_users(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    refused(coordinator.http.get("/users", headers=bearer(ada)), 403, "ada is not an administrator")
    refused(coordinator.http.get("/test/admin", headers=bearer(ada)), 403, "not an administrator")
    answer = coordinator.http.post(
        "/users", json={"name": "eve", "password": PASSWORD}, headers=bearer(ada)
    )
    refused(answer, 403, "not an administrator")
    refused(
        coordinator.http.put("/users/ada/admin", json={"admin": True}, headers=bearer(ada)),
        403,
        "not an administrator",
    )


def _group_with_tokens(coordinator: Coordinator) -> tuple[str, str, str]:
    """A user token, a worker token and a manager token of one group."""
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    coordinator.http.post("/groups", json={"name": "lab"}, headers=bearer(ada))
    worker = coordinator.http.post("/groups/lab/workers", headers=bearer(ada))
    manager = coordinator.http.post(
        "/groups/lab/managers", json={"lifetime_seconds": 600}, headers=bearer(ada)
    )
    assert worker.status_code == manager.status_code == 201, (worker.text, manager.text)
    assert (worker.json()["kind"], manager.json()["kind"]) == ("worker", "manager")
    return ada, worker.json()["token"], manager.json()["token"]


def test_tokens_of_one_kind_cannot_call_routes_of_another(coordinator: Coordinator) -> None:
    user, worker, manager = _group_with_tokens(coordinator)
    for path in ("/me", "/test/user", "/groups", "/test/groups/lab/write"):
        refused(coordinator.http.get(path, headers=bearer(worker)), 403,
                "takes a user token, not a worker token")  # fmt: skip
        refused(coordinator.http.get(path, headers=bearer(manager)), 403,
                "takes a user token, not a manager token")  # fmt: skip
    refused(coordinator.http.get("/test/worker", headers=bearer(user)), 403,
            "takes a worker token, not a user token")  # fmt: skip
    refused(coordinator.http.get("/test/worker", headers=bearer(manager)), 403,
            "takes a worker token, not a manager token")  # fmt: skip
    refused(coordinator.http.get("/test/manager", headers=bearer(worker)), 403,
            "takes a manager token, not a worker token")  # fmt: skip


def test_a_revoked_worker_token_is_401(coordinator: Coordinator) -> None:
    user, worker, manager = _group_with_tokens(coordinator)
    worker_id = coordinator.http.get("/test/worker", headers=bearer(worker)).json()["id"]
    revoked = coordinator.http.delete(f"/groups/lab/principals/{worker_id}", headers=bearer(user))
    assert revoked.json() == {"id": worker_id, "group": "lab", "revoked": True}
    refused(coordinator.http.get("/test/worker", headers=bearer(worker)), 401, "was revoked")
    # The group's other principals keep working; an id of another group is not found there.
    assert coordinator.http.get("/test/manager", headers=bearer(manager)).status_code == 200
    coordinator.http.post("/groups", json={"name": "other"}, headers=bearer(user))
    refused(coordinator.http.delete(f"/groups/other/principals/{worker_id}", headers=bearer(user)),
            404, "no worker or manager")  # fmt: skip
    refused(coordinator.http.delete("/groups/lab/principals/not-an-id", headers=bearer(user)),
            400, "principal")  # fmt: skip


def test_a_worker_token_is_believed_for_a_second_then_its_row_is_read_again(
    coordinator: Coordinator,
) -> None:
    from fastapi.security import HTTPAuthorizationCredentials

    from shipyard.coordinator import authstore
    from shipyard.coordinator.httperrors import Unauthorized

    _, worker, _ = _group_with_tokens(coordinator)
    now = [time.time()]
    auth = Auth.start(coordinator.engine, clock=lambda: now[0], principal_ttl=1.0)
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=worker)
    principal = auth.current_worker(credentials)
    with coordinator.engine.begin() as connection:  # revoked through another coordinator
        group = authstore.group_id(connection, "lab")
        assert group is not None
        authstore.revoke_principal(connection, principal.id, group)
    now[0] += 0.9
    assert auth.current_worker(credentials) == principal
    now[0] += 0.1
    with pytest.raises(Unauthorized, match="was revoked"):
        auth.current_worker(credentials)


# The paths that work


def test_worker_and_manager_tokens_reach_their_routes_for_their_group(
    coordinator: Coordinator,
) -> None:
    _, worker, manager = _group_with_tokens(coordinator)
    as_worker = coordinator.http.get("/test/worker", headers=bearer(worker))
    as_manager = coordinator.http.get("/test/manager", headers=bearer(manager))
    assert as_worker.status_code == as_manager.status_code == 200
    assert as_worker.json()["group"] == as_manager.json()["group"] == "lab"
    assert as_worker.json()["id"] != as_manager.json()["id"]


def test_login_me_groups_and_members(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    coordinator.user(root, "bob")
    assert coordinator.http.post("/groups", json={"name": "lab"}, headers=bearer(ada)).is_success
    coordinator.http.put("/groups/lab/members/bob", json={"role": "Write"}, headers=bearer(ada))
    me = coordinator.http.get("/me", headers=bearer(ada)).json()
    assert me == {"name": "ada", "admin": False, "groups": {"lab": "Admin"}}
    lab = coordinator.http.get("/groups/lab", headers=bearer(ada)).json()
    assert lab["members"] == {"ada": "Admin", "bob": "Write"}
    users = coordinator.http.get("/users", headers=bearer(root)).json()["users"]
    assert [(user["name"], user["admin"]) for user in users] == [
        ("ada", False), ("bob", False), ("root", True),
    ]  # fmt: skip
    removed = coordinator.http.delete("/groups/lab/members/bob", headers=bearer(ada))
    assert removed.json() == {"group": "lab", "user": "bob", "role": None}
    bob = coordinator.login("bob")
    assert coordinator.http.get("/groups", headers=bearer(bob)).json() == {"groups": {}}


def test_an_admin_made_by_an_admin_can_manage_users(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    coordinator.http.put("/users/ada/admin", json={"admin": True}, headers=bearer(root))
    # The flag is read at each request: the same token now passes.
    assert coordinator.http.get("/test/admin", headers=bearer(ada)).json() == {"name": "ada"}


# Bad requests: 4xx with a message


def test_bad_input_is_a_4xx_with_a_message(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    http, auth = coordinator.http, bearer(root)
    refused(http.post("/users", json={"name": "../x", "password": PASSWORD}, headers=auth), 400,
            "user name '../x' is not allowed")  # fmt: skip
    refused(http.post("/users", json={"name": "ok", "password": "short"}, headers=auth), 400,
            "needs at least 8")  # fmt: skip
    refused(http.post("/users", json={"name": "root", "password": PASSWORD}, headers=auth), 409,
            "a user named 'root' exists")  # fmt: skip
    refused(http.post("/users", json={"name": 3}, headers=auth), 400, "body.name")
    broken = {**auth, "Content-Type": "application/json"}
    refused(http.post("/users", content=b"{not json", headers=broken), 400, "JSON decode error")
    refused(http.post("/groups", json={"name": "a b"}, headers=auth), 400, "group name 'a b'")
    http.post("/groups", json={"name": "lab"}, headers=auth)
    refused(http.post("/groups", json={"name": "lab"}, headers=auth), 409, "exists")
    refused(http.put("/groups/lab/members/root", json={"role": "Owner"}, headers=auth), 400,
            "body.role")  # fmt: skip
    refused(http.put("/groups/lab/members/ghost", json={"role": "Read"}, headers=auth), 404,
            "no user named 'ghost'")  # fmt: skip
    refused(http.post("/groups/lab/workers", json={"lifetime_seconds": 1}, headers=auth), 400,
            "lifetime_seconds")  # fmt: skip
    refused(http.post("/login", json={"name": "nobody", "password": "x"}), 401,
            "wrong name or password")  # fmt: skip


@pytest.mark.parametrize("hostile", ["nul\x00byte", "x" * 10_000, "a b", "adé", "<b>"])
def test_hostile_names_are_4xx_never_500(coordinator: Coordinator, hostile: str) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    http, auth = coordinator.http, bearer(root)
    refused(http.post("/login", json={"name": hostile[:200], "password": "whatever"}), 401,
            "wrong name or password")  # fmt: skip
    named = quote(hostile, safe="")
    refused(http.get(f"/groups/{named}", headers=auth), 404, "no group named")
    refused(http.get(f"/test/groups/{named}/write", headers=auth), 404, "no group named")
    http.post("/groups", json={"name": "lab"}, headers=auth)
    member = f"/groups/lab/members/{named}"
    refused(http.put(member, json={"role": "Read"}, headers=auth), 404, "no user named")
    refused(http.delete(member, headers=auth), 404, "no user named")
    refused(http.put(f"/users/{named}/admin", json={"admin": True}, headers=auth), 404,
            "no user named")  # fmt: skip


def test_failed_logins_slow_down_the_next_attempts_for_that_name(
    coordinator: Coordinator,
) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    coordinator.user(root, "ada")
    for _ in range(5):
        answer = coordinator.http.post("/login", json={"name": "ada", "password": "guess 1234"})
        refused(answer, 401, "wrong name or password")
    # The right password too waits now: the attempt is refused before any check.
    held = coordinator.http.post("/login", json={"name": "ada", "password": PASSWORD})
    refused(held, 429, "5 failed logins in a row for this name; try again in 1 s")
    assert held.headers["retry-after"] == "1"
    assert coordinator.login("root", ADMIN_PASSWORD)  # other names are not held back
    coordinator.clock.now += 1
    assert coordinator.login("ada")


def test_guessing_the_old_password_with_a_stolen_token_is_slowed_down_too(
    coordinator: Coordinator,
) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    change = {"old_password": "guess 1234", "new_password": "another fine one"}
    for _ in range(5):
        answer = coordinator.http.post("/me/password", json=change, headers=bearer(ada))
        refused(answer, 403, "the old password is wrong")
    right = {**change, "old_password": PASSWORD}
    held = coordinator.http.post("/me/password", json=right, headers=bearer(ada))
    refused(held, 429, "try again in 1 s")


def test_nobody_can_remove_the_last_admins(coordinator: Coordinator) -> None:
    root = coordinator.login("root", ADMIN_PASSWORD)
    refused(coordinator.http.put("/users/root/admin", json={"admin": False}, headers=bearer(root)),
            409, "last administrator")  # fmt: skip
    coordinator.http.post("/groups", json={"name": "lab"}, headers=bearer(root))
    refused(coordinator.http.delete("/groups/lab/members/root", headers=bearer(root)), 409,
            "the last Admin of lab")  # fmt: skip
    refused(coordinator.http.put("/groups/lab/members/root", json={"role": "Read"},
                                 headers=bearer(root)), 409, "the last Admin of lab")  # fmt: skip


def test_two_demotions_at_once_cannot_leave_no_administrator(coordinator: Coordinator) -> None:
    """The second transaction's count waits for the first's demotion, then sees one left."""
    from shipyard.coordinator import authstore

    root = coordinator.login("root", ADMIN_PASSWORD)
    coordinator.user(root, "ada", is_admin=True)
    counted: list[int] = []

    def second() -> None:
        with coordinator.engine.begin() as connection:
            counted.append(authstore.count_admins(connection))

    with coordinator.engine.begin() as first:
        assert authstore.count_admins(first) == 2
        ada = authstore.user_by_name(first, "ada")
        assert ada is not None
        authstore.set_admin(first, ada.id, False)
        other = threading.Thread(target=second)
        other.start()
        deadline = time.monotonic() + 30
        while not counted and not _waiting_on_a_lock(coordinator.engine):
            assert time.monotonic() < deadline, "the second count neither ended nor waited"
            time.sleep(0.01)
    other.join(timeout=30)
    assert counted == [1]


def _waiting_on_a_lock(engine: Engine) -> bool:
    from sqlalchemy import text

    with engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        ).scalar_one()
    return int(waiting) > 0


def test_starting_on_a_database_not_migrated_says_how_to_migrate(pg_url: str) -> None:  # noqa: F811
    from shipyard.errors import BadRequest, DatabaseUnavailable

    engine = create_engine(migrate.sqlalchemy_url(pg_url))
    try:
        with pytest.raises(BadRequest, match="no users tables yet") as refused:
            Auth.start(engine)
        assert refused.value.hint == "migrate it: shipyard db upgrade --db URL"
        migrate.upgrade(pg_url, "0001_tasks")  # the queue's tables alone are not enough
        with pytest.raises(BadRequest, match="no users tables yet"):
            Auth.start(engine)
    finally:
        engine.dispose()
    nowhere = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    with pytest.raises(DatabaseUnavailable, match="cannot read the coordinator's signing key"):
        Auth.start(nowhere)


def test_two_coordinators_on_one_database_share_one_key(coordinator: Coordinator) -> None:
    second = Auth.start(coordinator.engine)
    with coordinator.engine.connect() as connection:
        from shipyard.coordinator import authstore

        root = authstore.user_by_name(connection, "root")
    assert root is not None
    token = second.issue("root", Kind.USER, root.signature, 60).token
    assert coordinator.http.get("/me", headers=bearer(token)).json()["name"] == "root"
