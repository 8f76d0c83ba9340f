"""How long the coordinator believes what a token check read (issue 13 §7, ``Auth``'s caches),
against a real PostgreSQL: a user's identity and memberships are believed for ``user_ttl``, so a
change made by another coordinator of the same database (here: plain SQL, which bumps no
generation in this process) applies within that bound and not later; a change made through
this process applies at once; a grant is never refused for a believed old membership."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import text

from shipyard.coordinator import auth as auth_module
from shipyard.coordinator import authstore, passwords
from shipyard.coordinator.auth import Auth
from shipyard.coordinator.httperrors import Unauthorized
from shipyard.coordinator.tokens import Role

# ruff: noqa: F811  (the fixtures are imported, and named by the tests' parameters)
from tests.integration.test_coordinator_auth import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    Coordinator,
    bearer,
    coordinator,
    pg_cluster,
    pg_url,
)
from tests.integration.test_coordinator_routes import (  # noqa: F401  (fixtures)
    Served,
    _group,
    _task,
    served,
)

TTL = 0.5


def _ada(coordinator: Coordinator) -> HTTPAuthorizationCredentials:
    """User ada, Write in group lab (made by root), as credentials."""
    root = coordinator.login("root", ADMIN_PASSWORD)
    ada = coordinator.user(root, "ada")
    made = coordinator.http.post("/groups", json={"name": "lab"}, headers=bearer(root))
    assert made.status_code == 201, made.text
    added = coordinator.http.put(
        "/groups/lab/members/ada", json={"role": "Write"}, headers=bearer(root)
    )
    assert added.status_code == 200, added.text
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=ada)


def _elsewhere(coordinator: Coordinator, sql: str) -> None:
    """A change made by another coordinator: SQL this process's authstore never saw."""
    with coordinator.engine.begin() as connection:
        connection.execute(text(sql))


def test_a_password_changed_elsewhere_revokes_the_token_within_user_ttl(
    coordinator: Coordinator,
) -> None:
    ada = _ada(coordinator)
    now = [time.time()]
    auth = Auth.start(coordinator.engine, clock=lambda: now[0], user_ttl=TTL)
    user = auth.current_user(ada)
    _elsewhere(coordinator, "UPDATE users SET signature = signature + 1 WHERE name = 'ada'")
    now[0] += TTL * 0.9
    assert auth.current_user(ada) == user, "the user's token was not believed within user_ttl"
    now[0] += TTL * 0.1
    with pytest.raises(Unauthorized, match="revoked"):
        auth.current_user(ada)


def test_a_password_changed_through_this_process_revokes_the_token_at_once(
    coordinator: Coordinator,
) -> None:
    ada = _ada(coordinator)
    auth = Auth.start(coordinator.engine, clock=lambda: 1e9 - 1e6, user_ttl=3600.0)
    user = auth.current_user(ada)
    with coordinator.engine.begin() as connection:
        authstore.set_password(connection, user.id, passwords.hash_password("a new password"))
    with pytest.raises(Unauthorized, match="revoked"):
        auth.current_user(ada)


def test_a_membership_removed_elsewhere_is_believed_at_most_user_ttl(
    coordinator: Coordinator,
) -> None:
    ada = _ada(coordinator)
    now = [time.time()]
    auth = Auth.start(coordinator.engine, clock=lambda: now[0], user_ttl=TTL)
    user = auth.current_user(ada)
    assert auth.memberships(user)["lab"][1] is Role.WRITE
    _elsewhere(coordinator, f"DELETE FROM memberships WHERE user_id = {user.id}")
    now[0] += TTL * 0.9
    assert "lab" in auth.memberships(user), "the memberships were not believed within user_ttl"
    assert "lab" not in auth.memberships(user, fresh=True), "fresh did not read them again"
    now[0] += TTL * 0.1
    assert auth.memberships(user) == {}, "a removed membership outlived user_ttl"


def test_a_believed_user_token_is_checked_without_a_thread(
    coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = _ada(coordinator)
    auth = Auth.start(coordinator.engine, user_ttl=60.0)
    hops: list[str] = []
    real = auth_module.run_in_threadpool

    async def counted(function: Any, *args: Any) -> Any:
        hops.append(function.__name__)
        return await real(function, *args)

    monkeypatch.setattr(auth_module, "run_in_threadpool", counted)
    first = asyncio.run(auth.served_user(ada))
    assert hops == ["current_user"], "the first check reads the user's row on a thread"
    assert asyncio.run(auth.served_user(ada)) == first
    assert hops == ["current_user"], f"a believed user token went to a thread again: {hops}"
    with pytest.raises(Unauthorized):
        asyncio.run(auth.served_user(None))


def test_a_grant_made_elsewhere_is_not_refused_for_a_believed_membership(
    served: Served, pg_url: str
) -> None:
    """Served: bob, refused in lab (his memberships now believed without it), is granted Write
    by another coordinator (SQL); his next submit and read go through at once."""
    import psycopg

    root = served.login("root")
    _group(served, root)
    bob = served.user(root, "bob")
    uuid = served.http.post("/api/v1/tasks", json=_task(), headers=root).json()["uuid"]
    assert served.http.post("/api/v1/tasks", json=_task(), headers=bob).status_code == 403
    assert served.http.get(f"/api/v1/tasks/{uuid}", headers=bob).status_code == 404
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO memberships (user_id, group_id, role) SELECT u.id, g.id, %s "
            "FROM users u, groups g WHERE u.name = 'bob' AND g.name = 'lab'",
            (int(Role.WRITE),),
        )
    submitted = served.http.post("/api/v1/tasks", json=_task(), headers=bob)
    assert submitted.status_code == 201, f"a fresh grant was refused: {submitted.text}"
    read = served.http.get(f"/api/v1/tasks/{uuid}", headers=bob)
    assert read.status_code == 200, f"a fresh grant was refused: {read.text}"
