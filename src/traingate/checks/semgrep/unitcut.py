"""Unit-screened rules run on a cut of the file (issue #17).

A rule screened ``unit: S`` (screen.py) has its guard and payload in one
function: a match lies in a *unit* (facts.py: an outermost function or
method, with the module and class code every unit shares) where ``S`` holds.
Yet a file such a rule admits went to semgrep whole, and six of them
(CUT_RULES) were ~65 of the ~170 s semgrep spent matching in a full scan of
the large corpus: they walked every other function of a 4,000-line modeling
file to find nothing.

So a Python target may be written more than once: the whole file with
those rules' mask bits cleared (every other rule as before), and *cut*
copies, each carrying the bits of a group of them, where every outermost
function none of the group needs is stubbed as regions.py stubs a def
(decorators kept, ``def name(): ...`` on the ``def`` line, the rest blank
lines): every line keeps its number and every kept line its columns. The
rules are grouped by the units they keep (_grouped; until session 20 one
copy kept every admitted rule's units for all of them). The runner merges
all names' hits under the target's key (offsets mapped back to the whole
text, see ``remap``) and still requires every name to be answered for; the
cache holds the merged hits.

What a cut keeps besides the units where an admitted rule's ``S`` holds:

- module and class statements and every decorator (not in a function: never
  stubbed), so constants, a module-level ``$R = $E`` draw and class headers
  stay as semgrep propagates them;
- functions with a ``global`` statement: semgrep 1.182 treats a module
  variable as a constant unless some function declares it ``global`` and
  assigns it, so stubbing that function could make a guard constant in a kept
  unit (tested: a local assignment of the same name elsewhere changes
  nothing, a ``global`` one does). ``nonlocal`` names a variable of an
  enclosing function, which is in the same outermost function: no unit's
  business but its own;
- functions whose body shares the header's line: they cannot be stubbed;
- functions that import a name a kept unit uses: semgrep resolves an import
  wherever it stands (``from random import random as draw`` in one function
  makes ``draw()`` in another ``random.random()``; issue #16: the cut hid such
  a payload from trigger-random-draw-sabotage until session 19).

Not kept, argued from the six rules' shapes: the defs a kept unit calls (semgrep
OSS neither inlines calls nor propagates return values: ``foo(h())`` with ``h``
returning a constant did not match ``foo("abc")``; the one rule whose pattern
reads a called def, tamper-framework-monkeypatch's ``setattr`` helper, keeps
it by its own screen: ``helper-of`` and ``file:``, screen.py), a class's other methods
(``self.p`` set in one method is not carried into another, facts.py; no
pattern of the six names a class). A stub drops a def's parameters too:
they stand on the def's own lines, which are its unit's (facts.py), so a
match in them lies in a unit the cut keeps when its ``S`` holds there.

Whole file, as before, whenever anything is unclear: a text with a line
break other than LF (or a character some tool counts as one), one Python
cannot parse, a unit count that does not match the outermost functions, a
cut that does not parse, or fewer than
MIN_DROPPED lines blanked (see there). tests/test_semgrep_unitcut.py checks
that each rule's findings on the cut equal its findings on the whole file.
"""

from __future__ import annotations

import ast
import bisect
import gc
import itertools
import re
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from traingate import pyast
from traingate.checks.semgrep.hits import Hit

if TYPE_CHECKING:
    from traingate.checks.semgrep.facts import Facts
    from traingate.checks.semgrep.screen import Screens

# The rules analysed for the cut (module doc) and found equal on the cut by
# the oracle: a new ``unit:`` rule runs on whole files until it is added here.
CUT_RULES = frozenset(
    {
        "deser-pickle-load",
        "deser-torch-load-unsafe",
        "egress-http-upload",
        "egress-secret-exfil",
        "egress-storage-upload",
        "exec-dynamic-code",
        "obfusc-decode-exec",
        "obfusc-string-built-lookup",
        "persist-log-checkpoint-destruction",
        "persist-timestamp-forgery",
        "remote-fetch-then-exec",
        "remote-trust-remote-code",
        "sabotage-conditional-grad-drop",
        "sabotage-grad-param-corruption",
        "sabotage-label-class-remap",
        "sabotage-label-corruption",
        "sabotage-nondeterministic-reseed",
        "sabotage-optimizer-state-tamper",
        "sabotage-process-kill",
        "sabotage-random-loss-scaling",
        "sabotage-reseed-every-step",
        "sabotage-reseed-in-loop",
        "sabotage-sampler-rank-seed",
        "sabotage-sleep-in-training-path",
        "sabotage-step-learns-nothing",
        "tamper-builtins-override",
        "tamper-framework-monkeypatch",
        "tamper-preload-env",
        "tamper-site-packages-write",
        "tamper-sys-modules-injection",
        "trigger-host-user-conditional-sabotage",
        "trigger-random-draw-sabotage",
        "trigger-rank-conditional-sabotage",
        "trigger-rank-loss-reduction",
        "trigger-time-bomb",
    }
)
# A cut is written only when it blanks at least MIN_DROPPED lines and
# MIN_SHARE of the file. What it costs: semgrep parses the cut as a second
# file (~0.026 CPU ms a kept line, docs/performance.md's floor, plus a few ms
# a file) and Python stubs it (the units are the screens', see Seen); what it
# saves: the cut rules' matching on the blanked lines, 0.02-0.1 ms a line per
# admitted rule (bench/rule_cost.py, session 18). On the large corpus a cost
# model with each rule's own rate would net ~18.6 CPU s, these two bounds
# 17.2 (429 cuts; any cut at all 16.9): within its error, and a per-rule
# table would go stale as the rules get cheaper.
MIN_DROPPED = 300
MIN_SHARE = 0.25
# What a cut copy costs and saves, in CPU ms (_grouped, issue #17): semgrep parses
# a copy (a few ms, and ~0.026 a non-blank line: docs/performance.md's
# floor) and each rule run on it matches every non-blank line (0.02-0.1 ms a
# line, bench/rule_cost.py, session 18; the low end taken: a copy is made
# only where it surely pays).
COST_FILE = 5.0
COST_PARSE = 0.026
COST_MATCH = 0.02
# The name of a cut: ``t<i>u-<mask><ext>`` beside the whole file's ``t<i>-...``;
# a file's copies carry disjoint masks, so their names differ.
CUT_MARK = "u"

_ODD = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # line ends to some tool, not to all
_INDENT = re.compile(r"[ \t\f]*")
_GLOBAL = re.compile(r"\bglobal\b")
_Func = ast.FunctionDef | ast.AsyncFunctionDef
Test = Callable[[Any], bool]
T = TypeVar("T")


def unit_tests(sources: dict[str, tuple[Path, str]], ids: Sequence[str]) -> dict[int, Test]:
    """Mask index -> the compiled ``S`` of each CUT_RULES rule whose screen is
    exactly ``unit: S`` (``sources``: screen.read's rule files and texts)."""
    import yaml

    from traingate.checks.semgrep import shared
    from traingate.checks.semgrep.screen import KEY, compile_screen

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the shipped pack: trusted
    out: dict[int, Test] = {}
    for rule_id, (_, text) in sources.items():
        if rule_id not in CUT_RULES or rule_id not in ids:
            continue
        block = re.search(rf"^( *){KEY}:[ \t]*\n((?:\1  [^\n]*\n|[ \t]*\n)*)", text, re.M)
        if block is None:
            continue
        spec = yaml.load(re.sub(f"(?m)^{block.group(1)}", "", block.group(2)), Loader=loader)
        if isinstance(spec, dict) and list(spec) == ["unit"]:
            # Kept under the key the mask's test keeps it (shared.unit_keys):
            # the units the mask asked are not asked again (issue #17).
            out[ids.index(rule_id)] = compile_screen(spec["unit"], shared.unit_keys([spec]))
    return out


@dataclass(frozen=True)
class Split:
    """A target written more than once: ``whole`` (None: no other rule runs
    on it) and each cut copy as (name, text), its rules' bits in its name."""

    whole: str | None
    cuts: tuple[tuple[str, str], ...]

    @property
    def cut_name(self) -> str:
        return self.cuts[0][0]

    @property
    def cut(self) -> str:
        return self.cuts[0][1]


def split(
    name: str,
    width: int,
    f: Facts,
    tests: dict[int, Test],
    keep_zero: bool,
    min_dropped: int | None = None,
    min_share: float | None = None,
) -> Split | None:
    """The whole and cut names for a target named ``name`` (``t<i>-<mask><ext>``
    with ``width`` mask characters, screen.py) whose text's facts are ``f``;
    None to send it whole as named. ``keep_zero``: a whole file whose mask is all zeros still
    goes to semgrep (a rule no screen covers runs on it). Never raises."""
    try:
        least = MIN_DROPPED if min_dropped is None else min_dropped
        share = MIN_SHARE if min_share is None else min_share
        return _split(name, width, f, tests, keep_zero, least, share)
    except Exception:  # fail closed: any surprise means the whole file, as before
        return None


def _split(
    name: str,
    width: int,
    f: Facts,
    tests: dict[int, Test],
    keep_zero: bool,
    min_dropped: int,
    min_share: float,
) -> Split | None:
    head, _, rest = name.partition("-")
    mask, ext = rest[:width], rest[width:]
    if len(mask) != width or set(mask) - {"0", "1"} or not ext.startswith("."):
        return None
    bits = [k for k in sorted(tests) if k < width and mask[k] == "1"]
    if not bits or f.text.count("\n") < min_dropped:
        return None
    groups = _paused(lambda: _grouped(f, {k: tests[k] for k in bits}, min_dropped, min_share))
    if not groups:
        return None
    chosen = {k for ks, _ in groups for k in ks}
    whole_mask = "".join("0" if k in chosen else c for k, c in enumerate(mask))
    whole = f"{head}-{whole_mask}{ext}" if "1" in whole_mask or keep_zero else None
    cuts = tuple(
        (f"{head}{CUT_MARK}-{''.join('1' if k in ks else '0' for k in range(width))}{ext}", cut)
        for ks, cut in groups
    )
    return Split(whole, cuts)


def cut_text(
    text: str, tests: Sequence[Test], min_dropped: int = 0, min_share: float = 0.0
) -> str | None:
    """``text`` with every outermost function that no unit test holds on
    stubbed (module doc); None when there is no such cut worth writing."""
    from traingate.checks.semgrep.facts import facts

    f = facts(text)
    return None if f is None else cut_of(f, tests, min_dropped, min_share)


def cut_of(
    f: Facts, tests: Sequence[Test], min_dropped: int = 0, min_share: float = 0.0
) -> str | None:
    """cut_text for a file's facts (screen.py's, reused: see Seen): one cut
    keeping every unit any of ``tests`` holds on."""

    def one() -> str | None:
        plan = _Plan.of(f)
        if plan is None:
            return None
        keep: set[int] = set()
        for test in tests:
            keep |= plan.keep(test, keep)
        return plan.render(frozenset(keep), min_dropped, min_share)

    return _paused(one)


def _paused(job: Callable[[], T]) -> T:
    # The cyclic collector paused, as screen.Screens.mask_parsed does: building
    # the units allocates much and holds no cycle.
    was = gc.isenabled()
    gc.disable()
    try:
        return job()
    finally:
        if was:
            gc.enable()


def _grouped(
    f: Facts, tests: dict[int, Test], min_dropped: int, min_share: float
) -> list[tuple[tuple[int, ...], str]]:
    """The cut copies of a file: (the mask bits of the rules run on it, its
    text); a rule in none runs on the whole file.

    Session 19 wrote one cut keeping the units of every admitted rule: a rule
    was given the units the others needed too (the deser/egress/... rules
    605k lines where their own units are 375k). Now the rules start grouped by
    the units they keep and two groups share a copy while that costs less
    than two (COST_*: a copy is a parse, a line a rule matches on is work);
    a group whose cut would drop too little runs on the whole file (#17)."""
    plan = _Plan.of(f)
    if plan is None:
        return []
    # Keeping no unit stubs the most (Plan.stubs): when even that blanks too
    # few lines, no group's cut is written, and no unit need be asked (#17).
    if plan.kept_lines(frozenset(), min_dropped, min_share) is None:
        return []
    by_keep: dict[frozenset[int], list[int]] = {}
    for k, test in tests.items():
        by_keep.setdefault(plan.keep(test), []).append(k)
    groups = [(tuple(ks), keep) for keep, ks in by_keep.items()]

    def cost(n: int, keep: frozenset[int]) -> float:
        kept = plan.kept_lines(keep, min_dropped, min_share)
        if kept is None:  # no cut: the rules run on the whole file
            return COST_MATCH * n * plan.lines_in_use
        return COST_FILE + COST_PARSE * kept + COST_MATCH * n * kept

    while len(groups) > 1:
        best: tuple[float, int, int] | None = None
        for a, b in itertools.combinations(range(len(groups)), 2):
            (ka, sa), (kb, sb) = groups[a], groups[b]
            gain = cost(len(ka), sa) + cost(len(kb), sb) - cost(len(ka) + len(kb), sa | sb)
            if gain >= 0 and (best is None or gain > best[0]):
                best = (gain, a, b)
        if best is None:
            break
        _, a, b = best
        (ka, sa), (kb, sb) = groups[a], groups[b]
        groups[a] = (tuple(sorted(ka + kb)), sa | sb)
        del groups[b]
    out: list[tuple[tuple[int, ...], str]] = []
    for ks, keep in groups:
        text = plan.render(keep, min_dropped, min_share)
        if text is not None:
            out.append((ks, text))
    return out


class _Plan:
    """A file's outermost functions and units, read once for every cut of it."""

    def __init__(self, f: Facts, units: Sequence[Any], funcs: list[_Func], lines: list[str]):
        self.units, self.funcs, self.lines = units, funcs, lines
        n = len(funcs)
        fixed = {i for i in range(n) if not _stubbable(funcs[i], lines)}
        if "global" in f.text:
            fixed |= _declaring_global(f.text, funcs)
        self.fixed = frozenset(fixed)
        self.imports = _imported(f, funcs) if "import" in f.text else {}
        # Non-blank lines up to each line (a blank line costs semgrep little).
        filled = list(itertools.accumulate(map(bool, map(str.strip, lines)), initial=0))
        self.lines_in_use = filled[-1]
        # What stubbing each function blanks: lines, and non-blank lines.
        self.blanks = [_end(fn) - fn.lineno for fn in funcs]
        self.fills = [filled[_end(fn)] - filled[fn.lineno] for fn in funcs]
        self._stubs: dict[frozenset[int], list[int]] = {}
        self._kept: dict[tuple[frozenset[int], int, float], int | None] = {}

    @classmethod
    def of(cls, f: Facts) -> _Plan | None:
        text = f.text
        if f.tree is None or getattr(f, "run", None) is not None or any(c in text for c in _ODD):
            return None  # not a whole file's facts, or a line end some tool counts otherwise
        plan = f._memo.get("unitcut")
        if plan is None:
            units = f.units()
            funcs = outermost(f.tree)
            lines = text.split("\n")
            if not funcs or len(units) != len(funcs) or not _aligned(units, funcs, lines):
                return None
            plan = f._memo["unitcut"] = cls(f, units, funcs, lines)
        return plan if isinstance(plan, _Plan) else None

    def keep(self, test: Test, known: Collection[int] = ()) -> frozenset[int]:
        """The units ``test`` holds on (``known``: taken as held, not asked).
        An admitted rule no unit holds cannot match: ``S`` holds on the unit
        of each of its matches, and a match in module or class code is in
        every unit's facts. It needs no unit kept."""
        units = self.units
        return frozenset(i for i in range(len(units)) if i in known or test(units[i]))

    def stubs(self, keep: frozenset[int]) -> list[int]:
        """The functions a cut keeping ``keep`` stubs: the rest but those
        with a ``global``, a one-line body, or an import of a name a kept
        unit uses (module doc)."""
        if keep not in self._stubs:
            used: set[str] = set()
            if self.imports:
                for i in keep:
                    used |= self.units[i].names
            self._stubs[keep] = [
                i
                for i in range(len(self.funcs))
                if i not in keep
                and i not in self.fixed
                and self.imports.get(i, frozenset()).isdisjoint(used)
            ]
        return self._stubs[keep]

    def kept_lines(self, keep: frozenset[int], min_dropped: int, min_share: float) -> int | None:
        """The non-blank lines of the cut keeping ``keep``; None when it
        blanks too few lines to be written (MIN_DROPPED, MIN_SHARE)."""
        key = (keep, min_dropped, min_share)
        if key not in self._kept:
            self._kept[key] = self._kept_lines(keep, min_dropped, min_share)
        return self._kept[key]

    def _kept_lines(self, keep: frozenset[int], min_dropped: int, min_share: float) -> int | None:
        stubs = self.stubs(keep)
        blanked = sum(self.blanks[i] for i in stubs)
        if not stubs or blanked < min_dropped or blanked < min_share * len(self.lines):
            return None
        return self.lines_in_use - sum(self.fills[i] for i in stubs)

    def render(self, keep: frozenset[int], min_dropped: int, min_share: float) -> str | None:
        """The cut's text; None when it is not worth writing or not Python."""
        if self.kept_lines(keep, min_dropped, min_share) is None:
            return None
        lines = list(self.lines)
        for i in self.stubs(keep):
            _stub(lines, self.funcs[i])
        out = "\n".join(lines)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pyast.parse(out)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None  # would be a (blocking) parse error of our own making
        return out


class Seen:
    """The facts the screens last read: Screens.mask_parsed hands every test
    the file's facts (its tree and, for the unit rules, the units it built),
    so a cut reuses them instead of parsing the file again (~half the cut's
    Python time on the large corpus)."""

    def __init__(self) -> None:
        self.facts: Facts | None = None

    def watch(self, screens: Screens) -> Screens:
        """``screens`` with each test noting the facts it is given."""

        def noting(test: Test) -> Test:
            def seen(f: Facts) -> bool:
                self.facts = f
                return test(f)

            return seen

        return replace(screens, tests=tuple(noting(t) for t in screens.tests))

    def take(self) -> Facts | None:
        found, self.facts = self.facts, None
        return found


def outermost(tree: ast.Module) -> list[_Func]:
    """The outermost functions (facts.py's units), by line: the defs reached
    through statement bodies without passing through another def."""
    out: list[_Func] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, field, None) or ():
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    out.append(child)
                elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                    todo.append(child)
    out.sort(key=lambda fn: fn.lineno)
    return out


def _aligned(units: Sequence[Any], funcs: list[_Func], lines: list[str]) -> bool:
    """Unit i is function i: its run of text (facts._Gaps) holds the def line."""
    starts = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    for u, fn in zip(units, funcs, strict=True):
        run = getattr(u, "run", None)
        if not isinstance(run, tuple) or not run[0] <= starts[fn.lineno - 1] < run[1]:
            return False
    return True


def _end(fn: _Func) -> int:
    return fn.end_lineno or fn.lineno


def _stubbable(fn: _Func, lines: list[str]) -> bool:
    """Its body starts a line of its own (as regions._item decides)."""
    first = fn.body[0]
    first_line = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
    lead = _INDENT.match(lines[first_line - 1])
    own_line = lead is not None and (
        first_line < first.lineno or len(lead.group(0).encode()) == first.col_offset
    )
    return own_line and first_line > fn.lineno


def _declaring_global(text: str, funcs: list[_Func]) -> set[int]:
    """The functions with a ``global`` statement: those whose lines hold the
    word (found in one pass over the text, issue #17: not a join and a
    search of each function's lines) and whose tree holds the statement."""
    marked: list[int] = []  # the lines holding the word, ascending
    line, pos = 1, 0
    for m in _GLOBAL.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        marked.append(line)
    out: set[int] = set()
    for i, fn in enumerate(funcs):
        k = bisect.bisect_left(marked, fn.lineno)
        held = k < len(marked) and marked[k] <= _end(fn)
        if held and _has_global(fn):
            out.add(i)
    return out


def _has_global(fn: _Func) -> bool:
    """Whether ``fn`` (its nested defs too) holds a ``global`` statement: a
    statement, so found through statement bodies only, not in a walk of
    every expression (issue #17: 0.53 -> 0.43 CPU s on the large corpus, where
    "global" is a word of many docstrings and comments)."""
    todo: list[ast.AST] = [fn]
    while todo:
        node = todo.pop()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, field, None) or ():
                if type(child) is ast.Global:
                    return True
                todo.append(child)
    return False


def _imported(f: Facts, funcs: list[_Func]) -> dict[int, frozenset[str]]:
    """Function index -> the names its imports bind: kept when a kept unit
    uses one, as semgrep 1.182 resolves an import wherever it stands, so
    ``from random import random as draw`` in one function makes ``draw()`` in
    another ``random.random()`` (issue #16: stubbing the importer hid a
    payload from the cut rules). Read from each import's names (``alias``
    nodes): facts.py keeps them all in ``looks``, a few of the file's nodes,
    and an alias stands on its import's lines, all in one function or in none
    (#17: a loop over every node cost ~0.2 CPU s of the large corpus)."""
    starts = [fn.lineno for fn in funcs]
    found: dict[int, set[str]] = {}
    if f.nodes:
        aliases = [n for n in f.looks if type(n) is ast.alias]
    else:
        nodes = tuple(ast.walk(f.tree)) if f.tree is not None else ()
        aliases = [n for n in nodes if type(n) is ast.alias]
    for alias in aliases:
        line = alias.lineno
        i = bisect.bisect_right(starts, line) - 1
        if i >= 0 and line <= _end(funcs[i]):
            bound = alias.asname or alias.name.split(".")[0]
            found.setdefault(i, set()).add(bound)
    return {i: frozenset(names) for i, names in found.items()}


def _stub(lines: list[str], fn: _Func) -> None:
    """regions._stub for a def: ``def name(): ...`` on its ``def`` line (its
    indentation as written), the lines after it to its end blank."""
    lead = _INDENT.match(lines[fn.lineno - 1])
    keyword = "async def" if isinstance(fn, ast.AsyncFunctionDef) else "def"
    lines[fn.lineno - 1] = f"{lead.group(0) if lead else ''}{keyword} {fn.name}(): ..."
    for n in range(fn.lineno, _end(fn)):
        lines[n] = ""


def is_cut(name: str) -> bool:
    """Whether a target name is a cut's (``t<i>u-...``)."""
    return name.partition("-")[0].endswith(CUT_MARK)


def remap(hits: Collection[Hit], cut: bytes, whole: bytes) -> list[Hit]:
    """A cut's hits with their byte offsets moved to the whole text: each
    line keeps its number, and a kept line its bytes, so an offset moves by
    the difference of its line's starts."""
    if not hits:
        return []
    cut_starts = _line_starts(cut)
    whole_starts = _line_starts(whole)

    def move(offset: int) -> int:
        if offset < 0:
            return offset
        line = bisect.bisect_right(cut_starts, offset) - 1
        if line >= len(whole_starts):
            return offset
        return whole_starts[line] + offset - cut_starts[line]

    return [replace(h, start=move(h.start), end=move(h.end)) for h in hits]


def _line_starts(data: bytes) -> list[int]:
    return [0] + [m.end() for m in re.finditer(rb"\n", data)]
