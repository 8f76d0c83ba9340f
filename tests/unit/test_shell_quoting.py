"""Where each placeholder of a shell string sits, and the places no quoting can make safe.

Pure decisions of :func:`shell_slots`; the same templates are run through /bin/sh with hostile
values in tests/integration/test_shell_injection.py.
"""

from __future__ import annotations

import pytest

from shipyard.spec.templating import ShellTemplateProblem, shell_slots, substitute


@pytest.mark.parametrize(
    ("text", "contexts"),
    [
        ("echo {{ x }}", ["plain"]),
        ("echo '{{ x }}'", ["single"]),
        ('echo "{{ x }}"', ["double"]),
        ('echo "it\'s {{ x }}"', ["double"]),
        ("echo 'say \"{{ x }}\"'", ["single"]),
        ("echo \\'{{ x }}", ["plain"]),
        ('echo "\\"{{ x }}"', ["double"]),
        ('echo "\\\\{{ x }}"', ["double"]),
        ("echo $(printf %s {{ x }})", ["plain"]),
        ("echo $(printf %s '{{ x }}') \"{{ x }}\"", ["single", "double"]),
        ("echo $(echo $(echo '{{ x }}'))", ["single"]),
        ("echo $((1 + 2)) {{ x }}", ["plain"]),
        ("echo ${HOME:-/} '{{ x }}'", ["single"]),
        ("echo `date` '{{ x }}'", ["single"]),
        ('echo "`date`" "{{ x }}"', ["double"]),
        ("# it's a comment\necho '{{ x }}'", ["single"]),
        ("echo a#b '{{ x }}'", ["single"]),
        ("case {{ x }} in a) echo '{{ x }}';; esac", ["plain", "single"]),
        ("echo a\\\n'{{ x }}'", ["single"]),
        ("echo '$' \"{{ x }}\"", ["double"]),
        ("echo '${{ x }}'", ["single"]),
        ("echo plain", []),
    ],
)
def test_each_placeholder_gets_its_quoting_context(text: str, contexts: list[str]) -> None:
    assert [slot.context for slot in shell_slots(text)] == contexts


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("echo `echo {{ x }}`", "inside backticks"),
        ("echo `\\{{ x }}`", "inside backticks"),
        ("echo $'\\{{ x }}'", "inside $'...'"),
        ('echo "`echo {{ x }}`"', "inside backticks"),
        ("echo `echo '{{ x }}'`", "inside backticks"),
        ('echo "$(echo {{ x }})"', "inside $(...) within double quotes"),
        ("echo \"$(echo '{{ x }}')\"", "inside $(...) within double quotes"),
        ('echo "$(echo "{{ x }}")"', "inside $(...) within double quotes"),
        ("echo $'{{ x }}'", "inside $'...'"),
        ("cat <<EOF\n{{ x }}\nEOF", "after a here-document"),
        ("cat <<'EOF'\n{{ x }}\nEOF", "after a here-document"),
        ("cat <<EOF >{{ x }}\nbody\nEOF", "after a here-document"),
        ("echo ${v:-{{ x }}}", "inside ${...}"),
        ('echo "${v:-{{ x }}}"', "inside ${...}"),
        ('echo ${v:-"a"} {{ x }}', "after quotes inside ${...}"),
        ("echo $(( {{ x }} + 1 ))", "inside $((...))"),
        ("echo hi # {{ x }}", "inside a comment"),
        ("echo hi;# '{{ x }}'", "inside a comment"),
        ("echo \\{{ x }}", "right after a backslash"),
        ('echo "\\{{ x }}"', "right after a backslash"),
        ("echo ${{ x }}", "right after a '$'"),
        ('echo "${{ x }}"', "right after a '$'"),
        ("echo '{{ x }}", "ends inside single quotes"),
        ('echo "{{ x }}', "ends inside double quotes"),
        ("echo {{ x }} $(echo", "ends inside $(...)"),
        ('v=$(case a in a) echo hi;; esac); echo "{{ x }}"', "after a case statement"),
    ],
)
def test_placeholders_no_quoting_can_make_safe_are_refused(text: str, why: str) -> None:
    with pytest.raises(ShellTemplateProblem) as problem:
        shell_slots(text)
    assert why in problem.value.message
    assert '"$SHIPYARD_PARAM_X"' in problem.value.hint


def test_substitute_refuses_them_too_so_a_plan_never_holds_one() -> None:
    with pytest.raises(ShellTemplateProblem):
        substitute("echo `echo {{ x }}`", {"x": "$(id)"}, shell_quote=True)


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("echo {{ x }}", "a b", "echo 'a b'"),
        ("echo '{{ x }}'", "a b", "echo '''a b'''"),
        ("echo 'pre {{ x }} post'", "it's", "echo 'pre ''it'\"'\"'s'' post'"),
        ('echo "{{ x }}"', "$(id)", 'echo ""\'$(id)\'""'),
        ("echo {{ x }}", "", "echo ''"),
        ("echo {{ x }} and {{ y }}", "1", "echo 1 and two"),
    ],
)
def test_values_are_quoted_for_their_context(text: str, value: str, expected: str) -> None:
    assert substitute(text, {"x": value, "y": "two"}, shell_quote=True) == expected


def test_a_shell_string_without_placeholders_is_left_alone() -> None:
    text = 'echo `date` "$(cat <<EOF\nhi\nEOF\n)" \''
    assert shell_slots(text) == []
    assert substitute(text, {}, shell_quote=True) == text
