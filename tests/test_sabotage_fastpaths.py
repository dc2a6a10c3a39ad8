"""The sabotage check's session-24 fast paths give what the code they replaced gave
(issue #17: the check made cheaper, not different).

Each fast path is compared with the plain definition it stands for, on the
spellings that make it differ from the easy case (text that is not ASCII, NFKC
compatibility characters, a ``def`` inside a word, an aliased handler) and on
every sabotage and evasion fixture."""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

import pytest

from traingate.checks.sabotage import analysis, cut, hookfns, outline
from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage import quiet as qt
from traingate.checks.sabotage.kinds import DRAW_NAMES, drawing
from traingate.checks.sabotage.triggers import aliases, last_name, qualname

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(
    p
    for under in (FIXTURES / "checks" / "sabotage", FIXTURES / "evasion")
    for p in under.rglob("*.py")
    if p.stat().st_size
)
TEXTS = [
    "x = 1  # 注释：全角标点\n",
    "ｆｏｏ = 1\nbar = 2\n",
    "café = 1\n",
    "cafe\u0301 = 1\n",
    "a =\u0338 b\n",
    "\u0301x = 1\n",
    "s = 'ß ﬁ ǅ'\n\n\nt = 'ﬁ'",
    "x\u3000= 1\n",
    "text.replace('\u3000', ' ')\r\nｙ = 2\r\n",
    "\u2028µ = 1\n",
    "def ｆ(): pass\ndef a\u00b7def b(): pass\nundef g\n",
    "µ" * 3 + "\n" * 3 + "a" * 300 + "ﬁ",
    "self.ｒｅｇｉｓｔｅｒ_hook(fn)\n# é\n",
    "p.register_hook(fn)  # é\n",
]
_TOKEN = re.compile(r"[^\s!-/:-@\[-^`{-~]+")


def _texts() -> list[str]:
    return TEXTS + [p.read_text(encoding="utf-8") for p in CASES]


def _cut_as_read(text: str) -> str:
    """``cut.as_read`` before session 24: every run normalised."""
    return _TOKEN.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def _outline_as_read(text: str) -> str:
    """``outline.as_read`` before session 24: one substitution over the whole text."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    return outline._ODD_TOKEN.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def test_the_fixtures_are_found() -> None:
    assert len(CASES) > 50
    assert any(not p.read_text(encoding="utf-8").isascii() for p in CASES)


def test_as_read_normalises_only_the_lines_that_need_it() -> None:
    for text in _texts():
        assert cut.as_read(text) == _cut_as_read(text), text[:60]
        assert outline.as_read(text) == _outline_as_read(text), text[:60]


def test_defined_is_the_def_pattern_found_from_its_literal() -> None:
    for text in _texts():
        want = frozenset(mod._DEF.findall(_cut_as_read(text)))
        assert mod._defined.__wrapped__(text) == want, text[:60]
    assert mod._defined.__wrapped__("def a\u00b7def b(): pass") == {"a\u00b7def"}


def test_registrar_lines_of_a_text_that_is_not_ascii() -> None:
    for text in _texts():
        want = {n for n, line in enumerate(text.split("\n"), 1) if hookfns._registrar(line)}
        assert hookfns._registrar_lines(text) == want, text[:60]
    assert hookfns._registrar_lines(TEXTS[12]) == {1}


def _reference_index(nodes: list[ast.AST], alias: dict[str, str]) -> tuple[object, ...]:
    """What ``index`` records, from its nodes with the tests it inlines."""
    lookups: list[tuple[int, str]] = []
    called: set[str] = set()
    calls: dict[str, None] = {}
    direct = False
    for n in nodes:
        if isinstance(n, ast.Name):
            lookups.append((nd.NAME, n.id))
            direct = direct or qt.name_direct(n.id, alias)
        elif isinstance(n, ast.Call):
            name = last_name(n.func)
            if name is not None:
                called.add(name)
            q = qualname(n.func, alias)
            if q is not None:
                lookups.append((nd.CALL, q))
                calls[q] = None
            direct = direct or qt.call_direct(n, q)
        elif isinstance(n, ast.Attribute):
            if isinstance(n.value, ast.Name) and n.value.id == "self":
                lookups.append((nd.ATTR, n.attr))
            direct = direct or qt.attr_direct(n.attr)
        elif isinstance(n, ast.Compare):
            direct = direct or qt.compare_direct(n)
    return lookups, called, list(calls), direct


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_index_and_whole_record_what_the_tests_they_inline_give(path: Path) -> None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        pytest.skip("not Python this interpreter parses")
    alias = aliases(tree)
    direct = False
    called: set[str] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lk = nd.index(fn.body, alias)
            assert lk.nodes == nd.walk_local(fn.body)
            got = (lk.lookups, lk.called, list(lk.calls), lk.direct)
            assert got == _reference_index(lk.nodes, alias), fn.name
            assert drawing(lk.nodes, set(), set(), ()) == any(
                isinstance(n, ast.Call) and last_name(n.func) in DRAW_NAMES for n in lk.nodes
            )
    for n in nd.walk_all(tree):
        if isinstance(n, ast.Call):
            q = qualname(n.func, alias)
            called |= {q} if q is not None else set()
            direct = direct or qt.call_direct(n, q)
        elif isinstance(n, ast.Name):
            direct = direct or qt.name_direct(n.id, alias)
        elif isinstance(n, ast.Attribute):
            direct = direct or qt.attr_direct(n.attr)
        elif isinstance(n, ast.Compare):
            direct = direct or qt.compare_direct(n)
    whole = nd.whole(tree, alias)
    assert whole.direct == direct and whole.calls == called


@pytest.mark.parametrize(
    "source",
    [
        "import logging.handlers\nh = logging.handlers.HTTPHandler('h:80', '/')\n",
        "from logging.handlers import HTTPHandler as H\nh = H('h:80', '/')\n",
        "from logging import handlers as lh\nh = lh.SocketHandler('h', 9)\n",
        "import logging.handlers as x\nh = x.SysLogHandler(address=('10.0.0.1', 514))\n",
        "h = make()('x')\nc = 'logging.handlers.HTTPHandler'\n",
    ],
)
def test_the_egress_pre_filter_keeps_every_handler(source: str) -> None:
    tree = ast.parse(source)
    alias = aliases(tree)
    want = sorted(
        (n.lineno, n.col_offset)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Call, ast.Constant)) and pl.log_egress(n, alias) is not None
    )
    got = sorted((h.line, h.col - 1) for h in analysis.analyze(source) if h.rule.endswith("egress"))
    assert got == want and want
