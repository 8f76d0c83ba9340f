"""Declared paths stay inside the step's workdir: the pure decisions (validation, plan time)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.errors import ParameterError, SpecError
from shipyard.plan.build import build_plan
from shipyard.spec.loader import load_spec_text
from shipyard.spec.pathchecks import escape, inside, resolved_path, resolved_workdir


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("out.txt", None),
        ("out/a/b.txt", None),
        ("./out", None),
        (".", None),
        ("a/../b", None),
        ("a/b/../../c", None),
        ("..x/y", None),  # a folder named '..x' is not '..'
        ("/etc/passwd", "is absolute"),
        ("/", "is absolute"),
        ("..", "climbs out with '..'"),
        ("../x", "climbs out with '..'"),
        ("../../etc/passwd", "climbs out with '..'"),
        ("a/../../x", "climbs out with '..'"),
        ("./../x", "climbs out with '..'"),
    ],
)
def test_escape(path: str, reason: str | None) -> None:
    assert escape(path) == reason


@pytest.mark.parametrize(
    ("path", "folder", "expected"),
    [
        ("/base/x", "/base", True),
        ("/base", "/base", True),
        ("/base/../x", "/base", False),
        ("/base2", "/base", False),  # a prefix of the name is not a parent
        ("/etc", "/", True),
        ("x", ".", True),
        ("../x", ".", False),
        ("/x", ".", False),  # absolute against relative: never inside
        ("x", "/base", False),
    ],
)
def test_inside(path: str, folder: str, expected: bool) -> None:
    assert inside(path, folder) is expected


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ out }}", "result.txt", "result.txt"),
        ("data/{{ out }}", "a/b", "data/a/b"),
        ("{{ out }}", "../../etc/passwd", None),
        ("{{ out }}", "/etc/passwd", None),
        ("data/{{ out }}", "../../x", None),
        ("{{ out }}/x", "", None),  # '/x': absolute once the value is empty
    ],
)
def test_resolved_path(template: str, value: str, expected: str | None) -> None:
    if expected is not None:
        assert resolved_path("make", "output", template, {"out": value}) == expected
        return
    with pytest.raises(ParameterError) as error:
        resolved_path("make", "output", template, {"out": value})
    message = str(error.value)
    # Names the step, the declared path, the value and the parameter it came from.
    assert f"step 'make': output '{template}' is '{template.replace('{{ out }}', value)}'" in (
        message
    )
    assert "(from parameter 'out')" in message


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("work", "-", "/specs/work"),
        ("/abs/literal", "-", "/abs/literal"),  # written by the author: allowed
        ("../literal", "-", "/specs/../literal"),  # likewise
        ("{{ d }}", "sub/dir", "/specs/sub/dir"),
        ("{{ d }}", "..", None),
        ("{{ d }}", "../../etc", None),
        ("{{ d }}", "/etc", None),
        ("runs/{{ d }}", "a", "/specs/runs/a"),
        ("runs/{{ d }}", "../other", None),  # stays in the spec's folder, but leaves runs/
        ("/data/{{ d }}", "x", "/data/x"),
        ("/data/{{ d }}", "../etc", None),
        ("/{{ d }}", "etc", "/etc"),  # the author wrote '/' around it
    ],
)
def test_resolved_workdir(template: str, value: str, expected: str | None) -> None:
    base = Path("/specs")
    if expected is not None:
        assert resolved_workdir("make", template, {"d": value}, base) == Path(expected)
        return
    written = template.replace("{{ d }}", value)
    with pytest.raises(
        ParameterError, match=rf"step 'make': workdir '.*' is '{re.escape(written)}'"
    ):
        resolved_workdir("make", template, {"d": value}, base)


SPEC = """\
name: p
parameters:
  out: {type: str, default: result.txt}
steps:
  a:
    run: [true]
    inputs: [ok.txt, /etc/passwd]
    outputs: ['../../etc/passwd', 'dir/{{ out }}', '/{{ out }}', 'a/../b']
    checkpoint:
      paths: [state, ../state]
      ready_file: /tmp/ready
"""


def test_validation_points_at_every_escaping_literal_path() -> None:
    with pytest.raises(SpecError) as error:
        load_spec_text(SPEC, Path("/specs/p.yaml"))
    found = [(str(p.location), p.message) for p in error.value.problems]
    assert found == [
        ("/specs/p.yaml:7:22", "step 'a': input '/etc/passwd' is absolute; "
         "it must stay inside the step's workdir"),
        ("/specs/p.yaml:8:15", "step 'a': output '../../etc/passwd' climbs out with '..'; "
         "it must stay inside the step's workdir"),
        ("/specs/p.yaml:8:52", "step 'a': output '/{{ out }}' is absolute; "
         "it must stay inside the step's workdir"),
        ("/specs/p.yaml:10:22", "step 'a': checkpoint path '../state' climbs out with '..'; "
         "it must stay inside the step's workdir"),
        ("/specs/p.yaml:11:19", "step 'a': checkpoint ready_file '/tmp/ready' is absolute; "
         "it must stay inside the step's workdir"),
    ]  # fmt: skip
    assert all(p.hint and "relative to the step's workdir" in p.hint for p in error.value.problems)


def test_a_parameter_cannot_template_a_path_out_of_the_workdir() -> None:
    text = "name: p\nparameters:\n  out: {type: str, default: r.txt}\nsteps:\n"
    text += "  a: {run: [true], outputs: ['{{ out }}']}\n"
    loaded = load_spec_text(text, Path("/specs/p.yaml"))
    assert build_plan(loaded).steps[0].outputs == ["r.txt"]
    with pytest.raises(ParameterError, match=r"output '\{\{ out \}\}' is '\.\./\.\./x'"):
        build_plan(loaded, {"out": "../../x"})


def test_a_workdir_from_a_parameter_stays_in_the_spec_folder() -> None:
    text = "name: p\nparameters:\n  d: {type: str, default: w}\nsteps:\n"
    text += "  a: {run: [true], workdir: '{{ d }}'}\n"
    loaded = load_spec_text(text, Path("/specs/p.yaml"))
    assert build_plan(loaded).steps[0].workdir == "/specs/w"
    with pytest.raises(ParameterError, match="leaves /specs"):
        build_plan(loaded, {"d": "../.."})
