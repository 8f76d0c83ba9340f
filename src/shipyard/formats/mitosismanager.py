"""A Mitosis node manager's TOML config as ``shipyard manager`` options (``shipyard manager
--config FILE``; docs/importing.md, "Mitosis suites and tasks").

Two shapes: the guide's ([B]: ``coordinator_url``, ``tags``, ``labels``, ``groups`` at the top
level) and the rework's ``[agent]`` table ([C]: ``coordinator_addr``, ``credential_path``,
``heartbeat_interval``…). What maps becomes an option (an option given on the command line
wins); what does not is named with its line, never dropped; a key neither Mitosis shape has,
or a value Shipyard cannot take, is an error at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.formats.mitosisexec import humantime
from shipyard.spec.jsontoml import load_toml, toml_place

HINT = "see docs/importing.md, 'A Mitosis node manager's config'"
#: Keys with no ``shipyard manager`` equivalent, and why.
UNMAPPED = {
    "labels": "a Shipyard manager has no labels (suites match it by its tags)",
    "user": "a Shipyard manager authenticates with a manager token ($SHIPYARD_MANAGER_TOKEN or "
    "--token-file; POST /api/v1/groups/{group}/managers issues it), not a user's password",
    "password": "a Shipyard manager authenticates with a manager token, not a password",
    "token_lifetime": "a manager token's lifetime is chosen when it is issued "
    "(lifetime_seconds); a running manager refreshes it",
    "log_level": "a Shipyard manager writes its progress on stdout and diagnostics on stderr",
    "lifetime": "a Shipyard manager runs until it is stopped (SIGTERM, `shipyard manager "
    "shutdown`)",
    "retain": "a Shipyard manager keeps every suite's folder and logs",
    "machine_code": "a Shipyard manager is known by its uuid and host name",
}
MAPPED = (
    "coordinator_url",
    "coordinator_addr",
    "groups",
    "tags",
    "heartbeat_interval",
    "credential_path",
)


@dataclass
class ManagerConfig:
    """The options a config gives (None: not given) and what was said about its keys."""

    server: str | None = None
    group: str | None = None
    tags: list[str] | None = None
    heartbeat: float | None = None
    token_file: Path | None = None
    said: list[str] = field(default_factory=list)


def read_manager_config(path: Path, *, group_given: bool = False) -> ManagerConfig:
    """The ``shipyard manager`` options of the Mitosis config ``path``; SpecError at its
    lines for what cannot be taken. ``group_given``: --group chose the group (the file's
    ``groups`` are then only said)."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(
            [
                SpecProblem(
                    f"cannot read {path}: {error.strerror}",
                    hint="give a Mitosis node manager's config (TOML)",
                )
            ]
        ) from None
    try:
        data = load_toml(text, path)  # NestedTooDeeply (a SpecError) past the parser's depth
    except tomllib.TOMLDecodeError as error:
        line, column, reason = toml_place(error)
        where = Location(path, line or 1, column or 1)
        raise SpecError(
            [SpecProblem(f"this is not valid TOML: {reason}", where, hint=HINT)]
        ) from None
    table, section = _table(data, path)
    reading = _Reading(path, text, section, group_given)
    config = ManagerConfig()
    for key, value in table.items():
        reading.key(config, key, value)
    if reading.problems:
        raise SpecError(reading.problems)
    config.said = reading.said
    return config


def _table(data: dict[str, Any], path: Path) -> tuple[dict[str, Any], str | None]:
    """The manager's keys: the ``[agent]`` table ([C]) or the top level ([B])."""
    if isinstance(data.get("agent"), dict):
        return data["agent"], "agent"
    if any(isinstance(data.get(name), dict) for name in ("coordinator", "worker", "client")) and (
        not any(key in data for key in MAPPED)
    ):
        raise SpecError(
            [
                SpecProblem(
                    "this is a Mitosis coordinator or worker config ([coordinator], "
                    "[worker]), not a node manager's",
                    Location(path, 1, 1),
                    hint="a node manager's config has coordinator_url, tags and groups (or an "
                    "[agent] table); Shipyard's coordinator and workers are `shipyard serve "
                    "--db` and `shipyard worker`",
                )
            ]
        )
    return data, None


@dataclass
class _Reading:
    path: Path
    text: str
    section: str | None
    group_given: bool
    said: list[str] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)

    def at(self, key: str) -> Location:
        """The line where ``key`` is set (in the manager's table): tomllib keeps none."""
        current: str | None = None
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
            if header:
                current = header.group(1)
            elif current == self.section and pattern.match(line):
                return Location(self.path, number, line.index(key) + 1)
        return Location(self.path, 1, 1)

    def name(self, key: str) -> str:
        return f"{self.section}.{key}" if self.section else key

    def problem(self, key: str, message: str, hint: str) -> None:
        self.problems.append(SpecProblem(f"{self.name(key)}: {message}", self.at(key), hint=hint))

    def note(self, key: str, message: str) -> None:
        where = self.at(key)
        self.said.append(f"{where}: {self.name(key)}: {message}")

    def key(self, config: ManagerConfig, key: str, value: Any) -> None:
        if key in UNMAPPED:
            self.note(key, f"not mapped: {UNMAPPED[key]}")
        elif key in ("coordinator_url", "coordinator_addr"):
            if isinstance(value, str) and value:
                config.server = value
            else:
                self.problem(key, "should be the coordinator's URL", hint='"http://host:8420"')
        elif key in ("tags", "groups"):
            self._names(config, key, value)
        elif key == "heartbeat_interval":
            seconds = humantime(value) if isinstance(value, str) else None
            if seconds is None or not 0.1 <= seconds <= 3600:
                self.problem(
                    key,
                    f"{value!r} is not a duration of 0.1 s to 1 h",
                    hint='a humantime duration: "30s", "1m"',
                )
            else:
                config.heartbeat = seconds
        elif key == "credential_path":
            if isinstance(value, str) and value:
                config.token_file = self.path.parent / Path(value).expanduser()
                self.note(
                    key,
                    "→ --token-file: the file must hold a Shipyard manager token "
                    "(Mitosis's credential is not one); refreshed tokens are written there",
                )
            else:
                self.problem(key, "should be a file's path", hint='"manager.token"')
        else:
            import difflib

            known = (*MAPPED, *UNMAPPED)
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {near[0]!r}?" if near else "keys: " + ", ".join(known)
            self.problem(key, "not a key of a Mitosis node manager's config", hint=hint)

    def _names(self, config: ManagerConfig, key: str, value: Any) -> None:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, "should be a list of strings", hint=f'{key} = ["gpu"]')
        elif key == "tags":
            config.tags = list(value)
        elif self.group_given:
            self.note(key, "not used: --group chose the group")
        elif len(value) == 1:
            config.group = value[0]
        elif value:
            self.problem(
                key,
                f"{len(value)} groups: a Shipyard manager serves one group (its token's)",
                hint="run one manager per group, each with "
                "--group G (it wins over the file's groups)",
            )


def manager_options(
    path: Path,
    *,
    server: str | None,
    group: str | None,
    tags: str | None,
    heartbeat: float | None,
    token_file: Path | None,
) -> tuple[str | None, str | None, str, float | None, Path | None, list[str]]:
    """The options, each from the command line if given there, else from the config; and the
    lines said about the config's keys (on stderr)."""
    config = read_manager_config(path, group_given=group is not None)
    said = (
        [
            f"note: {path} is a Mitosis node manager's config; its keys with no "
            "`shipyard manager` option (docs/importing.md):"
        ]
        if config.said
        else []
    )
    said += [f"  {line}" for line in config.said]
    given_tags = tags if tags else ",".join(config.tags or [])
    return (
        server or config.server,
        group or config.group,
        given_tags,
        heartbeat if heartbeat is not None else config.heartbeat,
        token_file or config.token_file,
        said,
    )
