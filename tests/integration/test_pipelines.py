"""Named pipelines on LocalOperations (issue 12 §1): real SQLite, real runs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from shipyard.api import Operations
from shipyard.engine.liveness import pid_alive
from shipyard.errors import ExecutionNotFound, ParameterError, ShipyardError, SpecError
from shipyard.models import ExecutionState, UnitState
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for

SPEC = """
name: demo
description: writes its parameters down
parameters:
  size: {type: int, default: 1, choices: [1, 2, 4], test: 2, description: block count}
  label: hello
steps:
  write:
    run: 'echo "$SHIPYARD_PARAM_SIZE $SHIPYARD_PARAM_LABEL" > out.txt'
    shell: true
    workdir: work
  check:
    run: [test, -s, work/out.txt]
    needs: [write]
"""


@pytest.fixture
def spec(write_spec: SpecWriter, tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    return write_spec(SPEC, "demo.yaml")


def test_add_keeps_the_text_path_and_digest_and_shows_a_typed_menu(
    ops: Operations, spec: Path
) -> None:
    added = ops.pipeline_add("demo", spec)
    assert added.spec_path == str(spec.resolve())
    assert added.steps == ["write", "check"] and added.services == []
    size = next(p for p in added.parameters if p.name == "size")
    assert (size.type, size.default, size.choices, size.test) == ("int", 1, [1, 2, 4], 2)
    assert size.description == "block count" and not size.required
    assert ops.pipeline_spec("demo") == spec.read_text()
    # The store keeps the content: the file may change or go, the pipeline stays as added.
    spec.unlink()
    assert [p.name for p in ops.pipeline_list()] == ["demo"]
    assert ops.pipeline_show("demo").spec_digest == added.spec_digest


def test_run_by_name_uses_stored_defaults_and_p_wins(
    ops: Operations, spec: Path, tmp_path: Path
) -> None:
    ops.pipeline_add("demo", spec)
    ops.pipeline_set("demo", {"size": "4", "label": "stored"})
    first = ops.run("demo")
    assert first.state == ExecutionState.SUCCEEDED
    assert first.parameters == {"size": 4, "label": "stored"}
    assert first.pipeline == "demo"
    # Relative workdirs stay relative to the file's folder, wherever the run starts.
    assert (tmp_path / "work" / "out.txt").read_text() == "4 stored\n"
    second = ops.run("demo", {"label": "given"})
    assert second.parameters == {"size": 4, "label": "given"}
    assert ops.pipeline_show("demo").last_execution == second.id
    # A file run is no pipeline's run.
    assert ops.run(spec).pipeline is None


def test_an_execution_id_may_be_a_pipeline_name_for_its_latest_execution(
    ops: Operations, spec: Path
) -> None:
    ops.pipeline_add("demo", spec)
    ops.run("demo", {"size": 1})
    latest = ops.run("demo", {"size": 2})
    ops.run(spec)  # a newer execution, not of the pipeline
    assert ops.status("demo").id == latest.id
    assert ops.checkpoint_list("demo") == []
    assert [line.text for line in ops.logs("demo")] == []
    with pytest.raises(ShipyardError, match=f"execution {latest.id} already finished"):
        ops.stop("demo")
    report = ops.clean("demo", level="minimal")
    assert [run.execution_id for run in report.runs] == [latest.id]


def test_unknown_names_say_both_possibilities(ops: Operations, spec: Path) -> None:
    ops.run(spec)
    with pytest.raises(ExecutionNotFound) as caught:
        ops.status("nothing")
    assert "no execution 'nothing' and no pipeline named so" in caught.value.message
    assert "shipyard list" in (caught.value.hint or "")
    assert "shipyard pipelines list" in (caught.value.hint or "")
    ops.pipeline_add("demo", spec)
    with pytest.raises(ExecutionNotFound, match="pipeline 'demo' has not run yet"):
        ops.status("demo")
    with pytest.raises(ShipyardError) as unknown:
        ops.pipeline_show("dmeo")
    assert unknown.value.message == "no pipeline named 'dmeo'"
    assert "did you mean 'demo'?" in (unknown.value.hint or "")
    with pytest.raises(SpecError, match="no pipeline registered as 'dmeo'") as run:
        ops.run("dmeo")
    assert "registered pipelines: demo" in str(run.value)


def test_add_refuses_an_invalid_spec_a_bad_name_and_a_taken_one(
    ops: Operations, spec: Path, write_spec: SpecWriter
) -> None:
    broken = write_spec("name: broken\nsteps:\n  a: {run: [true], needs: [zz]}\n", "broken.yaml")
    with pytest.raises(SpecError) as invalid:
        ops.pipeline_add("broken", broken)
    assert f"{broken.resolve()}:3" in str(invalid.value)  # file:line of the problem
    for bad in ("a/b", "../x", "", "-p"):
        with pytest.raises(ShipyardError, match="is not valid"):
            ops.pipeline_add(bad, spec)
    ops.pipeline_add("demo", spec)
    with pytest.raises(ShipyardError, match="already registered") as taken:
        ops.pipeline_add("demo", broken.with_name("demo.yaml"))
    assert "--replace" in (taken.value.hint or "")
    assert ops.pipeline_list()[0].name == "demo"
    assert [p.name for p in ops.pipeline_list()] == ["demo"]


def test_replace_keeps_the_added_time_and_takes_the_new_text(
    ops: Operations, spec: Path, write_spec: SpecWriter
) -> None:
    first = ops.pipeline_add("demo", spec)
    other = write_spec("name: other\nsteps:\n  only: {run: [true]}\n", "other.yaml")
    second = ops.pipeline_add("demo", other, replace=True)
    assert second.steps == ["only"] and second.spec_name == "other"
    assert second.added_at == first.added_at


def test_set_checks_names_types_and_choices_and_unset_drops(ops: Operations, spec: Path) -> None:
    ops.pipeline_add("demo", spec)
    with pytest.raises(ParameterError, match="'nope' is not a parameter of the spec"):
        ops.pipeline_set("demo", {"nope": 1})
    with pytest.raises(ParameterError, match="must be one of 1, 2, 4; got 3"):
        ops.pipeline_set("demo", {"size": 3})
    with pytest.raises(ParameterError, match="is an int, and 'big' is not"):
        ops.pipeline_set("demo", {"size": "big"})
    assert ops.pipeline_show("demo").defaults == {}
    ops.pipeline_set("demo", {"size": 2, "label": "x"})
    after = ops.pipeline_set("demo", {}, unset=["size"])
    assert after.defaults == {"label": "x"}
    assert next(p for p in after.parameters if p.name == "label").stored == "x"


def test_step_edits_validate_and_a_refused_edit_changes_nothing(
    ops: Operations, spec: Path
) -> None:
    ops.pipeline_add("demo", spec)
    before = ops.pipeline_spec("demo")
    with pytest.raises(ShipyardError) as refused:
        ops.pipeline_step_add("demo", "extra", {"run": ["true"], "needs": ["missing"]})
    assert "adding step 'extra' would leave pipeline 'demo' invalid" in refused.value.message
    assert "step 'extra' needs 'missing'" in refused.value.message
    with pytest.raises(ShipyardError, match="cannot remove step 'write': check needs it"):
        ops.pipeline_step_remove("demo", "write")
    with pytest.raises(ShipyardError, match=r"steps\.check\.timeout"):
        ops.pipeline_step_replace("demo", "check", {"run": ["true"], "timeout": "soon"})
    assert ops.pipeline_spec("demo") == before

    added = ops.pipeline_step_add("demo", "report", {"run": ["true"], "needs": ["check"]})
    assert added.steps == ["write", "check", "report"]
    assert ops.pipeline_validate("demo").valid
    replaced = ops.pipeline_step_replace("demo", "check", {"run": ["true"], "needs": ["write"]})
    assert replaced.spec_digest != added.spec_digest
    assert ops.pipeline_step_remove("demo", "report").steps == ["write", "check"]
    ran = ops.run("demo")
    assert ran.state == ExecutionState.SUCCEEDED and [u.name for u in ran.units] == [
        "write",
        "check",
    ]


def test_remove_forgets_the_pipeline_but_not_its_executions(ops: Operations, spec: Path) -> None:
    ops.pipeline_add("demo", spec)
    ran = ops.run("demo")
    removed = ops.pipeline_remove("demo")
    assert removed.last_execution == ran.id
    assert ops.pipeline_list() == []
    assert ops.status(ran.id).pipeline == "demo"
    with pytest.raises(ShipyardError, match="no pipeline named 'demo'"):
        ops.pipeline_remove("demo")


def test_plan_and_validate_take_the_name(ops: Operations, spec: Path) -> None:
    ops.pipeline_add("demo", spec)
    ops.pipeline_set("demo", {"size": 4})
    assert ops.plan("demo").parameters["size"] == 4
    assert ops.plan("demo", {"size": 1}).parameters["size"] == 1
    report = ops.validate("demo")
    assert report.valid and report.name == "demo"


def test_a_file_beside_wins_over_a_pipeline_of_the_same_name(
    ops: Operations, spec: Path, write_spec: SpecWriter
) -> None:
    ops.pipeline_add("demo.yaml", spec)
    other = write_spec("name: file\nsteps:\n  a: {run: [true]}\n", "demo.yaml")
    assert ops.plan(other.name).name == "file"


def test_resume_of_a_pipeline_run_replans_what_it_ran(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    flag = tmp_path / "slow"
    flag.write_text("")
    spec = write_spec(
        f"""
        name: chain
        steps:
          first: {{run: 'echo first >> {log}', shell: true}}
          second: {{run: 'echo second >> {log}; if [ -e {flag} ]; then sleep 30; fi', shell: true,
                   needs: [first]}}
          third: {{run: 'echo third >> {log}', shell: true, needs: [second]}}
        """,
        "chain.yaml",
    )
    ops.pipeline_add("chain", spec)
    ops.pipeline_step_add("chain", "fourth", {"run": f"echo fourth >> {log}", "shell": True})
    spec.unlink()  # the pipeline does not need its file; the resume neither
    status = ops.run("chain", detach=True)
    wait_for(lambda: ops.status("chain").unit("first").state == UnitState.SUCCEEDED)
    wait_for(lambda: "second" in log.read_text())
    supervisor, _ = ops.store.supervisor(status.id)
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: not pid_alive(supervisor))
    assert ops.status("chain").state == ExecutionState.LOST
    flag.unlink()
    resumed = ops.resume("chain")
    assert resumed.id == status.id and resumed.state == ExecutionState.SUCCEEDED
    assert resumed.pipeline == "chain"
    ran = log.read_text().split()
    assert ran.count("first") == 1 and ran.count("second") == 2
    assert ran.count("third") == 1 and ran.count("fourth") == 1


def test_a_rebuilt_store_keeps_which_pipeline_ran_an_execution(ops: Operations, spec: Path) -> None:
    ops.pipeline_add("demo", spec)
    ran = ops.run("demo")
    ops.pipeline_set("demo", {"size": 2})
    ops.pipeline_step_add("demo", "extra", {"run": ["true"]})
    kept = ops.pipeline_show("demo")
    ops.pipeline_add("gone", spec)
    ops.pipeline_remove("gone")
    ops.rebuild_store()
    assert ops.status(ran.id).pipeline == "demo"
    assert ops.status("demo").id == ran.id
    # The registry comes back with the executions: stored defaults and edits included.
    assert ops.pipeline_list() == [kept]


def test_a_fleet_comes_up_by_name_and_its_service_commands_take_the_name(
    ops: Operations, write_spec: SpecWriter
) -> None:
    fleet = write_spec(
        """
        name: fleet
        services:
          web: {run: [sleep, '60']}
        """,
        "fleet.yaml",
    )
    ops.pipeline_add("fleet", fleet)
    up = ops.up("fleet", detach=True)
    assert up.pipeline == "fleet"
    ops.wait_healthy("fleet", timeout=30)
    assert ops.status("fleet").unit("web").state == UnitState.RUNNING
    stopped = ops.stop("fleet", grace=0.0)
    assert stopped.execution_id == up.id and stopped.state is not None
    assert ops.status("fleet").state.finished
