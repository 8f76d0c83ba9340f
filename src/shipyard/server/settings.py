"""The server's settings: a TOML file, then ``SHIPYARD_…`` environment variables, then flags.

Each layer overrides the one before it (a flag beats the environment, which beats the file,
which beats the defaults), so a deployment keeps its settings in a file and a one-off run
changes one of them on the command line. Parsing, merging and checking are separate small
functions (STYLE.md §5); every bad value is a ShipyardError naming where it came from.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.netaddr import is_loopback

__all__ = ["DEFAULT_PORT", "Settings", "load_settings"]

DEFAULT_PORT = 8420

#: Each setting's environment variable is ``SHIPYARD_`` + its name in capitals.
_ENV_PREFIX = "SHIPYARD_"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: The Shipyard home served (state database, run folders, the token file).
    home: Path | None = None
    #: A PostgreSQL URL: adds the coordinator's routes (``shipyard.coordinator``).
    db: str | None = None
    #: Listening on an address other than loopback must be asked for explicitly.
    allow_remote: bool = False
    #: The bearer token clients must send; None: the token file under the home (made once).
    token: str | None = None
    log_level: str = "info"
    #: Agents by name: the folder the ``/api/v1/agents`` routes use when a request names none,
    #: and the most agents a deploy by name may leave running (whatever a request asks).
    agents_dir: Path | None = None
    max_agents: int | None = None
    #: The ``[coordinator]`` table of the file, handed to the coordinator as it is.
    coordinator: Mapping[str, Any] = field(default_factory=dict)


#: Setting name → how its text (from the environment) becomes a value.
_TYPES: dict[str, type] = {
    "host": str,
    "port": int,
    "home": Path,
    "db": str,
    "allow_remote": bool,
    "token": str,
    "log_level": str,
    "agents_dir": Path,
    "max_agents": int,
}
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def load_settings(
    config: Path | None, environ: Mapping[str, str], flags: Mapping[str, Any]
) -> Settings:
    """The settings from ``config`` (a TOML file, or None), ``environ`` and ``flags`` (the
    command line's, None for a flag not given), each overriding the one before."""
    merged: dict[str, Any] = {}
    merged.update(from_file(config) if config is not None else {})
    merged.update(from_environment(environ))
    merged.update({name: value for name, value in flags.items() if value is not None})
    return check(Settings(**merged))


def from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ShipyardError(
            f"cannot read the server settings {path}: {error.strerror}",
            hint="give an existing TOML file to --config (or $SHIPYARD_CONFIG)",
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ShipyardError(
            f"{path} is not valid TOML: {error}", hint="see docs/server.md for the settings"
        ) from None
    table = data.get("server", data)  # the keys at the top, or in a [server] table
    values: dict[str, Any] = {}
    for name, value in table.items():
        if name == "coordinator" and isinstance(value, dict):
            values["coordinator"] = value
            continue
        values[name] = _typed(name, value, where=f"{path}: {name}")
    if isinstance(data.get("coordinator"), dict):
        values["coordinator"] = data["coordinator"]
    return values


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, kind in _TYPES.items():
        variable = _ENV_PREFIX + name.upper()
        text = environ.get(variable)
        if text:  # an empty variable counts as unset, as Click has it
            values[name] = _parse_text(name, kind, text, where=f"${variable}")
    return values


def _parse_text(name: str, kind: type, text: str, *, where: str) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ShipyardError(f"{where}={text!r} is not a yes/no value", hint="use 1 or 0")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ShipyardError(f"{where}={text!r} is not a whole number") from None
    return kind(text)


def _typed(name: str, value: Any, *, where: str) -> Any:
    kind = _TYPES.get(name)
    if kind is None:
        raise ShipyardError(
            f"{where}: unknown setting",
            hint=f"the settings are: {', '.join(sorted(_TYPES))} (and a [coordinator] table)",
        )
    if kind is Path and isinstance(value, str):
        return Path(value)
    if kind is int and isinstance(value, bool):  # TOML's true is no port
        raise ShipyardError(f"{where} = {value!r} is not a whole number")
    if not isinstance(value, kind):
        raise ShipyardError(f"{where} = {value!r} is not a {kind.__name__}")
    return value


def check(settings: Settings) -> Settings:
    """Refuse values that cannot work, before anything listens."""
    if not 0 <= settings.port <= 65535:
        raise ShipyardError(f"port {settings.port} is outside 0-65535", hint="e.g. --port 8420")
    _check_agents(settings)
    if settings.log_level not in _LOG_LEVELS:
        raise ShipyardError(
            f"log level {settings.log_level!r} is not one of {', '.join(_LOG_LEVELS)}"
        )
    if settings.token is not None and len(settings.token) < 16:
        raise ShipyardError(
            "the server token is shorter than 16 characters",
            hint="use a long random secret, e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'",
        )
    if not is_loopback(settings.host) and not settings.allow_remote:
        raise ShipyardError(
            f"refusing to listen on {settings.host}: only 127.0.0.1 is served by default",
            hint="pass --allow-remote (or allow_remote = true) to serve other machines; "
            "every route but /health and /metrics needs the bearer token",
        )
    return dataclasses.replace(settings, home=settings.home.resolve() if settings.home else None)


def _check_agents(settings: Settings) -> None:
    if settings.max_agents is not None and settings.max_agents < 1:
        raise ShipyardError(
            f"max_agents {settings.max_agents} is below 1", hint="e.g. --max-agents 10"
        )
    if settings.agents_dir is not None and not settings.agents_dir.is_dir():
        raise ShipyardError(
            f"agents_dir {settings.agents_dir} is not a folder",
            hint="give the folder holding one agent per subfolder (--agents-dir)",
        )
