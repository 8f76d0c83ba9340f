"""What the analysis of an execution finds (issue 12 §4). Pure: measured facts in, findings out.

:mod:`shipyard.operations.analysing` reads the records (units, attempts, the plan's graph, the
baseline) and hands them here as :class:`StepFacts`. Every recommendation quotes the measured
figure it rests on in its ``evidence``, and is made only when such a figure exists and passes
the threshold named beside the rule: no figure, no advice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.analysis import Recommendation, StepTiming
from shipyard.dag import critical_path
from shipyard.spec.quantities import format_duration, format_size
from shipyard.wording import counted

#: A step on the critical path is a bottleneck when it takes at least this share of it.
BOTTLENECK_SHARE = 0.2
#: ... and one worth a recommendation of its own at this share.
DOMINANT_SHARE = 0.5
#: A step slower than its baseline by more than both of these is a regression.
REGRESSION_SECONDS = 0.5
REGRESSION_SHARE = 0.2
#: Below this CPU efficiency (with more than one core and a run of at least a second) the run
#: mostly left the cores idle.
LOW_EFFICIENCY = 0.25
#: A step whose CPU peak stays under this share of the cores it reserved reserved too many.
CPU_RESERVATION_USED = 0.5


@dataclass(frozen=True, slots=True)
class StepFacts:
    """What was measured of one step in one execution (None: not measured)."""

    name: str
    state: str
    duration_seconds: float | None
    cpu_seconds: float | None = None
    rss_peak_bytes: int | None = None
    cpu_percent_peak: float | None = None
    attempts: int = 0
    failed_attempts: list[str] = field(default_factory=list)  # their reasons, in order
    memory_reserved: int | None = None
    cpus_reserved: float | None = None
    baseline_seconds: float | None = None


def path_of(
    needs: Mapping[str, Sequence[str]], durations: Mapping[str, float | None]
) -> tuple[list[str], float]:
    """The critical path by measured duration (a step without one counts 0 s) and its length.

    ``needs`` may name steps missing from ``durations`` and the other way round: only steps in
    both take part."""
    weights = {name: durations.get(name) or 0.0 for name in needs if name in durations}
    graph = {name: [dep for dep in needs[name] if dep in weights] for name in weights}
    if not graph:
        return [], 0.0
    return critical_path(graph, weights)


def bottlenecks(path: Sequence[str], durations: Mapping[str, float | None]) -> list[str]:
    """The steps of ``path`` taking at least :data:`BOTTLENECK_SHARE` of it, longest first."""
    total = sum(durations.get(name) or 0.0 for name in path)
    if total <= 0:
        return []
    heavy = [name for name in path if (durations.get(name) or 0.0) >= BOTTLENECK_SHARE * total]
    return sorted(heavy, key=lambda name: -(durations.get(name) or 0.0))


def cpu_efficiency(
    cpu_seconds: float | None, wall_seconds: float | None, cores: int
) -> float | None:
    """CPU seconds / (wall seconds × cores), or None without both figures."""
    if cpu_seconds is None or not wall_seconds or wall_seconds <= 0 or cores < 1:
        return None
    return round(cpu_seconds / (wall_seconds * cores), 4)


def timings(facts: Sequence[StepFacts], path: Sequence[str]) -> list[StepTiming]:
    on_path = set(path)
    return [
        StepTiming(
            unit=step.name,
            duration_seconds=step.duration_seconds,
            cpu_seconds=step.cpu_seconds,
            rss_peak_bytes=step.rss_peak_bytes,
            attempts=step.attempts,
            on_critical_path=step.name in on_path,
            baseline_seconds=step.baseline_seconds,
            delta_seconds=_delta(step),
        )
        for step in facts
    ]


def _delta(step: StepFacts) -> float | None:
    if step.duration_seconds is None or step.baseline_seconds is None:
        return None
    return round(step.duration_seconds - step.baseline_seconds, 6)


@dataclass(frozen=True, slots=True)
class RunFacts:
    """The execution-wide figures the recommendations look at."""

    execution_id: str
    path: list[str]
    path_seconds: float
    cpu_seconds: float | None
    wall_seconds: float | None
    cores: int
    baseline_id: str | None = None


def recommendations(run: RunFacts, facts: Sequence[StepFacts]) -> list[Recommendation]:
    """Every recommendation the measured figures support, most telling first."""
    found: list[Recommendation] = []
    found += _failures(run, facts)
    found += _dominant(run, facts)
    found += _regressions(run, facts)
    found += _memory(facts)
    found += _cpu_reservations(facts)
    found += _retried(facts)
    found += _efficiency(run)
    return found


def _failures(run: RunFacts, facts: Sequence[StepFacts]) -> list[Recommendation]:
    return [
        Recommendation(
            f"'{step.name}' failed: read its log (shipyard logs {run.execution_id} {step.name})",
            f"attempt {step.attempts}: {step.failed_attempts[-1]}",
        )
        for step in facts
        if step.state == "failed" and step.failed_attempts
    ]


def _dominant(run: RunFacts, facts: Sequence[StepFacts]) -> list[Recommendation]:
    if run.path_seconds <= 0:
        return []
    found = []
    for step in facts:
        seconds = step.duration_seconds or 0.0
        share = seconds / run.path_seconds
        if step.name in run.path and share >= DOMINANT_SHARE and len(run.path) > 1:
            found.append(
                Recommendation(
                    f"'{step.name}' sets the pace: speeding it up (or splitting it into steps "
                    "that run in parallel) shortens the run; the other steps do not",
                    f"{format_duration(seconds)} of the {format_duration(run.path_seconds)} "
                    f"critical path ({share:.0%})",
                )
            )
    return found


def _regressions(run: RunFacts, facts: Sequence[StepFacts]) -> list[Recommendation]:
    found = []
    for step in facts:
        now, before = step.duration_seconds, step.baseline_seconds
        if now is None or before is None:
            continue
        delta = now - before
        if delta > REGRESSION_SECONDS and delta > REGRESSION_SHARE * before:
            found.append(
                Recommendation(
                    f"'{step.name}' got slower than in {run.baseline_id}: look at what changed "
                    "for it (inputs, parameters, the machine's load)",
                    f"{format_duration(now)} against {format_duration(before)} "
                    f"(+{format_duration(delta)}, +{delta / before:.0%})"
                    if before > 0
                    else f"{format_duration(now)} against {format_duration(before)}",
                )
            )
    return found


def _memory(facts: Sequence[StepFacts]) -> list[Recommendation]:
    return [
        Recommendation(
            f"raise resources.memory of '{step.name}': it used more than it reserved, so the "
            "scheduler let other steps take memory it was using",
            f"peak RSS {format_size(step.rss_peak_bytes)} against "
            f"{format_size(step.memory_reserved)} reserved",
        )
        for step in facts
        if step.rss_peak_bytes is not None
        and step.memory_reserved is not None
        and step.rss_peak_bytes > step.memory_reserved
    ]


def _cpu_reservations(facts: Sequence[StepFacts]) -> list[Recommendation]:
    found = []
    for step in facts:
        peak, reserved = step.cpu_percent_peak, step.cpus_reserved
        if peak is None or reserved is None or reserved <= 1:
            continue
        if peak < CPU_RESERVATION_USED * reserved * 100:
            found.append(
                Recommendation(
                    f"reserve fewer cores for '{step.name}' (resources.cpus): the cores it "
                    "held idle could run other steps",
                    f"peak CPU {peak:.0f}% ({peak / 100:.1f} cores) against {reserved:g} reserved",
                )
            )
    return found


def _retried(facts: Sequence[StepFacts]) -> list[Recommendation]:
    return [
        Recommendation(
            f"'{step.name}' succeeded only after {step.attempts} attempts: find why the earlier "
            "ones failed before it fails for good",
            "; ".join(
                f"attempt {number}: {reason}"
                for number, reason in enumerate(step.failed_attempts, start=1)
            ),
        )
        for step in facts
        if step.state == "succeeded" and step.failed_attempts
    ]


def _efficiency(run: RunFacts) -> list[Recommendation]:
    efficiency = cpu_efficiency(run.cpu_seconds, run.wall_seconds, run.cores)
    if efficiency is None or run.cores < 2 or (run.wall_seconds or 0.0) < 1.0:
        return []
    if efficiency >= LOW_EFFICIENCY:
        return []
    cores = counted(run.cores, "core")
    return [
        Recommendation(
            f"the run kept {efficiency:.0%} of {cores} busy: its steps mostly waited "
            "(I/O, sleeps, services) or ran one at a time; independent steps run at once up "
            "to execution.max_parallel",
            f"{run.cpu_seconds:.2f} CPU s over {run.wall_seconds:.2f} s × {cores}",
        )
    ]
