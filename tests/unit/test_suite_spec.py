"""The suite spec file (issue 14 §1): what it makes, and every problem said at its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import SpecError
from shipyard.spec.suitespec import load_suite_spec

GOOD = """\
name: demo
group: lab
tags: [cpu]
labels: {team: a}
priority: 3
worker_schedule: {count: 4, prefetch: 8, cpu_binding: {strategy: exclusive, cores: [0, 1]}}
env_preparation: {command: [./prepare.sh], env: {MODE: fast}, timeout: 30}
env_cleanup: {command: [rm, -rf, scratch]}
generate:
  command: [echo, "item={{ item }}", "{{item}}"]
  values: [1, two]
  file: items.txt
  env_name: CASE
"""


def test_a_generator_makes_a_task_per_value_and_per_line(tmp_path: Path) -> None:
    (tmp_path / "items.txt").write_text("a b\n\n  c\\d  \n")
    (tmp_path / "suite.yaml").write_text(GOOD)
    loaded = load_suite_spec(tmp_path / "suite.yaml")
    assert loaded.suite == {
        "group": "lab", "name": "demo", "tags": ["cpu"], "labels": {"team": "a"}, "priority": 3,
        "worker_schedule": {"count": 4, "prefetch": 8,
                            "cpu_binding": {"strategy": "exclusive", "cores": [0, 1]}},
        "env_preparation": {"command": ["./prepare.sh"], "env": {"MODE": "fast"}, "timeout": 30.0},
        "env_cleanup": {"command": ["rm", "-rf", "scratch"], "env": {}, "timeout": 600.0},
    }  # fmt: skip
    assert [t["command"] for t in loaded.tasks] == [
        ["echo", "item=1", "1"], ["echo", "item=two", "two"], ["echo", "item=a b", "a b"],
        ["echo", "item=c\\d", "c\\d"],
    ]  # fmt: skip
    assert [t["env"] for t in loaded.tasks][2] == {"CASE": "a b"}


def test_a_task_list_is_taken_as_given(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "group: lab\ntasks:\n  - command: [echo, hi]\n    timeout: 5\n  - command: ['false']\n"
        "    max_attempts: 1\n    key: second\n"
    )
    loaded = load_suite_spec(tmp_path / "s.yaml")
    assert loaded.tasks == [
        {"command": ["echo", "hi"], "env": {}, "tags": [], "labels": {}, "timeout": 5.0,
         "max_attempts": 3},
        {"command": ["false"], "env": {}, "tags": [], "labels": {}, "max_attempts": 1,
         "key": "second"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "group: lab\nworker_schedule:\n  count: 300\n",
            ":3:10: worker_schedule.count: Input should be less than or equal to 256",
        ),
        (
            "group: lab\nworker_schedule: {count: 0}\n",
            ":2:26: worker_schedule.count: Input should be greater than or equal to 1",
        ),
        ("group: lab\nworker_schedule: {prefetch: 0}\n", ":2:29: worker_schedule.prefetch"),
        (
            "group: lab\nenv_cleanup:\n  command: [x]\n  timout: 3\n",
            ":4:3: env_cleanup.timout: unknown field",
        ),
        (
            "group: lab\nenv_preparation: {command: [x], timeout: 0}\n",
            ":2:42: env_preparation.timeout: Input should be greater than 0",
        ),
        ("name: x\n", ":1:1: group: missing (it is required)"),
        (
            "group: lab\nworker_schedule: {cpu_binding: {strategy: spread}}\n",
            "worker_schedule.cpu_binding.strategy: Input should be 'round-robin', 'exclusive' or "
            "'shared'",
        ),
        ("group: lab\ngenerate: {command: [x]}\n", ":2:11: generate: Value error, give values"),
        (
            "group: lab\ntasks: [{command: [x]}]\ngenerate: {command: [x], values: [1]}\n",
            ":1:1: the file: Value error, give tasks or generate, not both",
        ),
        (
            "group: lab\ngenerate: {command: [x], file: nowhere.txt}\n",
            ":2:32: generate.file 'nowhere.txt' cannot be read: no spec file at",
        ),
        ("- group\n", ":1:1: a suite file is a YAML mapping"),
        ("group: [lab\n", "this is not valid YAML"),
    ],
)
def test_a_bad_suite_file_says_what_and_where(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(SpecError) as raised:
        load_suite_spec(tmp_path / "s.yaml")
    assert expected in str(raised.value), str(raised.value)
    assert str(tmp_path / "s.yaml") in str(raised.value)
