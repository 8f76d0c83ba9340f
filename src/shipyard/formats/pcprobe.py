"""process-compose's readiness and liveness probes and ``ready_log_line`` → a Shipyard service's
``health`` (readiness) and ``liveness`` checks.

``readiness_probe`` becomes ``health``, ``ready_log_line`` (without a readiness probe)
``health: {log_line: …}``, and ``liveness_probe`` a ``liveness`` check of its own — of any
target, with its own period and thresholds. Shipyard runs the liveness check once the service is
healthy (process-compose from its start); a service with no readiness check is healthy once
started, so there the two agree.
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


#: How often a ``log_line`` check reads the log: process-compose watches each line as it is
#: written; reading on from the last offset is cheap, so readiness is noticed within 0.1 s.
LOG_LINE_INTERVAL = 0.1


@dataclass
class HealthMapping:
    """The service's ``health`` and ``liveness`` entries (either may be empty), the port its
    http checks are on, a longer readiness_timeout when the readiness probe's failures take
    longer than Shipyard's default."""

    entries: list[Entry] = field(default_factory=list)
    liveness: list[Entry] = field(default_factory=list)
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
    result = HealthMapping()
    if readiness is not None:
        checked = _check(ctx, (*path, "readiness_probe"), readiness, taken, result, shared)
        if checked is None:
            return None
        result.entries, needed = checked
        if needed > READINESS_TIMEOUT:
            result.readiness_timeout = needed
        if "ready_log_line" in process:
            ctx.unmapped(
                (*path, "ready_log_line"),
                "beside readiness_probe: Shipyard's health has one readiness check, and "
                "readiness_probe is it",
            )
    elif "ready_log_line" in process:
        entries = _log_line(ctx, (*path, "ready_log_line"), process["ready_log_line"])
        if entries is None:
            return None
        result.entries = entries
    if liveness is not None:
        checked = _check(ctx, (*path, "liveness_probe"), liveness, taken, result, shared)
        if checked is None:
            return None
        result.liveness = checked[0]
        if result.entries:
            ctx.note(
                (*path, "liveness_probe"),
                "mapped",
                "a liveness check of its own, run once the service is ready",
            )
    return result if result.entries or result.liveness else None


def _log_line(ctx: ImportContext, path: PathKey, text: Any) -> list[Entry] | None:
    if not isinstance(text, str) or not text or "\n" in text:
        ctx.problem(path, f"ready_log_line should be text of one log line, not {text!r}")
        return None
    return [
        Entry("log_line", text, comment="ready_log_line", origin=ctx.at(path)),
        Entry("interval", LOG_LINE_INTERVAL, comment="process-compose reads each line as written"),
    ]


def _check(
    ctx: ImportContext,
    where: PathKey,
    probe: dict[str, Any],
    taken: set[int],
    result: HealthMapping,
    shared: bool,
) -> tuple[list[Entry], float] | None:
    """A probe's check entries, and how long its failures take to tell (delay + failures)."""
    target = _target(ctx, where, probe, taken, result, shared)
    if target is None:
        return None
    entries = list(target)
    period = _number(ctx, (*where, "period_seconds"), probe.get("period_seconds"), PERIOD)
    timeout = _number(ctx, (*where, "timeout_seconds"), probe.get("timeout_seconds"), TIMEOUT)
    delay = _number(ctx, (*where, "initial_delay_seconds"), probe.get("initial_delay_seconds"), 0)
    failures = int(_number(ctx, (*where, "failure_threshold"), probe.get("failure_threshold"), 3))
    successes = int(_number(ctx, (*where, "success_threshold"), probe.get("success_threshold"), 1))
    if delay:
        entries.append(Entry("initial_delay", delay, comment="initial_delay_seconds"))
    entries.append(Entry("interval", period, comment=f"{where[-1]}.period_seconds"))
    entries.append(
        Entry("timeout", timeout, comment="timeout_seconds" if "timeout_seconds" in probe else "")
    )
    entries.append(Entry("failure_threshold", max(failures, 1)))
    entries.append(Entry("success_threshold", max(successes, 1)))
    return entries, delay + (period + timeout) * max(failures, 1)


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
    if result.port is not None and port == result.port:
        taken = taken - {port}  # the service's own port, its readiness check's: shared
    why = _why_not_http_check(http, host, scheme, port, taken | ({port} if shared else set()))
    if why is None and result.port is not None and port != result.port:
        why = f"port {port} is not the port of its other check ({result.port})"
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
