"""The browser tests themselves: waits that work under the site's Content-Security-Policy.

`page.wait_for_function` with a bare expression ("window.done") evaluates that string with
`eval` on every poll; the site's policy has no 'unsafe-eval', so the wait fails as soon as the
condition is not already true on the first check (a race that failed CI once). A function
("() => window.done") is compiled once, outside the policy, and polls fine. This test reads
every browser test and refuses a bare expression.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

FUNCTION_FORM = re.compile(r"^\s*(\(\s*[\w\s,]*\)|\w+)\s*=>")


def _first_text(node: ast.expr) -> str | None:
    """The leading literal text of a string or f-string argument (None if not a string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        head = node.values[0] if node.values else None
        return head.value if isinstance(head, ast.Constant) else ""
    return None


def bare_expression_waits(source: str) -> list[int]:
    """Line numbers of wait_for_function calls whose predicate is not written as a function."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "wait_for_function" and node.args):  # fmt: skip
            text = _first_text(node.args[0])
            if text is not None and not FUNCTION_FORM.match(text):
                lines.append(node.lineno)
    return lines


def test_the_check_tells_the_two_forms_apart():
    assert bare_expression_waits('page.wait_for_function("window.done === true")') == [1]
    assert bare_expression_waits('page.wait_for_function(f"x > {n}")') == [1]
    assert bare_expression_waits('page.wait_for_function("() => window.done")') == []
    assert bare_expression_waits('page.wait_for_function("s => f(s)", arg=1)') == []
    assert bare_expression_waits('page.wait_for_function("(a, b) => a < b", arg=[1, 2])') == []


@pytest.mark.parametrize(
    "path", sorted(Path(__file__).parent.glob("test_*.py")), ids=lambda p: p.name
)
def test_every_wait_is_a_function(path):
    assert bare_expression_waits(path.read_text(encoding="utf-8")) == [], (
        f"{path.name}: write the wait_for_function predicate as '() => ...' (CSP forbids eval)"
    )
