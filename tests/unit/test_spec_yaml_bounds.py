"""Hostile YAML is refused at file:line before it is expanded: recursive aliases, deep nesting,
alias-expansion bombs (a 1 KB file once grew to 2.96 GB before a MemoryError)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.errors import SpecError, SpecProblem
from shipyard.spec.loader import load_spec_text
from shipyard.spec.yamlsource import MAX_DEPTH, MAX_NODES, _bounds_problem


def only_problem(text: str) -> SpecProblem:
    try:
        load_spec_text(text, Path("/specs/p.yaml"))
    except SpecError as error:
        (problem,) = error.problems
        return problem
    except RecursionError:
        pytest.fail("loading the spec raised RecursionError instead of a SpecError")
    pytest.fail("the spec loaded: it should have been refused")


#: Loads a spec from stdin in a child with 1 GiB of address space: a bomb that is not refused
#: ends there with MemoryError (reported as such) instead of eating the machine's memory.
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
from pathlib import Path
from shipyard.errors import SpecError
from shipyard.spec.loader import load_spec_text
try:
    load_spec_text(sys.stdin.read(), Path("/specs/p.yaml"))
except SpecError as error:
    (problem,) = error.problems
    print(json.dumps([problem.message, problem.location.line, problem.hint]))
except MemoryError:
    print(json.dumps(["MemoryError", 0, None]))
"""


def problem_in_child(text: str) -> tuple[str, int, str | None]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD], input=text, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("loading the spec did not end within 60s (alias expansion is not bounded)")
    assert done.returncode == 0, done.stderr[-2000:]
    message, line, hint = json.loads(done.stdout)
    assert message != "MemoryError", "loading the spec ran out of memory instead of refusing it"
    return message, line, hint


def laughs(levels: int, width: int = 10) -> str:
    """The "billion laughs": each level is ``width`` aliases of the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "says", "line"),
    [
        ("a: &x {env: *x}\n", "alias '*x' is inside the value it refers to", 1),
        ("name: p\nsteps: &s\n  a: {run: [echo], env: {X: *s}}\n", "recursive alias", 3),
        ("name: p\nenv: &e [a, [b, *e]]\n", "recursive alias", 2),
        ("[" * 5000 + "]" * 5000, f"nested more than {MAX_DEPTH} levels", 1),
        ("x: " + "{a: " * 3000 + "1" + "}" * 3000, f"nested more than {MAX_DEPTH} levels", 1),
        (
            "x:\n" + "".join("  " * i + "- \n" for i in range(2000)),
            f"nested more than {MAX_DEPTH} levels",
            MAX_DEPTH + 1,
        ),
    ],
)
def test_hostile_yaml_is_refused_at_its_line(text: str, says: str, line: int) -> None:
    problem = only_problem(text)
    assert says in problem.message, problem.message
    assert problem.location is not None
    assert str(problem.location.path) == "/specs/p.yaml"
    assert problem.location.line == line, problem.location


@pytest.mark.parametrize(
    ("text", "alias", "line"),
    [
        (laughs(9), "*l4", 6),  # 1 KB that expands to 10**10 values
        (laughs(30, width=2), "*l16", 18),  # deeper and narrower, the same growth
    ],
)
def test_an_alias_expansion_bomb_is_refused_before_it_is_expanded(
    text: str, alias: str, line: int
) -> None:
    message, where, hint = problem_in_child(text)
    assert message.startswith(f"expanding the alias '{alias}' makes the spec hold more than")
    assert f"{MAX_NODES:,}" in message
    assert where == line
    assert hint and "aliases" in hint


def test_too_many_plain_values_are_refused_too() -> None:
    text = "x: [" + ", ".join(["1"] * (MAX_NODES + 1)) + "]\n"
    message, _, _ = problem_in_child(text)
    assert f"more than {MAX_NODES:,} values" in message


def test_fifty_thousand_plain_steps_are_within_the_bounds() -> None:
    # Issue 10's scale target: 50,000 independent steps (250,000 values) must reach the model.
    text = "steps:\n" + "".join(f"  s{i}: {{run: [true]}}\n" for i in range(50_000))
    assert _bounds_problem(text, None) is None


def test_aliases_used_as_intended_still_load() -> None:
    loaded = load_spec_text(
        "name: p\n"
        "env: &common {A: '1', B: '2'}\n"
        "steps:\n"
        "  a: {run: [echo], env: *common}\n"
        "  b: {run: [echo], env: *common, needs: [a]}\n"
    )
    assert loaded.spec.steps["b"].env == {"A": "1", "B": "2"}


def test_nesting_just_under_the_limit_is_read_and_judged_by_the_model() -> None:
    depth = MAX_DEPTH - 4  # the spec's own levels: steps, a, env, X
    text = "name: p\nsteps:\n  a:\n    run: [x]\n    env: {X: " + "[" * depth + "]" * depth + "}\n"
    problem = only_problem(text)
    assert problem.message == "steps.a.env.X should be a string, not a list"
