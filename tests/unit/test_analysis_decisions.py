"""The pure decisions of issue 12 §4: percentiles, when a running unit is alerted on, the
critical path and bottlenecks of measured durations, CPU efficiency, and which recommendations
the measured figures support (each quoting its figure)."""

from __future__ import annotations

import pytest

from shipyard.alerts import (
    DURATION,
    MEMORY,
    DurationLimit,
    UnitLook,
    due_alerts,
    duration_limit,
    percentile,
)
from shipyard.findings import (
    RunFacts,
    StepFacts,
    bottlenecks,
    cpu_efficiency,
    path_of,
    recommendations,
)

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([3.0], 95, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order does not matter
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 95, 4.8),
        ([10.0] * 19 + [100.0], 95, 14.5),  # one outlier in twenty moves p95 a little
        ([10.0] * 19 + [100.0], 99, 82.9),
    ],
)
def test_percentile_interpolates_between_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    found = percentile(values, q)
    assert found == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("q", [-1.0, 100.5, float("nan")])
def test_percentile_outside_0_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="not within 0-100"):
        percentile([1.0], q)


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ([], None),
        ([1.0, 2.0], None),  # too few runs for a p95
        ([1.0, 2.0, 3.0], DurationLimit(2.9, 3)),
        ([2.0, 2.0, 2.0, 2.0], DurationLimit(2.0, 4)),
    ],
)
def test_a_duration_limit_needs_three_earlier_runs(
    durations: list[float], expected: DurationLimit | None
) -> None:
    found = duration_limit(durations)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.p95, found.runs) == (pytest.approx(expected.p95), expected.runs)


LIMIT = DurationLimit(p95=2.0, runs=5)
BOTH = UnitLook(2 * MIB, 3.0, memory_limit=MIB, duration=LIMIT)  # over both limits


@pytest.mark.parametrize(
    ("look", "raised", "kinds"),
    [
        # memory: over the reservation, at it, without a reservation, before a sample
        (UnitLook(300 * MIB, 0.5, memory_limit=256 * MIB), frozenset(), [MEMORY]),
        (UnitLook(256 * MIB, 0.5, memory_limit=256 * MIB), frozenset(), []),
        (UnitLook(900 * MIB, 0.5), frozenset(), []),
        (UnitLook(None, 0.5, memory_limit=1), frozenset(), []),
        # duration: past the p95 by more than half a second, by less, without history
        (UnitLook(None, 2.51, duration=LIMIT), frozenset(), [DURATION]),
        (UnitLook(None, 2.5, duration=LIMIT), frozenset(), []),
        (UnitLook(None, 2.1, duration=LIMIT), frozenset(), []),
        (UnitLook(None, 99.0), frozenset(), []),
        # both at once; once per kind
        (BOTH, frozenset(), [MEMORY, DURATION]),
        (BOTH, frozenset({MEMORY}), [DURATION]),
        (BOTH, frozenset({MEMORY, DURATION}), []),
    ],
)  # fmt: skip
def test_due_alerts(look: UnitLook, raised: frozenset[str], kinds: list[str]) -> None:
    assert [kind for kind, _ in due_alerts(look, raised)] == kinds


def test_an_alert_says_what_was_measured_against_what() -> None:
    look = UnitLook(300 * MIB, 12.5, memory_limit=256 * MIB, duration=DurationLimit(4.25, 6))
    messages = dict(due_alerts(look))
    assert messages[MEMORY] == "RSS 300.0MiB passed its memory limit 256.0MiB (resources.memory)"
    assert messages[DURATION] == (
        "running for 12.5s, longer than the p95 (4.2s) of its 6 earlier successful runs"
    )


DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


@pytest.mark.parametrize(
    ("needs", "durations", "path", "seconds"),
    [
        (DIAMOND, {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0}, ["a", "b", "d"], 7.0),
        (DIAMOND, {"a": 1.0, "b": 2.0, "c": 5.0, "d": 1.0}, ["a", "c", "d"], 7.0),
        # a step not measured (skipped) counts 0 s; one not in the plan is alone
        (DIAMOND, {"a": 1.0, "b": None, "c": 0.5, "d": None}, ["a", "c"], 1.5),
        ({"x": [], "y": []}, {"x": 1.0, "y": 3.0}, ["y"], 3.0),
        ({}, {}, [], 0.0),
    ],
)
def test_critical_path_of_measured_durations(
    needs: dict[str, list[str]],
    durations: dict[str, float | None],
    path: list[str],
    seconds: float,
) -> None:
    assert path_of(needs, durations) == (path, pytest.approx(seconds))


@pytest.mark.parametrize(
    ("path", "durations", "expected"),
    [
        (["a", "b", "d"], {"a": 1.0, "b": 8.0, "d": 1.0}, ["b"]),
        (["a", "b"], {"a": 4.0, "b": 6.0}, ["b", "a"]),
        (["a", "b", "c", "d", "e", "f"], dict.fromkeys("abcdef", 1.0), []),  # 1/6 < 20 %
        (["a"], {"a": 0.0}, []),
        ([], {}, []),
    ],
)
def test_bottlenecks_take_a_fifth_of_the_path_or_more(
    path: list[str], durations: dict[str, float | None], expected: list[str]
) -> None:
    assert bottlenecks(path, durations) == expected


@pytest.mark.parametrize(
    ("cpu", "wall", "cores", "expected"),
    [
        (4.0, 2.0, 2, 1.0),
        (1.0, 2.0, 4, 0.125),
        (None, 2.0, 2, None),
        (1.0, None, 2, None),
        (1.0, 0.0, 2, None),
    ],
)
def test_cpu_efficiency(
    cpu: float | None, wall: float | None, cores: int, expected: float | None
) -> None:
    assert cpu_efficiency(cpu, wall, cores) == expected


def run_facts(**changes: object) -> RunFacts:
    facts: dict[str, object] = {
        "execution_id": "exec_x",
        "path": ["a", "b"],
        "path_seconds": 10.0,
        "cpu_seconds": 10.0,
        "wall_seconds": 10.0,
        "cores": 2,
        "baseline_id": "exec_w",
    }
    return RunFacts(**{**facts, **changes})  # type: ignore[arg-type]


def step(name: str = "b", **changes: object) -> StepFacts:
    facts: dict[str, object] = {"name": name, "state": "succeeded", "duration_seconds": 4.0}
    return StepFacts(**{**facts, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("run", "steps", "evidence"),
    [
        # nothing measured beyond durations under every threshold: no advice at all
        (run_facts(), [step("a"), step("b")], []),
        (run_facts(), [step("b", duration_seconds=8.0)], ["8.0s of the 10.0s critical path (80%)"]),
        (run_facts(path=["b"]), [step("b", duration_seconds=10.0)], []),  # a one-step path
        (run_facts(), [step(baseline_seconds=2.0)], ["4.0s against 2.0s (+2.0s, +100%)"]),
        (run_facts(), [step(baseline_seconds=3.8)], []),  # +0.2 s: noise
        (run_facts(), [step(duration_seconds=0.9, baseline_seconds=0.5)], []),  # +0.4 s
        (run_facts(), [step(rss_peak_bytes=300 * 1024**2, memory_reserved=256 * 1024**2)],
         ["peak RSS 300.0MiB against 256.0MiB reserved"]),
        (run_facts(), [step(rss_peak_bytes=200 * 1024**2, memory_reserved=256 * 1024**2)], []),
        (run_facts(), [step(rss_peak_bytes=200 * 1024**2)], []),
        (run_facts(), [step(cpu_percent_peak=98.0, cpus_reserved=4.0)],
         ["peak CPU 98% (1.0 cores) against 4 reserved"]),
        (run_facts(), [step(cpu_percent_peak=390.0, cpus_reserved=4.0)], []),
        (run_facts(), [step(cpus_reserved=4.0)], []),  # no CPU sample: nothing to say
        (run_facts(), [step(attempts=2, failed_attempts=["exited with code 3"])],
         ["attempt 1: exited with code 3"]),
        (run_facts(), [step(state="failed", attempts=1, failed_attempts=["exited with code 1"])],
         ["attempt 1: exited with code 1"]),
        (run_facts(cpu_seconds=2.0, wall_seconds=10.0, cores=4), [],
         ["2.00 CPU s over 10.00 s × 4 cores"]),
        (run_facts(cpu_seconds=2.0, wall_seconds=10.0, cores=1), [], []),  # one core: n/a
        (run_facts(cpu_seconds=2.0, wall_seconds=0.5, cores=4), [], []),  # too short
        (run_facts(cpu_seconds=None, cores=4), [], []),
    ],
)  # fmt: skip
def test_each_recommendation_rests_on_a_measured_figure(
    run: RunFacts, steps: list[StepFacts], evidence: list[str]
) -> None:
    found = recommendations(run, steps)
    assert [item.evidence for item in found] == evidence


def test_a_regression_names_the_baseline() -> None:
    (found,) = recommendations(run_facts(), [step(baseline_seconds=1.0)])
    assert "exec_w" in found.message and "'b'" in found.message
