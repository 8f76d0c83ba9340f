"""Loading a spec: read YAML → validate the shape (Pydantic) → run the named checks.

Every problem found is reported at once, each with its file:line:column and a hint, so a user
fixes a broken spec in one pass instead of one error per run.
"""

from __future__ import annotations

import hashlib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.plan.model import HostEntry
from shipyard.spec.checks import run_checks, run_raw_checks
from shipyard.spec.hostchecks import spec_hosts
from shipyard.spec.models import HINT, PARAMETER_PATTERN, Spec
from shipyard.spec.reading import read_spec_text
from shipyard.spec.shown import as_given
from shipyard.spec.suggest import allowed_values, key_hint, shape_hint, value_hint
from shipyard.spec.yamlsource import PathKey, SourceMap, YamlProblems, read_yaml


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and where it came from."""

    spec: Spec
    path: Path | None
    text: str
    source: SourceMap
    #: The spec's hosts, named and expanded (a hostfile read): issue 16's ssh runner and MPI.
    hosts: list[HostEntry] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Relative workdirs are resolved from the spec file's folder."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def load_spec(path: str | Path) -> LoadedSpec:
    """Load and validate the spec file at ``path``; SpecError lists every problem found."""
    file = Path(path)
    # A regular file of a sane size, in UTF-8: never /dev/zero, a FIFO or a 2 GB file.
    text = read_spec_text(file)
    try:
        return load_spec_text(text, file.resolve())
    except SpecError as error:
        raise as_given(error, file) from None  # the path as typed, not the machine's


def load_spec_text(text: str, path: Path | None = None) -> LoadedSpec:
    """Validate spec ``text``; ``path`` is used for messages and for resolving workdirs."""
    found: list[SpecProblem] = []
    try:
        data, source = read_yaml(text, path)
    except YamlProblems as error:
        if error.read is None:
            raise SpecError(_toml_instead(text, path) or error.problems) from None
        found = error.problems  # read all the same: the rest of the file is checked too
        data, source = error.read
    if not isinstance(data, dict):
        raise SpecError(
            _toml_instead(text, path)
            or [
                *found,
                SpecProblem(
                    "a spec is a YAML mapping with at least 'name' and 'steps'",
                    source.locate(()),
                    hint="see `shipyard schema` or docs/spec.md for the file's shape",
                ),
            ]
        )
    problems = found + run_raw_checks(data, source)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as error:
        shape = _explain(error, data, source)
        raise SpecError(shape + problems + _checks_despite(error, data, source)) from None
    problems += run_checks(spec, source)
    hosts, host_problems = spec_hosts(spec, source, path.parent if path else Path.cwd())
    problems += host_problems
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec, path, text, source, hosts)


def _toml_instead(text: str, path: Path | None) -> list[SpecProblem]:
    """A file that is not a YAML mapping because it is TOML: that, said plainly (an ATOLL
    agent.toml read as YAML was "check the indentation")."""
    from shipyard.spec.tomlhint import toml_problem

    problem = toml_problem(text, path)
    return [problem] if problem else []


def _checks_despite(
    error: ValidationError, data: dict[str, Any], source: SourceMap
) -> list[SpecProblem]:
    """The named checks, run on the spec patched past its shape errors (spec/repair.py), so a
    wrong key does not hide an unknown ``{{ name }}`` or a port asked for twice."""
    from shipyard.spec.repair import repair

    def failures(candidate: dict[str, Any]) -> list[PathKey] | None:
        try:
            Spec.model_validate(candidate)
        except ValidationError as again:
            return _error_paths(again, candidate)
        return None

    fixed = repair(data, _error_paths(error, data), failures)
    if fixed is None:
        return []
    return run_checks(Spec.model_validate(fixed), source)


def _error_paths(error: ValidationError, data: Any) -> list[PathKey]:
    """Where in ``data`` each of Pydantic's errors is (an unknown or missing key: the key
    itself)."""
    paths = []
    for item in error.errors():
        if item["type"] in ("extra_forbidden", "missing"):
            paths.append((*_data_path(item["loc"][:-1], data), item["loc"][-1]))
        else:
            paths.append(_data_path(item["loc"], data))
    return paths


# -- turning Pydantic's errors into messages a person can act on -----------------------------

_KIND_WORDS = {
    "list_type": "a list",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Keep only the parts of Pydantic's ``loc`` that exist in the data (drops union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:  # noqa: SIM114 - mypy needs each index type
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
    return tuple(path)


def _describe(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the spec"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def _explain(error: ValidationError, data: Any, source: SourceMap) -> list[SpecProblem]:
    grouped: dict[PathKey, list[dict[str, Any]]] = {}
    for item in error.errors():
        path = _data_path(item["loc"], data)
        if item["type"] == "extra_forbidden":
            path = (*_data_path(item["loc"][:-1], data), item["loc"][-1])
        grouped.setdefault(path, []).append(dict(item))
    problems = []
    for path, items in grouped.items():
        problems.append(_problem(path, items, source, _at(data, path[:-1])))
    return problems


def _at(data: Any, path: PathKey) -> Any:
    """The raw value at ``path`` (a path found in ``data`` by _data_path)."""
    for part in path:
        data = data[part]
    return data


def _problem(
    path: PathKey, items: list[dict[str, Any]], source: SourceMap, owner: Any
) -> SpecProblem:
    """One problem for Pydantic's errors at ``path``; ``owner``: the raw mapping (or list)
    that holds it, for hints that depend on its siblings (a topology's type)."""
    first = items[0]
    where = source.locate(path, key=first["type"] in ("extra_forbidden", "missing"))
    if first["type"] == "extra_forbidden":
        return _unknown_key(path, first, owner, where)
    if first["type"] == "missing":
        missing = str(first["loc"][-1])
        owner_name = _describe(path)
        if owner_name == "the spec":
            return SpecProblem(f"the spec needs a '{missing}'", where)
        return SpecProblem(f"{owner_name} needs a '{missing}'", where)
    kinds = [_KIND_WORDS[item["type"]] for item in items if item["type"] in _KIND_WORDS]
    if kinds and len(kinds) == len(items):
        wanted = " or ".join(dict.fromkeys(kinds))
        got = _type_name(first.get("input"))
        return SpecProblem(
            f"{_describe(path)} should be {wanted}, not {got}",
            where,
            _shape_hint(path, first, owner),
        )
    messages = []
    hints = []
    for item in items:
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch":
            message, hint = _pattern_message(item)
        elif item["type"] == "literal_error":
            allowed = allowed_values(str(item.get("ctx", {}).get("expected", "")))
            hint = value_hint(item.get("input"), allowed) or ""
        else:
            message, _, hint = message.partition(HINT)  # the models' own "message, hint"
        messages.append(message)
        hints.append(hint)
    joined = "; ".join(dict.fromkeys(hint for hint in hints if hint)) or None
    return SpecProblem(f"{_describe(path)}: {'; '.join(dict.fromkeys(messages))}", where, joined)


def _unknown_key(
    path: PathKey, item: dict[str, Any], owner: Any, where: Location | None
) -> SpecProblem:
    """An unknown key, with what it means here (spec/suggest.py: another tool's name for a
    Shipyard key, else the closest valid key of the model it sits in)."""
    key = str(path[-1])
    model = _model_at(item["loc"][:-1])
    if model is None:
        hint = key_hint(key, None, [])
    else:
        hint = key_hint(
            key,
            model.__name__,
            list(model.model_fields),
            owner if isinstance(owner, dict) else None,
            _submodel_fields(model),
        )
    return SpecProblem(f"unknown key '{key}' in {_describe(path[:-1])}", where, hint=hint)


def _submodel_fields(model: type[BaseModel]) -> dict[str, list[str]]:
    """The fields of ``model``'s fields that are models themselves (``health`` → http, tcp…)."""
    found = {}
    for name, info in model.model_fields.items():
        inner = _unwrap(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            found[name] = list(inner.model_fields)
    return found


def _shape_hint(path: PathKey, item: dict[str, Any], owner: Any) -> str | None:
    """A key given a value of the kind another tool writes there (spec/suggest.py)."""
    if not path or not isinstance(owner, dict):
        return None
    model = _model_at(item["loc"][: len(item["loc"]) - 1])
    if model is None:
        return None
    return shape_hint(str(path[-1]), item.get("input"), list(model.model_fields))


def _pattern_message(item: dict[str, Any]) -> tuple[str, str]:
    """A name that does not match its pattern: what the pattern allows, said in words."""
    name = item.get("input")
    if item.get("ctx", {}).get("pattern") == PARAMETER_PATTERN:
        # A parameter becomes {{ name }} and $SHIPYARD_PARAM_NAME: no '-' or '.' there.
        fixed = re.sub(r"\W", "_", str(name))
        suggestion = f"; try '{fixed}'" if re.match(PARAMETER_PATTERN, fixed) else ""
        return (
            f"{name!r} is not a valid parameter name",
            "use letters, digits and '_', not starting with a digit (it is used as "
            f"{{{{ name }}}} and in $SHIPYARD_PARAM_<NAME>){suggestion}",
        )
    return (
        f"{name!r} is not a valid name",
        "use letters, digits, '_', '-' and '.', starting with a letter or a digit",
    )


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that sits at ``loc`` (walking Spec's annotations), if any."""
    current: Any = Spec
    pending_key = False
    for part in loc:
        current = _unwrap(current)
        if pending_key:
            pending_key = False
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            origin = typing.get_origin(_unwrap(current))
            if origin is dict:
                current = typing.get_args(_unwrap(current))[1]
                pending_key = True
        elif isinstance(part, int):
            continue
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``Optional``/unions down to the model type, if there is one."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [
            arg
            for arg in typing.get_args(annotation)
            if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        if models:
            return models[0]
    return annotation
