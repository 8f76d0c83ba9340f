"""Another tool's name (a job's, a pipeline's, an agent's, a file's) made a valid Shipyard
name (``NAME_PATTERN``: ASCII letters, digits, ``_ . -``, starting with a letter or digit).
The one slugger of every importer."""

from __future__ import annotations

import re

_RUN = re.compile(r"[^A-Za-z0-9_.-]+")
_ONE = re.compile(r"[^A-Za-z0-9_.-]")


def slug(name: str, *, limit: int = 64, fallback: str = "imported", runs: bool = True) -> str:
    """``name`` with what a Shipyard name cannot hold made ``-`` (each run of such characters
    one ``-``; with ``runs`` False each character its own, as ATOLL's agent names were),
    without leading or trailing ``-._``, cut to ``limit``; ``fallback`` when nothing is left."""
    made = (_RUN if runs else _ONE).sub("-", name).strip("-._")[:limit]
    # strip() leaves a letter or digit first, so ``made`` matches NAME_PATTERN when not empty.
    return made or fallback


__all__ = ["slug"]
