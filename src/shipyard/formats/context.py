"""What an importer carries while it reads a foreign file: the file's source map (so every note
and problem has the foreign file's own line and column and key names), the notes and problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shipyard.errors import Location, SpecProblem
from shipyard.formats.notes import MappingNote, NoteKind
from shipyard.spec.yamlsource import PathKey, SourceMap


def dotted(path: PathKey) -> str:
    """A key path as the foreign file's user writes it: ``processes.api.command``,
    ``environment[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class ImportContext:
    source: SourceMap
    notes: list[MappingNote] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)

    def at(self, path: PathKey) -> Location | None:
        """Where ``path``'s key is written (its value for a list item)."""
        return self.source.locate(path, key=True)

    def note(self, path: PathKey, kind: NoteKind, message: str) -> None:
        self.notes.append(MappingNote(dotted(path), kind, message, self.at(path)))

    def unmapped(self, path: PathKey, why: str) -> None:
        self.note(path, "unmapped", f"not mapped: {why}")

    def problem(self, path: PathKey, message: str, hint: str | None = None) -> None:
        self.problems.append(SpecProblem(message, self.at(path), hint=hint))

    def header(self, what: str, path: Path | None) -> list[str]:
        """The written spec's opening comment: where it came from (``what``: "the A2A job
        file"), then every note that is a warning (not mapped, or mapped differently)."""
        lines = [
            f"Imported from {what} {path.name if path else '<text>'} by `shipyard import` "
            "(docs/importing.md).",
            "Each mapping is commented with the key it came from.",
        ]
        warnings = [note for note in self.notes if note.warning]
        if warnings:
            lines.append("Not mapped, or mapped with different semantics:")
            lines.extend(f"  - {note.line()}" for note in warnings)
        return lines
