"""Retry delays: exponential, capped, with jitter. Pure; the random source is injectable."""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    retry_number: int,
    *,
    base: float,
    cap: float,
    jitter: bool = True,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Delay before retry ``retry_number`` (1 = the first retry): base·2^(n-1), capped, ±25%."""
    # The exponent is capped: 2.0 ** 1024 raises OverflowError, and `retries: 5000` with a step
    # that fails at once reaches it (2**60 times any base is past every cap anyway).
    delay = min(cap, base * 2.0 ** min(max(0, retry_number - 1), 60))
    if jitter and delay > 0:
        delay *= uniform(0.75, 1.25)
    return max(0.0, min(delay, cap))
