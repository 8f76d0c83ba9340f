from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ParameterError
from shipyard.plan.build import build_plan
from shipyard.spec.loader import load_spec_text

SPEC = """
name: demo
parameters:
  word: {type: str, default: "hello world"}
  n: {type: int, default: 2, test: 1}
env: {GREETING: "{{ word }}"}
execution: {max_parallel: 3}
steps:
  argv: {run: [echo, "--word={{ word }}", "{{ n }}"]}
  split: {run: "echo {{ word }} plain", needs: [argv]}
  shell: {run: "echo {{ word }}; echo $SHIPYARD_PARAM_N", shell: true, needs: [argv]}
  sub: {run: [pwd], workdir: sub, needs: [split, shell]}
"""


def plan(**kwargs: object):  # type: ignore[no-untyped-def]
    return build_plan(load_spec_text(SPEC, Path("/specs/demo.yaml")), **kwargs)  # type: ignore[arg-type]


def test_parameters_reach_argv_as_whole_arguments() -> None:
    p = plan()
    assert p.step("argv").command.argv == ["echo", "--word=hello world", "2"]
    # A string without shell is split like a shell would, but a value stays one word.
    assert p.step("split").command.argv == ["echo", "hello world", "plain"]


def test_shell_steps_get_quoted_values() -> None:
    argv = plan().step("shell").command.argv
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2] == "echo 'hello world'; echo $SHIPYARD_PARAM_N"


def test_environment_and_parameter_variables() -> None:
    env = plan().step("argv").env
    assert env["GREETING"] == "hello world"
    assert env["SHIPYARD_PARAM_WORD"] == "hello world"
    assert env["SHIPYARD_PARAM_N"] == "2"


def test_stages_workdir_and_critical_path() -> None:
    p = plan()
    assert p.stages == [["argv"], ["split", "shell"], ["sub"]]
    assert p.step("sub").workdir == "/specs/sub"
    assert p.step("argv").workdir == "/specs"
    assert p.critical_path[0] == "argv" and p.critical_path[-1] == "sub"
    assert p.critical_path_seconds is None


def test_history_times_the_critical_path() -> None:
    p = plan(history={"argv": 1.0, "split": 5.0, "shell": 1.0, "sub": 1.0})
    assert p.critical_path == ["argv", "split", "sub"]
    assert p.critical_path_seconds == pytest.approx(7.0)


def test_modes_and_limits() -> None:
    assert plan(mode="test").parameters["n"] == 1
    assert plan(mode="profile").sample_interval == pytest.approx(0.2)
    assert plan().max_parallel == 3
    assert plan(max_parallel=1).max_parallel == 1


def test_overrides_are_checked() -> None:
    assert plan(overrides={"n": "4"}).step("argv").command.argv[-1] == "4"
    with pytest.raises(ParameterError):
        plan(overrides={"nope": "1"})


SERVICE_WORKDIR = """
name: fleet
parameters: {site: {default: blue}}
services:
  web: {run: [sleep, "60"], workdir: "sites/{{ site }}"}
"""


def test_a_service_workdir_takes_its_parameter_and_stays_inside() -> None:
    """A service's workdir kept '{{ site }}' as written (a folder that never exists), unlike a
    step's; with the value in, it is confined like a step's."""
    loaded = load_spec_text(SERVICE_WORKDIR, Path("/specs/fleet.yaml"))
    (web,) = build_plan(loaded).services
    assert web.workdir == "/specs/sites/blue"
    with pytest.raises(
        ParameterError, match=r"service 'web': workdir .* which leaves /specs/sites"
    ):
        build_plan(loaded, {"site": "../../etc"})
