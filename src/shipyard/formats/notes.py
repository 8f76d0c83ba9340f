"""What an importer says about each key of a foreign file: mapped (a comment in the spec it
writes), approximated, implicit in Shipyard, or with no Shipyard equivalent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipyard.errors import Location

#: mapped: written into the spec as it means; approximate: written, with different semantics;
#: implicit: Shipyard always behaves so, nothing to write; unmapped: no Shipyard equivalent, left
#: out (never silently: each is in the import's warnings).
NoteKind = Literal["mapped", "approximate", "implicit", "unmapped"]

#: The kinds a user is warned about: something of the file does not run as it did.
WARNING_KINDS: tuple[NoteKind, ...] = ("approximate", "unmapped")


@dataclass(frozen=True)
class MappingNote:
    """One key of the foreign file (named as that file names it) and what became of it."""

    key: str
    kind: NoteKind
    message: str
    location: Location | None = None

    @property
    def warning(self) -> bool:
        return self.kind in WARNING_KINDS

    def line(self) -> str:
        """``key (line N): message`` — a warning line and the spec's header comment alike."""
        where = f" (line {self.location.line})" if self.location else ""
        return f"{self.key}{where}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    """A foreign file as a Shipyard spec: its text (with a comment on each mapping), the
    notes, and for each line of the text the place in the foreign file it came from."""

    format: str
    text: str
    notes: list[MappingNote] = field(default_factory=list)
    origins: dict[int, Location] = field(default_factory=dict)

    @property
    def warnings(self) -> list[MappingNote]:
        return [note for note in self.notes if note.warning]
