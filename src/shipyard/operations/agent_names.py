"""Agents by name, as ATOLL's deployment server has them: ``deploy NAME``, ``undeploy NAME``,
``restart NAME``, ``status NAME`` and ``list`` over an agent folder.

How a running set of agents gains or loses one: each agent deployed by name is a fleet of its
own (one service; execution name ``agents-<folder>-<key>.<agent>``), so starting or stopping it is
starting or stopping that fleet and no other agent's process is touched. A fleet cannot gain a
service while it runs (its plan is fixed when it starts), and a service cannot be declared
"not started" in a spec, so this is the simplest mechanism that never restarts the others. An
agent that runs in a fleet deployed with the whole folder (``agents deploy FOLDER``) is seen
too: by name it is stopped, started and restarted as that fleet's service (the control
socket's service stop/start/restart), so both ways of deploying agree on what runs.

Deploys of one folder are serialised by a lock file under the home (``agents/<folder>-<key>.lock``):
``max_agents`` is checked and the agent started and waited for while it is held, so two
deploys at once can neither both pass the limit nor both probe the same free port.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shipyard.api import AgentInfo
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, ExecutionStatus, UnitState, UnitStatus
from shipyard.operations.core import Core
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.agents import DiscoveredAgent
    from shipyard.api import StopReport

__all__ = ["AgentConflict", "AgentNotFound", "AgentOperations", "agent_info", "fleet_name"]


class AgentNotFound(ShipyardError):
    """No agent of that name in the folder (HTTP 404: the name ends the class's)."""


class AgentConflict(ShipyardError):
    """The agent's state forbids it: already deployed, not deployed, max_agents reached."""

    http_status = 409


class _Agents(Core, Protocol):
    agent_limit: int | None

    def stop(
        self,
        execution_id: str,
        *,
        force: bool = False,
        grace: float = 30.0,
        wait: bool = True,
        reason: str = "stopped by `shipyard stop`",
    ) -> StopReport: ...

    def restart_service(self, execution_id: str, service: str) -> UnitStatus: ...

    def service_stop(self, execution_id: str, service: str) -> UnitStatus: ...

    def service_start(self, execution_id: str, service: str) -> UnitStatus: ...


@dataclass(frozen=True, slots=True)
class _Running:
    """Where an agent runs (or last ran): its fleet, and whether that fleet is the folder's."""

    status: ExecutionStatus
    unit: UnitStatus
    whole_folder: bool


class AgentOperations:
    #: A limit no deploy by name can raise (the server's ``max_agents`` setting); None: none.
    agent_limit: int | None = None

    def agents_list(self: _Agents, folder: str | Path) -> list[AgentInfo]:
        """Every agent of ``folder`` with its state (discovered, deployed, failed, invalid)."""
        root, found = _discover(folder)
        where = _where(self, root, found)
        return [agent_info(agent, where.get(agent.name)) for agent in found]

    def agent_status(self: _Agents, folder: str | Path, name: str) -> AgentInfo:
        """One agent of ``folder`` by name."""
        return _status(self, *_discover(folder), name)

    def agent_deploy(
        self: _Agents,
        folder: str | Path,
        name: str,
        *,
        max_agents: int | None = None,
        wait: bool = True,
        command: str | None = None,
        servers: str | Path | None = None,
    ) -> AgentInfo:
        """Start one agent of ``folder`` as a fleet of its own; the others keep running.
        ``command`` and ``servers`` as for ``agents_deploy`` (ATOLL's start command template,
        its deployment_servers.json: first port and default ``max_agents``)."""
        from shipyard.agents import server_settings

        root, found = _discover(folder, command=command, servers=servers)
        settings = server_settings(root, None if servers is None else Path(servers))
        if max_agents is None:
            max_agents = settings.max_agents
        agent = _named(root, found, name)
        if agent.state == "invalid":
            raise ShipyardError(
                f"agent '{name}' cannot be deployed: {agent.file}: {agent.problem}",
                hint=f"fix the file; `shipyard agents discover {folder}` shows every problem",
            )
        if max_agents is not None and max_agents < 1:
            raise ShipyardError(f"max_agents is {max_agents}", hint="give 1 or more")
        max_agents = capped(max_agents, self.agent_limit)
        with folder_lock(self, root):
            where = _where(self, root, found)
            _refuse_if_running(root, name, where.get(name))
            _refuse_over_limit(root, where, max_agents)
            running = where.get(name)
            if running is not None and running.whole_folder:
                self.service_start(running.status.id, name)  # stopped by name earlier
                return _status(self, root, found, name)
            spec = _write_spec(self, root, agent, settings.base_port)
            status = self.run(spec, detach=True)
            if wait:
                status = self.wait_healthy(status.id)
        info = _status(self, root, found, name)
        if wait and (info.state != "deployed" or info.health != "healthy"):
            raise ShipyardError(
                f"agent '{name}' did not become healthy: {info.problem or info.state}",
                hint=f"its log: shipyard logs {status.id} {name}",
            )
        return info

    def agent_undeploy(
        self: _Agents, folder: str | Path, name: str, *, grace: float = 30.0
    ) -> AgentInfo:
        """Stop one deployed agent of ``folder``; the others keep running."""
        root, found = _discover(folder)
        agent = _named(root, found, name)
        running = _deployed(root, name, _where(self, root, [agent]).get(name))
        if running.whole_folder:
            self.service_stop(running.status.id, name)
        else:
            self.stop(running.status.id, grace=grace, reason=f"agent '{name}' undeployed")
        return _status(self, root, found, name)

    def agent_restart(self: _Agents, folder: str | Path, name: str) -> AgentInfo:
        """Restart one deployed agent: a new process, returned once it is healthy."""
        root, found = _discover(folder)
        agent = _named(root, found, name)
        running = _deployed(root, name, _where(self, root, [agent]).get(name))
        self.restart_service(running.status.id, name)
        return _status(self, root, found, name)


def _status(ops: _Agents, root: Path, found: list[DiscoveredAgent], name: str) -> AgentInfo:
    agent = _named(root, found, name)
    return agent_info(agent, _where(ops, root, [agent]).get(name))


def capped(asked: int | None, limit: int | None) -> int | None:
    """The limit a deploy runs under: the lower of the one asked for and the server's."""
    if asked is None or limit is None:
        return limit if asked is None else asked
    return min(asked, limit)


def fleet_name(root: Path, agent: str) -> str:
    """The execution name of one agent deployed by name: ``agents-<folder>-<key>.<agent>``,
    the key telling apart two folders of the same name (``/a/agents``, ``/b/agents``)."""
    return f"agents-{folder_key(root)}.{agent}"


def folder_key(root: Path) -> str:
    """The folder's name and 8 hex digits of its resolved path (:func:`agents.folder_key`)."""
    from shipyard.agents import folder_key

    return folder_key(root)


def agent_info(agent: DiscoveredAgent, running: _Running | None) -> AgentInfo:
    """What one agent is: a pure decision from its discovery and the fleet it is in."""
    base = AgentInfo(agent.name, agent.state, agent.folder, agent.file, agent.problem)
    if running is None:
        return base
    unit, status = running.unit, running.status
    state = _state_of(status.state, unit.state)
    if state == "discovered":
        return base
    problem = (unit.reason or status.reason) if state == "failed" else None
    return AgentInfo(
        agent.name,
        state,
        agent.folder,
        agent.file,
        problem,
        execution_id=status.id,
        pid=unit.pid if state == "deployed" else None,
        port=unit.port,
        url=unit.url,
        health=unit.health if state == "deployed" else None,
        restarts=unit.restarts,
        started_at=unit.started_at,
    )


def _state_of(fleet: ExecutionState, unit: UnitState) -> str:
    if fleet.finished:
        # A fleet stopped on purpose (undeploy, Ctrl-C) leaves the agent merely discovered;
        # one that ended failed (the agent exhausted its restarts) or lost (its supervisor
        # died) leaves it failed, with the reason as its problem.
        return "failed" if fleet in (ExecutionState.FAILED, ExecutionState.LOST) else "discovered"
    if unit == UnitState.FAILED:
        return "failed"
    if unit.finished:  # stopped by name (a service of the folder's fleet), or never started
        return "discovered"
    return "deployed"


def _discover(
    folder: str | Path, *, command: str | None = None, servers: str | Path | None = None
) -> tuple[Path, list[DiscoveredAgent]]:
    from shipyard.agents import discover

    root = Path(folder).resolve()
    return root, discover(root, command=command, servers=None if servers is None else Path(servers))


def _named(root: Path, found: list[DiscoveredAgent], name: str) -> DiscoveredAgent:
    for agent in found:
        if agent.name == name:
            return agent
    names = ", ".join(agent.name for agent in found) or "none"
    shown = name if len(name) <= 80 else name[:80] + "…"
    raise AgentNotFound(
        f"no agent named {shown!r} in {root}",
        hint=f"the agents there: {names} (`shipyard agents list {root}`)",
    )


def _where(ops: _Agents, root: Path, agents: list[DiscoveredAgent]) -> dict[str, _Running]:
    """Each agent's fleet: its own (the newest, running or ended) or the folder's running one
    (which wins while it runs the agent: both cannot, deploy by name refuses)."""
    from shipyard.agents import folder_fleet_name

    where: dict[str, _Running] = {}
    for agent in agents:
        for summary in ops.list_executions(name=fleet_name(root, agent.name), limit=1):
            status = ops.status(summary.id)
            unit = _unit(status, agent.name)
            if unit is not None:
                where[agent.name] = _Running(status, unit, whole_folder=False)
    folder_fleet = folder_fleet_name(root)
    for summary in ops.list_executions(active_only=True, name=folder_fleet, limit=1):
        status = ops.status(summary.id)
        for agent in agents:
            unit = _unit(status, agent.name)
            mine = where.get(agent.name)
            if unit is not None and (mine is None or not _runs(mine)):
                where[agent.name] = _Running(status, unit, whole_folder=True)
    return where


def refuse_if_any_runs_by_name(ops: Core, root: Path, found: list[DiscoveredAgent]) -> None:
    """Deploying the whole folder would start a second process of an agent deployed by name."""
    running = []
    for agent in found:
        for summary in ops.list_executions(
            active_only=True, name=fleet_name(root, agent.name), limit=1
        ):
            running.append(f"{agent.name} ({summary.id})")
    if running:
        raise AgentConflict(
            f"agents of {root} run already, deployed by name: {', '.join(running)}",
            hint=f"undeploy them first (shipyard agents undeploy {root} NAME), or deploy the "
            "others by name too",
        )


def refuse_if_folder_deployed(ops: Core, root: Path) -> None:
    """A second deploy of the whole folder would start every agent twice (on new ports), and
    `agents undeploy` would stop only the newest of the two fleets."""
    from shipyard.agents import folder_fleet_name

    for summary in ops.list_executions(active_only=True, name=folder_fleet_name(root), limit=1):
        raise AgentConflict(
            f"the agents of {root} are already deployed, in {summary.id}",
            hint=f"see them with `shipyard agents status {root}`; to deploy changed agent "
            f"files, `shipyard agents undeploy {root}` first",
        )


def _runs(running: _Running) -> bool:
    return _state_of(running.status.state, running.unit.state) == "deployed"


def _unit(status: ExecutionStatus, name: str) -> UnitStatus | None:
    return next((u for u in status.units if u.name == name and u.kind == "service"), None)


def _refuse_if_running(root: Path, name: str, running: _Running | None) -> None:
    if running is None:
        return
    if _runs(running):
        unit = running.unit
        raise AgentConflict(
            f"agent '{name}' is already deployed (pid {unit.pid}, port {unit.port}, "
            f"in {running.status.id})",
            hint=f"restart it: shipyard agents restart {root} {name}",
        )


def _refuse_over_limit(root: Path, where: dict[str, _Running], max_agents: int | None) -> None:
    if max_agents is None:
        return
    live = sorted(name for name, running in where.items() if _runs(running))
    if len(live) >= max_agents:
        raise AgentConflict(
            f"max_agents is {max_agents} and {counted(len(live), 'agent')} of {root} "
            f"{'runs' if len(live) == 1 else 'run'} already: "
            f"{', '.join(live)}",
            hint=f"undeploy one first (shipyard agents undeploy {root} NAME) or raise --max-agents",
        )


def _deployed(root: Path, name: str, running: _Running | None) -> _Running:
    if running is None or not _runs(running):
        raise AgentConflict(
            f"agent '{name}' of {root} is not deployed",
            hint=f"deploy it: shipyard agents deploy {root} {name}",
        )
    return running


def _write_spec(ops: Core, root: Path, agent: DiscoveredAgent, base_port: int | None) -> Path:
    """The fleet spec of one agent, written under the home (a spec is a file to run)."""
    from shipyard.agents import spec_text

    text = spec_text(
        fleet_name(root, agent.name), f"agent {agent.name} of {root}", [agent], base_port
    )
    path = ops.workspace.home / "agents" / folder_key(root) / f"{agent.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


#: One lock per folder lock file for the threads of this process (the server's): a POSIX lock
#: belongs to the process, so it keeps out other processes only.
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def folder_lock(ops: Core, root: Path) -> Iterator[None]:
    path = ops.workspace.home / "agents" / f"{folder_key(root)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        mine = _THREAD_LOCKS.setdefault(path, threading.Lock())
    # lockf, not flock: a flock is shared with the fleet's supervisor forked while it is held,
    # which then holds it for the fleet's whole life; a POSIX lock is not inherited by a fork.
    with mine, path.open("a") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)
