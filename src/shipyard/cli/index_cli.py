"""The template index: shipyard index add|list|remove|update|show (issue 12 §3).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.
"""
