"""`pipelines list` and `show` read what they print from a summary stored with the spec (no
spec load, no Pydantic import); it is the same as what loading the spec gives, follows every
edit, and a missing or hand-edited summary is worked out from the spec again."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard
from shipyard.api import Operations
from shipyard.operations.registry import _info
from tests.conftest import SpecWriter

SPEC = """
name: menu
description: every kind of parameter
parameters:
  size: {type: int, default: 1, choices: [1, 2, 4], test: 2, description: block count}
  ratio: {type: float, default: 0.5}
  fast: {type: bool, default: false}
  token: {type: str, secret: true}
  label: hello
steps:
  a: {run: [echo, hi]}
services:
  web: {run: [sleep, '60'], port: auto}
"""


@pytest.fixture
def added(ops: Operations, write_spec: SpecWriter) -> Path:
    ops.pipeline_add("menu", write_spec(SPEC, "menu.yaml"))
    return ops.workspace.home  # type: ignore[attr-defined, no-any-return]


def _from_the_spec(ops: Operations, name: str) -> object:
    """What show gives when the summary is not there: the spec loaded."""
    store = ops.store  # type: ignore[attr-defined]
    return _info(store, dataclasses.replace(store.pipeline_get(name), summary=None))


def test_list_and_show_give_what_loading_the_spec_gives(ops: Operations, added: Path) -> None:
    ops.pipeline_set("menu", {"size": 4, "fast": True})
    shown = ops.pipeline_show("menu")
    assert ops.store.pipeline_get("menu").summary is not None  # type: ignore[attr-defined]
    assert shown == _from_the_spec(ops, "menu")
    assert ops.pipeline_list() == [shown]
    token = next(p for p in shown.parameters if p.name == "token")
    assert token.secret and token.default is None and token.required


def test_the_summary_follows_each_edit(ops: Operations, added: Path) -> None:
    ops.pipeline_step_add("menu", "b", {"run": ["echo", "b"]})
    assert ops.pipeline_show("menu").steps == ["a", "b"]
    ops.pipeline_step_remove("menu", "a")
    assert [p.steps for p in ops.pipeline_list()] == [["b"]]
    assert ops.pipeline_show("menu") == _from_the_spec(ops, "menu")


@pytest.mark.parametrize(
    "summary",
    [
        None,
        {"description": "x"},
        {"description": "", "steps": [], "services": [], "parameters": [{}]},
    ],
)
def test_a_summary_missing_or_of_another_shape_is_worked_out_again(
    ops: Operations, added: Path, summary: object
) -> None:
    store = ops.store  # type: ignore[attr-defined]
    store.pipeline_put(
        dataclasses.replace(store.pipeline_get("menu"), summary=summary), replace=True
    )
    assert ops.pipeline_show("menu").steps == ["a"]
    assert ops.pipeline_show("menu") == _from_the_spec(ops, "menu")


def test_a_store_rebuilt_from_the_copies_keeps_the_summary(ops: Operations, added: Path) -> None:
    copy = json.loads((added / "pipelines" / "menu.json").read_text())
    assert copy["summary"]["steps"] == ["a"]
    before = ops.pipeline_show("menu")
    ops.rebuild_store()
    assert ops.store.pipeline_get("menu").summary == copy["summary"]  # type: ignore[attr-defined]
    assert ops.pipeline_show("menu") == before


def test_listing_imports_no_spec_model(ops: Operations, added: Path) -> None:
    probe = (
        "import sys, shipyard\n"
        f"ops = shipyard.connect({str(added)!r})\n"
        "shown = ops.pipeline_list(), ops.pipeline_show('menu')\n"
        "heavy = ('pydantic', 'shipyard.spec.models', 'shipyard.spec.loader')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    # Without SHIPYARD_WIRE_CHECK: its JSON round trip is a test aid that imports the codec.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    assert done.stdout.strip() == "[]", done.stdout
    assert shipyard  # the probe imports the package the tests run
