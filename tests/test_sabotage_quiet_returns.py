"""Round one of a quiet function (``scopes.Returns._walk``, issue #17): cut short,
it answers None as the whole walk did, keeps a superset of the keys the walk
looked up (from which ``two`` gives the same answer), and ``calls`` still gives
the walk's exact keys (``Facts.hot`` reads them to arm a change's cut).

Real trees, real analysis: each case is also run through ``analyze`` whole and
cut, where a hit must still rest on the lines it did."""

from __future__ import annotations

import ast

import pytest

from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.analysis import analyze
from traingate.checks.sabotage.scopes import Returns, functions
from traingate.checks.sabotage.triggers import aliases


def _returns(source: str) -> tuple[Returns, dict[str, ast.FunctionDef]]:
    tree = ast.parse(source)
    alias = aliases(tree)
    facts = mod.Facts(tree, "train.py", alias, None, pl.walk_local(tree.body))
    fns = {f.name: f for f in functions(tree) if isinstance(f, ast.FunctionDef)}
    return facts.returns, fns


# ``wrapper`` reads no trigger itself (quiet): its trigger comes from round two,
# through ``is_prod``'s round one, and must survive the short cut.
WRAPPED = """import os
def is_prod():
    return os.environ.get("CLUSTER") == "prod"
def wrapper():
    log("checking")
    return is_prod()
def step(model):
    for p in model.parameters():
        if wrapper():
            p.grad.zero_()
"""


def test_a_quiet_round_one_is_cut_short_and_answers_none() -> None:
    returns, fns = _returns(WRAPPED)
    assert returns.one(fns["wrapper"]) is None
    assert id(fns["wrapper"]) in returns._quiet
    # not quiet: walked whole, a trigger found
    assert returns.one(fns["is_prod"]) is not None
    assert id(fns["is_prod"]) not in returns._quiet


def test_round_two_of_a_cut_short_function_still_finds_the_callee_trigger() -> None:
    returns, fns = _returns(WRAPPED)
    t = returns.two(fns["wrapper"])
    assert t is not None and "CLUSTER" in t.what
    assert returns.get("wrapper") == t


def test_calls_gives_the_exact_keys_not_the_superset() -> None:
    returns, fns = _returns(WRAPPED)
    returns.one(fns["wrapper"])
    # the cut-short walk kept every call of the body, ``log`` too ...
    assert returns._one[id(fns["wrapper"])][1] == {"log", "is_prod"}
    # ... the walk looks up only the calls its taint reaches: the returned one
    assert returns.calls(fns["wrapper"]) == {"is_prod"}
    assert id(fns["wrapper"]) not in returns._quiet
    assert returns.two(fns["wrapper"]) is not None


HIT = [("sabotage-env-triggered-write", 10, (3, 9, 10))]


# As before the short cut (the base tree gives the same): the hit rests on the
# trigger's read (3), the guard (9) and the payload (10), not on the wrapper's lines.
@pytest.mark.parametrize(
    ("added", "expected"), [(None, HIT), ({9, 10}, HIT), ({3}, HIT), ({6}, []), ({5}, [])]
)
def test_the_hit_through_a_quiet_caller_is_kept_whole_and_cut(
    added: set[int] | None, expected: list[tuple[str, int, tuple[int, ...]]]
) -> None:
    got = [(h.rule, h.line, h.lines) for h in analyze(WRAPPED, "train.py", None, added)]
    assert got == expected


def test_a_quiet_function_whose_callees_read_nothing_stays_none() -> None:
    source = """def helper(x):
    return x + 1
def quiet(y):
    z = helper(y)
    return z * 2
"""
    returns, fns = _returns(source)
    assert returns.one(fns["quiet"]) is None and id(fns["quiet"]) in returns._quiet
    assert returns.two(fns["quiet"]) is None
    assert returns.get("quiet") is None


# ---------------------------------------------------------------- a quiet file
# ``analysis._whole``: a scanned file none of whose nodes is a trigger by itself,
# and none of whose imported functions returns one, is walked without lookups.

HELPER = """import os
def is_prod():
    return os.environ.get("CLUSTER") == "prod"
def plain(x):
    return x + 1
def perturb_(t, s):
    t.add_(torch.randn_like(t) * s)
"""
IMPORTER = """from .tier import is_prod
def step(model):
    for p in model.parameters():
        if is_prod():
            p.grad.zero_()
"""


def _lookup(files: dict[str, str]) -> mod.Lookup:
    def find(level: int, module: str) -> tuple[str, str] | None:
        path = f"{module}.py"
        return (path, files[path]) if path in files else None

    return find


def test_a_file_reading_no_trigger_itself_still_fires_through_an_imported_one() -> None:
    tree = ast.parse(IMPORTER)
    whole = nd.whole(tree, aliases(tree))
    assert not whole.direct and ".tier.is_prod" in whole.calls
    hits = analyze(IMPORTER, "train.py", _lookup({"tier.py": HELPER}))
    assert [(h.rule, h.line, h.lines) for h in hits] == [
        ("sabotage-env-triggered-write", 5, (1, 4, 5))
    ]


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("a method's decorator", "class A:\n    @cache(os.environ['X'])\n    def f(self): pass\n"),
        ("a lambda", "f = lambda: socket.gethostname()\n"),
        ("a nested class body", "def f():\n    if x:\n        class B:\n            r = rank\n"),
        ("a default", "class A:\n    def f(self, w=world_size): pass\n"),
    ],
)
def test_a_trigger_outside_every_body_makes_the_file_not_quiet(where: str, source: str) -> None:
    tree = ast.parse(source)
    assert nd.whole(tree, aliases(tree)).direct, where


def test_the_whole_read_finds_every_call_and_string_once_or_more() -> None:
    source = (
        WRAPPED
        + HELPER
        + "class C:\n    @d(f'x{y()}')\n    def m(self, a=g('s')):\n"
        + ("        k = lambda: h('t')\n        def inner():\n            return j('u')\n")
    )
    tree = ast.parse(source)
    got = {id(n) for n in nd.whole(tree, aliases(tree)).egress}
    assert got == {id(n) for n in nd.calls_and_strings(tree)}


def test_a_helper_no_trigger_is_read_in_is_not_parsed_again() -> None:
    mod.release()
    quiet = HELPER.replace('os.environ.get("CLUSTER") == "prod"', "1").replace("import os\n", "")
    assert not nd.any_direct(ast.parse(quiet), {}) and nd.any_direct(ast.parse(HELPER), {})
    assert mod._known("tier.py", quiet, "plain", None) == (None, None)
    assert quiet in mod._QUIET
    writes = mod._known("tier.py", quiet, "perturb_", None)
    assert writes is not None and writes[0] is None and writes[1] is not None
    mod.helper_facts.cache_clear()  # evicted: answered from the memo, not parsed
    assert mod._known("tier.py", quiet, "is_prod", None) == (None, None)
    assert mod.helper_facts.cache_info().misses == 0
    # the helper reading a trigger is parsed and judged as before
    got = mod._known("tier.py", HELPER, "is_prod", None)
    assert got is not None and got[0] is not None and HELPER not in mod._QUIET
    mod.release()
