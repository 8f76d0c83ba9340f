"""docs/mcp.md lists every MCP tool with its parameters and hints: its tool reference is the
one shipyard.mcpserver.docgen generates from the registry; the tool counts it states, its
table of groups and the ``--tools`` help name the real ones (issue 18 §2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shipyard.mcpserver import toolsets
from shipyard.mcpserver.docgen import BEGIN, END, tool_reference
from shipyard.mcpserver.toolkit import registered

PAGE = Path(__file__).parents[2] / "docs" / "mcp.md"


def test_the_tool_reference_in_the_docs_is_the_generated_one() -> None:
    text = PAGE.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] + "\n" == tool_reference(), (
        "regenerate it: python -m shipyard.mcpserver.docgen"
    )


def _counts_stated(text: str) -> dict[str, int]:
    """The tool counts docs/mcp.md states (its sentence under "Tool sets and modes")."""
    flat = " ".join(text.split())
    found = re.search(
        r"the default set lists (\d+) tools, `--read-only` (\d+), `--tools all` (\d+)\.", flat
    )
    assert found, "docs/mcp.md no longer states the tool counts in the sentence this test reads"
    default, read_only, every = (int(group) for group in found.groups())
    return {"default": default, "read_only": read_only, "all": every}


def test_the_tool_counts_in_the_docs_are_the_real_ones() -> None:
    tools = registered()
    real = {
        "default": len(toolsets.select(tools)),
        "read_only": len(toolsets.select(tools, read_only=True)),
        "all": len(toolsets.select(tools, toolsets.parse_groups(toolsets.ALL))),
    }
    assert _counts_stated(PAGE.read_text()) == real
    flat = " ".join(PAGE.read_text().split())
    assert f"leave `--tools` out for the default set of {real['default']})" in flat


def _tools_help() -> str:
    import typer.main

    import shipyard.cli.commands  # noqa: F401  (registers the commands, mcp among them)
    from shipyard.cli.app import app

    command: Any = typer.main.get_command(app)
    options = {name: param for param in command.commands["mcp"].params for name in param.opts}
    return " ".join(str(options["--tools"].help).split())


def test_the_tools_help_names_every_group_and_the_default_set() -> None:
    text = _tools_help()
    listed = re.search(r"The tool groups to list: (.*?), or all \[default: ([a-z,]+)\]", text)
    assert listed, text
    assert listed.group(1).split(", ") == list(toolsets.GROUPS), text
    assert tuple(listed.group(2).split(",")) == toolsets.DEFAULT_GROUPS, text


def test_the_docs_table_names_every_group() -> None:
    rows = re.findall(r"^\| `([a-z]+)` \| .* \| (yes|no) \|$", PAGE.read_text(), re.MULTILINE)
    assert {name: used == "yes" for name, used in rows} == {
        name: name in toolsets.DEFAULT_GROUPS for name in toolsets.GROUPS
    }
