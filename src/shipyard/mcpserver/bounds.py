"""Bounded answers: no tool answer is longer than a limit, in characters of the serialised
result (``CallToolResult`` as JSON, the structured content and its text copy together).

Assistants cap a tool answer near 25,000 tokens and choke well before; a status of a
10,000-step run is megabytes. So every answer goes through :func:`bound`: when it fits, it is
sent as it is; when it does not, its longest lists are cut (a log's ``lines`` keep their
*end*: the tail is what matters; every other list its beginning), over-long texts are cut, and
the answer starts with ``truncated: true``, a summary of what was cut (``truncation``, per
list: how many items, counts by state, the failures, the slowest units) and, for a read-only
tool, a ``next_cursor``: the same call with ``cursor=`` it gives the next page. (These names
are no record's own field.) The cut answer keeps the record's shape — lists and tables
shorter, texts shorter — so it still matches the tool's output schema.

Everything here is pure (data in, data out), tested with tables in tests/unit.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import ShipyardError

#: The default limit of one answer, in characters (~15,000 tokens: under the ~25,000 an
#: assistant takes at most, and enough for the spec's JSON Schema uncut).
DEFAULT_MAX_CHARS = 60_000
#: Below this an answer could not hold its own summary.
MIN_MAX_CHARS = 4_000
#: The environment variable that changes the limit.
MAX_CHARS_VARIABLE = "SHIPYARD_MCP_MAX_CHARS"
#: Lists whose end matters (a log's tail): they are cut at their start, and paged backwards.
TAIL_KEYS = frozenset({"lines"})
#: A text longer than this is cut when the answer is still too long without long lists.
TEXT_CUT = 2_000
#: How many failures and slowest units a summary names.
NAMED = 10
#: A mapping with more keys than this is a table (a step's figures by name), not a record of
#: fixed fields, so it may be cut like a list (a record cut would no longer match its schema).
TABLE_KEYS = 64

#: A list of fewer items than this is not cut while a list inside it can be: each of its
#: items is a large share of it (three calls' results, one monitor snapshot).
FEW = 4

Path = tuple[str | int, ...]


def max_chars(environ: Mapping[str, str]) -> int:
    """The answer limit from ``$SHIPYARD_MCP_MAX_CHARS`` (the default without it)."""
    text = environ.get(MAX_CHARS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_CHARS
    if not text.isdigit() or int(text) < MIN_MAX_CHARS:
        raise ShipyardError(
            f"${MAX_CHARS_VARIABLE}={text!r} is not a number of characters >= {MIN_MAX_CHARS}",
            hint=f"unset it for the default {DEFAULT_MAX_CHARS}, or set e.g. 80000",
        )
    return int(text)


# -- cursors ---------------------------------------------------------------------------------


def encode_cursor(tool: str, offsets: Mapping[Path, int]) -> str:
    document = {"t": tool, "o": [[list(path), offset] for path, offset in offsets.items()]}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def decode_cursor(tool: str, cursor: str) -> dict[Path, int]:
    """The offsets a cursor of ``tool`` holds; a cursor this server did not give is refused."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offsets = {tuple(path): int(offset) for path, offset in document["o"]}
        ok = document["t"] == tool and all(offset >= 0 for offset in offsets.values())
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        ok = False
    if not ok:
        raise ShipyardError(
            f"cursor {cursor[:40]!r} is not one {tool} gave",
            hint="pass the cursor of the previous answer of the same tool, or none for page one",
        )
    return offsets


# -- the cut -----------------------------------------------------------------------------------


@dataclass
class Cut:
    """What was left out of one list: ``shown`` of ``total`` items from ``skipped`` on."""

    path: Path
    total: int
    skipped: int
    shown: int
    items: list[Any] = field(default_factory=list)  # the whole list, for its summary


def size(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False))


def lists_in(data: Any, path: Path = ()) -> list[Path]:
    """The paths of every list (and table: a mapping of many keys) in ``data``, outer first."""
    found: list[Path] = []
    if isinstance(data, dict):
        if len(data) > TABLE_KEYS and path:
            found.append(path)
        for key, value in data.items():
            found += lists_in(value, (*path, key))
    elif isinstance(data, list):
        found.append(path)
        if len(data) < FEW:  # a long list is cut itself, not inside its items (see _largest)
            for index, value in enumerate(data):
                if isinstance(value, dict | list):
                    found += lists_in(value, (*path, index))
    return found


def at(data: Any, path: Path) -> Any:
    for key in path:
        data = data[key]
    return data


def put(data: Any, path: Path, value: Any) -> None:
    at(data, path[:-1])[path[-1]] = value


def page(data: Any, offsets: Mapping[Path, int]) -> dict[Path, Cut]:
    """Skip what earlier pages showed: ``offsets`` items of each list (from its end for a
    tail list). Returns the lists so skipped."""
    cuts: dict[Path, Cut] = {}
    for path, offset in offsets.items():
        try:
            items = at(data, path)
        except (KeyError, IndexError, TypeError):
            continue  # the record changed between two pages: that list is gone
        if not isinstance(items, list | dict):
            continue
        kept = _window(items, path, offset, len(items))
        put(data, path, kept)
        cuts[path] = Cut(path, len(items), min(offset, len(items)), len(kept), _records(items))
    return cuts


def _window(items: list[Any] | dict[str, Any], path: Path, skip: int, keep: int) -> Any:
    """``keep`` items after the first ``skip`` (counted from the end for a tail list)."""
    if isinstance(items, dict):
        return dict(list(items.items())[skip : skip + keep])
    if path and path[-1] in TAIL_KEYS:
        end = max(len(items) - skip, 0)
        return items[max(end - keep, 0) : end]
    return items[skip : skip + keep]


def shrink(data: Any, budget: int, cuts: dict[Path, Cut]) -> None:
    """Cut the largest lists of ``data`` (in place) until it is at most ``budget`` long —
    after cutting its texts of more than TEXT_CUT characters: one line of 2 MB in a log's
    tail should not leave room for that line alone."""
    if size(data) > budget:
        _cut_texts_longer(data, TEXT_CUT)
    for _ in range(64):  # each turn cuts a list to what fits, or empties it
        excess = size(data) - budget
        if excess <= 0:
            return
        candidates = [path for path in lists_in(data) if at(data, path)]
        if not candidates:
            break
        _shrink_list(data, _largest(data, candidates), excess, cuts)
    _cut_texts(data, budget)


def _largest(data: Any, candidates: list[Path]) -> Path:
    """The largest list — or, when most of it is one list inside it, or it has only a few
    items (the units of a monitor's single snapshot), the largest list inside it: cutting the
    outer would drop a large share at once."""
    sizes = {path: size(at(data, path)) for path in candidates}
    path = max(candidates, key=sizes.__getitem__)
    while True:
        inner = [p for p in candidates if len(p) > len(path) and p[: len(path)] == path]
        if not inner:
            return path
        best = max(inner, key=sizes.__getitem__)
        if sizes[best] * 2 < sizes[path] and len(at(data, path)) >= FEW:
            return path
        path = best


def _shrink_list(data: Any, path: Path, excess: int, cuts: dict[Path, Cut]) -> None:
    items: list[Any] | dict[str, Any] = at(data, path)
    entries = list(items.items()) if isinstance(items, dict) else items
    target = size(items) - excess
    keep, used = 0, 0
    tail = bool(path) and path[-1] in TAIL_KEYS and isinstance(items, list)
    for item in reversed(entries) if tail else entries:  # measured only up to what fits
        used += size(item) + 1
        if used > target:
            break
        keep += 1
    keep = min(keep, len(items) - 1)  # at least one item goes, or nothing would change
    cut = cuts.get(path) or Cut(path, len(items), 0, len(items), list(_records(items)))
    cut.shown = keep
    cuts[path] = cut
    put(data, path, _window(items, path, 0, keep))


def _records(items: list[Any] | dict[str, Any]) -> list[Any]:
    """The items a summary looks at: a table's values, named by their keys."""
    if isinstance(items, list):
        return items
    return [
        {"name": key, **value} if isinstance(value, dict) else value for key, value in items.items()
    ]


def _cut_texts(data: Any, budget: int) -> None:
    """Last resort: cut every long text (a huge log line, a spec) to its end."""
    limit = TEXT_CUT
    while size(data) > budget and limit >= 50:
        _cut_texts_longer(data, limit)
        limit //= 2


def _cut_texts_longer(data: Any, limit: int) -> None:
    entries: list[tuple[Any, Any]] = []
    if isinstance(data, dict):
        entries = list(data.items())
    elif isinstance(data, list):
        entries = list(enumerate(data))
    for key, value in entries:
        if isinstance(value, str) and len(value) > limit:
            data[key] = f"[{len(value) - limit} characters cut] " + value[-limit:]
        elif isinstance(value, dict | list):
            _cut_texts_longer(value, limit)


# -- the summary -------------------------------------------------------------------------------


def summary(cut: Cut) -> dict[str, Any]:
    """What a reader needs of a cut list: counts, and for units their states, the failures
    and the slowest."""
    described: dict[str, Any] = {"total": cut.total, "shown": cut.shown, "skipped": cut.skipped}
    if cut.path and cut.path[-1] in TAIL_KEYS:
        described["order"] = "the last lines; the next page holds earlier ones"
    records = [item for item in cut.items if isinstance(item, dict)]
    states = [item["state"] for item in records if isinstance(item.get("state"), str)]
    if states:
        described["by_state"] = {state: states.count(state) for state in sorted(set(states))}
        described["failures"] = [_failure(item) for item in records if _failed(item)][:NAMED]
    timed = [item for item in records if isinstance(item.get("duration_seconds"), int | float)]
    if timed:
        slowest = sorted(timed, key=lambda item: -float(item["duration_seconds"]))[:NAMED]
        described["slowest"] = [
            {"name": item.get("name", item.get("id")), "duration_seconds": item["duration_seconds"]}
            for item in slowest
        ]
    return described


_FAILED = frozenset({"failed", "lost", "timed_out", "cancelled", "upstream_failed"})


def _failed(item: dict[str, Any]) -> bool:
    return item.get("state") in _FAILED or bool(item.get("failed"))


def _failure(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "id", "state", "exit_code", "reason")
    return {key: item[key] for key in keys if item.get(key) is not None}


def _label(path: Path) -> str:
    return ".".join(str(key) for key in path) or "result"


# -- the answer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounded:
    """An answer's structured content, and whether it was cut or paged."""

    data: Any
    truncated: bool
    fits: bool = True  # False: even cut to nothing it is too long (a huge record of fields)


def bound(
    data: dict[str, Any],
    *,
    tool: str,
    budget: int,
    cursor: str | None,
    pageable: bool,
    fits: Callable[[dict[str, Any]], bool] | None = None,
) -> Bounded:
    """``data`` (a structured content: an object) cut to ``budget`` characters, or as it is.

    ``fits`` is the caller's final measure (the whole serialised answer); the budget is
    lowered until it holds."""
    offsets = decode_cursor(tool, cursor) if cursor else {}
    # The cheap measure first: structured content longer than the whole limit cannot fit.
    if not offsets and size(data) <= budget * 5 // 2 and (fits is None or fits(data)):
        return Bounded(data, False)
    while True:
        body = json.loads(json.dumps(data))  # a copy the cut may change
        cuts = page(body, offsets)
        shrink(body, budget - 1_500 if size(body) > budget else budget, cuts)
        cut = {path: c for path, c in cuts.items() if c.shown + c.skipped < c.total}
        answer = body if not cuts else _headed(body, tool, cuts, cut, pageable)
        if fits is None or fits(answer):
            return Bounded(answer, bool(cut))
        if budget < 200:
            return Bounded(answer, bool(cut), fits=False)
        budget = budget * 4 // 5


def _headed(
    body: dict[str, Any],
    tool: str,
    cuts: dict[Path, Cut],
    cut: dict[Path, Cut],
    pageable: bool,
) -> dict[str, Any]:
    """The answer with what was left out first: truncated, the summary, the cursor."""
    head: dict[str, Any] = {"truncated": bool(cut)}
    head["truncation"] = {_label(path): summary(c) for path, c in cuts.items()}
    if cut and pageable:
        offsets = {path: c.skipped + c.shown for path, c in cut.items()}
        head["next_cursor"] = encode_cursor(tool, offsets)
    elif cut:
        head["truncation"]["hint"] = (
            "a read-only tool (get_pipeline_status, list_executions…) pages the rest"
        )
    return {**head, **{key: value for key, value in body.items() if key not in head}}


CURSOR_HELP = (
    "the cursor of a truncated answer of this tool (truncated: true): the next page of what "
    "was cut; none for the first page"
)
