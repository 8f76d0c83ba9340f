"""``shipyard worker``: run the coordinator's tasks on this machine (issue 13 §4,
docs/coordinator.md "Workers").

No ``from __future__ import annotations``: Typer reads the options' annotations.
"""

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.app import JsonOption, app
from shipyard.coordinator.resilience import BACKOFF_CAP
from shipyard.errors import BadRequest
from shipyard.wording import counted

TOKEN_VARIABLE = "SHIPYARD_WORKER_TOKEN"  # noqa: S105 (a variable's name)
#: The most tasks one worker runs at once (a fetch claims at most the coordinator's 1,000).
MAX_CONCURRENCY = 256


@app.command()
def worker(
    server: Annotated[
        str, typer.Option("--server", help="The coordinator: http://host:port", show_default=False)
    ],
    group: Annotated[
        str, typer.Option("--group", help="The group its token is for.", show_default=False)
    ],
    tags: Annotated[str, typer.Option("--tags", help="Comma-separated tags it offers (a,b).")] = "",
    folder: Annotated[
        Path | None,
        typer.Option("--folder", help="Where tasks run and logs go [default: ./shipyard-worker]"),
    ] = None,
    max_tasks: Annotated[
        int | None, typer.Option("--max-tasks", min=1, help="Leave after this many tasks.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="On SIGTERM stop the current task now (requeued).")
    ] = False,
    backoff_cap: Annotated[
        float,
        typer.Option(
            "--backoff-cap",
            min=0.1,
            envvar="SHIPYARD_WORKER_BACKOFF_CAP",
            help="The longest wait (s) between tries while the coordinator is away.",
        ),
    ] = BACKOFF_CAP,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=MAX_CONCURRENCY,
            envvar="SHIPYARD_WORKER_CONCURRENCY",
            help="How many tasks run at once (each its own process group, timeout and log).",
        ),
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Fetch and run the coordinator's tasks (token from $SHIPYARD_WORKER_TOKEN), up to
    --concurrency at once; SIGTERM finishes the running tasks and leaves, a second SIGTERM
    stops them now."""
    from shipyard.coordinator.worker import Worker

    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise BadRequest(
            "no worker token",
            hint=f"set ${TOKEN_VARIABLE} to a token of POST /api/v1/groups/{group}/workers",
        )
    from shipyard.serverurl import check_server_url

    check_server_url(server)
    offered = [tag.strip() for tag in tags.split(",") if tag.strip()]
    running = Worker(server, token, group, offered, (folder or Path("shipyard-worker")).resolve(),
                     max_tasks=max_tasks, force=force, backoff_cap=backoff_cap,
                     concurrency=concurrency)  # fmt: skip
    running.install_signals()
    ran = running.run()
    if as_json:
        sys.stdout.write(json.dumps({"ran": ran}) + "\n")
    else:
        sys.stdout.write(f"shipyard worker: ran {counted(ran, 'task')}; left\n")
