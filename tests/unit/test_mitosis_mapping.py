"""The Mitosis mapping (docs/importing.md, "Mitosis suites and tasks"), as tables: each
Mitosis suite or task JSON → the Shipyard suite file's or task's fields and what was said
about its keys; each wrong file → its problems at the JSON's line:column with Mitosis's key
names; humantime durations; a node manager's TOML → ``shipyard manager`` options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import SpecError
from shipyard.formats.detect import detect_text
from shipyard.formats.mitosisexec import humantime
from shipyard.formats.mitosisload import Loaded, import_mitosis, load_suite, load_task
from shipyard.formats.mitosismanager import read_manager_config

SEEDS = Path(__file__).parents[1] / "fixtures" / "seed-formats" / "mitosis"

SUITES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
    # (case, Mitosis suite, Shipyard suite fields expected (a subset), notes: key → kind)
    (
        "guide [B]",
        {"name": "ResNet Training", "group_name": "ml-team", "tags": ["gpu"],
         "labels": ["project:resnet", "nightly"], "priority": 5,
         "worker_schedule": {"worker_count": 8, "task_prefetch_count": 4},
         "env_preparation": {"args": ["./setup.sh"], "envs": {"A": "1"}, "timeout": "5m"},
         "env_cleanup": {"args": ["./cleanup.sh"], "timeout": "1h 30m"}},
        {"name": "ResNet Training", "group": "ml-team", "tags": ["gpu"],
         "labels": {"project": "resnet", "nightly": True}, "priority": 5,
         "worker_schedule": {"count": 8, "prefetch": 4},
         "env_preparation": {"command": ["./setup.sh"], "env": {"A": "1"}, "timeout": 300},
         "env_cleanup": {"command": ["./cleanup.sh"], "env": {}, "timeout": 5400}},
        {"labels": "approximate", "group_name": "mapped",
         "worker_schedule.worker_count": "mapped", "env_preparation.envs": "mapped"},
    ),
    (
        "exec hooks [C]",
        {"group_name": "g", "description": "d",
         "worker_schedule": {"type": "FixedWorkers", "worker_count": 2,
                             "cpu_binding": {"cores": [0, 1], "strategy": "Exclusive"}},
         "exec_hooks": {"provision": {"args": ["p"], "terminal_output": True,
                                      "resources": []},
                        "cleanup": {"args": ["c"]},
                        "background": {"args": ["sidecar"]}}},
        {"group": "g", "description": "d",
         "worker_schedule": {"count": 2, "prefetch": 16,
                             "cpu_binding": {"cores": [0, 1], "strategy": "exclusive"}},
         "env_preparation": {"command": ["p"]}, "env_cleanup": {"command": ["c"]}},
        {"exec_hooks.background": "unmapped", "worker_schedule.type": "implicit",
         "exec_hooks.provision.terminal_output": "implicit",
         "exec_hooks.provision.resources": "implicit"},
    ),
    (
        "hook resources",
        {"group_name": "g", "env_preparation": {
            "args": ["x"], "resources": [{"remote_file": {"Attachment": {"key": "k"}},
                                          "local_path": "k"}]}},
        {"group": "g", "env_preparation": {"command": ["x"]}},
        {"env_preparation.resources": "unmapped"},
    ),
]  # fmt: skip

TASKS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
    (
        "exec spec [C]",
        {"group_name": "g", "suite_uuid": "5a1b", "tags": ["cpu"], "labels": ["a:b"],
         "priority": 3,
         "spec": {"args": ["echo", "hi"], "envs": {"X": "1"}, "timeout": "90s",
                  "resources": [], "terminal_output": False},
         "exec_options": {"watch": ["0b6f", "ExecFinished"]}},
        {"group": "g", "suite_uuid": "5a1b", "tags": ["cpu"], "labels": {"a": "b"},
         "priority": 3, "command": ["echo", "hi"], "env": {"X": "1"}, "timeout": 90,
         "watch": {"upstream": "0b6f", "state": "ended"}},
        {"spec.args": "mapped", "exec_options.watch": "approximate",
         "spec.terminal_output": "implicit"},
    ),
    (
        "watch null, spawned",
        {"group_name": "g", "spec": {"args": ["true"]}, "exec_options": {"watch": None}},
        {"group": "g", "command": ["true"]},
        {"exec_options.watch": "implicit"},
    ),
    (
        "task resources",
        {"group_name": "g", "spec": {"args": ["true"], "resources": [
            {"remote_file": {"Artifact": {"uuid": "u", "content_type": "result"}},
             "local_path": "r"}]}},
        {"command": ["true"]},
        {"spec.resources": "unmapped"},
    ),
]  # fmt: skip


def _write(tmp_path: Path, data: Any, name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _kinds(loaded: Loaded) -> dict[str, str]:
    return {note.key: note.kind for note in loaded.notes}


@pytest.mark.parametrize(("case", "given", "expected", "notes"), SUITES, ids=[s[0] for s in SUITES])
def test_suite_mapping(
    tmp_path: Path,
    case: str,
    given: dict[str, Any],
    expected: dict[str, Any],
    notes: dict[str, str],
) -> None:
    suite, loaded = load_suite(_write(tmp_path, given))
    assert suite.tasks == []
    for key, value in expected.items():
        got = suite.suite[key]
        if isinstance(value, dict) and isinstance(got, dict):
            assert {k: got.get(k) for k in value} == value, f"{case}: {key} is {got}"
        else:
            assert got == value, f"{case}: {key} is {got!r}, not {value!r}"
    for key, kind in notes.items():
        assert _kinds(loaded).get(key) == kind, f"{case}: {key}: {_kinds(loaded)}"


@pytest.mark.parametrize(("case", "given", "expected", "notes"), TASKS, ids=[t[0] for t in TASKS])
def test_task_mapping(
    tmp_path: Path,
    case: str,
    given: dict[str, Any],
    expected: dict[str, Any],
    notes: dict[str, str],
) -> None:
    loaded = load_task(_write(tmp_path, given))
    for key, value in expected.items():
        assert loaded.body.get(key) == value, f"{case}: {key} is {loaded.body.get(key)!r}"
    for key, kind in notes.items():
        assert _kinds(loaded).get(key) == kind, f"{case}: {key}: {_kinds(loaded)}"


WRONG: list[tuple[str, str, list[str]]] = [
    # (case, the file's text, expected "line:column: phrase" of each problem)
    ("not JSON", '{\n  "group_name": "g",\n  "tags": ["a" "b"]\n}\n',
     ["3:16: this is not valid JSON: Expecting ',' delimiter"]),
    ("no group", '{\n  "worker_schedule": {"worker_count": 2}\n}\n',
     ["1:1: group_name: missing (Mitosis requires it)"]),
    ("typo, bad duration, no args", '{\n  "group_name": "g",\n  "worker_schedul": {},\n'
     '  "exec_hooks": {\n    "provision": {"args": ["x"], "timeout": "5 parsecs"},\n'
     '    "cleanup": {"timeout": "1m"}\n  }\n}\n',
     ["3:3: worker_schedul: not a key of a Mitosis suite",
      "5:34: exec_hooks.provision.timeout: '5 parsecs' is not a duration",
      "6:5: exec_hooks.cleanup.args: missing"]),
    ("Shipyard's checks, at Mitosis's keys",
     '{\n  "group_name": "g",\n  "worker_schedule": {"type": "FixedWorkers", '
     '"worker_count": 300}\n}\n',
     ["3:47: worker_schedule.worker_count: Input should be less than or equal to 256"]),
    ("unknown schedule type", '{"group_name": "g", "worker_schedule": {"type": "Elastic"}}',
     ["1:41: worker_schedule.type 'Elastic'"]),
    ("a duration past the spec's cap (365 days)",
     '{"group_name": "g",\n "env_cleanup": {"args": ["a"], "timeout": "99999999999999999999999y"}}',
     ["2:33: env_cleanup.timeout: '99999999999999999999999y' is longer than 365 days"]),
    ("a duration of more digits than a float holds",
     '{"group_name": "g",\n "env_cleanup": {"args": ["a"], "timeout": "' + "9" * 400 + 's"}}',
     ["2:33: env_cleanup.timeout: '9999999999999999999999999999999999999...' is longer"]),
    ("both hook forms", '{"group_name": "g", "env_preparation": {"args": ["a"]},\n'
     ' "exec_hooks": {"provision": {"args": ["b"]}}}',
     ["2:17: exec_hooks.provision and env_preparation are one hook"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "expected"), WRONG, ids=[w[0] for w in WRONG])
def test_wrong_files_are_told_at_their_lines(
    tmp_path: Path, case: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / "suite.json"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_suite(path, "mitosis")
    said = [str(problem) for problem in caught.value.problems]
    assert len(said) == len(expected), f"{case}: {said}"
    for line, phrase in zip(said, expected, strict=True):
        assert line.startswith(f"{path}:{phrase}"), f"{case}: {line!r} is not at {phrase!r}"


def test_a_watch_on_a_state_shipyard_has_not_is_refused(tmp_path: Path) -> None:
    text = (
        '{"group_name": "g", "spec": {"args": ["x"]},\n "exec_options": {"watch": ["u", "Watch"]}}'
    )
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_task(path)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{path}:2:")
    assert "cannot wait for 'Watch'" in problem.message


def test_a_suite_given_as_a_task_says_which_command(tmp_path: Path) -> None:
    path = _write(tmp_path, {"group_name": "g", "exec_hooks": {}})
    with pytest.raises(SpecError) as caught:
        load_task(path)
    assert "this is a Mitosis suite" in str(caught.value)
    assert "shipyard suite create" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("600s", 600), ("1h 30m", 5400), ("2h37min", 9420), ("7d", 604_800),
     ("100ms", 0.1), ("1 hour", 3600), ("", None), ("5", None), ("5 parsecs", None),
     ("m5", None)],
)  # fmt: skip
def test_humantime(text: str, seconds: float | None) -> None:
    assert humantime(text) == seconds


def test_a_shipyard_suite_file_is_not_taken_for_a_mitosis_one(tmp_path: Path) -> None:
    """Shipyard's suite file shares worker_schedule and env_preparation with Mitosis's guide."""
    text = "group: lab\nworker_schedule: {count: 2}\nenv_preparation: {command: ['true']}\n"
    assert detect_text(text).format == "shipyard"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    suite, loaded = load_suite(path)
    assert loaded.format == "shipyard" and suite.suite["worker_schedule"]["count"] == 2


@pytest.mark.parametrize(
    "name",
    ["suite-create.guide.json", "suite-create.exec-hooks.json", "task-submit.exec-spec.json"],
)
def test_the_seed_files_import_to_files_shipyard_reads(tmp_path: Path, name: str) -> None:
    seed = SEEDS / name
    assert detect_text(seed.read_text()).format == "mitosis"
    result = import_mitosis(seed.read_text(), seed)
    written = tmp_path / "out.yaml"
    written.write_text(result.text)
    if name.startswith("suite"):
        suite, loaded = load_suite(written)
        assert loaded.format == "shipyard" and suite.suite["env_cleanup"]["timeout"] == 120
    else:
        assert load_task(written).body["command"] == ["echo", "hello"]
    assert "# group_name" in result.text


MANAGERS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    # (case, TOML, options expected, phrases said)
    ("guide [B]", (SEEDS / "manager-config.toml").read_text(),
     {"server": "https://coordinator.example.com", "group": "ml-team",
      "tags": ["gpu", "linux", "x86_64", "cuda:11.8"]},
     ["3:1: labels: not mapped"]),
    ("[agent] [C]", '[agent]\ncoordinator_addr = "http://h:1"\ngroups = ["g"]\n'
     'heartbeat_interval = "1m"\ncredential_path = "tok"\nlifetime = "7d"\n',
     {"server": "http://h:1", "group": "g", "heartbeat": 60.0},
     ["5:1: agent.credential_path: → --token-file", "6:1: agent.lifetime: not mapped"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "options", "said"), MANAGERS, ids=[m[0] for m in MANAGERS]
)
def test_manager_config(
    tmp_path: Path, case: str, text: str, options: dict[str, Any], said: list[str]
) -> None:
    path = tmp_path / "manager.toml"
    path.write_text(text)
    config = read_manager_config(path)
    for key, value in options.items():
        assert getattr(config, key) == value, f"{case}: {key} is {getattr(config, key)!r}"
    for phrase in said:
        assert any(line.startswith(f"{path}:{phrase}") for line in config.said), config.said


def test_manager_config_problems_are_at_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "manager.toml"
    path.write_text('coordinator_url = "http://h:1"\ngroups = ["a", "b"]\ntagz = ["x"]\n')
    with pytest.raises(SpecError) as caught:
        read_manager_config(path)
    said = [str(problem) for problem in caught.value.problems]
    assert said[0].startswith(f"{path}:2:1: groups: 2 groups"), said
    assert said[1].startswith(f"{path}:3:1: tagz: not a key") and "'tags'" in said[1], said
    path.write_text('coordinator_url = "http://h:1"\ngroups = ["a", "b"]\n')
    chosen = read_manager_config(path, group_given=True)  # --group chose one: only said
    assert chosen.group is None and "--group chose the group" in chosen.said[0], chosen.said


def test_a_shipyard_task_file_s_timeout_has_the_spec_s_cap(tmp_path: Path) -> None:
    from shipyard.formats.mitosistaskfile import load_task_text

    with pytest.raises(SpecError) as caught:
        load_task_text("command: [echo]\ntimeout: 99999999999\n", tmp_path / "t.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{tmp_path / 't.yaml'}:2:10: timeout: longer than 365 days")
    assert load_task_text("command: [echo]\ntimeout: 31536000\n")["timeout"] == 31536000
