"""Issue 17 §7 through the installed CLI: the real upstream files (tests/fixtures/seed-formats,
copied byte for byte) and small specs written the way users of those tools write them get hints
that point at the Shipyard key or command meant — `env` for `environment`, a mesh's `members`
for `agents`, `edges` for a dag's `connections` — TOML is said to be TOML with where it belongs,
"no steps or services" comes with the other problems, and a problem line names the spec as the
user gave it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

FIXTURES = Path(__file__).parents[1] / "fixtures" / "seed-formats"
#: The upstream files (not a README, nor what a run left in a hidden folder there).
FILES = sorted(
    p
    for p in FIXTURES.rglob("*")
    if p.suffix in (".yaml", ".yml", ".json", ".toml")
    and not any(part.startswith(".") for part in p.relative_to(FIXTURES).parts)
)

#: Phrases a seed file's validation must say, beyond "no traceback, not 'invalid YAML'".
SAYS = {
    "atoll/docs-example/agent.toml": ["TOML", "agents discover"],
    "atoll/ghidra_agent/agent.toml": ["TOML", "agents discover"],
    "mitosis/config.example.toml": ["TOML"],
    "mitosis/manager-config.toml": ["TOML"],
}


def _seed(tmp_path: Path) -> None:
    """The seed files under the test's folder (the commands' working folder), so they can be
    given by a relative path."""
    for file in FILES:
        copy = tmp_path / "seed" / file.relative_to(FIXTURES)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, copy)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


@pytest.mark.parametrize("file", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_seed_file_is_told_what_it_is(shipyard: Shipyard, tmp_path: Path, file: Path) -> None:
    _seed(tmp_path)
    relative = f"seed/{file.relative_to(FIXTURES)}"
    done = shipyard("validate", relative)
    output = _output(done)
    assert done.returncode in (0, 1), output
    assert "Traceback" not in output, output
    assert "not valid YAML" not in output and "indentation" not in output, output
    if file.suffix == ".toml":
        assert "TOML" in output, output
    for phrase in SAYS.get(str(file.relative_to(FIXTURES)), []):
        assert phrase in output, f"{phrase!r} is not in:\n{output}"


@pytest.mark.slow
# ~26 commands, each a new CLI process: over 120 s on a loaded machine under the wire pass.
@pytest.mark.timeout(600)
@pytest.mark.local_only("through a server the spec is sent by its absolute path")
def test_seed_files_are_named_as_given(shipyard: Shipyard, tmp_path: Path) -> None:
    """No line shows the machine's path for a file given by a relative one (validate; plan
    too for one file of each format)."""
    _seed(tmp_path)
    planned = set()
    for file in FILES:
        relative = f"seed/{file.relative_to(FIXTURES)}"
        folder = file.relative_to(FIXTURES).parts[0]
        commands = ["validate"] if folder in planned else ["validate", "plan"]
        planned.add(folder)
        for command in commands:
            done = shipyard(command, relative)
            output = _output(done)
            assert "Traceback" not in output, output
            assert str(tmp_path) not in output, f"{command} {relative}:\n{output}"


ENV = """name: env-words
environment:
  A: "1"
steps:
  one:
    run: [echo, hi]
    environment: {B: "2"}
    working_dir: /tmp
services:
  web:
    run: [python3, -m, http.server]
    environment: ["C=3"]
    depends_on:
      one: process_completed_successfully
"""
MESH = """name: mesh
services:
  a: {run: [sleep, "100"]}
  b: {run: [sleep, "100"]}
topology:
  type: mesh
  agents: [a, b]
"""
DAG = """name: dag
services:
  a: {run: [sleep, "100"]}
  b: {run: [sleep, "100"]}
topology:
  type: dag
  connections:
    - {from: a, to: b}
"""
NOTHING = """name: nothing
pkgs:
  ior: {nprocs: 4}
"""
TOML_SPEC = """name = "toml"
[steps.a]
run = ["echo", "hi"]
"""
BROKEN_TOML = """[agent]
name = "unclosed
"""

# (file name, its text, command, phrases the output must hold, phrases it must not)
CASES = [
    (
        "env.yaml",
        ENV,
        "validate",
        [
            "env.yaml:3:3: environment should be a string, not a mapping",
            "did you mean 'env'?",
            "steps.one.environment",
            "services.web.environment",
            "did you mean 'workdir'?",
            "did you mean 'completed_successfully'?",
        ],
        [],
    ),
    ("mesh.yaml", MESH, "validate", ["did you mean 'members'?"], ["stages"]),
    ("mesh.yaml", MESH, "plan", ["did you mean 'members'?"], ["stages"]),
    ("dag.yaml", DAG, "validate", ["did you mean 'edges'?"], []),
    ("dag.yaml", DAG, "up", ["did you mean 'edges'?"], []),
    (
        "nothing.yaml",
        NOTHING,
        "run",
        [
            "'nothing' has no steps or services: there is nothing to run",
            "unknown key 'pkgs'",
            "did you mean 'steps'?",
        ],
        [],
    ),
    ("spec.toml", TOML_SPEC, "run", ["this is a TOML file, not YAML"], ["not valid YAML"]),
    ("spec.toml", TOML_SPEC, "plan", ["a spec's keys written in TOML"], ["not valid YAML"]),
    (
        "broken.toml",
        BROKEN_TOML,
        "validate",
        ["this looks like TOML", "not valid TOML either"],
        ["not valid YAML", "indentation"],
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "command", "present", "absent"),
    CASES,
    ids=[f"{case[2]}-{case[0]}" for case in CASES],
)
def test_own_files_get_the_hint_meant(
    shipyard: Shipyard,
    tmp_path: Path,
    name: str,
    text: str,
    command: str,
    present: list[str],
    absent: list[str],
) -> None:
    (tmp_path / name).write_text(text)
    args = (command, name, "-d") if command == "up" else (command, name)
    done = shipyard(*args)
    output = _output(done)
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    for phrase in present:
        assert phrase in output, f"{phrase!r} is not in:\n{output}"
    for phrase in absent:
        assert phrase not in output, f"{phrase!r} should not be in:\n{output}"


PC_BROKEN = """version: "0.5"
processes:
  a:
    command: echo hi
    depends_on:
      zz:
        condition: process_completed_successfully
"""


@pytest.mark.local_only("through a server the spec is sent by its absolute path")
def test_problem_lines_name_the_file_as_given(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mesh.yaml").write_text(MESH)
    (tmp_path / "specs" / "pc.yaml").write_text(PC_BROKEN)
    (tmp_path / "specs" / "agent.toml").write_text('[agent]\nname = "a"\n')
    for command in ("validate", "plan", "run"):
        done = shipyard(command, "specs/mesh.yaml")
        assert "  specs/mesh.yaml:7:3: unknown key 'agents'" in _output(done), _output(done)
        assert str(tmp_path) not in _output(done), _output(done)
    report = json.loads(shipyard("validate", "specs/mesh.yaml", "--json").stdout)
    assert report["problems"][0]["file"] == "specs/mesh.yaml", report
    # Another tool's file: its problem at its own line, named as given.
    foreign = shipyard("validate", "specs/pc.yaml")
    assert "  specs/pc.yaml:6:7: " in foreign.stdout, _output(foreign)
    toml = shipyard("validate", "specs/agent.toml")
    assert "  specs/agent.toml:1:1: this is an ATOLL agent file" in toml.stdout, _output(toml)
    # Given absolute, shown absolute.
    absolute = shipyard("validate", str(tmp_path / "specs" / "mesh.yaml"))
    assert f"  {tmp_path}/specs/mesh.yaml:7:3:" in absolute.stdout, _output(absolute)
