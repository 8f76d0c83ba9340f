"""Mitosis's ExecSpec (``args``, ``envs``, ``resources``, ``timeout``, ``terminal_output``) and
its humantime durations, read into Shipyard's command, env and timeout (docs/importing.md,
"Mitosis suites and tasks"). Shared by the suite hooks and the task spec."""

from __future__ import annotations

import math
import re
from typing import Any

from shipyard.formats.context import ImportContext, dotted
from shipyard.spec.quantities import MAX_DURATION
from shipyard.spec.yamlsource import PathKey

#: humantime's units (the Rust crate Mitosis parses durations with), in seconds.
_UNITS = {
    **dict.fromkeys(("nsec", "ns"), 1e-9),
    **dict.fromkeys(("usec", "us", "µs"), 1e-6),
    **dict.fromkeys(("msec", "ms"), 1e-3),
    **dict.fromkeys(("seconds", "second", "secs", "sec", "s"), 1.0),
    **dict.fromkeys(("minutes", "minute", "mins", "min", "m"), 60.0),
    **dict.fromkeys(("hours", "hour", "hrs", "hr", "h"), 3600.0),
    **dict.fromkeys(("days", "day", "d"), 86_400.0),
    **dict.fromkeys(("weeks", "week", "w"), 604_800.0),
    **dict.fromkeys(("months", "month", "M"), 2_630_016.0),  # 30.44 days, as humantime
    **dict.fromkeys(("years", "year", "y"), 31_557_600.0),  # 365.25 days
}
_PART = re.compile(r"\s*(\d+)\s*([A-Za-zµ]+)")
#: ExecSpec's keys, each as a Mitosis user writes it.
EXEC_KEYS = ("args", "envs", "resources", "timeout", "terminal_output")


def humantime(text: str) -> float | None:
    """Seconds of a humantime duration ("5m", "1h 30m", "600s"), None if it is not one."""
    total = 0.0
    position = 0
    stripped = text.strip()
    if not stripped:
        return None
    while position < len(stripped):
        part = _PART.match(stripped, position)
        if part is None or part.group(2) not in _UNITS:
            return None
        try:
            total += int(part.group(1)) * _UNITS[part.group(2)]
        except OverflowError:  # more digits than a float holds: longer than any cap
            return math.inf
        position = part.end()
    return total


def duration(ctx: ImportContext, path: PathKey, value: Any) -> float | None:
    """A Mitosis duration in seconds; a problem at ``path`` when it is not one."""
    seconds = humantime(value) if isinstance(value, str) else None
    if seconds is None or seconds <= 0:
        ctx.problem(
            path,
            f"{dotted(path)}: {value!r} is not a duration",
            hint='a humantime duration, as Mitosis takes it: "30s", "5m", "1h 30m"',
        )
        return None
    if seconds > MAX_DURATION:  # the cap of every duration in a spec (spec/quantities.py)
        ctx.problem(
            path,
            f"{dotted(path)}: {_cut(value)!r} is longer than 365 days, the longest duration "
            "Shipyard accepts",
            hint="give a shorter timeout, or leave it out for no limit",
        )
        return None
    return seconds


def _cut(text: str) -> str:
    """A value short enough for one line (a 400-digit duration is said by its start)."""
    return text if len(text) <= 40 else text[:37] + "..."


def exec_spec(ctx: ImportContext, path: PathKey, spec: Any, *, hook: bool) -> dict[str, Any]:
    """Shipyard's ``command``, ``env`` and ``timeout`` of the ExecSpec at ``path`` (notes and
    problems in ``ctx``, at its keys); ``hook``: a suite hook's (its output is a log file)."""
    if not isinstance(spec, dict):
        ctx.problem(
            path,
            f"{dotted(path)} should be an ExecSpec: a mapping with args",
            hint='{"args": ["./setup.sh"], "timeout": "5m"}',
        )
        return {}
    found: dict[str, Any] = {}
    args = spec.get("args")
    if "args" not in spec:
        ctx.problem(
            path,
            f"{dotted(path)}.args: missing (Mitosis requires it: the argv)",
            hint='"args": ["./setup.sh"]',
        )
    elif not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        ctx.problem(
            (*path, "args"),
            f"{dotted((*path, 'args'))} should be a non-empty list of strings (argv, no shell)",
            hint='"args": ["sh", "-c", "make all"]',
        )
    else:
        found["command"] = list(args)
        ctx.note((*path, "args"), "mapped", "→ command (argv, no shell)")
    envs = spec.get("envs")
    if envs is not None:
        if not isinstance(envs, dict) or not all(isinstance(v, str) for v in envs.values()):
            ctx.problem(
                (*path, "envs"),
                f"{dotted((*path, 'envs'))} should map names to strings",
                hint='"envs": {"MODE": "fast"}',
            )
        elif envs:
            found["env"] = dict(envs)
            ctx.note((*path, "envs"), "mapped", "→ env")
    if "timeout" in spec and spec["timeout"] is not None:
        seconds = duration(ctx, (*path, "timeout"), spec["timeout"])
        if seconds is not None:
            found["timeout"] = seconds
            ctx.note((*path, "timeout"), "mapped", f"→ timeout: {seconds:g} (seconds)")
    resources = spec.get("resources")
    if resources:
        ctx.unmapped(
            (*path, "resources"),
            "Shipyard has no artifact store to download "
            "Mitosis artifacts or attachments from: fetch them in the command "
            "(or in the suite's env_preparation)",
        )
    elif "resources" in spec:
        ctx.note((*path, "resources"), "implicit", "empty: nothing to download")
    if "terminal_output" in spec:
        where = "its log file (env_preparation.log, env_cleanup.log)" if hook else "its result"
        ctx.note(
            (*path, "terminal_output"),
            "implicit",
            f"Shipyard always keeps stdout and stderr: {where}",
        )
    unknown_keys(ctx, path, spec, EXEC_KEYS, "an ExecSpec")
    return found


def unknown_keys(
    ctx: ImportContext, path: PathKey, data: dict[str, Any], known: tuple[str, ...], what: str
) -> None:
    """A key Mitosis does not have is a problem (a typo would otherwise be dropped), with the
    nearest key it has."""
    import difflib

    for key in data:
        if key in known:
            continue
        near = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"{what} has: " + ", ".join(known)
        ctx.problem((*path, key), f"{dotted((*path, key))}: not a key of {what}", hint=hint)
