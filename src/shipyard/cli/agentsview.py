"""What `shipyard agents discover` prints: each agent, the command it runs, and what became of
its file's keys (the ones mapped with other semantics and the ones with no equivalent), after
the notes on ATOLL's server settings when the folder has them."""

from __future__ import annotations

from pathlib import Path

from shipyard.agents import DiscoveredAgent, server_settings, shown_command


def server_lines(folder: Path, servers: Path | None) -> list[str]:
    """The folder's deployment_servers.json (or ``servers``): what Shipyard takes from it."""
    settings = server_settings(folder, servers)
    if settings.file is None:
        return []
    return [f"{settings.file}:"] + [f"  note: {note}" for note in settings.notes]


def discover_lines(found: list[DiscoveredAgent]) -> list[str]:
    lines = []
    for agent in found:
        if agent.problem:
            lines.append(f"{agent.name:<16} {agent.state:<10} {agent.where}: {agent.problem}")
            continue
        lines.append(f"{agent.name:<16} {agent.state:<10} {agent.file}")
        lines.append(f"  runs: {shown_command(agent.service)}")
        lines.extend(f"  note: {note}" for note in agent.notes)
    return lines
