"""Unit-screened rules run on a cut of the file (issue #17).

A rule screened ``unit: S`` (screen.py) has its guard and payload in one
function: a match lies in a *unit* (facts.py: an outermost function or
method, with the module and class code every unit shares) where ``S`` holds.
Yet a file such a rule admits went to semgrep whole, and six of them
(CUT_RULES) were ~65 of the ~170 s semgrep spent matching in a full scan of
the large corpus: they walked every other function of a 4,000-line modeling
file to find nothing.

So a Python target may be written twice: the whole file with those rules'
mask bits cleared (every other rule as before), and a *cut* copy carrying
only their bits, where every outermost function none of them needs is
stubbed as regions.py stubs a def (decorators kept, ``def name(): ...`` on
the ``def`` line, the rest blank lines): every line keeps its number and
every kept line its columns. The runner merges both names' hits under the
target's key (offsets mapped back to the whole text, see ``remap``) and still
requires every name to be answered for; the cache holds the merged hits.

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
import re
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traingate import pyast
from traingate.checks.semgrep.hits import Hit

if TYPE_CHECKING:
    from traingate.checks.semgrep.facts import Facts
    from traingate.checks.semgrep.screen import Screens

# The rules analysed for the cut (module doc) and found equal on the cut by
# the oracle: a new ``unit:`` rule runs on whole files until it is added here.
CUT_RULES = frozenset(
    {
        "deser-torch-load-unsafe",
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
        "sabotage-reseed-in-loop",
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
# The name of a cut: ``t<i>u-<mask><ext>`` beside the whole file's ``t<i>-...``.
CUT_MARK = "u"

_ODD = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # line ends to some tool, not to all
_INDENT = re.compile(r"[ \t\f]*")
_GLOBAL = re.compile(r"\bglobal\b")
_Func = ast.FunctionDef | ast.AsyncFunctionDef
Test = Callable[[Any], bool]


def unit_tests(sources: dict[str, tuple[Path, str]], ids: Sequence[str]) -> dict[int, Test]:
    """Mask index -> the compiled ``S`` of each CUT_RULES rule whose screen is
    exactly ``unit: S`` (``sources``: screen.read's rule files and texts)."""
    import yaml

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
            out[ids.index(rule_id)] = compile_screen(spec["unit"])
    return out


@dataclass(frozen=True)
class Split:
    """A target written twice: ``whole`` (None: no other rule runs on it) and
    the cut text under ``cut_name``."""

    whole: str | None
    cut_name: str
    cut: str


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
    cut = cut_of(f, [tests[k] for k in bits], min_dropped, min_share)
    if cut is None:
        return None
    chosen = set(bits)
    whole_mask = "".join("0" if k in chosen else c for k, c in enumerate(mask))
    cut_mask = "".join("1" if k in chosen else "0" for k in range(width))
    whole = f"{head}-{whole_mask}{ext}" if "1" in whole_mask or keep_zero else None
    return Split(whole, f"{head}{CUT_MARK}-{cut_mask}{ext}", cut)


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
    """cut_text for a file's facts (screen.py's, reused: see Seen)."""
    # The cyclic collector paused, as screen.Screens.mask_parsed does: building
    # the units allocates much and holds no cycle.
    was = gc.isenabled()
    gc.disable()
    try:
        return _cut(f, tests, min_dropped, min_share)
    finally:
        if was:
            gc.enable()


def _cut(f: Facts, tests: Sequence[Test], min_dropped: int, min_share: float) -> str | None:
    text = f.text
    if f.tree is None or getattr(f, "run", None) is not None or any(c in text for c in _ODD):
        return None  # not a whole file's facts, or a line end some tool counts otherwise
    units = f.units()
    funcs = outermost(f.tree)
    lines = text.split("\n")
    if not funcs or len(units) != len(funcs) or not _aligned(units, funcs, lines):
        return None
    keep: set[int] = set()
    for test in tests:
        # An admitted rule no unit holds cannot match: ``S`` holds on the unit
        # of each of its matches, and a match in module or class code is in
        # every unit's facts. It needs no unit kept (this was a fallback to
        # the whole file; screen._unit admits only where some unit holds).
        keep |= {i for i, u in enumerate(units) if i not in keep and test(u)}
    stubs = [i for i in range(len(funcs)) if i not in keep and _stubbable(funcs[i], lines)]
    if "global" in text:
        stubs = [i for i in stubs if not _declares_global(funcs[i], lines)]
    if "import" in text:
        used: set[str] = set()
        for i in keep:
            used |= units[i].names
        stubs = [i for i in stubs if not _imports_for(funcs[i], lines, used)]
    blanked = sum(_end(funcs[i]) - funcs[i].lineno for i in stubs)
    if not stubs or blanked < min_dropped or blanked < min_share * len(lines):
        return None
    for i in stubs:
        _stub(lines, funcs[i])
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
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)
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


def _declares_global(fn: _Func, lines: list[str]) -> bool:
    span = "\n".join(lines[fn.lineno - 1 : _end(fn)])
    if _GLOBAL.search(span) is None:
        return False
    return any(isinstance(n, ast.Global) for n in ast.walk(fn))


def _imports_for(fn: _Func, lines: list[str], used: set[str]) -> bool:
    """Whether ``fn`` imports a name a kept unit uses: semgrep 1.182 resolves
    an import wherever it stands, so ``from random import random as draw`` in
    one function makes ``draw()`` in another ``random.random()`` (issue #16:
    stubbing the importer hid a payload from the cut rules)."""
    span = "\n".join(lines[fn.lineno - 1 : _end(fn)])
    if "import" not in span:
        return False
    for node in ast.walk(fn):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) in used:
                    return True
    return False


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
