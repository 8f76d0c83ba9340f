"""shipyard mcp: the MCP server over stdio or streamable HTTP (issue 12 §5).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.
"""
