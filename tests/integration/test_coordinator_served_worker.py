"""The worker routes' dependency (``Auth.served_worker``): a believed worker token is answered on
the event loop, without a hand-off to a thread; its first check (the row read) and a check after
the believed second still go to a thread, with the same refusals as ``current_worker``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi.security import HTTPAuthorizationCredentials

from shipyard.coordinator import auth as auth_module
from shipyard.coordinator.auth import Auth
from shipyard.coordinator.httperrors import Forbidden, Unauthorized

# ruff: noqa: F811  (the fixtures are imported, and named by the tests' parameters)
from tests.integration.test_coordinator_auth import (  # noqa: F401  (fixtures)
    Coordinator,
    _group_with_tokens,
    coordinator,
    pg_cluster,
    pg_url,
)


def test_a_believed_worker_token_is_checked_without_a_thread(
    coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, worker, manager = _group_with_tokens(coordinator)
    now = [time.time()]
    auth = Auth.start(coordinator.engine, clock=lambda: now[0], principal_ttl=1.0)
    hops: list[str] = []
    real = auth_module.run_in_threadpool

    async def counted(function: Any, *args: Any) -> Any:
        hops.append(function.__name__)
        return await real(function, *args)

    monkeypatch.setattr(auth_module, "run_in_threadpool", counted)

    def check(token: str) -> Any:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        return asyncio.run(auth.served_worker(credentials))

    first = check(worker)
    assert hops == ["current_worker"], "the first check reads the worker's row on a thread"
    now[0] += 0.5
    assert check(worker) == first
    assert hops == ["current_worker"], f"a believed token went to a thread again: {hops}"
    now[0] += 0.6  # past the second it is believed: read again, on a thread
    assert check(worker) == first
    assert hops == ["current_worker", "current_worker"]
    # The refusals are current_worker's: a manager's token, a user's, none.
    with pytest.raises(Forbidden):
        check(manager)
    with pytest.raises(Forbidden):
        check(user)
    with pytest.raises(Unauthorized):
        asyncio.run(auth.served_worker(None))


def test_a_believed_token_of_another_kind_is_still_refused(coordinator: Coordinator) -> None:
    """A manager's token, believed from a manager route, is no worker's on the fast path."""
    _, _, manager = _group_with_tokens(coordinator)
    auth = Auth.start(coordinator.engine, principal_ttl=60.0)
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=manager)
    auth.current_manager(credentials)  # believed now
    with pytest.raises(Forbidden):
        asyncio.run(auth.served_worker(credentials))
