"""The suite routes (issue 14 §1), under ``/api/v1`` beside the task routes, and the sweep.

- ``POST /suites`` (Write in its group) → 201 ``{uuid, state}``; ``GET /suites`` (the caller's
  groups; ``group``, ``state``, ``tag`` filters; newest first; paged); ``GET /suites/{uuid}``;
  ``POST /suites/{uuid}/cancel`` (``running: true`` cancels its running tasks too);
  ``POST /suites/{uuid}/close``.
- Tasks join a suite with ``suite_uuid`` on ``POST /tasks`` or ``/tasks/batch``
  (:func:`joined`): they take its tags (added to their own) and its priority (unless they give
  one); a closed suite reopens, a complete or cancelled one refuses (409).
- The sweep: a task of the server's lifespan, every ``[coordinator] suite_sweep`` seconds
  (default 10), closes suites with no new task for ``suite_idle_close`` seconds (default 180)
  and completes closed suites with nothing queued or running. Several servers may sweep one
  database: each write re-checks its condition in SQL.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from shipyard.coordinator.auth import User
from shipyard.coordinator.httperrors import Forbidden
from shipyard.coordinator.serving import Coordinator, Pool, settings_number
from shipyard.coordinator.suitemodels import SuiteIn
from shipyard.coordinator.suites import Joined, NewSuite, Suite, SuiteStore
from shipyard.coordinator.suitestate import IDLE_CLOSE, SUITE_STATES, SWEEP_EVERY
from shipyard.coordinator.tokens import Role
from shipyard.errors import BadRequest, DatabaseUnavailable, NotFound

if TYPE_CHECKING:
    from shipyard.server.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
MAX_PAGE = 100


class Created(BaseModel):
    uuid: str
    state: str


class Counters(BaseModel):
    total: int
    pending: int = Field(description="Queued.")
    running: int
    done: int = Field(description="Succeeded.")
    failed: int
    cancelled: int


class SuiteManagerOut(BaseModel):
    uuid: str
    hostname: str
    state: str
    selection: str | None = Field(description="tag_matched, user_specified, or null.")
    serving: bool = Field(description="The suite is the manager's now.")


class SuiteOut(BaseModel):
    uuid: str
    name: str | None
    description: str | None
    group: str
    creator: str
    tags: list[str]
    labels: dict[str, Any]
    priority: int
    worker_schedule: dict[str, Any]
    env_preparation: dict[str, Any] | None
    env_cleanup: dict[str, Any] | None
    state: str
    reason: str | None
    counters: Counters
    created_at: str
    updated_at: str
    last_task_at: str | None
    closed_at: str | None
    completed_at: str | None
    managers: list[SuiteManagerOut] | None = Field(
        default=None,
        description="GET /suites/{uuid} only: its node managers, assigned to it or serving it.",
    )


class SuiteList(BaseModel):
    count: int = Field(description="How many match, over every page.")
    suites: list[SuiteOut]


class CancelIn(BaseModel):
    running: bool = Field(default=False, description="Cancel its running tasks too.")
    reason: str | None = Field(default=None, max_length=1000)


class CancelOut(BaseModel):
    cancelled_tasks: int
    suite: SuiteOut


@dataclass(frozen=True)
class GroupAccess:
    """The task routes' group checks, handed in by them (routes.py imports this module; an
    import back would be a cycle): the user's memberships, a group's id when the user holds a
    role there (else 404/403), and the groups where the user holds a role."""

    memberships: Callable[[Coordinator, User], dict[str, tuple[int, Role]]]
    group_id: Callable[[Coordinator, User, str, Role], int]
    group_ids: Callable[[Coordinator, User, Role], dict[str, int]]


class SuiteRoutes:
    """The suites' side of one served coordinator: its connections and its sweep settings."""

    def __init__(self, coordinator: Coordinator, settings: "Settings", groups: GroupAccess) -> None:
        self.groups = groups
        table = dict(settings.coordinator)
        self.idle_close = settings_number(table, "suite_idle_close", IDLE_CLOSE, 0)
        self.sweep_every = settings_number(table, "suite_sweep", SWEEP_EVERY, 0.01)
        self.coordinator = coordinator
        self.stores: Pool[SuiteStore] = Pool(lambda: SuiteStore(coordinator.url))

    def sweep_once(self) -> None:
        with self.stores.borrow() as store:
            swept = store.sweep(self.idle_close)
        if swept.closed or swept.completed:
            log.info(
                "suites swept: %d closed, %d complete", len(swept.closed), len(swept.completed),
                extra={"action": "suites_swept"},
            )  # fmt: skip

    async def sweeping(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop``; a failed sweep (PostgreSQL away) is logged and tried again."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep_once)
            except DatabaseUnavailable as away:  # expected while PostgreSQL restarts: one line
                log.warning(
                    "suite sweep failed: %s", away.message, extra={"action": "sweep_failed"}
                )
            except Exception:  # the next sweep tries again; the server goes on
                log.warning("suite sweep failed", exc_info=True, extra={"action": "sweep_failed"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sweep_every)


def router(
    coordinator: Coordinator, settings: "Settings", groups: GroupAccess, *, sweep: bool = True
) -> APIRouter:
    suites = SuiteRoutes(coordinator, settings, groups)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(suites.sweeping(stop)) if sweep else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            suites.stores.close()

    routes = APIRouter(prefix=PREFIX, tags=["suites"], lifespan=lifespan)
    _create_routes(routes, suites)
    _read_routes(routes, suites)
    _change_routes(routes, suites)
    setattr(coordinator, "suites", suites)  # noqa: B010 (joined() finds it there)
    return routes


# --- helpers ---------------------------------------------------------------------------------


def _names(suites: SuiteRoutes, rows: list[Suite]) -> tuple[dict[int, str], dict[int, str]]:
    from sqlalchemy import bindparam, text

    if not rows:
        return {}, {}
    found: list[dict[int, str]] = []
    wanted = (("groups", {s.group_id for s in rows}), ("users", {s.creator_id for s in rows}))
    for table, ids in wanted:
        with suites.coordinator.engine.connect() as connection:
            found.append(
                dict(
                    connection.execute(  # type: ignore[arg-type]
                        text(f"SELECT id, name FROM {table} WHERE id IN :ids").bindparams(  # noqa: S608
                            bindparam("ids", expanding=True)
                        ),
                        {"ids": sorted(ids)},
                    ).all()
                )
            )
    return found[0], found[1]  # fmt: skip


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _out(suite: Suite, groups: dict[int, str], users: dict[int, str]) -> SuiteOut:
    return SuiteOut(
        uuid=suite.uuid, name=suite.name, description=suite.description,
        group=groups.get(suite.group_id, str(suite.group_id)),
        creator=users.get(suite.creator_id, str(suite.creator_id)), tags=suite.tags,
        labels=suite.labels, priority=suite.priority, worker_schedule=suite.worker_schedule,
        env_preparation=suite.env_preparation, env_cleanup=suite.env_cleanup, state=suite.state,
        reason=suite.reason,
        counters=Counters(total=suite.total, pending=suite.pending, running=suite.running,
                          done=suite.done, failed=suite.failed, cancelled=suite.cancelled),
        created_at=suite.created_at.isoformat(), updated_at=suite.updated_at.isoformat(),
        last_task_at=_iso(suite.last_task_at), closed_at=_iso(suite.closed_at),
        completed_at=_iso(suite.completed_at),
    )  # fmt: skip


def _described(suites: SuiteRoutes, rows: list[Suite]) -> list[SuiteOut]:
    groups, users = _names(suites, rows)
    return [_out(suite, groups, users) for suite in rows]


def _suite_for(suites: SuiteRoutes, user: User, uuid: str, needed: Role) -> Suite:
    """The suite, when ``user`` holds ``needed`` in its group (404 without even Read)."""
    with suites.stores.borrow() as store:
        suite = store.get(uuid)
    held = {group: (name, role) for name, (group, role) in
            suites.groups.memberships(suites.coordinator, user).items()}  # fmt: skip
    if suite.group_id not in held:
        raise NotFound(f"no suite {uuid}", hint="`shipyard suite list` shows the suites you see")
    name, role = held[suite.group_id]
    if role < needed:
        raise Forbidden(f"{user.name} is {role.label} in group {name}; this needs {needed.label}")
    return suite


def joined(coordinator: Coordinator, uuid: str, group_id: int, group: str) -> Joined:
    """The suite a submitted task joins: it must be of the task's group and take tasks."""
    suites: SuiteRoutes = getattr(coordinator, "suites")  # noqa: B009
    with suites.stores.borrow() as store:
        found = store.joined(uuid)
    if found.group_id != group_id:
        raise BadRequest(
            f"suite {uuid} is not of group {group!r}",
            hint="give the task the suite's group (`shipyard suite status` shows it)",
        )
    return found


# --- the routes --------------------------------------------------------------------------------


def _create_routes(routes: APIRouter, suites: SuiteRoutes) -> None:
    Caller = Annotated[User, Depends(suites.coordinator.auth.current_user)]

    @routes.post("/suites", status_code=201)
    def create(body: SuiteIn, user: Caller) -> Created:
        """Create a suite (Write in its group); it starts Open."""
        group_id = suites.groups.group_id(suites.coordinator, user, body.group, Role.WRITE)
        new = NewSuite(
            group_id=group_id, creator_id=user.id, name=body.name, description=body.description,
            tags=body.tags, labels=body.labels, priority=body.priority,
            worker_schedule=body.worker_schedule.model_dump(),
            env_preparation=body.env_preparation.model_dump() if body.env_preparation else None,
            env_cleanup=body.env_cleanup.model_dump() if body.env_cleanup else None,
        )  # fmt: skip
        with suites.stores.borrow() as store:
            return Created(uuid=store.create(new), state="open")


def _read_routes(routes: APIRouter, suites: SuiteRoutes) -> None:
    Caller = Annotated[User, Depends(suites.coordinator.auth.current_user)]

    @routes.get("/suites")
    def list_suites(
        user: Caller,
        group: Annotated[str | None, Query(max_length=200)] = None,
        state: Annotated[str | None, Query(description=", ".join(SUITE_STATES))] = None,
        tag: Annotated[list[str] | None, Query(description="Suites with all these tags.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    ) -> SuiteList:
        """The suites of the caller's groups (Read), newest first."""
        if state is not None and state not in SUITE_STATES:
            raise BadRequest(f"state {state!r} is none of {', '.join(SUITE_STATES)}",
                             hint="give one of those or leave state out")  # fmt: skip
        readable = suites.groups.group_ids(suites.coordinator, user, Role.READ)
        if group is not None:
            readable = {group: readable[group]} if group in readable else {}
        with suites.stores.borrow() as store:
            count, rows = store.list(list(readable.values()), state=state, tags=tag or [],
                                     limit=limit, offset=offset)  # fmt: skip
        return SuiteList(count=count, suites=_described(suites, rows))

    @routes.get("/suites/{uuid}")
    def get(uuid: str, user: Caller) -> SuiteOut:
        """One suite with its counters (Read in its group) and its node managers."""
        suite = _suite_for(suites, user, uuid, Role.READ)
        out = _described(suites, [suite])[0]
        managers = getattr(suites.coordinator, "managers", None)  # managerroutes.ManagerRoutes
        if managers is not None:
            with managers.channel.stores.borrow() as store:
                out.managers = [
                    SuiteManagerOut(uuid=r.id, hostname=r.hostname, state=r.state,
                                    selection=r.selection, serving=bool(r.serving))
                    for r in store.of_suite(suite.id)
                ]  # fmt: skip
        return out


def _change_routes(routes: APIRouter, suites: SuiteRoutes) -> None:
    Caller = Annotated[User, Depends(suites.coordinator.auth.current_user)]

    @routes.post("/suites/{uuid}/cancel")
    def cancel(uuid: str, user: Caller, body: CancelIn | None = None) -> CancelOut:
        """Cancel the suite and its queued tasks; with ``running`` its running ones too (their
        workers' reports are then refused). Cancelling a cancelled suite is allowed."""
        chosen = body or CancelIn()
        _suite_for(suites, user, uuid, Role.WRITE)
        with suites.stores.borrow() as store:
            count, suite = store.cancel(uuid, running=chosen.running, reason=chosen.reason)
        return CancelOut(cancelled_tasks=count, suite=_described(suites, [suite])[0])

    @routes.post("/suites/{uuid}/close")
    def close(uuid: str, user: Caller) -> SuiteOut:
        """Close an open suite now (as its idle time would); Complete at once when it has
        nothing queued or running. A task submitted later reopens it. 409 once final."""
        _suite_for(suites, user, uuid, Role.WRITE)
        with suites.stores.borrow() as store:
            return _described(suites, [store.close_suite(uuid)])[0]
