"""Issue 11, "missing diagnostics" (items 12-17), through the installed CLI as a user meets
them: every spec problem at once, a port asked for twice named, a refused fleet not sent to
logs it never wrote."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter


def test_validate_reports_a_shape_error_a_template_a_cycle_and_a_port_at_once(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        """
        name: multi
        steps:
          a: {run: [echo, "{{ missing }}"], needs: [b], timout: 3}
          b: {run: [echo, b], needs: [a]}
        services:
          web: {run: [sleep, "60"], port: 8123}
          api: {run: [sleep, "60"], port: 8123}
        """
    )
    shown = shipyard("validate", str(spec))
    assert shown.returncode == 1, shown.stdout + shown.stderr
    for expected in (
        "unknown key 'timout' in steps.a",
        "'{{ missing }}' is not a parameter",
        "dependency cycle: a → b → a",
        "services 'web' and 'api' both ask for port 8123",
    ):
        assert expected in shown.stdout, shown.stdout
    assert "Traceback" not in shown.stderr
    report = json.loads(shipyard("validate", str(spec), "--json").stdout)
    assert len(report["problems"]) == 4, report["problems"]
    port = next(p for p in report["problems"] if "port 8123" in p["message"])
    assert port["line"] == 7 and port["hint"] == "give 'api' another port, or port: auto"


def test_a_fleet_refused_for_a_busy_port_is_not_sent_to_its_logs(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = write_spec(
            f"""
            name: busy
            services:
              web: {{run: [sleep, "60"], port: {port}}}
            """
        )
        refused = shipyard("up", "-d", str(spec))
    assert refused.returncode != 0
    assert f"port {port} of service 'web' is already in use" in refused.stderr
    assert "shipyard logs" not in refused.stderr, refused.stderr
    assert "nothing was started" in refused.stderr, refused.stderr


def test_a_failing_probe_is_shown_by_up_ps_and_status(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    from tests.integration.test_fleet_diagnostics import MISMATCH, wrong_card_fleet

    spec = wrong_card_fleet(write_spec, tmp_path)
    refused = shipyard("up", "-d", str(spec))
    assert refused.returncode != 0
    assert f"last probe: {MISMATCH}" in refused.stderr, refused.stderr
    # (a narrow table folds its cells: words are compared, not lines)
    said = "names 'wrong-name', not 'weather'"
    shown = shipyard("ps")
    assert said in " ".join(shown.stdout.split()), shown.stdout
    status = shipyard("status")
    assert said in " ".join(status.stdout.split()), status.stdout
    (weather,) = json.loads(shipyard("ps", "--json").stdout)
    assert (weather["probe"], weather["probe_ok"]) == (MISMATCH, False)


def test_a_failed_prepare_is_named_and_its_log_is_one_command_away(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    from tests.integration.test_hook_units import HOOKED

    ran = shipyard("run", str(write_spec(HOOKED)))
    assert ran.returncode == 1
    said = " ".join(ran.stdout.split())  # the table and header as words
    assert "reason: the prepare hook `sh -c 'echo oops >&2; exit 3'` exited with code 3" in said
    # The table's row (the lines printed as the hook ran come first: "running _prepare …").
    row = next(line for line in ran.stdout.splitlines() if line.lstrip("│ ").startswith("_prepare"))
    assert row.replace("│", " ").split()[:4] == ["_prepare", "failed", "2", "3"], row
    hint = next(line for line in ran.stdout.splitlines() if line.startswith("logs: "))
    command = hint.removeprefix("logs: shipyard ").split()
    assert command[-1] == "_prepare", hint
    shown = shipyard(*command)
    assert shown.returncode == 0 and shown.stdout.split() == ["prepared", "oops"], shown
    status = json.loads(shipyard("status", "--json").stdout)
    assert [(h["name"], h["state"]) for h in status["hooks"]] == [
        ("_prepare", "failed"),
        ("_cleanup", "succeeded"),
    ]
