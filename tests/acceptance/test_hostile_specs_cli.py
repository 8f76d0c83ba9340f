"""The installed CLI against the hostile inputs of issue 8 (items 1, 5 and 6): no command runs
that the spec did not write, no traceback, no endless read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter

QUOTED = {
    "single": "echo '{{ x }}'",
    "double": 'echo "{{ x }}"',
    "inside": "echo \"value: '{{ x }}'\"",
}


@pytest.mark.parametrize("run", QUOTED.values(), ids=list(QUOTED))
@pytest.mark.parametrize(
    "value", ["; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "' ; touch PWNED ; '"]
)
def test_run_with_a_quoted_placeholder_runs_no_injected_command(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path, run: str, value: str
) -> None:
    spec = write_spec(
        f"""
        name: inj
        parameters:
          x: {{default: hi}}
        steps:
          a: {{run: {json.dumps(run)}, shell: true}}
        """
    )
    result = shipyard("run", str(spec), "-p", f"x={value}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "PWNED").exists(), "the parameter's value ran as a command"
    status = json.loads(shipyard("status", "--json").stdout)
    logs = shipyard("logs", status["id"], "a")
    assert value in logs.stdout


def test_validate_refuses_a_placeholder_in_backticks_with_the_fix(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: inj
        parameters:
          x: {default: hi}
        steps:
          a:
            shell: true
            run: "echo `echo {{ x }}`"
        """
    )
    result = shipyard("validate", str(spec))
    assert result.returncode == 1
    assert f"{spec}:7:" in result.stdout
    assert "inside backticks" in result.stdout
    assert '"$SHIPYARD_PARAM_X"' in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_a_device_or_a_fifo_is_refused_at_once(
    shipyard: Shipyard, tmp_path: Path, command: str, device: str
) -> None:
    if device == "fifo":
        device = str(tmp_path / "spec.yaml")
        os.mkfifo(device)
    result = shipyard(command, device, timeout=30)
    assert result.returncode != 0
    assert "not a regular file" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("timeout: .nan", "finite number of seconds"),
        ("timeout: .inf", "finite number of seconds"),
        ("retries: {count: 1, backoff: .inf}", "finite number of seconds"),
        ("timeout: 1000d", "longer than 365 days"),
        # An endless retry count: a spawn, a store row and events per attempt until the disk fills.
        ("retries: {count: 1000000000000, backoff: 0}", "retries is too many"),
    ],
)
def test_run_refuses_non_finite_durations_before_starting(
    shipyard: Shipyard, write_spec: SpecWriter, setting: str, says: str
) -> None:
    spec = write_spec(f"name: n\nsteps:\n  a:\n    run: [sleep, '0']\n    {setting}\n")
    result = shipyard("run", str(spec), timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert f"{spec}:5:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
