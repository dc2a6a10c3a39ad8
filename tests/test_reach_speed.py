"""The reach extractor's hot paths, made cheaper for a cold cache (issue #17),
keep their meaning.

``facts._own_nodes`` skips an attribute chain to its base and pushes children
straight onto its stack; it is compared with a plain pre-order walk (the
definition in its docstring) on code where the skip and the cut matter: a call
at the base of a chain (``make().a.b()``), calls in subscripts, defaults,
decorators and bases, nested defs and lambdas. ``Compactor._key`` builds its
key in one loop: flags that differ only by ``True`` vs ``1`` (or a list's
element type) must stay apart, and equal flags must be shared.
tests/test_reach_facts_same.py compares whole facts with the reference
commit's; these pin the two pieces on their own.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from traingate.checks.reach import facts
from traingate.checks.reach.compact import Compactor

_CUT = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

# Chains with a call at the base, inside a subscript, in a default, a
# decorator, a base and a keyword of a nested class; a bound lambda (its own
# def: its defaults run here, its body does not) and an anonymous one (runs
# here). Real training idioms: `self.model.to(device)`, `torch.cuda.amp`,
# `get_logger().info(...)`, `cfg["opt"].lr`.
SOURCE = """
import torch

@register(name=make_name().upper())
def train(model, loader, lr=get_lr().value, *, dev=torch.device("cuda").type):
    logger = get_logger(__name__).child("train").level
    opt = build(model.parameters(), cfg["opt"].lr, x=load()[0].attr.deep())
    sched = schedule(lambda s=warmup().steps: torch.optim.lr_scheduler.LambdaLR(opt, s))
    bound = lambda step=decay().rate: pickle.loads(step)
    for batch in loader.iterate().batches:
        out = model.module.forward(batch.to(dev).float()).logits.softmax(-1)
        [y.item() for y in out.cpu().numpy().tolist() if y.real.imag]
    with torch.autocast("cuda").ctx as amp:
        value = (yield amp.state().value)

    def nested(a=default().attr):
        return hidden().call()

    class Head(base().Module, metaclass=meta().Type, flag=opts().flag):
        scale = scale_of().value

        def forward(self):
            return inner().x
    return self_ref().a.b.c.d()
"""


def _reference_own_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """``_own_nodes`` by its definition: pre-order, children in field order,
    nested defs, lambdas and classes cut except the parts that run here."""
    out: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        t = type(node)
        if t in facts._OWN_KEPT:
            out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            runs = [*node.decorator_list, *a.defaults, *(d for d in a.kw_defaults if d)]
            for child in runs:
                visit(child)
            return
        if isinstance(node, ast.ClassDef):
            for child in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                visit(child)
            return
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Lambda)
            and all(isinstance(x, ast.Name) for x in node.targets)
        ):
            a = node.value.args
            for child in [*a.defaults, *(d for d in a.kw_defaults if d)]:
                visit(child)
            return
        for kid in ast.iter_child_nodes(node):
            visit(kid)

    for stmt in body:
        visit(stmt)
    return out


def _bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    return [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, _CUT[:3])]


def test_own_nodes_matches_a_plain_walk() -> None:
    tree = ast.parse(SOURCE)
    for body in _bodies(tree):
        # Version 17 also keeps the attribute at the base of each chain (a
        # property's getter may run there: tests/test_reach_later.py), and
        # version 19 the subscript (`Shards[path]` runs `__class_getitem__`:
        # tests/test_reach_unwritten.py): the rest is the plain walk's, in its order.
        got = [n for n in facts._own_nodes(body) if type(n) not in (ast.Attribute, ast.Subscript)]
        assert [id(n) for n in got] == [id(n) for n in _reference_own_nodes(body)]
    train = facts._own_nodes([tree.body[1]])  # the def alone: what runs at the module
    called = {ast.unparse(n.func) for n in train if isinstance(n, ast.Call)}
    # The decorator's and the defaults' calls, each at the base of a chain.
    assert {"make_name", "make_name().upper", "register", "get_lr"} <= called
    assert {"torch.device"} <= called


def test_own_nodes_finds_calls_at_the_base_of_attribute_chains() -> None:
    body = ast.parse(SOURCE).body[1].body  # type: ignore[attr-defined]
    called = {ast.unparse(n.func) for n in facts._own_nodes(body) if isinstance(n, ast.Call)}
    # Each is the base of (or inside) a chain of attributes skipped to its base.
    for name in ("get_logger", "load", "warmup", "decay", "default", "base", "meta", "opts"):
        assert name in called, name
    assert "self_ref().a.b.c.d" in called and "self_ref" in called
    assert "batch.to" in called and "amp.state" in called
    # Cut: the nested def's, the class body's and the bound lambda's bodies.
    for name in ("hidden", "scale_of", "inner", "pickle.loads"):
        assert name not in called, name
    # An anonymous lambda runs where it is written: its body is this scope's.
    assert "torch.optim.lr_scheduler.LambdaLR" in called


def test_own_nodes_on_a_long_chain_does_not_recurse() -> None:
    # ``root().b.b....b()``, as deep as ``ast`` builds: skipped in a loop.
    source = "def f():\n    return root()" + ".b" * 2_000 + "()\n"
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    calls = [n for n in facts._own_nodes(body) if isinstance(n, ast.Call)]
    assert len(calls) == 2
    assert isinstance(calls[1].func, ast.Name) and calls[1].func.id == "root"


def _rows(*flags: dict[str, Any]) -> list[list[Any]]:
    return [["f", "I:0:pickle.loads", 1, 1, 1, dict(f)] for f in flags]


def test_compact_keeps_true_and_one_apart() -> None:
    rows = _rows(
        {"wo": True},
        {"wo": 1},
        {"pa": [1, True]},
        {"pa": [1, 1]},
        {"kn": {"x": True}},
        {"kn": {"x": 1}},
        {"pa": [1, [True]]},
        {"pa": [1, [1]]},
        {"pa": [None, "s"]},
        {"pa": ["s", None]},
    )
    text = json.dumps(rows)
    got = Compactor().facts({"calls": rows})["calls"]
    assert json.dumps(got) == text  # the JSON the cache stores, unchanged
    flags = [row[-1] for row in got]
    assert len({id(f) for f in flags}) == len(flags)  # all distinct


def test_compact_shares_equal_flags() -> None:
    made = Compactor().facts(
        {
            "calls": _rows(
                {"pa": [1, "a"], "kn": {"x": 2}, "wo": True},
                {"pa": [1, "a"], "kn": {"x": 2}, "wo": True},
                {"kn": {"x": 2}, "pa": [1, "a"], "wo": True},  # another order dumps otherwise
            )
        }
    )
    a, b, c = (row[-1] for row in made["calls"])
    assert a is b
    assert c is not a and json.dumps(c) != json.dumps(a)
