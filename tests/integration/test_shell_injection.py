"""A parameter reaches a ``shell: true`` command as exactly one word, whatever quotes surround
its placeholder; contexts no quoting can make safe are refused at validation.

Every case is the real thing: the spec is loaded, the plan built, and the planned command run by
/bin/sh in a fresh folder; the value tries to create a marker file. Once, 8 of 12 such
combinations ran the attacker's command (issue 8, item 1).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import SpecError
from shipyard.plan.build import build_plan
from shipyard.plan.model import PlannedCommand
from shipyard.spec.loader import load_spec_text
from shipyard.spec.templating import TemplateProblem, references, substitute

MARKER = "PWNED"

HOSTILE = [
    f"; touch {MARKER}",
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"a\ntouch {MARKER}\nb",
    f"' ; touch {MARKER} ; '",
    f'" ; touch {MARKER} ; "',
    f"'\"$(touch {MARKER})\"'",
    f"\\'; touch {MARKER}; #",
    f'\\"; touch {MARKER}; #',
    "\\",
    f"$'\\x27'; touch {MARKER}",
    f"${{IFS}}touch${{IFS}}{MARKER}",
    f"x\n# c\ntouch {MARKER}",
    f"EOF\ntouch {MARKER}\nEOF",
    f"&& touch {MARKER} ||",
    f"| touch {MARKER}",
    f"> {MARKER}",
    "*",
    "",
    "  spaced  out  ",
    "-n",
    "café ☃ \t tab",
]

# (template, what "$1" must be for value v): each sets the positional parameters from the
# template, so "$#" tells whether the value stayed one word.
CONTEXTS = [
    ("set -- {{ x }}", lambda v: v),
    ("set -- '{{ x }}'", lambda v: v),
    ('set -- "{{ x }}"', lambda v: v),
    ("set -- 'a{{ x }}b'", lambda v: f"a{v}b"),
    ('set -- "a {{ x }} b"', lambda v: f"a {v} b"),
    ('set -- "it\'s {{ x }}"', lambda v: f"it's {v}"),
    ("set -- 'say \"{{ x }}\"'", lambda v: f'say "{v}"'),
    ("set -- \\'{{ x }}\\'", lambda v: f"'{v}'"),
    ('set -- "\\\\{{ x }}"', lambda v: f"\\{v}"),
    ("set -- a\\\n'{{ x }}'", lambda v: f"a{v}"),
    ("# it's a comment\nset -- '{{ x }}'", lambda v: v),
    ("v=$(printf '%s.' {{ x }}); set -- \"$v\"", lambda v: f"{v}."),
    ("v=$(printf '%s.' '{{ x }}'); set -- \"$v\"", lambda v: f"{v}."),
    ('set -- "$HOME" \'{{ x }}\' "{{ x }}"; shift; shift', lambda v: v),
    ('case {{ x }} in *) set -- "{{ x }}";; esac', lambda v: v),
]
REPORT = '\nprintf "%s|" "$#"; printf "%s" "$1"'


def spec_text(run: str, *, where: str = "step") -> str:
    """A spec whose one unit (a step, a prepare hook or a service) runs ``run`` with a shell."""
    command = f"{{run: {json.dumps(run)}, shell: true}}"
    body = {
        "step": f"steps:\n  a: {command}\n",
        "hook": f"hooks:\n  prepare: [{command}]\nsteps:\n  a: {{run: [true]}}\n",
        "service": f"services:\n  web: {command}\n",
    }[where]
    return f"name: inj\nparameters:\n  x: {{type: str, default: ''}}\n{body}"


def planned(run: str, value: str, where: str) -> PlannedCommand:
    plan = build_plan(load_spec_text(spec_text(run, where=where)), {"x": value})
    if where == "hook":
        return plan.prepare[0]
    if where == "service":
        return plan.services[0].command
    return plan.step("a").command


def run_planned(command: PlannedCommand, folder: Path) -> str:
    assert command.argv[:2] == ["/bin/sh", "-c"]
    done = subprocess.run(
        command.argv, cwd=folder, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
@pytest.mark.parametrize(("template", "word"), CONTEXTS, ids=[c[0] for c in CONTEXTS])
def test_a_hostile_value_stays_one_word_in_every_quoting_context(
    template: str, word: object, value: str, tmp_path: Path
) -> None:
    output = run_planned(planned(template + REPORT, value, "step"), tmp_path)
    assert not (tmp_path / MARKER).exists(), f"the value ran a command: {output!r}"
    assert output == f"1|{word(value)}"  # type: ignore[operator]


@pytest.mark.parametrize("where", ["hook", "service"])
@pytest.mark.parametrize("value", HOSTILE[:8], ids=repr)
def test_hooks_and_services_quote_the_same_way(where: str, value: str, tmp_path: Path) -> None:
    output = run_planned(planned("set -- 'v: {{ x }}'" + REPORT, value, where), tmp_path)
    assert not (tmp_path / MARKER).exists(), f"the value ran a command: {output!r}"
    assert output == f"1|v: {value}"


REFUSED = [
    ("echo `echo {{ x }}`", "inside backticks"),
    ('echo "$(echo {{ x }})"', "inside $(...) within double quotes"),
    ("echo \"$(echo '{{ x }}')\"", "inside $(...) within double quotes"),
    ("echo $'{{ x }}'", "inside $'...'"),
    ("cat <<EOF\n{{ x }}\nEOF", "after a here-document"),
    ("echo ${v:-{{ x }}}", "inside ${...}"),
    ("echo $(( {{ x }} + 1 ))", "inside $((...))"),
    ("echo hi # {{ x }}", "inside a comment"),
    ("echo \\{{ x }}", "right after a backslash"),
    ("echo ${{ x }}", "right after a '$'"),
    ("echo '{{ x }}", "ends inside single quotes"),
    ("v=$(case a in a) echo;; esac); echo '{{ x }}'", "after a case statement"),
]


@pytest.mark.parametrize("where", ["step", "hook", "service"])
@pytest.mark.parametrize(("template", "why"), REFUSED, ids=[r[0] for r in REFUSED])
def test_contexts_that_cannot_be_made_safe_are_refused_at_validation(
    template: str, why: str, where: str
) -> None:
    with pytest.raises(SpecError) as error:
        load_spec_text(spec_text(template, where=where), Path("/specs/inj.yaml"))
    (problem,) = error.value.problems
    assert "in a shell string" in problem.message and why in problem.message, problem.message
    assert problem.location is not None
    assert str(problem.location.path) == "/specs/inj.yaml"
    assert problem.location.line == {"step": 5, "hook": 5, "service": 5}[where]
    assert problem.hint is not None
    assert "drop" in problem.hint or "outside any quotes" in problem.hint
    assert '"$SHIPYARD_PARAM_X"' in problem.hint


# -- any template the check accepts, any value: the value never runs -----------------------------

FRAGMENTS = [
    "{{ x }}",
    "{{ x }}",
    "'",
    '"',
    "`",
    "$(",
    "$((",
    ")",
    "(",
    "${",
    "}",
    "\\",
    "#",
    "\n",
    " ",
    " ",
    "echo ",
    "printf %s ",
    ";",
    "|",
    "<<",
    "E",
    "case a in a) ",
    ";; esac",
    "$'",
    '$"',
    "$",
    "a",
    "=",
]
PAYLOADS = [
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"'; touch {MARKER}; '",
    f'"; touch {MARKER}; "',
    f"\ntouch {MARKER}\n",
    f"\\'; touch {MARKER}; #",
    f"')\ntouch {MARKER}\n#",
    f'"`touch {MARKER}`"',
    f"E\ntouch {MARKER}\nE",
    f"}}; touch {MARKER}; {{",
    f")); touch {MARKER}; ((",
]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12),
    at=st.integers(min_value=0, max_value=12),
    value=st.sampled_from(PAYLOADS),
)
def test_no_accepted_template_lets_a_value_run(parts: list[str], at: int, value: str) -> None:
    template = "".join([*parts[:at], "{{ x }}", *parts[at:]])
    try:
        references(template)  # validation's other check: only bare names
        command = substitute(template, {"x": value}, shell_quote=True)
    except TemplateProblem:  # ShellTemplateProblem included
        return  # refused: validation says so at file:line
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert not (Path(folder) / MARKER).exists(), f"{value!r} ran in {template!r}"
