"""The restricted call language of the ``integrate_python_api`` tool: pure parsing, no I/O.

A command is one call of a whitelisted operation with literal arguments, ``ops.NAME(args…)``
or ``NAME(args…)``, as Python writes it. It is parsed with ``ast.parse(mode="eval")`` and the
tree is checked node by node: the call's target must be a bare name or ``ops.NAME`` (no other
attribute, so no walk such as ``ops.__class__…`` or ``ops.store…``), NAME must be on the
whitelist, and every argument must be a literal — constants, lists/tuples/sets/dicts of
literals, a unary minus or plus on a number. Only then are the argument values built, each with
``ast.literal_eval`` of its own node. Nothing here evaluates, executes or compiles the text, and
nothing is called: :func:`parse` returns what to call, and the caller calls it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import ShipyardError

__all__ = ["MAX_COMMANDS", "MAX_COMMAND_CHARS", "Call", "CallRefused", "parse", "parse_all"]

#: Longer commands are refused before they are parsed (a deep or huge tree costs the parser).
MAX_COMMAND_CHARS = 4000
#: More commands than this in one request are refused.
MAX_COMMANDS = 50
#: Literals nested deeper than this are refused (lists in lists …).
MAX_DEPTH = 16

_HINT = (
    "write one call per command, ops.NAME(arg, key=value), with literal arguments only "
    "(text, numbers, true/false/None, lists, dicts); the describe action lists the names"
)


class CallRefused(ShipyardError):
    """A command that is not one whitelisted call with literal arguments; nothing ran."""


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed command: the operation to call and its argument values."""

    command: str
    method: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


def parse_all(commands: str | Sequence[str], allowed: Iterable[str]) -> list[Call]:
    """Every command (a list, or text with one per line; blank lines and ``#`` comments are
    skipped), all parsed before any runs: one refused command refuses the whole request."""
    lines = commands.splitlines() if isinstance(commands, str) else list(commands)
    kept = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not kept:
        raise CallRefused("no command given", hint=_HINT)
    if len(kept) > MAX_COMMANDS:
        raise CallRefused(
            f"{len(kept)} commands in one request; at most {MAX_COMMANDS}",
            hint="send them in several requests",
        )
    names = frozenset(allowed)
    return [_parse_one(number, text, names) for number, text in enumerate(kept, start=1)]


def parse(command: str, allowed: Iterable[str]) -> Call:
    """One command, checked; raises :class:`CallRefused` with the reason."""
    return _parse_one(1, command, frozenset(allowed))


def _parse_one(number: int, text: str, allowed: frozenset[str]) -> Call:
    if not isinstance(text, str):
        raise CallRefused(f"command {number} is not text", hint=_HINT)
    if len(text) > MAX_COMMAND_CHARS:
        raise CallRefused(
            f"command {number} is {len(text)} characters long; at most {MAX_COMMAND_CHARS}",
            hint=_HINT,
        )
    tree = _syntax(number, text)
    call = tree.body
    if not isinstance(call, ast.Call):
        raise CallRefused(
            f"command {number} is {_describe(call)}, not a call: {_short(text)}", hint=_HINT
        )
    method = _target(number, call.func, allowed)
    for position, argument in enumerate(call.args, start=1):
        _check_literal(number, f"argument {position}", argument, 0)
    for keyword in call.keywords:
        if keyword.arg is None:
            raise CallRefused(f"command {number}: **mapping arguments are refused", hint=_HINT)
        _check_literal(number, f"argument {keyword.arg}=", keyword.value, 0)
    return Call(
        command=text,
        method=method,
        args=[ast.literal_eval(argument) for argument in call.args],
        kwargs={str(k.arg): ast.literal_eval(k.value) for k in call.keywords},
    )


def _syntax(number: int, text: str) -> ast.Expression:
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise CallRefused(
            f"command {number} is not a single Python call: {error.msg}: {_short(text)}",
            hint=_HINT,
        ) from None
    except (RecursionError, MemoryError, ValueError):
        # ValueError: a NUL byte in the text; the others: nesting too deep for the parser.
        raise CallRefused(f"command {number} cannot be parsed", hint=_HINT) from None


def _target(number: int, func: ast.expr, allowed: frozenset[str]) -> str:
    """The operation a call names: ``NAME`` or ``ops.NAME``, nothing longer."""
    if isinstance(func, ast.Name):
        name = func.id
    elif (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "ops"
    ):
        name = func.attr
    else:
        raise CallRefused(
            f"command {number} calls {_describe(func)}; only ops.NAME(...) or NAME(...) is "
            "allowed (no attribute walks, no nested calls)",
            hint=_HINT,
        )
    if name.startswith("_") or name not in allowed:
        raise CallRefused(
            f"command {number}: {name!r} is not an operation this tool may call",
            hint="allowed: " + ", ".join(sorted(allowed)),
        )
    return name


#: Constants JSON can carry (no bytes, complex numbers or Ellipsis).
_CONSTANTS = (str, int, float, bool, type(None))


def _check_literal(number: int, where: str, node: ast.expr, depth: int) -> None:
    """Refuse anything but a literal, node by node (before ``ast.literal_eval`` sees it)."""
    if depth > MAX_DEPTH:
        raise CallRefused(
            f"command {number}, {where}: literals nested deeper than {MAX_DEPTH}", hint=_HINT
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, _CONSTANTS):
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        for item in node.elts:
            _check_literal(number, where, item, depth + 1)
        return
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise CallRefused(f"command {number}, {where}: **unpacking is refused", hint=_HINT)
            _check_literal(number, where, key, depth + 1)
            _check_literal(number, where, value, depth + 1)
        return
    raise CallRefused(
        f"command {number}, {where}: {_describe(node)} is not a literal; only text, numbers, "
        "true/false/None, lists, tuples, sets and dicts of them are allowed",
        hint=_HINT,
    )


_KINDS: dict[type[ast.AST], str] = {
    ast.Name: "a name",
    ast.Attribute: "an attribute",
    ast.Call: "a call",
    ast.Lambda: "a lambda",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Starred: "a starred argument",
    ast.NamedExpr: "an assignment (:=)",
    ast.Subscript: "a subscript",
    ast.BinOp: "an operator expression",
    ast.BoolOp: "a boolean expression",
    ast.Compare: "a comparison",
    ast.IfExp: "a conditional expression",
    ast.UnaryOp: "an operator expression",
    ast.Await: "an await",
    ast.Yield: "a yield",
    ast.YieldFrom: "a yield",
    ast.Constant: "a constant JSON cannot carry",
}


def _describe(node: ast.AST) -> str:
    kind = _KINDS.get(type(node), f"a {type(node).__name__} expression")
    if isinstance(node, ast.Name):
        return f"{kind} ({node.id})"
    if isinstance(node, ast.Attribute):
        return f"{kind} (.{node.attr})"
    return kind


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
