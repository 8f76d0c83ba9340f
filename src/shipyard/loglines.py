"""What a log line says about itself: its level and its time, when it says them in a common
format; and what ``--level`` and ``--since`` mean. Pure functions, no I/O: they run once per
line of a log that can be gigabytes, so each is one or two regular-expression searches over
the start of the line.

Levels are five, lowest first: debug, info, warning, error, critical. Recognised (the first
that applies wins):

- glog's prefix: ``W1202 03:33:45.123456 …`` (I, W, E, F);
- a JSON line's ``"level"`` / ``"levelname"`` / ``"severity"`` / ``"lvl"``, a word or pino's
  numbers (10 trace … 60 fatal);
- logfmt's ``level=warn`` (also ``lvl=``, ``severity=``);
- otherwise the leftmost, within the line's first :data:`LEVEL_SPAN` characters, of: a level
  word in brackets in any case (``[warn]``, ``<error>``), a level word in capitals
  (``WARNING``, ``ERROR:root:…``, ``2026-… - app - INFO - …``), a level word starting the line
  before a colon (``error: …``, ``Warning: …``), Python's ``Traceback (most recent call
  last):`` and ``ValueError: …`` (error), and its warnings (``x.py:3: UserWarning: …``).

Times recognised (within the first :data:`TIME_SPAN` characters, or a JSON line's time key):
ISO 8601 and its relatives (``2026-12-02T03:33:45.123Z``, ``2026-12-02 03:33:45,123`` as
Python logging's asctime writes it, ``2026/12/02 03:33:45``), Apache's ``02/Dec/2026:03:33:45
+0000``, syslog's ``Dec  2 03:33:45`` and glog's ``W1202 03:33:45.123456`` (no year: the one
that puts the time nearest the reference, the unit's start), and a JSON line's ``"time"`` /
``"ts"`` / ``"timestamp"`` / ``"@timestamp"`` / ``"created"`` as epoch seconds, milliseconds,
microseconds or nanoseconds, or as an ISO string. A time without a zone is this machine's
local time (the unit ran here, under the same clock).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

LEVELS = ("debug", "info", "warning", "error", "critical")
RANK = {name: rank for rank, name in enumerate(LEVELS)}

#: How far into a line a level or a time is looked for: prefixes put them first, and a level
#: word deep inside a message is prose, not the line's level.
LEVEL_SPAN = 160
TIME_SPAN = 96
JSON_SPAN = 4096
#: The last second a ``datetime`` can hold (9999-12-31T23:59:59Z): a line stating a later
#: one (or one before 1970) states none that Shipyard can place.
LATEST = 253402300799.0

_ALIASES = {
    "trace": "debug",
    "debug": "debug",
    "dbg": "debug",
    "fine": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "err": "error",
    "error": "error",
    "severe": "error",
    "crit": "critical",
    "critical": "critical",
    "fatal": "critical",
    "panic": "critical",
    "alert": "critical",
    "emerg": "critical",
    "emergency": "critical",
}
_WORDS = "|".join(sorted(_ALIASES, key=len, reverse=True))
_ALIASES_CAPITALS = {word.upper(): level for word, level in _ALIASES.items()}

_GLOG = re.compile(r"([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?\b")
_GLOG_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "critical"}
_JSON_LEVEL = re.compile(
    r'"(?:level|levelname|severity|lvl|loglevel|log\.level)"\s*:\s*(?:"(\w+)"|(\d+))',
    re.IGNORECASE,
)
_LOGFMT_LEVEL = re.compile(r'\b(?:level|lvl|severity)=("?)(\w+)\1', re.IGNORECASE)
_LOGFMT_KEYS = ("level=", "lvl=", "severity=")
# Separate simple patterns, the leftmost match winning: one pattern of all the alternatives
# is tried at every position of the line and cost ten times as much (17 µs a line, measured).
# Each of these starts with a literal or a character set, which the regex engine scans for.
_LEADING = re.compile(
    rf"(?P<word>(?i:{_WORDS}))\s*:"
    r"|(?P<traceback>Traceback \(most recent call last\):)"
    r"|(?P<exception>[A-Za-z_][\w.]*(?:Error|Exception)):\s"
)
_BRACKETED = re.compile(rf"[\[<]\s*((?i:{_WORDS}))\s*[\]>]")
_UPPER_WORD = re.compile(r"[A-Z][A-Z]+")
_PY_WARNING = re.compile(r"\b[A-Z]\w*Warning:\s")
_LEADING_LEVELS = {"traceback": "error", "exception": "error"}


def level_of(text: str) -> str | None:
    """The level ``text`` states in a common format, or None when it states none."""
    glog = _GLOG.match(text)
    if glog is not None:
        return _GLOG_LEVELS[glog.group(1)]
    if text.startswith("{"):
        found = _JSON_LEVEL.search(text, 0, JSON_SPAN)
        if found is not None:
            word, number = found.groups()
            return _ALIASES.get(word.lower()) if word else _pino_level(int(number))
    head = text[:LEVEL_SPAN]
    if "=" in head:
        lower = head.lower()
        if any(key in lower for key in _LOGFMT_KEYS):
            logfmt = _LOGFMT_LEVEL.search(head)
            if logfmt is not None and logfmt.group(2).lower() in _ALIASES:
                return _ALIASES[logfmt.group(2).lower()]
    leading = _LEADING.match(head)
    if leading is not None:
        kind = leading.lastgroup
        assert kind is not None  # every alternative is one named group
        return _LEADING_LEVELS.get(kind) or _ALIASES[leading.group(kind).lower()]
    return _leftmost_token(head)


def _leftmost_token(head: str) -> str | None:
    """The level of the leftmost of: a bracketed level word, one in capitals (a whole word),
    a Python warning's category."""
    best: tuple[int, str] | None = None
    if "[" in head or "<" in head:
        bracketed = _BRACKETED.search(head)
        if bracketed is not None:
            best = (bracketed.start(), _ALIASES[bracketed.group(1).lower()])
    capitals = _capitals(head, len(head) if best is None else best[0])
    if capitals is not None:
        best = capitals
    if "Warning:" in head:
        warning = _PY_WARNING.search(head)
        if warning is not None and (best is None or warning.start() < best[0]):
            best = (warning.start(), "warning")
    return None if best is None else best[1]


def _capitals(head: str, end: int) -> tuple[int, str] | None:
    """(where, level) of the first level word in capitals before ``end``, a whole word."""
    for word in _UPPER_WORD.finditer(head, 0, end):
        level = _ALIASES_CAPITALS.get(word.group())
        start, stop = word.span()
        if level is not None and not (
            _word_character(head, start - 1) or _word_character(head, stop)
        ):
            return start, level
    return None


def _word_character(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


def _pino_level(number: int) -> str | None:
    """pino and bunyan's numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error,
    60 fatal."""
    if number < 10 or number > 60:
        return None
    return ("debug", "debug", "info", "warning", "error", "critical")[number // 10 - 1]


def parse_level(value: str) -> str:
    """The level ``--level`` names (any case, ``warn`` and ``fatal`` too); refused otherwise."""
    from shipyard.errors import ShipyardError

    level = _ALIASES.get(value.strip().lower())
    if level is None:
        raise ShipyardError(
            f"--level '{value}' is not a log level",
            hint=f"use one of: {', '.join(LEVELS)} (lines at that level and above are kept)",
        )
    return level


# -- times --------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_FRACTION = r"(?:[.,](\d{1,9}))?"
_ZONE = r"(?:\s?(Z|UTC|[+-]\d\d:?\d\d)\b)?"
_ISO = re.compile(rf"(\d{{4}})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d){_FRACTION}{_ZONE}")
_APACHE = re.compile(rf"(\d\d)/({_MONTH})/(\d{{4}}):(\d\d):(\d\d):(\d\d) ([+-]\d{{4}})")
_SYSLOG = re.compile(rf"\b({_MONTH}) {{1,2}}(\d{{1,2}}) (\d\d):(\d\d):(\d\d){_FRACTION}")
_JSON_TIME = re.compile(
    r'"(?:time|ts|timestamp|@timestamp|created|asctime|datetime)"\s*:\s*'
    r'(?:(\d{9,19}(?:\.\d+)?)|"([^"]{10,40})")'
)


def time_of(text: str, *, reference: float) -> float | None:
    """Seconds since the epoch of the time ``text`` starts with (see the module's formats), or
    None. ``reference``: a time near the line's (its unit's start), for formats without year."""
    if text.startswith("{"):
        found = _JSON_TIME.search(text, 0, JSON_SPAN)
        if found is not None:
            number, string = found.groups()
            return _epoch(number) if number else _iso(string, 0, len(string))
    head = text[:TIME_SPAN]
    if ":" not in head:  # every format below has hh:mm:ss; most plain lines stop here
        return None
    glog = _GLOG.match(text)
    if glog is not None:
        month, day, hour, minute, second, fraction = glog.groups()[1:]
        return _nearest_year(reference, month, day, hour, minute, second, fraction)
    seconds = _iso(head, 0, TIME_SPAN)
    if seconds is None and "/" in head:
        seconds = _apache(head)
    if seconds is None:
        seconds = _syslog(head, reference)
    return seconds


def _epoch(number: str) -> float | None:
    """Seconds from an epoch number in seconds, ms, µs or ns (told apart by its digits)."""
    whole = number.split(".", 1)[0]
    scale = {10: 1.0, 9: 1.0, 13: 1e3, 16: 1e6, 19: 1e9}.get(len(whole))
    return None if scale is None else float(number) / scale  # at most 10^10 s: year 2286


def _iso(text: str, start: int, end: int) -> float | None:
    found = _ISO.match(text, start, end) or _ISO.search(text, start, end)  # mostly first
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    return _seconds(year, month, day, hour, minute, second, fraction, zone)


def _apache(text: str) -> float | None:
    found = _APACHE.search(text, 0, TIME_SPAN)
    if found is None:
        return None
    day, month, year, hour, minute, second, zone = found.groups()
    month_number = str(_MONTHS[month.lower()])
    return _seconds(year, month_number, day, hour, minute, second, None, zone)


def _syslog(text: str, reference: float) -> float | None:
    found = _SYSLOG.search(text, 0, TIME_SPAN)
    if found is None:
        return None
    month, day, hour, minute, second, fraction = found.groups()
    number = str(_MONTHS[month.lower()])
    return _nearest_year(reference, number, day, hour, minute, second, fraction)


def _zone(zone: str | None) -> timedelta | None:
    """The offset a zone suffix states; None for none (local time)."""
    if zone is None:
        return None
    if zone in ("Z", "UTC"):
        return timedelta(0)
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return -offset if zone[0] == "-" else offset


#: Seconds since the epoch of the minutes met lately, by (year, month, day, hour, minute,
#: zone): a log's lines share their minute by the thousand, and building the datetime and
#: converting it (local time: mktime) was a third of the time a stamped line took.
_MINUTES: dict[tuple[str, str, str, str, str, str | None], float | None] = {}


def _seconds(
    year: str,
    month: str,
    day: str,
    hour: str,
    minute: str,
    second: str,
    fraction: str | None,
    zone: str | None,
) -> float | None:
    key = (year, month, day, hour, minute, zone)
    base = _MINUTES.get(key, -1.0)
    if base == -1.0:
        if len(_MINUTES) > 4096:
            _MINUTES.clear()
        base = _MINUTES[key] = _minute(key)
    if base is None or int(second) > 60:
        return None
    seconds = base + int(second)
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
    return seconds


def _minute(key: tuple[str, str, str, str, str, str | None]) -> float | None:
    year, month, day, hour, minute, zone = key
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute))
        offset = _zone(zone)
        if offset is not None:
            moment = moment.replace(tzinfo=UTC) - offset
        seconds = moment.timestamp()  # naive: local time
    except (ValueError, OverflowError, OSError):
        return None  # 2026-13-45, year 0001 minus a day: digits that look like a time, are none
    return seconds if 0 <= seconds <= LATEST else None


def _nearest_year(
    reference: float,
    month: str,
    day: str,
    hour: str,
    minute: str,
    second: str,
    fraction: str | None,
) -> float | None:
    """A time given without its year: the year that puts it nearest ``reference``."""
    year = datetime.fromtimestamp(reference).year
    found = [
        seconds
        for candidate in (year - 1, year, year + 1)
        if (seconds := _seconds(str(candidate), month, day, hour, minute, second, fraction, None))
        is not None
    ]
    return min(found, key=lambda seconds: abs(seconds - reference)) if found else None


def parse_since(value: str, *, now: float) -> float:
    """Seconds since the epoch ``--since`` names: a duration before ``now`` (``10m``,
    ``1h30m``, ``90`` seconds) or an ISO 8601 time (``2026-12-02T03:00:00Z``; without a zone,
    local time; a date alone is its midnight)."""
    from shipyard.errors import ShipyardError
    from shipyard.spec.quantities import parse_duration

    text = value.strip()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass  # not a duration: perhaps a time
    try:
        seconds = datetime.fromisoformat(text).timestamp()  # a naive time is local
    except (ValueError, OverflowError, OSError):
        shown = value if len(value) <= 60 else value[:60] + "…"
        raise ShipyardError(
            f"--since '{shown}' is neither a duration nor an ISO 8601 time",
            hint="give a duration ago like '10m', '2h' or '1d' (at most 365d), or a time "
            "like '2026-12-02T03:00:00Z' or '2026-12-02 03:00' (local time)",
        ) from None
    return seconds
