"""The restricted call language of ``integrate_python_api`` (shipyard.mcpserver.calllang):
hostile commands are refused with a reason, and nothing runs — the marker file a command would
create never exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.mcpserver.calllang import MAX_COMMAND_CHARS, Call, CallRefused, parse, parse_all

ALLOWED = frozenset({"status", "run", "list_executions", "pipeline_set"})

MARKER = "shipyard-calllang-marker"

HOSTILE = [
    (f"__import__('os').system('touch {MARKER}')", "calls an attribute"),
    ("__import__('os')", "'__import__' is not an operation"),
    ("ops.__class__.__init__.__globals__", "is an attribute (.__globals__), not a call"),
    ("ops.__class__.__init__.__globals__['os'].system('x')", "calls an attribute"),
    ("ops.store.connection.execute('DROP TABLE executions')", "calls an attribute"),
    ("ops.__init__()", "'__init__' is not an operation"),
    ("ops.close()", "'close' is not an operation"),
    ("eval('1')", "'eval' is not an operation"),
    ("exec('import os')", "'exec' is not an operation"),
    ("getattr(ops, 'store')", "'getattr' is not an operation"),
    ("status(lambda: __import__('os'))", "a lambda is not a literal"),
    ("status(f'{__import__(\"os\")}')", "an f-string is not a literal"),
    ("status([x for x in range(3)])", "a comprehension is not a literal"),
    ("status({k: 1 for k in 'ab'})", "a comprehension is not a literal"),
    ("status(*['a'])", "a starred argument is not a literal"),
    ("status(**{'execution_id': 'a'})", "**mapping arguments are refused"),
    ("status((x := 'a'))", "an assignment (:=) is not a literal"),
    ("status('abc'[0])", "a subscript is not a literal"),
    ("status(execution_id)", "a name (execution_id) is not a literal"),
    ("status(status())", "a call is not a literal"),
    ("status(ops.status())", "a call is not a literal"),
    ("status(__builtins__)", "a name (__builtins__) is not a literal"),
    ("status('a' + 'b')", "an operator expression is not a literal"),
    ("status(1 + 2j)", "an operator expression is not a literal"),
    ("status(2j)", "a constant JSON cannot carry"),
    ("status(b'bytes')", "a constant JSON cannot carry"),
    ("status(...)", "a constant JSON cannot carry"),
    ("status(-'a')", "an operator expression is not a literal"),
    ("status(not True)", "an operator expression is not a literal"),
    ("status('a' if True else 'b')", "a conditional expression is not a literal"),
    ("status({**{'a': 1}})", "**unpacking is refused"),
    ("status({'a': [1, {'b': ops}]})", "a name (ops) is not a literal"),
    ("import os", "not a single Python call"),
    ("status('a'); status('b')", "not a single Python call"),
    ("x = status('a')", "not a single Python call"),
    ("status", "is a name (status), not a call"),
    ("[status('a')]", "not a call"),
    ("other.status('a')", "calls an attribute"),
    ("ops.status('a').__class__()", "calls an attribute"),
    ("status('a\0')", "cannot contain null bytes"),
    ("status(" + "[" * 30 + "]" * 30 + ")", "nested deeper than 16"),
    ("status(" + "[" * 500 + "]" * 500 + ")", "too many nested parentheses"),
    ("status(" + "-" * 3000 + "1)", "cannot be parsed"),
    ("status(--1)", "an operator expression is not a literal"),
    ("status('" + "a" * MAX_COMMAND_CHARS + "')", "characters long"),
    ("status(" * 10_000, "characters long"),
]


@pytest.mark.parametrize(("command", "reason"), HOSTILE)
def test_a_hostile_command_is_refused_with_its_reason_and_nothing_runs(
    command: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CallRefused) as refused:
        parse_all([command], ALLOWED)
    assert reason in refused.value.message
    assert refused.value.hint
    assert not (tmp_path / MARKER).exists()


def test_one_refused_command_refuses_the_whole_request() -> None:
    with pytest.raises(CallRefused, match="command 2"):
        parse_all(["status('a')", "status(x)"], ALLOWED)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ops.status('e1')", Call("ops.status('e1')", "status", ["e1"], {})),
        ("status()", Call("status()", "status", [], {})),
        (
            "run('spec.yaml', {'n': -3, 'f': +1.5, 'b': True, 'x': None}, mode='test')",
            Call(
                "run('spec.yaml', {'n': -3, 'f': +1.5, 'b': True, 'x': None}, mode='test')",
                "run",
                ["spec.yaml", {"n": -3, "f": 1.5, "b": True, "x": None}],
                {"mode": "test"},
            ),
        ),
        (
            "pipeline_set('p', {'sizes': [1, 2], 't': (1, 'a')}, unset={'z'})",
            Call(
                "pipeline_set('p', {'sizes': [1, 2], 't': (1, 'a')}, unset={'z'})",
                "pipeline_set",
                ["p", {"sizes": [1, 2], "t": (1, "a")}],
                {"unset": {"z"}},
            ),
        ),
    ],
)
def test_a_whitelisted_call_with_literals_is_parsed(command: str, expected: Call) -> None:
    assert parse(command, ALLOWED) == expected


def test_text_with_one_command_a_line_skips_blanks_and_comments() -> None:
    calls = parse_all("# look first\nops.status('a')\n\nlist_executions(limit=2)\n", ALLOWED)
    assert [(call.method, call.args, call.kwargs) for call in calls] == [
        ("status", ["a"], {}),
        ("list_executions", [], {"limit": 2}),
    ]


@pytest.mark.parametrize(
    ("commands", "reason"),
    [
        ([], "no command given"),
        ("\n# only a comment\n", "no command given"),
        (["status()"] * 51, "51 commands in one request"),
    ],
)
def test_empty_or_oversized_requests_are_refused(commands: list[str] | str, reason: str) -> None:
    with pytest.raises(CallRefused, match=reason):
        parse_all(commands, ALLOWED)


@pytest.mark.parametrize(
    ("methods", "confirm", "refused"),
    [
        (["status", "list_executions"], False, []),
        (["status", "stop"], False, ["stop"]),
        (["stop", "clean", "stop"], False, ["stop", "clean"]),
        (["stop", "clean"], True, []),
        (["pipeline_remove"], False, ["pipeline_remove"]),
        (["run", "up", "resume"], False, []),
    ],
)
def test_destructive_api_calls_need_confirmation(
    methods: list[str], confirm: bool, refused: list[str]
) -> None:
    from shipyard.mcpserver.api_tool import needs_confirmation

    assert needs_confirmation(methods, confirm) == refused
