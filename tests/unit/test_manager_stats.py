"""``shipyard manager --stats FILE``'s summary of its requests' times (bench/suites.py reads
the fetch figures from it): nearest-rank p50/p95 in ms, the count, how many went over HTTP."""

from __future__ import annotations

import pytest

from shipyard.manager.channel import request_stats, wait_stats


@pytest.mark.parametrize(
    ("seconds", "p50", "p95", "largest"),
    [
        ([0.002], 2.0, 2.0, 2.0),
        ([0.001, 0.003], 3.0, 3.0, 3.0),
        ([0.001 * n for n in range(1, 101)], 51.0, 96.0, 100.0),
        ([0.005] * 19 + [0.5], 5.0, 500.0, 500.0),  # the slowest 5 % is the p95 at 20
        ([0.009, 0.001, 0.005], 5.0, 9.0, 9.0),  # unordered in, ordered for the ranks
    ],
)
def test_percentiles_in_milliseconds(
    seconds: list[float], p50: float, p95: float, largest: float
) -> None:
    fetch = request_stats({"fetch": seconds}, {})["requests"]["fetch"]
    assert fetch["count"] == len(seconds)
    assert fetch["p50_ms"] == pytest.approx(p50), fetch
    assert fetch["p95_ms"] == pytest.approx(p95), fetch
    assert fetch["max_ms"] == pytest.approx(largest), fetch


def test_each_type_apart_with_its_http_count() -> None:
    got = request_stats({"report": [0.01], "fetch": [0.002, 0.004]}, {"fetch": 1})["requests"]
    assert list(got) == ["fetch", "report"]
    assert (got["fetch"]["count"], got["fetch"]["over_http"]) == (2, 1)
    assert (got["report"]["count"], got["report"]["over_http"]) == (1, 0)


def test_no_request_no_entry() -> None:
    assert request_stats({}, {}) == {"requests": {}}


def test_the_workers_wait_for_a_task_in_milliseconds() -> None:
    got = wait_stats([0.0002, 0.0001, 0.0004, 0.03])
    assert got == {
        "task_wait": {
            "count": 4,
            "p50_ms": pytest.approx(0.4),
            "p95_ms": pytest.approx(30.0),
            "max_ms": pytest.approx(30.0),
        }
    }


def test_no_task_handed_out_no_wait() -> None:
    assert wait_stats([]) == {}
