"""Real process-compose files (tests/fixtures/seed-formats/process-compose, copied byte for byte
from upstream) through the installed CLI: each validates and plans as it is, `shipyard import`
writes a spec that validates and names what it could not map, the ones whose commands exist
here run, and a broken file is reported at its own line with its own key names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

FIXTURES = Path(__file__).parents[1] / "fixtures" / "seed-formats" / "process-compose"
FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".yaml", ".yml"))


def test_every_upstream_file_is_here() -> None:
    assert len(FILES) == 6, f"the six upstream files are expected in {FIXTURES}: {FILES}"


@pytest.mark.parametrize("file", FILES, ids=lambda p: p.name)
def test_validates_and_plans_as_it_is(shipyard: Shipyard, file: Path) -> None:
    checked = shipyard("validate", str(file), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"], report
    assert report["steps"] + report["services"] >= 2, report
    assert f"note: {file} is a process-compose file" in checked.stderr, checked.stderr
    plan = shipyard("plan", str(file), "--json")
    assert plan.returncode == 0, plan.stderr
    units = {s["name"] for s in json.loads(plan.stdout).get("steps", [])} | {
        s["name"] for s in json.loads(plan.stdout).get("services", [])
    }
    assert units, plan.stdout


@pytest.mark.parametrize("file", FILES, ids=lambda p: p.name)
def test_import_writes_a_spec_that_validates(
    shipyard: Shipyard, file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "spec.yaml"
    out.parent.mkdir()
    done = shipyard("import", str(file), "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["format"] == "process-compose"
    text = out.read_text()
    assert text == result["spec"]
    assert "# command (a shell string)" in text, "each mapping is commented"
    checked = shipyard("validate", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Nothing silently dropped: every key the file has that Shipyard lacks is named.
    keys = {w["key"].rsplit(".", 1)[-1] for w in result["warnings"]}
    source = file.read_text()
    for key in ("namespace", "schedule", "log_level"):
        if f"{key}:" in source:
            assert key in keys, f"{key} of {file.name} is not named in {result['warnings']}"
    # Mapped since issue 17 §4 (success_exit_codes, log-line readiness, liveness, a stop
    # command): no longer named as unmapped.
    unmapped = {w["key"] for w in result["warnings"] if "not mapped" in w.get("message", "")}
    for key in ("ready_log_line", "success_exit_codes", "liveness_probe", "shutdown.command"):
        assert not [k for k in unmapped if k.endswith(key)], (key, unmapped)
    for key, written in (
        ("success_exit_codes:", "success_exit_codes:"),
        ("ready_log_line:", "log_line:"),
        ("liveness_probe:", "liveness:"),
        ("shutdown:\n      command:", "command:"),
    ):
        if key in source:
            assert written in text, f"{key} of {file.name} is not in the spec:\n{text}"


def test_import_names_what_it_cannot_map_on_stderr(shipyard: Shipyard) -> None:
    file = FIXTURES / "video-series-demo-process-compose.yaml"
    done = shipyard("import", str(file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Imported from the process-compose file"), done.stdout[:200]
    assert "parameters:" in done.stdout and "{{ PY }}" in done.stdout
    assert "processes.vacuum.schedule" in done.stderr, done.stderr
    # mailer's ready_log_line (line 77) is mapped now: its health is that line
    assert "processes.mailer.ready_log_line" not in done.stderr, done.stderr
    assert 'log_line: "relay ready, accepting mail"' in done.stdout, done.stdout


def test_the_chain_runs_in_dependency_order(shipyard: Shipyard, tmp_path: Path) -> None:
    file = tmp_path / "chain.yaml"
    shutil.copy(FIXTURES / "process-compose-chain-rhombus.yaml", file)
    ran = shipyard("run", str(file), "--json", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(ran.stdout)
    assert status["state"] == "succeeded", status
    units = {u["name"]: u for u in status["units"]}
    for before, after in (
        ("process8", "process6"),
        ("process7", "process5"),
        ("process2", "process1"),
    ):
        assert units[before]["ended_at"] <= units[after]["started_at"], (before, after, units)
    logs = shipyard("logs", status["id"], "process1")
    assert "process1" in logs.stdout, logs.stdout + logs.stderr


def test_a_fleet_comes_up_and_down_through_its_shutdown_commands(
    shipyard: Shipyard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process's shutdown.command (now stop.command) appends its line to
    $PC_TEST_SHUTDOWN_LOG as down stops it: in reverse start order, B (which waits for C and
    D, which wait for A) first and A last — what the upstream test checks."""
    file = tmp_path / "inorder.yaml"
    shutil.copy(FIXTURES / "process-compose-shutdown-inorder.yaml", file)
    shutdown_log = tmp_path / "shutdown.log"
    monkeypatch.setenv("PC_TEST_SHUTDOWN_LOG", str(shutdown_log))
    up = shipyard("up", "-d", str(file), "--json", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    execution = json.loads(up.stdout)["id"]
    down = shipyard("down", execution, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    lines = shutdown_log.read_text().splitlines() if shutdown_log.exists() else []
    assert len(lines) == 4, f"every stop command should have run once: {lines}"
    assert lines[0] == "B: exit" and lines[-1] == "A: exit", lines
    assert sorted(lines[1:3]) == ["C: exit", "D: exit"], lines


def test_a_broken_file_is_reported_at_its_own_line(shipyard: Shipyard, tmp_path: Path) -> None:
    broken = tmp_path / "process-compose.yaml"
    broken.write_text(
        "version: '0.5'\n"
        "processes:\n"
        "  web:\n"
        "    command: 'sleep 5'\n"
        "    depends_on:\n"
        "      db:\n"
        "        condition: process_ready\n"
        "  db:\n"
        "    command: 'sleep 5'\n"
        "    availability:\n"
        "      restart: sometimes\n"
    )
    # validate reports them as a spec's problems (exit 1); import refuses the file (exit 2)
    for command, code in (("validate", 1), ("import", 2)):
        done = shipyard(command, str(broken))
        said = done.stdout + done.stderr
        assert done.returncode == code, said
        assert f"{broken}:6:7:" in said and "process_ready" in said, said
        assert f"{broken}:11:7:" in said and "sometimes" in said, said
        assert "Traceback" not in said


def test_other_formats_are_named_not_reported_as_unknown_keys(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    toml = tmp_path / "agent.toml"
    toml.write_text('[agent]\nname = "Ghidra"\n')
    # (Jarvis-CD pipelines are imported now: tests/acceptance/test_import_jarvis.py)
    for file, words in ((toml, "ATOLL"),):
        done = shipyard("validate", str(file), "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        problems = json.loads(done.stdout)["problems"]
        assert len(problems) == 1, problems
        assert f"this is a{'n' if words == 'ATOLL' else ''} {words}" in problems[0]["message"]
        assert problems[0]["line"] == (1 if words == "ATOLL" else 2), problems


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_stack_with_a_probe_runs_end_to_end(shipyard: Shipyard, tmp_path: Path) -> None:
    """A migrate step, a web service with an http readiness probe waiting for it, a smoke step
    waiting for the web service healthy: the mapped http check, depends_on and needs at work."""
    port = _free_port()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "health").write_text("ok\n")
    file = tmp_path / "process-compose.yaml"
    file.write_text(
        "version: '0.5'\n"
        "vars: {PY: python3}\n"
        "environment: ['GREETING=hello']\n"
        "processes:\n"
        "  migrate:\n"
        "    command: 'echo $GREETING > site/migrated'\n"
        "  web:\n"
        f"    command: '{{{{.PY}}}} -m http.server {port} --bind 127.0.0.1 --directory site'\n"
        "    depends_on: {migrate: {condition: process_completed_successfully}}\n"
        "    readiness_probe:\n"
        f"      http_get: {{host: 127.0.0.1, path: /health, port: {port}}}\n"
        "      period_seconds: 1\n"
        "    availability: {restart: on_failure}\n"
        "  smoke:\n"
        f"    command: '{{{{.PY}}}} -c \"import urllib.request as r; "
        f'print(r.urlopen(\\"http://127.0.0.1:{port}/migrated\\").read().decode())"\'\n'
        "    depends_on: {web: {condition: process_healthy}}\n"
    )
    ran = shipyard("run", str(file), "--json", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(ran.stdout)
    assert status["state"] == "succeeded", status
    units = {u["name"]: u for u in status["units"]}
    assert units["migrate"]["ended_at"] <= units["web"]["started_at"], units
    assert units["web"]["started_at"] <= units["smoke"]["started_at"], units
    logs = shipyard("logs", status["id"], "smoke")
    assert "hello" in logs.stdout, logs.stdout + logs.stderr


def test_exit_130_listed_is_a_success(shipyard: Shipyard, tmp_path: Path) -> None:
    """success_exit_codes maps onto Shipyard's: 'allowed' exits 130, listed, and succeeds at
    its first attempt (restart on_failure does not run it again); 'control' exits 130 unlisted
    and fails after its one retry, as upstream's test expects."""
    file = tmp_path / "codes.yaml"
    shutil.copy(FIXTURES / "process-compose-success-exit-codes.yaml", file)
    imported = json.loads(shipyard("import", str(file), "--json").stdout)
    assert "success_exit_codes:" in imported["spec"], imported["spec"]
    ran = shipyard("run", str(file), "--json", timeout=120)
    units = {u["name"]: u for u in json.loads(ran.stdout)["units"]}
    allowed, control = units["allowed"], units["control"]
    assert allowed["state"] == "succeeded", allowed
    assert allowed["exit_code"] == 130 and allowed["attempts"] == 1, allowed
    assert control["state"] == "failed" and control["attempts"] == 2, control
    assert ran.returncode != 0, ran.stdout + ran.stderr  # because of control alone


def test_a_dependant_waits_for_a_log_line_that_never_comes(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    """ready_log_line is the service's readiness now, and process_log_ready waits for it: the
    failer exits 1 before writing its line, so oblivious never starts (as upstream, where it
    is never ready); the failer is failed with its exit code."""
    file = tmp_path / "logline.yml"
    shutil.copy(FIXTURES / "process-compose-dependent-on-failing-log-line.yml", file)
    imported = json.loads(shipyard("import", str(file), "--json").stdout)
    named = {w["key"] for w in imported["warnings"]}
    assert not {"processes.failer.ready_log_line", "processes.oblivious.depends_on.failer"} & named
    assert 'log_line: "ready to accept connections"' in imported["spec"], imported["spec"]
    ran = shipyard("run", str(file), "--json", timeout=120)
    assert ran.returncode != 0, ran.stdout + ran.stderr
    units = {u["name"]: u for u in json.loads(ran.stdout)["units"]}
    assert units["failer"]["state"] == "failed" and units["failer"]["exit_code"] == 1, units
    assert units["oblivious"]["state"] in ("skipped", "cancelled"), units["oblivious"]
    assert units["oblivious"]["started_at"] is None, units["oblivious"]


def test_import_output_rules(shipyard: Shipyard, tmp_path: Path) -> None:
    """-o refuses an existing file unless --force; a relative working_dir is re-based so the
    spec written elsewhere names the same folder; a Shipyard spec has nothing to import."""
    (tmp_path / "src" / "work").mkdir(parents=True)
    file = tmp_path / "src" / "process-compose.yaml"
    file.write_text("processes:\n  a:\n    command: pwd\n    working_dir: work\n")
    out = tmp_path / "elsewhere" / "spec.yaml"
    out.parent.mkdir()
    out.write_text("keep me\n")
    refused = shipyard("import", str(file), "-o", str(out))
    assert refused.returncode == 2 and "--force" in refused.stderr, refused.stderr
    assert out.read_text() == "keep me\n"
    done = shipyard("import", str(file), "-o", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert 'workdir: "../src/work"' in out.read_text(), out.read_text()
    ran = shipyard("run", str(out), "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    logs = shipyard("logs", json.loads(ran.stdout)["id"], "a")
    assert logs.stdout.strip().endswith(str(tmp_path / "src" / "work")), logs.stdout
    again = shipyard("import", str(out))
    assert again.returncode == 2 and "Shipyard spec already" in again.stderr, again.stderr
    forced = shipyard("import", str(file), "--format", "jarvis")
    assert forced.returncode == 2 and "Jarvis-CD" in forced.stderr, forced.stderr
    wrong = shipyard("import", str(file), "--format", "compose")
    assert wrong.returncode == 2 and "process-compose" in wrong.stderr, wrong.stderr


def test_format_forces_the_reading(shipyard: Shipyard, tmp_path: Path) -> None:
    """--format process-compose runs a file as process-compose; --format shipyard reads the
    same file as a Shipyard spec, with no detection (its keys are then unknown)."""
    file = tmp_path / "chain.yaml"
    shutil.copy(FIXTURES / "process-compose-chain-rhombus.yaml", file)
    ran = shipyard("run", "--format", "process-compose", str(file), "--json", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["state"] == "succeeded", ran.stdout
    as_spec = shipyard("validate", "--format", "shipyard", str(file), "--json")
    assert as_spec.returncode == 1, as_spec.stdout + as_spec.stderr
    messages = [p["message"] for p in json.loads(as_spec.stdout)["problems"]]
    assert "unknown key 'processes' in the spec" in messages, messages
    assert "process-compose file" not in as_spec.stderr, as_spec.stderr
