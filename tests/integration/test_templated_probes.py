"""A real fleet whose ``health.exec`` probe takes a parameter: the value reaches the probe as one
whole argv word (never through a shell), so the service turns healthy only if it was filled in.
Before, the probe ran with ``{{ word }}`` as written and the service never became healthy."""

from __future__ import annotations

from pathlib import Path

from shipyard.api import Operations
from shipyard.models import UnitState
from tests.conftest import SpecWriter

HOSTILE = "two words; touch PWNED"


def test_an_exec_probe_gets_its_parameter(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: probed
        parameters:
          word: {default: unused}
        services:
          web:
            run: [sleep, '60']
            # healthy only when the probe's first argument is exactly the value given
            health:
              exec: [sh, -c, 'test "$1" = "two words; touch PWNED"', probe, '{{ word }}']
              interval: 50ms
            readiness_timeout: 10s
        """
    )
    status = ops.up(spec, {"word": HOSTILE}, detach=True)
    try:
        healthy = ops.wait_healthy(status.id, timeout=30)
        web = healthy.unit("web")
        assert web.health == "healthy" and web.state == UnitState.RUNNING, web
    finally:
        ops.stop(status.id, grace=0)
    assert not list(spec.parent.rglob("PWNED")), "a parameter's value ran as code"
    assert not list(tmp_path.rglob("PWNED")), "a parameter's value ran as code"


def test_plan_shows_the_probe_with_its_value(ops: Operations, write_spec: SpecWriter) -> None:
    spec = write_spec(
        """
        name: probed
        parameters:
          word: {default: hello}
        services:
          web:
            run: [sleep, '60']
            health: {exec: [sh, -c, 'echo "$1"', probe, '{{ word }}']}
        """
    )
    planned = ops.plan(spec, {"word": HOSTILE}).service("web").health
    assert planned is not None
    assert planned.exec == ["sh", "-c", 'echo "$1"', "probe", HOSTILE]
    assert ops.plan(spec).service("web").health.exec[-1] == "hello"  # type: ignore[union-attr]
