"""`shipyard index …` and `shipyard run index:REPO/NAME` as a user types them: the installed
command in a subprocess, a folder and a git repository made in the test's folder."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

HELLO = """\
name: hello
description: says hello
parameters:
  who: {type: str, default: world, test: tester, description: whom to greet}
steps:
  greet:
    run: [sh, -c, 'echo "hello $SHIPYARD_PARAM_WHO"']
"""


def make_repo(folder: Path, index: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard-index.yaml").write_text(textwrap.dedent(index))
    for name, text in (files or {"hello.yaml": HELLO}).items():
        (folder / name).write_text(text)
    return folder


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0


def test_add_list_show_run_and_remove_a_folder(shipyard: Shipyard, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "mine", "templates:\n  hello: {file: hello.yaml}\n")
    added = shipyard("index", "add", "mine", str(repo))
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"added mine: 1 template from {repo}\n"

    listed = json.loads(shipyard("index", "list", "--json").stdout)
    assert [(r["name"], r["kind"], r["templates"]) for r in listed] == [
        ("builtin", "builtin", 4),
        ("mine", "folder", 1),
    ]
    templates = json.loads(shipyard("index", "templates", "mine", "--json").stdout)
    assert [(t["repo"], t["name"], t["usable"]) for t in templates] == [("mine", "hello", True)]

    shown = shipyard("index", "show", "mine/hello")
    assert shown.returncode == 0, shown.stderr
    assert "mine/hello: says hello" in shown.stdout
    assert "who   str   world    tester" in shown.stdout
    shown_json = json.loads(shipyard("index", "show", "mine/hello", "--json").stdout)
    assert shown_json["parameters"][0] == {
        "name": "who",
        "type": "str",
        "default": "world",
        "stored": None,
        "choices": [],
        "test": "tester",
        "description": "whom to greet",
        "secret": False,
    }

    ran = shipyard("run", "index:mine/hello", "-p", "who=cli", "--json")
    assert ran.returncode == 0, ran.stderr
    status = json.loads(ran.stdout)
    assert status["state"] == "succeeded"
    assert status["spec_path"] == str(repo / "hello.yaml")

    removed = shipyard("index", "remove", "mine")
    assert removed.returncode == 0, removed.stderr
    assert [r["name"] for r in json.loads(shipyard("index", "list", "--json").stdout)] == [
        "builtin"
    ]


def test_a_git_repository_is_added_by_url_and_updated(shipyard: Shipyard, tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "up", "templates:\n  hello: {file: hello.yaml}\n")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=upstream,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    assert shipyard("index", "add", "remote", f"file://{upstream}").returncode == 0
    make_repo(
        upstream,
        "templates:\n  hello: {file: hello.yaml}\n  again: {file: hello.yaml}\n",
    )
    git("commit", "-q", "-am", "two")
    updated = json.loads(shipyard("index", "update", "remote", "--json").stdout)
    assert [(r["name"], r["templates"]) for r in updated] == [("remote", 2)]
    ran = shipyard("run", "index:remote/again", "--mode", "test", "-q")
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("index", "show", "nope/x"), "no template repository named 'nope'"),
        (("index", "show", "builtin/nope"), "has no template 'nope'"),
        (("run", "index:builtin/nope"), "hint: its templates: builtin/fio"),
        (("index", "remove", "builtin"), "cannot be removed"),
        (("index", "add", "x", "/nonexistent/folder"), "not a folder, nor a git URL"),
        (("index", "add", "../x", "."), "is not allowed"),
        (("index", "update", "nope"), "no template repository named 'nope'"),
    ],
)
def test_bad_input_is_one_message_with_a_hint(
    shipyard: Shipyard, args: tuple[str, ...], message: str
) -> None:
    done = shipyard(*args)
    no_traceback(done)
    assert message in done.stderr


def test_a_folder_that_is_no_repository_is_refused(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    done = shipyard("index", "add", "x", str(tmp_path / "plain"))
    no_traceback(done)
    assert "neither a folder of templates" in done.stderr
    assert "hint: write shipyard-index.yaml" in done.stderr


def test_an_invalid_template_and_a_clash_are_refused(shipyard: Shipyard, tmp_path: Path) -> None:
    bad = make_repo(
        tmp_path / "bad",
        "templates:\n  hello: {file: hello.yaml}\n",
        {"hello.yaml": HELLO.replace("steps:", "stepz:")},
    )
    done = shipyard("index", "add", "bad", str(bad))
    no_traceback(done)
    assert f"{bad / 'hello.yaml'}:5:" in done.stderr

    good = make_repo(tmp_path / "good", "templates:\n  hello: {file: hello.yaml}\n")
    assert shipyard("index", "add", "good", str(good)).returncode == 0
    clash = shipyard("index", "add", "good", str(good))
    no_traceback(clash)
    assert "exists already" in clash.stderr


def test_a_template_needing_a_newer_shipyard_is_refused_with_both_versions(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    from shipyard import __version__

    repo = make_repo(
        tmp_path / "future", "templates:\n  hello: {file: hello.yaml, requires: '>=42.1'}\n"
    )
    assert shipyard("index", "add", "future", str(repo)).returncode == 0
    listed = shipyard("index", "templates", "future")
    assert "cannot run: it needs Shipyard >= 42.1" in listed.stdout
    for args in (("index", "show", "future/hello"), ("run", "index:future/hello")):
        done = shipyard(*args)
        no_traceback(done)
        assert f"needs Shipyard >= 42.1, and this is Shipyard {__version__}" in done.stderr


def test_a_builtin_template_runs_from_the_command_line(shipyard: Shipyard) -> None:
    shown = shipyard("index", "show", "builtin/parallel-sort")
    assert "count   int   2000000  20000" in shown.stdout
    ran = shipyard("run", "index:builtin/parallel-sort", "--mode", "test", "-q")
    assert ran.returncode == 0, ran.stderr
    assert "succeeded 8/8 units" in ran.stdout


def test_the_builtin_fleet_template_comes_up_and_goes_down(shipyard: Shipyard) -> None:
    up = shipyard("up", "-d", "index:builtin/two-agents", "-p", "interval=0.2", "--json")
    assert up.returncode == 0, up.stderr
    execution = json.loads(up.stdout)["id"]
    services = json.loads(shipyard("ps", execution, "--json").stdout)
    assert sorted((s["name"], s["health"]) for s in services) == [
        ("answerer", "healthy"),
        ("asker", "healthy"),
    ]
    down = shipyard("down", execution, "--json")
    assert down.returncode == 0, down.stderr
    status = json.loads(shipyard("status", execution, "--json").stdout)
    assert status["state"] == "stopped"
