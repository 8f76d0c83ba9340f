"""What steps hand each other and their quality gates: ``shipyard artifacts EXEC [STEP]``,
``shipyard artifacts get EXEC STEP PATH -o FILE`` and ``shipyard gate approve EXEC STEP
--reason TEXT`` (issue 15 §1-2).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported. No ``from
__future__ import annotations``: Typer reads the commands' annotations (see commands.py).
"""

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.app import _SETTINGS, HomeOption, JsonOption, app
from shipyard.cli.front import console
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.table import Table

    from shipyard.models import Artifact, ArtifactChunk, GateApproval

#: The word that makes ``shipyard artifacts`` copy a file out instead of listing.
GET = "get"
_USAGE = (
    "shipyard artifacts EXEC [STEP] [--json]  or  shipyard artifacts get EXEC STEP PATH -o FILE"
)


@app.command("artifacts")
def artifacts(
    words: Annotated[
        list[str],
        typer.Argument(
            help="EXEC [STEP]: list what the steps' outputs left (path, size, SHA-256); "
            "get EXEC STEP PATH: copy one file out (with -o).",
            metavar="EXEC [STEP] | get EXEC STEP PATH",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="get: where to write the file.", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the artifacts of an execution (of one step), or copy one out with `get`."""
    if words[0] == GET:
        _get(words[1:], output, home=home, as_json=as_json)
        return
    if len(words) > 2:
        raise ShipyardError(f"too many arguments: {' '.join(words)}", hint=_USAGE)
    if output is not None:
        raise ShipyardError("-o is for `shipyard artifacts get`", hint=_USAGE)
    found = _ops(home).artifacts(words[0], words[1] if len(words) > 1 else None)
    if as_json:
        _dump(found)
    elif not found:
        console().print("no artifacts recorded (steps list theirs under outputs: in the spec)")
    else:
        console().print(artifact_table(found))


def _get(words: list[str], output: Path | None, *, home: Path | None, as_json: bool) -> None:
    if len(words) != 3:
        raise ShipyardError("artifacts get takes EXEC STEP PATH", hint=_USAGE)
    if output is None:
        raise ShipyardError("artifacts get needs -o FILE: where to write it", hint=_USAGE)
    execution_id, step, path = words
    size = write_chunks(_ops(home).artifact_read(execution_id, step, path), output)
    if as_json:
        _dump({"execution_id": execution_id, "step": step, "path": path, "output": str(output),
               "size": size})  # fmt: skip
    else:
        console().print(f"wrote {output} ({size} bytes) from {step}/{path}")


def write_chunks(chunks: "Iterable[ArtifactChunk]", output: Path) -> int:
    """The chunks into ``output`` through a temporary file beside it, renamed once complete:
    a copy cut short never stands where the file should be. Returns the bytes written."""
    folder = output.parent if str(output.parent) else Path()
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=folder)
    size = 0
    try:
        with os.fdopen(handle, "wb") as file:
            for chunk in chunks:
                data = chunk.raw
                file.write(data)
                size += len(data)
        Path(temporary).replace(output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size


def artifact_table(found: list["Artifact"]) -> "Table":
    from rich.table import Table

    from shipyard.spec.quantities import format_size

    table = Table(box=None)
    for column in ("step", "path", "size", "sha256"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for artifact in found:
        table.add_row(artifact.unit, artifact.path, format_size(artifact.size), artifact.sha256)
    return table


gate_app = typer.Typer(
    help="Quality gates: a step whose gate failed is 'gated'; approve passes it on purpose.",
    **_SETTINGS,
)
app.add_typer(gate_app, name="gate")


@gate_app.callback()
def _gate() -> None:
    """Quality gates: a step whose gate failed is 'gated'; approve passes it on purpose."""
    # A callback keeps `gate` a group: with one command Typer would make it that command.


@gate_app.command("approve")
def gate_approve(
    execution_id: Annotated[str, typer.Argument(help="The execution.", show_default=False)],
    step: Annotated[str, typer.Argument(help="The gated step.", show_default=False)],
    reason: Annotated[
        str, typer.Option("--reason", help="Why the failed gate is passed (recorded).")
    ],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pass a gated step's failed gate on purpose: it counts as succeeded, recorded with who
    ($USER), why and when; then `shipyard resume EXEC` runs its dependants."""
    from shipyard.operations.artifacts import approver

    approval = _ops(home).gate_approve(
        execution_id, step, reason=reason, approved_by=approver(None)
    )
    if as_json:
        _dump(approval)
    else:
        console().print(approved_text(approval, execution_id))


def approved_text(approval: "GateApproval", execution_id: str) -> str:
    failed = "; ".join(approval.gates) or "its gate"
    return (
        f"approved: {approval.unit} passes ({failed}) — by {approval.approved_by}: "
        f"{approval.reason}\nnext: shipyard resume {execution_id} runs what depends on it"
    )
