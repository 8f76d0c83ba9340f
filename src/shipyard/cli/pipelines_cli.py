"""Named pipelines: shipyard pipelines add|list|show|remove|set|validate|spec|step … (issue 12 §1).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations (see
commands.py); the records are imported for type checking only, hence the quoted names.
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.app import (
    _SETTINGS,
    HomeOption,
    JsonOption,
    ParamOption,
    _params,
    _show_validation,
    app,
)
from shipyard.cli.front import console
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.registry import ParameterInfo, PipelineInfo, Scalar

pipelines_app = typer.Typer(
    help="Named pipelines: a spec registered under a name, with stored parameter defaults. "
    "run, plan, validate and up take the name where they take a spec file; status, stop, "
    "logs, resume, clean … take it for its latest execution.",
    **_SETTINGS,
)
app.add_typer(pipelines_app, name="pipelines")
step_app = typer.Typer(help="Add, replace or remove a step of a named pipeline.", **_SETTINGS)
pipelines_app.add_typer(step_app, name="step")

NameArgument = Annotated[str, typer.Argument(help="The pipeline's name.", show_default=False)]
StepArgument = Annotated[str, typer.Argument(help="The step's name.", show_default=False)]
FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="The step's definition: a YAML file.", show_default=False),
]
YamlOption = Annotated[
    str | None,
    typer.Option("--yaml", help="The step's definition as YAML text, e.g. '{run: [echo, hi]}'."),
]


@pipelines_app.command("add")
def pipelines_add(
    name: NameArgument,
    spec: Annotated[Path, typer.Argument(help="The spec file (YAML).", show_default=False)],
    replace: Annotated[
        bool, typer.Option("--replace", help="Put it in the place of a pipeline of that name.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a spec file under NAME. It is validated first (every problem with its
    file:line); the store keeps its content, so the file may change or go afterwards."""
    info = _ops(home).pipeline_add(name, spec, replace=replace)
    _show(info, as_json=as_json, said=f"{'replaced' if replace else 'added'} {info.name}")


@pipelines_app.command("list")
def pipelines_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """The registered pipelines."""
    found = _ops(home).pipeline_list()
    if as_json:
        _dump(found)
        return
    if not found:
        sys.stdout.write("no pipelines yet: shipyard pipelines add NAME FILE\n")
        return
    console().print(pipelines_table(found))


@pipelines_app.command("show")
def pipelines_show(
    name: NameArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """One pipeline: its steps, services, last execution and parameters as a typed menu (type,
    default, stored default, choices, test value)."""
    _show(_ops(home).pipeline_show(name), as_json=as_json)


@pipelines_app.command("remove")
def pipelines_remove(
    name: NameArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Forget a pipeline. Its executions and their run folders stay."""
    info = _ops(home).pipeline_remove(name)
    if as_json:
        _dump(info)
    else:
        sys.stdout.write(f"removed {info.name}\n")


@pipelines_app.command("set")
def pipelines_set(
    name: NameArgument,
    param: ParamOption = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", help="Drop a stored default (repeatable).", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store parameter defaults: -p name=value (checked against the parameter's type and
    choices) overrides the spec's default at every run; -p at a run still wins."""
    given = _params(param)
    if not given and not unset:
        raise ShipyardError(
            "nothing to set", hint=f"shipyard pipelines set {name} -p NAME=VALUE [--unset NAME]"
        )
    _show(_ops(home).pipeline_set(name, given, unset=unset), as_json=as_json)


@pipelines_app.command("validate")
def pipelines_validate(
    name: NameArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Validate the stored spec again (a file it names may have changed). Exit 1 if not valid."""
    _show_validation(_ops(home).pipeline_validate(name), as_json=as_json)


@pipelines_app.command("spec")
def pipelines_spec(
    name: NameArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Print the stored spec (YAML, edits included)."""
    text = _ops(home).pipeline_spec(name)
    if as_json:
        _dump({"name": name, "spec": text})
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@step_app.command("add")
def step_add(
    name: NameArgument,
    step: StepArgument,
    file: FileOption = None,
    yaml_text: YamlOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a step (its definition as in a spec's steps: section). Refused, and nothing
    changed, when the pipeline would not validate with it."""
    definition = _definition(file, yaml_text)
    info = _ops(home).pipeline_step_add(name, step, definition)
    _show(info, as_json=as_json, said=f"{info.name}: step {step} added")


@step_app.command("replace")
def step_replace(
    name: NameArgument,
    step: StepArgument,
    file: FileOption = None,
    yaml_text: YamlOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replace a step's definition. Refused, and nothing changed, when the pipeline would
    not validate with it."""
    definition = _definition(file, yaml_text)
    info = _ops(home).pipeline_step_replace(name, step, definition)
    _show(info, as_json=as_json, said=f"{info.name}: step {step} replaced")


@step_app.command("remove")
def step_remove(
    name: NameArgument, step: StepArgument, home: HomeOption = None, as_json: JsonOption = False
) -> None:
    """Remove a step. Refused while another step needs it (they are named)."""
    info = _ops(home).pipeline_step_remove(name, step)
    _show(info, as_json=as_json, said=f"{info.name}: step {step} removed")


def _definition(file: Path | None, text: str | None) -> dict[str, Any]:
    """The step definition from exactly one of --file and --yaml."""
    from shipyard.spec.editing import definition_of

    if (file is None) == (text is None):
        raise ShipyardError(
            "give the step's definition with --file FILE or with --yaml TEXT (one of them)",
            hint="e.g. --yaml '{run: [echo, hi], needs: [build]}'",
        )
    if file is not None:
        from shipyard.spec.reading import read_spec_text

        return definition_of(read_spec_text(file), str(file))
    assert text is not None
    return definition_of(text, "--yaml")


def _show(info: "PipelineInfo", *, as_json: bool, said: str | None = None) -> None:
    if as_json:
        _dump(info)
        return
    if said:
        sys.stdout.write(said + "\n")
    sys.stdout.write(header(info) + "\n")
    if info.parameters:
        console().print(parameter_table(info.parameters))


def header(info: "PipelineInfo") -> str:
    """The lines above a pipeline's parameter menu."""
    lines = [f"pipeline {info.name} (spec '{info.spec_name}')"]
    if info.description:
        lines.append(f"  {info.description}")
    lines.append(f"  from:     {info.spec_path or '(given as text)'}")
    lines.append(f"  steps:    {', '.join(info.steps) or '—'}")
    if info.services:
        lines.append(f"  services: {', '.join(info.services)}")
    lines.append(f"  last run: {info.last_execution or 'never'}")
    if not info.parameters:
        lines.append("  parameters: none")
    return "\n".join(lines)


def _value(value: "Scalar | None") -> str:
    from shipyard.spec.params import render_value

    return "—" if value is None else render_value(value)


def parameter_table(parameters: "list[ParameterInfo]") -> "Table":
    """The typed menu: what each parameter takes and what it is when not given."""
    from rich.table import Table

    table = Table(title="parameters", title_justify="left", expand=False)
    for column in ("name", "type", "default", "stored", "choices", "test", "description"):
        table.add_column(column)
    for item in parameters:
        default = "(secret)" if item.secret else ("required" if item.required else "")
        table.add_row(
            item.name,
            item.type,
            default or _value(item.default),
            _value(item.stored),
            ", ".join(_value(choice) for choice in item.choices) or "—",
            _value(item.test),
            item.description,
        )
    return table


def pipelines_table(found: "list[PipelineInfo]") -> "Table":
    from rich.table import Table

    table = Table(expand=False)
    for column in ("name", "spec", "steps", "parameters", "stored", "last run"):
        table.add_column(column)
    for info in found:
        stored = ", ".join(f"{key}={_value(value)}" for key, value in info.defaults.items())
        table.add_row(
            info.name,
            info.spec_name,
            str(len(info.steps)),
            str(len(info.parameters)),
            stored or "—",
            info.last_execution or "never",
        )
    return table
