"""The pure parts of ``shipyard metrics`` (issue 15 §3): percentiles, the modified z-score
with its MAD-0 fallback, the anomaly list and throughput — tables of cases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.pipelinemetrics import (
    MIN_SAMPLES,
    THRESHOLD,
    anomalies,
    duration_stats,
    percentile,
    robust_z,
    throughput_per_day,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order does not matter
        ([1.0, 2.0, 3.0, 4.0, 5.0], 95, 4.8),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 99, 4.96),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([float(x) for x in range(1, 101)], 99, 99.01),
    ],
)
def test_percentiles_interpolate_between_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    found = percentile(values, q)
    if expected is None:
        assert found is None
    else:
        assert found == pytest.approx(expected), (values, q)


def test_duration_stats_count_and_percentiles() -> None:
    stats = duration_stats([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (stats.count, stats.p50, stats.p95, stats.p99) == (5, 3.0, 4.8, 4.96)
    assert duration_stats([]).count == 0 and duration_stats([]).p50 is None


@pytest.mark.parametrize(
    ("value", "values", "median", "mad", "z", "scale"),
    [
        # the textbook case: median 3, deviations 2,1,0,1,2 → MAD 1
        (5.0, [1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 1.0, 0.6745 * 2, "MAD"),
        (1.0, [1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 1.0, -0.6745 * 2, "MAD"),
        (3.0, [1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 1.0, 0.0, "MAD"),
        # one slow run among six steady ones: MAD barely moves, z is large
        (10.0, [1.0, 1.1, 0.9, 1.0, 1.2, 0.8, 10.0], 1.0, 0.1, 0.6745 * 9 / 0.1, "MAD"),
        # more than half equal: MAD 0 → mean absolute deviation (|dev| 0,0,0,0,4 → 0.8)
        (5.0, [1.0, 1.0, 1.0, 1.0, 5.0], 1.0, 0.0, 4 / (1.253314 * 0.8), "meanAD"),
        (1.0, [1.0, 1.0, 1.0, 1.0, 5.0], 1.0, 0.0, 0.0, "meanAD"),
        # every value equal: nothing is far from the usual
        (2.0, [2.0, 2.0, 2.0], 2.0, 0.0, 0.0, "none"),
    ],
)
def test_robust_z(
    value: float, values: list[float], median: float, mad: float, z: float, scale: str
) -> None:
    score = robust_z(value, values)
    assert score.median == pytest.approx(median)
    assert score.mad == pytest.approx(mad)
    assert score.z == pytest.approx(z), (value, values)
    assert score.scale == scale


def test_robust_z_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        robust_z(1.0, [])


def test_robust_z_of_a_value_outside_equal_values_is_infinite() -> None:
    assert robust_z(3.0, [2.0, 2.0]).z == math.inf
    assert robust_z(1.0, [2.0, 2.0]).z == -math.inf


def series(*seconds: float) -> list[tuple[str, datetime, float]]:
    return [(f"exec_{i}", T0 + timedelta(minutes=i), s) for i, s in enumerate(seconds)]


@pytest.mark.parametrize(
    ("seconds", "flagged"),
    [
        # too few to judge: nothing flagged however far
        ((1.0, 1.0, 1.0, 100.0), []),
        # steady: nothing
        ((1.0, 1.1, 0.9, 1.0, 1.05, 0.95), []),
        # one slow run
        ((1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 5.0), ["exec_6"]),
        # one fast run is far from the usual too
        ((10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 0.5), ["exec_6"]),
        # two slow ones, slowest first
        ((1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.02, 4.0, 6.0), ["exec_8", "exec_7"]),
        # MAD 0 (most runs equal), one differs: the mean absolute deviation judges it
        ((2.0, 2.0, 2.0, 2.0, 2.0, 9.0), ["exec_5"]),
        # a small wobble stays under 3.5 (z = 0.6745 * 0.2 / 0.05 = 2.7)
        ((1.0, 1.05, 0.95, 1.0, 1.05, 0.95, 1.2), []),
    ],
)
def test_anomalies(seconds: tuple[float, ...], flagged: list[str]) -> None:
    found = anomalies(series(*seconds))
    assert [a.execution_id for a in found] == flagged
    for anomaly in found:
        assert abs(anomaly.z) > THRESHOLD
        assert anomaly.samples == len(seconds)
        assert anomaly.step is None


def test_an_anomaly_carries_its_figures() -> None:
    (found,) = anomalies(series(1.0, 1.1, 0.9, 1.0, 1.2, 0.8, 10.0), step="train")
    assert found.step == "train"
    assert found.at == T0 + timedelta(minutes=6)
    assert (found.value, found.median, found.mad) == (10.0, 1.0, 0.1)
    assert found.z == pytest.approx(60.705, abs=1e-3)
    assert found.scale == "MAD"


def test_the_threshold_and_minimum_can_be_given() -> None:
    data = series(1.0, 1.05, 0.95, 1.0, 1.05, 0.95, 1.2)
    assert [a.execution_id for a in anomalies(data, threshold=2.0)] == ["exec_6"]
    four = series(1.0, 1.1, 0.9, 20.0)
    assert anomalies(four) == []  # under MIN_SAMPLES
    assert [a.execution_id for a in anomalies(four, minimum=4)] == ["exec_3"]
    assert MIN_SAMPLES == 5


@pytest.mark.parametrize(
    ("runs", "window", "expected"),
    [
        (10, 86_400.0, 10.0),
        (10, 43_200.0, 20.0),
        (3, 7 * 86_400.0, 0.429),
        (0, 86_400.0, 0.0),
        (5, 0.0, None),
        (5, None, None),
        (5, -1.0, None),
    ],
)
def test_throughput_is_runs_per_day_over_the_window(
    runs: int, window: float | None, expected: float | None
) -> None:
    assert throughput_per_day(runs, window) == expected
