"""shipyard monitor, analyze and history through the installed command (issue 12 §4)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard, shipyard_executable

SPEC = """
name: judged
execution: {failure_strategy: continue, sample_interval: 0.1}
steps:
  first: {run: [python3, -c, "pass"]}
  slow:
    run: [python3, -c, "import time; b = b'x' * (120 << 20); time.sleep(0.8)"]
    resources: {memory: 32M}
    needs: [first]
  quick: {run: [python3, -c, "pass"], needs: [first]}
  broken: {run: [sh, -c, "exit 4"], needs: [quick]}
"""


def write(tmp_path: Path, text: str = SPEC, name: str = "judged.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_once(shipyard: Shipyard, tmp_path: Path) -> str:
    done = shipyard("run", "-q", str(write(tmp_path)), "--json")
    assert done.returncode != 0  # 'broken' fails
    return str(json.loads(done.stdout)["id"])


def test_analyze_json_and_html_through_the_cli(shipyard: Shipyard, tmp_path: Path) -> None:
    execution = run_once(shipyard, tmp_path)
    done = shipyard("analyze", execution, "--json", "--cores", "2", "--html", "r/report.html")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["critical_path"] == ["first", "slow"]
    assert report["bottlenecks"][0] == "slow"
    assert report["cores"] == 2 and 0 < report["cpu_efficiency"] < 1
    assert list(report["failures"]) == ["broken"] and "4" in report["failures"]["broken"]
    evidence = [item["evidence"] for item in report["recommendations"]]
    assert any(re.fullmatch(r"peak RSS [\d.]+MiB against 30\.5MiB reserved", e) for e in evidence)
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert report["html_path"] == str(tmp_path / "r" / "report.html")
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert png is not None and base64.b64decode(png.group(1)).startswith(b"\x89PNG")
    shown = shipyard("analyze", execution)
    assert shown.returncode == 0
    assert "critical path: first → slow" in shown.stdout
    assert "measured: peak RSS" in shown.stdout


def test_run_and_status_show_the_alert_the_engine_raised(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    done = shipyard("run", str(write(tmp_path)))
    assert re.search(r"! alert: slow \(attempt 1, memory\): RSS [\d.]+MiB passed", done.stdout)
    execution = json.loads(shipyard("list", "--json").stdout)[0]["id"]
    shown = shipyard("status", execution)
    assert re.search(
        r"alert: slow \(attempt 1, memory\): RSS [\d.]+MiB passed its memory limit 30\.5MiB",
        shown.stdout,
    )
    as_json = json.loads(shipyard("status", execution, "--json").stdout)
    assert [(a["unit"], a["kind"]) for a in as_json["alerts"]] == [("slow", "memory")]


def test_history_json_through_the_cli(shipyard: Shipyard, tmp_path: Path) -> None:
    first = run_once(shipyard, tmp_path)
    ok = write(tmp_path, SPEC.replace('"exit 4"', '"exit 0"'), "ok.yaml")
    good = json.loads(shipyard("run", "-q", str(ok), "--json").stdout)["id"]
    done = shipyard("history", "judged", "--json")
    assert done.returncode == 0, done.stderr
    history = json.loads(done.stdout)
    assert [e["execution_id"] for e in history["executions"]] == [good, first]
    assert history["success_rate"] == 0.5
    assert history["durations"]["count"] == 1
    assert history["steps"]["broken"]["count"] == 1  # it succeeded once, in the good run
    assert history["steps"]["slow"]["count"] == 2  # in the failed run too
    assert "success rate: 50%" in shipyard("history", "judged").stdout


def test_monitor_json_streams_snapshots_until_the_end(shipyard: Shipyard, tmp_path: Path) -> None:
    execution, view, lines = _monitored_until_released(shipyard, tmp_path)
    snapshots = [json.loads(line) for line in lines]
    assert len(snapshots) >= 2
    assert snapshots[-1]["status"]["state"] == "succeeded"
    assert all(s["status"]["state"] in ("pending", "running") for s in snapshots[:-1])
    measured = [unit for s in snapshots for unit in s["units"] if unit["rss_bytes"] is not None]
    assert measured and all(unit["state"] == "running" for unit in measured)
    # an execution already over: one snapshot and done
    again = shipyard("monitor", execution, "--json")
    assert len(again.stdout.splitlines()) == 1
    # the view off a terminal: printed once the execution has ended, with the trend it saw
    assert f"{execution}  succeeded" in view
    (row,) = [line for line in view.splitlines() if "│ spin" in line]
    assert re.search("[▁▂▃▄▅▆▇█]", row), row  # the sparklines of what was sampled while it ran


def _monitored_until_released(shipyard: Shipyard, tmp_path: Path) -> tuple[str, str, list[str]]:
    """(execution id, the off-terminal view, the --json lines) of two monitors of a run whose
    step spins until the test releases it — once the --json monitor has seen it measured a few
    times, so the view (started first) has sampled it too, however slow the machine: a step of
    fixed length could end before a loaded machine's monitor had started."""
    release = tmp_path / "release"
    spin = f"import os\\nwhile not os.path.exists({str(release)!r}): pass"
    spec = write(
        tmp_path,
        f"""
        name: watched
        execution: {{sample_interval: 0.1}}
        steps:
          spin: {{run: [python3, -c, "{spin}"], timeout: 120}}
        """,
        "watched.yaml",
    )
    started = shipyard("run", "--detach", str(spec), "--json")
    assert started.returncode == 0, started.stderr
    execution = json.loads(started.stdout)["id"]
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    command = [shipyard_executable(), "monitor", execution, "--interval", "0.2"]
    lines: list[str] = []
    with (
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as view,
        subprocess.Popen([*command, "--json"], stdout=subprocess.PIPE, text=True, env=env) as seen,
    ):
        try:
            assert seen.stdout is not None
            measured = 0
            # The view prints nothing until the end, so its own samples cannot be watched: on
            # a loaded machine it started (Popen) first but sampled last (seen in CI, load 13).
            # It gets a few seconds of the step measured besides (a wait, nothing timed).
            began = time.monotonic()
            for line in seen.stdout:
                lines.append(line)
                units = json.loads(line)["units"]
                measured += any(unit["rss_bytes"] is not None for unit in units)
                if measured >= 4 and time.monotonic() - began >= 5:
                    break
            assert measured >= 4, f"the monitor saw the spinning step measured {measured} times"
        finally:
            release.touch()
        out, _ = view.communicate(timeout=60)
        rest, _ = seen.communicate(timeout=60)
    assert view.returncode == 0 and seen.returncode == 0
    return execution, out, lines + rest.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("analyze", "exec_nope"), "exec_nope"),
        (("analyze", "--cores", "0"), "cores 0 is not a positive whole number"),
        (("analyze", "--baseline", "exec_nope"), "exec_nope"),
        (("analyze", "--html", ""), "HTML report path is empty"),
        (("history", "no-such-pipeline"), "no-such-pipeline"),
        (("history", "judged", "--limit", "0"), "limit 0"),
        (("monitor", "--interval", "0"), "--interval 0 is outside"),
        (("monitor", "--interval", "nan"), "--interval nan is outside"),
        (("monitor", "exec_nope", "--json"), "exec_nope"),
        (("analyze", "$(touch pwned)"), "$(touch pwned)"),
    ],
)
def test_bad_input_is_one_message_with_a_hint(
    shipyard: Shipyard, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run_once(shipyard, tmp_path)
    done = shipyard(*args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "pwned").exists()
