"""What a canary rollout does next, from one window's figures. Pure, no I/O.

At the end of each interval the proxy hands over what it measured for the canary (requests,
errors, latencies). :func:`decide` turns that, the KPIs and the current step into one of:

- ``hold``: too few requests to judge (fewer than ``min_requests``): measure another interval
  at the same weight — a quiet service is never promoted on no evidence;
- ``rollback``: a KPI broke: traffic back to stable at once, the canary stopped;
- ``advance``: every KPI held: the next step's weight;
- ``promote``: every KPI held at the last step (100 %): the canary becomes the service.

KPIs are judged with the quality gates' own verdicts (:mod:`shipyard.engine.gates`), so a KPI
reads, passes and fails exactly as a gate does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shipyard.engine.gates import judge_all
from shipyard.plan.model import GateSettings

Action = Literal["hold", "advance", "promote", "rollback"]


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """One version's requests over one interval, as the proxy measured them."""

    requests: int = 0
    errors: int = 0  # 5xx answers and requests that reached no answer at all
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def values(self) -> dict[str, float]:
        """The figures a KPI may name (those measured)."""
        named = {
            "error_rate": self.error_rate,
            "p50_latency_ms": self.p50_latency_ms,
            "p95_latency_ms": self.p95_latency_ms,
            "p99_latency_ms": self.p99_latency_ms,
        }
        return {name: value for name, value in named.items() if value is not None}

    def describe(self) -> str:
        """``40 requests, 3 errors (error_rate 0.075), p95 12.3 ms``."""
        if not self.requests:
            return "no requests"
        parts = [
            f"{self.requests} requests, {self.errors} errors (error_rate {self.error_rate:.4g})"
        ]
        for name in ("p50", "p95", "p99"):
            value = getattr(self, f"{name}_latency_ms")
            if value is not None:
                parts.append(f"{name} {value:.1f} ms")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p50_latency_ms": self.p50_latency_ms,
            "p95_latency_ms": self.p95_latency_ms,
            "p99_latency_ms": self.p99_latency_ms,
        }


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def figures(latencies_ms: Sequence[float], errors: int) -> WindowFigures:
    """A window's figures from its requests' latencies (every request, errors included)."""
    ordered = sorted(latencies_ms)
    return WindowFigures(
        requests=len(ordered),
        errors=errors,
        p50_latency_ms=percentile(ordered, 0.50),
        p95_latency_ms=percentile(ordered, 0.95),
        p99_latency_ms=percentile(ordered, 0.99),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    step: int  # the step index after the decision (the same one for hold and rollback)


def decide(
    canary: WindowFigures,
    kpis: Sequence[GateSettings],
    *,
    step: int,
    steps: Sequence[int],
    min_requests: int,
) -> Decision:
    """The next move after a window in which the canary had ``steps[step]`` % of requests."""
    weight = steps[step]
    if canary.requests < min_requests:
        return Decision(
            "hold",
            f"at {weight}%: {canary.requests} of the {min_requests} requests needed to judge "
            "the canary; measuring another interval",
            step,
        )
    verdicts = judge_all(kpis, canary.values())
    broken = [v.message.replace("gate ", "KPI ", 1) for v in verdicts if not v.passed]
    if broken:
        return Decision(
            "rollback", f"at {weight}%: {'; '.join(broken)} ({canary.describe()})", step
        )
    held = f"at {weight}%: KPIs held ({canary.describe()})"
    if step + 1 >= len(steps):
        return Decision("promote", held, step)
    return Decision("advance", f"{held}; on to {steps[step + 1]}%", step + 1)


def routes_to_canary(draw: float, weight: int) -> bool:
    """Whether a request whose uniform draw in [0, 1) is ``draw`` goes to the canary at
    ``weight`` percent: a seeded draw makes the split repeatable in tests."""
    return draw * 100.0 < weight
