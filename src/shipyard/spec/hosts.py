"""The spec's hosts (issue 16): a hostfile or a list, Jarvis-CD's way of writing them.

An entry is ``[user@]address[:port]``; brackets expand (``node[01-04]`` is node01 … node04,
``n[1,3,5-6]`` is n1, n3, n5, n6; zero padding is kept from the lower bound); in a hostfile,
``#`` starts a comment and blank lines are skipped. An entry's *name* (what ``host:`` and
``status`` use) is its address, or ``address:port`` where two entries share an address.
A mapping ``{name, address, user, port}`` names a host itself.

Pure: the hostfile's text is read by the caller (:func:`shipyard.spec.loader.load_spec_text`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.plan.model import HostEntry

#: A hostfile or a list may expand to this many hosts at most.
MAX_HOSTS = 10_000

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_ENTRY = re.compile(r"^(?:(?P<user>[^@\s:]+)@)?(?P<address>[^@\s:]+)(?::(?P<port>\d{1,5}))?$")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class HostsProblem(ValueError):
    """What is wrong with an entry, said for a user; ``line``: its line in a hostfile."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def expand(pattern: str) -> list[str]:
    """``pattern`` with its brackets expanded, in order (several brackets: every product)."""
    match = _BRACKET.search(pattern)
    if match is None:
        if "[" in pattern or "]" in pattern:
            raise HostsProblem(f"'{pattern}' has an unmatched bracket")
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    out: list[str] = []
    for part in match.group(1).split(","):
        numbers = _RANGE.match(part.strip())
        if numbers is None:
            raise HostsProblem(
                f"'{pattern}': '[{match.group(1)}]' is not a list of numbers and ranges "
                "(write node[01-04] or node[1,3,5-7])"
            )
        low, high = numbers.group(1), numbers.group(2) or numbers.group(1)
        if int(high) < int(low):
            raise HostsProblem(f"'{pattern}': the range {low}-{high} runs backwards")
        width = len(low) if low.startswith("0") else 0
        if int(high) - int(low) + len(out) >= MAX_HOSTS:
            raise HostsProblem(f"'{pattern}' expands to more than {MAX_HOSTS} hosts")
        for number in range(int(low), int(high) + 1):
            out.extend(f"{head}{number:0{width}d}{rest}" for rest in expand(tail))
    return out


@dataclass(frozen=True, slots=True)
class _Parsed:
    address: str
    user: str | None
    port: int | None


def parse_entry(text: str) -> list[_Parsed]:
    """One written entry, expanded: ``[user@]address[:port]``."""
    out = []
    for word in expand(text.strip()):
        match = _ENTRY.match(word)
        if match is None:
            raise HostsProblem(f"'{word}' is not a host: write [user@]name[:port]")
        port = int(match.group("port")) if match.group("port") else None
        if port is not None and not 1 <= port <= 65535:
            raise HostsProblem(f"'{word}': port {port} is outside 1-65535")
        out.append(_Parsed(match.group("address"), match.group("user"), port))
    return out


def hostfile_entries(text: str) -> list[tuple[int, str]]:
    """The entries of a hostfile's ``text`` with their line numbers (comments and blank lines
    skipped; several entries on one line, separated by spaces or commas, are allowed)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for word in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if word:
                found.append((number, word))
    return found


def resolve(written: Sequence[tuple[int | None, str | HostEntry]]) -> list[HostEntry]:
    """The hosts, named: ``written`` holds (line or None, an entry's text or a named entry).
    Raises HostsProblem (with the line) for a bad entry, a name given twice, or none at all."""
    parsed: list[tuple[int | None, _Parsed | HostEntry]] = []
    for line, item in written:
        if isinstance(item, HostEntry):
            parsed.append((line, item))
            continue
        try:
            parsed.extend((line, entry) for entry in parse_entry(item))
        except HostsProblem as problem:
            raise HostsProblem(problem.message, line) from None
        if len(parsed) > MAX_HOSTS:
            raise HostsProblem(f"more than {MAX_HOSTS} hosts", line)
    if not parsed:
        raise HostsProblem("no hosts are listed: write at least one [user@]name[:port]")
    shared = _shared_addresses([each for _, each in parsed if isinstance(each, _Parsed)])
    hosts: list[HostEntry] = []
    seen: dict[str, int | None] = {}
    for line, each in parsed:
        host = each if isinstance(each, HostEntry) else _named(each, shared)
        if host.name in seen:
            where = f" (line {seen[host.name]})" if seen[host.name] else ""
            raise HostsProblem(f"host '{host.name}' is listed twice{where}", line)
        seen[host.name] = line
        hosts.append(host)
    return hosts


def _named(entry: _Parsed, shared: set[str]) -> HostEntry:
    """Its name: its address, with its port where another entry has the same address."""
    name = entry.address
    if entry.address in shared and entry.port is not None:
        name = f"{entry.address}:{entry.port}"
    return HostEntry(name, entry.address, entry.user, entry.port)


def _shared_addresses(entries: list[_Parsed]) -> set[str]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.address] = counts.get(entry.address, 0) + 1
    return {address for address, count in counts.items() if count > 1}


def placement(
    hosts: Sequence[HostEntry], units: Sequence[tuple[str, str | None]]
) -> dict[str, str]:
    """Each unit's host name: its own ``host:`` where given, else the hosts in turn (the first
    unit without one on the first host, the next on the second, …)."""
    names = [host.name for host in hosts]
    placed: dict[str, str] = {}
    turn = 0
    for unit, asked in units:
        if asked is not None:
            placed[unit] = asked
        elif names:
            placed[unit] = names[turn % len(names)]
            turn += 1
    return placed
