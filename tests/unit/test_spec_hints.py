"""What a spec's problems suggest (issue 17 §7): another tool's key names point at the Shipyard
key they mean, values other tools spell differently at the value meant, a TOML file is said to
be TOML (and where it belongs), a spec with nothing to run says so beside its other problems,
and a problem is named by the path as the user gave it. A table: spec → key phrases."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.spec.loader import load_spec, load_spec_text
from shipyard.spec.models import HealthSpec, ServiceSpec
from shipyard.spec.shown import as_given
from shipyard.spec.suggest import key_hint, value_hint

RUN = "    run: [sleep, '1']\n"
TWO = f"services:\n  a:\n{RUN}  b:\n{RUN}"


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(text, Path("/specs/p.yaml"))
    return error.value.problems


def shown(problems: list[SpecProblem]) -> str:
    return "\n".join(str(problem) for problem in problems)


# (what, spec text, phrases the problems must hold, phrases they must not)
CASES: list[tuple[str, str, list[str], list[str]]] = [
    (
        "top-level environment as variables",
        f"name: p\nenvironment: {{A: '1'}}\n{TWO}",
        ["environment should be a string, not a mapping", "did you mean 'env'?"],
        [],
    ),
    (
        "a step's environment as variables",
        "name: p\nsteps:\n  s:\n    run: [x]\n    environment: {A: '1'}\n",
        ["steps.s.environment", "did you mean 'env'?"],
        [],
    ),
    (
        "a service's environment as a process-compose list",
        "name: p\nservices:\n  a:\n    run: [x]\n    environment: ['A=1']\n",
        ["services.a.environment", "did you mean 'env'?"],
        [],
    ),
    (
        "env as a list of K=V",
        "name: p\nsteps:\n  s:\n    run: [x]\n    env: ['A=1']\n",
        ["write env as a mapping", "not a list of 'KEY=value'"],
        [],
    ),
    (
        "a mesh's agents (A2A)",
        f"name: p\n{TWO}topology:\n  type: mesh\n  agents: [a, b]\n",
        ["unknown key 'agents' in topology", "did you mean 'members'?"],
        ["stages"],
    ),
    (
        "a pipeline's agents",
        f"name: p\n{TWO}topology:\n  type: pipeline\n  agents: [a, b]\n",
        ["did you mean 'stages'?"],
        [],
    ),
    (
        "a dag's connections (A2A)",
        f"name: p\n{TWO}topology:\n  type: dag\n  connections: [{{from: a, to: b}}]\n",
        ["unknown key 'connections' in topology", "did you mean 'edges'?"],
        [],
    ),
    (
        "a tree's root (A2A)",
        f"name: p\n{TWO}topology:\n  type: hierarchical\n  root: a\n  levels: [[a], [b]]\n",
        ["unknown key 'root' in topology", "did you mean 'levels'?", "[[root]"],
        [],
    ),
    (
        "process-compose's working_dir",
        "name: p\nsteps:\n  s:\n    run: [x]\n    working_dir: /tmp\n",
        ["unknown key 'working_dir' in steps.s", "did you mean 'workdir'?"],
        [],
    ),
    (
        "cwd",
        "name: p\nservices:\n  a:\n    run: [x]\n    cwd: /tmp\n",
        ["did you mean 'workdir'?"],
        [],
    ),
    (
        "process-compose's command",
        "name: p\nsteps:\n  s:\n    command: echo hi\n",
        ["unknown key 'command' in steps.s", "did you mean 'run'?", "shell: true"],
        [],
    ),
    (
        "A2A's module",
        "name: p\nservices:\n  a:\n    module: agents.weather\n",
        ["did you mean 'run'?", "[python3, -m, MODULE]"],
        [],
    ),
    (
        "a step's depends_on",
        "name: p\nsteps:\n  a:\n    run: [x]\n  b:\n    run: [x]\n    depends_on: [a]\n",
        ["unknown key 'depends_on' in steps.b", "did you mean 'needs'?"],
        [],
    ),
    (
        "a service's needs",
        f"name: p\nservices:\n  a:\n{RUN}  b:\n{RUN}    needs: [a]\n",
        ["unknown key 'needs' in services.b", "did you mean 'depends_on'?"],
        [],
    ),
    (
        "process-compose's depends_on condition",
        f"name: p\n{TWO}    depends_on: {{a: process_healthy}}\n",
        ["services.b.depends_on.a", "did you mean 'healthy'?"],
        [],
    ),
    (
        "process-compose's completed_successfully on a step",
        f"name: p\nsteps:\n  s:\n{RUN}services:\n  a:\n{RUN}"
        "    depends_on: {s: process_completed_successfully}\n",
        ["did you mean 'completed_successfully'?"],
        [],
    ),
    (
        "process-compose's {condition: …} mapping",
        f"name: p\n{TWO}    depends_on:\n      a: {{condition: process_started}}\n",
        ["write the value itself, 'started', not a mapping"],
        [],
    ),
    (
        "process-compose's availability",
        "name: p\nservices:\n  a:\n    run: [x]\n    availability: {restart: always}\n",
        ["unknown key 'availability' in services.a", "did you mean 'restart'?"],
        [],
    ),
    (
        "process-compose's restart value on_failure",
        "name: p\nservices:\n  a:\n    run: [x]\n    restart: {policy: on_failure}\n",
        ["did you mean 'on-failure'?"],
        [],
    ),
    (
        "process-compose's readiness_probe",
        "name: p\nservices:\n  a:\n    run: [x]\n    readiness_probe: {http_get: {path: /}}\n",
        ["did you mean 'health'?"],
        [],
    ),
    (
        "process-compose's liveness_probe",
        "name: p\nservices:\n  a:\n    run: [x]\n    liveness_probe: {exec: {command: x}}\n",
        # The target comes from the models: liveness once ServiceSpec has it, else health.
        ["did you mean 'liveness'?" if "liveness" in ServiceSpec.model_fields else "'health'"],
        [],
    ),
    (
        "process-compose's ready_log_line",
        "name: p\nservices:\n  a:\n    run: [x]\n    ready_log_line: Serving\n",
        # The target comes from the models: health.log_line once HealthSpec has it.
        ["did you mean 'health.log_line'?" if "log_line" in HealthSpec.model_fields else ""],
        [],
    ),
    (
        "process-compose's shutdown",
        "name: p\nservices:\n  a:\n    run: [x]\n    shutdown: {signal: 15}\n",
        ["did you mean 'stop'?"],
        [],
    ),
    (
        "process-compose's is_disabled on a step",
        "name: p\nsteps:\n  s:\n    run: [x]\n    is_disabled: true\n",
        ["did you mean 'enabled'?", "enabled: false"],
        [],
    ),
    (
        "processes that no detection claims (no command in them)",
        "name: p\nprocesses:\n  a: {description: x}\n",
        ["unknown key 'processes'", "did you mean 'services'?", "shipyard import"],
        [],
    ),
    (
        "Jarvis-CD's pkgs as a mapping",
        "name: p\npkgs: {ior: {nprocs: 4}}\n",
        ["unknown key 'pkgs'", "did you mean 'steps'?", "'p' has no steps or services"],
        [],
    ),
    (
        "vars",
        f"name: p\nvars: {{PY: python3}}\n{TWO}",
        ["did you mean 'parameters'?"],
        [],
    ),
    ("hostfile", f"name: p\nhostfile: hosts.txt\n{TWO}", ["did you mean 'hosts'?"], []),
    ("scheduler", f"name: p\nscheduler: {{name: slurm}}\n{TWO}", ["did you mean 'slurm'?"], []),
    ("A2A's job", f"job: {{name: j}}\n{TWO}", ["did you mean 'name'?"], []),
    (
        "A2A's deployment",
        f"name: p\ndeployment: {{strategy: parallel}}\n{TWO}",
        ["did you mean 'execution'?", "execution.deployment"],
        [],
    ),
    (
        "deployment strategy under execution",
        f"name: p\nexecution: {{strategy: parallel}}\n{TWO}",
        ["unknown key 'strategy' in execution", "did you mean 'deployment'?"],
        [],
    ),
    (
        "Mitosis's provision hook",
        f"name: p\nhooks: {{provision: [{{run: [x]}}]}}\n{TWO}",
        ["did you mean 'prepare'?"],
        [],
    ),
    (
        "a topology type spelled with _",
        f"name: p\n{TWO}topology: {{type: hub_spoke, hub: a, spokes: [b]}}\n",
        ["did you mean 'hub-spoke'?"],
        [],
    ),
    (
        "nothing to run, beside an unknown key",
        "name: p\nexperiments: [{config: {}}]\nenv: {A: '1'}\n",
        ["unknown key 'experiments'", "'p' has no steps or services: there is nothing to run"],
        [],
    ),
    (
        "nothing to run, beside a shape error and no name",
        "name: 3\nenvironment: {A: '1'}\n",
        ["the spec has no steps or services", "did you mean 'env'?"],
        [],
    ),
    (
        "a plain typo keeps the closest-name hint",
        "name: p\nsteps:\n  s:\n    run: [x]\n    retires: 2\n",
        ["did you mean 'retries'?"],
        ["has no steps"],
    ),
]


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hint(text: str, present: list[str], absent: list[str]) -> None:
    found = shown(problems_of(text))
    for phrase in present:
        assert phrase in found, f"{phrase!r} is not in:\n{found}"
    for phrase in absent:
        assert phrase not in found, f"{phrase!r} should not be in:\n{found}"


def test_an_alias_names_only_a_key_the_model_has() -> None:
    """Targets come from the model's fields: the first one it has wins, and with none of
    them the closest valid key (or the list) is given."""
    assert "did you mean 'health'?" in str(key_hint("readiness_probe", "ServiceSpec", ["health"]))
    assert "did you mean 'readiness'?" in str(
        key_hint("readiness_probe", "ServiceSpec", ["run", "readiness", "health"])
    )
    assert key_hint("working_dir", "StepSpec", ["run", "env"]) == "valid keys: run, env"
    nested = {"health": ["http", "log_line"]}
    found = key_hint("ready_log_line", "ServiceSpec", ["health"], None, nested)
    assert "'health.log_line'" in str(found)
    assert "log_line" not in str(key_hint("ready_log_line", "ServiceSpec", ["health"], None, {}))
    assert key_hint("anything", None, []) is None  # no model known there: no hint


@pytest.mark.parametrize(
    ("value", "allowed", "hint"),
    [
        ("process_healthy", ["started", "healthy"], "did you mean 'healthy'?"),
        ("on_failure", ["no", "on-failure", "always"], "did you mean 'on-failure'?"),
        ("fail-fast", ["fail_fast", "continue"], "did you mean 'fail_fast'?"),
        ("process_completed", ["started", "healthy", "completed_successfully"], None),
        ("process_log_ready", ["started", "healthy", "completed_successfully"], None),
        ({"condition": "process_started"}, ["started"], "write the value itself, 'started'"),
        (3, ["started"], None),
    ],
)
def test_value_hints(value: object, allowed: list[str], hint: str | None) -> None:
    found = value_hint(value, allowed)
    assert (found is None) if hint is None else (found is not None and hint in found), found


TOML_CASES = [
    (
        "an ATOLL agent.toml",
        '# ATOLL\n[agent]\nname = "GhidraAgent"\n',
        ["this is an ATOLL agent file (agent.toml), in TOML, not YAML", "shipyard agents discover"],
        2,
    ),
    (
        "a Mitosis node manager config",
        'coordinator_url = "https://c"\ntags = ["gpu"]\n',
        ["Mitosis node manager configuration, in TOML", "shipyard manager --config"],
        1,
    ),
    (
        "a Mitosis [C] agent table",
        '[agent]\ncoordinator_addr = "http://c"\n',
        ["Mitosis node manager"],
        1,
    ),
    (
        "a Mitosis coordinator config",
        '[coordinator]\nbind = "127.0.0.1:5000"\n[worker]\npolling_interval = "3m"\n',
        ["Mitosis configuration ([coordinator], [worker])", "shipyard serve"],
        1,
    ),
    (
        "Shipyard's own server settings",
        'host = "127.0.0.1"\nport = 8500\n',
        ["Shipyard server settings file (TOML", "shipyard serve --config"],
        1,
    ),
    (
        "a spec written in TOML",
        'name = "x"\n[steps.a]\nrun = ["echo"]\n',
        ["this is a TOML file, not YAML: a spec's keys", "write the same keys in YAML"],
        1,
    ),
    (
        "TOML that does not parse",
        '[agent]\nname = "unclosed\n',
        ["this looks like TOML (line 1: '[agent]'), not YAML", "not valid TOML either"],
        2,
    ),
]


@pytest.mark.parametrize(
    ("text", "present", "line"),
    [case[1:] for case in TOML_CASES],
    ids=[case[0] for case in TOML_CASES],
)
def test_toml_is_said_to_be_toml(text: str, present: list[str], line: int) -> None:
    (problem,) = problems_of(text)
    found = str(problem)
    for phrase in present:
        assert phrase in found, f"{phrase!r} is not in:\n{found}"
    assert "not valid YAML" not in found and "indentation" not in found, found
    assert problem.location is not None and problem.location.line == line, problem


def test_yaml_errors_that_are_not_toml_stay_yaml_errors() -> None:
    (problem,) = problems_of("name: [unclosed\n")
    assert problem.message.startswith("this is not valid YAML"), problem


def test_a_relative_path_is_shown_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "x.yaml").write_text("name: x\nsteps:\n  a: {run: [x], retires: 1}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as relative:
        load_spec("specs/x.yaml")
    assert str(relative.value.problems[0].location) == "specs/x.yaml:3:17"
    assert str(tmp_path) not in str(relative.value)
    with pytest.raises(SpecError) as absolute:
        load_spec(tmp_path / "specs" / "x.yaml")
    assert f"{tmp_path}/specs/x.yaml:3:17" in str(absolute.value)


def test_as_given_renames_only_the_given_file(tmp_path: Path) -> None:
    given = Path("x.yaml")
    resolved = given.resolve()
    other = Location(tmp_path / "hostfile", 1, 1)
    error = SpecError(
        [SpecProblem("a", Location(resolved, 2, 3), "h"), SpecProblem("b", other), SpecProblem("c")]
    )
    renamed = as_given(error, given)
    where = {p.message: p.location for p in renamed.problems}
    assert where == {"a": Location(given, 2, 3), "b": other, "c": None}
    assert next(p.hint for p in renamed.problems if p.message == "a") == "h"
    assert as_given(error, resolved) is error  # given absolute: nothing to rename
