"""The hook through which validate, plan, run and up take another tool's file as it is
(operations/specsource.py): cheap for a Shipyard spec — one read and one regex search, with no
YAML, TOML or Pydantic imported before the plan cache is asked."""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import SpecError
from shipyard.formats.detect import detect_text, looks_like_shipyard
from shipyard.spec.reading import read_spec_text
from shipyard.spec.shown import problems_as_given


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
    from shipyard.formats.importing import IMPORTERS, import_text

    if detection.format in _TOML_FORMATS and detection.format not in IMPORTERS:
        _refuse_toml(text, path, detection.format)
    try:
        return import_text(text, path.resolve(), detection=detection).text
    except SpecError as error:  # named by the path as given, not the resolved one
        raise ForeignFileError(problems_as_given(error.problems, path)) from None


#: Formats detected from a TOML file (among others) that have no importer: a TOML one is
#: said to be TOML, with where it belongs (an agent folder, serve --config), not "Shipyard
#: cannot import it". A Mitosis configuration is formats/mitosisprobe.py's to place; a
#: file detected as Mitosis's that is not (serve's settings have a [coordinator] too) is
#: said to be what it is.
_TOML_FORMATS = ("toml", "atoll", "mitosis")


def _refuse_toml(text: str, path: Path, format: str) -> None:
    from shipyard.spec.tomlhint import toml_problem

    problem = toml_problem(text, path, unless="mitosis" if format == "mitosis" else None)
    if problem is not None:
        raise ForeignFileError(problems_as_given([problem], path))
