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
        log = "\n".join(line.text for line in ops.logs(status.id, "web"))
        assert "got-TERM" in log, f"no stop signal reached it (killed at once?): {log!r}"
        ok.touch()
        wait_until("its restart", lambda: ops.status(status.id).unit("web").restarts >= 1)
    finally:
        ops.stop(status.id, grace=0)
