"""The A2A job importer's mappings, each a row: an A2A job snippet → what the written spec
holds (read back as YAML, and loaded by Shipyard's own loader), or the note naming what did not
map, or the problem at the A2A file's own line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.errors import SpecError
from shipyard.formats.importing import import_text
from shipyard.spec.loader import load_spec_text

FILE = Path("/project/job.yaml")

AGENTS = """agents:
  - {id: a, type: A, module: pkg.a, config: {port: 9001}}
  - {id: b, type: B, module: pkg.b, config: {port: 9002}}
  - {id: c, type: C, module: pkg.c, config: {port: 9003}}
"""


def job(extra: str = "", agents: str = AGENTS) -> str:
    return f"job:\n  name: demo\n  version: '1'\n  description: a demo\n{agents}{extra}"


def agents(*lines: str) -> str:
    """``agents:`` with each line an item."""
    return job(agents="agents:\n" + "".join(f"  - {line}\n" for line in lines))


def imported(text: str) -> tuple[dict[str, Any], list[str]]:
    """The written spec as data (checked to load) and every note's line."""
    result = import_text(text, FILE)
    assert result.format == "a2a"
    load_spec_text(result.text, FILE)
    return yaml.safe_load(result.text), [note.line() for note in result.notes]


def dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


@pytest.mark.parametrize(
    ("extra", "path", "expected"),
    [
        ("", "name", "demo"),
        ("", "description", "a demo"),
        ("", "services.a.run", ["python3", "-m", "pkg.a"]),
        ("", "services.a.port", 9001),
        ("", "services.a.env.AGENT_ID", "a"),
        ("", "services.a.env.JOB_ID", "demo"),
        ("", "services.a.health.http", "/.well-known/agent-configuration"),
        ("", "services.a.health.failure_threshold", 3),
        ("", "services.a.restart", {"policy": "on-failure", "max_restarts": 5}),
        ("", "services.a.readiness_timeout", "60s"),
        ("environment: {LOG: json, RETRIES: 3}\n", "env", {"LOG": "json", "RETRIES": 3}),
        ("deployment: {strategy: sequential}\n", "execution.deployment", "sequential"),
        ("deployment: {strategy: parallel}\n", "execution.deployment", "parallel"),
        ("deployment: {timeout: 30}\n", "services.b.readiness_timeout", "30s"),
        (
            "deployment: {timeout: 30, health_check: {interval: 10, retries: 5, timeout: 2}}\n",
            "services.c.health",
            {
                "http": "/.well-known/agent-configuration",
                "interval": "10s",
                "start_interval": "6s",
                "timeout": "2s",
                "failure_threshold": 3,
            },
        ),
        (
            "topology: {type: hub-spoke, hub: a, spokes: [b, c]}\n",
            "topology",
            {"type": "hub-spoke", "hub": "a", "spokes": ["b", "c"]},
        ),
        (
            "topology: {type: pipeline, stages: [a, [b, c]]}\n",
            "topology",
            {"type": "pipeline", "stages": ["a", ["b", "c"]]},
        ),
        (
            "topology:\n  type: dag\n  connections:\n    - {from: a, to: [b, c], type: query}\n"
            "    - {from: b, to: c}\n",
            "topology",
            {"type": "dag", "edges": {"a": ["b", "c"], "b": ["c"]}},
        ),
        (
            "topology: {type: mesh, agents: [a, b, c]}\n",
            "topology",
            {"type": "mesh", "members": ["a", "b", "c"]},
        ),
        (
            "topology: {type: hierarchical, root: a, levels: [[b], [c]]}\n",
            "topology.levels",
            [["a"], ["b"], ["c"]],
        ),
        (
            "topology: {type: hierarchical, root: a, levels: [[a], [b, c]]}\n",
            "topology.levels",
            [["a"], ["b", "c"]],
        ),
        (
            "topology:\n  type: hierarchical\n  root: a\n  levels:\n"
            "    - {parent: a, children: [b]}\n    - {parent: b, children: [c]}\n",
            "topology.levels",
            [["a"], ["b"], ["c"]],
        ),
    ],
)
def test_a_mapping(extra: str, path: str, expected: object) -> None:
    spec, _ = imported(job(extra))
    assert dig(spec, path) == expected, f"{path} of {extra!r}: {dig(spec, path)!r}"


@pytest.mark.parametrize(
    ("config", "path", "expected"),
    [
        ("{port: auto}", "port", "auto"),
        ("{port: 0}", "port", "auto"),
        ("{port: 9001, name: Weather Agent}", "env.AGENT_NAME", "Weather Agent"),
        ("{port: 9001, max-tokens: 5}", "env.AGENT_MAX_TOKENS", 5),
        ("{port: 9001, verbose: true}", "env.AGENT_VERBOSE", "true"),
        ("{port: 9001, tags: [x, y]}", "env.AGENT_TAGS", '["x", "y"]'),
    ],
)
def test_agent_config(config: str, path: str, expected: object) -> None:
    spec, _ = imported(job(agents=f"agents:\n  - {{id: a, module: m, config: {config}}}\n"))
    assert dig(spec["services"]["a"], path) == expected


def test_deployment_environment_is_the_agents_env() -> None:
    agents = (
        "agents:\n  - {id: a, module: m, config: {port: 1}, deployment: {environment: {X: y}}}\n"
    )
    spec, _ = imported(job(agents=agents))
    assert spec["services"]["a"]["env"]["X"] == "y"


REMOTE = """agents:
  - {id: hub, module: m, config: {port: 9001}}
  - id: r1
    module: worker
    config: {port: 9002}
    deployment: {target: remote, host: node1, user: me, port: 2222, ssh_key: /k, python: py3,
                 workdir: /srv}
  - id: r2
    module: worker
    config: {port: 9003}
    deployment: {target: remote, host: node1, user: me, port: 2222, password: secret}
  - id: r3
    module: worker
    config: {port: 9004}
    deployment: {target: remote, host: node1, ssh_key: /other}
"""


def test_remote_agents_run_over_ssh_on_their_hosts() -> None:
    spec, notes = imported(job("deployment: {ssh: {timeout: 15}}\n", agents=REMOTE))
    services = spec["services"]
    assert "runner" not in services["hub"]
    assert services["r1"]["runner"] == "ssh" and services["r1"]["host"] == "node1"
    assert services["r1"]["run"] == ["py3", "-m", "worker"]
    assert services["r1"]["workdir"] == "/srv"
    assert services["r2"]["host"] == "node1", "one host entry for one address, user and port"
    assert services["r3"]["host"] == "node1-2", "another user/port is another host entry"
    assert spec["hosts"] == [
        {"name": "node1", "address": "node1", "user": "me", "port": 2222},
        {"name": "node1-2", "address": "node1"},
    ]
    assert spec["ssh"] == {"options": ["IdentityFile=/k"], "connect_timeout": "15s"}
    joined = "\n".join(notes)
    assert "agents[2].deployment.password (line 15): not mapped" in joined, joined
    assert "agents[3].deployment.ssh_key (line 19): not mapped" in joined, joined
    assert "uv run" in joined, "the remote start command's difference is named"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("", "job.version (line 3): not mapped"),
        ("agents_extra: 1\n", "agents_extra (line 9): not mapped"),
        ("execution: {entry_point: a, auto_start: true}\n", "execution.entry_point (line 9)"),
        ("execution: {entry_point: a, auto_start: true}\n", "execution.auto_start (line 9)"),
        ("deployment: {network: {allow_cross_host: true}}\n", "deployment.network (line 9)"),
        ("deployment: {strategy: top-down}\n", "deployment.strategy (line 9): not mapped"),
        ("deployment: {strategy: parallel}\n", "deployment.strategy (line 9): parallel"),
        ("topology: {type: dynamic}\n", "topology.type (line 9): not mapped"),
        (
            "topology:\n  type: dag\n  connections: [{from: a, to: b, type: bidirectional}]\n",
            "topology.connections[0].type (line 11): bidirectional",
        ),
        ("deployment: {health_check: {enabled: false}}\n", "health_check.enabled (line 9)"),
    ],
)
def test_what_does_not_map_is_named(extra: str, named: str) -> None:
    _, notes = imported(job(extra))
    assert any(named in note for note in notes), f"{named!r} not in {notes}"


def test_resources_are_named() -> None:
    agents = "agents:\n  - {id: a, module: m, config: {port: 1}, resources: {cpu: 2}}\n"
    _, notes = imported(job(agents=agents))
    assert any(n.startswith("agents[0].resources (line 6): not mapped") for n in notes), notes


def test_dynamic_topology_writes_none() -> None:
    spec, _ = imported(job("topology: {type: dynamic}\n"))
    assert "topology" not in spec


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (job(agents="agents:\n  - {id: a, module: m, config: {name: x}}\n"), "6:24", "config.port"),
        (job(agents="agents:\n  - {id: 'a b', module: m, config: {port: 1}}\n"), "6:6", "'a b'"),
        (job(agents="agents:\n  - {id: a, config: {port: 1}}\n"), "6:5", "no 'module'"),
        (job(agents="agents:\n  - {module: m, config: {port: 1}}\n"), "6:5", "no 'id'"),
        (
            agents(
                "{id: a, module: m, config: {port: 1}}", "{id: a, module: m, config: {port: 2}}"
            ),
            "7:6",
            "given twice",
        ),
        (
            job(agents="agents:\n  - {id: a, module: m, config: {port: 99999}}\n"),
            "6:33",
            "not a port",
        ),
        (
            agents("{id: a, module: m, config: {port: 1}, deployment: {target: container}}"),
            "6:56",
            "target 'container' has no runner",
        ),
        (
            agents("{id: a, module: m, config: {port: 1}, deployment: {target: remote}}"),
            "6:56",
            "needs deployment.host",
        ),
        (job("topology: {type: hub-spoke, hub: x, spokes: [b]}\n"), "9:29", "hub 'x'"),
        (
            job("topology: {type: hub-spoke, hub: a, spokes: [b, cc]}\n"),
            "9:49",
            "'cc' is not an agent id",
        ),
        (job("topology: {type: pipeline, stages: [a, [b, zz]]}\n"), "9:44", "'zz'"),
        (job("topology: {type: mesh, agents: [a, q]}\n"), "9:36", "'q'"),
        (job("topology: {type: star}\n"), "9:12", "'star' is not one of A2A's"),
        (
            job("topology:\n  type: dag\n  connections: [{from: a, to: nope}]\n"),
            "11:27",
            "'nope' is not an agent id",
        ),
        (job("topology: {type: hierarchical, root: r}\n"), "9:32", "root 'r'"),
        (job("environment: [A=1]\n"), "9:1", "environment should map names to values"),
        (job("deployment: {timeout: soon}\n"), "9:14", "timeout 'soon'"),
        # Shipyard's own check of the written spec, reported at the A2A file's line:
        (
            agents(
                "{id: a, module: m, config: {port: 9001}}",
                "{id: b, module: m, config: {port: 9001}}",
            ),
            "7:",
            "9001",
        ),
    ],
)
def test_a_problem_is_at_the_files_own_line(text: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as raised:
        import_text(text, FILE)
    problems = [
        f"{p.location.line}:{p.location.column}: {p.message}" if p.location else p.message
        for p in raised.value.problems
    ]
    assert any(p.startswith(where) and message in p for p in problems), (
        f"no problem at {where} with {message!r}: {problems}"
    )


def test_the_hint_names_the_closest_agent() -> None:
    with pytest.raises(SpecError) as raised:
        import_text(job("topology: {type: mesh, agents: [a, bb]}\n"), FILE)
    assert raised.value.problems[0].hint is not None
    assert "did you mean 'b'?" in raised.value.problems[0].hint


def test_a_spec_written_to_another_folder_runs_the_agents_in_the_jobs_folder() -> None:
    result = import_text(job(), FILE, output=Path("/project/out/spec.yaml"))
    spec = yaml.safe_load(result.text)
    assert {s["workdir"] for s in spec["services"].values()} == {".."}
    beside = yaml.safe_load(import_text(job(), FILE, output=Path("/project/spec.yaml")).text)
    assert all("workdir" not in s for s in beside["services"].values())
