"""Named pipelines: shipyard pipelines add|list|show|remove|set|step … (issue 12 §1).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.
"""
