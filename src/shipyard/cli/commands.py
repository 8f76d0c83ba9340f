"""The ``shipyard`` command's Typer app: a thin front end over :class:`shipyard.api.Operations`.

Each command parses its options, calls one operation and renders the result (a table, or JSON
with ``--json``). Errors a user can cause are printed as one message, never as a traceback.

No ``from __future__ import annotations`` here on purpose: Typer reads every command's
annotations at each start, and evaluating them from strings doubled that cost (19 ms → 8 ms).
"""

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard import __version__
from shipyard.cli.app import (  # the root app and the options every command module shares
    _SETTINGS,
    MAX_LIMIT,
    FormatOption,
    HomeOption,
    JsonOption,
    MaxParallelOption,
    ModeOption,
    ParamOption,
    SecretParamOption,
    SpecArgument,
    _duration,
    _mode,
    _params,
    _show_validation,
    app,
)
from shipyard.cli.front import console, error_console, guarded, show_services, show_status
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.errors import ShipyardError
from shipyard.wording import counted

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from shipyard.api import CleanReport, LogLine, Operations
    from shipyard.models import ExecutionStatus
    from shipyard.plan.model import Plan

    #: Starts an execution: ``(detach, hold) -> its status`` (see Executions.run).
    Starter = Callable[[bool, bool], ExecutionStatus]


@app.command()
def validate(
    spec: SpecArgument,
    format: FormatOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a spec file; every problem is shown with its file:line and a hint."""
    spec, text = _as_format(spec, format)
    report = _ops(home).validate(spec, spec_text=text)
    _foreign_notice(spec, format)
    _show_validation(report, as_json=as_json)


def _foreign_notice(spec: Path, format: str | None) -> None:
    """Another tool's file read as its Shipyard equivalent (docs/importing.md): said on stderr."""
    from shipyard.formats.notice import foreign_notice

    line = foreign_notice(spec, format)
    if line:
        error_console().print(line, style="yellow")


def _as_format(spec: Path, format: str | None) -> tuple[Path, str | None]:
    """``--format``: the file read as that format (``shipyard``: as it is, nothing detected),
    named by its resolved path; without it, the spec as given (its format detected)."""
    if format is None:
        return spec, None
    from shipyard.formats.importing import check_format, import_file
    from shipyard.spec.reading import read_spec_text

    if check_format(format) == "shipyard":
        return spec.resolve(), read_spec_text(spec)
    return spec.resolve(), import_file(spec, format=format).text


@app.command()
def plan(
    spec: SpecArgument,
    param: ParamOption = None,
    mode: ModeOption = "normal",
    max_parallel: MaxParallelOption = None,
    format: FormatOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what would run: stages, resolved commands, critical path; for services, their
    start stages, the ports and URLs they would get now, and their connections. Runs nothing."""
    ops = _ops(home)
    spec, text = _as_format(spec, format)
    result = ops.plan(
        spec, _params(param), spec_text=text, mode=_mode(mode), max_parallel=max_parallel
    )
    _foreign_notice(spec, format)
    _show_plan(ops, result, as_json=as_json)


def _show_plan(ops: "Operations", plan: "Plan", *, as_json: bool) -> None:
    ports: dict[str, int] = {}
    taken: str | None = None
    if plan.services:
        try:
            ports = ops.preview_ports(plan)
        except ShipyardError as error:
            taken = error.message
    if as_json:
        from shipyard.plan.codec import encode

        data = encode(plan)  # plan.json's document, format number included
        if plan.services:
            data["ports"] = ports
            data["urls"] = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    from shipyard.cli import render

    if plan.steps or not plan.services:
        console().print(render.plan_table(plan))
    if plan.services:
        console().print(render.services_plan_table(plan, ports))
    console().print(render.plan_footer(plan))
    if taken:
        error_console().print(f"warning: {taken}", style="yellow")


@app.command()
def run(
    spec: SpecArgument,
    param: ParamOption = None,
    mode: ModeOption = "normal",
    max_parallel: MaxParallelOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; run nothing.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach", "-d", help="Hand the run to a supervisor process and return at once."
        ),
    ] = False,
    checkpoint_every: Annotated[
        str | None,
        typer.Option(
            "--checkpoint-every",
            help="Take a checkpoint this often (e.g. 10m) [default: the spec's]",
            show_default=False,
        ),
    ] = None,
    resume_from: Annotated[
        str | None,
        typer.Option(
            "--resume-from",
            help="Reuse the results of this earlier execution's steps whose cache key matches.",
            show_default=False,
        ),
    ] = None,
    format: FormatOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline in the foreground, with live progress. Exit code 0 only if all succeeded.

    Ctrl-C stops it cleanly (running steps get their stop signal, then SIGKILL after their
    grace); a second Ctrl-C kills everything at once.
    """
    ops = _ops(home)
    run_mode = _mode(mode)
    spec, text = _as_format(spec, format)
    if dry_run:
        result = ops.plan(
            spec, _params(param), spec_text=text, mode=run_mode, max_parallel=max_parallel
        )
        _show_plan(ops, result, as_json=as_json)
        if not as_json:
            console().print("dry run: nothing was started")
        return
    params = _params(param)
    every = _duration("--checkpoint-every", checkpoint_every) if checkpoint_every else None
    planned = ops.plan(spec, params, spec_text=text, mode=run_mode, max_parallel=max_parallel)
    _refuse_a_fleet(planned, spec)

    def start(background: bool, hold: bool) -> "ExecutionStatus":
        return ops.run(
            spec,
            params,
            spec_text=text,
            mode=run_mode,
            max_parallel=max_parallel,
            detach=background,
            hold=hold,
            resume_from=resume_from,
            checkpoint_every=every,
        )

    _execute(ops, home, start, mode=run_mode, detach=detach, quiet=quiet, as_json=as_json)


def _refuse_a_fleet(plan: "Plan", spec: Path) -> None:
    """`run` waits for steps to finish; a spec with only services has none, and would run
    (silently, off a terminal) until stopped: `up` is the command for it (docs/cli.md)."""
    if plan.kind == "fleet":
        raise ShipyardError(
            f"{spec} has only services: run waits for steps to finish, and it has none",
            hint=f"bring the fleet up with: shipyard up {spec} (-d to return once it is "
            "healthy; shipyard down stops it)",
        )


@app.command()
def up(
    spec: SpecArgument,
    param: ParamOption = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Hand the fleet to a supervisor process.")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="With -d: return once every service is healthy."),
    ] = True,
    format: FormatOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring a fleet of services up. In the foreground it runs until Ctrl-C (then down);
    with -d it returns once every service is healthy, or says which one failed and why."""
    from shipyard.cli.plain import service_lines

    ops = _ops(home)
    spec, text = _as_format(spec, format)
    if not detach:
        from shipyard.cli.follow import events_of, logs_of
        from shipyard.cli.progress import FleetDisplay

        held = ops.up(spec, _params(param), spec_text=text, hold=True)
        after = ops.events(held.id).cursor
        with (
            FleetDisplay(console()) as display,
            logs_of(functools.partial(_ops, home), held.id, display.line),
            events_of(functools.partial(_ops, home), held.id, after, display),
        ):
            status = ops.start(held.id)
        sys.stdout.write("\n".join(service_lines(status)) + "\n")
        if status.state.value == "failed":
            from shipyard.cli.uphint import not_up_hint

            raise ShipyardError(f"{status.id} failed: {status.reason}", hint=not_up_hint(status))
        return
    status = ops.up(spec, _params(param), spec_text=text, detach=True)
    if wait:
        import time

        from shipyard.cli.uphint import settled

        status = ops.wait_healthy(status.id)
        # Its services all ended: print its state once the store has its end, not "running".
        look = functools.partial(ops.status, status.id)
        status = settled(status, look, monotonic=time.monotonic, sleep=time.sleep)
    if as_json:
        _dump(status)
    else:
        sys.stdout.write("\n".join(service_lines(status)) + "\n")
    if status.state.value == "failed" and _all_services_exited(status):
        _refuse_ended_services(ops, status)  # their exit codes and last lines say why
    if status.state.value in ("failed", "lost"):
        from shipyard.cli.uphint import not_up_hint

        raise ShipyardError(
            f"{status.id} did not come up: {status.reason}", hint=not_up_hint(status)
        )
    _refuse_ended_services(ops, status)


def _all_services_exited(status: Any) -> bool:
    services = [u for u in status.units if u.kind == "service"]
    return bool(services) and all(u.exit_code is not None for u in services)


def _refuse_ended_services(ops: "Operations", status: Any) -> None:
    """A service that ended while `up -d` waited (its exit code in its reason) is an error,
    with its last lines: the fleet is not up, whatever its own state says."""
    ended = [u for u in status.units if u.kind == "service" and u.state.finished]
    if not ended:
        return
    lines = []
    for unit in ended:
        lines.append(f"service '{unit.name}' {unit.reason or unit.state.value}")
        lines += [f"  {unit.name} | {line.text}" for line in ops.logs(status.id, unit.name, tail=5)]
    raise ShipyardError(
        f"{status.id} is not up: " + "\n".join(lines),
        hint=f"shipyard logs {status.id} shows what the services said",
    )


@app.command()
def down(
    execution_id: Annotated[
        str | None,
        typer.Argument(help="The fleet [default: the latest one running]", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop a fleet: reverse start order, each service's stop signal to its whole process
    group, SIGKILL after its stop timeout. Nothing of it is left running."""
    ops = _ops(home)
    target = execution_id or ops.latest_fleet(active=True)
    report = ops.stop(target, grace=0.0, reason="brought down (shipyard down)")
    if as_json:
        _dump(report)
    else:
        state = report.state.value if report.state else "stopping"
        sys.stdout.write(f"{report.execution_id} {state}\n")


@app.command()
def ps(
    execution_id: Annotated[
        str | None, typer.Argument(help="The fleet [default: the latest]", show_default=False)
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            "-a",
            help="Every live supervisor of yours on this machine, whatever its folder "
            "(its execution, pid, home; whether its folder still exists).",
        ),
    ] = False,
) -> None:
    """A fleet's services: state, health, pid, port, url, restarts, uptime, cpu, rss."""
    if every:
        _show_supervisors(execution_id, as_json=as_json)
        return
    show_services(execution_id, home=home, as_json=as_json)


def _show_supervisors(execution_id: str | None, *, as_json: bool) -> None:
    """`ps --all`: this machine's registry of this user's supervisors (shipyard.supervisors),
    not one home's store: what it finds may run in any folder, or in one since deleted."""
    from shipyard import supervisors

    if execution_id is not None:
        raise ShipyardError(
            "ps --all lists every supervisor; it takes no execution id",
            hint=f"shipyard ps {execution_id} (with --home) shows one fleet",
        )
    found = supervisors.live()
    if as_json:
        _dump(found)
        return
    if not found:
        sys.stdout.write("no supervisor of yours is running on this machine\n")
    for entry in found:
        where = entry.home if entry.folder_exists else f"{entry.home} (its folder was deleted)"
        sys.stdout.write(f"{entry.execution_id}  pid {entry.pid}  {where}\n")


@app.command()
def restart(
    execution_id: Annotated[str, typer.Argument(help="The fleet.", show_default=False)],
    service: Annotated[str, typer.Argument(help="The service.", show_default=False)],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restart one service: its process group gets its stop signal, the restart policy starts
    it again; returns once it is healthy."""
    unit = _ops(home).restart_service(execution_id, service)
    if as_json:
        _dump(unit)
    else:
        sys.stdout.write(f"{service}: pid {unit.pid}, healthy, restarts {unit.restarts}\n")


service_app = typer.Typer(help="One service of a running fleet.", **_SETTINGS)
app.add_typer(service_app, name="service")
ExecutionArgument = Annotated[str, typer.Argument(help="The fleet.", show_default=False)]
ServiceArgument = Annotated[str, typer.Argument(help="The service.", show_default=False)]


@service_app.command("stop")
def service_stop(
    execution_id: ExecutionArgument, service: ServiceArgument, home: HomeOption = None
) -> None:
    """Stop one service (its group gets its stop signal); it stays down until started."""
    unit = _ops(home).service_stop(execution_id, service)
    sys.stdout.write(f"{service}: {unit.state.value}\n")


@service_app.command("start")
def service_start(
    execution_id: ExecutionArgument, service: ServiceArgument, home: HomeOption = None
) -> None:
    """Start a stopped (or failed) service again; returns once it is healthy."""
    unit = _ops(home).service_start(execution_id, service)
    sys.stdout.write(f"{service}: pid {unit.pid}, {unit.health}\n")


@service_app.command("restart")
def service_restart(
    execution_id: ExecutionArgument, service: ServiceArgument, home: HomeOption = None
) -> None:
    """The same as `shipyard restart EXEC_ID SERVICE`."""
    unit = _ops(home).restart_service(execution_id, service)
    sys.stdout.write(f"{service}: pid {unit.pid}, healthy, restarts {unit.restarts}\n")


agents_app = typer.Typer(help="Agent folders: one agent per subfolder.", **_SETTINGS)
app.add_typer(agents_app, name="agents")
FolderArgument = Annotated[
    Path, typer.Argument(help="The folder of agent folders.", show_default=False)
]


CommandOption = Annotated[
    str | None,
    typer.Option(
        "--command",
        metavar="TEMPLATE",
        help="The start command of the agents whose file has none (default: ATOLL's, "
        "`python -m atoll --server --port {port} --agent {file}`): argv words, never a shell; "
        "placeholders {name}, {folder}, {file}, {port}.",
    ),
]
ServersOption = Annotated[
    Path | None,
    typer.Option(
        "--servers",
        metavar="FILE",
        help="ATOLL's deployment_servers.json (default: the one in FOLDER, if any): base_port, "
        "max_agents, restart_on_failure, max_restarts, health_check_interval.",
    ),
]


@agents_app.command("discover")
def agents_discover(
    folder: FolderArgument,
    home: HomeOption = None,
    as_json: JsonOption = False,
    command: CommandOption = None,
    servers: ServersOption = None,
) -> None:
    """Find one agent per subfolder (agent.toml, agent.json or agent.yaml, ATOLL's files as
    they are); a malformed file is shown with its path and problem, and the others still load.
    What Shipyard made of each file's keys, and what it could not map, is said under it."""
    from shipyard.cli.agentsview import discover_lines, server_lines

    found = _ops(home).agents_discover(folder, command=command, servers=servers)
    header = server_lines(folder, servers)
    if as_json:
        sys.stderr.write("".join(f"{line}\n" for line in header))  # stdout: one document
        _dump(found)
    else:
        sys.stdout.write("".join(f"{line}\n" for line in [*header, *discover_lines(found)]))
        if not found:
            sys.stdout.write(f"no agent folders in {folder}\n")
    if any(agent.problem for agent in found):
        raise typer.Exit(1)


AgentNameArgument = Annotated[
    str | None,
    typer.Argument(help="One agent, by name (default: every agent of FOLDER).", show_default=False),
]
MaxAgentsOption = Annotated[
    int | None,
    typer.Option(
        "--max-agents",
        min=1,
        help="Refuse to deploy more than this (by name: counting those of FOLDER that run).",
    ),
]


@agents_app.command("deploy")
def agents_deploy(
    folder: FolderArgument,
    name: AgentNameArgument = None,
    max_agents: MaxAgentsOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    command: CommandOption = None,
    servers: ServersOption = None,
) -> None:
    """Bring every valid agent of FOLDER up as one fleet, in the background; with NAME, that
    one agent only (a fleet of its own: the agents already running are not touched)."""
    ops = _ops(home)
    if name is not None:
        one = ops.agent_deploy(
            folder, name, max_agents=max_agents, command=command, servers=servers
        )
        _agent_out(one, as_json)
        return
    from shipyard.agents import skipped_lines
    from shipyard.cli.plain import service_lines

    status = ops.agents_deploy(folder, max_agents=max_agents, command=command, servers=servers)
    # The invalid agents were left out: say which and why (on stderr, so --json stays clean).
    for line in skipped_lines(ops.agents_discover(folder, command=command, servers=servers)):
        sys.stderr.write(f"skipped (invalid) {line}\n")
    if as_json:
        _dump(status)
    else:
        sys.stdout.write("\n".join(service_lines(status)) + "\n")


@agents_app.command("undeploy")
def agents_undeploy(
    folder: FolderArgument,
    name: AgentNameArgument = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring the agents of FOLDER down; with NAME, that one agent only (the others stay)."""
    ops = _ops(home)
    if name is not None:
        _agent_out(ops.agent_undeploy(folder, name), as_json)
        return
    report = ops.stop(ops.agents_fleet(folder), grace=0.0, reason="undeployed")
    if as_json:
        _dump(report)
        return
    sys.stdout.write(f"{report.execution_id} {report.state.value if report.state else ''}\n")


@agents_app.command("status")
def agents_status(
    folder: FolderArgument,
    name: AgentNameArgument = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The deployed agents of FOLDER (as ps); with NAME, that agent in detail."""
    ops = _ops(home)
    if name is not None:
        _agent_out(ops.agent_status(folder, name), as_json, detail=True)
        return
    status = ops.status(ops.agents_fleet(folder, active=False))
    if as_json:
        _dump(status.units)
        return
    from shipyard.cli import render

    console().print(render.services_table(status))


@agents_app.command("list")
def agents_list(
    folder: FolderArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Every agent of FOLDER by name: discovered, deployed (pid, port, health), failed or
    invalid (with the problem)."""
    found = _ops(home).agents_list(folder)
    if as_json:
        _dump(found)
        return
    if not found:
        sys.stdout.write(f"no agent folders in {folder}\n")
    for agent in found:
        sys.stdout.write(_agent_line(agent) + "\n")


@agents_app.command("restart")
def agents_restart(
    folder: FolderArgument,
    name: Annotated[str, typer.Argument(help="The agent.", show_default=False)],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restart one deployed agent of FOLDER: a new process, shown once it is healthy."""
    _agent_out(_ops(home).agent_restart(folder, name), as_json)


def _agent_line(agent: Any) -> str:
    """One line of an agent (an AgentInfo): name, state, and what there is to know."""
    if agent.state == "deployed":
        extra = f"pid {agent.pid}  port {agent.port}  {agent.health}  restarts {agent.restarts}"
    else:
        extra = agent.problem or agent.file
    return f"{agent.name:<16} {agent.state:<10} {extra}"


def _agent_out(agent: Any, as_json: bool, *, detail: bool = False) -> None:
    if as_json:
        _dump(agent)
        return
    if not detail:
        sys.stdout.write(_agent_line(agent) + "\n")
        return
    fields = ("state", "pid", "port", "url", "health", "restarts", "started_at", "execution_id")
    lines = [f"agent:        {agent.name}"]
    lines += [f"{f + ':':<13} {getattr(agent, f)}" for f in fields if getattr(agent, f) is not None]
    lines += [f"file:         {agent.file}"]
    if agent.problem:
        lines.append(f"problem:      {agent.problem}")
    sys.stdout.write("\n".join(lines) + "\n")


@app.command()
def resume(
    execution_id: Annotated[str, typer.Argument(help="Execution id.", show_default=False)],
    force: Annotated[
        bool,
        typer.Option("--force", help="Resume even if succeeded steps changed (they run again)."),
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Resume in a supervisor process.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
    param: SecretParamOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Continue a failed, cancelled or lost execution: steps that succeeded are kept, the others
    run (attempts number on). Refused when the spec or inputs changed under a succeeded step.
    Secret parameters are never stored: give them again ($SHIPYARD_PARAM_<NAME>, or -p)."""
    ops = _ops(home)
    params = _params(param)

    def start(background: bool, hold: bool) -> "ExecutionStatus":
        return ops.resume(execution_id, force=force, detach=background, hold=hold, params=params)

    mode = ops.status(execution_id).mode
    _execute(ops, home, start, mode=mode, detach=detach, quiet=quiet, as_json=as_json)


def _execute(
    ops: "Operations",
    home: Path | None,
    start: "Starter",
    *,
    mode: str,
    detach: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Start an execution (``start(detach, hold)``) and show it as the options ask."""
    from shipyard.cli.plain import summary_line
    from shipyard.models import ExecutionState

    if detach:
        status = start(True, False)
        if as_json:
            _dump(status)
        else:
            sys.stdout.write(
                f"{status.id} started in the background "
                f"(supervisor pid {status.supervisor_pid})\n"
                f"  shipyard status {status.id}\n  shipyard logs {status.id} -f\n"
                f"  shipyard stop {status.id}\n"
            )
        return
    if (quiet or as_json) and mode != "debug":
        # Nothing to show while it runs: no display, no follower, and no Rich to import.
        status = start(False, False)
    else:
        status = _shown_live(ops, home, start, mode=mode, quiet=quiet, as_json=as_json)
    if as_json:
        _dump(status)
    elif quiet:
        sys.stdout.write(summary_line(status) + "\n")
    else:
        from shipyard.cli import render

        console().print(render.status_table(status))
        if mode == "profile":
            console().print(render.resource_table(status))
        figures = render.metrics_table(status)
        if figures is not None:
            console().print(figures)
        console().print(render.status_header(status))
        if status.state != ExecutionState.SUCCEEDED:
            from shipyard.cli.uphint import logs_hint

            console().print(f"logs: {logs_hint(status)}", style="dim")
    if status.state != ExecutionState.SUCCEEDED:
        raise typer.Exit(1)


def _shown_live(
    ops: "Operations",
    home: Path | None,
    start: "Starter",
    *,
    mode: str,
    quiet: bool,
    as_json: bool,
) -> "ExecutionStatus":
    """Run in the foreground with the live display fed by the execution's events: prepared
    (held) first, so the follower knows what to follow and where its events start."""
    from shipyard.cli.follow import events_of
    from shipyard.cli.progress import RunDisplay

    held = start(False, True)
    after = ops.events(held.id).cursor  # a resumed execution's earlier events are not shown
    display_console = error_console() if as_json else console()
    with (
        RunDisplay(display_console, debug=mode == "debug", quiet=quiet) as display,
        events_of(functools.partial(_ops, home), held.id, after, display),
    ):
        return ops.start(held.id)


@app.command()
def status(
    execution_id: Annotated[
        str | None, typer.Argument(help="Execution id [default: the latest]", show_default=False)
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="List every unit, even in big executions.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """State of one execution (the latest when no id is given), unit by unit."""
    show_status(execution_id, show_all=show_all, home=home, as_json=as_json)


@app.command(name="list")
def list_(
    active: Annotated[bool, typer.Option("--active", help="Only pending or running.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="Most rows.")] = 20,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Executions, newest first."""
    result = _ops(home).list_executions(active_only=active, name=name, limit=limit)
    if as_json:
        _dump(result)
        return
    if not result:
        console().print("no executions" + (" running" if active else " yet"))
        return
    from shipyard.cli import render

    console().print(render.executions_table(result))


@app.command()
def logs(
    execution_id: Annotated[str, typer.Argument(help="Execution id.", show_default=False)],
    step: Annotated[
        str | None, typer.Argument(help="Only this unit [default: all]", show_default=False)
    ] = None,
    tail: Annotated[int | None, typer.Option("--tail", "-n", min=1, help="Last N lines.")] = None,
    grep: Annotated[
        str | None, typer.Option("--grep", "-g", help="Only lines matching this regex.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
    ] = False,
    merge: Annotated[
        bool,
        typer.Option(
            "--all", "-a", help="Every unit's lines merged by time (each unit's in its order)."
        ),
    ] = False,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            "-l",
            help="Only this level and above: debug, info, warning, error, critical.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only lines from then on: a duration ago (10m, 2h) or an ISO 8601 time.",
            show_default=False,
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write the lines with time and level to FILE.jsonl or FILE.json.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Let --export overwrite an existing file.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Output of an execution's units (stdout and stderr as written); --all, --level and
    --since place each line in time and read its level (see docs/cli.md, logs)."""
    if merge and step is not None:
        raise ShipyardError(
            f"--all merges every unit's log, and a unit ('{step}') was named too",
            hint=f"drop '{step}' to merge them all, or drop --all to read that unit's log",
        )
    ops = _ops(home)
    prefix = step is None
    from shipyard.cli.plain import log_label

    units = ops.status(execution_id).units
    nodes = {unit.name: unit.node for unit in units if unit.node}
    width = max((len(log_label(u.name, u.node)) for u in units), default=0)
    options: dict[str, Any] = {"tail": tail, "grep": grep, "follow": follow}
    options.update(level=level, since=since, merge=merge)
    if export is not None:
        _export_logs(ops, execution_id, step, export, force=force, as_json=as_json, **options)
        return
    # JSON shows a placed line's time and level: both are read then (text shows neither).
    placed = merge or level is not None or since is not None
    lines = ops.logs(execution_id, step, annotate=as_json and placed, **options)
    # Streamed as read, never gathered: memory stays the same whatever the log's size.
    try:
        if as_json and not follow:
            _stream_json_list(lines)
        else:
            _stream_log_lines(
                lines, width=width if prefix else None, as_json=as_json, flush=follow, nodes=nodes
            )
    except BrokenPipeError:  # `shipyard logs … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None


def _export_logs(
    ops: "Operations",
    execution_id: str,
    step: str | None,
    path: Path,
    *,
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """``logs --export``: the lines, with their time and level, to a file; says how many."""
    from shipyard.cli import logexport

    if options["follow"]:
        raise ShipyardError(
            "--export writes what the logs hold now; --follow waits for what comes",
            hint="drop --follow (export again later for newer lines)",
        )
    logexport.export_format(path)  # a wrong suffix is refused before anything is read
    lines = ops.logs(execution_id, step, annotate=True, **options)
    count = logexport.export(lines, path, force=force)
    if as_json:
        _dump({"export": str(path), "format": logexport.export_format(path), "lines": count})
    else:
        console().print(f"wrote {count} log line{'' if count == 1 else 's'} to {path}")


def _stream_log_lines(
    lines: "Iterable[LogLine]",
    *,
    width: int | None,
    as_json: bool,
    flush: bool,
    nodes: dict[str, str] | None = None,
) -> None:
    """``nodes``: the node of each unit that runs off this machine, shown in its prefix."""
    from shipyard.cli import plain

    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    prefixes: dict[str, str] = {}
    write = sys.stdout.write
    for line in lines:  # every line of the log goes through here: nothing but the write
        if as_json:
            write(plain.log_line_json(line) + "\n")
        else:
            prefix = prefixes.get(line.unit)
            if prefix is None:
                prefix = prefixes[line.unit] = plain.log_prefix(
                    line.unit, width=width, colour=colour, node=(nodes or {}).get(line.unit)
                )
            write(prefix + line.text + "\n")
        if flush:
            sys.stdout.flush()


def _stream_json_list(lines: "Iterable[LogLine]") -> None:
    """A JSON list written one object per line as the lines come: ``json.loads`` reads the
    whole, a line-oriented reader takes each line without its trailing comma."""
    from shipyard.cli import plain

    write = sys.stdout.write
    separator = "[\n"
    for line in lines:
        write(separator + plain.log_line_json(line))
        separator = ",\n"
    write("[]\n" if separator == "[\n" else "\n]\n")


@app.command()
def stop(
    execution_id: Annotated[str, typer.Argument(help="Execution id.", show_default=False)],
    force: Annotated[
        bool, typer.Option("--force", help="Kill every process group now, without grace.")
    ] = False,
    grace: Annotated[
        str, typer.Option("--grace", help="How long running steps may take to finish.")
    ] = "30s",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop a running execution: nothing new starts; running steps may finish within the grace,
    then get their stop signal. Stopped units keep their logs and records."""
    grace_seconds = _duration("--grace", grace)
    ops = _ops(home)
    impact = ops.stop_impact(execution_id)
    if not as_json:
        from shipyard.cli.sentences import stop_impact

        cut = "killed now" if force else f"stopped if not done within {grace}"
        line = stop_impact(impact.execution_id, impact.running, impact.never_start, cut)
        sys.stdout.write(line + "\n")
    if not yes and not as_json:
        if not sys.stdin.isatty():
            raise ShipyardError("stop needs confirmation", hint="add --yes to stop without asking")
        typer.confirm("Stop it?", abort=True)
    report = ops.stop(impact.execution_id, force=force, grace=grace_seconds)
    if as_json:
        _dump(report)
    else:
        state = report.state.value if report.state else "stopping"
        sys.stdout.write(f"{report.execution_id} {state}\n")


@app.command()
def clean(
    execution_id: Annotated[
        str | None, typer.Argument(help="The execution to clean.", show_default=False)
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Every finished execution of this pipeline.")
    ] = None,
    all_finished: Annotated[
        bool, typer.Option("--all-finished", help="Every finished execution.")
    ] = False,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="minimal (tmp/, scratch/) | standard (+ artifacts no step declares as an "
            "output) | deep (+ logs, checkpoints) | complete (the run directory and its records)",
        ),
    ] = "standard",
    preserve_logs: Annotated[
        bool, typer.Option("--preserve-logs/--no-preserve-logs", help="Keep logs at deep.")
    ] = False,
    preserve_outputs: Annotated[
        bool | None,
        typer.Option(
            "--preserve-outputs/--no-preserve-outputs",
            help="Keep declared outputs [default: kept, but at complete]",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go.")] = False,
    undo: Annotated[
        bool,
        typer.Option(
            "--undo",
            help="Put back what the last clean of EXECUTION_ID (or of pipeline NAME) moved.",
        ),
    ] = False,
    purge: Annotated[bool, typer.Option("--purge", help="Empty the trash for good.")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Free space from finished runs. Cleaned files go to a trash first: `clean --undo ID` puts
    them back until `clean --purge`. Nothing outside a run directory is ever touched."""
    ops = _ops(home)
    if purge:
        _clean_purge(ops, as_json=as_json)
        return
    if undo:
        if execution_id is None:
            raise ShipyardError(
                "--undo needs the execution id", hint="shipyard clean --undo ID|PIPELINE"
            )
        _clean_undo(ops, execution_id, as_json=as_json)
        return
    report = ops.clean(
        execution_id,
        pipeline=pipeline,
        all_finished=all_finished,
        level=level,
        preserve_logs=preserve_logs,
        preserve_outputs=preserve_outputs,
        dry_run=dry_run,
    )
    if as_json:
        _dump({**_asdict(report), "total_bytes": report.total_bytes})
    else:
        _print_clean_report(report)


def _clean_purge(ops: "Operations", *, as_json: bool) -> None:
    from shipyard.spec.quantities import format_size

    freed = ops.clean_purge()
    if as_json:
        _dump({"purged_bytes": freed})
    else:
        sys.stdout.write(f"trash emptied: {format_size(freed)} freed\n")


def _clean_undo(ops: "Operations", execution_id: str, *, as_json: bool) -> None:
    from shipyard.spec.quantities import format_size

    restored = ops.clean_undo(execution_id)
    if as_json:
        _dump(restored)
        return
    from shipyard.cli.sentences import put_back

    size = format_size(restored.bytes)
    line = put_back(restored.execution_id, len(restored.paths), bool(restored.records), size)
    sys.stdout.write(line + "\n")


def _print_clean_report(report: "CleanReport") -> None:
    from shipyard.cli.sentences import cleaned
    from shipyard.spec.quantities import format_size

    for run in report.runs:
        sys.stdout.write(cleaned(run.execution_id, len(run.paths), format_size(run.bytes)) + "\n")
        for path in run.paths[:20]:
            sys.stdout.write(f"  {path}\n")
        if len(run.paths) > 20:
            sys.stdout.write(f"  … and {len(run.paths) - 20} more\n")
        if run.records:
            sys.stdout.write("  + its records in the state database\n")
    for active in report.skipped:
        sys.stdout.write(f"{active}: still active, left alone\n")
    total = format_size(report.total_bytes)
    if report.dry_run:
        sys.stdout.write(f"dry run: {total} would be cleaned (--level {report.level})\n")
    else:
        sys.stdout.write(
            f"cleaned {total} (--level {report.level}); it is in the trash until "
            "`shipyard clean --purge` (`shipyard clean --undo ID` puts it back)\n"
        )


checkpoint_app = typer.Typer(
    help="Checkpoints: recorded, restorable points of a running execution.", **_SETTINGS
)
app.add_typer(checkpoint_app, name="checkpoint")


@checkpoint_app.command("create")
def checkpoint_create(
    execution_id: Annotated[str, typer.Argument(help="A running execution.", show_default=False)],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record every unit's state and copy the files running steps declare (checkpoint.paths),
    after signalling them and waiting for their ready file."""
    from shipyard.spec.quantities import format_size

    taken = _ops(home).checkpoint_create(execution_id)
    if as_json:
        _dump(taken)
        return
    files = sum(len(paths) for paths in taken.files.values())
    from shipyard.cli.sentences import checkpoint_taken

    sys.stdout.write(checkpoint_taken(taken.id, files, format_size(taken.bytes)) + "\n")


@checkpoint_app.command("list")
def checkpoint_list(
    execution_id: Annotated[
        str | None, typer.Argument(help="Execution id [default: the latest]", show_default=False)
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The checkpoints of an execution, oldest first."""
    from shipyard.spec.quantities import format_size

    found = _ops(home).checkpoint_list(execution_id)
    if as_json:
        _dump(found)
        return
    if not found:
        sys.stdout.write("no checkpoints\n")
    for item in found:
        when = item.created_at.astimezone().strftime("%H:%M:%S")
        steps = ", ".join(item.files) or "no files"
        sys.stdout.write(
            f"{item.id}  {when}  {item.reason:<9}  {format_size(item.bytes):>9}  {steps}\n"
        )


@checkpoint_app.command("restore")
def checkpoint_restore(
    checkpoint_id: Annotated[
        str, typer.Argument(help="EXEC_ID/ckpt-NNNN (see checkpoint list).", show_default=False)
    ],
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run it in a supervisor process.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
    param: SecretParamOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a checkpoint's checksums and start a new execution from it: steps that had
    succeeded are skipped; restarted steps find their files in $SHIPYARD_RESTORE_DIR."""
    ops = _ops(home)
    params = _params(param)

    def start(background: bool, hold: bool) -> "ExecutionStatus":
        return ops.checkpoint_restore(checkpoint_id, detach=background, hold=hold, params=params)

    _execute(ops, home, start, mode="normal", detach=detach, quiet=quiet, as_json=as_json)


store_app = typer.Typer(
    help="The state database: check it, or rebuild it from the run folders.", **_SETTINGS
)
app.add_typer(store_app, name="store")


@store_app.command("check")
def store_check(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Check state.db (SQLite's header and quick_check) and that every run folder in runs/ has
    a record. Changes nothing. Exit 0 if sound, 1 if not."""
    found = _ops(home).check_store()
    if as_json:
        _dump(found)
    elif found.healthy:
        sys.stdout.write(
            f"{found.path}: sound; {counted(found.run_folders, 'run folder')}, all recorded\n"
        )
    else:
        problem = f"{found.path} {found.problem}" if found.problem else f"{found.path}: readable"
        sys.stdout.write(f"{problem}\n")
        if found.without_record:
            sys.stdout.write(
                f"{counted(len(found.without_record), 'run folder')} without a record: "
                f"{', '.join(found.without_record[:10])}\n"
            )
        sys.stdout.write("`shipyard store rebuild` moves it aside and rebuilds from runs/\n")
    if not found.healthy:
        raise typer.Exit(1)


@store_app.command("rebuild")
def store_rebuild(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Move state.db aside (kept as state.db.corrupt-<time>) and rebuild the records from the
    run folders: units, states, exit codes, attempts and events of every execution."""
    report = _ops(home).rebuild_store()
    if as_json:
        _dump(report)
    else:
        sys.stdout.write(report.text() + "\n")


def _asdict(value: Any) -> Any:
    from shipyard.models import to_jsonable

    return to_jsonable(value)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec file (for editors and linters)."""
    sys.stdout.write(json.dumps(_ops(None).schema(), indent=2) + "\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"shipyard {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="SHIPYARD_SERVER",
            help="Use the Shipyard server at this URL (shipyard serve; docs/server.md).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SHIPYARD_TOKEN",
            help="The server's token [default: SHIPYARD_HOME/server.token on 127.0.0.1]",
        ),
    ] = None,
) -> None:
    """Deploy, run and watch pipelines from one declarative YAML file."""


def _narrowed(argv: list[str]) -> tuple[typer.Typer, list[str], str]:
    """The app that runs ``argv``: only the command (or group) it names. Typer turns the
    signature of every command it knows into Click parameters at each start — ~20 ms for all
    of ours, where a command line needs one."""
    if argv and not argv[0].startswith("-"):
        name = argv[0]
        for command in app.registered_commands:
            callback = command.callback
            known = command.name or (callback.__name__.replace("_", "-") if callback else None)
            if known == name:
                single = typer.Typer(**_SETTINGS)
                single.registered_commands.append(command)
                return single, argv[1:], f"shipyard {name}"
        for group in app.registered_groups:
            if group.name == name and group.typer_instance is not None:
                return group.typer_instance, argv[1:], f"shipyard {name}"
    return app, argv, "shipyard"


def main(argv: list[str]) -> int:
    """Run ``argv`` through Typer and return the exit code (no ``sys.exit``: testable)."""
    target, args, prog_name = _narrowed(argv)

    def invoke() -> None:
        target(args=args, prog_name=prog_name)

    return guarded(invoke)


# Command groups kept in modules of their own; importing them registers their commands on `app`.
from shipyard.cli import (  # noqa: E402
    admin_cli,  # noqa: F401
    analysis_cli,  # noqa: F401
    artifacts_cli,  # noqa: F401
    db_cli,  # noqa: F401
    env_cli,  # noqa: F401
    import_cli,  # noqa: F401
    index_cli,  # noqa: F401
    manager_cli,  # noqa: F401
    mcp_cli,  # noqa: F401
    ml_cli,  # noqa: F401
    pipelines_cli,  # noqa: F401
    rollout_cli,  # noqa: F401
    serve_cli,  # noqa: F401
    suite_cli,  # noqa: F401
    sweep_cli,  # noqa: F401
    tasks_cli,  # noqa: F401
    worker_cli,  # noqa: F401
)
