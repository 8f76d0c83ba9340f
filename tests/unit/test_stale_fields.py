"""The decisions behind fields a user reads (issue 11 §6–11): the log header of a resumed step's
attempt, which earlier runs an estimate rests on, and where an overdue estimate ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.engine.retries import attempt_header
from shipyard.estimate import PastRun, expected_end, runs_to_estimate_from
from shipyard.models import UnitState, UnitStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "earlier", "count", "header"),
    [
        # A fresh run: the attempt of the tries its retries allow.
        (2, 0, 2, "attempt 2 of 3"),
        (3, 0, 2, "attempt 3 of 3"),
        # A resumed run gets its own retries: "attempt 2 of 1" told nothing.
        (2, 1, 0, "attempt 2 (try 1 of 1 in this run, resumed)"),
        (5, 3, 2, "attempt 5 (try 2 of 3 in this run, resumed)"),
    ],
)
def test_the_header_of_an_attempt(attempt: int, earlier: int, count: int, header: str) -> None:
    assert attempt_header(attempt, earlier, count) == header


def run(run_id: str, **parameters: object) -> PastRun:
    return PastRun(run_id, parameters)


@pytest.mark.parametrize(
    ("runs", "parameters", "chosen", "basis_has"),
    [
        # Runs with the same parameters are preferred, however old.
        (
            [run("r3", secs=6), run("r2", secs=30), run("r1", secs=6)],
            {"secs": 30},
            ["r2"],
            "with the same parameters: r2",
        ),
        # None with them: the latest runs, and the basis says none had them.
        ([run("r2", secs=6), run("r1", secs=6)], {"secs": 30}, ["r2", "r1"], "none had secs=30"),
        # A bool as the spec and -p spell it, not as Python does.
        ([run("r1", fast=False)], {"fast": True}, ["r1"], "none had fast=true)"),
        # No parameters at all: every run has the same (none).
        ([run("r2"), run("r1")], {}, ["r2", "r1"], "with the same parameters: r2, r1"),
        # At most five, the newest.
        (
            [run(f"r{n}", secs=1) for n in range(9, 0, -1)],
            {"secs": 1},
            ["r9", "r8", "r7", "r6", "r5"],
            "r9, r8, r7, r6, r5",
        ),
        # No earlier run: nothing to rest on.
        ([], {"secs": 1}, [], "no earlier successful run"),
    ],
)
def test_the_runs_an_estimate_rests_on(
    runs: list[PastRun], parameters: dict[str, object], chosen: list[str], basis_has: str
) -> None:
    ids, basis = runs_to_estimate_from(runs, parameters)
    assert ids == chosen
    assert basis_has in basis, basis


def running(name: str, started_ago: float) -> UnitStatus:
    return UnitStatus(name, UnitState.RUNNING, started_at=NOW - timedelta(seconds=started_ago))


@pytest.mark.parametrize(
    ("units", "means", "seconds", "end_in"),
    [
        # Time left: now plus it.
        ([running("a", 1)], {"a": 3.0}, 2.0, 2.0),
        # Overdue by 7 s (started 10 s ago, usually 3 s): the end stays 7 s ago, not now.
        ([running("a", 10)], {"a": 3.0}, 0.0, -7.0),
        # Two overdue: the one expected last sets the end.
        ([running("a", 10), running("b", 5)], {"a": 3.0, "b": 4.0}, 0.0, -1.0),
        # Nothing running (nothing left): now.
        ([UnitStatus("a", UnitState.SUCCEEDED)], {"a": 3.0}, 0.0, 0.0),
    ],
)
def test_where_an_estimate_ends(
    units: list[UnitStatus], means: dict[str, float], seconds: float, end_in: float
) -> None:
    end = expected_end(units, means, seconds, now=NOW)
    assert (end - NOW).total_seconds() == pytest.approx(end_in)
