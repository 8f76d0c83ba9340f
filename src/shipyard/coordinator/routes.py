"""The coordinator served (issue 13 §3–§5): ``routers(settings)`` gives the routers that
``shipyard serve --db postgresql://…`` mounts under ``/api/v1`` — the users/groups routes of
:mod:`shipyard.coordinator.authroutes`, the task routes and the worker routes below.

- Users (a user token; Read on the task's group to look, Write to change):
  ``POST /tasks`` one, ``POST /tasks/batch`` several (accepted and refused per task),
  ``POST /tasks/query`` (filters; ``count`` only), ``GET /tasks/{uuid}``, ``PUT /tasks/{uuid}``
  (409 once started), ``POST /tasks/{uuid}/cancel``, ``POST /tasks/cancel`` (a list or a filter),
  ``GET /tasks/{uuid}/result``, ``GET /tasks/{uuid}/artifacts[/{name}]``.
- Workers (a worker token, nothing else): ``POST /workers/register``, ``…/heartbeat``,
  ``…/fetch`` (long-polls up to ``wait`` seconds, woken by LISTEN/NOTIFY), ``…/report`` (the
  attempt number fetched with), ``…/reports`` (several at once, each fenced by its attempt,
  one result each), ``…/leave``; ``PUT /tasks/{uuid}/artifacts/{name}`` (the
  task's lease holder; the body streamed to a file under the server's home, size-limited).

No ``from __future__ import annotations``: FastAPI reads the routes' annotations, which name
the ``auth`` of the enclosing factory (as in authroutes).
"""

import contextlib
import os
import uuid as uuidlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError

from shipyard.coordinator import authroutes
from shipyard.coordinator.auth import Auth, Principal, User
from shipyard.coordinator.decisions import (
    MAX_LIMIT,
    TERMINAL,
    TaskFilter,
    TaskSpec,
    Watch,
    checked_uuid,
)
from shipyard.coordinator.httperrors import Forbidden
from shipyard.coordinator.serving import (
    MAX_ARTIFACT,
    MAX_WAIT,
    Coordinator,
    install_metrics,
    settings_number,
)
from shipyard.coordinator.suites import Joined
from shipyard.coordinator.tasks import LEASE, POLL, Report, Task
from shipyard.coordinator.tokens import Role
from shipyard.errors import BadRequest, CoordinatorError, NotFound

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from shipyard.coordinator.suiteroutes import GroupAccess
    from shipyard.server.settings import Settings

PREFIX = "/api/v1"
#: The most tasks one batch may hold (a bigger one is several requests).
MAX_BATCH = 10_000
ARTIFACT_FOLDER = "coordinator-artifacts"


class TooLarge(CoordinatorError):
    http_status = 413


class StorageFull(CoordinatorError):
    """The artifact folder cannot take the file (disk full, no permission): the server's
    fault, said as such (507 Insufficient Storage), never a 500."""

    http_status = 507


# --- bodies and answers --------------------------------------------------------------------------


class WatchIn(BaseModel):
    upstream: str = Field(description="The uuid of the task to wait for.")
    state: Literal["started", "succeeded", "failed", "ended"] = "succeeded"


class TaskIn(BaseModel):
    group: str = Field(max_length=200)
    command: list[str] = Field(description="argv; no shell.")
    tags: list[str] = []
    labels: dict[str, Any] = {}
    env: dict[str, str] = {}
    priority: int = 0
    timeout: float | None = None
    max_attempts: int = 3
    local_path: str | None = None
    watch: WatchIn | None = None
    key: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Your own name for the task, unique in its group: a submit sent again "
        "(its answer lost) is refused for it with 409 and the task's uuid, not queued twice.",
    )  # fmt: skip
    suite_uuid: str | None = Field(
        default=None, max_length=100,
        description="The suite the task joins (of the task's group): it takes the suite's tags "
        "and priority (unless it gives one); a closed suite reopens; 409 once it is complete or "
        "cancelled.",
    )  # fmt: skip


class Batch(BaseModel):
    tasks: list[dict[str, Any]] = Field(max_length=MAX_BATCH)


class Accepted(BaseModel):
    index: int
    uuid: str


class RefusedTask(BaseModel):
    index: int
    msg: str
    status: int = Field(default=400, description="409: its key is taken (see uuid); else 400.")
    uuid: str | None = Field(default=None, description="The task that already has its key.")


class BatchAnswer(BaseModel):
    accepted: list[Accepted]
    refused: list[RefusedTask]


class TaskOut(BaseModel):
    uuid: str
    group: str
    creator: str
    state: str
    priority: int
    tags: list[str]
    labels: dict[str, Any]
    command: list[str]
    env: dict[str, str]
    local_path: str | None
    timeout: float | None
    max_attempts: int
    attempts: int
    watch_state: str | None
    lease_owner: str | None
    created_at: str
    started_at: str | None
    ended_at: str | None
    exit_status: int | None
    message: str | None
    key: str | None = None
    suite_uuid: str | None = Field(default=None, description="Its suite's uuid; null: a lone task.")


class Query(BaseModel):
    group: str | None = Field(default=None, description="Default: every group of yours.")
    creators: list[str] | None = None
    states: list[str] | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    exit_status: str | int | None = Field(default=None, description='">=1", "!=0", 2…')
    priority: str | int | None = None
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0)
    count: bool = Field(default=False, description="Only the count.")


class QueryAnswer(BaseModel):
    count: int
    tasks: list[TaskOut]


class Edit(BaseModel):
    command: list[str] | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    env: dict[str, str] | None = None
    priority: int | None = None
    timeout: float | None = None
    max_attempts: int | None = None
    local_path: str | None = None


class CancelBody(BaseModel):
    uuids: list[str] | None = Field(default=None, max_length=MAX_LIMIT)
    group: str | None = Field(default=None, description="With a filter: the group (needed).")
    states: list[str] | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    priority: str | int | None = None


class Cancelled(BaseModel):
    cancelled: list[str]
    refused: dict[str, str]


class AttemptOut(BaseModel):
    number: int
    worker_id: str
    outcome: str
    exit_status: int | None
    started_at: str
    ended_at: str | None


class Result(BaseModel):
    uuid: str
    state: str
    exit_status: int | None
    output_tail: str | None
    result: Any
    message: str | None
    attempts: list[AttemptOut]


class ArtifactOut(BaseModel):
    name: str
    size: int
    created_at: str


class Register(BaseModel):
    tags: list[str] = []


class Registered(BaseModel):
    worker_id: str
    group: str
    lease: float = Field(
        description="Seconds a fetched task stays the worker's without a "
        "heartbeat: heartbeat well within it (shipyard worker: a third)."
    )


class Held(BaseModel):
    held: list[str] = Field(description="Tasks still this worker's; drop any other.")


class HeartbeatBody(BaseModel):
    holding: list[uuidlib.UUID] | None = Field(
        default=None,
        max_length=MAX_LIMIT,
        description="The tasks the worker knows it has (claimed, running, or awaiting their "
        "report): only their leases are extended, so a task whose fetch answer was lost "
        "runs out of lease and is recovered. Omitted: every running task of the worker's "
        "(a client that runs one task at a time).",
    )


class FetchBody(BaseModel):
    limit: int = Field(default=1, ge=1, le=MAX_LIMIT)
    wait: float = Field(default=0.0, ge=0.0, description="Seconds to wait for work.")


class ClaimedOut(BaseModel):
    uuid: str
    attempt: int
    command: list[str]
    env: dict[str, str]
    local_path: str | None
    timeout: float | None
    priority: int
    lease_expires: str


class Fetched(BaseModel):
    tasks: list[ClaimedOut]


class ReportBody(BaseModel):
    uuid: str
    attempt: int
    exit_status: int
    output: str | None = Field(default=None, description="Its tail is kept.")
    result: Any = None


class Reported(BaseModel):
    uuid: str
    state: str


#: The most reports one ``POST /workers/reports`` takes (a worker sends what finished within a
#: few milliseconds: far fewer).
MAX_REPORTS = 1000


class ReportsBody(BaseModel):
    reports: list[ReportBody] = Field(min_length=1, max_length=MAX_REPORTS)


class ReportedItem(BaseModel):
    uuid: str
    status: int = Field(description="200 taken; 409 its attempt no longer holds the lease; 404.")
    state: str | None = Field(default=None, description="The task's next state, when taken.")
    msg: str | None = None


class ReportsAnswer(BaseModel):
    results: list[ReportedItem] = Field(description="One per report, in the order sent.")


class Left(BaseModel):
    requeued: int


# --- the routers ---------------------------------------------------------------------------------


def routers(settings: "Settings", registry: "CollectorRegistry | None" = None) -> list[APIRouter]:
    """The auth routes and the task and worker routes over ``settings.db``."""
    from shipyard.coordinator import managerroutes, suiteroutes

    coordinator = start(settings)
    install_metrics(coordinator, registry)
    return [
        _router(coordinator),
        suiteroutes.router(coordinator, settings, _access()),
        managerroutes.router(coordinator, settings, _access(), registry),
    ]


def document_routers(settings: "Settings") -> list[APIRouter]:
    """The same routers over a database that is never asked and a throwaway signing key: the
    OpenAPI document (``shipyard serve --openapi --db …``) depends on neither, and printing it
    must not need a running PostgreSQL nor touch one."""
    from sqlalchemy import create_engine

    from shipyard.coordinator.migrate import sqlalchemy_url
    from shipyard.coordinator.tokens import generate_key_pair

    url = settings.db or "postgresql://"
    engine = create_engine(sqlalchemy_url(url))  # lazy: no connection until a query
    auth = Auth(engine, *generate_key_pair())
    storage = Path(settings.home or ".") / ARTIFACT_FOLDER
    coordinator = Coordinator(url=url, engine=engine, auth=auth, storage=storage)
    from shipyard.coordinator import managerroutes, suiteroutes

    return [
        _router(coordinator),
        suiteroutes.router(coordinator, settings, _access(), sweep=False),
        managerroutes.router(coordinator, settings, _access(), sweep=False),
    ]


def _access() -> "GroupAccess":
    """This module's group checks, for the suite routes (which may not import this module)."""
    from shipyard.coordinator.suiteroutes import GroupAccess

    return GroupAccess(_memberships, _group_id, _group_ids)


def start(settings: "Settings") -> Coordinator:
    from sqlalchemy import create_engine

    from shipyard.coordinator.migrate import sqlalchemy_url
    from shipyard.workspace import Workspace

    assert settings.db is not None
    table = dict(settings.coordinator)
    # The settings first: a wrong one is said before the database is even asked.
    limits = {
        "max_artifact": int(settings_number(table, "max_artifact_bytes", MAX_ARTIFACT, 0)),
        "max_wait": settings_number(table, "max_fetch_wait", MAX_WAIT, 0),
        "poll": settings_number(table, "fetch_poll", POLL, 0.01),
        "lease": settings_number(table, "lease", LEASE, 1),
    }
    home = settings.home or Workspace.default().home
    engine = create_engine(sqlalchemy_url(settings.db), pool_pre_ping=True)
    try:
        auth = Auth.start(engine)
    except BaseException:
        engine.dispose()
        raise
    return Coordinator(
        url=settings.db,
        engine=engine,
        auth=auth,
        storage=Path(home) / ARTIFACT_FOLDER,
        max_artifact=int(limits["max_artifact"]),
        max_wait=limits["max_wait"],
        poll=limits["poll"],
        lease=limits["lease"],
    )


def _router(coordinator: Coordinator) -> APIRouter:
    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        coordinator.close()  # the pooled connections, at the server's shutdown

    outer = APIRouter(prefix=PREFIX, lifespan=lifespan)
    outer.include_router(authroutes.router(coordinator.auth))
    tasks = APIRouter(tags=["tasks"])
    _submit_routes(tasks, coordinator)
    _read_routes(tasks, coordinator)
    _change_routes(tasks, coordinator)
    _artifact_routes(tasks, coordinator)
    outer.include_router(tasks)
    workers = APIRouter(tags=["workers"])
    _worker_routes(workers, coordinator)
    outer.include_router(workers)
    return outer


# --- groups and names ----------------------------------------------------------------------------


def _memberships(
    coordinator: Coordinator, user: User, *, fresh: bool = False
) -> dict[str, tuple[int, Role]]:
    """The user's groups: name → (id, role); every group, as Admin, for an administrator.
    Believed for a moment (``Auth.memberships``); ``fresh``: read now, before a refusal."""
    return coordinator.auth.memberships(user, fresh=fresh)


def _group_ids(coordinator: Coordinator, user: User, needed: Role) -> dict[str, int]:
    """The groups where ``user`` holds ``needed`` (every group for an administrator)."""
    found = _memberships(coordinator, user)
    return {name: group for name, (group, role) in found.items() if role >= needed}


def _group_id(coordinator: Coordinator, user: User, group: str, needed: Role) -> int:
    for fresh in (False, True):  # a grant made a moment ago is not refused
        held = _memberships(coordinator, user, fresh=fresh).get(group)
        if held is not None and held[1] >= needed:
            return held[0]
    # Refused: the auth's own check says how (404 no such group, 403 too low a role).
    coordinator.auth.check_role(user, group, needed)
    raise Forbidden(f"{user.name} may not do this in group {group}")


def _names(coordinator: Coordinator, tasks: list[Task]) -> tuple[dict[int, str], dict[int, str]]:
    from sqlalchemy import bindparam, text

    groups = sorted({task.group_id for task in tasks})
    users = sorted({task.creator_id for task in tasks})
    if not tasks:
        return {}, {}
    with coordinator.engine.connect() as connection:
        group_rows = connection.execute(
            text("SELECT id, name FROM groups WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": groups},
        ).all()
        user_rows = connection.execute(
            text("SELECT id, name FROM users WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": users},
        ).all()
    return dict(group_rows), dict(user_rows)  # type: ignore[arg-type]


def _out(task: Task, groups: dict[int, str], users: dict[int, str]) -> TaskOut:
    return TaskOut(
        uuid=task.uuid, group=groups.get(task.group_id, str(task.group_id)),
        creator=users.get(task.creator_id, str(task.creator_id)), state=task.state,
        priority=task.priority, tags=task.tags, labels=task.labels, command=task.command,
        env=task.env, local_path=task.local_path, timeout=task.timeout,
        max_attempts=task.max_attempts, attempts=task.attempts, watch_state=task.watch_state,
        lease_owner=task.lease_owner, created_at=task.created_at.isoformat(),
        started_at=_iso(task.started_at), ended_at=_iso(task.ended_at),
        exit_status=task.exit_status, message=task.message, key=task.key,
        suite_uuid=task.suite_uuid,
    )  # fmt: skip


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _described(coordinator: Coordinator, tasks: list[Task]) -> list[TaskOut]:
    groups, users = _names(coordinator, tasks)
    return [_out(task, groups, users) for task in tasks]


def _task_for(coordinator: Coordinator, user: User, uuid: str, needed: Role) -> Task:
    """The task, when the user holds ``needed`` in its group (404 for an unknown one, 403)."""
    with coordinator.queues.borrow() as queue:
        task = queue.get(uuid)
    held = {group: (name, role) for name, (group, role) in _memberships(coordinator, user).items()}
    if task.group_id not in held or held[task.group_id][1] < needed:  # a grant made a moment ago
        found = _memberships(coordinator, user, fresh=True).items()
        held = {group: (name, role) for name, (group, role) in found}
    if task.group_id not in held:
        # Not even Read: the same answer as an unknown task, so ids cannot be probed.
        raise NotFound(f"no task {uuid}", hint="task ids are the uuids submit returned")
    name, role = held[task.group_id]
    if role < needed:
        raise Forbidden(f"{user.name} is {role.label} in group {name}; this needs {needed.label}")
    return task


# --- submitting ----------------------------------------------------------------------------------


def _spec(
    coordinator: Coordinator, user: User, body: TaskIn, group_id: int,
    suites: dict[tuple[str, int], Joined] | None = None,
) -> TaskSpec:  # fmt: skip
    """The task as the queue takes it; ``suites``: the suites a batch's tasks joined so far (one
    look-up per suite, not per task)."""
    watch = Watch(body.watch.upstream, body.watch.state) if body.watch else None
    tags, priority, suite_id = body.tags, body.priority, None
    if body.suite_uuid is not None:  # issue 14: the task joins its suite
        from shipyard.coordinator.suiteroutes import joined

        known = {} if suites is None else suites
        place = (body.suite_uuid, group_id)
        suite = known.get(place) or joined(coordinator, body.suite_uuid, group_id, body.group)
        known[place] = suite
        tags, suite_id = sorted(set(tags) | set(suite.tags)), suite.id
        priority = priority if "priority" in body.model_fields_set else suite.priority
    return TaskSpec(
        command=body.command, group_id=group_id, creator_id=user.id, tags=tags,
        labels=body.labels, env=body.env, priority=priority, timeout=body.timeout,
        max_attempts=body.max_attempts, local_path=body.local_path, watch=watch, key=body.key,
        suite_id=suite_id,
    )  # fmt: skip


def _batch_specs(
    coordinator: Coordinator, user: User, items: list[dict[str, Any]]
) -> tuple[list[tuple[int, TaskSpec]], list[RefusedTask]]:
    """Each item as a spec, or refused with why (a field of the wrong type, a group the user
    may not write to): one bad task never sinks the batch."""
    writable = _group_ids(coordinator, user, Role.WRITE)
    suites: dict[tuple[str, int], Joined] = {}
    specs: list[tuple[int, TaskSpec]] = []
    refused: list[RefusedTask] = []
    for index, item in enumerate(items):
        try:
            body = TaskIn.model_validate(item)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem.get("loc", ()))
            refused.append(RefusedTask(index=index, msg=f"{where}: {problem.get('msg')}"))
            continue
        if body.group not in writable:
            refused.append(RefusedTask(index=index, msg=f"no Write role in group {body.group!r}"))
            continue
        try:
            specs.append((index, _spec(coordinator, user, body, writable[body.group], suites)))
        except CoordinatorError as error:  # its suite: unknown, of another group, final
            refused.append(RefusedTask(index=index, msg=error.message, status=error.http_status))
    return specs, refused


def _submit_routes(routes: APIRouter, coordinator: Coordinator) -> None:
    auth = coordinator.auth
    Caller = Annotated[User, Depends(auth.served_user)]

    @routes.post("/tasks", status_code=201)
    def submit(body: TaskIn, user: Caller) -> Accepted:
        """Queue one task (Write in its group); 400 says which field is wrong."""
        group_id = _group_id(coordinator, user, body.group, Role.WRITE)
        with coordinator.queues.borrow() as queue:
            made = queue.submit_one(_spec(coordinator, user, body, group_id))
        return Accepted(index=0, uuid=made)

    @routes.post("/tasks/batch")
    def submit_batch(body: Batch, user: Caller) -> BatchAnswer:
        """Queue several tasks in one transaction; each refused one says why (by index)."""
        specs, refused = _batch_specs(coordinator, user, body.tasks)
        accepted: list[Accepted] = []
        if specs:
            with coordinator.queues.borrow() as queue:
                report = queue.submit([spec for _, spec in specs])
            places = [index for index, _ in specs]
            accepted = [Accepted(index=places[a.index], uuid=a.uuid) for a in report.accepted]
            refused += [
                RefusedTask(index=places[r.index], msg=r.reason, uuid=r.existing,
                            status=400 if r.existing is None else 409)
                for r in report.refused
            ]  # fmt: skip
        return BatchAnswer(accepted=accepted, refused=sorted(refused, key=lambda r: r.index))


# --- reading -------------------------------------------------------------------------------------


def _filter(coordinator: Coordinator, user: User, body: Query) -> TaskFilter:
    readable = _group_ids(coordinator, user, Role.READ)
    if body.group is not None:
        groups = [_group_id(coordinator, user, body.group, Role.READ)]
    else:
        groups = sorted(readable.values())
    creators = None
    if body.creators is not None:
        creators = _user_ids(coordinator, body.creators)
    return TaskFilter(
        group_ids=groups, creator_ids=creators, states=body.states, tags=body.tags,
        labels=body.labels, exit_status=body.exit_status, priority=body.priority,
    )  # fmt: skip


def _user_ids(coordinator: Coordinator, names: list[str]) -> list[int]:
    from sqlalchemy import bindparam, text

    # A name with a NUL is no user's (names are checked when made) and PostgreSQL's text cannot
    # even be compared with one; no name left: no task. (An empty expanding IN is typed INTEGER
    # by SQLAlchemy, an error against a text column.) Both were 500s, found by schemathesis.
    names = [name for name in names if "\x00" not in name]
    if not names:
        return []
    with coordinator.engine.connect() as connection:
        return [
            int(found)
            for found in connection.execute(
                text("SELECT id FROM users WHERE name IN :names").bindparams(
                    bindparam("names", expanding=True)
                ),
                {"names": names},
            ).scalars()
        ]


def _read_routes(routes: APIRouter, coordinator: Coordinator) -> None:
    auth = coordinator.auth
    Caller = Annotated[User, Depends(auth.served_user)]

    @routes.post("/tasks/query")
    def query(body: Query, user: Caller) -> QueryAnswer:
        """Tasks of your groups (Read), newest first; tags and labels match by containment."""
        chosen = _filter(coordinator, user, body)
        with coordinator.queues.borrow() as queue:
            count = queue.count(chosen)
            found = [] if body.count else queue.query(chosen, limit=body.limit, offset=body.offset)
        return QueryAnswer(count=count, tasks=_described(coordinator, found))

    @routes.get("/tasks/{uuid}")
    def get(uuid: str, user: Caller) -> TaskOut:
        """One task (Read in its group)."""
        task = _task_for(coordinator, user, uuid, Role.READ)
        return _described(coordinator, [task])[0]

    @routes.get("/tasks/{uuid}/result")
    def result(uuid: str, user: Caller, wait: float = 0.0) -> Result:
        """How it ended (or how far it is): exit status, output tail, JSON result, attempts.
        ``wait``: seconds to wait for the task's end first (a long poll, woken by its end)."""
        task = _task_for(coordinator, user, uuid, Role.READ)
        if task.state not in TERMINAL and wait != 0:
            task = _until_ended(coordinator, task, wait)
        with coordinator.queues.borrow() as queue:
            attempts = queue.attempts(uuid)
        return Result(
            uuid=task.uuid, state=task.state, exit_status=task.exit_status,
            output_tail=task.output_tail, result=task.result, message=task.message,
            attempts=[
                AttemptOut(number=a.number, worker_id=a.worker_id, outcome=a.outcome,
                           exit_status=a.exit_status, started_at=a.started_at.isoformat(),
                           ended_at=_iso(a.ended_at))
                for a in attempts
            ],
        )  # fmt: skip


# --- changing ------------------------------------------------------------------------------------


def _change_routes(routes: APIRouter, coordinator: Coordinator) -> None:
    auth = coordinator.auth
    Caller = Annotated[User, Depends(auth.served_user)]

    @routes.put("/tasks/{uuid}")
    def edit(uuid: str, body: Edit, user: Caller) -> TaskOut:
        """Change a task that has not started (Write); 409 once it has."""
        _task_for(coordinator, user, uuid, Role.WRITE)
        changes = body.model_dump(exclude_unset=True)
        with coordinator.queues.borrow() as queue:
            task = queue.edit(uuid, **changes)
        return _described(coordinator, [task])[0]

    @routes.post("/tasks/{uuid}/cancel")
    def cancel(uuid: str, user: Caller) -> Cancelled:
        """Cancel a queued task (Write); 409 once it runs or ended."""
        task = _task_for(coordinator, user, uuid, Role.WRITE)
        with coordinator.queues.borrow() as queue:
            queue.cancel(task.uuid)
        return Cancelled(cancelled=[task.uuid], refused={})

    @routes.post("/tasks/cancel")
    def cancel_many(body: CancelBody, user: Caller) -> Cancelled:
        """Cancel a list of tasks (``uuids``) or those a filter matches in ``group`` (Write)."""
        if body.uuids is not None:
            return _cancel_list(coordinator, user, body.uuids)
        if body.group is None:
            raise BadRequest("cancel needs uuids, or a group and a filter", hint="name a group")
        group_id = _group_id(coordinator, user, body.group, Role.WRITE)
        chosen = TaskFilter(
            group_ids=[group_id], states=body.states, tags=body.tags, labels=body.labels,
            priority=body.priority,
        )  # fmt: skip
        with coordinator.queues.borrow() as queue:
            done = queue.cancel_where(chosen, by=user.name)
        return Cancelled(cancelled=done, refused={})


def _cancel_list(coordinator: Coordinator, user: User, uuids: list[str]) -> Cancelled:
    writable = set(_group_ids(coordinator, user, Role.WRITE).values())
    with coordinator.queues.borrow() as queue:
        known = {t.uuid: t for t in queue.query(TaskFilter(uuids=uuids), limit=MAX_LIMIT)}
        allowed = [u for u in known if known[u].group_id in writable]
        report = queue.cancel_many(allowed, by=user.name)
    refused = dict(report.refused)
    for given in uuids:
        key = str(uuidlib.UUID(given))
        if key not in known:
            refused[key] = "no task has this id"
        elif key not in allowed:
            refused[key] = "no Write role in its group"
    return Cancelled(cancelled=report.cancelled, refused=refused)


# --- artifacts -----------------------------------------------------------------------------------


def _artifact_name(name: str) -> str:
    if not name or len(name) > 200 or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise BadRequest(
            f"artifact name {name[:80]!r} is not a plain file name",
            hint="letters, digits, dots and dashes; no slashes, no '..'",
        )
    return name


def _artifact_routes(routes: APIRouter, coordinator: Coordinator) -> None:
    auth = coordinator.auth
    Caller = Annotated[User, Depends(auth.served_user)]
    Worker = Annotated[Principal, Depends(auth.served_worker)]

    @routes.put("/tasks/{uuid}/artifacts/{name}", status_code=201)
    async def upload(uuid: str, name: str, request: Request, worker: Worker) -> ArtifactOut:
        """A file the task made, as the raw body (the worker holding the task's lease)."""
        name = _artifact_name(name)
        task = await run_in_threadpool(_leased, coordinator, worker, uuid)
        size = await _store(coordinator, request, task.uuid, name)
        await run_in_threadpool(_record, coordinator, task.uuid, name, size)
        return ArtifactOut(name=name, size=size, created_at=_now())

    @routes.get("/tasks/{uuid}/artifacts")
    def artifacts(uuid: str, user: Caller) -> list[ArtifactOut]:
        """The task's artifacts (Read)."""
        _task_for(coordinator, user, uuid, Role.READ)
        with coordinator.queues.borrow() as queue:
            found = queue.artifacts(uuid)
        return [ArtifactOut(name=a.name, size=a.size, created_at=a.created_at.isoformat())
                for a in found]  # fmt: skip

    @routes.get("/tasks/{uuid}/artifacts/{name}", response_class=FileResponse)
    def download(uuid: str, name: str, user: Caller) -> FileResponse:
        """One artifact's bytes (Read)."""
        _artifact_name(name)
        task = _task_for(coordinator, user, uuid, Role.READ)
        with coordinator.queues.borrow() as queue:
            found = {a.name: a for a in queue.artifacts(task.uuid)}
        if name not in found:
            raise NotFound(f"task {task.uuid} has no artifact {name!r}")
        path = coordinator.storage / found[name].path
        if not path.is_file():
            raise NotFound(f"artifact {name!r} of task {task.uuid} is gone from the storage")
        return FileResponse(path, media_type="application/octet-stream", filename=name)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def _record(coordinator: Coordinator, uuid: str, name: str, size: int) -> None:
    with coordinator.queues.borrow() as queue:
        queue.add_artifact(uuid, name, size, f"{uuid}/{name}")


def _leased(coordinator: Coordinator, worker: Principal, uuid: str) -> Task:
    from shipyard.errors import Conflict

    with coordinator.queues.borrow() as queue:
        task = queue.get(uuid)
    if task.lease_owner != str(worker.id) or task.state != "running":
        raise Conflict(
            f"task {task.uuid} is not running under worker {worker.id}",
            hint="upload a task's artifacts while its attempt holds the lease",
        )
    return task


async def _store(coordinator: Coordinator, request: Request, uuid: str, name: str) -> int:
    """The body written to ``storage/uuid/name`` (through a temporary file, so a cut upload
    leaves nothing behind); 413 past the size limit, checked as the bytes arrive; 507 when the
    storage cannot take it."""
    limit = coordinator.max_artifact
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the artifact is {declared} bytes; the limit is {limit}")
    folder = coordinator.storage / uuid
    partial = folder / f".{name}.{os.getpid()}.{uuidlib.uuid4().hex}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        size = await _copy(request, partial, limit)
        partial.replace(folder / name)
    except OSError as error:
        raise StorageFull(
            f"cannot store the artifact under {coordinator.storage}: {error.strerror}",
            hint="the server's home needs room and write permission",
        ) from None
    finally:
        with contextlib.suppress(OSError):  # its folder may be what failed
            partial.unlink(missing_ok=True)
    return size


async def _copy(request: Request, partial: Path, limit: int) -> int:
    size = 0
    with partial.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the artifact passed the limit of {limit} bytes")
            out.write(chunk)  # a local disk's write; small next to the network's pace
    return size


# --- workers -------------------------------------------------------------------------------------


def _worker_group(coordinator: Coordinator, worker: Principal) -> int:
    from sqlalchemy import text

    with coordinator.engine.connect() as connection:
        found = connection.execute(
            text("SELECT id FROM groups WHERE name = :name"), {"name": worker.group}
        ).scalar()
    if found is None:
        raise Forbidden(f"the worker's group {worker.group!r} no longer exists")
    return int(found)


def _claimed(tasks: list[Any]) -> Fetched:
    return Fetched(
        tasks=[
            ClaimedOut(uuid=c.uuid, attempt=c.attempt, command=c.command, env=c.env,
                       local_path=c.local_path, timeout=c.timeout, priority=c.priority,
                       lease_expires=c.lease_expires.isoformat())
            for c in tasks
        ]
    )  # fmt: skip


def _fetch(coordinator: Coordinator, worker: str, body: FetchBody) -> Fetched:
    import time

    if body.wait > coordinator.max_wait:
        raise BadRequest(
            f"wait {body.wait:g} s is longer than {coordinator.max_wait:g} s",
            hint="wait less and fetch again",
        )
    deadline = time.monotonic() + body.wait
    with coordinator.queues.borrow() as queue:
        claimed = coordinator.timed_fetch(queue, worker, body.limit)
        if claimed or body.wait <= 0:
            return _claimed(claimed)
        with coordinator.listeners.borrow() as listener:
            # Listening before the next look: a submit in between wakes the wait below.
            while not claimed and (left := deadline - time.monotonic()) > 0:
                listener.wait(min(left, coordinator.poll))
                claimed = coordinator.timed_fetch(queue, worker, body.limit)
    return _claimed(claimed)


def _until_ended(coordinator: Coordinator, task: Task, wait: float) -> Task:
    """The task once it ended, or as it is after ``wait`` seconds (at most ``max_wait``):
    woken by the reports' NOTIFY on the ended channel, looking again every ``poll`` s."""
    import math
    import time

    if not 0 < wait <= coordinator.max_wait or math.isnan(wait):
        raise BadRequest(
            f"wait {wait:g} s is outside 0..{coordinator.max_wait:g} s",
            hint="wait less, and ask again if the task has not ended",
        )
    deadline = time.monotonic() + wait
    with coordinator.ended.borrow() as listener, coordinator.queues.borrow() as queue:
        # Listening already (since the listener was made): an end after this look wakes us.
        task = queue.get(task.uuid)
        while task.state not in TERMINAL and (left := deadline - time.monotonic()) > 0:
            listener.wait(min(left, coordinator.poll))
            task = queue.get(task.uuid)
    return task


def _report_batch(
    coordinator: Coordinator, worker: str, reports: list[ReportBody]
) -> ReportsAnswer:
    seen = [checked_uuid(r.uuid) for r in reports]
    if len(set(seen)) != len(seen):
        raise BadRequest("a task is reported twice in one batch",
                         hint="send each task's report once")  # fmt: skip
    with coordinator.queues.borrow() as queue:
        outcome = queue.report_many(worker, [
            Report(r.uuid, r.attempt, r.exit_status, r.output, r.result) for r in reports
        ])  # fmt: skip
    results = []
    for uuid in seen:
        refused = outcome.refused.get(uuid)
        if refused is None:
            results.append(ReportedItem(uuid=uuid, status=200, state=outcome.states[uuid]))
        else:
            results.append(ReportedItem(uuid=uuid, status=refused.http_status,
                                        msg=refused.message))  # fmt: skip
    return ReportsAnswer(results=results)


def _worker_routes(routes: APIRouter, coordinator: Coordinator) -> None:
    Worker = Annotated[Principal, Depends(coordinator.auth.served_worker)]

    @routes.post("/workers/register")
    def register(body: Register, worker: Worker) -> Registered:
        """Register (again) under the token's id, with the tags it offers."""
        group_id = _worker_group(coordinator, worker)
        with coordinator.queues.borrow() as queue:
            made = queue.register_worker(group_id, body.tags, worker_id=str(worker.id))
        lease = coordinator.lease if coordinator.lease is not None else LEASE
        return Registered(worker_id=made, group=worker.group, lease=lease)

    @routes.post("/workers/heartbeat")
    def heartbeat(worker: Worker, body: HeartbeatBody | None = None) -> Held:
        """Extend the leases of the tasks the worker holds; the ones it still holds."""
        holding = None if body is None or body.holding is None else [str(u) for u in body.holding]
        with coordinator.queues.borrow() as queue:
            return Held(held=queue.heartbeat(str(worker.id), holding))

    @routes.post("/workers/fetch")
    def fetch(body: FetchBody, worker: Worker) -> Fetched:
        """Claim up to ``limit`` tasks, waiting up to ``wait`` seconds for some."""
        return _fetch(coordinator, str(worker.id), body)

    @routes.post("/workers/report")
    def report(body: ReportBody, worker: Worker) -> Reported:
        """How an attempt ended; 409 when that attempt no longer holds the lease."""
        with coordinator.queues.borrow() as queue:
            state = queue.report(
                str(worker.id), body.uuid, body.attempt, exit_status=body.exit_status,
                output=body.output, result=body.result,
            )  # fmt: skip
        return Reported(uuid=body.uuid, state=state)

    @routes.post("/workers/reports")
    def reports(body: ReportsBody, worker: Worker) -> ReportsAnswer:
        """Several attempts' ends in one call, each fenced by its attempt as ``/report`` is;
        one result per report (status 200, 409 or 404), in the order sent."""
        return _report_batch(coordinator, str(worker.id), body.reports)

    @routes.post("/workers/leave")
    def leave(worker: Worker) -> Left:
        """The worker goes: its running tasks back to the queue now."""
        with coordinator.queues.borrow() as queue:
            return Left(requeued=len(queue.leave(str(worker.id))))
