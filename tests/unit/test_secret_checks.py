"""Where a secret parameter may appear in a spec: a table of placements (no I/O)."""

from __future__ import annotations

import textwrap

import pytest

from shipyard.errors import SpecError
from shipyard.spec.loader import load_spec_text

HEAD = """\
name: t
parameters:
  token: {secret: true%s}
"""


def problems(parameter_extra: str, body: str) -> list[str]:
    text = HEAD % parameter_extra + textwrap.dedent(body)
    try:
        load_spec_text(text)
    except SpecError as error:
        return [
            f"{p.location.line}: {p.message}" if p.location else p.message for p in error.problems
        ]
    return []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "steps: {a: {run: [echo, '{{ token }}']}}\n",
            "4: secret parameter 'token' is used in a command",
        ),
        (
            "steps: {a: {run: 'echo x{{ token }}y', shell: true}}\n",
            "4: secret parameter 'token' is used in a command",
        ),
        (
            "steps: {a: {run: 'echo {{ token }}'}}\n",
            "4: secret parameter 'token' is used in a command",
        ),
        (
            "hooks: {prepare: ['echo {{ token }}']}\nsteps: {a: {run: [true]}}\n",
            "4: secret parameter 'token' is used in a command",
        ),
        (
            "services: {s: {run: [sleep, '{{ token }}']}}\n",
            "4: secret parameter 'token' is used in a command",
        ),
        (
            "steps: {a: {run: [true], workdir: 'w/{{ token }}'}}\n",
            "4: secret parameter 'token' is used in a workdir",
        ),
        (
            "steps: {a: {run: [true], inputs: ['{{ token }}.txt']}}\n",
            "4: secret parameter 'token' is used in a declared input path",
        ),
        (
            "steps: {a: {run: [true], outputs: ['{{ token }}']}}\n",
            "4: secret parameter 'token' is used in a declared output path",
        ),
        (
            "services: {s: {run: [x], health: {exec: [check, '--token={{ token }}']}}}\n",
            "4: secret parameter 'token' is used in a command",
        ),
        (
            "services: {s: {run: [x], workdir: 'w/{{ token }}'}}\n",
            "4: secret parameter 'token' is used in a workdir",
        ),
        (
            "steps: {a: {run: [true], checkpoint: {paths: ['{{ token }}']}}}\n",
            "4: secret parameter 'token' is used in a checkpoint path",
        ),
        (
            "steps: {a: {run: [true], checkpoint: {paths: [c], ready_file: '{{ token }}'}}}\n",
            "4: secret parameter 'token' is used in a checkpoint ready_file",
        ),
    ],
    ids=[
        "argv",
        "shell",
        "split-string",
        "hook",
        "service",
        "workdir",
        "inputs",
        "outputs",
        "health-exec",
        "service-workdir",
        "checkpoint-paths",
        "checkpoint-ready-file",
    ],
)
def test_a_secret_outside_env_values_is_refused(body: str, expected: str) -> None:
    found = [p.split(":")[0] + ":" + p.split(":")[1] for p in problems("", body) if "secret" in p]
    assert found == [expected]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (", default: abc", "has a default written in the spec"),
        (", test: abc", "has a test written in the spec"),
        (", choices: [a, b]", "has a choices written in the spec"),
        (", type: int", "is an int; a secret is a str"),
    ],
)
def test_a_secrets_value_is_never_written_in_the_spec(extra: str, expected: str) -> None:
    found = problems(extra, "steps: {a: {run: [true]}}\n")
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    "body",
    [
        "env: {AUTH: 'Bearer {{ token }}'}\nsteps: {a: {run: [true]}}\n",
        "steps: {a: {run: [true], env: {T: '{{ token }}'}}}\n",
        "services: {s: {run: [sleep, '1'], env: {T: 'x{{ token }}'}}}\n",
        "steps: {a: {run: 'echo \"$SHIPYARD_PARAM_TOKEN\"', shell: true}}\n",
        # A unit named like a field: its env values are env values all the same.
        "steps: {run: {run: [true], env: {T: '{{ token }}'}}}\n",
        "services: {health: {run: [x], env: {T: '{{ token }}'}}}\n",
    ],
    ids=["spec-env", "step-env", "service-env", "shell-variable", "step-run", "service-health"],
)
def test_a_secret_in_an_env_value_is_fine(body: str) -> None:
    assert problems("", body) == []
