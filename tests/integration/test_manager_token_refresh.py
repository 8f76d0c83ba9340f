"""A node manager's token refresh (issue 14 §2): ``POST /api/v1/managers/refresh-token`` on a
real coordinator, and a real ``shipyard manager`` whose 60-s token is refreshed before it
expires and which goes on working past the old token's expiry."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.manager.tokenrefresh import token_times
from tests.integration.test_coordinator_routes import Served, _env, _serving
from tests.integration.test_manager_process import SETTINGS, Lab, Running, _sh, _until
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import _executable

API = "/api/v1"


@pytest.fixture
def lab(pg_url: str, tmp_path: Path) -> Iterator[Lab]:  # noqa: F811
    with _serving(pg_url, tmp_path, SETTINGS) as served:
        root = served.login("root")
        made = served.http.post(f"{API}/groups", json={"name": "lab"}, headers=root)
        assert made.status_code == 201, made.text
        issued = served.http.post(f"{API}/groups/lab/managers", headers=root,
                                  json={"lifetime_seconds": 60})  # fmt: skip
        assert issued.status_code == 201, issued.text
        yield Lab(served, root, issued.json()["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _register(served: Served, token: str) -> int:
    answer = served.http.post(f"{API}/managers", json={"tags": []}, headers=_bearer(token))
    return answer.status_code


def test_refresh_token_gives_the_same_manager_a_later_expiry(lab: Lab) -> None:
    http = lab.served.http
    old_times = token_times(lab.token)
    assert old_times is not None and old_times[1] - old_times[0] == 60, old_times
    answer = http.post(f"{API}/managers/refresh-token", json={"lifetime_seconds": 120},
                       headers=_bearer(lab.token))  # fmt: skip
    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    assert fresh["kind"] == "manager" and fresh["group"] == "lab", fresh
    new_times = token_times(fresh["token"])
    assert new_times is not None and new_times[1] == fresh["expires_at"], (new_times, fresh)
    assert fresh["expires_at"] > old_times[1], (fresh["expires_at"], old_times)
    # Both work, as the same manager; the old one until its own expiry.
    first = http.post(f"{API}/managers", json={"tags": []}, headers=_bearer(lab.token))
    second = http.post(f"{API}/managers", json={"tags": []}, headers=_bearer(fresh["token"]))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["manager_id"] == second.json()["manager_id"] == fresh["id"]
    # Not for a user's token; revoking the manager ends both of its tokens.
    by_user = http.post(f"{API}/managers/refresh-token", headers=lab.root)
    assert by_user.status_code == 403, by_user.text
    revoked = http.delete(f"{API}/groups/lab/principals/{fresh['id']}", headers=lab.root)
    assert revoked.status_code == 200, revoked.text
    assert _register(lab.served, lab.token) == 401
    assert _register(lab.served, fresh["token"]) == 401
    again = http.post(f"{API}/managers/refresh-token", headers=_bearer(fresh["token"]))
    assert again.status_code == 401, again.text


@contextlib.contextmanager
def _refreshing_manager(lab: Lab, tmp_path: Path, token_file: Path) -> Iterator[Running]:
    """A real ``shipyard manager --json`` reading its token from ``token_file``, refreshing
    it once it expires within 30 s, looking every 0.5 s."""
    place = tmp_path / "m1"
    place.mkdir()
    out, err = place / "out.jsonl", place / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [_executable(), "manager", "--server", lab.served.url, "--group", "lab",
             "--folder", str(place / "folder"), "--heartbeat", "0.5", "--json",
             "--token-file", str(token_file), "--refresh-margin", "30", "--refresh-check", "0.5"],
            stdout=stdout, stderr=stderr, env=_env(tmp_path / "home"), start_new_session=True,
        )  # fmt: skip
    running = Running(process, out, err, place / "folder")
    try:
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_running_manager_refreshes_its_token_and_works_past_the_old_expiry(
    lab: Lab, tmp_path: Path
) -> None:
    token_file = tmp_path / "manager.token"
    token_file.write_text(lab.token + "\n")
    old_times = token_times(lab.token)
    assert old_times is not None
    with _refreshing_manager(lab, tmp_path, token_file) as manager:
        _until("the manager registered", lambda: manager.events("registered"), 30)
        # The 60-s token is within its 30-s margin after about 30 s.
        refreshed = _until("a token_refreshed event",
                           lambda: manager.events("token_refreshed"), 50)  # fmt: skip
        assert refreshed[0]["expires_at"] > old_times[1], (refreshed, old_times)
        written = token_file.read_text().strip()
        assert written != lab.token, "the token file still holds the old token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # Past the old token's expiry: it is refused, the manager still takes a suite.
        time.sleep(max(0.0, old_times[1] + 1 - time.time()))
        assert _register(lab.served, lab.token) == 401
        suite = lab.suite(name="late")
        lab.submit(suite, [_sh("true")] * 3)
        _until("the suite complete after the old expiry",
               lambda: lab.get(f"/suites/{suite}")["state"] == "complete", 30)  # fmt: skip
        assert manager.process.poll() is None, manager.said()
        assert "401" not in manager.err.read_text(), manager.said()
        latest = token_file.read_text().strip()
        assert _register(lab.served, latest) == 200
