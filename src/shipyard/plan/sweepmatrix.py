"""The decisions of a parameter sweep, without I/O (issue 12 §2): the matrix checked against the
spec's parameters and expanded into points, each point's hash, when to stop starting points,
the statistics per parameter value and the best point for an objective.

The matrix expands as Jarvis-CD's ``loop`` does: parameters named in one zip group move
together (their lists must be of one length), and the groups — each parameter not named in any
group being a group of its own — are crossed (Cartesian product), the last varying fastest.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shipyard.errors import ShipyardError
from shipyard.spec.params import A_TYPE, coerce, render_value
from shipyard.sweep import ParameterStats, Scalar, SweepPoint

#: More points than this is a typo (a matrix of 10 parameters × 10 values), not a sweep.
MAX_POINTS = 10_000


class Declared(Protocol):
    """What the sweep needs of a spec parameter (``spec.models.ParameterSpec``)."""

    @property
    def type(self) -> str: ...

    @property
    def choices(self) -> list[Scalar] | None: ...


@dataclass(frozen=True, slots=True)
class PlannedPoint:
    """One execution to run: the parameters it runs with (swept and fixed), which repeat."""

    parameters: dict[str, Scalar]
    swept: dict[str, Scalar]
    repeat: int
    point_hash: str
    position: int


def check_matrix(
    matrix: Mapping[str, Sequence[object]], declared: Mapping[str, Declared]
) -> dict[str, list[Scalar]]:
    """Every swept value coerced to its parameter's type; an error names the parameter, the
    value and what is allowed."""
    if not matrix:
        raise ShipyardError(
            "the sweep has no parameters to vary",
            hint="give one with -m name=v1,v2 or a sweep: block with a matrix",
        )
    checked: dict[str, list[Scalar]] = {}
    for name, values in matrix.items():
        if name not in declared:
            raise _unknown(name, declared)
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ShipyardError(
                f"sweep parameter '{name}' has no values",
                hint=f"give a list: -m {name}=v1,v2 (or {name}: [v1, v2] in the sweep block)",
            )
        checked[name] = [_checked_value(name, value, declared[name]) for value in values]
        _no_repeats(name, checked[name])
    return checked


def check_fixed(
    fixed: Mapping[str, object], declared: Mapping[str, Declared], swept: Sequence[str]
) -> dict[str, Scalar]:
    """The parameters held fixed over the sweep (``-p``), coerced; one both fixed and swept
    is refused (which value would win is not obvious)."""
    result: dict[str, Scalar] = {}
    for name, value in fixed.items():
        if name not in declared:
            raise _unknown(name, declared)
        if name in swept:
            raise ShipyardError(
                f"parameter '{name}' is both swept and fixed",
                hint=f"sweep '{name}' or give it one value, not both",
            )
        result[name] = _checked_value(name, value, declared[name])
    return result


def _unknown(name: str, declared: Mapping[str, Declared]) -> ShipyardError:
    close = difflib.get_close_matches(name, list(declared), n=1)
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif declared:
        hint = f"the spec declares: {', '.join(sorted(declared))}"
    else:
        hint = "the spec declares no parameters: add them under parameters: to sweep them"
    return ShipyardError(f"sweep parameter '{name}' is not a parameter of the spec", hint=hint)


def _checked_value(name: str, value: object, spec: Declared) -> Scalar:
    if isinstance(value, str) and "\0" in value:
        raise ShipyardError(
            f"a value of parameter '{name}' contains a NUL byte (\\0)",
            hint="no command line or environment variable can hold it; leave it out",
        )
    try:
        result = coerce(value, spec.type)
    except (ValueError, KeyError):
        raise ShipyardError(
            f"parameter '{name}' is {A_TYPE.get(spec.type, spec.type)}, and {value!r} is not",
            hint=f"give '{name}' {spec.type} values",
        ) from None
    if spec.choices is not None and result not in spec.choices:
        allowed = ", ".join(render_value(choice) for choice in spec.choices)
        raise ShipyardError(
            f"parameter '{name}' must be one of {allowed}; the sweep gives {render_value(result)}",
            hint=f"sweep only values among its choices: -m {name}=…",
        )
    return result


def _no_repeats(name: str, values: list[Scalar]) -> None:
    seen: set[str] = set()
    for value in values:
        key = _canonical(value)
        if key in seen:
            raise ShipyardError(
                f"sweep parameter '{name}' lists {render_value(value)} twice",
                hint="each value once; --repeat N runs every point N times",
            )
        seen.add(key)


def groups_of(names: Sequence[str], zip_groups: Sequence[Sequence[str]]) -> list[list[str]]:
    """The groups crossed with each other, in the matrix's order: each zip group where its
    first parameter stands, each other parameter on its own."""
    grouped: dict[str, int] = {}
    for index, group in enumerate(zip_groups):
        if not group:
            raise ShipyardError("a zip group is empty", hint="write --zip a,b")
        for name in group:
            if name not in names:
                raise ShipyardError(
                    f"zip group {','.join(group)} names '{name}', which the sweep does not vary",
                    hint=f"the swept parameters are: {', '.join(names)}",
                )
            if name in grouped:
                raise ShipyardError(
                    f"parameter '{name}' is in two zip groups",
                    hint="a parameter zips with one group at most",
                )
            grouped[name] = index
    result: list[list[str]] = []
    placed: set[int] = set()
    for name in names:
        where = grouped.get(name)
        if where is None:
            result.append([name])
        elif where not in placed:
            placed.add(where)
            result.append(list(zip_groups[where]))
    return result


def expand(
    matrix: Mapping[str, Sequence[Scalar]], zip_groups: Sequence[Sequence[str]] = ()
) -> list[dict[str, Scalar]]:
    """Every combination of the matrix (see the module's docstring for the order)."""
    groups = groups_of(list(matrix), zip_groups)
    rows: list[list[dict[str, Scalar]]] = []
    for group in groups:
        lengths = {name: len(matrix[name]) for name in group}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{name} has {count}" for name, count in lengths.items())
            raise ShipyardError(
                f"zipped parameters need as many values each: {shown}",
                hint="give each parameter of a zip group the same number of values",
            )
        count = next(iter(lengths.values()))
        rows.append([{name: matrix[name][i] for name in group} for i in range(count)])
    total = math.prod(len(row) for row in rows)
    if total > MAX_POINTS:
        raise ShipyardError(
            f"the sweep has {total} points, more than {MAX_POINTS}",
            hint="vary fewer parameters at once, or zip some of them together (--zip a,b)",
        )
    return [_merged(combo) for combo in itertools.product(*rows)]


def _merged(parts: Sequence[Mapping[str, Scalar]]) -> dict[str, Scalar]:
    result: dict[str, Scalar] = {}
    for part in parts:
        result.update(part)
    return result


def _canonical(value: Scalar) -> str:
    """A value's typed spelling: 4 and 4.0 and "4" differ, key order does not matter."""
    return json.dumps([type(value).__name__, value])


def point_hash(parameters: Mapping[str, Scalar]) -> str:
    """What a resumed sweep matches on: the same parameters (after coercion) in any order
    give the same hash."""
    text = json.dumps(
        sorted((name, _canonical(value)) for name, value in parameters.items()),
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_points(
    combinations: Sequence[Mapping[str, Scalar]], fixed: Mapping[str, Scalar], repeat: int
) -> list[PlannedPoint]:
    """Each combination with the fixed parameters, ``repeat`` times; repeats of a point next
    to each other."""
    if repeat < 1:
        raise ShipyardError(f"--repeat {repeat} runs nothing", hint="repeat at least once")
    points: list[PlannedPoint] = []
    for combo in combinations:
        parameters = {**fixed, **combo}
        digest = point_hash(parameters)
        for index in range(1, repeat + 1):
            points.append(PlannedPoint(parameters, dict(combo), index, digest, len(points)))
    return points


def past_threshold(failed: int, total: int, threshold: float | None) -> bool:
    """Start no more points: the failed share of all the sweep's points is past the
    threshold (strictly; 0 stops at the first failure)."""
    return threshold is not None and total > 0 and failed / total > threshold


def parameter_stats(points: Sequence[SweepPoint], swept: Sequence[str]) -> list[ParameterStats]:
    """Per swept parameter, per value, per metric: count, mean, sample std (0 for one), min,
    max over the succeeded points holding that value (repeats included)."""
    done = [point for point in points if point.state == "succeeded"]
    metrics = sorted({name for point in done for name in point.metrics})
    result: list[ParameterStats] = []
    for parameter in swept:
        values: list[Scalar] = []
        for point in points:
            value = point.parameters.get(parameter)
            if value is not None and value not in values:
                values.append(value)
        for value in values:
            for metric in metrics:
                figures = [
                    point.metrics[metric]
                    for point in done
                    if point.parameters.get(parameter) == value and metric in point.metrics
                ]
                if figures:
                    result.append(_stats(parameter, value, metric, figures))
    return result


def _stats(parameter: str, value: Scalar, metric: str, figures: list[float]) -> ParameterStats:
    std = statistics.stdev(figures) if len(figures) > 1 else 0.0
    return ParameterStats(
        parameter=parameter,
        value=value,
        metric=metric,
        count=len(figures),
        mean=statistics.fmean(figures),
        std=std,
        min=min(figures),
        max=max(figures),
    )


def parse_objective(text: str) -> tuple[str, str]:
    """``"bw_mib:max"`` → ``("bw_mib", "max")``."""
    metric, sep, direction = text.rpartition(":")
    if not sep or not metric.strip() or direction not in ("max", "min"):
        raise ShipyardError(
            f"objective {text!r} is not METRIC:max or METRIC:min",
            hint="for example --objective bw_mib:max",
        )
    return metric.strip(), direction


def best_point(
    points: Sequence[SweepPoint], objective: str | None
) -> tuple[SweepPoint, float] | None:
    """The point whose mean of the objective's metric over its succeeded repeats is best, as
    its best repeat, and that mean; None when no succeeded point reported the metric."""
    if objective is None:
        return None
    metric, direction = parse_objective(objective)
    by_hash: dict[str, list[SweepPoint]] = {}
    for point in points:
        if point.state == "succeeded" and metric in point.metrics:
            by_hash.setdefault(point.point_hash, []).append(point)
    if not by_hash:
        return None
    sign = 1.0 if direction == "max" else -1.0
    means = {
        key: statistics.fmean(p.metrics[metric] for p in group) for key, group in by_hash.items()
    }
    # Ties go to the point listed first: max() keeps the first of equal keys.
    chosen = max(by_hash, key=lambda key: sign * means[key])
    best = max(by_hash[chosen], key=lambda p: sign * p.metrics[metric])
    return best, means[chosen]
