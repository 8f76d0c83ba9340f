"""shipyard tasks login|submit|list|show|results|cancel: a user's client of the coordinator's
task routes (docs/coordinator.md "Served", docs/cli.md).

Every task a submit sends has a key, ``PREFIX-INDEX``: PREFIX is ``--key``'s or drawn once per
command, so a batch sent again after its answer was lost (CoordinatorClient.submit) queues
nothing twice, and a command rerun with the same ``--key`` queues only what is missing.

The coordinator is ``--server URL`` (a root option) or ``$SHIPYARD_SERVER``; the user's token
``--token`` or ``$SHIPYARD_TOKEN``, as ``shipyard tasks login NAME`` prints it. httpx loads
inside the commands: every command line pays for what is imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations.
"""

import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.app import _SETTINGS, JsonOption, app
from shipyard.errors import BadRequest
from shipyard.wording import counted

if TYPE_CHECKING:
    from shipyard.coordinator.client import CoordinatorClient

tasks_app = typer.Typer(
    help="The coordinator's tasks: log in, submit, list, read results, cancel (server from "
    "--server or $SHIPYARD_SERVER, token from --token or $SHIPYARD_TOKEN).",
    **_SETTINGS,
)
app.add_typer(tasks_app, name="tasks")

GroupOption = Annotated[
    str | None, typer.Option("--group", help="The group's name.", show_default=False)
]
StateOption = Annotated[
    list[str] | None,
    typer.Option("--state", help="queued, running, succeeded, failed, cancelled (repeatable)."),
]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", help="A tag the tasks have (repeatable).")
]
#: The most --count copies one command submits (each is a row; the batch route takes 10,000).
MAX_COUNT = 100_000
#: The longest --key prefix: a task's key is at most 200 characters (routes.TaskIn), and
#: "-99999" follows the prefix.
MAX_KEY = 190


def _server() -> str:
    server = os.environ.get("SHIPYARD_SERVER", "")
    if not server:
        raise BadRequest(
            "no coordinator given",
            hint="shipyard --server http://host:8420 tasks …, or set $SHIPYARD_SERVER",
        )
    from shipyard.serverurl import check_server_url

    return check_server_url(server)


def _client(*, token_needed: bool = True) -> "CoordinatorClient":
    from shipyard.coordinator.client import CoordinatorClient

    token = os.environ.get("SHIPYARD_TOKEN", "")
    if token_needed and not token:
        raise BadRequest(
            "no token given",
            hint="export SHIPYARD_TOKEN=$(shipyard --server URL tasks login NAME), "
            "or pass --token before the command",
        )
    return CoordinatorClient(_server(), token or None)


def _pairs(given: list[str] | None, flag: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in given or []:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise BadRequest(f"{flag} {item!r} is not NAME=VALUE", hint=f"{flag} GREETING=hi")
        found[name] = value
    return found


def _said(text: str) -> None:
    sys.stderr.write(text + "\n")


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


@tasks_app.command("login")
def login(
    name: Annotated[str, typer.Argument(help="The user's name.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Log in (password from $SHIPYARD_PASSWORD or a prompt) and print the token."""
    password = os.environ.get("SHIPYARD_PASSWORD") or ""
    if not password:
        if not sys.stdin.isatty():
            raise BadRequest("no password given", hint="set $SHIPYARD_PASSWORD, or use a terminal")
        password = getpass.getpass("password: ")
    with _client(token_needed=False) as client:
        token = client.login(name, password)
    sys.stdout.write((json.dumps({"token": token}) if as_json else token) + "\n")


def _submitted(
    command: list[str],
    group: str | None,
    count: int,
    index_env: str | None,
    fields: dict[str, Any],
    *,
    example: str = "shipyard tasks submit --group G -- echo hi",
    key: str | None = None,
) -> list[dict[str, Any]]:
    """The tasks a submit sends: ``count`` copies, each with its index in ``index_env`` and the
    key ``KEY-INDEX`` (``key`` None: a prefix drawn now, the same for every resend of this
    command's batches), in ``group`` (None: the caller adds it, as ``suite submit`` does once
    it knows the suite's). Checked before anything is sent; ``example`` is the command line
    the refusal shows."""
    if not command:
        raise BadRequest("no command given", hint=example)
    if not 1 <= count <= MAX_COUNT:
        raise BadRequest(f"--count {count} is outside 1..{MAX_COUNT}", hint="--count 1000")
    prefix = new_key() if key is None else checked_key(key)
    placed = {"group": group} if group is not None else {}
    tasks = []
    for index in range(count):
        env = dict(fields["env"])
        if index_env:
            env[index_env] = str(index)
        tasks.append({**fields, **placed, "command": command, "env": env,
                      "key": f"{prefix}-{index}"})  # fmt: skip
    return tasks


def new_key() -> str:
    """A prefix no other command draws: 12 hex digits of a uuid4 (48 random bits)."""
    import uuid

    return uuid.uuid4().hex[:12]


def checked_key(key: str) -> str:
    """``--key``, or BadRequest: empty, too long, or of characters a shell would mangle."""
    if not key or len(key) > MAX_KEY or not key.isprintable() or key != key.strip():
        raise BadRequest(
            f"--key {key!r} is not 1 to {MAX_KEY} printable characters without spaces around",
            hint="--key nightly-2026-12-02",
        )
    return key


def submitted_text(answer: dict[str, Any], key: str) -> tuple[str, str]:
    """What a submit prints: each task's uuid on stdout (new or already there, in order), and
    on stderr the tasks already queued under their keys and the refused ones."""
    out = "".join(f"{made['uuid']}\n" for made in answer["accepted"])
    there = sum(1 for made in answer["accepted"] if made.get("existing"))
    err = ""
    if there:
        tasks = counted(len(answer["accepted"]), "task")
        err += (f"{there} of {tasks} already submitted under their "
                f"keys ({key}-INDEX): not queued again\n")  # fmt: skip
    err += "".join(f"task {no['index']} refused: {no['msg']}\n" for no in answer["refused"])
    return out, err


@tasks_app.command("submit")
def submit(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command (argv, no shell); after --.", show_default=False),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="The group's name (or the --file's).", show_default=False),
    ] = None,
    tag: TagOption = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE in its environment (repeatable).")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Higher first.")] = 0,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds it may run.", show_default=False)
    ] = None,
    max_attempts: Annotated[int, typer.Option("--max-attempts", help="Attempts in all.")] = 3,
    count: Annotated[int, typer.Option("--count", help="Submit this many copies.")] = 1,
    index_env: Annotated[
        str | None,
        typer.Option(
            "--index-env",
            help="Give each copy its index (0…) in this variable.",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Key the tasks PREFIX-0, PREFIX-1…: the same command run again with the same "
            "--key queues only the tasks not queued yet (default: a prefix of its own).",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="The task from a task file (YAML) or a Mitosis task JSON (instead of a command).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a command (COUNT copies in one batch), or the task of --file; prints each task's
    uuid."""
    from shipyard.coordinator.client import BATCH
    from shipyard.coordinator.resilience import TRANSIENT
    from shipyard.errors import CoordinatorError

    fields = {"tags": tag or [], "env": _pairs(env, "--env"), "priority": priority,
              "timeout": timeout, "max_attempts": max_attempts}  # fmt: skip
    prefix = new_key() if key is None else checked_key(key)
    if file is not None:
        from shipyard.formats.mitosisload import file_tasks, lone_tasks_group

        tasks = file_tasks(file, command, count, index_env, group=group, key=prefix)
        lone_tasks_group(tasks, file)
    elif group is None:
        raise BadRequest("--group is missing", hint="shipyard tasks submit --group G -- echo hi")
    else:
        tasks = _submitted(command or [], group, count, index_env, fields, key=prefix)
    with _client() as client:
        try:
            answer = client.submit(tasks, resent=_said)
        except CoordinatorError as error:
            sent = getattr(error, "connected", True) or len(tasks) > BATCH
            if error.http_status not in TRANSIENT or key is not None or not sent:
                raise
            # Some batches may be queued: the same keys make a rerun send only the others.
            rerun = f"run the same command with --key {prefix} to queue only the others"
            error.hint = f"{error.hint}; some tasks may be queued: {rerun}"
            raise
    if as_json:
        _out({**answer, "key": prefix})
    else:
        out, err = submitted_text(answer, prefix)
        sys.stdout.write(out)
        sys.stderr.write(err)
    if answer["refused"]:
        raise typer.Exit(1)


def task_rows(tasks: list[dict[str, Any]]) -> str:
    """``tasks list``'s table: uuid, state, exit status, attempts, command."""
    lines = [f"{'uuid':<36}  {'state':<9}  {'exit':>4}  {'tries':>5}  command"]
    for task in tasks:
        status = "" if task["exit_status"] is None else str(task["exit_status"])
        shown = " ".join(task["command"])
        lines.append(f"{task['uuid']:<36}  {task['state']:<9}  {status:>4}  "
                     f"{task['attempts']:>5}  {shown[:60]}")  # fmt: skip
    return "\n".join(lines) + "\n"


@tasks_app.command("list")
def list_tasks(
    group: GroupOption = None,
    state: StateOption = None,
    tag: TagOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip the newest N.")] = 0,
    count_only: Annotated[bool, typer.Option("--count", help="Only how many match.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Tasks of your groups, newest first (filters combine)."""
    with _client() as client:
        answer = client.query(group=group, states=state, tags=tag, limit=limit, offset=offset,
                              count=count_only or None)  # fmt: skip
    if as_json:
        _out(answer)
    elif count_only:
        sys.stdout.write(f"{answer['count']}\n")
    else:
        sys.stdout.write(task_rows(answer["tasks"]))
        shown = len(answer["tasks"])
        if answer["count"] > shown:
            sys.stdout.write(
                f"({shown} of {answer['count']}; --offset {offset + shown} for more)\n"
            )


def task_text(task: dict[str, Any]) -> str:
    """One task's record, as ``tasks show`` shows it."""
    status = "" if task["exit_status"] is None else f", exit {task['exit_status']}"
    lines = [f"{task['uuid']}  {task['state']}{status}, {counted(task['attempts'], 'attempt')}"]
    for name in ("group", "creator", "suite_uuid", "key", "priority", "tags", "message"):
        value = task.get(name)
        if value not in (None, [], ""):
            shown = " ".join(value) if isinstance(value, list) else value
            lines.append(f"  {name.replace('_uuid', '')}: {shown}")
    lines.append(f"  command: {' '.join(task['command'])}")
    return "\n".join(lines) + "\n"


@tasks_app.command("show")
def show(
    uuids: Annotated[list[str], typer.Argument(help="The tasks' uuids.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Each task's record: state, group, suite, key, command… (--json: the route's record)."""
    with _client() as client:
        found = [client.call("GET", f"/tasks/{uuid}") for uuid in uuids]
    if as_json:
        _out(found)
    else:
        sys.stdout.write("".join(task_text(task) for task in found))


def result_text(result: dict[str, Any]) -> str:
    """One task's result, as ``tasks results`` shows it."""
    status = "" if result["exit_status"] is None else f", exit {result['exit_status']}"
    attempts = counted(len(result["attempts"]), "attempt")
    head = f"{result['uuid']}  {result['state']}{status}, {attempts}"
    if result.get("message"):
        head += f": {result['message']}"
    tail = (result.get("output_tail") or "").rstrip("\n")
    body = "".join(f"  | {line}\n" for line in tail.splitlines())
    return head + "\n" + body


@tasks_app.command("results")
def results(
    uuids: Annotated[list[str], typer.Argument(help="The tasks' uuids.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """How each task ended (or how far it is): state, exit status, output's tail, attempts."""
    with _client() as client:
        found = [client.result(uuid) for uuid in uuids]
    if as_json:
        _out(found)
    else:
        sys.stdout.write("".join(result_text(result) for result in found))


def _uuids(given: list[str]) -> tuple[list[str], list[str]]:
    """The uuids given, split into those that are uuids and those that are not."""
    import uuid

    wellformed: list[str] = []
    malformed: list[str] = []
    for item in given:
        try:
            uuid.UUID(item)
        except ValueError:
            malformed.append(item)
        else:
            wellformed.append(item)
    return wellformed, malformed


@tasks_app.command("cancel")
def cancel(
    uuids: Annotated[
        list[str] | None, typer.Argument(help="The tasks' uuids (or a filter).", show_default=False)
    ] = None,
    group: GroupOption = None,
    state: StateOption = None,
    tag: TagOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel queued tasks: by uuid, or every one of --group matching the filters."""
    if uuids and (group or state or tag):
        raise BadRequest("give uuids or --group with filters, not both")
    if not uuids and not group:
        raise BadRequest("nothing to cancel", hint="shipyard tasks cancel UUID…, or --group G")
    wellformed, malformed = _uuids(uuids or [])
    body: dict[str, Any] = {"uuids": wellformed} if uuids else {"group": group}
    if state:
        body["states"] = state
    if tag:
        body["tags"] = tag
    answer: dict[str, Any] = {"cancelled": [], "refused": {}}
    if wellformed or not uuids:
        with _client() as client:
            answer = client.cancel(body)
    # A typo among the uuids is refused on its own: the route refuses the whole list for it.
    answer["refused"] = {**answer["refused"], **dict.fromkeys(malformed, "is not a task uuid")}
    if as_json:
        _out(answer)
    else:
        sys.stdout.write(f"cancelled {len(answer['cancelled'])}\n")
        for uuid, why in answer["refused"].items():
            sys.stdout.write(f"  {uuid}: {why}\n")
    if answer["refused"]:  # a script sees that not all were cancelled
        raise typer.Exit(1)
