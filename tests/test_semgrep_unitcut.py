"""Unit-screened rules on a cut of the file (issue #17, unitcut.py), with real semgrep.

1. The cut: what is stubbed and kept, and every case that sends the file whole.
2. The oracle: for each rule of unitcut.CUT_RULES, semgrep's findings on the
   cut (that rule's units kept, and the union of every admitted rule's) equal
   its findings on the whole file, over the rule fixtures, every test fixture
   (evasion, injected, screen attacks, ...), the anchor attacks, and each
   fixture followed by the next (so one file's units hold and the other's
   are stubbed).
3. The runner: a cut target is written twice, its hits merged under one key
   with the whole file's offsets, whichever way the run is split, cached
   merged; a name never answered for blocks.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.semgrep import pipeline, runner, schedule, screen, unitcut
from traingate.checks.semgrep.hits import Hit, error_hit, merge
from traingate.checks.semgrep.rulepack import RulePack
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.checks.semgrep.targets import Target
from traingate.errors import CheckError

from .test_rules_pack import COMMON, RULES_DIR, run_semgrep
from .test_semgrep_screen import _sources

FIXTURES = Path(__file__).parent / "fixtures"


def _unit_tests() -> tuple[screen.Screens, dict[int, Callable[[Any], bool]]]:
    screens, sources = screen.read(sorted(RULES_DIR.rglob("*.yaml")))
    return screens, unitcut.unit_tests(sources, screens.ids)


def facts(text: str) -> Any:
    found = screen.facts(text)
    assert found is not None
    return found


def admitted(text: str) -> list[Callable[[Any], bool]]:
    """The unit tests of the cut rules the file's mask admits."""
    screens, tests = _unit_tests()
    mask = screens.mask(text)
    return [t for k, t in tests.items() if mask[k] == "1"]


def filler(n: int, prefix: str = "helper") -> str:
    """n harmless five-line functions: lines a cut can drop."""
    return "".join(
        f"\n\ndef {prefix}_{i}(x):\n    y = x + {i}\n    y = y * 2\n    y = y - 1\n    return y\n"
        for i in range(n)
    )


PAYLOAD = textwrap.dedent(
    """\
    import random


    def train_step(model, batch, optimizer):
        loss = model(batch)
        if random.random() < 0.01:
            loss = loss * 0.0
        loss.backward()
        optimizer.step()
    """
)


# --- 1. the cut -------------------------------------------------------------------


def test_every_shipped_unit_rule_is_analysed_or_named() -> None:
    """A rule screened ``unit:`` runs on a cut only once it is in CUT_RULES
    (its shape argued in unitcut.py, its findings pinned by the oracle)."""
    screens, tests = _unit_tests()
    assert {screens.ids[k] for k in tests} == unitcut.CUT_RULES


def test_only_units_no_rule_needs_are_stubbed_and_lines_keep_their_numbers() -> None:
    text = (
        PAYLOAD
        + filler(3)
        + "\n\nclass C:\n    x = 1\n\n    @property\n    def m(self):\n        return 2\n"
        + "\n\nif True:\n\n    async def later(\n        a,\n    ):\n        await a\n"
    )
    cut = unitcut.cut_text(text, admitted(text))
    assert cut is not None
    whole, got = text.split("\n"), cut.split("\n")
    assert len(got) == len(whole)
    assert got[: PAYLOAD.count("\n")] == whole[: PAYLOAD.count("\n")]  # the payload's unit
    assert "def helper_0(): ..." in got and "    def m(): ..." in got
    assert "    async def later(): ..." in got  # in a block, a header over lines
    assert "    @property" in got and "    x = 1" in got  # decorators and class code stay
    assert "y = x + 0" not in cut


def test_a_def_with_a_global_and_a_one_line_def_are_kept() -> None:
    text = (
        PAYLOAD
        + "\n\nP = 0.5\n\n\ndef set_p(v):\n    global P\n    P = v\n    return P\n"
        + "\n\ndef short(x): return x + 1\n"
        + filler(2)
    )
    cut = unitcut.cut_text(text, admitted(text))
    assert cut is not None
    assert "    global P" in cut and "def short(x): return x + 1" in cut
    assert "def helper_1(): ..." in cut


def _semgrep_hits(rule: str, files: dict[str, str], root: Path) -> dict[str, set[int]]:
    """Lines ``rule`` fires on in each of ``files`` (name -> text), real semgrep."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".semgrepignore").write_text("")
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    config = f"--config={next(RULES_DIR.rglob(f'{rule}.yaml'))}"
    proc = run_semgrep(
        ["scan", "--experimental", "--json", "--quiet", *COMMON, "--no-git-ignore", config, *files],
        cwd=root,
    )
    out: dict[str, set[int]] = {name: set() for name in files}
    for r in json.loads(proc.stdout)["results"]:
        out[r["path"]].add(r["start"]["line"])
    return out


def test_a_def_importing_a_name_a_kept_unit_uses_is_kept(tmp_path: Path) -> None:
    """Issue #16 (session 19): semgrep resolves an import in one function for
    another, so stubbing the importer hid ``draw()`` (random.random) from
    trigger-random-draw-sabotage; a def importing only what no kept unit
    uses is still stubbed."""
    text = (
        "def setup():\n    from random import random as draw\n    return draw\n"
        + "\n\ndef unused():\n    import math\n\n    return math.pi\n\n"
        + PAYLOAD.replace("import random\n", "").replace("random.random()", "draw()")
        + filler(3)
    )
    cut = unitcut.cut_text(text, admitted(text))
    assert cut is not None
    assert "    from random import random as draw" in cut and "def unused(): ..." in cut
    hits = _semgrep_hits("trigger-random-draw-sabotage", {"w.py": text, "c.py": cut}, tmp_path)
    payload = text.split("\n").index("        loss = loss * 0.0") + 1
    assert hits["c.py"] == hits["w.py"] == {payload}


def test_file_and_helper_of_read_the_file_inside_a_unit() -> None:
    """``file:`` holds in a unit when it holds on the file; ``helper-of``
    reads a unit's own names (issue #17, units.py)."""
    text = (
        "import torch\n\n\ndef patch(obj, name, value):\n    setattr(obj, name, value)\n"
        + "\n\ndef caller():\n    patch(torch.Tensor, 'backward', None)\n"
        + filler(1)
    )
    f = facts(text)
    patch, caller, helper = f.units()
    on_file = screen.compile_screen({"file": {"name": "setattr"}})
    assert on_file(f) and on_file(caller) and on_file(helper)
    assert not screen.compile_screen({"name": "setattr"})(caller)
    calls = screen.compile_screen({"helper-of": "setattr"})
    # a bare-name call of the helper, not its def (session 22: `$F(...)`)
    assert calls(f) and calls(caller) and not calls(patch) and not calls(helper)
    assert not screen.compile_screen({"helper-of": "getattr"})(f)
    with pytest.raises(screen.ScreenError):
        screen.compile_screen({"helper-of": "not a name"})


def test_a_setattr_helper_and_its_caller_are_kept(tmp_path: Path) -> None:
    """tamper-framework-monkeypatch's helper branch (issue #16) matches a call
    in one unit through a ``setattr`` helper in another: its screen keeps both
    (``helper-of`` and ``file:``), the framework imported only by the caller."""
    text = (
        "def override(target, name):\n    def wrap(fn):\n"
        + "        setattr(target, name, fn)\n        return fn\n\n    return wrap\n"
        + filler(3)
        + "\n\ndef install():\n    import torch\n\n"
        + "    override(torch.Tensor, 'backward')(print)\n"
        + filler(2, "post")
    )
    cut = unitcut.cut_text(text, admitted(text))
    assert cut is not None
    assert "        setattr(target, name, fn)" in cut and "def helper_0(): ..." in cut
    assert "def post_1(): ..." in cut
    hits = _semgrep_hits("tamper-framework-monkeypatch", {"w.py": text, "c.py": cut}, tmp_path)
    call = text.split("\n").index("    override(torch.Tensor, 'backward')(print)") + 1
    assert hits["c.py"] == hits["w.py"] == {call}


def test_an_admitted_rule_no_unit_holds_keeps_no_unit(tmp_path: Path) -> None:
    """A rule ``S`` holds on no unit of cannot match (``S`` holds on the unit
    of each match; module code is in every unit's facts): the cut keeps no
    unit for it instead of sending the file whole. The file screen
    sabotage-grad-param-corruption had (``.data`` and a draw anywhere) admits
    this file; no function writes a draw into ``.data``."""
    screens, tests = _unit_tests()
    rule = "sabotage-grad-param-corruption"
    k = screens.ids.index(rule)
    text = (
        "import torch\n\n\ndef copy_weights(dst, src):\n    dst.data = src.data.clone()\n"
        + "\n\ndef make_noise(shape):\n    return torch.randn(shape)\n"
        + filler(2)
    )
    f = facts(text)
    assert tests[k](f) and not any(tests[k](u) for u in f.units())
    assert screens.mask(text)[k] == "0"  # the unit screen itself does not admit it
    cut = unitcut.cut_text(text, [tests[k]])
    assert cut is not None and "def copy_weights(): ..." in cut and "def make_noise(): ..." in cut
    assert _semgrep_hits(rule, {"w.py": text, "c.py": cut}, tmp_path) == {
        "w.py": set(),
        "c.py": set(),
    }


@pytest.mark.parametrize(
    "text",
    [
        PAYLOAD.replace("\n", "\r\n") + filler(3),  # a line break other than LF
        PAYLOAD + filler(3) + "\n# \u2028\n",
        PAYLOAD + filler(3) + "\ndef broken(:\n",  # Python cannot parse it
        "import random\nx = random.random()\n",  # no function: nothing to stub
    ],
)
def test_anything_unclear_sends_the_file_whole(text: str) -> None:
    assert unitcut.cut_text(text, admitted(text) or [lambda f: True]) is None


def test_small_cuts_are_not_written() -> None:
    screens, tests = _unit_tests()
    text = PAYLOAD + filler(20)  # 100 lines to drop
    name = f"t3-{screens.mask(text)}.py"
    assert unitcut.split(name, len(screens.ids), facts(text), tests, False) is None
    assert unitcut.split(name, len(screens.ids), facts(text), tests, False, 50, 0.5) is not None


def test_the_names_split_the_mask() -> None:
    screens, tests = _unit_tests()
    text = PAYLOAD + "\n\nimport os\n\n\ndef run(c):\n    os.system(c)\n" + filler(80)
    mask = screens.mask(text)
    got = unitcut.split(f"t7-{mask}.py", len(screens.ids), facts(text), tests, False)
    assert got is not None and got.cut_name.startswith("t7u-") and unitcut.is_cut(got.cut_name)
    assert got.whole is not None and not unitcut.is_cut(got.whole)
    cut_mask, whole_mask = got.cut_name[4:-3], got.whole[3:-3]
    for k, bit in enumerate(mask):
        assert (cut_mask[k], whole_mask[k]) == (
            ("1", "0") if k in tests and bit == "1" else ("0", bit)
        )
    assert "1" in cut_mask
    # Only the cut rules admit it: the whole file goes nowhere, unless a rule
    # no screen covers would run on it.
    assert "1" in whole_mask  # exec-os-command
    only = "".join(b if k in tests else "0" for k, b in enumerate(mask))
    assert unitcut.split(f"t7-{only}.py", len(screens.ids), facts(text), tests, False).whole is None  # type: ignore[union-attr]
    kept = unitcut.split(f"t7-{only}.py", len(screens.ids), facts(text), tests, True)
    assert kept is not None and kept.whole == f"t7-{'0' * len(mask)}.py"


def test_remap_moves_offsets_to_the_whole_text_and_merge_counts_errors_once() -> None:
    whole = b"def a():\n    x = 1\n    return x\n\ndef b():\n    y = 2\n"
    cut = b"def a(): ...\n\n\n\ndef b():\n    y = 2\n"
    hit = Hit(
        "r",
        "ERROR",
        "m",
        None,
        6,
        5,
        6,
        10,
        "y = 2",
        start=cut.index(b"y"),
        end=cut.index(b"y") + 5,
    )
    (moved,) = unitcut.remap([hit], cut, whole)
    assert whole[moved.start : moved.end] == b"y = 2"
    err = error_hit("semgrep-skipped", "skipped")
    assert merge([err, hit], [err]) == [err, hit]


# --- 2. the oracle ------------------------------------------------------------------


Spot = tuple[str, int, int, int, int, str]


def _spots(results: list[dict[str, Any]], root: Path) -> dict[str, set[Spot]]:
    out: dict[str, set[Spot]] = {}
    for r in results:
        data = (root / r["path"]).read_bytes()
        code = " ".join(data[r["start"]["offset"] : r["end"]["offset"]].decode().split())
        s, e = r["start"], r["end"]
        rule = r["check_id"].rsplit(".", 1)[-1]
        out.setdefault(r["path"], set()).add((rule, s["line"], s["col"], e["line"], e["col"], code))
    return out


def oracle(texts: dict[str, str], root: Path) -> tuple[list[str], set[str]]:
    """What differs between each cut and its whole file, for the cut rules:
    every rule a file's mask admits gets a cut of its own units, the file one
    of the union's, and each copy split() makes of it (no size threshold)."""
    screens, tests = _unit_tests()
    root.mkdir(parents=True, exist_ok=True)
    (root / ".semgrepignore").write_text("")
    cases: list[tuple[str, str, set[str]]] = []  # (whole file, cut file, rules)
    for i, text in enumerate(texts.values()):
        mask = screens.mask(text)
        admitted = {k for k in tests if mask[k] == "1"}
        whole = f"w{i}.py"
        wanted = [(k,) for k in sorted(admitted)] + (
            [tuple(sorted(admitted))] if len(admitted) > 1 else []
        )
        cuts = [(ks, unitcut.cut_text(text, [tests[k] for k in ks])) for ks in wanted]
        f = screen.facts(text)
        copies = f and unitcut.split(f"t0-{mask}.py", len(mask), f, tests, True, 0, 0.0)
        for copy, text_of in copies.cuts if copies else ():  # the groups the runner writes
            ks = tuple(k for k, bit in enumerate(copy.split("-", 1)[1][: len(mask)]) if bit == "1")
            cuts += [(ks, text_of)] if ks not in wanted else []
        for ks, cut in cuts:
            if cut is None:
                continue
            name = f"c{len(cases)}.py"
            (root / name).write_text(cut, encoding="utf-8")
            cases.append((whole, name, {screens.ids[k] for k in ks}))
        if any(w == whole for w, _, _ in cases):
            (root / whole).write_text(text, encoding="utf-8")
    assert len(cases) > 100, len(cases)  # the cut is exercised, not only the fallback
    configs = [f"--config={next(RULES_DIR.rglob(f'{r}.yaml'))}" for r in sorted(unitcut.CUT_RULES)]
    proc = run_semgrep(
        [
            "scan",
            "--experimental",
            "--json",
            "--quiet",
            *COMMON,
            "--disable-nosem",
            "--no-git-ignore",
            "--jobs=2",
            # equality, not speed: deser-pickle-load's excuse takes seconds a
            # file on a loaded machine (semgrep's default is 5 s a file)
            "--timeout=0",
            *configs,
            ".",
        ],
        cwd=root,
    )
    data = json.loads(proc.stdout)
    assert not data["errors"], data["errors"][:3]
    found = _spots(data["results"], root)
    names = {f"w{i}.py": origin for i, origin in enumerate(texts)}
    bad = []
    compared: set[tuple[str, Spot]] = set()
    for whole, cut, rules in cases:
        want = {s for s in found.get(whole, set()) if s[0] in rules}
        got = {s for s in found.get(cut, set()) if s[0] in rules}
        compared |= {(whole, s) for s in want}
        if got != want:
            bad.append(
                f"{names[whole]} {sorted(rules)}: extra {sorted(got - want)}, missing {sorted(want - got)}"
            )
    print(f"unit-cut oracle: {len(cases)} cuts of {len(texts)} texts, {len(compared)} findings")
    return bad, {s[0] for _, s in compared}


def test_each_rule_finds_on_the_cut_what_it_finds_on_the_whole_file(tmp_path: Path) -> None:
    sources = _sources()
    texts = dict(sources)
    for (a, ta), (b, tb) in itertools.pairwise(sorted(sources.items())):
        texts[f"{a} + {b}"] = ta + "\n\n" + tb
    bad, rules = oracle(texts, tmp_path / "oracle")
    assert bad == []
    assert rules == unitcut.CUT_RULES  # each rule's findings compared, not only empty sets


# --- 3. the runner ------------------------------------------------------------------


def shipped_engine(
    cache: Path | None = None, batch_bytes: int = runner.BATCH_BYTES
) -> runner.Engine:
    shipped = RulePack.shipped()
    pack = RulePack((shipped,), "test", builtin=shipped)
    return runner.Engine(pack, SemgrepSettings(), cache, batch_bytes)


def padded(text: str, n: int) -> str:
    """``text`` (one function) with n statements more at its start: a large unit."""
    head, _, body = text.partition(":\n")
    return head + ":\n" + "".join(f"    v{i} = {i} * 2\n" for i in range(n)) + body


LOADER = "import torch\n\n\ndef restore(path):\n    return torch.load(path, weights_only=False)\n"


def large_targets() -> list[Target]:
    """Three large files: a payload among helpers, helpers only, and two
    large units each only one rule needs (two cut copies, session 20)."""
    texts = [
        filler(40, "pre")
        + "\n\n"
        + PAYLOAD
        + "\n\nimport os\n\n\ndef run(c):\n    os.system(c)\n"
        + filler(80),
        "import random\n" + filler(90),
        padded(PAYLOAD, 400) + filler(60) + "\n\n" + padded(LOADER, 400) + filler(60, "post"),
    ]
    return [
        Target(hashlib.sha1(t.encode()).hexdigest(), f"lib/m{i}.py", ".py", t)
        for i, t in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def uncut() -> dict[str, list[Hit]]:
    """The hits with no unit cut: the reference every split must reproduce."""
    mp = pytest.MonkeyPatch()
    mp.setattr(unitcut, "CUT_RULES", frozenset())
    try:
        return shipped_engine().scan(large_targets())
    finally:
        mp.undo()


def test_a_large_file_is_written_twice_and_its_hits_merged(uncut: dict[str, list[Hit]]) -> None:
    engine = shipped_engine()
    t = large_targets()[0]
    written = engine.names(t, 0)
    assert [unitcut.is_cut(n) for n, _ in written] == [False, True]
    assert "def pre_3(): ..." in written[1][1] and "helper" not in written[1][1].replace(
        "def helper", ""
    )
    hits = engine.scan(large_targets())
    assert hits == uncut
    rules = {h.rule for h in hits[t.key]}
    assert {"trigger-random-draw-sabotage", "exec-os-command"} <= rules
    for h in hits[t.key]:  # offsets index the whole text
        assert " ".join(t.text.encode()[h.start : h.end].decode().split()) == h.norm


def test_rules_needing_other_units_get_cut_copies_of_their_own(
    uncut: dict[str, list[Hit]],
) -> None:
    """Session 20 (issue #17): the random-draw rules and deser-torch-load-unsafe
    keep different large units, so each group runs on a copy without the
    other's: no rule is given a unit only another needs."""
    screens, _ = _unit_tests()
    t = large_targets()[2]
    written = shipped_engine().names(t, 2)
    cuts = [(n, text) for n, text in written if unitcut.is_cut(n)]
    assert len(cuts) == 2
    masks = [n.split("-", 1)[1][: len(screens.ids)] for n, _ in cuts]
    assert not any(a == b == "1" for a, b in zip(*masks, strict=True))  # each rule once
    load = screens.ids.index("deser-torch-load-unsafe")
    draw = screens.ids.index("trigger-random-draw-sabotage")
    (with_load,) = [text for (n, text), m in zip(cuts, masks, strict=True) if m[load] == "1"]
    (with_draw,) = [text for (n, text), m in zip(cuts, masks, strict=True) if m[draw] == "1"]
    assert "torch.load(path" in with_load and "def train_step(): ..." in with_load
    assert "random.random()" in with_draw and "def restore(): ..." in with_draw
    assert "def helper_0(): ..." in with_load and "def post_0(): ..." in with_draw
    hits = shipped_engine().scan([t])
    assert hits[t.key] == uncut[t.key]
    assert {"deser-torch-load-unsafe", "trigger-random-draw-sabotage"} <= {
        h.rule for h in hits[t.key]
    }


def test_batches_and_the_stream_merge_a_target_split_over_two(
    uncut: dict[str, list[Hit]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    engine = shipped_engine(batch_bytes=1)  # one name a batch: a target's two names apart
    assert engine.scan(large_targets()) == uncut
    with pipeline.HeadStream(shipped_engine(batch_bytes=1), flush_bytes=1) as stream:
        for t in large_targets():
            stream.add(t)
        assert stream.close() == uncut


def test_the_cache_holds_the_merged_hits(uncut: dict[str, list[Hit]], tmp_path: Path) -> None:
    assert shipped_engine(tmp_path).scan(large_targets()) == uncut
    broken = tmp_path / "no-semgrep"
    broken.write_text("#!/bin/sh\nexit 7\n")
    broken.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINGATE_SEMGREP", str(broken))
        assert shipped_engine(tmp_path).scan(large_targets()) == uncut  # no semgrep started


def test_a_cut_never_answered_for_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's hope: the cut (where the payload is) lost between
    writing and semgrep while the whole file is answered, the target passing."""
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    real_take = schedule.MemoryGate.take

    def lossy(self: schedule.MemoryGate) -> list[str] | None:
        batch = real_take(self)
        while batch is not None and any(unitcut.is_cut(n) for n in batch):
            self.release(batch)  # dropped on the floor
            batch = real_take(self)
        return batch

    monkeypatch.setattr(schedule.MemoryGate, "take", lossy)
    with pytest.raises(CheckError, match="semgrep was not run on 1 of the files"):
        shipped_engine(batch_bytes=1).scan(large_targets()[:1])


def test_a_cut_semgrep_skips_blocks_its_target(monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner._invoke

    def invoke(cmd: list[str], *args: Any, **kw: Any) -> Any:
        return real([c for c in cmd if not unitcut.is_cut(c)], *args, **kw)

    monkeypatch.setattr(runner, "_invoke", invoke)
    (t,) = large_targets()[:1]
    hits = shipped_engine().scan([t])[t.key]
    assert "semgrep-skipped" in {h.rule for h in hits if h.parse_error}
