"""The one line the CLI prints (on stderr) when a spec file given to validate or plan is
another tool's file read as its Shipyard equivalent: what it is, and how many of its keys did
not map (``shipyard import`` names them)."""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import ShipyardError


def foreign_notice(spec: Path, format: str | None = None) -> str | None:
    """None for a Shipyard spec, a name that is not a file, or a file that cannot be imported
    (the command's own error says what it is). ``format``: as given with --format."""
    from shipyard.formats.detect import Detection, detect_text
    from shipyard.formats.importing import IMPORTERS, import_text
    from shipyard.spec.reading import read_spec_text

    try:
        if not spec.is_file():
            return None
        text = read_spec_text(spec)
        detection = detect_text(text, spec) if format is None else Detection(format, "--format")
        if detection.format not in IMPORTERS:
            return None
        result = import_text(text, spec.resolve(), detection=detection)
    except (ShipyardError, OSError):
        return None
    article = "an" if detection.title[:1] in "AEIOU" else "a"
    line = f"note: {spec} is {article} {detection.title} file, read as its Shipyard equivalent"
    count = len(result.warnings)
    if count:
        verb = "is" if count == 1 else "are"
        line += (
            f"; {count} of its keys {verb} not mapped or mapped with other semantics: "
            f"`shipyard import {spec}` names them (docs/importing.md)"
        )
    return line
