"""The template index with real folders, real git repositories (made with `git init` in the
test's folder, cloned over file://) and real runs of templates through `index:REPO/NAME`."""

from __future__ import annotations

import json
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import pytest

from shipyard import __version__
from shipyard.api import Operations
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState

HELLO = """\
name: hello
description: says hello
parameters:
  who: {type: str, default: world, test: tester, description: whom to greet}
  times: {type: int, default: 1, choices: [1, 2]}
steps:
  greet:
    run: [sh, -c, 'echo "hello $SHIPYARD_PARAM_WHO" > "$SHIPYARD_ARTIFACTS_DIR/greeting.txt"']
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def index(*entries: str) -> str:
    return "templates:\n" + "".join(f"  {entry}\n" for entry in entries)


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(folder: Path, files: dict[str, str], message: str) -> str:
    write(folder, files)
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", message)
    return git(folder, "rev-parse", "HEAD")


@pytest.fixture
def folder_repo(tmp_path: Path) -> Path:
    return write(
        tmp_path / "templates",
        {
            "shipyard-index.yaml": index("hello: {file: hello/hello.yaml, requires: '>=0.1'}"),
            "hello/hello.yaml": HELLO,
        },
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    folder = tmp_path / "upstream"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    commit(
        folder,
        {"shipyard-index.yaml": index("hello: {file: hello.yaml}"), "hello.yaml": HELLO},
        "first",
    )
    return folder


def test_a_folder_is_added_listed_shown_and_run(ops: Operations, folder_repo: Path) -> None:
    added = ops.index_add("mine", str(folder_repo))
    assert (added.name, added.kind, added.templates) == ("mine", "folder", 1)
    assert [repo.name for repo in ops.index_list()] == ["builtin", "mine"]

    info = ops.index_show("mine/hello")
    assert info.path == str(folder_repo / "hello" / "hello.yaml")
    assert info.requires == ">=0.1"
    assert info.description == "says hello"  # the spec's own, as the index gives none
    menu = {p.name: p for p in info.parameters}
    assert (menu["who"].type, menu["who"].default, menu["who"].test) == ("str", "world", "tester")
    assert menu["times"].choices == [1, 2]

    status = ops.run("index:mine/hello", {"who": "index"})
    assert status.state == ExecutionState.SUCCEEDED
    assert status.spec_path == info.path  # the execution says where its spec came from
    greeting = Path(status.run_dir) / "artifacts" / "greeting.txt"
    assert greeting.read_text() == "hello index\n"


def test_a_folder_is_read_where_it_is(ops: Operations, folder_repo: Path) -> None:
    ops.index_add("mine", str(folder_repo))
    write(
        folder_repo,
        {
            "shipyard-index.yaml": index(
                "hello: {file: hello/hello.yaml}", "again: {file: hello/hello.yaml}"
            )
        },
    )
    assert [t.name for t in ops.index_templates("mine")] == ["hello", "again"]
    assert [r.templates for r in ops.index_update("mine")] == [2]
    ops.index_remove("mine")
    assert (folder_repo / "hello" / "hello.yaml").is_file()  # the user's folder stays
    assert [repo.name for repo in ops.index_list()] == ["builtin"]


def test_an_invalid_template_is_refused_with_its_file_and_line(
    ops: Operations, folder_repo: Path
) -> None:
    write(folder_repo, {"hello/hello.yaml": HELLO.replace("    run:", "    runn:")})
    with pytest.raises(ShipyardError) as refused:
        ops.index_add("mine", str(folder_repo))
    assert f"{folder_repo / 'hello' / 'hello.yaml'}:7:" in str(refused.value)
    assert "runn" in str(refused.value)
    assert [repo.name for repo in ops.index_list()] == ["builtin"]


def test_an_index_entry_whose_file_is_missing_is_named_at_its_line(
    ops: Operations, folder_repo: Path
) -> None:
    write(
        folder_repo,
        {
            "shipyard-index.yaml": index(
                "hello: {file: hello/hello.yaml}", "gone: {file: gone.yaml}"
            )
        },
    )
    with pytest.raises(ShipyardError, match=r"shipyard-index.yaml:3:.*no file gone.yaml"):
        ops.index_add("mine", str(folder_repo))


def test_a_template_linked_outside_the_repository_is_refused(
    ops: Operations, folder_repo: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.yaml").write_text(HELLO)
    (folder_repo / "escape.yaml").symlink_to(tmp_path / "outside.yaml")
    write(folder_repo, {"shipyard-index.yaml": index("escape: {file: escape.yaml}")})
    with pytest.raises(ShipyardError, match="leads outside the repository"):
        ops.index_add("mine", str(folder_repo))


def test_names_that_clash_or_are_reserved_are_refused(ops: Operations, folder_repo: Path) -> None:
    ops.index_add("mine", str(folder_repo))
    with pytest.raises(ShipyardError, match="exists already") as clash:
        ops.index_add("mine", str(folder_repo))
    assert clash.value.hint is not None and "index remove mine" in clash.value.hint
    with pytest.raises(ShipyardError, match="ships with Shipyard"):
        ops.index_add("builtin", str(folder_repo))
    with pytest.raises(ShipyardError, match="cannot be removed"):
        ops.index_remove("builtin")
    with pytest.raises(ShipyardError, match="is not allowed"):
        ops.index_add("../up", str(folder_repo))


def test_unknown_repositories_and_templates_list_what_exists(
    ops: Operations, folder_repo: Path
) -> None:
    ops.index_add("mine", str(folder_repo))
    with pytest.raises(ShipyardError, match="no template repository named 'nope'") as repo:
        ops.index_show("nope/hello")
    assert repo.value.hint is not None and "builtin, mine" in repo.value.hint
    with pytest.raises(ShipyardError, match="has no template 'nope'") as template:
        ops.run("index:mine/nope")
    assert template.value.hint is not None and "mine/hello" in template.value.hint
    with pytest.raises(ShipyardError, match="no template repository"):
        ops.index_remove("nope")


def test_a_template_needing_a_newer_shipyard_is_listed_but_refused(
    ops: Operations, folder_repo: Path
) -> None:
    write(
        folder_repo,
        {"shipyard-index.yaml": index("hello: {file: hello/hello.yaml, requires: '>=99.0'}")},
    )
    ops.index_add("mine", str(folder_repo))  # the repository is fine; this Shipyard is too old
    [listed] = ops.index_templates("mine")
    assert not listed.usable
    for refused_call in (lambda: ops.index_show("mine/hello"), lambda: ops.run("index:mine/hello")):
        with pytest.raises(ShipyardError) as refused:
            refused_call()
        assert ">= 99.0" in str(refused.value)
        assert f"this is Shipyard {__version__}" in str(refused.value)
    assert ops.list_executions() == []


def test_a_source_that_is_not_a_repository_is_refused_with_a_hint(
    ops: Operations, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShipyardError, match="neither a folder of templates") as plain:
        ops.index_add("x", str(tmp_path / "empty"))
    assert plain.value.hint is not None and "shipyard-index.yaml" in plain.value.hint
    with pytest.raises(ShipyardError, match="not a folder, nor a git URL"):
        ops.index_add("x", str(tmp_path / "missing"))
    with pytest.raises(ShipyardError, match="git could not clone"):
        ops.index_add("x", f"file://{tmp_path / 'empty'}")
    cache = tmp_path / ".shipyard" / "index"
    assert not cache.exists() or list(cache.iterdir()) == []  # a failed clone leaves nothing


@pytest.mark.parametrize(
    "hostile",
    [
        "--upload-pack=touch {marker}",
        "ext::sh -c touch% {marker}",
        "file://x; touch {marker}",
        "$(touch {marker})",
    ],
)
def test_a_hostile_source_runs_nothing(ops: Operations, tmp_path: Path, hostile: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ShipyardError):
        ops.index_add("x", hostile.format(marker=marker))
    assert not marker.exists()


def test_a_git_repository_is_cloned_updated_and_removed(
    ops: Operations, git_repo: Path, tmp_path: Path
) -> None:
    first = git(git_repo, "rev-parse", "HEAD")
    added = ops.index_add("remote", f"file://{git_repo}")
    clone = tmp_path / ".shipyard" / "index" / "remote"
    assert (added.kind, added.path, added.revision) == ("git", str(clone), first)
    assert (clone / "hello.yaml").is_file()

    second = commit(
        git_repo,
        {
            "shipyard-index.yaml": index("hello: {file: hello.yaml}", "bye: {file: bye.yaml}"),
            "bye.yaml": HELLO.replace("name: hello", "name: bye"),
        },
        "second",
    )
    assert [t.name for t in ops.index_templates("remote")] == ["hello"]  # not pulled yet
    [updated] = ops.index_update("remote")
    assert (updated.revision, updated.templates) == (second, 2)
    assert ops.run("index:remote/bye", mode="test").state == ExecutionState.SUCCEEDED

    ops.index_remove("remote")
    assert not clone.exists()
    assert git_repo.is_dir()


def test_an_update_that_breaks_a_template_is_undone(
    ops: Operations, git_repo: Path, tmp_path: Path
) -> None:
    first = ops.index_add("remote", f"file://{git_repo}").revision
    commit(git_repo, {"hello.yaml": HELLO.replace("steps:", "stepz:")}, "broken")
    with pytest.raises(ShipyardError, match=r"hello.yaml:\d+:.*stepz"):
        ops.index_update("remote")
    clone = tmp_path / ".shipyard" / "index" / "remote"
    assert git(clone, "rev-parse", "HEAD") == first
    assert ops.index_list()[1].revision == first
    assert ops.index_show("remote/hello").usable


def test_a_local_git_repository_without_an_index_at_its_top_is_refused(
    ops: Operations, tmp_path: Path
) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(ShipyardError, match="has no commit yet"):
        ops.index_add("bare", str(bare))


# -- the builtin repository: every template runs --------------------------------------------


def test_the_builtin_repository_lists_its_four_templates(ops: Operations) -> None:
    found = {t.name: t for t in ops.index_templates("builtin")}
    assert sorted(found) == ["fio", "ml-train", "parallel-sort", "two-agents"]
    assert all(t.usable for t in found.values()), [t.problem for t in found.values()]
    for template in found.values():  # each can be smoke-tested fast
        assert template.parameters
        if template.kind != "fleet":
            assert any(p.test is not None for p in template.parameters), template.name


@pytest.mark.parametrize(
    ("name", "metrics"),
    [
        ("fio", {("summary", n) for n in ("write_bw", "read_bw", "write_iops", "read_iops")}),
        (
            "parallel-sort",
            {*((f"sort-{i}", "sort_seconds") for i in range(4)), ("merge", "merge_seconds")},
        ),
        ("ml-train", {("train", "train_loss"), ("evaluate", "accuracy")}),
    ],
)
def test_every_builtin_pipeline_runs_to_success_and_reports_its_metrics(
    ops: Operations, name: str, metrics: set[tuple[str, str]]
) -> None:
    status = ops.run(f"index:builtin/{name}", mode="test")
    assert status.state == ExecutionState.SUCCEEDED, [(u.name, u.reason) for u in status.units]
    assert all(u.state.value == "succeeded" for u in status.units)
    assert {(m.unit, m.name) for m in status.metrics} == metrics
    assert all(m.value > 0 for m in status.metrics)


def test_the_ml_template_gates_on_accuracy(ops: Operations) -> None:
    status = ops.run("index:builtin/ml-train", {"min_accuracy": 1.01}, mode="test")
    assert status.state == ExecutionState.FAILED
    evaluate = next(u for u in status.units if u.name == "evaluate")
    assert evaluate.state.value == "failed"


def test_the_builtin_fleet_comes_up_healthy_talks_and_goes_down(ops: Operations) -> None:
    started = ops.up("index:builtin/two-agents", {"interval": 0.2}, detach=True)
    try:
        status = ops.wait_healthy(started.id, timeout=60)
        urls = {u.name: u.url for u in status.units}
        assert all(url and url.startswith("http://127.0.0.1:") for url in urls.values())
        with urllib.request.urlopen(f"{urls['asker']}/last", timeout=5) as response:
            last = json.loads(response.read())
        [exchange] = last["exchanges"]
        assert exchange["peer"] == urls["answerer"]
        assert exchange["reply"]["agent"] == "answerer"
    finally:
        stopped = ops.stop(started.id)
    assert stopped.state == ExecutionState.STOPPED
    assert all(u.state.value in ("stopped", "cancelled") for u in ops.status(started.id).units)


def test_plan_validate_and_sweep_take_a_template(ops: Operations, folder_repo: Path) -> None:
    from shipyard.sweep import SweepSettings

    ops.index_add("mine", str(folder_repo))
    template = str(folder_repo / "hello" / "hello.yaml")
    report = ops.validate("index:mine/hello")
    assert (report.valid, report.path) == (True, template)
    plan = ops.plan("index:mine/hello", {"who": "planner"})
    assert (plan.name, plan.spec_path, plan.parameters["who"]) == ("hello", template, "planner")
    swept = ops.sweep("index:mine/hello", SweepSettings(matrix={"who": ["a", "b"]}))
    assert [(p.parameters["who"], p.state) for p in swept.points] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
    ]
    assert {ops.status(p.execution_id).spec_path for p in swept.points if p.execution_id} == {
        template
    }


def test_a_clone_left_by_a_crash_is_replaced(
    ops: Operations, git_repo: Path, tmp_path: Path
) -> None:
    left = tmp_path / ".shipyard" / "index" / "remote"
    left.mkdir(parents=True)
    (left / "half-written").write_text("from a clone that was never recorded")
    ops.index_add("remote", f"file://{git_repo}")
    assert sorted(p.name for p in left.iterdir()) == [".git", "hello.yaml", "shipyard-index.yaml"]
