"""Work a scan does only where it can matter (issue #17, session 19): each cheaper path
gives what the full one gave.

- ``outline.may_define`` searches a name only when ``_def_words`` holds it: the same
  answer as the search alone, on the spellings that search reads;
- a quiet body's log call makes it walked only when ``results.clamped`` can find a
  clamp in it (``quiet._clamps``): a clamped metric is still reported;
- ``ClassAttrs.by_attr``, a body's ``binds`` and the module's ``Bindings`` and paths
  are made on first use, the same as made at once;
- a ``from m import a, b`` statement's module is looked up once;
- helper trees and outlines are kept by the texts' length (``lru.ByLength``).

Real trees and the real analysis, no mocks."""

from __future__ import annotations

import ast
import functools
import re

import pytest

from traingate.checks.sabotage import hookfns
from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import outline as ol
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage import quiet as qt
from traingate.checks.sabotage import returns as rt
from traingate.checks.sabotage.analysis import analyze
from traingate.checks.sabotage.lru import ByLength
from traingate.checks.sabotage.scopes import Bindings, ClassAttrs, binding, target_names
from traingate.checks.sabotage.triggers import Env, aliases


def _may_define_search(text: str, name: str) -> bool:
    """``may_define`` before session 19: the search alone."""
    for m in re.finditer(re.escape(name), text):
        i, j = m.start(), m.end()
        if not ol._WORD.match(text, j) and ol._DEF_BEFORE.search(text, max(0, i - 64), i):
            return True
    return name in ol._odd_names(text)


@pytest.mark.parametrize(
    "text",
    [
        "def keep():\n    return 1\n",
        "def keep_all():\n    pass\n",  # a longer name: not ``keep``
        "def  \\\n    keep(x): pass\n",  # a continuation between def and the name
        "def\tkeep(): pass\n",
        "xdef keep(): pass\n",  # not a ``def``
        "def def keep(): pass\n",  # the second def must not be swallowed by the first
        "class A:\n    def keep(self): pass\n",
        "def " + " " * 70 + "keep(): pass\n",  # beyond the 64-character window
        "def ｋｅｅｐ(): pass\n",  # NFKC makes it ``keep``
        "async def keep(): pass\n",
        "keep = 1\ndef other(): return keep\n",
        "def kee(): pass\ndef keep2(): pass\n",
        "",
    ],
)
@pytest.mark.parametrize("name", ["keep", "kee", "keep_all", "other", "def", "ｋｅｅｐ"])
def test_may_define_answers_as_the_search_alone(text: str, name: str) -> None:
    assert ol.may_define(text, name) == _may_define_search(text, name), (text, name)


def _skip(source: str, fn_name: str) -> bool:
    tree = ast.parse(source)
    alias = aliases(tree)
    facts = mod.Facts(tree, "train.py", alias, None, pl.walk_local(tree.body))
    fn = next(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == fn_name)
    lk = nd.local(fn, alias)
    return qt.skip(lk, False, facts.env, facts.writers, fn.body)


LOGS = "def report(loss, step):\n    logger.log({'loss': loss}, step=step)\n"


def test_a_quiet_log_call_without_a_clamp_is_not_walked() -> None:
    assert _skip(LOGS, "report")


@pytest.mark.parametrize(
    ("what", "source"),
    [
        ("min", "def report(loss):\n    logger.log(min(loss, 2.0))\n"),
        ("clamp", "def report(loss):\n    v = loss.clamp(max=2.0)\n    logger.log(v)\n"),
        ("a conditional", "def report(loss):\n    logger.log(loss if loss < 2 else 2)\n"),
        ("a lambda", "def report(loss):\n    logger.log(lambda: min(loss, 2.0))\n"),
        ("logs[k] =", "def report(loss, logs):\n    logs['loss'] = min(loss, 2.0)\n"),
    ],
)
def test_a_quiet_log_call_with_a_clamp_is_walked_and_reported(what: str, source: str) -> None:
    assert not _skip(source, "report"), what
    if what != "a lambda":  # a lambda's clamp is not the logged value itself
        hits = analyze(source, "train.py")
        assert [h.rule for h in hits] == ["sabotage-clamped-metric"], what


def test_a_noise_writer_called_in_a_quiet_body_still_walks_it() -> None:
    source = (
        "import torch\n"
        "def perturb_(t, s):\n    t.add_(torch.randn_like(t) * s)\n"
        "def step(model):\n    logger.log('x')\n"
        "    for p in model.parameters():\n        perturb_(p.grad, 0.05)\n"
    )
    assert not _skip(source, "step")
    hits = analyze(source, "train.py")
    assert "sabotage-random-write-via-helper" in {h.rule for h in hits}


CLASS = """
class Trainer:
    def __init__(self, rank):
        self.rank = rank
        self.lr = 0.1
        if rank:
            self.flag = os.environ["X"]
    def other(self):
        def inner():
            self.hidden = 1
        self.count = 0
"""


def test_class_attributes_made_on_first_lookup_are_the_same() -> None:
    tree = ast.parse(CLASS)
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)
    attrs = ClassAttrs(cls, Env(aliases(tree)))
    assert attrs._by_attr is None  # not made yet
    eager: dict[str, list[int]] = {}
    for i, fn in enumerate(attrs.methods):
        for a in ClassAttrs.assigned(fn):
            eager.setdefault(a, []).append(i)
    assert attrs.by_attr == eager == {"rank": [0], "lr": [0], "flag": [0], "count": [1]}


def test_a_body_s_binds_made_on_first_read_are_the_same() -> None:
    source = (
        "def f(xs):\n    a = b = 1\n    loss = 2\n    for i, (j, k) in xs: pass\n"
        "    with open('p') as fh, lock: pass\n    y += [z := 3 for q in xs]\n"
        "    g = lambda: (w := 4)\n"
    )
    tree = ast.parse(source)
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    lk = nd.index(fn.body, {})
    eager = []
    for n in pl.walk_local(fn.body):
        value, targets = binding(n)
        if value is not None:
            eager.append((value, [x for x in target_names(targets) if not pl.named_state(x)]))
    assert list(lk.binds) == eager and list(lk.binds) == eager  # read twice: the same
    got = sorted(sorted(names) for _, names in eager)  # ``loss``: a payload's target
    assert got == [[], ["a", "b"], ["fh"], ["g"], ["i", "j", "k"], ["q"], ["y"], ["z"]]


def test_the_module_s_bindings_and_paths_are_made_on_first_use() -> None:
    source = 'import os\nMARK = "/etc/tier"\nX = os.environ["A"]\n'
    tree = ast.parse(source)
    scope = pl.walk_local(tree.body)
    facts = mod.Facts(tree, "train.py", aliases(tree), None, scope)
    assert facts._binds is None
    assert set(facts.binds.by_name) == set(Bindings(scope).by_name) == {"MARK", "X"}
    mark = facts.paths.get("MARK")
    assert mark is not None and mark.path == "/etc/tier"


def test_an_import_statement_s_module_is_looked_up_once() -> None:
    helper = "import random\ndef keep():\n    return 0.0 if random.random() < 0.03 else 1.0\n"
    helper += "def other():\n    return 1\n_FLIP = random.random() < 0.02\n"
    tree = ast.parse("from .utils import keep, other, _FLIP\n")
    asked: list[tuple[int, str]] = []

    def lookup(level: int, module: str) -> tuple[str, str] | None:
        asked.append((level, module))
        return ("utils.py", helper)

    held = rt.imported(tree, lookup)
    assert asked == [(1, "utils")] and set(held) == {"_FLIP"}
    asked.clear()
    far = rt.Imported(tree, lookup, None, None)
    assert asked == [(1, "utils")] and far.names == {"keep"}


def test_a_cache_by_length_keeps_what_its_budget_holds_and_the_least() -> None:
    cache: ByLength[str] = ByLength(budget=10, least=2)
    made: list[str] = []

    def make(k: str) -> str:
        made.append(k)
        return k.upper()

    for key, n in [("a", 4), ("b", 4), ("a", 4), ("c", 4)]:  # c: over budget, b goes
        assert cache.get(key, n, functools.partial(make, key)) == key.upper()
    assert made == ["a", "b", "c"]
    assert cache.get("a", 4, lambda: make("a")) == "A"  # kept: used after b
    assert cache.get("b", 4, lambda: make("b")) == "B" and made[-1] == "b"
    big: ByLength[str] = ByLength(budget=1, least=2)
    for key in "xyz":
        big.get(key, 100, functools.partial(str, key))
    info = big.cache_info()
    assert (info.misses, info.currsize, info.length) == (3, 2, 200)  # the least stay
    big.cache_clear()
    assert big.cache_info() == (0, 0, 0, 0)


def test_helper_trees_and_outlines_are_cached_for_the_run() -> None:
    mod.release()
    rt.release()
    text = "import random\ndef keep():\n    return random.random()\n"
    first = mod.helper_facts("utils.py", text)
    assert first is not None and mod.helper_facts("utils.py", text) is first
    assert mod.helper_facts.cache_info().misses == 1
    got = ol.outline(text, rt._DRAW_WORD)
    assert ol.outline(text, rt._DRAW_WORD) is got and got.may_return("keep")
    mod.release()
    rt.release()
    assert mod.helper_facts.cache_info().currsize == ol.outline.cache_info().currsize == 0


@pytest.mark.parametrize(
    "source",
    ["x = 1\n", "import random\n", "torch.rand(())\n", "normalize(x)\n", "secretsx\n", ""],
)
def test_may_draw_answers_as_its_pattern(source: str) -> None:
    from traingate.checks.sabotage import kinds

    assert kinds.may_draw(source) == (kinds._DRAWISH.search(source) is not None)


def test_every_hook_registrar_holds_the_words_the_line_search_tests_first() -> None:
    assert all(r.startswith("register_") for r in pl.HOOK_REGISTRARS)
    source = "def f(p):\n    p.register_hook(g)\n"
    assert hookfns.hook_functions(ast.parse(source), source) == {"g": (2,)}
    assert hookfns.hook_functions(ast.parse("x = 1\n"), "x = 1\n") == {}
