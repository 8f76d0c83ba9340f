"""Where the MCP front end lets an assistant write a file: a sweep's plot, an analysis's HTML
report, exported logs. The CLI writes where its user says (the user typed the path); over MCP
the path comes from a model that may have read a hostile log or spec, so:

- a relative path lands under ``<home>/reports/`` (made when missing) and may not climb out
  of it (``..``, a link);
- an absolute path must be inside the home or the server's working folder (not when that
  folder is ``/``), with no hidden part below it (``~/.ssh/...``, ``~/.bashrc``);
- the name must end as the kind of file written does (``.png``; ``.html``; ``.jsonl``/
  ``.json``), so a report never becomes a script or a config file;
- an existing file is overwritten only when it is a previous report (a file under
  ``<home>/reports/``, where only this rule writes); a link is never written through.

A server started read-only (``shipyard mcp --read-only``) writes nothing: every path is
refused, with what to do instead. (The tools that write a file are annotated read-only because
they mostly answer; their writing argument is what the mode takes away.)

Every refusal is a ShipyardError naming the path and what would be accepted."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError

REPORTS = "reports"
#: The endings each kind of output may have.
SUFFIXES = {
    "plot": (".png",),
    "html": (".html", ".htm"),
    "logs": (".jsonl", ".json"),
}
#: What a read-only server's refusal says to do instead of each kind of output, and the
#: command that writes it from a shell.
INSTEAD = {
    "plot": "sweep_status answers the figures",
    "html": "call again without html_path: the analysis is in the answer",
    "logs": "call again with action=collect or search and no output_path: the lines are in "
    "the answer",
}
CLI = {
    "plot": "shipyard sweep status ID --plot",
    "html": "shipyard analyze --html",
    "logs": "shipyard logs --export",
}


@dataclass(frozen=True, slots=True)
class OutputRule:
    home: Path  # resolved
    cwd: Path  # resolved: the server's working folder
    read_only: bool = False  # the server is read-only: nothing is written

    @classmethod
    def for_server(cls, home: Path | None, *, read_only: bool = False) -> OutputRule:
        from shipyard.workspace import default_home

        chosen = Path(home) if home is not None else default_home()
        return cls(Path(os.path.realpath(chosen)), Path(os.path.realpath(Path.cwd())), read_only)

    @property
    def reports(self) -> Path:
        return self.home / REPORTS

    def place(self, given: str, kind: str, *, overwrite: bool = True) -> Path:
        """Where ``given`` may be written as a ``kind`` output, or a ShipyardError.
        ``overwrite``: whether a previous report there may be replaced."""
        if self.read_only:
            raise ShipyardError(
                f"this MCP server is read-only (--read-only): it writes no file, so the {kind} "
                f"output {str(given)[:200]!r} was not written and nothing was done",
                hint=f"{INSTEAD[kind]}; to write the file, use the CLI ({CLI[kind]}) or an "
                "MCP server started without --read-only",
            )
        target = self._resolved(given, kind)
        if os.path.lexists(target):
            _check_existing(target, self.reports, overwrite=overwrite)
        elif _inside(target, self.reports):
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return target

    def _resolved(self, given: str, kind: str) -> Path:
        if not isinstance(given, str) or not given.strip() or "\0" in given:
            raise ShipyardError(
                f"the {kind} output path {given!r:.80} is empty or not a path",
                hint=f"give a file name like report{SUFFIXES[kind][0]} (it lands in "
                f"{self.reports})",
            )
        raw = Path(given).expanduser() if given.startswith("~") else Path(given)
        if not raw.name.lower().endswith(SUFFIXES[kind]):
            raise ShipyardError(
                f"{given[:200]}: a {kind} output must end in {' or '.join(SUFFIXES[kind])}",
                hint=f"name it like report{SUFFIXES[kind][0]}",
            )
        # The folders are resolved (links followed); the file's own name is kept, so a link
        # there is seen as a link below.
        candidate = raw if raw.is_absolute() else self.reports / raw
        target = Path(os.path.realpath(candidate.parent)) / candidate.name
        roots = [Path(os.path.realpath(self.reports))] if not raw.is_absolute() else self._roots()
        if not any(_inside(target, root) and not _hidden_below(target, root) for root in roots):
            raise ShipyardError(
                f"{given[:200]}: the MCP server writes {kind} outputs only under "
                + " or ".join(str(root) for root in roots),
                hint=f"give a relative name like report{SUFFIXES[kind][0]}: it lands in "
                f"{self.reports}",
            )
        if not raw.is_absolute() or _inside(target, self.reports):
            return target
        if not target.parent.is_dir():
            raise ShipyardError(
                f"{given[:200]}: the folder {target.parent} does not exist",
                hint="give a relative name: it lands in " + str(self.reports),
            )
        return target

    def _roots(self) -> list[Path]:
        roots = [self.home]
        if self.cwd != Path(self.cwd.anchor):
            roots.append(self.cwd)
        return roots


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _hidden_below(path: Path, root: Path) -> bool:
    """Whether a part of ``path`` below ``root`` is hidden (starts with a dot); the home
    itself (often ``.shipyard``) may be."""
    if not _inside(path, root):
        return False
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _check_existing(target: Path, reports: Path, *, overwrite: bool) -> None:
    if target.is_symlink() or not target.is_file():
        raise ShipyardError(
            f"{target} exists and is not a plain file: nothing is written through it",
            hint="give a new file name",
        )
    if not _inside(target, Path(os.path.realpath(reports))):
        raise ShipyardError(
            f"{target} exists already and is not a previous report: the MCP server never "
            "overwrites it",
            hint=f"give a new path (a relative name lands in {reports}, where reports are "
            "replaced)",
        )
    if not overwrite:
        raise ShipyardError(
            f"{target} exists already", hint="give another output_path, or overwrite=true"
        )
