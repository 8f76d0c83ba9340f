"""``shipyard manager``: run a node manager on this machine (issue 14 §2, docs/suites.md
"Running node managers"); ``shipyard manager shutdown UUID`` and ``shipyard managers list``,
a user's view of them (the server from --server/$SHIPYARD_SERVER, the token from
--token/$SHIPYARD_TOKEN, as ``shipyard tasks``).

No ``from __future__ import annotations``: Typer reads the options' annotations.
"""

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.app import _SETTINGS, JsonOption, app
from shipyard.cli.tasks_cli import _client, _out
from shipyard.errors import BadRequest
from shipyard.manager.tokenrefresh import REFRESH_CHECK, REFRESH_MARGIN

TOKEN_VARIABLE = "SHIPYARD_MANAGER_TOKEN"  # noqa: S105 (a variable's name)

manager_app = typer.Typer(
    help="Run a node manager: it takes suites from the coordinator, runs their hooks and "
    "serves their tasks to managed workers on this machine (token from "
    "$SHIPYARD_MANAGER_TOKEN). `shipyard manager shutdown UUID` asks one to stop.",
    invoke_without_command=True,
    **_SETTINGS,
)
app.add_typer(manager_app, name="manager")
managers_app = typer.Typer(help="The node managers of your groups.", **_SETTINGS)
app.add_typer(managers_app, name="managers")


@managers_app.callback()
def managers() -> None:
    """The node managers of your groups (server from --server or $SHIPYARD_SERVER, token
    from --token or $SHIPYARD_TOKEN)."""
    # A callback keeps `managers` a group (`managers list`), not its single command.


@manager_app.callback()
def manager(
    context: typer.Context,
    server: Annotated[
        str | None,
        typer.Option("--server", help="The coordinator: http://host:port", show_default=False),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="The group its token is for.", show_default=False),
    ] = None,
    tags: Annotated[
        str, typer.Option("--tags", help="Comma-separated tags it offers (gpu,a100).")
    ] = "",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A Mitosis node manager's config (TOML): its coordinator_url, groups, tags, "
            "heartbeat_interval, credential_path; options given here win.",
            show_default=False,
        ),
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option("--folder", help="Where suites run and logs go [default: ./shipyard-manager]"),
    ] = None,
    heartbeat: Annotated[
        float | None,
        typer.Option(
            "--heartbeat", min=0.1, max=3600, help="Seconds between heartbeats. [default: 30]"
        ),
    ] = None,
    stats: Annotated[
        Path | None,
        typer.Option(
            "--stats",
            help="At exit, write each request type's count and time to "
            "its reply (p50/p95/max ms) there as JSON.",
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="Read the token from this file (instead of $SHIPYARD_MANAGER_TOKEN) and "
            "write each refreshed token there (0600, atomically).",
            show_default=False,
        ),
    ] = None,
    refresh_margin: Annotated[
        float,
        typer.Option(
            "--refresh-margin",
            min=1,
            help="Refresh the token when it expires within this many seconds.",
        ),
    ] = REFRESH_MARGIN,
    refresh_check: Annotated[
        float,
        typer.Option("--refresh-check", min=0.1, help="Seconds between token expiry checks."),
    ] = REFRESH_CHECK,
    as_json: JsonOption = False,
) -> None:
    """Run a node manager until SIGTERM (finish the running tasks, give the rest back, clean
    up, leave) or a second SIGTERM (kill them and leave). Progress lines on stdout (--json:
    one JSON object each)."""
    if context.invoked_subcommand is not None:
        return
    if config is not None:
        from shipyard.formats.mitosismanager import manager_options

        server, group, tags, heartbeat, token_file, said = manager_options(
            config, server=server, group=group, tags=tags, heartbeat=heartbeat,
            token_file=token_file,
        )  # fmt: skip
        sys.stderr.write("".join(f"{line}\n" for line in said))
    if not server or not group:
        raise BadRequest(
            "shipyard manager needs --server and --group",
            hint="shipyard manager --server http://host:8420 --group lab --tags gpu",
        )
    token = os.environ.get(TOKEN_VARIABLE, "")
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as error:
            raise BadRequest(f"cannot read the token file {token_file}: {error.strerror}",
                             hint="give a file holding a manager token") from None  # fmt: skip
    if not token:
        raise BadRequest(
            "no manager token",
            hint=f"set ${TOKEN_VARIABLE} to a token of POST /api/v1/groups/{group}/managers",
        )
    from shipyard.serverurl import check_server_url

    check_server_url(server)
    from shipyard.manager.node import Manager

    offered = [tag.strip() for tag in tags.split(",") if tag.strip()]
    running = Manager(server, token, group, offered,
                      (folder or Path("shipyard-manager")).resolve(), heartbeat=heartbeat or 30.0,
                      as_json=as_json, stats=stats, token_file=token_file,
                      refresh_margin=refresh_margin, refresh_check=refresh_check)  # fmt: skip
    running.install_signals()
    running.run()


@manager_app.command("shutdown")
def shutdown(
    uuid: Annotated[str, typer.Argument(help="The manager's uuid.", show_default=False)],
    force: Annotated[
        bool, typer.Option("--force", help="Kill its workers and tasks now (they go back).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask a manager to stop: it finishes its running tasks (at most 30 s), gives the rest
    back, cleans up and leaves; --force kills them and leaves."""
    with _client() as client:
        answer = client.call("POST", f"/managers/{uuid}/shutdown", {"force": force})
    if as_json:
        _out(answer)
    else:
        sys.stdout.write(f"manager {answer['uuid']}: shutdown ({answer['shutdown']}) asked\n")


def manager_rows(managers: list[dict[str, Any]]) -> str:
    """``managers list``'s table."""
    lines = [f"{'uuid':<36}  {'state':<9}  {'group':<12}  {'host':<16}  {'suite':<36}  tags"]
    for found in managers:
        lines.append(
            f"{found['uuid']:<36}  {found['state']:<9}  {found['group'][:12]:<12}  "
            f"{(found.get('hostname') or '')[:16]:<16}  {found.get('suite_uuid') or '-':<36}  "
            f"{','.join(found.get('tags') or [])}"
        )
    return "\n".join(lines) + "\n"


@managers_app.command("list")
def list_managers(
    group: Annotated[str | None, typer.Option("--group", help="The group's name.")] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="idle, preparing, executing, cleanup, offline or gone."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="At most.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip the newest N.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """The node managers of your groups, newest first."""
    from urllib.parse import urlencode

    query: list[tuple[str, Any]] = [("limit", limit), ("offset", offset)]
    query += [("group", group)] if group else []
    query += [("state", state)] if state else []
    with _client() as client:
        answer = client.call("GET", f"/managers?{urlencode(query)}")
    if as_json:
        _out(answer)
        return
    sys.stdout.write(manager_rows(answer["managers"]))
    if answer["count"] > len(answer["managers"]):
        more = offset + len(answer["managers"])
        sys.stdout.write(f"({len(answer['managers'])} of {answer['count']}; --offset {more})\n")
