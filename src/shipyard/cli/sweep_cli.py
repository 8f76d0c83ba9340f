"""Parameter sweeps: shipyard sweep … (issue 12 §2).

Commands registered on :data:`shipyard.cli.commands.app` when that module is imported.
Import heavy modules inside the commands: every command line pays for what is imported here.
"""
