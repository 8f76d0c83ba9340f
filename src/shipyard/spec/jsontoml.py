"""JSON and TOML text read into data: the one reader for the files other tools write
(Mitosis bodies and configs, ATOLL's agent and server files, TOML given to ``validate``).

Python's ``json`` and ``tomllib`` recurse once per level of nesting, so a file of ``[`` × 5000
ends in a RecursionError, which no caller expects (it was a traceback). Here it is a
:class:`NestedTooDeeply` naming the file. A file that does not parse keeps the parser's own
error (``json.JSONDecodeError``, ``tomllib.TOMLDecodeError``): each caller says it in its
words, at its line and column (:func:`toml_place` reads them out of TOML's message).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError, SpecError, SpecProblem


class NestedTooDeeply(SpecError):
    """JSON or TOML nested deeper than its parser can follow (thousands of levels)."""

    def __init__(self, path: Path | str | None, language: str) -> None:
        where = f"{path}: " if path is not None else ""
        nests = "arrays or objects" if language == "JSON" else "arrays or tables"
        message = (
            f"{where}this {language} is nested too deeply to read ({nests} within each other, "
            "thousands of levels deep)"
        )
        hint = "a real file is a few levels deep: check its brackets"
        self.language = language
        super().__init__([SpecProblem(message, hint=hint)])
        # Said as itself, not as "the spec has a problem": the file may be a config.
        ShipyardError.__init__(self, message, hint=hint)


def load_json(text: str, path: Path | str | None = None) -> Any:
    """``text`` as JSON. json.JSONDecodeError when it is not JSON; NestedTooDeeply when it is
    nested past the parser's recursion."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NestedTooDeeply(path, "JSON") from None


def load_toml(text: str, path: Path | str | None = None) -> dict[str, Any]:
    """``text`` as TOML. tomllib.TOMLDecodeError when it is not TOML; NestedTooDeeply when it
    is nested past the parser's recursion."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise NestedTooDeeply(path, "TOML") from None


#: Python 3.11's TOML errors end with where they are (there is no attribute for it).
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def toml_place(error: tomllib.TOMLDecodeError | str) -> tuple[int | None, int | None, str]:
    """The line and column a TOML error names (None, None: it names none, e.g. "at end of
    document", which stays in the message) and its message without them."""
    text = str(error)
    found = _TOML_AT.search(text)
    if found is None:
        return None, None, text.strip()
    return int(found[1]), int(found[2]), (text[: found.start()] + text[found.end() :]).strip()


__all__ = ["NestedTooDeeply", "load_json", "load_toml", "toml_place"]
