"""The facts the index records for the skip tests, and the word runs of ``returns``,
equal what the walks they replace found (issue #17: speed work changes no hit)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from traingate.checks.sabotage import kinds, nodes, quiet
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.returns import word_runs
from traingate.checks.sabotage.triggers import Env, aliases, last_name, qualname

FIXTURES = Path(__file__).resolve().parent / "fixtures"

SOURCE = """
import random, torch, logging
from torch import nn

def train(model, opt, logs, metrics):
    for p in model.parameters():
        nn.init.normal_(p)
    x = random.random()
    logs["loss"] = min(x, 1.0)
    metrics[k] = torch.clamp(x, 0, 1)
    (lambda: 0)()
    getattr(model, "f")()
    model.log(x)
    wandb.log({"loss": x})
    def inner():
        torch.rand(())
    a = b = 3
"""


def _defs(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _sources() -> list[str]:
    out = [SOURCE]
    for p in sorted(FIXTURES.rglob("*.py"))[:200]:
        out.append(p.read_text("utf-8", "replace"))
    return out


def test_index_records_what_the_skip_tests_read() -> None:
    for text in _sources():
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        alias = aliases(tree)
        for fn in _defs(tree):
            lk = nodes.index(fn.body, alias)
            calls = [n for n in lk.nodes if isinstance(n, ast.Call)]
            assert lk.called == {last_name(c.func) for c in calls} - {None}
            keys = [k for k in (qualname(c.func, alias) for c in calls) if k is not None]
            assert list(lk.calls) == list(
                dict.fromkeys(k for kind, k in lk.lookups if kind == nodes.CALL)
            )
            assert set(lk.calls) == set(keys)
            assert lk.assigns == [n for n in lk.nodes if isinstance(n, ast.Assign)]
            for names, attrs, funcs in (
                ({}, {}, ()),
                ({}, {}, {"inner", "train"}),
                ({"x": 1}, {}, ()),
                ({}, {"weight": 1}, ()),
            ):
                assert kinds.drawing_local(lk, names, attrs, funcs) == kinds.drawing(
                    lk.nodes, names, attrs, funcs
                )


def test_payload_pre_test_matches_the_walk() -> None:
    """``quiet.payload``'s log and ``logs[k] =`` test, from the index, is the walk's."""
    tree = ast.parse(SOURCE)
    lk = nodes.index(_defs(tree)[0].body, aliases(tree))
    walked = any(isinstance(n, ast.Call) and pl.log_call(n) for n in lk.nodes) or any(
        isinstance(n, ast.Assign) and any(quiet._logs(t) for t in n.targets) for n in lk.nodes
    )
    assert walked and not lk.called.isdisjoint(pl._LOG_CALLS)
    assert quiet.payload(lk, Env({}), {})  # min(...) and torch.clamp: a clamp


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a b_c d1 _",
        "rand\u2014x \u00e9_x x\u3000y \U0001d400bc \uff21\uff22_1 \u0663\u0664",
        "a\x00b\x1cc\x85d\u2028e\u2029f\x0bg\x0ch",
        "x\ud800y \udcffz",
        "def f():\n    return torch.rand(()) < 0.1  # caf\u00e9\n",
    ],
)
def test_word_runs_are_the_regex_runs(text: str) -> None:
    assert word_runs(text) == set(re.findall(r"\w+", text))


def test_word_runs_on_fixtures() -> None:
    for text in _sources():
        assert word_runs(text) == set(re.findall(r"\w+", text))
