"""The node managers' routes (issue 14 §2), the WebSocket ``/ws/managers``, and the offline
sweep.

- A manager (its manager token, ``POST /groups/{g}/managers``): ``POST /api/v1/managers``
  registers (again) → ``Registered``; ``WS /ws/managers`` (``Authorization: Bearer``; closed
  1008 when the token is not a live manager token) carries the protocol of
  :mod:`shipyard.coordinator.managerprotocol`; ``POST /api/v1/managers/messages`` answers any
  request of it over HTTP (the fallback): the reply as the body, an ``error`` reply with its
  status as the HTTP status.
- Users: ``GET /api/v1/managers`` (the caller's groups, Read; ``group``, ``state``, ``tag``
  filters), ``GET /api/v1/managers/{uuid}`` (with its recent events), ``POST
  /api/v1/managers/{uuid}/shutdown`` (Admin of its group, or a server admin). A suite's
  managers (Write in the suite's group to change): ``GET /api/v1/suites/{uuid}/managers``,
  ``POST …/managers/refresh`` (tag-matched rows made what the tags say now), ``POST
  …/managers`` ``{managers: [uuid]}`` (named: only they serve the suite), ``DELETE
  …/managers`` or ``POST …/managers/remove`` (the same body).
- The sweep: every ``[coordinator] manager_sweep`` seconds, managers silent for
  ``manager_offline`` seconds (default 120) are marked offline and their tasks requeued.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from shipyard.coordinator import managerprotocol as mp
from shipyard.coordinator.auth import Credentials, Principal, User
from shipyard.coordinator.authroutes import NewPrincipal, PrincipalToken
from shipyard.coordinator.httperrors import Forbidden
from shipyard.coordinator.managerchannel import Channel, Figures, Hub, StateFigures, serve_socket
from shipyard.coordinator.managerdecisions import heartbeat_every, sweep_every
from shipyard.coordinator.managers import Manager
from shipyard.coordinator.serving import Coordinator, settings_number
from shipyard.coordinator.suiteroutes import SuiteManagerOut
from shipyard.coordinator.suites import Suite
from shipyard.coordinator.tokens import Kind, Role
from shipyard.errors import CoordinatorError, DatabaseUnavailable, NotFound

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from shipyard.coordinator.suiteroutes import GroupAccess
    from shipyard.server.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
WEBSOCKET = "/ws/managers"
MAX_PAGE = 100
#: The close code of a refused socket (RFC 6455: policy violation).
POLICY = 1008


class ManagerRegistered(mp.Registered):
    """``managerprotocol.Registered`` under a name of its own in the OpenAPI document (the
    worker routes have a ``Registered`` too)."""


#: The manager channel's replies, for the OpenAPI document of ``POST /managers/messages``
#: (its response model is not declared: three of the protocol's names are the worker routes'
#: too, and FastAPI would rename both).
_REPLIES = {
    "description": "One reply of managerprotocol: heartbeat_ack, assigned, tasks, held, "
    "reported or ack. A refusal is an error reply {type: error, id, status, msg, hint} "
    "with its status as the HTTP status.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


class ManagerOut(BaseModel):
    uuid: str
    group: str
    hostname: str
    tags: list[str]
    labels: dict[str, Any]
    cpus: int
    state: str
    suite_uuid: str | None
    metrics: dict[str, Any]
    shutdown: str | None
    created_at: str
    last_heartbeat: str
    connected: bool


class EventOut(BaseModel):
    suite_uuid: str
    kind: str
    ok: bool
    exit_status: int | None
    seconds: float | None
    output: str
    created_at: str


class ManagerDetail(ManagerOut):
    events: list[EventOut] = Field(description="Its most recent hooks, give-ups, releases.")


class ManagerList(BaseModel):
    count: int = Field(description="How many match, over every page.")
    managers: list[ManagerOut]


class ShutdownIn(BaseModel):
    force: bool = Field(default=False, description="Kill its workers now (else graceful).")


class ShutdownOut(BaseModel):
    uuid: str
    shutdown: str


class Named(BaseModel):
    managers: list[str] = Field(min_length=1, max_length=1000)


class ManagersAdded(BaseModel):
    added: list[str]
    refused: dict[str, str] = Field(description="Manager id → why it was not added.")


class Removed(BaseModel):
    removed: list[str]


class Refreshed(BaseModel):
    added: list[str]
    removed: list[str]
    total: int = Field(description="The suite's assigned managers after.")


class ManagerRoutes:
    """The managers' side of one served coordinator."""

    def __init__(
        self,
        coordinator: Coordinator,
        settings: "Settings",
        groups: "GroupAccess",
        registry: "CollectorRegistry | None",
    ) -> None:
        table = dict(settings.coordinator)
        offline = settings_number(table, "manager_offline", mp.OFFLINE_AFTER, 0.01)
        given = table.get("manager_sweep")
        self.sweep_every = sweep_every(
            offline, None if given is None else settings_number(table, "manager_sweep", 0, 0.01)
        )
        self.coordinator = coordinator
        self.groups = groups
        self.channel = Channel(coordinator, offline_after=offline, figures=Figures(registry))
        self.hub = Hub(self.channel)
        if registry is not None:
            registry.register(StateFigures(self.channel.stores))

    def registered(self, manager: str, group: str) -> "ManagerRegistered":
        offline = self.channel.offline_after
        return ManagerRegistered(
            manager_id=manager, group=group, websocket_url=WEBSOCKET,
            heartbeat=heartbeat_every(offline), offline_after=offline,
            lease=self.channel.lease,
        )  # fmt: skip

    def sweep_once(self) -> None:
        self.channel.sweep_once()

    async def sweeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep_once)
            except DatabaseUnavailable as away:
                log.warning("manager sweep failed: %s", away.message,
                            extra={"action": "sweep_failed"})  # fmt: skip
            except Exception:
                log.warning("manager sweep failed", exc_info=True,
                            extra={"action": "sweep_failed"})  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sweep_every)


def router(
    coordinator: Coordinator,
    settings: "Settings",
    groups: "GroupAccess",
    registry: "CollectorRegistry | None" = None,
    *,
    sweep: bool = True,
) -> APIRouter:
    managers = ManagerRoutes(coordinator, settings, groups, registry)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if sweep:
            managers.hub.start(asyncio.get_running_loop())
            task = asyncio.create_task(managers.sweeping(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await asyncio.to_thread(managers.hub.stop)
            managers.channel.stores.close()

    routes = APIRouter(lifespan=lifespan)
    _manager_routes(routes, managers)
    _socket_route(routes, managers)
    _user_routes(routes, managers)
    _suite_routes(routes, managers)
    setattr(coordinator, "managers", managers)  # noqa: B010 (suites.cancel's pushes find it)
    return routes


# --- helpers ---------------------------------------------------------------------------------


def _group_id(coordinator: Coordinator, name: str) -> int:
    from sqlalchemy import text

    with coordinator.engine.connect() as connection:
        found = connection.execute(
            text("SELECT id FROM groups WHERE name = :name"), {"name": name}
        ).scalar()
    if found is None:
        raise Forbidden(f"the manager's group {name!r} no longer exists",
                        hint="ask a member of a group for a new manager token")  # fmt: skip
    return int(found)


def _group_names(coordinator: Coordinator, ids: set[int]) -> dict[int, str]:
    from sqlalchemy import bindparam, text

    if not ids:
        return {}
    with coordinator.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, name FROM groups WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": sorted(ids)},
        ).all()
    return {int(group): str(name) for group, name in rows}


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _out(manager: Manager, groups: dict[int, str]) -> dict[str, Any]:
    return dict(
        uuid=manager.id, group=groups.get(manager.group_id, str(manager.group_id)),
        hostname=manager.hostname, tags=manager.tags, labels=manager.labels, cpus=manager.cpus,
        state=manager.state, suite_uuid=manager.suite_uuid, metrics=manager.metrics,
        shutdown=manager.shutdown, created_at=manager.created_at.isoformat(),
        last_heartbeat=manager.last_heartbeat.isoformat(),
        connected=manager.connected_at is not None,
    )  # fmt: skip


def _manager_for(managers: ManagerRoutes, user: User, uuid: str, needed: Role) -> Manager:
    """The manager, when ``user`` holds ``needed`` in its group (404 without even Read)."""
    with managers.channel.stores.borrow() as store:
        found = store.get(uuid)
    held = {group: (name, role) for name, (group, role) in
            managers.groups.memberships(managers.coordinator, user).items()}  # fmt: skip
    if found.group_id not in held:
        raise NotFound(f"no manager {uuid}", hint="`shipyard managers list` shows yours")
    name, role = held[found.group_id]
    if role < needed:
        raise Forbidden(f"{user.name} is {role.label} in group {name}; this needs {needed.label}",
                        hint="ask an Admin of the group")  # fmt: skip
    return found


def _suite_for(managers: ManagerRoutes, user: User, uuid: str, needed: Role) -> Suite:
    from shipyard.coordinator import suiteroutes

    suites: suiteroutes.SuiteRoutes = getattr(managers.coordinator, "suites")  # noqa: B009
    return suiteroutes._suite_for(suites, user, uuid, needed)


# --- the manager's routes ----------------------------------------------------------------------


def _manager_routes(routes: APIRouter, managers: ManagerRoutes) -> None:
    coordinator = managers.coordinator
    Manager_ = Annotated[Principal, Depends(coordinator.auth.current_manager)]
    channel = managers.channel

    @routes.post(f"{PREFIX}/managers", tags=["managers"])
    def register(body: mp.RegisterBody, manager: Manager_) -> ManagerRegistered:
        """Register (again) under the token's id: its tags, labels, host name and CPUs. A
        suite it had is kept; an offline or gone manager is idle again."""
        group_id = _group_id(coordinator, manager.group)
        with channel.stores.borrow() as store:
            made = store.register(str(manager.id), group_id, tags=body.tags, labels=body.labels,
                                  hostname=body.hostname, cpus=body.cpus)  # fmt: skip
        return managers.registered(made, manager.group)

    @routes.post(f"{PREFIX}/managers/refresh-token", tags=["managers"])
    def refresh_token(
        manager: Manager_, credentials: Credentials, body: NewPrincipal | None = None
    ) -> PrincipalToken:
        """A new token for the calling manager (same id, same group) that expires
        ``lifetime_seconds`` from now (default 30 days). It carries the same signature
        version, so the old token keeps working until its own expiry; revoking the manager
        (``DELETE /groups/{g}/principals/{id}``) ends both."""
        claims = coordinator.auth.claims(credentials, Kind.MANAGER)
        lifetime = (body or NewPrincipal()).lifetime_seconds
        issued = coordinator.auth.issue(str(manager.id), Kind.MANAGER, claims.signature, lifetime)
        return PrincipalToken(id=str(manager.id), kind="manager", group=manager.group,
                              token=issued.token, expires_at=issued.expires)  # fmt: skip

    @routes.post(
        f"{PREFIX}/managers/messages", tags=["managers"], response_model=None,
        responses={200: _REPLIES},
    )  # fmt: skip
    def message(
        request: Annotated[mp.Request, Body(description="One request of managerprotocol.")],
        manager: Manager_,
    ) -> JSONResponse:
        """The WebSocket's requests over HTTP (the fallback): the same reply; an ``error``
        reply is answered with its status."""
        reply = channel.handle(str(manager.id), manager.group, request)
        status = reply.status if isinstance(reply, mp.Error) else 200
        return JSONResponse(reply.model_dump(mode="json"), status_code=status)


def _socket_route(routes: APIRouter, managers: ManagerRoutes) -> None:
    coordinator = managers.coordinator
    channel = managers.channel

    @routes.websocket(WEBSOCKET)
    async def socket(websocket: WebSocket) -> None:
        header = websocket.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        credentials = (
            HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        try:
            manager = await run_in_threadpool(coordinator.auth.current_manager, credentials)
        except CoordinatorError as refused:
            # Accepted, then closed: a close code (1008, with the reason) reaches the client;
            # a refusal before accept is only an HTTP 403 to it.
            await websocket.accept()
            await websocket.close(code=POLICY, reason=refused.message[:120])
            return
        await websocket.accept()
        ident = str(manager.id)
        with contextlib.suppress(CoordinatorError):
            await run_in_threadpool(_connected, channel, ident, True)

        async def receive() -> str | None:
            from starlette.websockets import WebSocketDisconnect

            try:
                return await websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return None

        try:
            await serve_socket(managers.hub, ident, manager.group, receive, websocket.send_text)
        finally:
            with contextlib.suppress(Exception):
                await run_in_threadpool(_connected, channel, ident, False)


def _connected(channel: Channel, manager: str, now: bool) -> None:
    with channel.stores.borrow() as store:
        if now:
            store.connected(manager)
            return
        gone = store.disconnected(manager)
    if gone:  # it was asked to shut down and left: what it still held goes back now
        with channel.coordinator.queues.borrow() as queue:
            queue.recover(release=manager)
        log.info("manager %s shut down and left", manager, extra={"action": "manager_gone"})


# --- the users' routes -------------------------------------------------------------------------


def _user_routes(routes: APIRouter, managers: ManagerRoutes) -> None:
    coordinator = managers.coordinator
    Caller = Annotated[User, Depends(coordinator.auth.current_user)]

    @routes.get(f"{PREFIX}/managers", tags=["managers"])
    def list_managers(
        user: Caller,
        group: Annotated[str | None, Query(max_length=200)] = None,
        state: Annotated[str | None, Query(description=", ".join(mp.MANAGER_STATES))] = None,
        tag: Annotated[list[str] | None, Query(description="Managers with all these tags.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    ) -> ManagerList:
        """The managers of the caller's groups (Read), newest first."""
        readable = managers.groups.group_ids(coordinator, user, Role.READ)
        if group is not None:
            readable = {group: readable[group]} if group in readable else {}
        with managers.channel.stores.borrow() as store:
            count, rows = store.matching(list(readable.values()), state=state, tags=tag or [],
                                     limit=limit, offset=offset)  # fmt: skip
        names = {group_id: name for name, group_id in readable.items()}
        return ManagerList(count=count, managers=[ManagerOut(**_out(m, names)) for m in rows])

    @routes.get(f"{PREFIX}/managers/{{uuid}}", tags=["managers"])
    def get(uuid: str, user: Caller) -> ManagerDetail:
        """One manager (Read in its group), with its most recent events."""
        found = _manager_for(managers, user, uuid, Role.READ)
        with managers.channel.stores.borrow() as store:
            events = store.events(found.id)
        names = _group_names(coordinator, {found.group_id})
        return ManagerDetail(
            **_out(found, names),
            events=[EventOut(suite_uuid=e.suite_uuid, kind=e.kind, ok=e.ok,
                             exit_status=e.exit_status, seconds=e.seconds, output=e.output,
                             created_at=e.created_at.isoformat()) for e in events],
        )  # fmt: skip

    @routes.post(f"{PREFIX}/managers/{{uuid}}/shutdown", tags=["managers"])
    def shutdown(uuid: str, user: Caller, body: ShutdownIn | None = None) -> ShutdownOut:
        """Ask the manager to stop (Admin of its group, or a server admin): pushed now, and in
        each of its heartbeats' answers until it registers again."""
        chosen = body or ShutdownIn()
        found = _manager_for(managers, user, uuid, Role.ADMIN)
        with managers.channel.stores.borrow() as store:
            store.ask_shutdown(found.id, chosen.force)
        return ShutdownOut(uuid=found.id, shutdown="force" if chosen.force else "graceful")


def _suite_routes(routes: APIRouter, managers: ManagerRoutes) -> None:
    coordinator = managers.coordinator
    Caller = Annotated[User, Depends(coordinator.auth.current_user)]
    stores = managers.channel.stores

    @routes.get(f"{PREFIX}/suites/{{uuid}}/managers", tags=["suites"])
    def of_suite(uuid: str, user: Caller) -> list[SuiteManagerOut]:
        """The suite's managers: assigned to it, or serving it now (Read)."""
        suite = _suite_for(managers, user, uuid, Role.READ)
        with stores.borrow() as store:
            rows = store.of_suite(suite.id)
        return [SuiteManagerOut(uuid=r.id, hostname=r.hostname, state=r.state,
                                selection=r.selection, serving=bool(r.serving))
                for r in rows]  # fmt: skip

    @routes.post(f"{PREFIX}/suites/{{uuid}}/managers/refresh", tags=["suites"])
    def refresh(uuid: str, user: Caller) -> Refreshed:
        """Make the suite's tag-matched managers what the managers' tags say now (Write); the
        managers a user named are kept."""
        suite = _suite_for(managers, user, uuid, Role.WRITE)
        with stores.borrow() as store:
            change, total = store.refresh(suite)
        return Refreshed(added=change.added, removed=change.removed, total=total)

    @routes.post(f"{PREFIX}/suites/{{uuid}}/managers", tags=["suites"])
    def assign(uuid: str, body: Named, user: Caller) -> ManagersAdded:
        """Name managers for the suite (Write): from then on only the named managers serve
        it. Each manager not of the suite's group is refused with its reason (200 still)."""
        suite = _suite_for(managers, user, uuid, Role.WRITE)
        with stores.borrow() as store:
            done = store.assign(suite, body.managers)
        return ManagersAdded(added=done.added, refused=done.refused)

    def _remove(uuid: str, body: Named, user: User) -> Removed:
        suite = _suite_for(managers, user, uuid, Role.WRITE)
        with stores.borrow() as store:
            return Removed(removed=store.unassign(suite, body.managers))

    @routes.delete(f"{PREFIX}/suites/{{uuid}}/managers", tags=["suites"])
    def unassign(uuid: str, body: Named, user: Caller) -> Removed:
        """Take managers off the suite's list (Write); a suite with no named manager left
        goes to the managers whose tags match."""
        return _remove(uuid, body, user)

    @routes.post(f"{PREFIX}/suites/{{uuid}}/managers/remove", tags=["suites"])
    def unassign_post(uuid: str, body: Named, user: Caller) -> Removed:
        """``DELETE /suites/{uuid}/managers`` for clients that send no body with DELETE."""
        return _remove(uuid, body, user)
