"""The walks without a filter per list, and the quiet skip bounded by depth, not by
node count (session 16, issue #17).

A quiet body of more than 100 nodes is now skipped when no node lies more than 100
levels down: every route to a trigger and every payload that needs none must still
fire in such a body (each case of ``test_sabotage_quiet`` padded past 100 nodes),
and a body deeper than that is still walked (it can overflow the stack: blocks)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.test_sabotage_quiet import CASES
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import quiet as qt
from traingate.checks.sabotage.analysis import analyze

ROOT = Path(__file__).resolve().parent


def _pad(source: str, n: int = 60) -> str:
    """``n`` plain assignments appended to the last function's body: more than 100
    nodes, two levels deep, no line of the case moved."""
    fn = [x for x in ast.walk(ast.parse(source)) if isinstance(x, ast.FunctionDef)][-1]
    indent = " " * fn.body[0].col_offset
    return source.rstrip("\n") + "\n" + "".join(f"{indent}_pad{i} = {i}\n" for i in range(n))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_large_shallow_body_still_fires_on_every_route(name: str) -> None:
    source, expected = CASES[name]
    padded = _pad(source)
    fn = [x for x in ast.walk(ast.parse(padded)) if isinstance(x, ast.FunctionDef)][-1]
    assert len(nd.walk_local(fn.body)) > qt.SHALLOW and nd.shallow(fn.body, qt.SHALLOW)
    got = [(h.rule, h.line, h.col, h.lines) for h in analyze(padded, "train.py")]
    assert got == expected


def test_a_large_quiet_body_deeper_than_the_bound_is_walked_and_blocks() -> None:
    """2,000 nodes, but 1,000 levels: the skip must not take it (deep.py.fixture)."""
    pad = " + ".join(["x"] * 1000)
    with pytest.raises(RecursionError):
        analyze(f"def total(x):\n    y = 1\n    return {pad}\n", "train/deep.py")


_SKIP: tuple[type, ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_SKIP += (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)


def _depth(body: list[ast.stmt]) -> int:
    todo: list[tuple[ast.AST, int]] = [(st, 1) for st in body]
    best = 0
    while todo:
        node, d = todo.pop()
        best = max(best, d)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _SKIP):
                todo.append((child, d + 1))
    return best


@pytest.mark.parametrize("terms", [2, 50, 99, 100, 101, 102, 150])
def test_shallow_is_the_depth_at_the_bound(terms: int) -> None:
    body = ast.parse(f"def f(x):\n    return {' + '.join(['x'] * terms)}\n").body[0]
    assert isinstance(body, ast.FunctionDef)
    d = _depth(body.body)
    for limit in (d - 1, d, qt.SHALLOW):
        assert nd.shallow(body.body, limit) is (d <= limit)


# Lists that hold what is not a node: ``**`` in a dict, keyword-only arguments
# without a default, global and nonlocal names, a class pattern's attribute names;
# definitions and lambdas at each depth.
_ODD = """
def f(a, *, b, c=1, **kw):
    global G
    d = {**kw, "x": lambda y: y}
    def g():
        nonlocal d
        class K:
            z = [v for v in d if v]
        return K
    match a:
        case Point(x=0, y=[1, *rest]) | {"k": 2, **others}:
            pass
    return g, (lambda: d)(), f"{a!r:>{b}}"
"""


def _old_children(node: ast.AST) -> list[ast.AST]:
    return [
        c
        for f in nd.fields(type(node))
        for v in [getattr(node, f, None)]
        for c in (v if isinstance(v, list) else [v])
        if isinstance(c, ast.AST)
    ]


def _old_walk_local(body: list[ast.stmt]) -> list[ast.AST]:
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(c for c in _old_children(node) if not isinstance(c, nested))
    return out


def _old_walk_all(tree: ast.AST) -> list[ast.AST]:
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(_old_children(node))
    return out


def ids(nodes: Iterable[ast.AST]) -> list[int]:
    return [id(n) for n in nodes]


@pytest.mark.parametrize(
    "path",
    [None, *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "fixtures").rglob("*.py"))],
)
def test_the_walks_find_what_the_filtered_walks_found_in_their_order(path: str | None) -> None:
    text = _ODD if path is None else (ROOT / path).read_text("utf-8", "replace")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        pytest.skip("not parsed")
    assert ids(nd.walk_all(tree)) == ids(_old_walk_all(tree))
    strings = [
        n
        for n in _old_walk_all(tree)
        if isinstance(n, ast.Call) or (isinstance(n, ast.Constant) and isinstance(n.value, str))
    ]
    assert ids(nd.calls_and_strings(tree)) == ids(strings)
    for node in _old_walk_all(tree):
        assert ids(nd.children(node)) == ids(_old_children(node))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            assert ids(nd.walk_local(body)) == ids(_old_walk_local(body))
