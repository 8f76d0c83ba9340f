"""The messages between a node manager and the coordinator (issue 14 §2), as Pydantic models:
the one definition both sides import, so they cannot drift.

Transport. A manager registers over HTTP (``POST /api/v1/managers`` with its manager token),
then holds a WebSocket to ``/ws/managers`` (the same token as ``Authorization: Bearer``).
Text frames carry one JSON object each, tagged by ``type``. Every *request* carries an ``id``
the manager chose (increasing); the coordinator's *reply* carries the same ``id`` (replies may
come out of order; the manager matches them by id). *Pushes* (coordinator → manager, unasked)
carry no id. Any request can also be sent over HTTP, ``POST /api/v1/managers/messages`` with
the request as the body and the reply as the answer: the fallback when the socket is down, so
the WebSocket is an optimisation, never a requirement (Mitosis digest §10).

A refused request is answered ``{"type": "error", "id", "status", "msg", "hint"}`` with the
status the HTTP routes would use (400, 404, 409, 503).

Why requests are idempotent where they can be: a reply can be lost with the socket. A
``report`` sent again is answered as the first was (the attempt number fences it, as for
independent workers); ``hold`` and ``heartbeat`` are naturally so; ``next_suite`` returns the
suite the manager already has while it has one; ``suite_done`` of a suite the manager no
longer has changes nothing.

No ``from __future__ import annotations``: Pydantic reads these annotations at run time.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

#: A manager's states (the coordinator alone sets ``offline``: no heartbeat for
#: ``manager_offline`` seconds; ``gone``: it left, or was shut down).
ManagerState = Literal["idle", "preparing", "executing", "cleanup", "offline", "gone"]
MANAGER_STATES: tuple[str, ...] = ("idle", "preparing", "executing", "cleanup", "offline", "gone")

#: How often a manager heartbeats (seconds; ``shipyard manager --heartbeat``).
HEARTBEAT_EVERY = 30.0
#: A manager silent this long is marked offline and its tasks go back (seconds;
#: ``[coordinator] manager_offline``).
OFFLINE_AFTER = 120.0
#: Reconnect backoff bounds (seconds): 1 → 2 → 4 … → 60, reset on success.
RECONNECT_FIRST = 1.0
RECONNECT_CAP = 60.0
#: The most tasks one ``fetch`` claims, and the most reports one ``report`` carries.
MAX_BATCH = 1000
#: How many crashes of its managed workers a manager takes in one suite before it gives the
#: suite up on its machine (the suite goes on elsewhere).
CRASHES_TO_GIVE_UP = 3


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Request(_Message):
    id: int = Field(ge=0, description="The manager's request id; the reply carries it.")


# --- what the manager says -----------------------------------------------------------------


class Metrics(_Message):
    active_workers: int = Field(default=0, ge=0)
    tasks_completed: int = Field(default=0, ge=0, description="Since the manager started.")
    tasks_failed: int = Field(default=0, ge=0, description="Since the manager started.")
    uptime_seconds: float = Field(default=0.0, ge=0)


class Heartbeat(_Request):
    """Every ``HEARTBEAT_EVERY`` seconds, and at once after each (re)connect."""

    type: Literal["heartbeat"] = "heartbeat"
    state: Literal["idle", "preparing", "executing", "cleanup"]
    suite_uuid: str | None = Field(default=None, description="The suite it works on, if any.")
    metrics: Metrics = Metrics()


class NextSuite(_Request):
    """An idle manager asks for work: the eligible suite of highest priority (then the
    oldest) with queued tasks, that it has not given up; it becomes the manager's suite
    (state ``preparing``). While it has a suite, that suite is returned again."""

    type: Literal["next_suite"] = "next_suite"


class Fetch(_Request):
    """Claim up to ``limit`` queued tasks of the manager's suite (leases owned by the
    manager; attempts recorded under its id)."""

    type: Literal["fetch"] = "fetch"
    suite_uuid: str
    limit: int = Field(default=1, ge=1, le=MAX_BATCH)


class Hold(_Request):
    """Extend the leases of the tasks the manager holds (prefetched, running, or awaiting
    their report): every lease/3 seconds. Only those listed are extended."""

    type: Literal["hold"] = "hold"
    holding: list[str] = Field(default=[], max_length=100_000)


class TaskReport(_Message):
    uuid: str
    attempt: int = Field(ge=1)
    exit_status: int
    output: str | None = Field(default=None, description="The output's tail.")
    worker: int | None = Field(default=None, ge=0, description="The managed worker's number.")


class Report(_Request):
    """Tasks' ends, several in one message (as ``POST /workers/reports``)."""

    type: Literal["report"] = "report"
    reports: list[TaskReport] = Field(min_length=1, max_length=MAX_BATCH)


class Release(_Request):
    """Give a task back without a result (its managed worker crashed, or the manager gives
    its suite up): the attempt is recorded ``lost`` with the reason, and the task is queued
    again while attempts remain."""

    type: Literal["release"] = "release"
    uuid: str
    attempt: int = Field(ge=1)
    reason: str = Field(max_length=10_000)


class HookRun(_Request):
    """A suite hook ran on this manager: recorded (with its output's tail) for ``suite
    status`` and the metrics."""

    type: Literal["hook"] = "hook"
    suite_uuid: str
    hook: Literal["env_preparation", "env_cleanup"]
    ok: bool
    exit_status: int | None = Field(description="None: it could not start, or timed out.")
    seconds: float = Field(ge=0)
    output: str = Field(default="", max_length=100_000)


class GiveUp(_Request):
    """The manager will not run this suite (its preparation failed, or its workers crashed
    ``CRASHES_TO_GIVE_UP`` times): it is not offered the suite again; others go on."""

    type: Literal["give_up"] = "give_up"
    suite_uuid: str
    reason: str = Field(max_length=10_000)


class SuiteDone(_Request):
    """The manager is through with its suite (drained, cancelled, or given up; cleanup
    ran): it is idle again and unassigned."""

    type: Literal["suite_done"] = "suite_done"
    suite_uuid: str
    reason: Literal["drained", "cancelled", "gave_up", "shutdown"]
    tasks_completed: int = Field(default=0, ge=0)
    tasks_failed: int = Field(default=0, ge=0)


Request = Annotated[
    Heartbeat | NextSuite | Fetch | Hold | Report | Release | HookRun | GiveUp | SuiteDone,
    Field(discriminator="type"),
]
REQUEST: TypeAdapter[Request] = TypeAdapter(Request)


# --- what the coordinator answers ----------------------------------------------------------


class SuiteView(_Message):
    """A suite as its manager needs it."""

    uuid: str
    name: str | None
    group: str
    state: Literal["open", "closed", "complete", "cancelled"]
    priority: int
    pending: int = Field(description="Queued tasks.")
    running: int
    worker_schedule: dict[str, Any] = Field(description="suitemodels.WorkerSchedule's fields.")
    env_preparation: dict[str, Any] | None = Field(description="suitemodels.Hook's fields.")
    env_cleanup: dict[str, Any] | None


class HeartbeatAck(_Message):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    id: int
    suite: SuiteView | None = Field(description="The manager's suite as it is now, if any.")
    shutdown: Literal["graceful", "force"] | None = Field(
        default=None, description="A shutdown asked by an admin (also pushed)."
    )
    lease: float = Field(description="Seconds a held task stays the manager's without hold.")


class Assigned(_Message):
    type: Literal["assigned"] = "assigned"
    id: int
    suite: SuiteView | None = Field(description="None: nothing to do now; wait for a push.")


class ClaimedTask(_Message):
    uuid: str
    attempt: int
    command: list[str]
    env: dict[str, str]
    local_path: str | None
    timeout: float | None
    priority: int


class Tasks(_Message):
    type: Literal["tasks"] = "tasks"
    id: int
    tasks: list[ClaimedTask]
    suite: SuiteView = Field(description="The suite after the claim: is it drained?")


class Held(_Message):
    type: Literal["held"] = "held"
    id: int
    held: list[str] = Field(description="Still the manager's; drop (kill) any other.")


class ReportResult(_Message):
    uuid: str
    status: int = Field(description="200 taken; 409 its attempt no longer holds the lease; 404.")
    state: str | None = None
    msg: str | None = None


class Reported(_Message):
    type: Literal["reported"] = "reported"
    id: int
    results: list[ReportResult]


class Ack(_Message):
    """The reply to ``release``, ``hook``, ``give_up`` and ``suite_done``."""

    type: Literal["ack"] = "ack"
    id: int
    state: str | None = Field(default=None, description="release: the task's next state.")


class Error(_Message):
    type: Literal["error"] = "error"
    id: int | None
    status: int
    msg: str
    hint: str | None = None


# --- what the coordinator pushes ------------------------------------------------------------


class SuiteAvailable(_Message):
    """A suite this manager may serve has queued tasks (created, reopened, or the manager
    was assigned to it): an idle manager asks ``next_suite``."""

    type: Literal["suite_available"] = "suite_available"
    suite_uuid: str
    priority: int


class CancelSuite(_Message):
    """The manager's suite was cancelled: stop fetching; with ``cancel_running``, kill the
    running tasks too (their reports will be refused); then cleanup and ``suite_done``."""

    type: Literal["cancel_suite"] = "cancel_suite"
    suite_uuid: str
    cancel_running: bool


class Shutdown(_Message):
    """An admin asked the manager to stop: graceful finishes the running tasks (at most 30 s),
    releases the rest, runs cleanup and leaves; force kills its workers and leaves."""

    type: Literal["shutdown"] = "shutdown"
    graceful: bool


Reply = Annotated[
    HeartbeatAck | Assigned | Tasks | Held | Reported | Ack | Error,
    Field(discriminator="type"),
]
Push = Annotated[SuiteAvailable | CancelSuite | Shutdown, Field(discriminator="type")]
Incoming = Annotated[
    HeartbeatAck
    | Assigned
    | Tasks
    | Held
    | Reported
    | Ack
    | Error
    | SuiteAvailable
    | CancelSuite
    | Shutdown,
    Field(discriminator="type"),
]
#: What a manager reads from the socket: a reply (it has an ``id``) or a push.
INCOMING: TypeAdapter[Incoming] = TypeAdapter(Incoming)


# --- registration (HTTP) --------------------------------------------------------------------


class RegisterBody(_Message):
    """``POST /api/v1/managers`` with a manager token (``POST /groups/{g}/managers``)."""

    tags: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default=[], max_length=200
    )
    labels: dict[str, Any] = {}
    hostname: str = Field(default="", max_length=255)
    cpus: int = Field(default=1, ge=1, description="CPUs the manager may bind workers to.")


class Registered(_Message):
    manager_id: str
    group: str
    websocket_url: str = Field(description="The path to connect to, e.g. /ws/managers.")
    heartbeat: float = Field(description="Seconds between heartbeats the coordinator expects.")
    offline_after: float
    lease: float
