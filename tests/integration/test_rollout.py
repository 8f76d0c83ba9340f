"""Canary rollouts of a real fleet: two versions of a tiny HTTP server started by the fleet
behind the rollout's proxy, real traffic through the service's port, the canary promoted,
rolled back on its measured error rate, or aborted."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.api import Operations
from shipyard.engine.gates import figure
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ShipyardError
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

SERVER = """
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("MODE", "ok")
if MODE == "die":  # healthy for a moment, then gone
    import threading
    threading.Timer(1.0, os._exit, [3]).start()
VERSION = os.environ.get("VERSION", "1").encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/health":
            code, body = 200, b"ok"
        elif MODE == "fail":
            code, body = 500, b"broken " + VERSION
        else:
            if MODE == "slow":
                time.sleep(0.3)
            code, body = 200, VERSION
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def fleet(
    write_spec: SpecWriter, *, steps: str, interval: str, min_requests: int, p95: int = 2000
) -> Path:
    (write_spec("", name="server.py")).write_text(SERVER, encoding="utf-8")
    return write_spec(
        f"""
        name: canary
        services:
          web:
            run: [python, server.py]
            port: auto
            env: {{VERSION: '1'}}
            health: {{http: /health, interval: 0.1s}}
            stop: {{timeout: 2s}}
            rollout:
              steps: {steps}
              interval: {interval}
              min_requests: {min_requests}
              kpis:
                - {{metric: error_rate, "<": 0.05}}
                - {{metric: p95_latency_ms, "<": {p95}}}
        """
    )


class Traffic:
    """Requests to the service's public port, one after another, on one keep-alive client."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.seen: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        with httpx.Client(trust_env=False, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    answer = client.get(self.url)
                    self.seen[f"{answer.status_code} {answer.text}"] += 1
                except httpx.HTTPError as error:
                    self.seen[type(error).__name__] += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def up(ops: Operations) -> Iterator[list[str]]:
    started: list[str] = []
    yield started
    for execution_id in started:
        with contextlib.suppress(ShipyardError):  # a test may have brought it down itself
            ops.stop(execution_id, grace=0.0)


def bring_up(ops: Operations, spec: Path, started: list[str]) -> tuple[str, int]:
    status = ops.up(spec, detach=True)
    started.append(status.id)
    ops.wait_healthy(status.id, timeout=30)
    port = ops.status(status.id).unit("web").port
    assert port is not None
    return status.id, port


def answer(port: int) -> str:
    reply = httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=10)
    return f"{reply.status_code} {reply.text}"


def test_a_good_canary_advances_and_is_promoted(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[30, 60, 100]", interval="0.5s", min_requests=5)
    execution_id, port = bring_up(ops, spec, up)
    assert answer(port) == "200 1"
    old_pid = ops.status(execution_id).unit("web").pid
    with Traffic(port) as traffic:
        view = ops.rollout_start(execution_id, "web", env={"VERSION": "2"}, wait=True, timeout=60)
    assert view.state == "promoted", view
    assert [d.split(":")[0] for d in view.decisions if not d.startswith("hold")] == [
        "advance",
        "advance",
        "promote",
    ], view.decisions
    assert traffic.seen["200 2"] > 0 and traffic.seen["200 1"] > 0, traffic.seen
    assert set(traffic.seen) <= {"200 1", "200 2"}, traffic.seen  # no request lost on the way
    # The port now serves the new version; the old process is gone, the service's is the new.
    assert answer(port) == "200 2"
    unit = ops.status(execution_id).unit("web")
    assert unit.pid != old_pid and unit.port == port
    assert old_pid is not None and not pid_alive(old_pid), "the old version still runs"
    assert ops.rollout_status(execution_id, "web")[0].state == "promoted"


def test_a_failing_canary_is_rolled_back_with_its_measured_error_rate(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[50, 100]", interval="0.5s", min_requests=5)
    execution_id, port = bring_up(ops, spec, up)
    with Traffic(port) as traffic:
        view = ops.rollout_start(
            execution_id, "web", env={"VERSION": "2", "MODE": "fail"}, wait=True, timeout=60
        )
    assert view.state == "rolled_back", view
    assert view.reason is not None and "KPI error_rate < 0.05 failed" in view.reason, view.reason
    assert view.figures["error_rate"] == 1.0, view.figures
    assert traffic.seen["500 broken 2"] > 0, traffic.seen
    # Every request goes to the stable version again, which kept running.
    assert {answer(port) for _ in range(20)} == {"200 1"}
    events = [e for _, e in ops.store.events(execution_id) if e.action == "rollout_canary_stopped"]
    assert events and not pid_alive(events[-1].data["pid"])
    # The next rollout is its own: --wait answers with it, not with the one before.
    with Traffic(port):
        again = ops.rollout_start(execution_id, "web", env={"VERSION": "3"}, wait=True, timeout=60)
    assert (again.state, again.changes) == ("promoted", {"VERSION": "3"}), again
    assert answer(port) == "200 3"


def test_abort_sends_everything_back_to_stable_at_once(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    # An interval far longer than the test: only the abort can end this rollout.
    spec = fleet(write_spec, steps="[50, 100]", interval="10m", min_requests=1)
    execution_id, port = bring_up(ops, spec, up)
    view = ops.rollout_start(execution_id, "web", env={"VERSION": "2"})
    assert view.state in ("starting", "running")
    wait_for(lambda: ops.rollout_status(execution_id, "web")[0].state == "running")
    seen = {answer(port) for _ in range(40)}
    assert seen == {"200 1", "200 2"}, seen  # half and half, at 50 %
    ended = ops.rollout_abort(execution_id, "web")
    assert ended.state == "aborted" and ended.reason == "aborted by request"
    assert {answer(port) for _ in range(20)} == {"200 1"}


def test_rollout_requests_a_fleet_cannot_do_are_refused(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[50, 100]", interval="10m", min_requests=1)
    execution_id, _ = bring_up(ops, spec, up)
    with pytest.raises(ShipyardError, match="no rollout of 'web' is running"):
        ops.rollout_abort(execution_id, "web")
    with pytest.raises(ShipyardError, match="no service 'api' here"):
        ops.rollout_start(execution_id, "api")


def test_a_canary_that_dies_is_rolled_back_saying_so(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[50, 100]", interval="10m", min_requests=1)
    execution_id, port = bring_up(ops, spec, up)
    view = ops.rollout_start(
        execution_id, "web", env={"VERSION": "2", "MODE": "die"}, wait=True, timeout=60
    )
    assert view.state == "rolled_back", view
    assert view.reason is not None and "the canary exited" in view.reason, view.reason
    assert "code 3" in view.reason, view.reason
    assert {answer(port) for _ in range(10)} == {"200 1"}


def test_bringing_the_fleet_down_ends_its_rollout(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[50, 100]", interval="10m", min_requests=1)
    execution_id, _ = bring_up(ops, spec, up)
    ops.rollout_start(execution_id, "web", env={"VERSION": "2"})
    wait_for(lambda: ops.rollout_status(execution_id, "web")[0].state == "running")
    ops.stop(execution_id, grace=0.0)
    view = ops.rollout_status(execution_id, "web")[0]
    assert (view.state, view.reason) == ("aborted", "the fleet came down"), view
    stopped = [e for _, e in ops.store.events(execution_id) if e.action == "rollout_canary_stopped"]
    assert stopped and not pid_alive(stopped[-1].data["pid"])


def test_a_rollout_through_a_server_and_its_rest_routes(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    import shipyard
    from tests.serving import served

    spec = fleet(write_spec, steps="[50, 100]", interval="10m", min_requests=1)
    with served(tmp_path / "home") as server:
        ops = shipyard.connect(url=server.url, token=server.token)
        execution_id = ""
        try:
            execution_id, port = bring_up(ops, spec, [])
            started = ops.rollout_start(execution_id, "web", env={"VERSION": "2"})
            assert started.changes == {"VERSION": "2"}
            wait_for(lambda: ops.rollout_status(execution_id)[0].state == "running")
            base, headers = f"{server.url}/api/v1", {"Authorization": f"Bearer {server.token}"}
            listed = httpx.get(f"{base}/fleets/{execution_id}/rollouts", headers=headers)
            assert listed.status_code == 200 and listed.json()[0]["state"] == "running"
            promoted = httpx.post(
                f"{base}/fleets/{execution_id}/services/web/rollout/promote",
                headers=headers,
                timeout=60,
            )
            assert promoted.status_code == 200, promoted.text
            assert promoted.json()["state"] == "promoted"
            assert answer(port) == "200 2"
            refused = httpx.post(
                f"{base}/fleets/{execution_id}/services/web/rollout/abort", headers=headers
            )
            assert refused.status_code >= 400 and "no rollout of 'web' is running" in refused.text
        finally:
            if execution_id:
                with contextlib.suppress(ShipyardError):
                    ops.stop(execution_id, grace=0.0)
            ops.close()


def test_up_of_the_spec_with_a_changed_env_starts_a_rollout(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[50, 100]", interval="10m", min_requests=1)
    execution_id, port = bring_up(ops, spec, up)
    changed = spec.read_text().replace("VERSION: '1'", "VERSION: '2'")
    spec.write_text(changed, encoding="utf-8")
    again = ops.up(spec, detach=True)
    assert again.id == execution_id, "a rollout in the running fleet, not a fleet of its own"
    view = ops.rollout_status(execution_id, "web")[0]
    assert view.changes == {"VERSION": "2"} and view.state in ("starting", "running"), view
    wait_for(lambda: ops.rollout_status(execution_id, "web")[0].state == "running")
    assert {answer(port) for _ in range(40)} == {"200 1", "200 2"}
    # A change a canary cannot carry (the command) is a fleet of its own, as before.
    spec.write_text(changed.replace("[python, server.py]", "[python, -u, server.py]"))
    other = ops.up(spec, detach=True)
    up.append(other.id)
    assert other.id != execution_id


def test_a_slow_canary_is_rolled_back_on_its_measured_latency(
    ops: Operations, write_spec: SpecWriter, up: list[str]
) -> None:
    spec = fleet(write_spec, steps="[50, 100]", interval="1s", min_requests=2, p95=150)
    execution_id, port = bring_up(ops, spec, up)
    with Traffic(port) as traffic:
        view = ops.rollout_start(
            execution_id, "web", env={"VERSION": "2", "MODE": "slow"}, wait=True, timeout=60
        )
    assert view.state == "rolled_back", view
    assert view.reason is not None and "KPI p95_latency_ms < 150 failed" in view.reason, view
    p95 = view.figures["p95_latency_ms"]
    # the figures recorded are the ones judged (no bound on the time itself is asserted)
    assert p95 is not None and p95 >= 150 and f"= {figure(p95)}," in view.reason, view
    assert view.figures["error_rate"] == 0.0
    assert traffic.seen["200 2"] > 0  # slow, but it answered
    assert {answer(port) for _ in range(10)} == {"200 1"}
