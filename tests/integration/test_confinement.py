"""Declared paths cannot reach outside the step's workdir; artifacts are independent copies.

Each test tries the harm for real — a precious file outside the workdir, reached through an
absolute path, '..', a symlinked file or folder, a link inside an output folder, a parameter — and
checks it was refused with a message and that the outside file kept its content and link count.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.errors import OutsideWorkdir, ParameterError, SpecError
from shipyard.models import ExecutionState, UnitState
from tests.acceptance.conftest import shipyard_executable
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

PRECIOUS = "must survive\n"


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """A file outside every step's workdir (the steps work in tmp_path/work)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "precious.txt"
    path.write_text(PRECIOUS)
    (tmp_path / "work").mkdir()
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_text() == PRECIOUS, "the file outside the workdir was changed"
    assert path.stat().st_nlink == 1, "the file outside the workdir was hard-linked"


def artifacts_of(ops: Operations, execution_id: str) -> list[str]:
    root = Path(ops.status(execution_id).run_dir) / "artifacts"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def step_spec(write_spec: SpecWriter, run: str, outputs: str, extra: str = "") -> Path:
    """One step 'make' in work/ (its outputs on line 7), then ``extra`` top-level YAML."""
    lines = [
        "name: confine",
        "steps:",
        "  make:",
        "    workdir: work",
        "    shell: true",
        f"    run: {run!r}",
        f"    outputs: {outputs}",
        extra,
    ]
    return write_spec("\n".join(lines))


@pytest.mark.parametrize(
    ("outputs", "column", "reason"),
    [
        ("['{precious}']", 15, "is absolute"),
        ("['../outside/precious.txt']", 15, "climbs out with '..'"),
        ("[ok, 'sub/../../outside/precious.txt']", 19, "climbs out with '..'"),
    ],
)
def test_an_absolute_or_climbing_output_is_refused_before_anything_runs(
    ops: Operations,
    write_spec: SpecWriter,
    precious: Path,
    tmp_path: Path,
    outputs: str,
    column: int,
    reason: str,
) -> None:
    spec = step_spec(write_spec, "touch ran", outputs.format(precious=precious))
    report = ops.validate(spec)
    assert not report.valid
    [problem] = report.problems
    assert (problem.line, problem.column) == (7, column)
    assert problem.message.startswith("step 'make': output '") and reason in problem.message
    with pytest.raises(SpecError, match=f"{spec}:7:{column}: step 'make': output"):
        ops.run(spec)
    assert not (tmp_path / "work" / "ran").exists()  # nothing ran
    assert ops.list_executions() == []  # and no run was recorded
    assert_untouched(precious)


def test_a_parameter_that_templates_dot_dot_is_refused_naming_step_path_and_value(
    ops: Operations, write_spec: SpecWriter, precious: Path, tmp_path: Path
) -> None:
    spec = step_spec(
        write_spec,
        "touch ran; echo x > result.txt",
        "['{{ out }}']",
        extra="parameters:\n  out: {type: str, default: result.txt}\n",
    )
    assert ops.validate(spec).valid  # a plain name stands for the placeholder: fine
    with pytest.raises(ParameterError) as error:
        ops.run(spec, {"out": "../outside/precious.txt"})
    message = str(error.value)
    assert "step 'make': output '{{ out }}' is '../outside/precious.txt'" in message
    assert "(from parameter 'out')" in message and "climbs out with '..'" in message
    assert not (tmp_path / "work" / "ran").exists()
    assert_untouched(precious)
    # The default is a plain relative path: it runs and lands in the artifacts.
    assert ops.run(spec).state == ExecutionState.SUCCEEDED


def test_a_workdir_from_a_parameter_stays_in_the_spec_folder(
    ops: Operations, write_spec: SpecWriter, precious: Path, tmp_path: Path
) -> None:
    spec = write_spec(
        """
        name: confine
        parameters:
          dir: {type: str, default: work}
        steps:
          make: {run: 'echo x >> precious.txt', shell: true, workdir: '{{ dir }}'}
        """
    )
    with pytest.raises(ParameterError, match=r"workdir '\{\{ dir \}\}' is '\.\./outside'"):
        ops.run(spec, {"dir": "../outside"})
    assert_untouched(precious)
    assert ops.run(spec).state == ExecutionState.SUCCEEDED
    assert (tmp_path / "work" / "precious.txt").read_text() == "x\n"  # the one inside


def failed_reason(ops: Operations, execution_id: str) -> str:
    status = ops.status(execution_id)
    assert status.state == ExecutionState.FAILED, status
    unit = status.unit("make")
    assert unit.state == UnitState.FAILED
    assert unit.attempts == 1  # a refusal is not retried
    assert unit.reason is not None
    return unit.reason


@pytest.mark.parametrize(
    ("run", "outputs", "named"),
    [
        ("ln -s {outside}/precious.txt result.txt", "[result.txt]", "'result.txt' resolves to"),
        ("ln -s {outside} results", "[results]", "'results' resolves to"),
        (
            "mkdir -p results/deep; echo mine > results/mine.txt; "
            "ln -s {outside}/precious.txt results/deep/p.txt",
            "[results]",
            "'results' (through results/deep/p.txt) resolves to",
        ),
        (
            "mkdir results; ln -s {outside} results/up",
            "[results]",
            "'results' (through results/up) resolves to",
        ),
        # A link that is fine on its own but leads to a folder holding a link out.
        (
            "mkdir -p results inner; ln -s ../inner results/in; "
            "ln -s {outside}/precious.txt inner/p.txt",
            "[results]",
            "'results' (through results/in/p.txt) resolves to",
        ),
    ],
    ids=["symlinked-file", "symlinked-folder", "link-in-folder", "folder-link-in-folder", "hop"],
)
def test_an_output_that_resolves_outside_fails_the_step_and_nothing_is_copied(
    ops: Operations,
    write_spec: SpecWriter,
    precious: Path,
    run: str,
    outputs: str,
    named: str,
) -> None:
    spec = step_spec(
        write_spec,
        run.format(outside=precious.parent),
        outputs,
    )
    status = ops.run(spec)
    reason = failed_reason(ops, status.id)
    assert f"declared output {named} {precious.parent}" in reason
    assert "outside the step's workdir" in reason and "nothing was copied" in reason
    assert artifacts_of(ops, status.id) == []
    assert_untouched(precious)


def test_a_retried_step_with_a_link_out_is_not_retried(
    ops: Operations, write_spec: SpecWriter, precious: Path
) -> None:
    spec = write_spec(
        f"""
        name: confine
        steps:
          make:
            workdir: work
            run: [ln, -sf, {precious}, result.txt]
            retries: {{count: 3, backoff: 1ms}}
            outputs: [result.txt]
        """
    )
    failed_reason(ops, ops.run(spec).id)
    assert_untouched(precious)


def test_an_artifact_is_an_independent_copy(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    (tmp_path / "work").mkdir()
    spec = write_spec(
        """
        name: confine
        steps:
          make:
            workdir: work
            shell: true
            run: 'echo source > result.txt; mkdir -p out/sub; echo deep > out/sub/d.txt;
              ln -s ../result.txt out/inside-link'
            outputs: [result.txt, out]
          append:
            needs: [make]
            shell: true
            run: 'echo appended >> $SHIPYARD_ARTIFACTS_DIR/make/result.txt;
              echo appended >> $SHIPYARD_ARTIFACTS_DIR/make/out/sub/d.txt'
        """
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status
    work = tmp_path / "work"
    artifacts = Path(status.run_dir) / "artifacts" / "make"
    # A later step wrote to the artifacts: the step's own files are unchanged.
    assert (artifacts / "result.txt").read_text() == "source\nappended\n"
    assert (work / "result.txt").read_text() == "source\n"
    assert (artifacts / "out" / "sub" / "d.txt").read_text() == "deep\nappended\n"
    assert (work / "out" / "sub" / "d.txt").read_text() == "deep\n"
    # A link inside the workdir is followed and its content copied (not a link any more).
    assert not (artifacts / "out" / "inside-link").is_symlink()
    assert (artifacts / "out" / "inside-link").read_text() == "source\n"
    for path in (work / "result.txt", artifacts / "result.txt", work / "out" / "sub" / "d.txt"):
        assert path.stat().st_nlink == 1, f"{path} is hard-linked"
    # And the other way round: writing to the source leaves the artifact as it was.
    with (work / "result.txt").open("a") as source:
        source.write("later\n")
    assert (artifacts / "result.txt").read_text() == "source\nappended\n"


def test_a_whole_workdir_as_output_or_input_leaves_the_shipyard_home_out(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    """`outputs: [.]` where the home (.shipyard) lies in the workdir: each run's artifacts
    hold the step's files, never the store or earlier runs (it grew exponentially, copying
    every earlier run's artifacts into each new one), and `inputs: [.]` hashes no state.db."""
    spec = write_spec(
        """
        name: whole
        steps:
          make:
            shell: true
            run: 'echo hi > made.txt'
            outputs: ['.']
            inputs: ['.']
        """
    )
    assert (tmp_path / ".shipyard").parent == Path(spec).parent  # the home is in the workdir
    sizes = []
    for _ in range(3):
        status = ops.run(spec)
        assert status.state == ExecutionState.SUCCEEDED, status
        copied = artifacts_of(ops, status.id)
        assert not [path for path in copied if "state.db" in path or "runs" in path], copied
        assert "make/_/made.txt" in copied, copied
        sizes.append(len(copied))
    assert sizes[0] == sizes[1] == sizes[2], f"artifacts grew run after run: {sizes}"


def test_a_link_planted_in_the_artifacts_is_replaced_not_written_through(
    ops: Operations, write_spec: SpecWriter, precious: Path
) -> None:
    # The step itself may write anywhere the user can; what it must not get is Shipyard
    # writing through a link it left where the artifact goes.
    spec = step_spec(
        write_spec,
        "mkdir -p $SHIPYARD_ARTIFACTS_DIR/make; "
        f"ln -s {precious} $SHIPYARD_ARTIFACTS_DIR/make/result.txt; echo mine > result.txt",
        "[result.txt]",
    )
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status
    artifact = Path(status.run_dir) / "artifacts" / "make" / "result.txt"
    assert not artifact.is_symlink() and artifact.read_text() == "mine\n"
    assert_untouched(precious)


def test_an_input_that_resolves_outside_is_refused_before_the_step_starts(
    ops: Operations, write_spec: SpecWriter, precious: Path, tmp_path: Path
) -> None:
    (tmp_path / "work" / "data").symlink_to(precious.parent)
    spec = write_spec(
        """
        name: confine
        steps:
          make: {workdir: work, run: [touch, ran], inputs: [data]}
        """
    )
    status = ops.run(spec)
    reason = failed_reason(ops, status.id)
    assert f"declared input 'data' resolves to {precious.parent}" in reason
    assert not (tmp_path / "work" / "ran").exists()  # the step never started
    assert_untouched(precious)
    # Its log says so too, for whoever reads only the logs.
    assert any("declared input 'data'" in line.text for line in ops.logs(status.id, "make"))


def test_a_checkpoint_path_or_ready_file_outside_is_refused_and_nothing_is_removed(
    ops: Operations, write_spec: SpecWriter, precious: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    (work / "state").symlink_to(precious)
    (work / "flags").symlink_to(precious.parent)
    ready = precious.parent / "ready"
    ready.write_text("keep me")
    spec = write_spec(
        """
        name: confine
        steps:
          make:
            workdir: work
            run: [sleep, '30']
            checkpoint: {paths: [state], signal: USR1, ready_file: flags/ready, timeout: 1s}
        """
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: ops.status(status.id).unit("make").state == UnitState.RUNNING)
    with pytest.raises(
        OutsideWorkdir, match="checkpoint refused: step 'make': 'state' resolves to"
    ):
        ops.checkpoint_create(status.id)
    (work / "state").unlink()
    (work / "state").write_text("inside")
    with pytest.raises(OutsideWorkdir, match="step 'make': 'flags/ready' resolves to"):
        ops.checkpoint_create(status.id)
    assert ready.read_text() == "keep me"  # the ready file outside was not removed
    time.sleep(0.3)  # had it been sent USR1, sleep would be dying now
    assert ops.status(status.id).unit("make").state == UnitState.RUNNING  # nor was it signalled
    ops.stop(status.id, force=True)
    assert_untouched(precious)


def test_the_cli_refuses_a_templated_escape_without_a_traceback(
    write_spec: SpecWriter, precious: Path, tmp_path: Path
) -> None:
    spec = step_spec(
        write_spec,
        "echo x > result.txt",
        "['{{ out }}']",
        extra="parameters:\n  out: {type: str, default: result.txt}\n",
    )
    result = subprocess.run(
        [shipyard_executable(), "run", str(spec), "-p", "out=../outside/precious.txt"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert "step 'make': output '{{ out }}' is '../outside/precious.txt'" in result.stderr
    assert_untouched(precious)
