"""The MCP server (issue 12 §5): every operation of :class:`shipyard.api.Operations` as an MCP
tool, on the official ``mcp`` SDK, served over stdio or streamable HTTP by ``shipyard mcp``.

The package is named ``mcpserver`` so that ``import mcp`` always means the SDK. Nothing here
imports the SDK at import time: :mod:`shipyard.mcpserver.server` does, when a server is built.
"""
