"""Every operation of the protocol reaches the user through an MCP tool and a CLI command — by
the explicit table in shipyard.mcpserver.catalog — or is listed as internal with its reason.
A new operation without them fails here."""

from __future__ import annotations

import functools
import inspect

import click
import pytest
import typer.main

from shipyard.cli.commands import app
from shipyard.mcpserver import catalog
from shipyard.mcpserver.toolkit import registered
from shipyard.wire import operation_names


@functools.cache
def tools() -> dict[str, inspect.Signature]:
    return {spec.name: inspect.signature(spec.fn) for spec in registered()}


def command(path: str) -> click.Command | None:
    found: click.Command | None = typer.main.get_command(app)
    for word in path.split():
        if not isinstance(found, click.Group):
            return None
        found = found.commands.get(word)
    return found


def split(reach: str, opener: str) -> tuple[str, str | None]:
    """``tool(param)`` → (tool, param); ``cmd sub --opt`` → ("cmd sub", "--opt")."""
    if opener == "(":
        name, _, rest = reach.partition("(")
        return name, rest.rstrip(")") or None
    words = reach.split()
    options = [word for word in words if word.startswith("--")]
    return " ".join(w for w in words if not w.startswith("--")), options[0] if options else None


def test_every_operation_is_reached_or_internal_with_a_reason() -> None:
    names = set(operation_names())
    unlisted = sorted(names - set(catalog.REACHED) - set(catalog.INTERNAL))
    assert unlisted == [], f"operations with no MCP tool, CLI command or reason: {unlisted}"
    assert sorted((set(catalog.REACHED) | set(catalog.INTERNAL)) - names) == []
    assert set(catalog.REACHED).isdisjoint(catalog.INTERNAL)
    assert all(len(reason) > 20 for reason in catalog.INTERNAL.values())


@pytest.mark.parametrize("operation", sorted(catalog.REACHED))
def test_the_operation_has_its_mcp_tool(operation: str) -> None:
    name, parameter = split(catalog.REACHED[operation].tool, "(")
    registered = tools()
    assert name in registered, f"{operation}: no MCP tool {name!r}"
    if parameter is not None:
        assert parameter in registered[name].parameters, f"{name} has no parameter {parameter}"


@pytest.mark.parametrize("operation", sorted(catalog.REACHED))
def test_the_operation_has_its_cli_command(operation: str) -> None:
    path, option = split(catalog.REACHED[operation].command, "-")
    found = command(path)
    assert found is not None, f"{operation}: no CLI command `shipyard {path}`"
    if option is not None:
        options = {name for param in found.params for name in getattr(param, "opts", [])}
        assert option in options, f"`shipyard {path}` has no {option}"


def test_every_tool_is_in_the_table_or_names_the_operation_it_reaches() -> None:
    mapped = {split(reach.tool, "(")[0] for reach in catalog.REACHED.values()}
    assert sorted(set(tools()) - mapped - set(catalog.ALSO)) == []
    assert set(catalog.ALSO) <= set(tools())
    assert set(catalog.ALSO.values()) - {"*"} <= set(catalog.REACHED)
