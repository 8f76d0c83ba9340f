"""docs/mcp.md lists every MCP tool with its parameters and hints: its tool reference is the
one shipyard.mcpserver.docgen generates from the registry."""

from __future__ import annotations

from pathlib import Path

from shipyard.mcpserver.docgen import BEGIN, END, tool_reference

PAGE = Path(__file__).parents[2] / "docs" / "mcp.md"


def test_the_tool_reference_in_the_docs_is_the_generated_one() -> None:
    text = PAGE.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] + "\n" == tool_reference(), (
        "regenerate it: python -m shipyard.mcpserver.docgen"
    )
