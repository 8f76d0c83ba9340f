"""``shipyard import FILE``: another tool's file (process-compose, ...) as a Shipyard spec with a
comment on every mapping, and a warning for everything with no Shipyard equivalent
(docs/importing.md). A pure file transform: no state, no server, so no operation behind it.

No ``from __future__ import annotations``: Typer reads the options' annotations (commands.py).
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.app import JsonOption, app
from shipyard.errors import ShipyardError
from shipyard.wording import counted


@app.command(name="import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="A process-compose file (or another tool's file: its format is detected).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the spec here (refused if it exists, unless --force) [default: stdout]",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            envvar="SHIPYARD_IMPORT_FORMAT",
            help="a2a | atoll | process-compose | jarvis | mitosis | shipyard "
            "[default: detected from the content]",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --output.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write the Shipyard spec equivalent to another tool's file, each mapping commented; name
    every key with no Shipyard equivalent (warnings, on stderr)."""
    from shipyard.formats.importing import check_format, import_file
    from shipyard.formats.mitosisload import import_mitosis_file

    if output is not None and output.exists() and not force:
        raise ShipyardError(
            f"{output} exists: not overwritten", hint="give another --output, or --force"
        )
    given = check_format(format) if format else None
    # A Mitosis suite or task becomes a suite or task file, not a spec: its own importer.
    result = import_mitosis_file(file, given, output) or import_file(
        file, format=given, output=output
    )
    if output is not None:
        try:
            output.write_text(result.text, encoding="utf-8")
        except OSError as error:
            raise ShipyardError(f"cannot write {output}: {error.strerror}") from None
    notes = sorted(result.notes, key=lambda n: n.location.line if n.location else 0)
    if as_json:
        sys.stdout.write(json.dumps(_json(result.format, output, result.text, notes), indent=2))
        sys.stdout.write("\n")
        return
    if output is None:
        sys.stdout.write(result.text)
    else:
        sys.stderr.write(f"wrote {output}: the Shipyard spec of {file} ({result.format})\n")
    warnings = [note for note in notes if note.warning]
    if warnings:
        sys.stderr.write(
            f"{counted(len(warnings), 'key')} not mapped, or mapped with other semantics:\n"
        )
        for note in warnings:
            where = f"{file}:{note.location.line}:{note.location.column}: " if note.location else ""
            sys.stderr.write(f"  {where}{note.key}: {note.message}\n")


def _json(format: str, output: Path | None, text: str, notes: list[Any]) -> dict[str, Any]:
    def record(note: Any) -> dict[str, Any]:
        where = note.location
        return {
            "key": note.key,
            "kind": note.kind,
            "message": note.message,
            "line": where.line if where else None,
            "column": where.column if where else None,
        }

    return {
        "format": format,
        "output": str(output) if output is not None else None,
        "spec": text,
        "warnings": [record(note) for note in notes if note.warning],
        "notes": [record(note) for note in notes],
    }
