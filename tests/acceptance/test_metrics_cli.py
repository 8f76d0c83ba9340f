"""Figures steps report through ``$SHIPYARD_METRICS``, as the installed ``shipyard`` shows
them: ``run``'s summary, ``status`` (table and ``--json``), and what a bad line prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter


def reporting_spec(write_spec: SpecWriter, *lines: str, extra: str = "") -> Path:
    text = "".join(line + "\n" for line in lines)
    code = f"import os; open(os.environ['SHIPYARD_METRICS'], 'a').write({text!r})"
    argv = json.dumps([sys.executable, "-c", code])
    return write_spec(f"name: figures\nsteps:\n  bench: {{run: {argv}}}\n{extra}")


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the table titled 'metrics' in Rich's output."""
    lines = output.splitlines()
    start = lines.index(next(line for line in lines if line.strip() == "metrics"))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_status_shows_the_figures_in_a_table_and_in_json(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = reporting_spec(
        write_spec,
        '{"name": "bw_mib", "value": 812.4871826171875, "unit": "MiB/s"}',
        '{"name": "[bold]markup[/bold]", "value": 3}',
    )
    run = shipyard("run", str(spec))
    assert run.returncode == 0, run.stderr
    assert table_rows(run.stdout) == [
        ["bench", "1", "bw_mib", "812.487", "MiB/s"],
        ["bench", "1", "[bold]markup[/bold]", "3", ""],  # user text is shown as written
    ]
    shown = shipyard("status")
    assert shown.returncode == 0, shown.stderr
    assert table_rows(shown.stdout) == table_rows(run.stdout)
    record = json.loads(shipyard("status", "--json").stdout)
    assert record["metrics"] == [
        {
            "unit": "bench",
            "attempt": 1,
            "name": "bw_mib",
            "value": 812.4871826171875,  # every digit
            "unit_label": "MiB/s",
        },
        {"unit": "bench", "attempt": 1, "name": "[bold]markup[/bold]", "value": 3.0,
         "unit_label": None},
    ]  # fmt: skip


def test_no_figures_no_table(shipyard: Shipyard, write_spec: SpecWriter) -> None:
    spec = write_spec("name: quiet\nsteps:\n  a: {run: [true]}\n")
    assert shipyard("run", "-q", str(spec)).returncode == 0
    shown = shipyard("status")
    assert "metrics" not in shown.stdout.split()
    assert json.loads(shipyard("status", "--json").stdout)["metrics"] == []


def test_a_bad_line_is_one_warning_and_the_run_still_succeeds(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = reporting_spec(
        write_spec, '{"name": "ok", "value": 1}', "bw=812", '{"name": "\\u001b[2J", "value": 1}'
    )
    run = shipyard("run", str(spec))
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stdout.splitlines() if line.startswith("! ")]
    assert len(warnings) == 1
    assert "metrics line 2 passed over: not a JSON object (2 such lines)" in warnings[0]
    assert "\x1b" not in run.stdout  # the escape in the refused name never reaches the terminal
    assert [row[2] for row in table_rows(run.stdout)] == ["ok"]


def test_status_all_lists_every_figure_of_a_big_report(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = reporting_spec(write_spec, *(f'{{"name": "n{i:02d}", "value": {i}}}' for i in range(50)))
    assert shipyard("run", "-q", str(spec)).returncode == 0
    compact = shipyard("status")
    rows = table_rows(compact.stdout)
    assert [row[2] for row in rows] == [f"n{i:02d}" for i in range(10, 50)]  # the latest 40
    assert "10 earlier figures not shown" in compact.stdout
    every = shipyard("status", "--all")
    assert len(table_rows(every.stdout)) == 50
