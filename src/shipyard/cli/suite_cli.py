"""shipyard suite create|submit|status|list|cancel|close: a user's client of the coordinator's
suite routes (issue 14 §1; docs/suites.md), over the same client, server and token as
``shipyard tasks`` (``--server``/``$SHIPYARD_SERVER``, ``--token``/``$SHIPYARD_TOKEN``).

Pydantic, httpx and YAML load inside the commands: every command line pays for what is
imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations.
"""

import json
import sys
import time
from typing import Annotated, Any

import typer

from shipyard.cli.app import _SETTINGS, JsonOption, app
from shipyard.cli.tasks_cli import _client, _out, _pairs, _submitted
from shipyard.wording import counted

suite_app = typer.Typer(
    help="Task suites on the coordinator: create one from a suite file, submit tasks to it, "
    "watch it, list, cancel, close (server from --server or $SHIPYARD_SERVER, token from "
    "--token or $SHIPYARD_TOKEN). Node managers, which will run suites with their hooks and "
    "managed workers, come next; today `shipyard worker`s run suite tasks as any task.",
    **_SETTINGS,
)
app.add_typer(suite_app, name="suite")

UuidArgument = Annotated[str, typer.Argument(help="The suite's uuid.", show_default=False)]
#: The states a suite does not leave (status --watch stops there).
FINAL = ("complete", "cancelled")


def _send(client: Any, suite: str, group: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = client.submit(
        [{**task, "group": group, "suite_uuid": suite} for task in tasks]
    )
    return answer


def _refusals(answer: dict[str, Any]) -> None:
    for refused in answer["refused"]:
        sys.stderr.write(f"task {refused['index']} refused: {refused['msg']}\n")
    if answer["refused"]:
        raise typer.Exit(1)


@suite_app.command("create")
def create(
    file: Annotated[
        str,
        typer.Argument(help="The suite file (YAML), or a Mitosis suite JSON.", show_default=False),
    ],
    format: Annotated[
        str | None,
        typer.Option("--format", help="mitosis [default: detected from the content]"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a suite from FILE and submit its tasks (a list, or a generator's)."""
    from shipyard.formats.mitosisload import load_suite, notes_text

    loaded, mapped = load_suite(file, format)
    sys.stderr.write(notes_text(file, mapped))
    with _client() as client:
        made = client.call("POST", "/suites", loaded.suite)
        answer = _send(client, made["uuid"], loaded.suite["group"], loaded.tasks)
    if as_json:
        _out({"uuid": made["uuid"], "state": made["state"], **answer})
    else:
        sys.stdout.write(f"{made['uuid']}\n")
        sys.stderr.write(f"suite created with {counted(len(answer['accepted']), 'task')}\n")
    _refusals(answer)


@suite_app.command("submit")
def submit(
    suite: UuidArgument,
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command (argv, no shell); after --.", show_default=False),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE in its environment (repeatable).")
    ] = None,
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
    """Add tasks to a suite (a closed one reopens); prints each task's uuid."""
    fields = {"env": _pairs(env, "--env"), "max_attempts": max_attempts, "timeout": timeout}
    if file is not None:
        from shipyard.formats.mitosisload import file_tasks

        tasks = file_tasks(file, command, count, index_env)
    else:
        tasks = _submitted(command or [], None, count, index_env, fields,
                           example="shipyard suite submit UUID -- echo hi")  # fmt: skip
    with _client() as client:
        group = client.call("GET", f"/suites/{suite}")["group"]
        if file is not None:
            from shipyard.formats.mitosisload import suite_group_notice

            sys.stderr.write(suite_group_notice(tasks, group))
        answer = _send(client, suite, group, tasks)
    if as_json:
        _out(answer)
    else:
        sys.stdout.write("".join(f"{made['uuid']}\n" for made in answer["accepted"]))
    _refusals(answer)


def status_text(suite: dict[str, Any]) -> str:
    """One suite, as ``suite status`` shows it: state, counters, progress."""
    counts = suite["counters"]
    ended = counts["done"] + counts["failed"] + counts["cancelled"]
    share = f"{100 * ended / counts['total']:.0f}%" if counts["total"] else "-"
    name = f" ({suite['name']})" if suite.get("name") else ""
    return (
        f"{suite['uuid']}{name}  {suite['state']}  group {suite['group']}\n"
        f"  {ended}/{counts['total']} ended ({share}): {counts['pending']} queued, "
        f"{counts['running']} running, {counts['done']} done, {counts['failed']} failed, "
        f"{counts['cancelled']} cancelled\n"
    )


@suite_app.command("status")
def status(
    suite: UuidArgument,
    watch: Annotated[
        bool, typer.Option("--watch", help="Show it again as it changes, until it is final.")
    ] = False,
    every: Annotated[
        float, typer.Option("--every", min=0.1, max=3600, help="Seconds between looks (--watch).")
    ] = 1.0,
    as_json: JsonOption = False,
) -> None:
    """A suite's state and counters; --watch follows it to complete or cancelled (with
    --json, one JSON line each time it changes)."""
    shown = None
    with _client() as client:
        while True:
            found = client.call("GET", f"/suites/{suite}")
            now = (found["state"], found["counters"])
            if now != shown:
                _show(found, as_json=as_json, watch=watch)
                shown = now
            if not watch or found["state"] in FINAL:
                return
            time.sleep(every)


def _show(found: dict[str, Any], *, as_json: bool, watch: bool) -> None:
    if as_json and watch:
        sys.stdout.write(json.dumps(found) + "\n")  # one line a change: a stream to read
    elif as_json:
        _out(found)
    else:
        sys.stdout.write(status_text(found))
    sys.stdout.flush()


def suite_rows(suites: list[dict[str, Any]]) -> str:
    """``suite list``'s table."""
    lines = [f"{'uuid':<36}  {'state':<9}  {'ended':>13}  {'group':<12}  name"]
    for suite in suites:
        counts = suite["counters"]
        ended = counts["done"] + counts["failed"] + counts["cancelled"]
        progress = f"{ended}/{counts['total']}"
        lines.append(f"{suite['uuid']:<36}  {suite['state']:<9}  {progress:>13}  "
                     f"{suite['group'][:12]:<12}  {suite['name'] or ''}")  # fmt: skip
    return "\n".join(lines) + "\n"


@suite_app.command("list")
def list_suites(
    group: Annotated[str | None, typer.Option("--group", help="The group's name.")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="open, closed, complete or cancelled.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag they have.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="At most.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip the newest N.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Suites of your groups, newest first."""
    from urllib.parse import urlencode

    query: list[tuple[str, Any]] = [("limit", limit), ("offset", offset)]
    query += [("group", group)] if group else []
    query += [("state", state)] if state else []
    query += [("tag", one) for one in tag or []]
    with _client() as client:
        answer = client.call("GET", f"/suites?{urlencode(query)}")
    if as_json:
        _out(answer)
        return
    sys.stdout.write(suite_rows(answer["suites"]))
    if answer["count"] > len(answer["suites"]):
        more = offset + len(answer["suites"])
        sys.stdout.write(f"({len(answer['suites'])} of {answer['count']}; --offset {more})\n")


@suite_app.command("cancel")
def cancel(
    suite: UuidArgument,
    running: Annotated[
        bool, typer.Option("--running", help="Cancel its running tasks too.")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Said in its record.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a suite and its queued tasks (with --running, its running ones too)."""
    with _client() as client:
        answer = client.call("POST", f"/suites/{suite}/cancel",
                             {"running": running, "reason": reason})  # fmt: skip
    if as_json:
        _out(answer)
    else:
        sys.stdout.write(f"cancelled; {counted(answer['cancelled_tasks'], 'task')} cancelled\n")


@suite_app.command("close")
def close(suite: UuidArgument, as_json: JsonOption = False) -> None:
    """Close an open suite now (complete at once if nothing is left to run)."""
    with _client() as client:
        answer = client.call("POST", f"/suites/{suite}/close")
    if as_json:
        _out(answer)
    else:
        sys.stdout.write(status_text(answer))
