"""Screen atoms read from the syntax tree's nodes (screen.py, issue #17),
here so that screen.py and facts.py stay under 600 lines: ``guard-region``,
a payload word inside the region of a guard whose condition spells a guard
word.

trigger-rank-conditional-sabotage binds each region guarded by the rank or
world size (``if $COND: ...``, ``while $COND: ...``, ``if $COND: return``
and the rest of its block, ``$COND and <kill>``, ``<kill> if $COND else
$E``, ``$TV = $SRC`` and what follows) and looks for its payloads there
only; its regex reads ``$COND``'s or ``$SRC``'s text. Its screen asked for
a payload name and a rank word anywhere in one function: that admitted
2,067 functions (107,455 lines) of the large corpus, most for a docstring's
LoRA "rank" or a ``world_size`` read far from any ``.grad`` or ``exit``.
trigger-random-draw-sabotage (session 24) has the same guard forms with a
random draw as the condition: its draw name and payload name anywhere in
one function admitted 81,244 lines of the corpus (a ``torch.rand`` weight
init beside any ``raise``).

Read once per file: a *guard* is an ``if`` / ``while`` test, a conditional
expression's test, a boolean operation, or an assignment's (or walrus's)
value, *signalled* when one of ``words`` (ignoring case, no word boundary:
a superset of the rule's ``\\b`` regex, also beside a non-ASCII letter) is
in the raw text of its lines, in a literal or an identifier on them (as
Python reads them: ``"\\x72ank"``, NFKC-folded names), or one of
``guard-names`` is an identifier there (``current_device``, an ``environ``
read whose key semgrep may fold). Its *region*, in lines: a boolean
operation's, a conditional expression's, a ``while``'s or an ``if``'s own
lines; from an ``if`` whose body returns or continues to the end of the
innermost function or class holding it (or the file's end: the rest of its
block, and more); for an assignment, each ``if`` after it in that scope
whose header spells a name of its targets (``<... $TV ...>``; with
``assigned: sequence``, from the assignment on to that ``if``'s end: the
random-draw rule binds ``$TV = $COND ... if ...`` whole, so a payload
between the two is in it), and from it to the end of such an ``if`` around
it. A *payload* is an identifier in ``names`` or matching ``name-regex``, a
literal matching ``string``, ``text`` matching the raw text, or a node of
a kind in ``nodes`` (``Raise``) starting on a line of a signalled guard's
region. With ``literals: false`` no literal signals a guard (a draw is a
call), and an ASCII file's names are read from its text alone. The atom holds on a unit
whose run of lines (facts._Gaps) holds a payload line, and on every unit
when one is in module or class code. A line is read whole (a comment after
the condition, the one-line body): only more admits.

An import that renames a name spelling a word or a guard name (``from
torch.distributed import get_rank as r``) signals every guard, and one that
renames a payload name (``from time import sleep as nap``) makes every
line of a region a payload line: semgrep resolves such a name wherever the
import stands, and the lines no longer spell it. So it does a name
imported from a module (``from numpy.random import beta``: ``beta()`` is
``numpy.random.beta()``): from a module a part of whose path spells a word
or a guard name, the name is a guard name; from one whose last part is a
payload name (``from torch.nn.init import zeros_``), a function's
(lower-case) name is a payload name; a star import from either signals
every guard or makes every region line a payload line (issue #16: the
rank rule's screen dropped ``zeros_(w)`` under a rank guard until
session 24).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable
from typing import Any

from traingate.checks.semgrep.facts import Facts
from traingate.checks.semgrep.gaps import line_starts
from traingate.checks.semgrep.units import by_unit, file_of

Test = Callable[[Facts], bool]

_VALUED = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_KEYS = {"words", "guard-names", "names", "name-regex", "string", "text", "nodes", "assigned"}
_KEYS |= {"literals"}
_PAYLOAD_NODES = {"Raise": ast.Raise}


class _Spec:
    """The atom's YAML, checked and compiled."""

    def __init__(self, value: Any, error: type[ValueError]) -> None:
        if not isinstance(value, dict) or not {"words", "names"} <= set(value) <= _KEYS:
            raise error(f"guard-region: takes words, names and some of {sorted(_KEYS)}")
        lists = {k: value.get(k, []) for k in ("words", "guard-names", "names")}
        for k, v in lists.items():
            if not isinstance(v, list) or not all(isinstance(w, str) and w for w in v):
                raise error(f"guard-region: {k} takes a list of words, not {v!r}")
        words = sorted({w.casefold() for w in lists["words"]}, key=len, reverse=True)
        if not words:
            raise error("guard-region: words must not be empty")
        self.words = re.compile("|".join(map(re.escape, words)), re.I)
        self.folded = tuple(words)
        self.longest = max(map(len, words))
        self.guard_names = frozenset(lists["guard-names"])
        self.names = frozenset(lists["names"])
        rxs: dict[str, re.Pattern[str] | None] = {}
        for k in ("name-regex", "string", "text"):
            try:
                rxs[k] = re.compile(value[k], re.M) if k in value else None
            except (re.error, TypeError) as exc:
                raise error(f"guard-region: {k}: {value[k]!r}: {exc}") from None
        self.name_rx, self.string_rx, self.text_rx = rxs["name-regex"], rxs["string"], rxs["text"]
        nodes = value.get("nodes", [])
        if not isinstance(nodes, list) or not set(nodes) <= set(_PAYLOAD_NODES):
            raise error(
                f"guard-region: nodes takes some of {sorted(_PAYLOAD_NODES)}, not {nodes!r}"
            )
        self.nodes = tuple(_PAYLOAD_NODES[n] for n in nodes)
        # `$TV = $COND ... if <... $TV ...>:` bound as one region (the random-draw
        # rule: a payload between the two is in it) or the `if` alone (the rank rule)
        self.assigned = value.get("assigned", "if")
        if self.assigned not in ("if", "sequence"):
            raise error(f"guard-region: assigned is if or sequence, not {self.assigned!r}")
        # `literals: false`: a string never signals a guard (the random-draw rule's
        # sources are calls; the rank rule's regex reads "\x72ank" in $COND's text)
        self.literals = value.get("literals", True)
        if self.literals not in (True, False):
            raise error(f"guard-region: literals is true or false, not {self.literals!r}")

    def payload_name(self, name: str) -> bool:
        return name in self.names or (
            self.name_rx is not None and self.name_rx.search(name) is not None
        )


def atom(key: str, value: Any, error: type[ValueError]) -> Test:
    """The test of ``guard-region`` (screen.py's hook)."""
    return guard_region(value, error)


def guard_region(value: Any, error: type[ValueError]) -> Test:
    """The atom's test (module doc); a unit without its file admits."""
    spec = _Spec(value, error)
    key = f"guard-region {sorted(value.items())!r}"
    regions = by_unit(key, lambda file: _payloads(file, spec))

    def test(f: Facts) -> bool:
        if f.defs and file_of(f) is f:
            # unit:'s pre-test on a file with functions admits: its units decide,
            # and the regions are read only for a file where one unit passes the
            # cheaper atoms (#17: ~1/3 of the random-draw rule's files)
            return True
        return regions(f)

    return test


def _payloads(file: Facts, spec: _Spec) -> list[int]:
    """The sorted offsets of the payload lines' starts (module doc)."""
    guards: list[tuple[ast.AST, int]] = []  # (the guard, the last line of its condition)
    scopes: list[tuple[int, int]] = []  # (first body line, last line) of defs and classes
    every_guard = every_line = False
    guard_names, names = set(spec.guard_names), set(spec.names)
    for node in file.nodes:
        kind = type(node)
        if kind is ast.If or kind is ast.While:  # the header, to the body's first line
            last = max(_end(node.test), node.body[0].lineno - 1)  # type: ignore[attr-defined]
            guards.append((node, last))
        elif kind is ast.BoolOp or kind is ast.IfExp:
            guards.append((node, _end(node)))
        elif kind in _VALUED:
            if node.value is not None:  # type: ignore[attr-defined]
                guards.append((node, _end(node)))
        elif kind in _SCOPES:
            scopes.append((node.body[0].lineno, _end(node)))  # type: ignore[attr-defined]
        elif kind is ast.alias:
            name = node.name.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
            if node.asname and node.asname != name:  # type: ignore[attr-defined]
                if spec.words.search(name) or name in spec.guard_names:
                    every_guard = True
                if spec.payload_name(name):
                    every_line = True
        elif kind is ast.ImportFrom:
            # semgrep reads `beta()` after `from numpy.random import beta` as
            # numpy.random.beta(), a draw, and `zeros_(w)` after `from torch.nn.init
            # import zeros_` as torch.nn.init.zeros_(w), a payload (`$P.data.$F(...)`
            # likewise): neither line spells the module (#16). A payload module is
            # its last part (the attribute before the call) and a function a
            # lower-case name (not `from .state import PartialState`, #17).
            parts = (node.module or "").split(".")  # type: ignore[attr-defined]
            drawn = any(spec.words.search(p) or p in spec.guard_names for p in parts)
            hits = spec.payload_name(parts[-1])
            for a in node.names if drawn or hits else ():  # type: ignore[attr-defined]
                every_guard |= drawn and a.name == "*"
                every_line |= hits and a.name == "*"
                if drawn:
                    guard_names.add(a.asname or a.name)
                if hits and (a.name[:1].islower() or a.name[:1] == "_"):
                    names.add(a.asname or a.name)
    if not guards:
        return []
    text = file.text
    starts = line_starts(text)
    lines = len(starts)
    # A condition's lines run on over comments and closing brackets: semgrep's
    # range of a parenthesized $COND may hold a comment after the expression.
    spans = [(g.lineno, _more(text, starts, last)) for g, last in guards]  # type: ignore[attr-defined]
    signal = _marked(file, spec, starts, spans, every_guard, frozenset(guard_names))
    scopes.sort()
    firsts = [s for s, _ in scopes]
    regions: list[tuple[int, int]] = []
    ifs = _Ifs(
        text,
        starts,
        [(g, last) for (g, _), (_, last) in zip(guards, spans, strict=True) if type(g) is ast.If],
    )
    for (node, _), (first, last) in zip(guards, spans, strict=True):
        if not any(signal[first : last + 1]):
            continue
        kind = type(node)
        start = node.lineno  # type: ignore[attr-defined]
        if kind is ast.If and not _returns(node):
            regions.append((start, _end(node)))
        elif kind is ast.If:  # `if $COND: return`, and the rest of its block
            regions.append((start, _scope_end(scopes, firsts, start, lines)))
        elif kind in _VALUED:  # `$TV = $SRC`, then an `if` that tests $TV
            end = _scope_end(scopes, firsts, start, lines)
            regions += ifs.testing(_targets(node), start, end, spec.assigned == "sequence")  # type: ignore[arg-type]
        else:
            regions.append((start, _end(node)))
    if not regions:
        return []
    merged = _merge(regions)
    hit = _payload_lines(file, spec, starts, merged, every_line, frozenset(names))
    return sorted(starts[line - 1] for line in hit if line <= lines)


def _marked(
    file: Facts,
    spec: _Spec,
    starts: list[int],
    spans: list[tuple[int, int]],
    every: bool,
    guard_names: frozenset[str],
) -> bytearray:
    """Per line (1-based), whether a guard line there spells a word or a guard
    name (``guard-names`` and the names imported from a module spelling one)."""
    n = len(starts)
    on = bytearray(n + 2)
    for first, last in spans:
        on[first : last + 1] = b"\x01" * (last + 1 - first)
    if every:
        return on
    out = bytearray(n + 2)
    for at in _spelled_at(file, spec):
        line = bisect.bisect_right(starts, at)
        out[line] = on[line]
    if not spec.literals and not guard_names and file.text.isascii():
        # an ASCII name is its text, which the search above read (#17: the
        # random-draw rule's screen spent most of its time in the loop below)
        return out
    # The kind first and each identifier once (#17).
    spelled: dict[str, bool] = {}
    for node in file.nodes:  # as Python reads them: literals, NFKC-folded names
        kind = type(node)
        if kind is ast.Name or kind is ast.Attribute:
            line = node.lineno  # type: ignore[attr-defined]
            if on[line] and not out[line]:
                name = node.id if kind is ast.Name else node.attr  # type: ignore[attr-defined]
                found = spelled.get(name)
                if found is None:
                    found = spelled[name] = (
                        name in guard_names or spec.words.search(name) is not None
                    )
                out[line] = found
        elif kind is ast.Constant and spec.literals:
            line = node.lineno  # type: ignore[attr-defined]
            if on[line] and not out[line]:
                value = node.value  # type: ignore[attr-defined]
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                out[line] = isinstance(value, str) and spec.words.search(value) is not None
    return out


def _spelled_at(file: Facts, spec: _Spec) -> list[int]:
    """Where a word starts in the raw text, ignoring case: searched word by
    word in an ASCII-lowered copy of the same length (every other character
    a ``?``), and through the regex, whose case folding is Unicode's, only
    around the runs of other characters (#17: the regex's alternation tried
    every word at every character, most of the random-draw rule's screen)."""
    text = file.text
    low = text.encode("ascii", "replace").decode("ascii").lower()
    found: list[int] = []
    for word in spec.folded:
        if not word.isascii():
            return [m.start() for m in spec.words.finditer(text)]
        i = low.find(word)
        while i >= 0:
            found.append(i)
            i = low.find(word, i + 1)
    if not text.isascii():
        reach = spec.longest
        for run in _OTHER.finditer(text):
            a, b = max(0, run.start() - reach), run.end() + reach
            found += [m.start() for m in spec.words.finditer(text, a, b)]
    return found


_OTHER = re.compile(r"[^\x00-\x7f]+")


def _payload_lines(
    file: Facts,
    spec: _Spec,
    starts: list[int],
    regions: list[tuple[int, int]],
    every: bool,
    names: frozenset[str],
) -> set[int]:
    """The lines of ``regions`` that hold a payload (``names``: ``names`` and
    those imported from a module spelling one)."""
    firsts = [a for a, _ in regions]

    def inside(line: int) -> bool:
        i = bisect.bisect_right(firsts, line) - 1
        return i >= 0 and line <= regions[i][1]

    if every:
        return {line for a, b in regions for line in range(a, b + 1)}
    hit: set[int] = set()
    payload: dict[str, bool] = {}  # each identifier once (#17)
    for node in file.nodes:
        kind = type(node)
        if kind is ast.Name or kind is ast.Attribute:
            name = node.id if kind is ast.Name else node.attr  # type: ignore[attr-defined]
            named = payload.get(name)
            if named is None:
                named = payload[name] = name in names or (
                    spec.name_rx is not None and spec.name_rx.search(name) is not None
                )
            if named and inside(node.lineno):  # type: ignore[attr-defined]
                hit.add(node.lineno)  # type: ignore[attr-defined]
        elif kind in spec.nodes and inside(node.lineno):  # type: ignore[attr-defined]
            hit.add(node.lineno)  # type: ignore[attr-defined]
        elif kind is ast.Constant and spec.string_rx is not None:
            value = node.value  # type: ignore[attr-defined]
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and spec.string_rx.search(value):
                for line in range(node.lineno, _end(node) + 1):  # type: ignore[attr-defined]
                    if inside(line):
                        hit.add(line)
    if spec.text_rx is not None:
        for m in spec.text_rx.finditer(file.text):
            line = bisect.bisect_right(starts, m.start())
            if inside(line):
                hit.add(line)
    return hit


def _scope_end(scopes: list[tuple[int, int]], firsts: list[int], line: int, lines: int) -> int:
    """The last line of the innermost def or class whose body holds ``line``, or the file's."""
    i = bisect.bisect_right(firsts, line) - 1
    while i >= 0:
        first, last = scopes[i]
        if first <= line <= last:
            return last
        i -= 1
    return lines


def _returns(node: ast.AST) -> bool:
    """Whether a ``return`` or ``continue`` stands in the ``if``'s body."""
    body: list[ast.stmt] = getattr(node, "body", [])
    return any(type(n) is ast.Return or type(n) is ast.Continue for b in body for n in ast.walk(b))


def _targets(node: ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr) -> set[str]:
    """The identifiers an assignment's targets spell (``$TV``: a name, ``self.x``, ``a, b``)."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    out: set[str] = set()
    for t in targets:
        for n in ast.walk(t):
            if type(n) is ast.Name:
                out.add(n.id)
            elif type(n) is ast.Attribute:
                out.add(n.attr)
    return out


_WORD = re.compile(r"\w+")


class _Ifs:
    """The file's ``if`` statements by line, with the identifiers their headers spell."""

    def __init__(self, text: str, starts: list[int], ifs: list[tuple[ast.AST, int]]) -> None:
        self.ascii = text.isascii()  # else a name's NFKC form may differ from its text
        self.ifs = sorted(ifs, key=lambda p: p[0].lineno)  # type: ignore[attr-defined]
        self.lines = [g.lineno for g, _ in self.ifs]  # type: ignore[attr-defined]
        self.text, self.starts = text, starts
        self.ids: dict[int, frozenset[str]] = {}

    def _spelled(self, i: int) -> frozenset[str]:
        if i not in self.ids:
            g, last = self.ifs[i]
            a = self.starts[g.lineno - 1]  # type: ignore[attr-defined]
            b = self.starts[last] if last < len(self.starts) else len(self.text)
            self.ids[i] = frozenset(_WORD.findall(self.text, a, b))
        return self.ids[i]

    def testing(
        self, names: set[str], start: int, end: int, sequence: bool = False
    ) -> list[tuple[int, int]]:
        """The regions where ``if <... $TV ...>`` meets ``$TV = $SRC ...`` (an
        assignment on line ``start`` whose scope ends on ``end``): each ``if``
        after it whose header spells a target's name (with ``sequence``, from
        the assignment on to that ``if``'s end), and from the assignment on,
        the rest of an ``if`` around it that does."""
        if not self.ascii or not names:
            return [(start, end)]
        out: list[tuple[int, int]] = []
        for i, line in enumerate(self.lines):
            if line > end:
                break
            g = self.ifs[i][0]
            if line >= start:
                if not names.isdisjoint(self._spelled(i)):
                    out.append((start if sequence else line, _end(g)))
            elif _end(g) >= start and not names.isdisjoint(self._spelled(i)):
                out.append((start, min(_end(g), end)))
        return out


_TRAILING = re.compile(r"[ \t\f]*(#|[)\]}]|\r?\n|\r|$)")


def _more(text: str, starts: list[int], last: int) -> int:
    """``last``, and the lines after it that are blank or start with a comment or a closing bracket."""
    while last < len(starts) and _TRAILING.match(text, starts[last]):
        last += 1
    return last


def _merge(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(regions):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _end(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    return int(end) if end is not None else int(getattr(node, "lineno", 1))
