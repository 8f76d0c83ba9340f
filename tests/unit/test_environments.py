"""Named environments (issue 16 §4): which variables a capture keeps (a pure table), the home's
store of them (files, modes, errors), and how a plan applies them (through the real loader and
planner)."""

from __future__ import annotations

import stat
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.environments import EnvironmentStore, chosen_variables, module_variables
from shipyard.errors import ShipyardError, SpecError
from shipyard.plan.build import build_plan
from shipyard.plan.model import Plan
from shipyard.spec.loader import load_spec_text

SHELL = {
    "PATH": "/opt/gcc/bin:/usr/bin",
    "LD_LIBRARY_PATH": "/opt/gcc/lib",
    "HOME": "/root",
    "TERM": "xterm",
    "LOADEDMODULES": "gcc/12",
    "_LMFILES_": "/mods/gcc/12.lua",
    "__LMOD_REF_COUNT_GCC_ROOT": "/opt/gcc:1",
    "GCC_ROOT": "/opt/gcc",
    "__MODULES_SHARE_FFTW_DIR": "/opt/fftw:1",
    "FFTW_DIR": "/opt/fftw",
    "__LMOD_REF_COUNT_GONE": "x:1",  # marks a variable that is not set: nothing to keep
    "LMOD_CMD": "/usr/share/lmod/lmod",
    "OMP_NUM_THREADS": "4",
}


@pytest.mark.parametrize(
    ("environ", "extra", "kept", "modules"),
    [
        ({"PATH": "/bin", "HOME": "/h"}, [], ["PATH"], []),
        ({"HOME": "/h"}, [], [], []),
        (
            SHELL,
            [],
            [
                "FFTW_DIR",
                "GCC_ROOT",
                "LD_LIBRARY_PATH",
                "LMOD_CMD",
                "LOADEDMODULES",
                "PATH",
                "_LMFILES_",
            ],
            ["FFTW_DIR", "GCC_ROOT", "LMOD_CMD", "LOADEDMODULES", "_LMFILES_"],
        ),
        (
            {"PATH": "/bin", "OMP_NUM_THREADS": "4"},
            ["OMP_NUM_THREADS"],
            ["OMP_NUM_THREADS", "PATH"],
            [],
        ),
        ({"CUDA_HOME": "/cuda", "CPATH": "/inc"}, [], ["CPATH", "CUDA_HOME"], []),
    ],
)
def test_what_a_capture_keeps(
    environ: dict[str, str], extra: list[str], kept: list[str], modules: list[str]
) -> None:
    variables, from_modules = chosen_variables(environ, extra)
    assert list(variables) == kept, f"kept {list(variables)}"
    assert variables == {name: environ[name] for name in kept}
    assert from_modules == modules
    assert "HOME" not in variables and "TERM" not in variables, "only what matters"


def test_module_variables_need_the_variable_set() -> None:
    assert "GONE" not in module_variables(SHELL)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["NOT_SET"], "--var NOT_SET: the variable is not set in this shell"),
        (["1BAD"], "'1BAD' is not a variable name"),
    ],
)
def test_a_var_asked_for_must_be_a_set_variable(extra: list[str], message: str) -> None:
    with pytest.raises(ShipyardError) as caught:
        chosen_variables({"PATH": "/bin"}, extra)
    assert caught.value.message == message


def test_the_store_keeps_each_environment_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = EnvironmentStore(home)
    assert store.names() == [] and store.all() == {}
    saved = store.save("gcc12", {"PATH": "/opt/gcc/bin"}, from_modules=["PATH"], now=100.0)
    store.save("cuda", {"CUDA_HOME": "/cuda"}, now=200.0)
    assert store.names() == ["cuda", "gcc12"]
    assert store.get("gcc12") == saved
    assert saved.variables == {"PATH": "/opt/gcc/bin"}
    assert saved.captured_at == datetime.fromtimestamp(100.0, tz=UTC)
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.folder / "gcc12.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700, "a home it creates is owner-only"
    again = store.save("gcc12", {"PATH": "/new"}, now=300.0)
    assert store.get("gcc12") == again, "a capture again replaces it"
    assert store.remove("cuda").variables == {"CUDA_HOME": "/cuda"}
    assert store.names() == ["gcc12"]
    assert [p.name for p in store.folder.iterdir()] == ["gcc12.json"], "no partial file left"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "no environment named 'nope' (environments: gcc12)"),
        ("../x", "'../x' is not an environment name"),
        ("", "'' is not an environment name"),
    ],
)
def test_unknown_or_bad_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    store = EnvironmentStore(tmp_path)
    store.save("gcc12", {"PATH": "/bin"})
    with pytest.raises(ShipyardError) as caught:
        store.get(name)
    assert caught.value.message == message
    with pytest.raises(ShipyardError):
        store.remove(name)


def test_a_variable_that_cannot_be_kept_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ShipyardError, match="'A=B' cannot be kept"):
        EnvironmentStore(tmp_path).save("x", {"A=B": "1"})


ENVIRONMENTS = {
    "gcc12": {"PATH": "/opt/gcc/bin", "CC": "gcc-12", "SHARED": "gcc"},
    "cuda": {"PATH": "/cuda/bin", "CUDA_HOME": "/cuda"},
}

SPEC = """
name: envs
environment: gcc12
env: {SHARED: spec}
hooks:
  prepare: [true]
steps:
  plain: {run: [make]}
  own:
    run: [make]
    environment: cuda
  wins:
    run: [make]
    env: {PATH: /mine, CC: clang}
services:
  web:
    run: [serve]
    replicas: 2
    environment: cuda
"""


def plan_of(text: str, environments: dict[str, dict[str, str]] | None = None) -> Plan:
    loaded = load_spec_text(textwrap.dedent(text), Path("/specs/envs.yaml"))
    return build_plan(loaded, environments=ENVIRONMENTS if environments is None else environments)


def test_a_plan_puts_the_named_variables_under_the_units_own() -> None:
    plan = plan_of(SPEC)
    env = {step.name: step.env for step in plan.steps}
    assert env["plain"] == {"PATH": "/opt/gcc/bin", "CC": "gcc-12", "SHARED": "spec"}, (
        "the spec's environment, under the spec's env:"
    )
    assert env["own"] == {"PATH": "/cuda/bin", "CUDA_HOME": "/cuda", "SHARED": "spec"}, (
        "a step's environment instead of the spec's"
    )
    assert env["wins"] == {"PATH": "/mine", "CC": "clang", "SHARED": "spec"}, "env: wins"
    assert [(s.name, s.env["CUDA_HOME"]) for s in plan.services] == [
        ("web-1", "/cuda"),
        ("web-2", "/cuda"),
    ], "every replica of a service gets its environment"
    assert plan.env == {"PATH": "/opt/gcc/bin", "CC": "gcc-12", "SHARED": "spec"}, "hooks too"


def test_without_environment_keys_nothing_changes() -> None:
    plan = plan_of("name: e\nsteps:\n  a: {run: [make], env: {X: '1'}}\n", {})
    assert plan.steps[0].env == {"X": "1"}


def test_an_unknown_name_is_reported_at_its_line_with_the_names_there_are() -> None:
    text = SPEC.replace("environment: cuda\n  wins", "environment: cuda-11\n  wins")
    with pytest.raises(SpecError) as caught:
        plan_of(text)
    (problem,) = caught.value.problems
    assert problem.message == (
        "steps.own.environment: no environment named 'cuda-11' (environments: cuda, gcc12)"
    )
    assert problem.location is not None and problem.location.line == 11, problem.location
    assert problem.hint == "capture it in the shell that has it: shipyard env capture cuda-11"


def test_replicas_share_one_problem() -> None:
    with pytest.raises(SpecError) as caught:
        plan_of(SPEC, {"gcc12": {"PATH": "/x"}})
    assert [p.message for p in caught.value.problems] == [
        "steps.own.environment: no environment named 'cuda' (environments: gcc12)",
        "services.web.environment: no environment named 'cuda' (environments: gcc12)",
    ]
