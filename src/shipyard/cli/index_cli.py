"""The template index: shipyard index add|list|remove|update|templates|show (issue 12 §3).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.

No ``from __future__ import annotations``: Typer reads the commands' annotations (see
commands.py); the records are imported for type checking only, hence the quoted names.
"""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.app import _SETTINGS, HomeOption, JsonOption, app
from shipyard.cli.front import dump as _dump
from shipyard.cli.front import ops as _ops

if TYPE_CHECKING:
    from shipyard.registry import ParameterInfo
    from shipyard.templates import IndexRepo, TemplateInfo

index_app = typer.Typer(
    help="Repositories of pipeline templates (a folder or a git URL; 'builtin' ships with "
    "Shipyard). Run a template with: shipyard run index:REPO/NAME",
    **_SETTINGS,
)
app.add_typer(index_app, name="index")

RepoName = Annotated[str, typer.Argument(help="The repository's name.", show_default=False)]


@index_app.command("add")
def index_add(
    name: RepoName,
    source: Annotated[
        str,
        typer.Argument(
            help="A folder holding shipyard-index.yaml, or a git URL (cloned into the index "
            "cache).",
            show_default=False,
        ),
    ],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a repository of templates; every template it lists is validated first."""
    repo = _ops(home).index_add(name, source)
    if as_json:
        _dump(repo)
        return
    sys.stdout.write(f"added {repo.name}: {_count(repo.templates)} from {repo.source}\n")


@index_app.command("list")
def index_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """The template repositories: the builtin one and those added."""
    repos = _ops(home).index_list()
    if as_json:
        _dump(repos)
        return
    sys.stdout.write(repo_lines(repos))


@index_app.command("remove")
def index_remove(name: RepoName, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Forget a repository (a git one's clone in the index cache is deleted; a folder stays)."""
    repo = _ops(home).index_remove(name)
    if as_json:
        _dump(repo)
        return
    sys.stdout.write(f"removed {repo.name} ({repo.source})\n")


@index_app.command("update")
def index_update(
    name: Annotated[
        str | None,
        typer.Argument(help="One repository [default: every added one]", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch git repositories and fast-forward them (a folder is re-read); their templates are
    validated, and an update that breaks one is undone."""
    repos = _ops(home).index_update(name)
    if as_json:
        _dump(repos)
        return
    if not repos:
        sys.stdout.write("no repositories added (the builtin one needs no update)\n")
    for repo in repos:
        at = f" at {repo.revision[:12]}" if repo.revision else ""
        sys.stdout.write(f"updated {repo.name}{at}: {_count(repo.templates)}\n")


@index_app.command("templates")
def index_templates(
    repo: Annotated[
        str | None,
        typer.Argument(help="One repository [default: all]", show_default=False),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The templates of every repository (or one), and whether each can run here."""
    found = _ops(home).index_templates(repo)
    if as_json:
        _dump(found)
        return
    sys.stdout.write(template_lines(found))


@index_app.command("show")
def index_show(
    ref: Annotated[
        str,
        typer.Argument(help="REPO/NAME (see shipyard index templates).", show_default=False),
    ],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """A template: description, parameters (type, default, test value, choices) and the
    Shipyard version it needs."""
    info = _ops(home).index_show(ref.removeprefix("index:"))
    if as_json:
        _dump(info)
        return
    sys.stdout.write(template_text(info))


# -- pure formatting ------------------------------------------------------------------------


def _count(templates: int) -> str:
    return f"{templates} template{'s' if templates != 1 else ''}"


def repo_lines(repos: "list[IndexRepo]") -> str:
    width = max(len(repo.name) for repo in repos)
    lines = []
    for repo in repos:
        at = f" @ {repo.revision[:12]}" if repo.revision else ""
        lines.append(f"{repo.name:<{width}}  {repo.kind:<7}  {_count(repo.templates):<12}  ")
        lines[-1] += f"{repo.source}{at}"
    return "".join(f"{line}\n" for line in lines)


def template_lines(found: "list[TemplateInfo]") -> str:
    if not found:
        return "no templates\n"
    refs = [f"{info.repo}/{info.name}" for info in found]
    width = max(len(ref) for ref in refs)
    lines = []
    for ref, info in zip(refs, found, strict=True):
        note = info.description if info.usable else f"cannot run: {info.problem}"
        lines.append(f"{ref:<{width}}  {info.kind:<8}  {note}")
    return "".join(f"{line}\n" for line in lines)


def template_text(info: "TemplateInfo") -> str:
    from shipyard import __version__

    units = ", ".join(info.steps + info.services)
    requires = info.requires.strip() if info.requires else "any version"
    lines = [
        f"{info.repo}/{info.name}: {info.description}",
        f"  kind:     {info.kind} ({units})",
        f"  file:     {info.path}",
        f"  requires: Shipyard {requires} (this is {__version__})",
        "  parameters:" if info.parameters else "  parameters: none",
        *parameter_lines(info.parameters),
        f"  run it:   shipyard {'up -d' if info.kind == 'fleet' else 'run'} "
        f"index:{info.repo}/{info.name}" + (" --mode test" if info.kind != "fleet" else ""),
    ]
    return "".join(f"{line}\n" for line in lines)


def parameter_lines(parameters: "list[ParameterInfo]") -> list[str]:
    """The typed menu: name, type, default (or required), test value, choices, description."""
    rows = [("name", "type", "default", "test", "choices", "description")]
    for p in parameters:
        default = "(secret)" if p.secret else _shown(p.default) if p.default is not None else ""
        if not default:
            default = "(required)"
        choices = ",".join(_shown(choice) for choice in p.choices)
        rows.append((p.name, p.type, default, _shown(p.test), choices, p.description))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "    " + "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[5]])
        for row in rows
    ]


def _shown(value: "str | int | float | bool | None") -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)
