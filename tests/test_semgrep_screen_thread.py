"""The screening thread's cheaper paths answer as the plain ones did (issue #17).

Each shortcut of session 21 against the code it replaced, kept here as the
reference: line starts summed from str.split's lengths, the word of a
``global`` found in one pass, ``foldable`` extending only the prefixes a run
of pieces spells, a gap's word answer kept per file, a unit cut's
``unit:`` tests reading the answers the mask's tests kept, and a file no cut
can blank enough of left before any unit is asked.
"""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import pytest

from traingate.checks.semgrep import facts as factsmod
from traingate.checks.semgrep import screen, shared, unitcut
from traingate.checks.semgrep.gaps import Gaps, line_starts

ROOT = Path(__file__).resolve().parents[1]
_LINE_END = re.compile(r"\r\n|\r|\n")
_GLOBAL = re.compile(r"\bglobal\b")

TEXTS = [
    "",
    "x",
    "x\n",
    "\n\n\n",
    "a = 1\nb = 2",
    "a\r\nb\rc\n\nd",
    "def f():\n    global g\n    g = 1\n\n\ndef h():\n    return g  # global\n",
    "class C:\n    def m(self):\n        x = 'global'\n\n    def n(self):\n        global y\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_line_starts_are_the_line_end_regex_s(text: str) -> None:
    assert line_starts(text) == [0] + [m.end() for m in _LINE_END.finditer(text)]


def _old_declares_global(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> bool:
    span = "\n".join(lines[fn.lineno - 1 : fn.end_lineno or fn.lineno])
    if _GLOBAL.search(span) is None:
        return False
    return any(isinstance(n, ast.Global) for n in ast.walk(fn))


@pytest.mark.parametrize("text", [t for t in TEXTS if "def" in t] + ["def f():\n    pass\n"])
def test_global_is_found_in_one_pass_as_per_function(text: str) -> None:
    funcs = unitcut.outermost(ast.parse(text))
    lines = text.split("\n")
    old = {i for i, fn in enumerate(funcs) if _old_declares_global(fn, lines)}
    assert unitcut._declaring_global(text, funcs) == old


def _old_foldable(pieces: frozenset[str], starts: list[str], word: str) -> bool:
    def starts_with(s: str) -> bool:
        return any(p.startswith(s) for p in starts)

    if word.endswith("*"):
        word = word[:-1]
        reach = [True] + [False] * len(word)
        for j in range(1, len(word)):
            reach[j] = any(reach[i] and word[i:j] in pieces for i in range(j))
        return any(reach[i] and starts_with(word[i:]) for i in range(len(word)))
    for whole in (word, word + "\n"):
        reach = [True] + [False] * len(whole)
        for j in range(1, len(whole) + 1):
            reach[j] = any(reach[i] and whole[i:j] in pieces for i in range(j))
        if reach[-1]:
            return True
    return False


def test_foldable_is_the_quadratic_reach_s() -> None:
    rng = random.Random(17)
    for _ in range(400):
        strings = ["".join(rng.choice("ab\n") for _ in range(rng.randint(0, 4))) for _ in range(5)]
        f = factsmod.facts("\n".join(f"x{i} = {s!r}" for i, s in enumerate(strings)))
        assert f is not None
        for _ in range(10):
            word = "".join(rng.choice("ab\n") for _ in range(rng.randint(1, 6)))
            for w in (word, word + "*", "*"):
                assert f.foldable(w) == _old_foldable(f.pieces, sorted(f.pieces), w), (strings, w)


def test_a_gap_s_word_answer_is_every_unit_s() -> None:
    text = "X = 1\n\ndef f():\n    pass\n\n# Rank\n\ndef g():\n    pass\n"
    gaps = Gaps(text, [(3, 4), (8, 9)])
    assert gaps.contains("rank") and not gaps.contains("pass")
    assert gaps._has == {"rank": True, "pass": False}


def _shipped() -> tuple[screen.Screens, dict[str, tuple[Path, str]]]:
    return screen.read(sorted((ROOT / "policy" / "rules").rglob("*.yaml")))


def test_a_unit_cut_s_tests_read_what_the_mask_s_tests_kept() -> None:
    screens, sources = _shipped()
    tests = unitcut.unit_tests(sources, screens.ids)
    assert tests  # the shipped pack has cut rules
    text = (
        "import torch\n\n"
        + "".join(f"def f{i}():\n" + "    x = 1\n" * 40 + "\n" for i in range(12))
        + "def step(model, batch):\n    loss = model(batch)\n"
        + "    if torch.distributed.get_rank() == 0:\n        loss = loss * 0\n    return loss\n"
    )
    f, fresh = factsmod.facts(text), factsmod.facts(text)
    assert f is not None and fresh is not None
    mask = "".join("1" if t(f) else "0" for t in screens.tests)
    kept = {k for u in f.units() for k in u._memo}
    read = 0
    for k, test in tests.items():
        spec = _unit_spec(sources, screens.ids[k])
        key = shared.key(spec)
        if mask[k] == "1" and key is not None:
            assert key in kept, screens.ids[k]  # the mask's answers, read by the cut
            read += 1
        plain = screen.compile_screen(spec)  # no memo: the reference
        held = {i for i, u in enumerate(f.units()) if test(u)}
        assert held == {i for i, u in enumerate(fresh.units()) if plain(u)}, screens.ids[k]
    assert read  # the file admits cut rules, and the cut reads their answers
    assert unitcut.split(f"t0-{mask}.py", len(screens.ids), f, tests, True) is not None


def _unit_spec(sources: dict[str, tuple[Path, str]], rule_id: str) -> object:
    import yaml

    text = sources[rule_id][1]
    block = re.search(rf"^( *){screen.KEY}:[ \t]*\n((?:\1  [^\n]*\n|[ \t]*\n)*)", text, re.M)
    assert block is not None
    spec = yaml.safe_load(re.sub(f"(?m)^{block.group(1)}", "", block.group(2)))
    assert isinstance(spec, dict)
    return spec["unit"]


def test_a_file_no_cut_can_blank_enough_of_asks_no_unit() -> None:
    # 400 lines of module code and one short def: stubbing it blanks too little.
    text = "".join(f"X{i} = {i}\n" for i in range(400)) + "def f():\n    return 1\n"
    f = factsmod.facts(text)
    assert f is not None
    calls: list[int] = []

    def test(u: object) -> bool:
        calls.append(1)
        return True

    assert unitcut._grouped(f, {0: test}, unitcut.MIN_DROPPED, unitcut.MIN_SHARE) == []
    assert calls == []
