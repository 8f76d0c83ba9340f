"""The installed CLI end to end: exit codes, messages without tracebacks, parsable --json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard, shipyard_executable
from tests.conftest import SpecWriter

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"


def start_run_and_wait_for(spec: Path, marker: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`shipyard run SPEC` in the background, returned once a step has written ``marker``."""
    process = subprocess.Popen(
        [shipyard_executable(), "run", str(spec)],
        env=env,
        cwd=spec.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the step never started"
    return process


def assert_clean_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_help_and_version(shipyard: Shipyard) -> None:
    result = shipyard("--help")
    assert result.returncode == 0
    for command in ("validate", "plan", "run", "status", "list", "logs", "schema"):
        assert command in result.stdout
    assert shipyard("--version").stdout.startswith("shipyard ")


def test_quickstart_runs_end_to_end(shipyard: Shipyard) -> None:
    result = shipyard("run", str(QUICKSTART), "--mode", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout
    status = json.loads(shipyard("status", "--json").stdout)
    assert status["state"] == "succeeded"
    assert status["progress"] == {"done": 5, "total": 5, "percent": 100.0}
    assert {unit["name"] for unit in status["units"]} == {
        "generate",
        "count-lines",
        "count-word",
        "top-words",
        "report",
    }
    report = shipyard("logs", status["id"], "report")
    assert report.returncode == 0
    assert '"shipyard" appears on' in report.stdout


def test_validate_reports_file_line_and_hint(shipyard: Shipyard, write_spec: SpecWriter) -> None:
    spec = write_spec(
        """
        name: broken
        steps:
          build:
            run: [make]
            retires: 2
          test:
            needs: [biuld]
            run: [make, test]
        """
    )
    result = shipyard("validate", str(spec))
    assert_clean_error(result)
    assert result.returncode == 1
    assert f"{spec}:5:5: unknown key 'retires' in steps.build" in result.stdout
    assert "did you mean 'retries'?" in result.stdout
    assert f"{spec}:7:13: step 'test' needs 'biuld'" in result.stdout
    report = json.loads(shipyard("validate", str(spec), "--json").stdout)
    assert report["valid"] is False
    assert [(p["line"], p["column"]) for p in report["problems"]] == [(5, 5), (7, 13)]


def test_cycle_is_shown_as_a_path(shipyard: Shipyard, write_spec: SpecWriter) -> None:
    spec = write_spec("name: c\nsteps:\n  a: {needs: [b], run: [x]}\n  b: {needs: [a], run: [x]}\n")
    result = shipyard("run", str(spec))
    assert_clean_error(result)
    assert result.returncode == 2
    assert "dependency cycle: a → b → a" in result.stderr


def test_validate_a_good_spec(shipyard: Shipyard) -> None:
    result = shipyard("validate", str(QUICKSTART))
    assert result.returncode == 0
    assert "is valid (5 steps, 3 parameters)" in result.stdout


def test_plan_json_shows_stages_commands_and_critical_path(shipyard: Shipyard) -> None:
    result = shipyard("plan", str(QUICKSTART), "-p", "word=alpha beta", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stages"] == [["generate"], ["count-lines", "count-word", "top-words"], ["report"]]
    count = next(step for step in plan["steps"] if step["name"] == "count-word")
    assert count["command"]["argv"][-1] == "alpha beta"
    assert plan["critical_path"][0] == "generate" and plan["critical_path"][-1] == "report"
    table = shipyard("plan", str(QUICKSTART))
    assert "critical path: generate →" in table.stdout


def test_parameter_errors_are_clean(shipyard: Shipyard) -> None:
    for args, message in (
        (["-p", "wrod=x"], "unknown parameter 'wrod'"),
        (["-p", "lines=many"], "parameter 'lines' is an int, and 'many' is not"),
        (["-p", "top=4"], "parameter 'top' must be one of 1, 3, 5; got 4"),
        (["-p", "lines"], "'-p lines' is not a parameter assignment"),
        (["--mode", "fast"], "--mode fast is not a run mode"),
    ):
        result = shipyard("run", str(QUICKSTART), *args)
        assert_clean_error(result)
        assert message in result.stderr, result.stderr


def test_a_failing_run_exits_1_and_status_tells_why(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = write_spec("name: f\nsteps:\n  bad: {run: [sh, -c, 'echo oops >&2; exit 3']}\n")
    result = shipyard("run", str(spec))
    assert result.returncode == 1
    status = json.loads(shipyard("status", "--json").stdout)
    assert status["state"] == "failed"
    assert status["units"][0]["exit_code"] == 3
    logs = json.loads(shipyard("logs", status["id"], "--json").stdout)
    assert logs == [{"unit": "bad", "number": 1, "text": "oops"}]


def test_list_and_unknown_ids(shipyard: Shipyard, write_spec: SpecWriter) -> None:
    assert "no executions yet" in shipyard("list").stdout
    missing = shipyard("status", "exec_missing")
    assert_clean_error(missing)
    assert "no execution 'exec_missing'" in missing.stderr
    spec = write_spec("name: one\nsteps:\n  a: {run: [true]}\n")
    shipyard("run", str(spec), "--quiet")
    listed = json.loads(shipyard("list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["name"] == "one"
    bad_unit = shipyard("logs", listed[0]["id"], "nope")
    assert_clean_error(bad_unit)
    assert "has no unit 'nope'" in bad_unit.stderr
    followed = shipyard("logs", listed[0]["id"], "nope", "--follow")  # not silence
    assert_clean_error(followed)
    assert "has no unit 'nope'" in followed.stderr


def test_schema_is_json_schema(shipyard: Shipyard) -> None:
    schema = json.loads(shipyard("schema").stdout)
    assert schema["title"] == "Shipyard spec"
    assert {"name", "steps", "parameters", "execution", "hooks"} <= set(schema["properties"])


def test_dry_run_starts_nothing(shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path) -> None:
    spec = write_spec(f"name: d\nsteps:\n  a: {{run: [touch, {tmp_path}/ran]}}\n")
    result = shipyard("run", str(spec), "--dry-run")
    assert result.returncode == 0
    assert "dry run" in result.stdout
    assert not (tmp_path / "ran").exists()


@pytest.mark.local_only(
    "Ctrl-C reaches the engine's signal handlers in this process; through a server "
    "the client asks for one graceful stop"
)
def test_ctrl_c_stops_cleanly_and_cleanup_runs(write_spec: SpecWriter, tmp_path: Path) -> None:
    started = tmp_path / "started"
    spec = write_spec(
        f"""
        name: interrupt
        hooks: {{cleanup: [touch, {tmp_path}/cleaned]}}
        steps:
          long: {{run: 'touch {started}; sleep 30', shell: true}}
          after: {{run: [true], needs: [long]}}
        """
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home")}
    process = start_run_and_wait_for(spec, started, env)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert (tmp_path / "cleaned").exists()
    status = subprocess.run(
        [shipyard_executable(), "status", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(status.stdout)
    assert record["state"] == "cancelled"
    assert record["reason"] == "interrupted (Ctrl-C)"
    states = {unit["name"]: unit["state"] for unit in record["units"]}
    assert states == {"long": "cancelled", "after": "skipped"}


def test_io_benchmark_example_with_fio(shipyard: Shipyard) -> None:
    """The real fio pipeline on small inputs; fio is installed by scripts/setup.sh."""
    result = shipyard(
        "run", str(REPO / "examples" / "io-benchmark.yaml"), "--mode", "test", "--json"
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    status = json.loads(result.stdout)
    assert [unit["state"] for unit in status["units"]] == ["succeeded"] * 3
    summary = json.loads((Path(status["run_dir"]) / "artifacts" / "summary.json").read_text())
    assert [row["phase"] for row in summary] == ["write", "read"]
    assert all(row["mib_s"] > 0 and row["iops"] > 0 for row in summary)
    assert not (Path(status["run_dir"]) / "scratch").exists()  # the cleanup hook removed it
    # The summary step reports fio's figures through $SHIPYARD_METRICS: the same as its JSON.
    figures = {m["name"]: m for m in status["metrics"]}
    assert set(figures) == {
        f"{phase}_{what}"
        for phase in ("write", "read")
        for what in ("bw", "iops", "p50_lat", "p99_lat")
    }
    for row in summary:
        bandwidth = figures[f"{row['phase']}_bw"]
        assert (bandwidth["unit"], bandwidth["attempt"]) == ("summary", 1)
        assert bandwidth["value"] == row["mib_s"] and bandwidth["unit_label"] == "MiB/s"
        assert figures[f"{row['phase']}_iops"]["value"] == row["iops"]


@pytest.mark.local_only(
    "Ctrl-C reaches the engine's signal handlers in this process; through a server "
    "the client asks for one graceful stop"
)
def test_a_second_ctrl_c_kills_at_once(write_spec: SpecWriter, tmp_path: Path) -> None:
    pidfile = tmp_path / "stubborn.pid"
    spec = write_spec(
        f"""
        name: stubborn
        steps:
          stubborn:
            run: trap "" TERM INT; echo $$ > {pidfile}; while :; do sleep 0.1; done
            shell: true
            stop: {{timeout: 60s}}
        """
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home")}
    process = start_run_and_wait_for(spec, pidfile, env)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None  # still waiting out the 60 s grace
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)  # far less than the grace: it was killed
    assert process.returncode == 1 and "Traceback" not in stderr
    pid = int(pidfile.read_text())
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def test_text_that_looks_like_markup_is_printed_as_it_is(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    # Rich once read "[/; s/$/]" in a command as a closing tag and crashed the plan.
    spec = write_spec(
        """
        name: brackets
        steps:
          edit: {run: [echo, 's/^/[/; s/$/]/', '[bold]x[/bold]']}
          fail: {needs: [edit], run: [sh, -c, 'echo "[red]boom[/]"; exit 3']}
        """
    )
    planned = shipyard("plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    assert "s/^/[/; s/$/]/" in planned.stdout and "[bold]x[/bold]" in planned.stdout
    ran = shipyard("run", str(spec))
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    logs = shipyard("logs", json.loads(shipyard("status", "--json").stdout)["id"], "fail")
    assert "[red]boom[/]" in logs.stdout


def test_plan_of_a_fleet_shows_stages_ports_urls_and_connections(shipyard: Shipyard) -> None:
    fleet = str(REPO / "examples" / "fleet.yaml")
    shown = shipyard("plan", fleet)
    assert shown.returncode == 0, shown.stderr
    assert "services: 3 in 2 start stages" in shown.stdout
    assert "weather, maps" in shown.stdout  # whom the controller talks to
    planned = json.loads(shipyard("plan", fleet, "--json").stdout)
    assert planned["service_stages"] == [["weather", "maps"], ["controller"]]
    assert set(planned["ports"]) == {"weather", "maps", "controller"}
    assert len(set(planned["ports"].values())) == 3
    assert planned["urls"]["controller"] == f"http://127.0.0.1:{planned['ports']['controller']}"


@pytest.mark.local_only(
    "checks what the in-process fast path imports; the remote client's httpx imports "
    "click and rich (its own CLI)"
)
def test_json_answers_never_import_rich(shipyard: Shipyard, tmp_path: Path) -> None:
    """Rich's tables cost ~30 ms a start; a script asking for JSON must not pay them."""
    assert shipyard("run", "-q", str(QUICKSTART), "--mode", "test").returncode == 0
    execution_id = json.loads(shipyard("status", "--json").stdout)["id"]
    probe = (
        f"import sys\nID = {execution_id!r}\n"
        "from shipyard.cli.main import main\n"
        "for argv in (['status', '--json'], ['list', '--json'], ['logs', '--json', ID]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "sys.stderr.write('rich loaded: %s' % any(m.startswith('rich') for m in sys.modules))\n"
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home")}
    import sys

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert "rich loaded: False" in done.stderr, done.stderr


def test_each_command_runs_alone_with_the_same_help_and_errors(shipyard: Shipyard) -> None:
    # main() hands Typer only the command a command line names (it converts every command's
    # signature at each start otherwise); help, -h and errors must read as before.
    assert shipyard("run", "-h").stdout.startswith("Usage: shipyard run [OPTIONS] SPEC")
    assert shipyard("service", "stop", "-h").stdout.startswith(
        "Usage: shipyard service stop [OPTIONS] EXECUTION_ID SERVICE"
    )
    missing = shipyard("run")
    assert missing.returncode == 2 and "Missing argument 'SPEC'" in missing.stderr
    unknown = shipyard("nosuch")
    assert unknown.returncode == 2 and "No such command 'nosuch'" in unknown.stderr
    listed = shipyard("--help").stdout
    assert all(name in listed for name in ("run", "up", "service", "checkpoint", "agents"))
    assert shipyard("list", "--json").stdout.strip() == "[]"  # runs, not help, without args
