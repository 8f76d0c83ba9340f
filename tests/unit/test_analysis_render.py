"""The monitor's sparklines and the views of issue 12 §4 (pure formatting)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from shipyard.analysis import MonitorSnapshot, UnitSample
from shipyard.cli.analysis_render import SPARK_WIDTH, Trend, monitor_view, sparkline
from shipyard.models import ExecutionState, ExecutionStatus, Progress

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "top", "expected"),
    [
        ([], None, ""),
        ([0.0, 50.0, 100.0], 100.0, "▁▅█"),
        ([0.0, 50.0, 100.0], None, "▁▅█"),
        ([10.0, 20.0], None, "▅█"),  # scaled to the largest value seen
        ([10.0, 20.0], 100.0, "▂▂"),
        ([150.0], 100.0, "█"),  # above the top: full, not an error
        ([-5.0], 100.0, "▁"),
        ([None, 100.0, None], 100.0, " █ "),  # a gap in the samples shows
        ([0.0, 0.0], None, "▁▁"),
    ],
)
def test_sparkline(values: list[float | None], top: float | None, expected: str) -> None:
    assert sparkline(values, top=top) == expected


def snapshot(state: str, cpu: float | None, rss: int | None) -> MonitorSnapshot:
    status = ExecutionStatus(
        id="exec_x",
        name="x",
        state=ExecutionState.RUNNING,
        mode="normal",
        created_at=WHEN,
        progress=Progress(0, 1),
        run_dir="/r",
    )
    return MonitorSnapshot("exec_x", WHEN, status, [UnitSample("a", state, cpu, rss, 1.0)])


def test_the_trend_keeps_the_newest_samples_of_running_units_only() -> None:
    trend = Trend()
    for number in range(SPARK_WIDTH + 5):
        trend.add(snapshot("running", float(number), 1024 * number))
    trend.add(snapshot("succeeded", None, None))  # an ended unit is not sampled: no gap
    assert len(trend.cpu["a"]) == SPARK_WIDTH
    assert trend.cpu["a"][-1] == SPARK_WIDTH + 4
    console = Console(width=120, record=True, color_system=None)
    console.print(monitor_view(snapshot("running", 42.0, 3 * 1024 * 1024), trend))
    text = console.export_text()
    assert "42%" in text and "3.0MiB" in text and "█" in text
