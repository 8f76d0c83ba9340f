"""Hostile specs, generated: loading one either succeeds or raises SpecError, and building the
plan of one that loads raises nothing but ShipyardError. Any other exception is a traceback a
user would see, and fails the test (issue 8: "a fuzz test fails on any traceback").

The specs are random structures over the spec's real keys (so they reach deep into validation,
not only the first unknown key) with hostile values: huge, negative and non-finite numbers, NUL
bytes, unicode, empty strings, wrong types, names that collide, shell strings with placeholders in
every quoting context; and YAML-level hostility: aliases (recursive, bombs), deep nesting, merge
keys, tags, duplicate keys. Bounded and reproducible: a fixed number of examples, derandomized.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shipyard.errors import ShipyardError, SpecError
from shipyard.plan.build import build_plan
from shipyard.plan.codec import encode
from shipyard.spec.loader import LoadedSpec, load_spec_text

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values ---------------------------------------------------------------------------------------

NAMES = ["a", "b", "x", "X", "web", "web-1", "web_1", "web-a", "web_a", "db", "a.b", "c1"]
HOSTILE_WORDS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "{{ x }}",
    "{{ y }}",
    "{{ X }}",
    "{{",
    "}}",
    "{{ x.y }}",
    "{{ }}",
    "$(touch PWNED)",
    "`id`",
    "'",
    '"',
    "\\",
    "-",
    "..",
    "../../etc/passwd",
    "/etc/passwd",
    "~",
    "A=B",
    "1h",
    "-1",
    "0",
    "1e999",
    ".inf",
    "nan",
    "auto",
    "TERM",
    "KILL",
    "healthy",
    "completed_successfully",
    "\u202e\u0301é☃",
    "\ud7ff\ue000",
    "x" * 300,
]
SHELL_STRINGS = [
    "echo {{ x }}",
    "echo '{{ x }}'",
    'echo "{{ x }}"',
    "echo `echo {{ x }}`",
    'echo "$(echo {{ x }})"',
    "echo $'{{ x }}'",
    "cat <<EOF\n{{ x }}\nEOF",
    "echo ${v:-{{ x }}}",
    "echo $(( {{ x }} ))",
    "echo # {{ x }}",
    "echo \\{{ x }}",
    "echo ${{ x }}",
    "echo '{{ x }}",
    "echo 'abc",
    "   ",
    "echo {{ y }} {{ x }}",
]

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 65535, 65536, 2**31, 2**63, 10**30, 10**400]),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -0.0, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
)
words = st.one_of(
    st.sampled_from(HOSTILE_WORDS),
    st.sampled_from(NAMES),
    st.text(max_size=12),
    st.text(alphabet="{} $'\"\\`;|&()<>#\n\t\x00ab=.-/", max_size=16),
)
scalars = st.one_of(words, numbers, st.booleans(), st.none())


def hostile(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes any scalar or a list: wrong types are part of it."""
    return st.one_of(strategy, strategy, strategy, scalars, st.lists(scalars, max_size=3))


def keyed(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A mapping of some of ``fields``, now and then with an unknown key."""
    return hostile(
        st.fixed_dictionaries({}, optional={**fields, "bogus": scalars, "": scalars, "<<": scalars})
    )


def named(value: st.SearchStrategy[Any], size: int = 4) -> st.SearchStrategy[Any]:
    return hostile(st.dictionaries(st.sampled_from(NAMES) | words, value, max_size=size))


durations = st.one_of(numbers, words, st.sampled_from(["30s", "0", "1h30m", "400d", "500ms"]))
sizes = st.one_of(numbers, words, st.sampled_from(["4M", "1GiB", "2PB", "1" * 40 + "T"]))
env = named(st.one_of(words, numbers, st.booleans()))
run = st.one_of(
    st.sampled_from(SHELL_STRINGS),
    words,
    st.lists(st.one_of(words, numbers), max_size=4),
    st.lists(st.one_of(st.sampled_from(["echo", "{{ x }}", ""]), words), min_size=1, max_size=3),
)
name_list = hostile(st.lists(st.sampled_from(NAMES) | words, max_size=4))
stop = keyed({"signal": words, "timeout": durations})
logs = keyed({"max_size": sizes, "keep": numbers})
parameter = st.one_of(
    scalars,
    keyed(
        {
            "type": st.sampled_from(["str", "int", "float", "bool", "list"]) | words,
            "default": scalars,
            "description": words,
            "choices": hostile(st.lists(scalars, max_size=3)),
            "test": scalars,
            "secret": hostile(st.booleans()),
        }
    ),
)
step = keyed(
    {
        "description": words,
        "run": run,
        "shell": hostile(st.booleans()),
        "needs": name_list,
        "env": env,
        "workdir": words,
        "timeout": durations,
        "retries": st.one_of(
            numbers,
            keyed(
                {
                    "count": numbers,
                    "backoff": durations,
                    "max_backoff": durations,
                    "jitter": st.booleans(),
                }
            ),
        ),
        "resources": keyed({"cpus": numbers, "memory": sizes}),
        "stop": stop,
        "enabled": hostile(st.booleans()),
        "inputs": hostile(st.lists(words, max_size=3)),
        "outputs": hostile(st.lists(words, max_size=3)),
        "checkpoint": keyed(
            {
                "paths": hostile(st.lists(words, max_size=2)),
                "signal": words,
                "ready_file": words,
                "timeout": durations,
            }
        ),
        "logs": logs,
    }
)
health = keyed(
    {
        "http": st.sampled_from(["/", "/health", "x"]) | words,
        "tcp": hostile(st.booleans()),
        "exec": run,
        "a2a": hostile(st.booleans()),
        "initial_delay": durations,
        "interval": durations,
        "start_interval": durations,
        "timeout": durations,
        "failure_threshold": numbers,
        "success_threshold": numbers,
    }
)
service = keyed(
    {
        "description": words,
        "run": run,
        "shell": hostile(st.booleans()),
        "env": env,
        "workdir": words,
        "port": st.one_of(numbers, st.just("auto"), words),
        "health": health,
        "readiness_timeout": durations,
        "restart": keyed(
            {
                "policy": st.sampled_from(["no", "on-failure", "always"]) | words,
                "max_restarts": numbers,
                "backoff": durations,
                "max_backoff": durations,
                "reset_after": durations,
            }
        ),
        "stop": stop,
        "depends_on": st.one_of(
            name_list,
            named(st.sampled_from(["started", "healthy", "completed_successfully", None])),
        ),
        "replicas": st.one_of(numbers, st.integers(min_value=1, max_value=4)),
        "logs": logs,
    }
)
hooks = keyed(
    {
        phase: st.one_of(run, hostile(st.lists(keyed({"run": run, "shell": st.booleans()}))))
        for phase in ("prepare", "cleanup")
    }
)
topology = keyed(
    {
        "type": st.sampled_from(["hub-spoke", "pipeline", "dag", "mesh", "hierarchical"]) | words,
        "hub": st.sampled_from(NAMES) | words,
        "spokes": name_list,
        "stages": hostile(st.lists(st.sampled_from(NAMES) | name_list, max_size=3)),
        "edges": named(name_list),
        "members": name_list,
        "levels": hostile(st.lists(name_list, max_size=3)),
    }
)
execution = keyed(
    {
        "max_parallel": numbers,
        "failure_strategy": st.sampled_from(["fail_fast", "continue"]) | words,
        "timeout": durations,
        "sample_interval": durations,
        "base_port": numbers,
        "deployment": st.sampled_from(["staged", "sequential", "parallel"]) | words,
        "on_service_failure": st.sampled_from(["keep-running", "stop-all"]) | words,
        "checkpoint_interval": durations,
        "keep_checkpoints": numbers,
        "logs": logs,
    }
)
specs = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(NAMES), words)},
    optional={
        "description": words,
        "parameters": named(parameter),
        "env": env,
        "execution": execution,
        "hooks": hooks,
        "steps": named(step),
        "services": named(service, size=3),
        "topology": topology,
        "bogus": scalars,
    },
)

# -- plausible specs: the right shapes with edge values, so that many load and reach the plan ----

BAD_REFERENCES = {"{{ X }}", "{{ x.y }}", "{{ }}"}
VALID_NAMES = ["a", "b", "x", "web", "web-1", "web_1", "web-a", "web_a", "db", "a.b", "X"]
ok_words = st.one_of(
    st.sampled_from([w for w in HOSTILE_WORDS if "\x00" not in w and w not in BAD_REFERENCES]),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=10,
    ),
)
ok_durations = st.one_of(
    st.sampled_from(["0", "1ms", "30s", "1h30m", "365d", 0, 0.5, 31_536_000]),
    st.floats(min_value=0, max_value=31_536_000),
)
ok_numbers = st.one_of(st.integers(min_value=0, max_value=2**40), st.sampled_from([0, 1, 2, 64]))
ok_run = st.one_of(
    st.sampled_from(SHELL_STRINGS).map(lambda text: {"run": text, "shell": True}),
    st.lists(ok_words, min_size=1, max_size=3).map(lambda argv: {"run": ["echo", *argv]}),
    ok_words.map(lambda text: {"run": f"echo {text}"}),
)
ok_names = st.lists(st.sampled_from(VALID_NAMES), max_size=3, unique=True)


@st.composite
def plausible_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Well-shaped specs whose values are extreme but mostly allowed: they load, and the plan
    built from them (with hostile -p values) is what is tested."""
    parameters = draw(
        st.dictionaries(
            st.sampled_from(["x", "y", "n"]),
            st.one_of(
                st.one_of(ok_words, st.integers(), st.floats(), st.booleans()),
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["str", "int", "float", "bool"])},
                    optional={"default": scalars, "test": scalars, "secret": st.booleans()},
                ),
            ),
            max_size=3,
        )
    )
    steps = draw(
        st.dictionaries(
            st.sampled_from(VALID_NAMES),
            st.builds(
                lambda command, extra: {**command, **extra},
                ok_run,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "needs": ok_names,
                        "env": st.dictionaries(st.sampled_from(["A", "B_1", "x"]), ok_words),
                        "timeout": st.one_of(ok_durations, durations),
                        "retries": st.one_of(
                            st.integers(min_value=0, max_value=2**63),
                            st.fixed_dictionaries(
                                {}, optional={"backoff": durations, "max_backoff": ok_durations}
                            ),
                        ),
                        "resources": st.fixed_dictionaries(
                            {},
                            optional={
                                "cpus": st.one_of(
                                    st.floats(min_value=0.01, max_value=1e6), numbers
                                ),
                                "memory": sizes,
                            },
                        ),
                        "stop": st.fixed_dictionaries({}, optional={"timeout": durations}),
                        "workdir": st.sampled_from(["sub", "{{ x }}", ".", "a/{{ y }}"]),
                        "inputs": st.lists(
                            st.sampled_from(["in", "{{ x }}", "d/{{ n }}"]), max_size=2
                        ),
                        "outputs": st.lists(st.sampled_from(["out", "{{ x }}"]), max_size=2),
                        "enabled": st.booleans(),
                    },
                ),
            ),
            min_size=1,
            max_size=4,
        )
    )
    spec: dict[str, Any] = {"name": draw(st.sampled_from(VALID_NAMES)), "steps": steps}
    # x, y and n are always declared (most commands use them); the drawn ones may replace them.
    spec["parameters"] = {"x": "", "y": "two words", "n": 1, **parameters}
    if draw(st.booleans()):
        spec["env"] = draw(st.dictionaries(st.sampled_from(["G", "H"]), ok_words, max_size=2))
    if draw(st.booleans()):
        spec["services"] = draw(
            st.dictionaries(
                st.sampled_from(VALID_NAMES),
                st.builds(
                    lambda command, extra: {**command, **extra},
                    ok_run,
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "replicas": st.integers(min_value=1, max_value=3),
                            "port": st.one_of(st.just("auto"), st.integers(1, 65535)),
                            "depends_on": ok_names,
                            "health": st.just({"tcp": True, "interval": "50ms"}),
                        },
                    ),
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        spec["hooks"] = {"prepare": [draw(ok_run)], "cleanup": [draw(ok_run)]}
    if draw(st.integers(0, 3)):  # mostly: dependencies name units that exist
        _only_known_dependencies(spec)
    if draw(st.booleans()):
        spec["execution"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "max_parallel": st.integers(min_value=1, max_value=2**63),
                    "timeout": ok_durations,
                    "deployment": st.sampled_from(["staged", "sequential", "parallel"]),
                    "base_port": st.integers(1, 65535),
                },
            )
        )
    return spec


def _only_known_dependencies(spec: dict[str, Any]) -> None:
    units = [*spec["steps"], *spec.get("services", {})]
    for name, body in spec["steps"].items():
        body["needs"] = [dep for dep in body.get("needs", []) if dep in units and dep != name]
    for name, body in spec.get("services", {}).items():
        deps = body.get("depends_on", [])
        body["depends_on"] = [dep for dep in deps if dep in units and dep != name]


# -- YAML-level hostility, added to the dumped text ------------------------------------------


def laughs(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


RAW = [
    "",
    "---\n",
    "a: &x {env: *x}\n",
    "env: &e [a, [b, *e]]\n",
    "[" * 3000,
    "[" * 200 + "]" * 200,
    laughs(8),
    "base: &b {run: [echo]}\nsteps:\n  a:\n    <<: *b\n",
    "x: !!python/object:os.system [id]\n",
    "x: !!binary aGk=\n",
    "x: 2001-12-14t21:59:43.10-05:00\n",
    "? [a, b]\n: c\n",
    "name: a\nname: b\n",
    "\ufeffname: bom\n",
    "\tname: tab\n",
    "name: a\n---\nname: b\n",
    "*undefined\n",
    "%YAML 1.1\n---\nname: p\n",
    "x: {a: 1, a: 2}\n",
]


@st.composite
def spec_texts(draw: st.DrawFn) -> str:
    data = draw(st.one_of(specs, plausible_specs(), plausible_specs()))
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    where = draw(st.sampled_from(["as is", "as is", "as is", "before", "after", "instead"]))
    if where == "as is":
        return text
    raw = draw(st.sampled_from(RAW))
    return {"before": raw + text, "after": text + raw, "instead": raw}[where]


overrides = st.dictionaries(
    st.sampled_from(NAMES), st.one_of(words, st.sampled_from(["nan", "inf", "1e999"])), max_size=2
)


def load_or_refuse(text: str) -> LoadedSpec | None:
    try:
        return load_spec_text(text)
    except SpecError as error:
        assert error.problems, "a SpecError without any problem"
        return None


# Earlier crashes, kept as fixed examples so they never come back.
@example(text="name: p\nsteps:\n  a: {run: [echo], timeout: .nan}\n", params={})
@example(text="name: p\nsteps:\n  a: {run: [echo], resources: {memory: .inf}}\n", params={})
@example(text="name: p\nsteps:\n  a: {run: [echo], resources: {cpus: .inf}}\n", params={})
@example(text="a: &x {env: *x}\n", params={})
@example(text="[" * 5000 + "]" * 5000, params={})
@example(text=laughs(9), params={})
@example(
    text="name: p\nparameters: {x: {type: float, default: 1.0}}\nsteps:\n  a: {run: [echo]}\n",
    params={"x": "nan"},
)
@pytest.mark.slow
@given(text=spec_texts(), params=overrides)
@FUZZ
def test_a_hostile_spec_loads_or_is_refused_and_its_plan_builds_or_is_refused(
    text: str, params: dict[str, str]
) -> None:
    loaded = load_or_refuse(text)
    if loaded is None:
        return
    for mode in ("normal", "test"):
        try:
            plan = build_plan(loaded, params, mode=mode, cores=2)  # type: ignore[arg-type]
        except ShipyardError:
            continue
        # plan.json and the plan cache are JSON: nothing non-finite may reach them.
        json.dumps(encode(plan), allow_nan=False)


@pytest.mark.slow
@given(data=plausible_specs(), params=overrides)
@FUZZ
def test_a_plausible_spec_with_extreme_values_builds_its_plan_or_says_why(
    data: dict[str, Any], params: dict[str, str]
) -> None:
    loaded = load_or_refuse(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    if loaded is None:
        return
    try:
        plan = build_plan(loaded, params, cores=2)
    except ShipyardError:
        return
    json.dumps(encode(plan), allow_nan=False)
