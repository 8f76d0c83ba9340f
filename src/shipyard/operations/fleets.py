"""The fleet part of LocalOperations: a running fleet's services started, stopped and
restarted over its control socket, waiting for it to be healthy, and agent folders deployed
as fleets. The requests and waits themselves are :mod:`shipyard.operations.controlling`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ExecutionNotFound
from shipyard.models import ExecutionStatus, UnitStatus
from shipyard.operations.core import Core

if TYPE_CHECKING:
    from shipyard.agents import DiscoveredAgent
    from shipyard.plan.model import Plan


class FleetOperations:
    def preview_ports(self, plan: Plan) -> dict[str, int]:
        """The port each service of ``plan`` would get if it came up now (free ports probed by
        binding, as `up` does). Raises ShipyardError when a fixed port is taken."""
        from shipyard.engine.wiring import allocate_ports

        return allocate_ports(plan.services, plan.base_port)

    def restart_service(self: Core, execution_id: str, service: str) -> UnitStatus:
        """Restart one service of a running fleet: its stop signal to its process group, then a
        fresh start (counted as a restart); returns once it is healthy again."""
        return _service(self, execution_id, service, "restart")

    def service_stop(self: Core, execution_id: str, service: str) -> UnitStatus:
        """Stop one service of a running fleet (it stays down until `service_start`)."""
        return _service(self, execution_id, service, "stop")

    def service_start(self: Core, execution_id: str, service: str) -> UnitStatus:
        """Start again a service that was stopped (or had failed); returns once it is healthy."""
        return _service(self, execution_id, service, "start")

    def wait_healthy(self: Core, execution_id: str, *, timeout: float = 300.0) -> ExecutionStatus:
        """Wait until every service of a fleet is healthy, or the fleet has ended: told by
        its supervisor over the control socket, else by watching the store."""
        from shipyard.operations.controlling import wait_healthy

        status = self.status(execution_id)
        socket = self.workspace.run_dir(status.id).control
        look = self._looker(execution_id)
        return wait_healthy(socket, status, look, clock=self.clock, timeout=timeout)

    def latest_fleet(self: Core, *, active: bool) -> str:
        """The newest execution that has services (a running one, if ``active``)."""
        for summary in self.list_executions(active_only=active, limit=200):
            status = self.store.get_execution(summary.id)
            if status and any(unit.kind == "service" for unit in status.units):
                return summary.id
        raise ExecutionNotFound(
            "no fleet is running" if active else "no fleet has been brought up yet",
            hint="bring one up with `shipyard up FILE`",
        )

    # -- agents -----------------------------------------------------------------------------

    def agents_discover(
        self,
        folder: str | Path,
        *,
        command: str | None = None,
        servers: str | Path | None = None,
    ) -> list[DiscoveredAgent]:
        """The agents of ``folder``; ``command``: the start command template of the files that
        have none; ``servers``: ATOLL's deployment_servers.json (default: the folder's)."""
        from shipyard.agents import discover

        return discover(Path(folder), command=command, servers=_path(servers))

    def agents_deploy(
        self: Core,
        folder: str | Path,
        *,
        max_agents: int | None = None,
        wait: bool = True,
        command: str | None = None,
        servers: str | Path | None = None,
    ) -> ExecutionStatus:
        """Bring up every valid agent of ``folder`` as one fleet (detached). ATOLL's server
        settings (``servers``, or the folder's deployment_servers.json) give the first port
        and the default ``max_agents``."""
        from shipyard.agents import discover, fleet_spec, folder_key, server_settings
        from shipyard.operations import agent_names

        root = Path(folder).resolve()
        found = discover(root, command=command, servers=_path(servers))
        settings = server_settings(root, _path(servers))
        limit = max_agents if max_agents is not None else settings.max_agents
        text = fleet_spec(root, found, max_agents=limit, base_port=settings.base_port)
        # Under the folder's lock (the one deploys by name take), so two deploys at once
        # cannot both find nothing running and both start the folder's agents.
        with agent_names.folder_lock(self, root):
            agent_names.refuse_if_any_runs_by_name(self, root, found)  # else an agent twice
            agent_names.refuse_if_folder_deployed(self, root)
            # Named by the folder's resolved path: two folders of one base name once shared
            # a spec (and a fleet name), so `agents status` of one showed the other's fleet.
            spec = self.workspace.home / "agents" / f"{folder_key(root)}.yaml"
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(text, encoding="utf-8")
            status = self.run(spec, detach=True)
        return self.wait_healthy(status.id) if wait else status

    def agents_fleet(self: Core, folder: str | Path, *, active: bool = True) -> str:
        """The (running) fleet deployed from ``folder``."""
        from shipyard.agents import folder_fleet_name

        name = folder_fleet_name(Path(folder).resolve())
        for summary in self.list_executions(active_only=active, name=name, limit=1):
            return summary.id
        raise ExecutionNotFound(
            f"no agents of {folder} are deployed", hint=f"shipyard agents deploy {folder}"
        )


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _service(ops: Core, execution_id: str, service: str, action: str) -> UnitStatus:
    from shipyard.operations.controlling import service_action

    status = ops.status(execution_id)
    socket = ops.workspace.run_dir(status.id).control
    look = ops._looker(status.id)
    return service_action(socket, status, service, action, look=look, clock=ops.clock)
