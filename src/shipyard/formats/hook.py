"""The hook through which validate, plan, run and up take another tool's file as it is
(operations/specsource.py): cheap for a Shipyard spec — one read and one regex search, with no
YAML, TOML or Pydantic imported before the plan cache is asked."""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import SpecError
from shipyard.formats.detect import detect_text, looks_like_shipyard
from shipyard.spec.reading import read_spec_text


class ForeignFileError(SpecError):
    """Another tool's file that cannot be imported, or with problems of its own: validate
    reports them as it reports a spec's (exit 1, --json), each at the file's own line."""


def foreign_spec_text(path: Path) -> str | None:
    """None when ``path`` is a Shipyard spec (or no tool's file: Shipyard's own checks report
    it); else its Shipyard equivalent's text. SpecError when it is another tool's file that
    cannot be imported (said so, at its own lines)."""
    text = read_spec_text(path)
    if looks_like_shipyard(text):
        return None
    detection = detect_text(text, path)
    if not detection.foreign:
        return None
    from shipyard.formats.importing import import_text

    try:
        return import_text(text, path.resolve(), detection=detection).text
    except SpecError as error:
        raise ForeignFileError(error.problems) from None
