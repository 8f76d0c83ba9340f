"""``{{ name }}`` substitution: parameter names only, no expressions, no code execution.

One more form names what an upstream step handed over: ``{{ inputs.<step> }}`` is that step's
artifacts folder, in a step's ``run`` command. The run folder is known only when an execution
starts, so the plan keeps it as ``"$SHIPYARD_INPUT_<STEP>"`` in a shell string (the variable the
engine sets) and as the placeholder itself in an argv word, which the engine fills in
(:func:`fill_inputs`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*|inputs\.[A-Za-z0-9][A-Za-z0-9_.-]*)\s*$")
#: What a reference to an upstream step's artifacts starts with: ``{{ inputs.prepare }}``.
INPUTS = "inputs."
#: The variable naming an upstream step's artifacts folder: ``SHIPYARD_INPUT_<STEP>``.
INPUT_PREFIX = "SHIPYARD_INPUT_"
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


class TemplateProblem(ValueError):
    """A placeholder that is not a bare name."""


def references(text: str) -> list[str]:
    """The parameter names ``text`` refers to, in order (``inputs.<step>`` for an upstream
    step's artifacts); TemplateProblem for anything else."""
    names = []
    for match in PLACEHOLDER.finditer(text):
        name = _NAME.match(match.group(1))
        if not name:
            raise TemplateProblem(
                f"'{match.group(0)}' is not a parameter reference; only '{{{{ name }}}}' is "
                "allowed (and '{{ inputs.STEP }}' in a step's run)"
            )
        names.append(name.group(1))
    return names


def input_variable(step: str) -> str:
    """``SHIPYARD_INPUT_<STEP>``: the step's name upper-cased, every character that is not a
    letter or a digit made ``_`` (``prep-data.v2`` → ``SHIPYARD_INPUT_PREP_DATA_V2``)."""
    return INPUT_PREFIX + _NOT_ALNUM.sub("_", step).upper()


def input_step(name: str) -> str | None:
    """The step a reference names when it is ``inputs.<step>``, else None."""
    return name[len(INPUTS) :] if name.startswith(INPUTS) else None


def fill_inputs(word: str, folders: Mapping[str, str]) -> str:
    """An argv word with each ``{{ inputs.<step> }}`` made that step's artifacts folder
    (``folders``: step → folder); other text, braces included, is left as it is."""
    if "{{" not in word:
        return word

    def folder(match: re.Match[str]) -> str:
        step = input_step(match.group(1).strip())
        return folders.get(step, match.group(0)) if step is not None else match.group(0)

    return PLACEHOLDER.sub(folder, word)


def substitute(text: str, values: Mapping[str, str], *, shell_quote: bool = False) -> str:
    """Replace every ``{{ name }}``. In shell strings each value reaches the shell as exactly one
    word whatever quotes surround the placeholder (see :func:`shell_slots`)."""
    if "{{" not in text:
        return text
    if shell_quote:
        return _substitute_shell(text, values)
    return PLACEHOLDER.sub(lambda match: values[match.group(1).strip()], text)


def _substitute_shell(text: str, values: Mapping[str, str]) -> str:
    parts: list[str] = []
    position = 0
    for slot in shell_slots(text):
        step = input_step(slot.name)
        # An upstream step's folder is known when the step starts: the shell expands the
        # variable the engine sets then, inside double quotes, so it stays one word.
        quoted = f'"${{{input_variable(step)}}}"' if step else shlex.quote(values[slot.name])
        # Inside '...' or "...": close the quotes, put the quoted value, open them again.
        mark = {"plain": "", "single": "'", "double": '"'}[slot.context]
        parts += [text[position : slot.start], mark, quoted, mark]
        position = slot.end
    parts.append(text[position:])
    return "".join(parts)


# -- where each placeholder of a shell string sits ----------------------------------------------

SlotContext = Literal["plain", "single", "double"]


@dataclass(frozen=True)
class ShellSlot:
    """A placeholder of a shell string and the quoting it sits in."""

    start: int
    end: int
    name: str
    context: SlotContext


class ShellTemplateProblem(TemplateProblem):
    """A placeholder where no quoting of its value can keep it one word."""

    def __init__(self, message: str, name: str) -> None:
        self.message = message
        self.name = name
        super().__init__(message)

    @property
    def hint(self) -> str:
        return (
            f"write {{{{ {self.name} }}}} outside any quotes (Shipyard quotes the value itself), "
            f'or use "$SHIPYARD_PARAM_{self.name.upper()}" instead of the placeholder'
        )


@dataclass
class _Frame:
    """One level of the shell's reading: plain words, a quote, a substitution, a comment."""

    kind: str  # plain, subst, single, double, backtick, param, arith, comment, ansi
    in_double: bool = False  # somewhere inside "...": a $(...) in it cannot be followed
    depth: int = 0  # open parentheses (subst, arith) or braces (param) inside this frame


# Why a placeholder cannot be made one word in each frame that has no safe quoting.
_UNSAFE = {
    "backtick": "inside backticks (`...`), where quotes in the value would end the command",
    "param": "inside ${...}, whose quoting differs between shells",
    "arith": "inside $((...)), where a value is arithmetic, not a word",
    "comment": "inside a comment (# ...), which a newline in the value would end",
    "ansi": "inside $'...', whose escapes a value could use to end it",
}
_OPERATORS = frozenset(" \t\n;&|()<>")
_DOUBLE_ESCAPES = frozenset('$`"\\\n')


class _ShellScanner:
    """Follows the quoting of a POSIX shell string as far as placeholders need it.

    What it cannot follow for sure (a ``case`` inside ``$(...)``, quotes inside ``${...}``, a
    here-document) makes every later placeholder a problem: a wrong guess would be an injection.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.stack = [_Frame("plain")]
        self.slots: list[ShellSlot] = []
        self.lost: str | None = None  # why the quoting after this point cannot be followed

    def scan(self) -> list[ShellSlot]:
        i = 0
        while i < len(self.text):
            match = PLACEHOLDER.match(self.text, i)
            if match:
                self._slot(match)
                i = match.end()
            else:
                i = self._step(i)
        if len(self.stack) > 1 and self.slots:
            name = self.slots[-1].name
            what = _OPEN_NAMES.get(self.stack[-1].kind, "a construct")
            raise ShellTemplateProblem(
                f"the shell string ends inside {what} that is never closed, so where "
                f"{{{{ {name} }}}} sits cannot be told",
                name,
            )
        # Every placeholder the substitution would see must have been placed: one skipped over
        # would stay in the command as it is written (or worse, be read in the wrong quoting).
        found = [match.start() for match in PLACEHOLDER.finditer(self.text)]
        if found != [slot.start for slot in self.slots]:
            name = next(iter(PLACEHOLDER.finditer(self.text))).group(1).strip()
            raise ShellTemplateProblem(
                "a placeholder overlaps other text (like '{{{ x }}'), so where its value goes "
                "cannot be told",
                name,
            )
        return self.slots

    def _slot(self, match: re.Match[str]) -> None:
        name = match.group(1).strip()
        frame = self.stack[-1]
        why = self.lost or _UNSAFE.get(frame.kind)
        if why is None and frame.in_double:
            why = "inside $(...) within double quotes, which Shipyard cannot quote for"
        if why is not None:
            raise ShellTemplateProblem(f"{{{{ {name} }}}} is {why}", name)
        context: SlotContext = "plain" if frame.kind in ("plain", "subst") else frame.kind  # type: ignore[assignment]
        self.slots.append(ShellSlot(match.start(), match.end(), name, context))

    def _step(self, i: int) -> int:
        frame = self.stack[-1]
        kind = "plain" if frame.kind == "subst" else frame.kind
        return _STEPS[kind](self, i, frame)

    def _push(self, kind: str, depth: int = 0) -> None:
        parent = self.stack[-1]
        in_double = parent.in_double or parent.kind == "double"
        self.stack.append(_Frame(kind, in_double, depth))

    def _escape(self, i: int, *, only: frozenset[str] | None = None) -> int:
        """A backslash at ``i``: the next character is taken literally (in "..." only some)."""
        if PLACEHOLDER.match(self.text, i + 1):
            name = PLACEHOLDER.match(self.text, i + 1).group(1).strip()  # type: ignore[union-attr]
            raise ShellTemplateProblem(
                f"{{{{ {name} }}}} is right after a backslash, which would escape its quoting",
                name,
            )
        following = self.text[i + 1 : i + 2]
        return i + 2 if only is None or following in only else i + 1

    def _dollar(self, i: int) -> int | None:
        """``$(``, ``$((``, ``${``, ``$'`` at ``i``: push their frame; None if none of them."""
        text = self.text
        placeholder = PLACEHOLDER.match(text, i + 1)
        if placeholder:  # ${{ x }} is neither ${...} nor a quotable word
            name = placeholder.group(1).strip()
            raise ShellTemplateProblem(
                f"{{{{ {name} }}}} is right after a '$', which would turn its quoted value into "
                "$'...', a quoting with escapes of its own",
                name,
            )
        if text.startswith("$((", i):
            self._push("arith", depth=2)
            return i + 3
        if text.startswith("$(", i):
            self._push("subst")
            return i + 2
        if text.startswith("${", i):
            self._push("param", depth=1)
            return i + 2
        if text.startswith("$'", i) and self.stack[-1].kind != "double":
            self._push("ansi")
            return i + 2
        return None

    # -- one character (or construct) in each kind of frame --------------------------------------

    def _plain(self, i: int, frame: _Frame) -> int:
        char = self.text[i]
        opened = {"'": "single", '"': "double", "`": "backtick"}.get(char)
        if opened:
            self._push(opened)
            return i + 1
        if char == "\\":
            return self._escape(i)
        if char == "$":
            return self._dollar(i) or i + 1
        if char == "#" and (i == 0 or self.text[i - 1] in _OPERATORS):
            self._push("comment")
        elif self.text.startswith("<<", i):
            self.lost = self.lost or "after a here-document (<<), whose body a value could end"
            return i + 2
        elif frame.kind == "subst":
            self._subst_char(i, frame)
        return i + 1

    def _subst_char(self, i: int, frame: _Frame) -> None:
        """Parentheses inside $(...) nest; a ``case`` makes its ``)`` ambiguous."""
        char = self.text[i]
        if char == "(":
            frame.depth += 1
        elif char == ")":
            if frame.depth == 0:
                self.stack.pop()
            else:
                frame.depth -= 1
        elif self.text.startswith("case", i) and (i == 0 or self.text[i - 1] in _OPERATORS):
            self.lost = self.lost or "after a case statement inside $(...), which it cannot follow"

    def _single(self, i: int, frame: _Frame) -> int:
        if self.text[i] == "'":
            self.stack.pop()
        return i + 1

    def _double(self, i: int, frame: _Frame) -> int:
        char = self.text[i]
        if char == '"':
            self.stack.pop()
        elif char == "\\":
            return self._escape(i, only=_DOUBLE_ESCAPES)
        elif char == "`":
            self._push("backtick")
        elif char == "$":
            return self._dollar(i) or i + 1
        return i + 1

    def _backtick(self, i: int, frame: _Frame) -> int:
        char = self.text[i]
        if char == "\\":
            return self._skip_escaped(i)
        if char == "`":
            self.stack.pop()
        return i + 1

    def _counted(self, i: int, frame: _Frame) -> int:
        """${...} and $((...)): nesting counted; quotes inside them are not followed."""
        char = self.text[i]
        opening, closing = ("{", "}") if frame.kind == "param" else ("(", ")")
        if char in "'\"`\\":
            self.lost = self.lost or f"after quotes inside {_OPEN_NAMES[frame.kind]}"
        elif char == opening:
            frame.depth += 1
        elif char == closing:
            frame.depth -= 1
            if frame.depth == 0:
                self.stack.pop()
        return i + 1

    def _skip_escaped(self, i: int) -> int:
        """Past a backslash and what it escapes, but never past the start of a placeholder:
        the next turn must see it (and refuse it where it is)."""
        return i + 1 if PLACEHOLDER.match(self.text, i + 1) else i + 2

    def _comment(self, i: int, frame: _Frame) -> int:
        if self.text[i] == "\n":
            self.stack.pop()
        return i + 1

    def _ansi(self, i: int, frame: _Frame) -> int:
        if self.text[i] == "\\":
            return self._skip_escaped(i)
        if self.text[i] == "'":
            self.stack.pop()
        return i + 1


_STEPS = {
    "plain": _ShellScanner._plain,
    "single": _ShellScanner._single,
    "double": _ShellScanner._double,
    "backtick": _ShellScanner._backtick,
    "param": _ShellScanner._counted,
    "arith": _ShellScanner._counted,
    "comment": _ShellScanner._comment,
    "ansi": _ShellScanner._ansi,
}
_OPEN_NAMES = {
    "subst": "$(...)",
    "single": "single quotes",
    "double": "double quotes",
    "backtick": "backticks",
    "param": "${...}",
    "arith": "$((...))",
    "ansi": "$'...'",
    "comment": "a comment",
}


def shell_slots(text: str) -> list[ShellSlot]:
    """Each placeholder of the shell string ``text`` with the quoting it sits in.

    ShellTemplateProblem for a placeholder no quoting can keep one word: inside backticks,
    ``$(...)`` within double quotes, ``${...}``, ``$((...))``, ``$'...'``, a comment, after a
    here-document, right after a backslash or a ``$``, or in a string whose quotes never close.
    """
    if "{{" not in text:
        return []
    return _ShellScanner(text).scan()
