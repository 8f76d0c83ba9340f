"""Quality gates and artifacts between steps, the pure parts (issue 15 §1-2): gate verdicts,
input variable names, artifact paths refused, the scheduler's gated state, and every bad spec
said with its file:line."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from shipyard.engine.gates import failure_reason, judge, judge_all, last_values
from shipyard.engine.scheduler import Capacity, Scheduler, StepDemand
from shipyard.errors import SpecError, SpecProblem
from shipyard.models import Metric, UnitState
from shipyard.operations.artifacts import path_problem
from shipyard.plan.model import GateSettings
from shipyard.spec.loader import load_spec_text
from shipyard.spec.templating import fill_inputs, input_variable, substitute

# -- gate verdicts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "threshold", "value", "passed", "said"),
    [
        (">=", 0.85, 0.91, True, "gate accuracy >= 0.85 passed: measured 0.91"),
        (">=", 0.85, 0.85, True, "passed"),
        (">=", 0.85, 0.62, False, "measured accuracy = 0.62, threshold >= 0.85"),
        (">", 0.85, 0.85, False, "measured accuracy = 0.85, threshold > 0.85"),
        ("<=", 200, 200.0, True, "passed"),
        ("<", 200, 200.0, False, "measured accuracy = 200, threshold < 200"),
        ("<", 200, 199.5, True, "passed"),
        ("==", 1, 1.0, True, "passed"),
        ("==", 1, 0.999, False, "threshold == 1"),
        ("!=", 0, 0.0, False, "measured accuracy = 0, threshold != 0"),
        ("!=", 0, 3.0, True, "passed"),
        (">=", 0.85, None, False, "the step never reported 'accuracy'"),
        ("<", 1, None, False, "never reported"),
        ("=>", 1, 2.0, False, "unknown comparison"),
    ],
)
def test_a_gate_judges_the_figure(
    op: str, threshold: float, value: float | None, passed: bool, said: str
) -> None:
    verdict = judge(GateSettings("accuracy", op, float(threshold)), value)
    assert verdict.passed is passed
    assert said in verdict.message
    assert verdict.value == value


def test_the_last_figure_reported_under_a_name_is_the_one_judged() -> None:
    reported = [
        Metric("train", 1, "loss", 0.9),
        Metric("train", 1, "accuracy", 0.5),
        Metric("train", 1, "accuracy", 0.88),
    ]
    verdicts = judge_all(
        [GateSettings("accuracy", ">=", 0.85), GateSettings("loss", "<", 0.5)],
        last_values(reported),
    )
    assert [v.passed for v in verdicts] == [True, False]
    assert failure_reason(verdicts) == (
        "gate loss < 0.5 failed: measured loss = 0.9, threshold < 0.5"
    )
    assert failure_reason(verdicts[:1]) is None


# -- names and paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "variable"),
    [
        ("prepare", "SHIPYARD_INPUT_PREPARE"),
        ("prep-data", "SHIPYARD_INPUT_PREP_DATA"),
        ("prep.v2", "SHIPYARD_INPUT_PREP_V2"),
        ("Train_1", "SHIPYARD_INPUT_TRAIN_1"),
        ("9lives", "SHIPYARD_INPUT_9LIVES"),
    ],
)
def test_the_input_variable_of_a_step(step: str, variable: str) -> None:
    assert input_variable(step) == variable


def test_an_input_placeholder_in_an_argv_word_becomes_the_folder() -> None:
    folders = {"prep": "/runs/x/artifacts/prep"}
    assert fill_inputs("{{ inputs.prep }}/data.csv", folders) == "/runs/x/artifacts/prep/data.csv"
    assert fill_inputs("--in={{inputs.prep}}", folders) == "--in=/runs/x/artifacts/prep"
    assert fill_inputs("{{ inputs.other }} {{ x }}", folders) == "{{ inputs.other }} {{ x }}"


def test_an_input_placeholder_in_a_shell_string_stays_one_word_in_every_quoting() -> None:
    """The shell expands "$SHIPYARD_INPUT_<STEP>" itself: a folder with spaces and quotes stays
    one word, plain, inside '...' and inside "..."."""
    run = "printf '[%s]\\n' {{ inputs.prep-a }}/x '{{ inputs.prep-a }}' \"{{ inputs.prep-a }}/y\""
    command = substitute(run, {}, shell_quote=True)
    folder = '/runs/it\'s a "run"/artifacts/prep-a'
    shown = subprocess.run(
        ["/bin/sh", "-c", command],
        env={"SHIPYARD_INPUT_PREP_A": folder, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.splitlines() == [f"[{folder}/x]", f"[{folder}]", f"[{folder}/y]"]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("model.pkl", None),
        ("data/train.csv", None),
        ("data/../model.pkl", None),
        ("./model.pkl", None),
        ("../state.db", "leads out"),
        ("data/../../x", "leads out"),
        ("..", "leads out"),
        ("/etc/passwd", "is absolute"),
        ("", "is empty"),
        ("  ", "is empty"),
        (".", "names the folder itself"),
        ("a\0b", "NUL"),
    ],
)
def test_artifact_paths_that_leave_the_folder_are_refused(path: str, problem: str | None) -> None:
    found = path_problem(path)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


# -- the scheduler: a gated step stops its dependants only --------------------------------------


@pytest.mark.parametrize("keep_going", [False, True])
def test_a_gated_step_skips_its_dependants_and_names_the_gate(keep_going: bool) -> None:
    steps = [
        StepDemand("train", ()),
        StepDemand("side", ()),
        StepDemand("deploy", ("train",)),
        StepDemand("announce", ("deploy",)),
    ]
    scheduler = Scheduler(steps, Capacity(4, 4.0, 1 << 30), keep_going=keep_going)
    assert scheduler.take_ready() == ["train", "side"]
    skipped = scheduler.failed("train", state=UnitState.GATED, why="was gated (accuracy >= 0.9)")
    assert sorted(skipped) == ["announce", "deploy"]
    assert scheduler.state["train"] == UnitState.GATED
    assert scheduler.state["side"] == UnitState.RUNNING  # another branch: not stopped
    assert scheduler.reason["deploy"] == (
        "not started: it depends on 'train', which was gated (accuracy >= 0.9)"
    )
    assert UnitState.GATED.finished


# -- bad specs, each at its file:line ---------------------------------------------------------


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(textwrap.dedent(text).lstrip("\n"), Path("/specs/ml.yaml"))
    return error.value.problems


def where(problem: SpecProblem) -> str:
    assert problem.location is not None, problem
    return f"{problem.location.line}"


@pytest.mark.parametrize(
    ("gate", "said"),
    [
        ('{metric: accuracy, "=>": 0.85}', "'=>' is not a comparison"),
        ('{metric: accuracy, ">=": high}', "the threshold 'high' is not a number"),
        ('{metric: accuracy, ">=": true}', "the threshold True is not a number"),
        ('{metric: accuracy, ">=": .nan}', "finite"),
        ("{metric: accuracy}", "has no comparisons: exactly one is needed"),
        ('{metric: accuracy, ">=": 0.8, "<": 0.99}', "has 2 comparisons"),
        ('{metric: "", ">=": 0.8}', "a gate needs 'metric'"),
        ('{">=": 0.8}', "a gate needs 'metric'"),
        ("accuracy >= 0.85", "a gate is a mapping"),
    ],
)
def test_a_bad_gate_is_refused_at_its_line(gate: str, said: str) -> None:
    found = problems_of(
        f"""
        name: ml
        steps:
          train:
            run: [python3, train.py]
            gates:
              - {{metric: loss, "<": 1}}
              - {gate}
        """
    )
    assert len(found) == 1, found
    assert said in found[0].message
    assert where(found[0]) == "7"
    assert found[0].hint is not None and "metric: NAME" in found[0].hint


@pytest.mark.parametrize(
    ("train", "said", "line"),
    [
        ("run: [cat, '{{ inputs.prepare }}/x']", "does not need 'prepare'", "6"),
        ("{run: [cat, '{{ inputs.prepar }}'], needs: [prepare]}", "'prepar' is not a step", "5"),
        ("{run: [cat, '{{ inputs.eval }}'], needs: [eval]}", "'eval' declares no outputs", "5"),
        ("{run: [cat], env: {D: '{{ inputs.prepare }}'}, needs: [prepare]}", "only for", "5"),
        ("{run: [cat], needs: [prepare], outputs: ['{{ inputs.prepare }}']}", "only for", "5"),
    ],
)
def test_a_bad_input_placeholder_is_refused_at_its_line(train: str, said: str, line: str) -> None:
    found = problems_of(
        f"""
        name: ml
        steps:
          prepare: {{run: [touch, data.csv], outputs: [data.csv]}}
          eval: {{run: [echo]}}
          train:
            {train}
        """.replace("\n            {", " {")
    )
    assert [p.message for p in found if said in p.message], found
    problem = next(p for p in found if said in p.message)
    assert where(problem) == line


def test_two_steps_sharing_an_input_variable_are_refused() -> None:
    found = problems_of(
        """
        name: ml
        steps:
          prep-a: {run: [touch, x], outputs: [x]}
          prep_a: {run: [touch, y], outputs: [y]}
        """
    )
    assert len(found) == 1
    assert "'prep-a' and 'prep_a' would both hand their outputs over as $SHIPYARD_INPUT_PREP_A" in (
        found[0].message
    )
    assert where(found[0]) == "4"


def test_a_good_spec_with_gates_and_inputs_loads() -> None:
    loaded = load_spec_text(
        textwrap.dedent(
            """
            name: ml
            steps:
              prepare: {run: [touch, data.csv], outputs: [data.csv]}
              train:
                run: "python3 train.py {{ inputs.prepare }}/data.csv"
                needs: [prepare]
                gates: [{metric: accuracy, ">=": 0.85}, {metric: p95_latency_ms, "<": 200}]
            """
        )
    )
    gates = loaded.spec.steps["train"].gates
    assert [(g.metric, g.op, g.threshold) for g in gates] == [
        ("accuracy", ">=", 0.85),
        ("p95_latency_ms", "<", 200.0),
    ]
