"""Issue 11, "missing diagnostics" in fleets (items 13 and 14), with real services: an
unhealthy service is stopped with its stop signal and grace (not SIGKILL at once), and a
failing probe's result is kept and shown."""

from __future__ import annotations

from pathlib import Path

from shipyard.api import Operations
from shipyard.models import ExecutionState
from tests.conftest import SpecWriter
from tests.integration.test_timing_behaviour import events, wait_until

#: Notes the stop signal it gets in its log, then exits; alive until then.
TRAPS_TERM = "trap 'echo got-TERM; exit 0' TERM; echo up; while :; do sleep 0.1; done"


def test_an_unhealthy_service_gets_its_stop_signal_then_restarts(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    ok = tmp_path / "ok"
    ok.touch()
    spec = write_spec(
        f"""
        name: sick
        services:
          web:
            run: "{TRAPS_TERM}"
            shell: true
            health: {{exec: [test, -e, ok], interval: 0.1s, failure_threshold: 1}}
            restart: {{policy: on-failure, backoff: 0.1s}}
            stop: {{signal: TERM, timeout: 20s}}
        """
    )
    status = ops.up(spec, detach=True)
    try:
        assert ops.wait_healthy(status.id, timeout=30).state == ExecutionState.RUNNING
        ok.unlink()
        exited = wait_until(
            "the unhealthy service's exit", lambda: events(ops, status.id, "service_exited")
        )
        reason = str(exited[0].data.get("reason"))
        assert "unhealthy" in reason and "SIGTERM" in reason, reason
        # what the failing probe saw is said, in the reason and the unhealthy event (item 13)
        assert "`test -e ok` exited with code 1" in reason, reason
        unhealthy = events(ops, status.id, "service_unhealthy")
        assert unhealthy[0].data.get("probe") == "`test -e ok` exited with code 1", unhealthy
        log = "\n".join(line.text for line in ops.logs(status.id, "web"))
        assert "got-TERM" in log, f"no stop signal reached it (killed at once?): {log!r}"
        ok.touch()
        wait_until("its restart", lambda: ops.status(status.id).unit("web").restarts >= 1)
    finally:
        ops.stop(status.id, grace=0)


#: An A2A agent whose card names another agent: it answers, but not as the service it is.
WRONG_CARD = """\
import http.server, json, os
port = int(os.environ["PORT"])
class Card(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"name": "wrong-name", "url": f"http://127.0.0.1:{port}"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Card).serve_forever()
"""

MISMATCH = "the agent card at /.well-known/agent-card.json names 'wrong-name', not 'weather'"


def wrong_card_fleet(write_spec: SpecWriter, tmp_path: Path) -> Path:
    import sys

    (tmp_path / "agent.py").write_text(WRONG_CARD, encoding="utf-8")
    return write_spec(
        f"""
        name: agents
        services:
          weather:
            run: [{sys.executable}, agent.py]
            port: auto
            health: {{a2a: true, interval: 0.1s}}
            readiness_timeout: 3s
        """
    )


def test_a_wrong_agent_card_is_named_in_the_reason_the_unit_and_the_events(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    status = ops.up(wrong_card_fleet(write_spec, tmp_path), detach=True)
    ended = wait_until(
        "the fleet to fail", lambda: (s := ops.status(status.id)).state.finished and s
    )
    assert ended.state == ExecutionState.FAILED
    assert f"last probe: {MISMATCH}" in (ended.reason or ""), ended.reason
    weather = ended.unit("weather")
    assert (weather.probe, weather.probe_ok) == (MISMATCH, False), weather
    seen = [e.data.get("detail") for e in events(ops, status.id, "probe_failed")]
    assert MISMATCH in seen, seen
    # a probe that saw the same thing again is not an event again
    assert seen.count(MISMATCH) == 1, seen
