"""An A2A job YAML (agentic-deployment-engine) → the equivalent Shipyard spec.

docs/importing.md ("A2A job") has the table. Read with Shipyard's own YAML reader (so every
note and problem has the file's line and column and its own key names), then: ``job``,
``environment``, each agent (:mod:`a2aagent`), ``topology`` (:mod:`a2atopology`) and
``deployment``; the written spec has a comment on each mapping (:mod:`emit`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.errors import SpecError
from shipyard.formats.a2aagent import CARD_PATH, Hosts, agent_id, env_value, service_of
from shipyard.formats.a2atopology import topology_entry
from shipyard.formats.context import ImportContext
from shipyard.formats.emit import Entry, Flow, Scalar, emit
from shipyard.formats.naming import slug
from shipyard.formats.notes import ImportResult
from shipyard.spec.models import NAME_PATTERN
from shipyard.spec.yamlsource import PathKey, SourceMap

#: Top-level and ``job`` keys with no Shipyard equivalent, and why.
UNMAPPED = {
    ("job", "version"): "a spec has no version of its own (keep it in the description or git)",
    ("job", "tags"): "a spec has no tags",
    ("execution", "entry_point"): "Shipyard sends no queries: the entry agent is yours to call "
    "(its URL is SHIPYARD_URL_<NAME> for every unit)",
    ("execution", "auto_start"): "declared but unused upstream; shipyard up starts everything",
    ("deployment", "network"): "declared but unused upstream; services listen on 127.0.0.1 "
    "(their runner's host)",
}
#: Upstream's monitor: 3 failed checks in a row, then a restart, 5 restarts at most.
MONITOR_FAILURES = 3
MONITOR_RESTARTS = 5
STRATEGIES = ("sequential", "staged", "parallel")
#: The comment on each key of the health check written.
_PROBE_COMMENTS = {
    "http": "the path the deployer polls (a 200 wanted; Shipyard takes 2xx or 3xx)",
    "interval": "deployment.health_check.interval (the monitor's)",
    "start_interval": "deployment.timeout / health_check.retries: the readiness polls' spacing",
    "timeout": "deployment.health_check.timeout",
    "failure_threshold": "upstream's monitor restarts after 3 failed checks in a row",
}
_NAME = re.compile(NAME_PATTERN)


def import_a2a(
    data: dict[str, Any],
    source: SourceMap,
    path: Path | None,
    *,
    rebase: Callable[[str | None], str | None] | None = None,
) -> ImportResult:
    """``data`` read from ``path`` as a Shipyard spec; SpecError with every problem, at the
    file's own lines, when it cannot be imported. ``rebase``: for a spec written to another
    folder, the job file's folder as that spec names it (the agents' modules are there)."""
    ctx = ImportContext(source)
    job = data.get("job")
    if not isinstance(job, dict):
        ctx.problem(("job",), "job should be a mapping with name and description")
        raise SpecError(ctx.problems)
    name = _name(ctx, job)
    top: list[Entry] = [Entry("name", name, comment="job.name", origin=ctx.at(("job", "name")))]
    if isinstance(job.get("description"), str):
        top.append(
            Entry(
                "description",
                job["description"].strip(),
                comment="job.description",
                origin=ctx.at(("job", "description")),
            )
        )
    env = _environment(ctx, data.get("environment"))
    if env is not None:
        top.append(env)
    agents = data.get("agents")
    if not isinstance(agents, list) or not agents:
        ctx.problem(("agents",), "agents should be a list of agents (id, module, config)")
        raise SpecError(ctx.problems)
    ids = _ids(ctx, agents)
    deployment = data.get("deployment") or {}
    if not isinstance(deployment, dict):
        ctx.problem(("deployment",), "deployment should be a mapping")
        deployment = {}
    hosts = Hosts()
    services = Entry("services", comment="agents: one service per agent id")
    for index, agent in enumerate(agents):
        found = ids.get(index)
        if found is not None:
            unit = service_of(ctx, index, found, agent, name, hosts)
            _workdir(unit, rebase)
            unit.children.extend(_health(ctx, deployment))
            services.children.append(unit)
    top.extend(_execution(ctx, deployment))
    top.extend(_hosts(ctx, hosts, deployment))
    topology = topology_entry(ctx, data.get("topology"), set(ids.values()))
    if topology is not None:
        top.append(topology)
    top.append(services)
    _notes(ctx, data, job, deployment)
    if ctx.problems:
        raise SpecError(ctx.problems)
    text, origins = emit(ctx.header("the A2A job file", path), top)
    return ImportResult("a2a", text, ctx.notes, origins)


def _workdir(unit: Entry, rebase: Callable[[str | None], str | None] | None) -> None:
    """A local agent of a spec written to another folder runs in the job file's folder."""
    if rebase is None or any(e.key in ("workdir", "runner") for e in unit.children):
        return
    folder = rebase(None)
    if folder is not None:
        unit.children.insert(
            1,
            Entry(
                "workdir",
                folder,
                comment="the job file's folder (python -m finds the module there)",
            ),
        )


def _name(ctx: ImportContext, job: dict[str, Any]) -> str:
    name = job.get("name")
    if not isinstance(name, str) or not name.strip():
        ctx.problem(("job", "name") if "name" in job else ("job",), "job.name is required")
        return "imported"
    made = slug(name)
    if made != name:
        ctx.note(("job", "name"), "approximate", f"'{name}' is the spec name '{made}'")
    return made


def _ids(ctx: ImportContext, agents: list[Any]) -> dict[int, str]:
    ids: dict[int, str] = {}
    seen: set[str] = set()
    for index, agent in enumerate(agents):
        name = agent_id(ctx, index, agent)
        if name is None:
            continue
        if name in seen:
            ctx.problem(("agents", index, "id"), f"agent id '{name}' is given twice")
            continue
        seen.add(name)
        ids[index] = name
    return ids


def _environment(ctx: ImportContext, value: Any) -> Entry | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        ctx.problem(("environment",), "environment should map names to values")
        return None
    entry = Entry("env", comment="environment (every agent's)", origin=ctx.at(("environment",)))
    for key, item in value.items():
        where: PathKey = ("environment", key)
        entry.children.append(Entry(str(key), env_value(ctx, where, item), origin=ctx.at(where)))
    return entry if entry.children else None


def _seconds(ctx: ImportContext, path: PathKey, value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        ctx.problem(path, f"{path[-1]} {value!r} should be a number of seconds above 0")
        return None
    return float(value)


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _health(ctx: ImportContext, deployment: dict[str, Any]) -> list[Entry]:
    """The readiness the deployer polls and its monitor, as each service's health, restart and
    readiness_timeout (the same for every agent: they are the job's settings)."""
    check = deployment.get("health_check") or {}
    where: PathKey = ("deployment", "health_check")
    if not isinstance(check, dict):
        ctx.problem(where, "health_check should be a mapping")
        check = {}
    timeout = 60.0
    if "timeout" in deployment:
        timeout = _seconds(ctx, ("deployment", "timeout"), deployment["timeout"]) or timeout
    probe: dict[str, Flow] = {"http": CARD_PATH}
    health = Entry(
        "health",
        comment="the deployer polls /.well-known/agent-configuration for a 200 (not a2a: "
        "these agents serve no agent-card.json, and their card's name is config.name)",
        origin=ctx.at(where) if "health_check" in deployment else None,
    )
    if "interval" in check:
        interval = _seconds(ctx, (*where, "interval"), check["interval"])
        if interval is not None:
            probe["interval"] = _duration(interval)
    if "retries" in check:
        retries = check["retries"]
        if isinstance(retries, int) and not isinstance(retries, bool) and retries > 0:
            probe["start_interval"] = _duration(max(0.05, timeout / retries))
        else:
            ctx.problem(
                (*where, "retries"), f"retries {retries!r} should be a whole number above 0"
            )
    if "timeout" in check:
        seconds = _seconds(ctx, (*where, "timeout"), check["timeout"])
        if seconds is not None:
            probe["timeout"] = _duration(seconds)
    probe["failure_threshold"] = MONITOR_FAILURES
    for key, value in probe.items():
        source = "retries" if key == "start_interval" else key
        health.children.append(
            Entry(
                key,
                value,
                comment=_PROBE_COMMENTS[key],
                origin=ctx.at((*where, source)) if source in check else None,
            )
        )
    return [
        health,
        Entry(
            "readiness_timeout",
            _duration(timeout),
            comment="deployment.timeout (upstream's default 60)",
            origin=ctx.at(("deployment", "timeout")),
        ),
        Entry(
            "restart",
            {"policy": "on-failure", "max_restarts": MONITOR_RESTARTS},
            comment="upstream's monitor: 3 failed checks, then a restart, 5 at most",
        ),
    ]


def _execution(ctx: ImportContext, deployment: dict[str, Any]) -> list[Entry]:
    if "strategy" not in deployment:
        return []
    strategy = deployment["strategy"]
    where: PathKey = ("deployment", "strategy")
    if strategy not in STRATEGIES:
        ctx.unmapped(
            where,
            f"strategy {strategy!r} is not one of upstream's ({', '.join(STRATEGIES)}; upstream "
            "refuses it): Shipyard's default, staged, is used",
        )
        return []
    comment = "deployment.strategy"
    if strategy == "parallel":
        comment += " (upstream deploys stage by stage even so; Shipyard starts all at once)"
        ctx.note(
            where,
            "approximate",
            "parallel: upstream deploys each stage in parallel, stage after stage (as staged); "
            "Shipyard's parallel starts every service at once (depends_on still honoured)",
        )
    return [
        Entry(
            "execution",
            children=[Entry("deployment", strategy, comment=comment, origin=ctx.at(where))],
        )
    ]


def _hosts(ctx: ImportContext, hosts: Hosts, deployment: dict[str, Any]) -> list[Entry]:
    if not hosts.entries:
        return []
    items: list[Flow] = []
    for (address, user, port), name in hosts.entries.items():
        item: dict[str, Scalar] = {"name": name, "address": address}
        if user:
            item["user"] = user
        if port is not None:
            item["port"] = port
        items.append(item)
    top = [
        Entry(
            "hosts",
            items,
            comment="the remote agents' deployment.host, user and port (ssh)",
            origin=ctx.at(next(iter(hosts.origins.values()))),
        )
    ]
    ssh = _ssh(ctx, hosts, deployment)
    return top if ssh is None else [*top, ssh]


def _ssh(ctx: ImportContext, hosts: Hosts, deployment: dict[str, Any]) -> Entry | None:
    ssh = Entry("ssh", comment="deployment.ssh and the agents' ssh_key")
    ssh_settings = deployment.get("ssh") or {}
    if not isinstance(ssh_settings, dict):
        ssh_settings = {}
    keys = dict(hosts.keys)
    if isinstance(ssh_settings.get("key_file"), str):
        keys.setdefault(ssh_settings["key_file"], ("deployment", "ssh", "key_file"))
    if len(keys) == 1:
        key, where = next(iter(keys.items()))
        ssh.children.append(
            Entry("options", [f"IdentityFile={key}"], comment="ssh_key", origin=ctx.at(where))
        )
    elif len(keys) > 1:
        for where in list(keys.values())[1:]:
            ctx.unmapped(
                where,
                "the ssh runner takes one set of ssh options for every host: a key per host "
                "goes in an ssh_config file (ssh: {config: FILE}, IdentityFile per Host)",
            )
        key, where = next(iter(keys.items()))
        ssh.children.append(
            Entry("options", [f"IdentityFile={key}"], comment="ssh_key", origin=ctx.at(where))
        )
    if "timeout" in ssh_settings:
        seconds = _seconds(ctx, ("deployment", "ssh", "timeout"), ssh_settings["timeout"])
        if seconds is not None:
            ssh.children.append(
                Entry(
                    "connect_timeout",
                    _duration(seconds),
                    comment="deployment.ssh.timeout",
                    origin=ctx.at(("deployment", "ssh", "timeout")),
                )
            )
    return ssh if ssh.children else None


def _notes(
    ctx: ImportContext, data: dict[str, Any], job: dict[str, Any], deployment: dict[str, Any]
) -> None:
    for key in job:
        if ("job", key) in UNMAPPED:
            ctx.unmapped(("job", key), UNMAPPED[("job", key)])
        elif key not in ("name", "description"):
            ctx.unmapped(("job", key), "not an A2A job key this importer knows")
    execution = data.get("execution")
    if isinstance(execution, dict):
        for key in execution:
            why = UNMAPPED.get(("execution", key), "not an A2A execution key this importer knows")
            ctx.unmapped(("execution", key), why)
    _deployment_notes(ctx, data, deployment)
    ctx.note(
        ("agents",),
        "implicit",
        "Shipyard sets CONNECTED_AGENTS (the topology's URLs) and AGENT_PORT itself",
    )
    for key in data:
        if key not in ("job", "agents", "topology", "deployment", "execution", "environment"):
            ctx.unmapped((key,), "not an A2A job key this importer knows (upstream ignores it)")


def _deployment_notes(ctx: ImportContext, data: dict[str, Any], deployment: dict[str, Any]) -> None:
    for key in deployment:
        if ("deployment", key) in UNMAPPED:
            ctx.unmapped(("deployment", key), UNMAPPED[("deployment", key)])
        elif key not in ("strategy", "timeout", "health_check", "ssh"):
            ctx.unmapped(("deployment", key), "not an A2A deployment key this importer knows")
    check = deployment.get("health_check")
    if isinstance(check, dict):
        if check.get("enabled") is False:
            ctx.note(
                ("deployment", "health_check", "enabled"),
                "approximate",
                "enabled: false turns off upstream's monitor only; Shipyard's check is "
                "readiness and liveness at once, so it is kept",
            )
        for key in check:
            if key not in ("enabled", "interval", "retries", "timeout"):
                ctx.unmapped(("deployment", "health_check", key), "not a health_check key")
    ssh = deployment.get("ssh")
    if isinstance(ssh, dict):
        for key in ssh:
            if key not in ("key_file", "timeout"):
                ctx.unmapped(("deployment", "ssh", key), "not a deployment.ssh key")
        if "key_file" in ssh and not any(
            isinstance(a, dict)
            and isinstance(a.get("deployment"), dict)
            and a["deployment"].get("target") == "remote"
            for a in data.get("agents", [])
        ):
            ctx.note(("deployment", "ssh", "key_file"), "implicit", "no remote agent uses it")
