"""shipyard monitor, analyze and history through the installed command (issue 12 §4)."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

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
    spec = write(
        tmp_path,
        """
        name: watched
        execution: {sample_interval: 0.1}
        steps:
          spin:
            run: [python3, -c, "import time; t = time.time() + 1.5\\nwhile time.time() < t: pass"]
        """,
        "watched.yaml",
    )
    started = shipyard("run", "--detach", str(spec), "--json")
    assert started.returncode == 0, started.stderr
    execution = json.loads(started.stdout)["id"]
    done = shipyard("monitor", execution, "--json", "--interval", "0.2", timeout=60)
    assert done.returncode == 0, done.stderr
    snapshots = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(snapshots) >= 2
    assert snapshots[-1]["status"]["state"] == "succeeded"
    assert all(s["status"]["state"] in ("pending", "running") for s in snapshots[:-1])
    measured = [unit for s in snapshots for unit in s["units"] if unit["rss_bytes"] is not None]
    assert measured and all(unit["state"] == "running" for unit in measured)
    # an execution already over: one snapshot and done
    again = shipyard("monitor", execution, "--json")
    assert len(again.stdout.splitlines()) == 1
    # the view off a terminal: printed once the execution has ended, with the trend it saw
    second = json.loads(shipyard("run", "--detach", str(spec), "--json").stdout)["id"]
    view = shipyard("monitor", second, "--interval", "0.2", timeout=60)
    assert view.returncode == 0, view.stderr
    assert f"{second}  succeeded" in view.stdout
    (row,) = [line for line in view.stdout.splitlines() if "│ spin" in line]
    assert re.search("[▁▂▃▄▅▆▇█]", row)  # the sparklines of what was sampled while it ran


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
