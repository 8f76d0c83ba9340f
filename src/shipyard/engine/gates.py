"""Quality gates: does a step's last attempt's figure pass each gate on it? Pure, no I/O.

A gate is ``metric op threshold`` (``accuracy >= 0.85``). The figure judged is the last value
the attempt reported under that name (a step that reports ``loss`` each epoch is judged on the
final one); a metric the attempt never reported fails its gate, saying so — a gate that could
pass by the step saying nothing would be no gate.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from shipyard.models import Metric
from shipyard.plan.model import GateSettings

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def figure(value: float) -> str:
    """0.85 as ``0.85``, 200.0 as ``200``: numbers as a person wrote them."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def describe(gate: GateSettings) -> str:
    """``accuracy >= 0.85``."""
    return f"{gate.metric} {gate.op} {figure(gate.threshold)}"


@dataclass(frozen=True, slots=True)
class GateVerdict:
    gate: GateSettings
    value: float | None  # the figure judged; None: never reported
    passed: bool
    message: str


def judge(gate: GateSettings, value: float | None) -> GateVerdict:
    """One gate against the figure the step reported (None: it reported none)."""
    named = describe(gate)
    if value is None:
        return GateVerdict(
            gate,
            None,
            False,
            f"gate {named} failed: the step never reported '{gate.metric}' "
            '(append {"name": "' + gate.metric + '", "value": …} to $SHIPYARD_METRICS)',
        )
    compare = _COMPARE.get(gate.op)
    if compare is None:  # validation refuses it; a hand-edited plan.json could still hold one
        return GateVerdict(gate, value, False, f"gate {named} failed: unknown comparison")
    if compare(value, gate.threshold):
        return GateVerdict(gate, value, True, f"gate {named} passed: measured {figure(value)}")
    return GateVerdict(
        gate,
        value,
        False,
        f"gate {named} failed: measured {gate.metric} = {figure(value)}, "
        f"threshold {gate.op} {figure(gate.threshold)}",
    )


def last_values(metrics: Iterable[Metric]) -> dict[str, float]:
    """Each metric's last reported value (the figures of one attempt, in their order)."""
    return {metric.name: metric.value for metric in metrics}


def judge_all(gates: Sequence[GateSettings], values: Mapping[str, float]) -> list[GateVerdict]:
    """Every gate of a step against its attempt's figures, in the spec's order."""
    return [judge(gate, values.get(gate.metric)) for gate in gates]


def failure_reason(verdicts: Sequence[GateVerdict]) -> str | None:
    """The reason a step is gated (its failed gates' messages), or None if all passed."""
    failed = [verdict.message for verdict in verdicts if not verdict.passed]
    return "; ".join(failed) if failed else None


__all__ = [
    "GateVerdict",
    "describe",
    "failure_reason",
    "figure",
    "judge",
    "judge_all",
    "last_values",
]
