"""Jarvis-CD package types → command templates: the builtin table (the packages the upstream
example pipelines use) and the user's own declarations, read from ``jarvis-packages.yaml``
beside the pipeline file (docs/importing.md, "Jarvis-CD pipelines").

Upstream, a ``pkg_type`` selects a Python class that turns the package's settings into commands;
Shipyard has no package layer, so each type it imports is a template here: the argv ``run``
(``{setting}`` stands for a setting's value), words added when a true/false setting is true
(``flags``), the settings and their defaults (the class's ``_configure_menu``), and for the
types that are no program of their own, the environment an interceptor sets.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.spec.yamlsource import PathKey, SourceMap, YamlProblems, read_yaml

#: The file beside a pipeline that declares more package types (or replaces a builtin one).
DECLARATIONS = "jarvis-packages.yaml"

Kind = Literal["step", "service", "interceptor"]
Value = str | int | float | bool | None

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Joined:
    """One option whose value joins the items of the true settings: redis-benchmark's
    ``-t set,get`` from ``write`` and ``read``."""

    option: str
    separator: str
    items: Mapping[str, str]


@dataclass(frozen=True)
class Package:
    """A package type's template. ``origin``: "builtin" or where it was declared."""

    kind: Kind = "step"
    run: tuple[str, ...] = ()
    settings: Mapping[str, Value] = field(default_factory=dict)
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lists: tuple[Joined, ...] = ()
    mpi: bool = False
    port: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    env_flags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    preload: str | None = None
    upper: tuple[str, ...] = ()
    ignored: Mapping[str, str] = field(default_factory=dict)
    origin: str = "builtin"

    def used(self) -> set[str]:
        """The settings the template reads."""
        names = {m for word in self.run for m in PLACEHOLDER.findall(word)}
        names |= {m for value in self.env.values() for m in PLACEHOLDER.findall(value)}
        names |= set(self.flags) | set(self.env_flags)
        names |= {name for joined in self.lists for name in joined.items}
        for extra in (self.port, self.preload):
            if extra:
                names.add(extra)
        if self.mpi:
            names |= {"nprocs", "ppn"}
        return names


#: example_app's start(): it prints its message and writes it to output_file.
_EXAMPLE_APP = (
    'echo "[ExampleApp] Starting ExampleApp with message: $1"; '
    'echo "[ExampleApp] LD_PRELOAD: ${LD_PRELOAD:-None}"; '
    'printf "%s\\n" "$1" > "$2" && echo "[ExampleApp] Created output file: $2"'
)

#: The builtin packages of the upstream example pipelines, as their classes start them
#: (jarvis-cd builtin/builtin/<type>/, commit 6a580b8): same programs, same options.
BUILTIN: dict[str, Package] = {
    "ior": Package(
        kind="step",
        run=("ior", "-k", "-b", "{block}", "-t", "{xfer}", "-a", "{api}", "-o", "{out}"),
        settings={
            "write": True,
            "read": False,
            "xfer": "1m",
            "block": "32m",
            "api": "posix",
            "fpp": False,
            "reps": 1,
            "nprocs": 1,
            "ppn": 16,
            "out": "/tmp/ior.bin",  # noqa: S108 (upstream's default, kept)
            "log": "",
            "direct": False,
        },
        flags={
            "write": ("-w",),
            "read": ("-r",),
            "fpp": ("-F",),
            "direct": ("-O", "useO_DIRECT=1"),
        },
        mpi=True,
        upper=("api",),
        ignored={"log": "upstream's ior does not write it either: the output is the step's log"},
    ),
    "redis": Package(
        kind="service",
        # upstream starts redis-server with a redis.conf holding the port; no snapshots here,
        # so no dump.rdb is left in the spec's folder
        run=("redis-server", "--port", "{port}", "--save", ""),
        settings={"port": 7000},
        port="port",
    ),
    "redis-benchmark": Package(
        kind="step",
        run=(
            "redis-benchmark",
            "-n",
            "{count}",
            "-P",
            "{pipeline}",
            "--threads",
            "{nthreads}",
            "-d",
            "{req_size}",
            "-p",
            "{port}",
        ),
        settings={
            "port": 7000,
            "count": 1000,
            "write": True,
            "read": True,
            "nthreads": 1,
            "pipeline": 1,
            "req_size": 3,
            "node": 0,
        },
        lists=(Joined("-t", ",", {"write": "set", "read": "get"}),),
        ignored={"node": "the node of a Redis cluster (a hostfile of several hosts) to drive"},
    ),
    "example_app": Package(
        kind="step",
        run=("sh", "-c", _EXAMPLE_APP, "example_app", "{message}", "{output_file}"),
        settings={"message": "Hello from Example App!", "output_file": "example_output.txt"},
    ),
    "example_interceptor": Package(
        kind="interceptor",
        settings={
            "library_path": "/tmp/example_interceptor.so",  # noqa: S108 (upstream's default)
            "custom_env_var": "intercepted_value",
            "debug_mode": True,
        },
        env={"EXAMPLE_INTERCEPTOR_ACTIVE": "true", "EXAMPLE_CUSTOM_VAR": "{custom_env_var}"},
        env_flags={"debug_mode": {"EXAMPLE_DEBUG": "1"}},
        preload="library_path",
    ),
}


def lookup(pkg_type: str, declared: Mapping[str, Package]) -> Package | None:
    """The template of ``pkg_type`` (``repo.pkg`` or ``pkg``): declared for it exactly, else
    declared under its bare name, else builtin (for ``builtin.pkg`` or a bare name)."""
    if pkg_type in declared:
        return declared[pkg_type]
    repo, _, bare = pkg_type.rpartition(".")
    if bare in declared:
        return declared[bare]
    if repo in ("", "builtin"):
        return BUILTIN.get(bare)
    return None


def known_types(declared: Mapping[str, Package]) -> list[str]:
    return sorted(set(BUILTIN) | set(declared))


def close_type(pkg_type: str, declared: Mapping[str, Package]) -> str | None:
    bare = pkg_type.rpartition(".")[2]
    found = difflib.get_close_matches(bare, known_types(declared), n=1)
    return found[0] if found else None


# --- the user's declarations ---------------------------------------------------------------

_KEYS = {
    "kind",
    "run",
    "settings",
    "flags",
    "lists",
    "mpi",
    "port",
    "env",
    "env_flags",
    "preload",
    "upper",
    "ignored",
}


def read_declarations(folder: Path) -> dict[str, Package]:
    """The package types declared in ``folder``/jarvis-packages.yaml ({} without one).
    SpecError: its problems, each at its own line and column."""
    file = folder / DECLARATIONS
    if not file.is_file():
        return {}
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(
            [SpecProblem(f"cannot read {file}: {error}", Location(file, 1, 1))]
        ) from None
    try:
        data, source = read_yaml(text, file)
    except YamlProblems as error:
        raise SpecError(error.problems) from None
    reader = _Reader(source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        reader.problem((), "jarvis-packages.yaml maps each pkg_type to its template")
        raise SpecError(reader.problems)
    declared: dict[str, Package] = {}
    for name, body in data.items():
        package = reader.package(str(name), body, file)
        if package is not None:
            declared[str(name)] = package
    if reader.problems:
        raise SpecError(reader.problems)
    return declared


@dataclass
class _Reader:
    source: SourceMap
    problems: list[SpecProblem] = field(default_factory=list)

    def problem(self, path: PathKey, message: str, hint: str | None = None) -> None:
        self.problems.append(SpecProblem(message, self.source.locate(path, key=True), hint=hint))

    def package(self, name: str, body: Any, file: Path) -> Package | None:
        if not isinstance(body, dict):
            self.problem((name,), f"package type '{name}' should be a mapping (run, settings, …)")
            return None
        for key in body:
            if key not in _KEYS:
                close = difflib.get_close_matches(str(key), sorted(_KEYS), n=1)
                self.problem(
                    (name, key),
                    f"'{key}' is not a key of a package template",
                    hint=f"did you mean '{close[0]}'?"
                    if close
                    else "keys: " + ", ".join(sorted(_KEYS)),
                )
        kind = body.get("kind", "step")
        if kind not in ("step", "service", "interceptor"):
            self.problem((name, "kind"), f"kind '{kind}' is not step, service or interceptor")
            return None
        run = self._words(name, "run", body.get("run", []))
        if kind != "interceptor" and not run:
            self.problem(
                (name,) if "run" not in body else (name, "run"),
                f"package type '{name}' has no run: the argv it starts",
                hint='run: [my_program, --size, "{size}"]',
            )
        settings = self._settings(name, body.get("settings", {}))
        flags = {
            setting: tuple(self._words(name, "flags", words, setting))
            for setting, words in self._mapping(name, "flags", body.get("flags", {})).items()
        }
        env = {str(k): str(v) for k, v in self._mapping(name, "env", body.get("env", {})).items()}
        env_flags = {
            str(setting): {
                str(k): str(v) for k, v in self._mapping(name, "env_flags", value, setting).items()
            }
            for setting, value in self._mapping(
                name, "env_flags", body.get("env_flags", {})
            ).items()
        }
        lists = tuple(self._lists(name, body.get("lists", [])))
        ignored = {
            str(k): str(v)
            for k, v in self._mapping(name, "ignored", body.get("ignored", {})).items()
        }
        upper = tuple(self._words(name, "upper", body.get("upper", [])))
        for key in ("port", "preload"):
            if key in body and not isinstance(body[key], str):
                self.problem((name, key), f"{key} names a setting (a string)")
        mpi = body.get("mpi", False)
        if not isinstance(mpi, bool):
            self.problem((name, "mpi"), "mpi is true or false")
            mpi = False
        package = Package(
            kind=kind,
            run=tuple(run),
            settings=settings,
            flags=flags,
            lists=lists,
            mpi=mpi,
            port=body.get("port") if isinstance(body.get("port"), str) else None,
            env=env,
            env_flags=env_flags,
            preload=body.get("preload") if isinstance(body.get("preload"), str) else None,
            upper=upper,
            ignored=ignored,
            origin=str(file),
        )
        for setting in sorted(package.used() - set(settings) - {"nprocs", "ppn"}):
            self.problem(
                (name,),
                f"package type '{name}' uses the setting '{setting}', which its settings do "
                "not declare",
                hint=f"add it with its default under settings: ({setting}: VALUE)",
            )
        return package

    def _words(self, name: str, key: str, value: Any, *more: str) -> list[str]:
        path: PathKey = (name, key, *more)
        if not isinstance(value, list) or not all(
            isinstance(w, str | int | float) and not isinstance(w, bool) for w in value
        ):
            self.problem(path, f"{'.'.join(str(p) for p in path)} should be a list of words")
            return []
        return [str(w) for w in value]

    def _mapping(self, name: str, key: str, value: Any, *more: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem((name, key, *more), f"{'.'.join((name, key, *more))} should be a mapping")
            return {}
        return {str(k): v for k, v in value.items()}

    def _settings(self, name: str, value: Any) -> dict[str, Value]:
        settings: dict[str, Value] = {}
        for key, default in self._mapping(name, "settings", value).items():
            if default is not None and not isinstance(default, str | int | float | bool):
                self.problem(
                    (name, "settings", key), f"setting '{key}' should have a plain default"
                )
                continue
            settings[key] = default
        return settings

    def _lists(self, name: str, value: Any) -> list[Joined]:
        if not isinstance(value, list):
            self.problem((name, "lists"), "lists should be a list of {option, separator, items}")
            return []
        found: list[Joined] = []
        for index, item in enumerate(value):
            ok = (
                isinstance(item, dict)
                and isinstance(item.get("option"), str)
                and isinstance(item.get("items"), dict)
            )
            if not ok:
                self.problem(
                    (name, "lists", index),
                    "a list is {option: -t, separator: ',', items: {setting: word}}",
                )
                continue
            items = {str(k): str(v) for k, v in item["items"].items()}
            found.append(Joined(item["option"], str(item.get("separator", ",")), items))
        return found
