"""How shipyard sweep reads -m/--zip and shows a sweep: table tests of the pure parts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.cli import sweepview
from shipyard.errors import ShipyardError
from shipyard.sweep import SweepPoint, SweepReport, SweepSettings


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (["a=1,2,3"], {"a": ["1", "2", "3"]}),
        (["a=1", "b= x , y"], {"a": ["1"], "b": ["x", "y"]}),
        (["a=x=y,z"], {"a": ["x=y", "z"]}),
        ([], {}),
    ],
)
def test_parse_matrix(pairs: list[str], expected: dict) -> None:
    assert sweepview.parse_matrix(pairs) == expected


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["a"], "'-m a' is not a sweep parameter"),
        (["=1"], "is not a sweep parameter"),
        (["a=1,,2"], "has an empty value"),
        (["a="], "has an empty value"),
        (["a=1", "a=2"], "'a' is given twice"),
    ],
)
def test_parse_matrix_refuses(pairs: list[str], message: str) -> None:
    with pytest.raises(ShipyardError, match=message):
        sweepview.parse_matrix(pairs)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [(["a,b"], [["a", "b"]]), (["a, b,c", "d,e"], [["a", "b", "c"], ["d", "e"]])],
)
def test_parse_zip(groups: list[str], expected: list) -> None:
    assert sweepview.parse_zip(groups) == expected


@pytest.mark.parametrize("group", ["a", "a,", ",b"])
def test_parse_zip_refuses(group: str) -> None:
    with pytest.raises(ShipyardError, match="does not name two parameters"):
        sweepview.parse_zip([group])


def _report(states: list[str], objective: str | None = "bw:max") -> SweepReport:
    points = [
        SweepPoint(
            parameters={"n": i, "fast": i % 2 == 0},
            repeat=1,
            point_hash=f"h{i}",
            state=state,
            execution_id=f"exec_{i}" if state != "pending" else None,
            duration_seconds=1.5 if state in ("succeeded", "failed") else None,
            metrics={"bw": 10.0 * i} if state == "succeeded" else {},
            reason='step: exited with code 1, "quoted"' if state == "failed" else None,
        )
        for i, state in enumerate(states, start=1)
    ]
    best = points[0] if objective and states[0] == "succeeded" else None
    return SweepReport(
        id="sweep_x",
        name="x",
        state="running",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        settings=SweepSettings(matrix={"n": [1, 2, 3], "fast": [True, False]}, objective=objective),
        points=points,
        best=best,
        best_value=10.0 if best else None,
    )


@pytest.mark.parametrize(
    ("states", "line"),
    [
        (["pending"] * 3, "sweep sweep_x: 0/3 done, 0 running, 3 pending"),
        (["succeeded", "running", "pending"], "sweep sweep_x: 1/3 done, 1 running, 1 pending"),
        (
            ["failed", "succeeded", "skipped"],
            "sweep sweep_x: 3/3 done (1 failed), 0 running, 0 pending",
        ),
    ],
)
def test_progress_line(states: list[str], line: str) -> None:
    assert sweepview.progress_line(_report(states)) == line


def test_csv_text() -> None:
    text = sweepview.csv_text(_report(["succeeded", "failed", "pending"]))
    assert text.splitlines() == [
        "point,repeat,n,fast,state,duration_s,bw,execution_id,reason",
        "1,1,1,false,succeeded,1.5,10,exec_1,",
        '2,1,2,true,failed,1.5,,exec_2,"step: exited with code 1, ""quoted"""',
        "3,1,3,false,pending,,,,",
    ]


@pytest.mark.parametrize(
    ("states", "objective", "line"),
    [
        (["succeeded"], "bw:max", "best for bw:max: n=1 fast=false, bw 10, exec_1"),
        (["failed"], "bw:max", "best for bw:max: none (no succeeded point reported it)"),
        (["succeeded"], None, None),
    ],
)
def test_best_line(states: list[str], objective: str | None, line: str | None) -> None:
    assert sweepview.best_line(_report(states, objective)) == line


@pytest.mark.parametrize(
    ("objective", "metrics", "left"),
    [
        ("bw:max", ["bw"], 2),
        (None, ["bw", "iops", "lat"], 0),
        ("nothing:min", ["bw", "iops", "lat"], 0),  # not reported: every metric shown
    ],
)
def test_shown_stats(objective: str | None, metrics: list[str], left: int) -> None:
    import dataclasses

    from shipyard.sweep import ParameterStats

    report = _report(["succeeded"], objective)
    stats = [ParameterStats("n", 1, m, 1, 1.0, 0.0, 1.0, 1.0) for m in ("bw", "iops", "lat")]
    shown, hidden = sweepview.shown_stats(dataclasses.replace(report, stats=stats))
    assert ([s.metric for s in shown], hidden) == (metrics, left)
