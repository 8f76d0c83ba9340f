"""process-compose's readiness and liveness probes → a Shipyard service's one ``health`` check.

Shipyard has one check for both (readiness gates dependants, then it goes on as liveness, with
``start_interval`` until first healthy and ``interval`` after). So: the readiness probe is the
check; a liveness probe on the same target gives its period as ``interval``; a liveness probe on
another target has no place and is named as unmapped.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Scalar
from shipyard.spec.yamlsource import PathKey

#: process-compose's defaults (src/health/probe.go).
PERIOD, TIMEOUT, SUCCESS, FAILURE = 10, 1, 1, 3
#: Shipyard's readiness_timeout default: written only when the probe needs longer.
READINESS_TIMEOUT = 60

_LOCAL_HOSTS = (None, "", "127.0.0.1", "localhost")

#: An http_get probe that Shipyard's http check cannot express (another host, https, headers, a
#: status code, a port another service has) runs as an exec check: GET the URL, exit 0 on the
#: status wanted (argv[2]; 0: any 2xx or 3xx, as urlopen does not raise for those).
HTTP_SCRIPT = (
    "import sys, urllib.request as r; "
    "h = dict(a.split(': ', 1) for a in sys.argv[3:]); "
    "c = r.urlopen(r.Request(sys.argv[1], headers=h), timeout=60).status; "
    "sys.exit(0 if int(sys.argv[2]) in (0, c) else 1)"
)


@dataclass
class HealthMapping:
    """The service's ``health`` entries, the port its http check is on, a longer
    readiness_timeout when the probe's failures take longer than Shipyard's default."""

    entries: list[Entry] = field(default_factory=list)
    port: int | None = None
    readiness_timeout: float | None = None


def _number(ctx: ImportContext, path: PathKey, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        ctx.problem(path, f"{path[-1]} should be a number of seconds, not {value!r}")
        return default
    return float(value)


def _target_key(probe: dict[str, Any]) -> Any:
    return (repr(probe.get("exec")), repr(probe.get("http_get")))


def health_of(
    ctx: ImportContext,
    path: PathKey,
    process: dict[str, Any],
    taken: set[int],
    *,
    shared: bool = False,
) -> HealthMapping | None:
    """``taken``: fixed ports other services' checks already use (one port, one service);
    ``shared``: the service has replicas, which cannot share one fixed port."""
    readiness, liveness = process.get("readiness_probe"), process.get("liveness_probe")
    for key, probe in (("readiness_probe", readiness), ("liveness_probe", liveness)):
        if probe is not None and not isinstance(probe, dict):
            ctx.problem((*path, key), f"{key} should be a mapping (exec or http_get, periods)")
            return None
    if readiness is None and liveness is None:
        return None
    main_key = "readiness_probe" if readiness is not None else "liveness_probe"
    main: dict[str, Any] = readiness if readiness is not None else liveness  # type: ignore[assignment]  # one is a dict (checked above)
    where = (*path, main_key)
    result = HealthMapping()
    target = _target(ctx, where, main, taken, result, shared)
    if target is None:
        return None
    result.entries.extend(target)
    period = _number(ctx, (*where, "period_seconds"), main.get("period_seconds"), PERIOD)
    timeout = _number(ctx, (*where, "timeout_seconds"), main.get("timeout_seconds"), TIMEOUT)
    delay = _number(ctx, (*where, "initial_delay_seconds"), main.get("initial_delay_seconds"), 0)
    failures = int(_number(ctx, (*where, "failure_threshold"), main.get("failure_threshold"), 3))
    successes = int(_number(ctx, (*where, "success_threshold"), main.get("success_threshold"), 1))
    if delay:
        result.entries.append(Entry("initial_delay", delay, comment="initial_delay_seconds"))
    result.entries.append(
        Entry("timeout", timeout, comment="timeout_seconds" if "timeout_seconds" in main else "")
    )
    result.entries.append(Entry("failure_threshold", max(failures, 1)))
    result.entries.append(Entry("success_threshold", max(successes, 1)))
    if readiness is None:
        ctx.note(
            (*path, "liveness_probe"),
            "approximate",
            "a liveness probe alone: Shipyard's one health check also gates what waits for "
            "this service (process-compose's liveness does not)",
        )
        result.entries.append(Entry("interval", period, comment="liveness period_seconds"))
    else:
        result.entries.extend(_with_liveness(ctx, path, readiness, liveness, period))
    needed = delay + (period + timeout) * max(failures, 1)
    if needed > READINESS_TIMEOUT:
        result.readiness_timeout = needed
    return result


def _with_liveness(
    ctx: ImportContext,
    path: PathKey,
    readiness: dict[str, Any],
    liveness: dict[str, Any] | None,
    period: float,
) -> list[Entry]:
    """The intervals: readiness's period until first healthy, liveness's after, when both
    probe the same thing; a liveness probe of another target is named as unmapped."""
    if liveness is None:
        return [Entry("interval", period, comment="readiness period_seconds")]
    if _target_key(liveness) != _target_key(readiness):
        ctx.unmapped(
            (*path, "liveness_probe"),
            "it probes another target than readiness_probe, and Shipyard has one health check "
            "for both (a separate liveness check would need a 'liveness' key in the spec)",
        )
        return [Entry("interval", period, comment="readiness period_seconds")]
    live_period = liveness.get("period_seconds", PERIOD)
    different = [
        key
        for key in ("failure_threshold", "success_threshold", "timeout_seconds")
        if liveness.get(key) is not None and liveness.get(key) != readiness.get(key)
    ]
    if different:
        ctx.note(
            (*path, "liveness_probe"),
            "approximate",
            f"its {', '.join(different)} differ from readiness_probe's; Shipyard's one check "
            "uses readiness_probe's for both",
        )
    else:
        ctx.note((*path, "liveness_probe"), "mapped", "the same check: interval after healthy")
    return [
        Entry("start_interval", period, comment="readiness_probe.period_seconds"),
        Entry("interval", live_period, comment="liveness_probe.period_seconds"),
    ]


def _target(
    ctx: ImportContext,
    path: PathKey,
    probe: dict[str, Any],
    taken: set[int],
    result: HealthMapping,
    shared: bool,
) -> list[Entry] | None:
    exec_probe, http = probe.get("exec"), probe.get("http_get")
    if isinstance(exec_probe, dict):
        return _exec(ctx, (*path, "exec"), exec_probe)
    if isinstance(http, dict):
        return _http(ctx, (*path, "http_get"), http, taken, result, shared)
    ctx.problem(path, "a probe needs 'exec: {command: ...}' or 'http_get: {port: ...}'")
    return None


def _exec(ctx: ImportContext, path: PathKey, probe: dict[str, Any]) -> list[Entry] | None:
    command = probe.get("command")
    if not isinstance(command, str) or not command.strip():
        ctx.problem((*path, "command"), "an exec probe needs a 'command' (a shell string)")
        return None
    workdir = probe.get("working_dir")
    line = f"cd {shlex.quote(str(workdir))} && {command}" if workdir else command
    comment = "exec.command" + (" in exec.working_dir" if workdir else "") + ", run by sh -c"
    return [Entry("exec", ["sh", "-c", line], comment=comment)]


def _http(
    ctx: ImportContext,
    path: PathKey,
    http: dict[str, Any],
    taken: set[int],
    result: HealthMapping,
    shared: bool,
) -> list[Entry] | None:
    port = http.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        ctx.problem((*path, "port"), f"http_get needs a port number (1-65535), not {port!r}")
        return None
    probe_path = str(http.get("path") or "/")
    if not probe_path.startswith("/"):
        probe_path = "/" + probe_path
    host, scheme = http.get("host"), http.get("scheme") or "http"
    why = _why_not_http_check(http, host, scheme, port, taken | ({port} if shared else set()))
    if why is None:
        taken.add(port)
        result.port = port
        return [Entry("http", probe_path, comment=f"http_get on port {port}")]
    url = f"{scheme}://{host or '127.0.0.1'}:{port}{probe_path}"
    ctx.note(path, "approximate", f"run as an exec check (GET {url} with python3): {why}")
    headers = http.get("headers") or {}
    lines: list[Scalar] = (
        [f"{k}: {v}" for k, v in headers.items()] if isinstance(headers, dict) else []
    )
    status = http.get("status_code") or 0
    argv: list[Scalar] = ["python3", "-c", HTTP_SCRIPT, url, str(status), *lines]
    return [Entry("exec", argv, comment=f"http_get {url}")]


def _why_not_http_check(
    http: dict[str, Any], host: Any, scheme: Any, port: int, taken: set[int]
) -> str | None:
    if host not in _LOCAL_HOSTS:
        return f"host {host} is not this machine"
    if scheme != "http":
        return f"scheme {scheme}"
    if http.get("headers"):
        return "headers"
    if http.get("status_code"):
        return "status_code"
    if port in taken:
        return f"port {port} is another service's check's port too"
    return None
