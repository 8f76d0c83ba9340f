"""The model registry's stage transitions (issue 15 §4): current stages and production stack
+ an action → the stages that change and the stack after, or a refusal. Pure tables."""

from __future__ import annotations

import pytest

from shipyard.mlregistry import (
    ModelError,
    Stage,
    check_metrics,
    check_model_name,
    parse_metrics,
    parse_source,
    production_of,
    promote,
    rollback,
)

S, P, A = Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED


def stages(*found: Stage) -> dict[int, Stage]:
    return {number: stage for number, stage in enumerate(found, start=1)}


@pytest.mark.parametrize(
    ("before", "stack", "version", "changes", "stack_after", "previous"),
    [
        # the first promotion: nothing archived
        (stages(S), [], 1, {1: P}, (1,), None),
        # the previous production is archived
        (stages(P, S), [1], 2, {2: P, 1: A}, (1, 2), 1),
        # an archived version can come back
        (stages(A, P, S), [1, 2], 1, {1: P, 2: A}, (1, 2, 1), 2),
        # a stack that lost track of the current production gets it back on top
        (stages(S, P), [], 1, {1: P, 2: A}, (2, 1), 2),
    ],
)
def test_promote(
    before: dict[int, Stage],
    stack: list[int],
    version: int,
    changes: dict[int, Stage],
    stack_after: tuple[int, ...],
    previous: int | None,
) -> None:
    decision = promote("clf", before, stack, version)
    assert decision.changes == changes
    assert decision.stack == stack_after
    assert decision.production == version
    assert decision.previous == previous


@pytest.mark.parametrize(
    ("before", "stack", "version", "refusal"),
    [
        (stages(S), [], 2, "model 'clf' has no version 2 (its versions: 1)"),
        ({}, [], 1, "has no version 1 (its versions: none)"),
        (stages(P), [1], 1, "version 1 of model 'clf' is already in production"),
    ],
)
def test_promote_refusals(
    before: dict[int, Stage], stack: list[int], version: int, refusal: str
) -> None:
    with pytest.raises(ModelError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        promote("clf", before, stack, version)


@pytest.mark.parametrize(
    ("before", "stack", "version", "changes", "stack_after", "production"),
    [
        # back to the previous production
        (stages(A, P), [1, 2], None, {2: A, 1: P}, (1,), 1),
        # twice: two promotions back, never forth to the one just left
        (stages(A, A, P), [1, 2, 3], None, {3: A, 2: P}, (1, 2), 2),
        (stages(A, P, A), [1, 2], None, {2: A, 1: P}, (1,), 1),
        # promoted 1, 2, 1 again: back goes to 2 (the one before the current)
        (stages(P, A), [1, 2, 1], None, {1: A, 2: P}, (1, 2), 2),
        # --to a version that was production: the stack is cut back to it
        (stages(A, A, P), [1, 2, 3], 1, {3: A, 1: P}, (1,), 1),
        # --to a version never in production (staging): it takes the current one's place
        (stages(A, P, S), [1, 2], 3, {2: A, 3: P}, (1, 3), 3),
    ],
)
def test_rollback(
    before: dict[int, Stage],
    stack: list[int],
    version: int | None,
    changes: dict[int, Stage],
    stack_after: tuple[int, ...],
    production: int,
) -> None:
    decision = rollback("clf", before, stack, version)
    assert decision.changes == changes
    assert decision.stack == stack_after
    assert decision.production == production
    assert decision.previous == production_of(before)


@pytest.mark.parametrize(
    ("before", "stack", "version", "refusal"),
    [
        (stages(S, S), [], None, "model 'clf' has no version in production to roll back"),
        (stages(A, S), [1], None, "no version in production to roll back"),
        (stages(S, P), [2], None, "had no version in production before version 2"),
        (stages(A, P), [1, 2], 2, "version 2 of model 'clf' is the one in production"),
        (stages(A, P), [1, 2], 7, "model 'clf' has no version 7"),
    ],
)
def test_rollback_refusals(
    before: dict[int, Stage], stack: list[int], version: int | None, refusal: str
) -> None:
    with pytest.raises(ModelError, match=refusal):
        rollback("clf", before, stack, version)


def test_every_decision_leaves_exactly_one_version_in_production() -> None:
    current = stages(S, S, S, S)
    stack: tuple[int, ...] = ()
    for action, version in [
        ("promote", 1), ("promote", 3), ("promote", 2), ("rollback", None),
        ("rollback", None), ("promote", 4), ("rollback", 2), ("rollback", None),
    ]:  # fmt: skip
        if action == "promote":
            decision = promote("clf", current, stack, version or 0)
        else:
            decision = rollback("clf", current, stack, version)
        current = {**current, **decision.changes}
        stack = decision.stack
        assert [v for v, s in current.items() if s is P] == [decision.production]
        assert stack[-1] == decision.production
    assert current == {1: P, 2: A, 3: A, 4: A}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accuracy=0.91", {"accuracy": 0.91}),
        ("accuracy=0.91, loss = 0.2", {"accuracy": 0.91, "loss": 0.2}),
        ("n=3,", {"n": 3.0}),
        ("x=-1e-3", {"x": -0.001}),
    ],
)
def test_metrics_are_parsed(text: str, expected: dict[str, float]) -> None:
    assert parse_metrics(text) == expected


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("accuracy", "'accuracy' is not NAME=VALUE"),
        ("=3", "'=3' is not NAME=VALUE"),
        ("a=high", "a='high' is not a finite number"),
        ("a=nan", "is not a finite number"),
        ("a=inf", "is not a finite number"),
        ("a=1,a=2", "names 'a' twice"),
        (",", "holds no NAME=VALUE"),
    ],
)
def test_bad_metrics_are_refused(text: str, refusal: str) -> None:
    with pytest.raises(ModelError, match=refusal):
        parse_metrics(text)


@pytest.mark.parametrize(
    ("given", "refusal"),
    [({"a": "x"}, "is not a name with a number"), ({"a": True}, "not a name with a number"),
     ({"": 1.0}, "not a name"), ({"a": float("nan")}, "not a finite number")],
)  # fmt: skip
def test_metrics_given_to_the_operation_are_checked(given: dict[str, object], refusal: str) -> None:
    with pytest.raises(ModelError, match=refusal):
        check_metrics(given)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["clf", "churn-classifier", "m.v2_x", "A1"])
def test_model_names(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "../up", "a/b", "x" * 101])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(ModelError, match="is not a model name"):
        check_model_name(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("exec_1/train", ("exec_1", "train")), (" exec_1 / train ", ("exec_1", "train"))],
)
def test_sources(text: str, expected: tuple[str, str]) -> None:
    assert parse_source(text, "--from") == expected


@pytest.mark.parametrize("text", ["exec_1", "/train", "exec_1/", "/"])
def test_bad_sources(text: str) -> None:
    with pytest.raises(ModelError, match="is not EXEC/STEP"):
        parse_source(text, "--from")
