"""Named environments (issue 16 §4), kept as Jarvis-CD keeps them: the variables that matter,
captured from a shell (``shipyard env capture NAME``) and applied to units by a spec's
``environment: NAME`` on any runner.

Which variables matter (:func:`chosen_variables`) is a pure decision: the search paths
(:data:`DEFAULT_VARIABLES`), every variable a module system says it set — Lmod keeps
``__LMOD_REF_COUNT_<NAME>`` beside each path it changed, Environment Modules (4.x and later)
``__MODULES_SHARE_<NAME>`` — with the module systems' own state (``LOADEDMODULES``,
``_LMFILES_``, ``MODULEPATH``, ``LMOD_*`` but its shell functions), and the names asked for.

Storage (:class:`EnvironmentStore`): one JSON file per name under ``<home>/environments/``,
owner-only (the folder 0700, each file 0600), written whole then renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shipyard.errors import ShipyardError

#: Captured unless absent: where programs, libraries, headers and modules are found.
DEFAULT_VARIABLES = (
    "PATH",
    "LD_LIBRARY_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "PKG_CONFIG_PATH",
    "PYTHONPATH",
    "MANPATH",
    "MODULEPATH",
    "LOADEDMODULES",
    "CUDA_HOME",
)

#: What a module system keeps about itself (also captured when present).
_MODULE_STATE = ("_LMFILES_", "MODULESHOME", "LMOD_CMD", "LMOD_DIR", "LMOD_SYSTEM_NAME")
#: A variable whose name tells which variable a module system changed.
_MODULE_MARKS = (re.compile(r"^__LMOD_REF_COUNT_(\w+)$"), re.compile(r"^__MODULES_SHARE_(\w+)$"))

#: An environment's name: a file name in the store, and a word in a spec.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: A variable's name as POSIX shells write them.
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FOLDER = "environments"


@dataclass(frozen=True, slots=True)
class EnvironmentInfo:
    """A named environment: its variables, when it was captured, and which of its variables a
    module system had set (``from_modules``)."""

    name: str
    variables: dict[str, str] = field(default_factory=dict)
    captured_at: datetime | None = None  # UTC
    from_modules: list[str] = field(default_factory=list)


def module_variables(environ: Mapping[str, str]) -> list[str]:
    """The variables a module system (Lmod, Environment Modules) says it set, and its own
    state, as found in ``environ``; sorted."""
    found = {name for name in _MODULE_STATE if name in environ}
    if "LOADEDMODULES" in environ:
        found.add("LOADEDMODULES")
    for name in environ:
        for mark in _MODULE_MARKS:
            matched = mark.match(name)
            if matched is not None and matched.group(1) in environ:
                found.add(matched.group(1))
        if name.startswith("LMOD_") and not name.startswith("LMOD_PKG"):
            found.add(name)
    return sorted(found)


def chosen_variables(
    environ: Mapping[str, str], extra: list[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Pure: the variables of ``environ`` worth keeping — the defaults present, what a module
    system set, and ``extra`` (each must be set: a name asked for and missing is an error, so a
    typo does not pass silently) — and, second, which of them came from a module system."""
    modules = module_variables(environ)
    names = [name for name in DEFAULT_VARIABLES if name in environ]
    for name in extra or []:
        if not VARIABLE.match(name):
            raise ShipyardError(
                f"'{name}' is not a variable name", hint="a letter or _, then letters, digits, _"
            )
        if name not in environ:
            raise ShipyardError(
                f"--var {name}: the variable is not set in this shell",
                hint=f"export {name}=… first, or leave --var {name} out",
            )
    chosen = {name: environ[name] for name in [*names, *modules, *(extra or [])]}
    return dict(sorted(chosen.items())), modules


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ShipyardError(
            f"'{name}' is not an environment name",
            hint="letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit",
        )
    return name


class EnvironmentStore:
    """The named environments of one Shipyard home."""

    def __init__(self, home: Path) -> None:
        self.folder = home / _FOLDER

    def save(
        self,
        name: str,
        variables: Mapping[str, str],
        *,
        from_modules: list[str] | None = None,
        now: float | None = None,
    ) -> EnvironmentInfo:
        """Keep ``variables`` under ``name`` (over an earlier capture of that name)."""
        check_name(name)
        for variable, value in variables.items():
            if not VARIABLE.match(variable) or "\0" in value:
                raise ShipyardError(
                    f"environment '{name}': '{variable}' cannot be kept as a variable",
                    hint="names are letters, digits and _; values hold no NUL",
                )
        info = EnvironmentInfo(
            name,
            dict(sorted(variables.items())),
            datetime.fromtimestamp(time.time() if now is None else now, tz=UTC),
            sorted(from_modules or []),
        )
        self.folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the home
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        text = json.dumps(
            {
                "name": info.name,
                "captured_at": info.captured_at.timestamp() if info.captured_at else None,
                "variables": info.variables,
                "from_modules": info.from_modules,
            },
            indent=2,
        )
        partial = self.folder / f".{name}.json.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, 0o600)
            handle.write(text + "\n")
        partial.replace(self._path(name))
        return info

    def names(self) -> list[str]:
        try:
            return sorted(
                path.name[: -len(".json")]
                for path in self.folder.iterdir()
                if path.name.endswith(".json") and NAME.match(path.name[: -len(".json")])
            )
        except FileNotFoundError:
            return []

    def get(self, name: str) -> EnvironmentInfo:
        """The environment ``name``; ShipyardError naming the ones there are if unknown."""
        check_name(name)
        try:
            data = json.loads(self._path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise unknown_environment(name, self.names()) from None
        except (OSError, ValueError) as error:
            raise ShipyardError(
                f"environment '{name}' cannot be read ({self._path(name)}): {error}",
                hint=f"capture it again: shipyard env capture {name}",
            ) from None
        return EnvironmentInfo(
            name,
            {str(k): str(v) for k, v in dict(data.get("variables", {})).items()},
            _stamp(data.get("captured_at")),
            [str(v) for v in data.get("from_modules", [])],
        )

    def all(self) -> dict[str, EnvironmentInfo]:
        return {name: self.get(name) for name in self.names()}

    def remove(self, name: str) -> EnvironmentInfo:
        info = self.get(name)
        self._path(name).unlink()
        return info

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.json"


def unknown_environment(name: str, known: list[str]) -> ShipyardError:
    there = ", ".join(known) if known else "none yet"
    return ShipyardError(
        f"no environment named '{name}' (environments: {there})",
        hint=f"capture it in the shell that has it: shipyard env capture {name}",
    )


def _stamp(value: object) -> datetime | None:
    """The file's epoch seconds as a UTC datetime (None if absent or not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None
