"""Durations (``10m``, ``1h30m``, ``500ms``) and sizes (``4M``, ``1GiB``) as they appear in specs.

Both parse to plain numbers (seconds as ``float``, bytes as ``int``) so the rest of Shipyard never
sees strings. No Pydantic here: status commands format durations and must start fast; the
annotated field types built on these parsers live in :mod:`shipyard.spec.models`.
"""

from __future__ import annotations

import math
import re

#: Longer than this is a typo or an attack, not a timeout: event loops overflow on timestamps far
#: in the future, and a NaN or infinite deadline is never reached (a run that ignores signals).
MAX_DURATION = 365 * 86400.0
#: Sizes beyond this (1 PiB) are no machine's memory; they only come from typos.
MAX_SIZE = 2**50

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``1.5``, ``"30s"``, ``"10m"``, ``"1h30m"``, ``"250ms"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '10m', '1h'")
    if isinstance(value, int | float):
        # min(): an int beyond any float (10**400) must not raise OverflowError in float().
        return _bounded_seconds(
            value if isinstance(value, float) else float(min(value, 2 * MAX_DURATION)), value
        )
    if not isinstance(value, str):
        raise ValueError("a duration is a number of seconds or a string like '30s', '10m', '1h'")
    text = value.strip().lower().replace(" ", "")
    try:
        number = float(text)  # also reads 'inf' and 'nan': _bounded_seconds refuses them
    except ValueError:
        pass
    else:
        return _bounded_seconds(number, value)
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(
            f"'{value}' is not a duration; write it like '30s', '10m', '1h30m' or '500ms'"
        )
    return _bounded_seconds(total, value)


def _bounded_seconds(seconds: float, value: object) -> float:
    """``seconds`` if it is a usable duration: finite, not negative, at most MAX_DURATION."""
    if not math.isfinite(seconds):
        raise ValueError(
            f"{_shown(value)} is not a duration: it must be a finite number of seconds"
        )
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(
            f"{_shown(value)} is longer than 365 days, the longest duration Shipyard accepts; "
            "for no limit leave the setting out"
        )
    return seconds


def parse_size(value: object) -> int:
    """Bytes from ``1024``, ``"4M"`` (10^6), ``"1GiB"`` (2^30), ``"512 KiB"``."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '4M' or '1GiB'")
    if isinstance(value, int | float):
        # min(): an int beyond any float (10**400) must not raise OverflowError in float().
        return _bounded_bytes(
            value if isinstance(value, float) else float(min(value, 2 * MAX_SIZE)), value
        )
    if not isinstance(value, str):
        raise ValueError("a size is a number of bytes or a string like '4M' or '1GiB'")
    match = _SIZE.fullmatch(value.strip().lower())
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"'{value}' is not a size; write it like '512K', '4M', '1GiB' or '2GB'")
    # float() of 400 digits is inf: bound before converting to int (which would overflow).
    return _bounded_bytes(float(match.group(1)) * _SIZE_UNITS[match.group(2)], value)


def _bounded_bytes(count: float, value: object) -> int:
    """``count`` as whole bytes if it is a usable size: finite, not negative, at most MAX_SIZE."""
    if not math.isfinite(count):
        raise ValueError(f"{_shown(value)} is not a size: it must be a finite number of bytes")
    if count < 0:
        raise ValueError("a size cannot be negative")
    if count > MAX_SIZE:
        raise ValueError(f"{_shown(value)} is more than 1PiB, the largest size Shipyard accepts")
    return int(count)


def _shown(value: object) -> str:
    """``value`` for a message, cut short: a 400-digit number is not worth repeating."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}…"


def format_duration(seconds: float) -> str:
    """A short human form: ``850ms``, ``12.3s``, ``4m05s``, ``2h10m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_size(count: float) -> str:
    """Binary units, as ``ps`` and ``top`` show memory: ``512B``, ``3.2MiB``, ``1.0GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    return f"{count:.1f}TiB"
