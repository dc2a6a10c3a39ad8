"""The check's shared walks (``nodes``) and the class replay give what the
walks and the replay they replaced gave (issue #17: the check made cheaper,
not different).

The inputs are every sabotage and evasion fixture: real training idioms and
the attacks the check must keep catching."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage.scopes import ClassAttrs, _own
from traingate.checks.sabotage.triggers import Env, aliases

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(
    p
    for under in (FIXTURES / "checks" / "sabotage", FIXTURES / "evasion")
    for p in under.rglob("*.py")
    if p.stat().st_size
)
# Leaves the walks leave out: no analysis walks to them (each reads ``node.op``).
_LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _tree(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        pytest.skip("not Python this interpreter parses")


def _old_walk_local(body: list[ast.stmt]) -> list[ast.AST]:
    """``payloads.walk_local`` before issue #17's change, ``ctx`` and operators dropped."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(body)
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    while todo:
        node = todo.pop()
        out.append(node)
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, ast.AST):
                if not isinstance(value, nested):
                    todo.append(value)
            elif isinstance(value, list):
                todo.extend(
                    v for v in value if isinstance(v, ast.AST) and not isinstance(v, nested)
                )
    return [n for n in out if not isinstance(n, _LEAVES)]


def test_the_fixtures_are_found() -> None:
    assert len(CASES) > 50


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_the_walks_meet_the_nodes_ast_walk_does(path: Path) -> None:
    tree = _tree(path)
    every = [n for n in ast.walk(tree) if not isinstance(n, _LEAVES)]
    assert sorted(map(id, nd.walk_all(tree))) == sorted(map(id, every))
    for node in every:
        kids = [c for c in ast.iter_child_nodes(node) if not isinstance(c, _LEAVES)]
        assert nd.children(node) == kids
        blocks = [c for c in kids if isinstance(c, (ast.stmt, ast.ExceptHandler, ast.match_case))]
        assert nd.blocks(node) == blocks
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            assert nd.walk_local(node.body) == _old_walk_local(node.body)  # the same order


def _old_statements(tree: ast.Module) -> list[ast.AST]:
    """``nodes.statements`` before session 20 (every field of every statement read)."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop(0)
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], nd._BLOCK):
                todo.extend(value)
        out.append(node)
    return out[1:]


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_statements_and_body_nodes_are_the_walks_they_replace(path: Path) -> None:
    """Issue #17, session 20: ``statements`` reads only the fields that can hold a
    block, and ``body_nodes`` gives a function's index nodes, once indexed, where
    five readers walked its body again: the same nodes, in the same order."""
    tree = _tree(path)
    assert nd.statements(tree) == _old_statements(tree)
    alias = aliases(tree)
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for fn in defs:
        assert nd.body_nodes(fn) == nd.walk_local(fn.body)  # not indexed yet: the walk
        nd.local(fn, alias)
        assert nd.body_nodes(fn) is nd.local(fn, alias).nodes
        assert nd.body_nodes(fn) == nd.walk_local(fn.body)
        nd.local(fn, {})  # re-indexed under another alias table: the same nodes
        assert nd.body_nodes(fn) == nd.walk_local(fn.body)


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_class_replayed_whole_gives_each_attribute_its_own_replay(path: Path) -> None:
    """The whole-class replay walks only the methods assigning a ``self`` attribute;
    each attribute's own closure replay (the cut's) walks every method it reads."""
    tree = _tree(path)
    env = Env(aliases(tree))
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        named = {n.attr for n in ast.walk(cls) if _own(n)}
        whole, lazy = ClassAttrs(cls, env, whole=True), ClassAttrs(cls, env)
        assert {a: whole.get(a) for a in named} == {a: lazy.get(a) for a in named}


def test_an_attribute_only_read_keeps_the_outer_class_trigger() -> None:
    """``self.tier`` read in an inner class that never assigns it: the outer
    class's trigger, through the inner replay's table (``_Table``)."""
    source = (
        "import os\n\nclass Outer:\n    def __init__(self):\n"
        '        self.tier = os.environ["TIER"]\n\n    def build(self):\n'
        "        class Inner:\n            def __init__(self):\n"
        "                self.mode = self.tier\n\n"
        "            def step(self):\n                return self.tier\n"
        "        return Inner\n"
    )
    tree = ast.parse(source)
    outer = tree.body[1]
    assert isinstance(outer, ast.ClassDef)
    env = Env(aliases(tree))
    attrs = ClassAttrs(outer, env, whole=True)
    inner_env = env.child()
    inner_env.attrs = attrs
    inner = next(n for n in ast.walk(outer) if isinstance(n, ast.ClassDef) and n.name == "Inner")
    got = ClassAttrs(inner, inner_env, whole=True)
    tier, mode = got.get("tier"), got.get("mode")
    assert tier is not None and tier.what == "os.environ['TIER']"
    assert mode == tier
