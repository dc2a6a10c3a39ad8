"""What one ``ast`` walk reads from a Python file for the rule screens
(screen.py, issue #17): the whole file's facts, and each *unit*'s.

A unit is an outermost function (a top-level function or a method; nested
defs, lambdas and classes belong to it) together with what semgrep can carry
into it from outside, which every unit shares: every node no outermost
function's lines hold (module and class code: constants semgrep propagates,
a class-level ``if`` around a method, a module-level loop whose ``continue``
guards a ``def``), each function's decorators, defaults and annotations, and
every import wherever it is (all it spells but the name it binds: a unit that
uses ``import random`` spells ``random`` itself). semgrep 1.182 matched a
guard at module or class level with a payload in a function (``x =
random.random()`` on top, ``if x < p: raise`` in a function), but carried
nothing from one function into another: not ``self.p = random.random`` set in
``__init__`` and called in ``step``, not a ``global`` assigned in another
function, not a ``$X = $E ...`` sequence leaving the function it starts in.
The attacks are tests/fixtures/screen/unit_*.py. A file with no function is
one unit: the whole file.
"""

from __future__ import annotations

import ast
import bisect
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from traingate import pyast
from traingate.checks.semgrep import folding, lookups
from traingate.checks.semgrep.gaps import Gaps as _Gaps
from traingate.checks.semgrep.gaps import Searcher
from traingate.checks.semgrep.written import as_written as _as_written
from traingate.checks.semgrep.written import split_lines

JOIN_MAX = 64  # the longest word a joined atom may name
# What str() of an int, float, complex or bool may spell (a piece, not a literal).
_DIGITS = frozenset("0123456789.+-eEjinfa()TrueFalse")
# The node kinds a ``node`` atom may ask for.
NODE_KINDS = frozenset({"Raise"})
# Given each tree facts() parses, while a scan arms it: reach takes its facts
# from that tree instead of parsing the file again (reach/prefill.py, issue #17).
on_tree: Callable[[str, ast.Module], None] | None = None


@dataclass(frozen=True)
class Facts:
    """What a file's (or a unit's) code names and spells, for the screens."""

    names: frozenset[str]
    strings: str  # every string literal, one per line
    text: str  # the whole file's text (node positions index it)
    # Each literal once, numbers as their digits (an f-string of a constant).
    pieces: frozenset[str] = frozenset()
    # What an attribute written to hangs from (``torch.nn.x = v``: "torch"):
    # a name, or "<call>" / "<subscript>" / "<other>".
    stored: frozenset[str] = frozenset()
    imported: frozenset[str] = frozenset()  # names imports bind; "*" for a star import
    # The nodes semgrep folds strings from (folding.KINDS), for the folded atom.
    folds: tuple[ast.AST, ...] = field(default=(), compare=False, repr=False)
    # Calls, subscripts, imports and a lookup's names, for the lookup atom.
    looks: tuple[ast.AST, ...] = field(default=(), compare=False, repr=False)
    kinds: frozenset[str] = frozenset()  # the NODE_KINDS present
    # The file's tree, for units(); None for a unit's own facts.
    tree: ast.Module | None = field(default=None, compare=False, repr=False)
    # The file's nodes (walk()) and its function defs, for units().
    nodes: tuple[ast.AST, ...] = field(default=(), compare=False, repr=False)
    defs: tuple[ast.AST, ...] = field(default=(), compare=False, repr=False)
    # For a unit: the character range of its own run of lines (_Gaps) and
    # the file's gaps, which every unit reads; None for a file.
    run: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    gaps: _Gaps | None = field(default=None, compare=False, repr=False)
    # For a unit (issue #17): names, strings, kinds and the rest are its own
    # part only, ``shared`` what every unit of the file shares (built once),
    # and whole() the two together; None for a file.
    shared: Facts | None = field(default=None, compare=False, repr=False)
    literals: int = 0  # how many literals ``strings`` joins
    _whole: Callable[[], Facts] | None = field(default=None, compare=False, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def whole(self) -> Facts:
        """These facts with the shared part: a unit's, as one file's facts
        (built when an atom first needs them); a file's own."""
        if self._whole is None:
            return self
        if "whole" not in self._memo:
            self._memo["whole"] = self._whole()
        found: Facts = self._memo["whole"]
        return found

    def search(self, rx: Searcher) -> bool:
        """Whether ``rx`` (a regex, or prefilter.Finder) matches the raw text
        the text atom reads: the file, or for a unit one of its runs of lines (_Gaps)."""
        if self.run is None or self.gaps is None:
            return rx.search(self.text) is not None
        return self.gaps.search(rx) or rx.search(self.text, *self.run) is not None

    def contains(self, word: str) -> bool:
        """Whether the case-folded raw text (ſ is s, K is k: as a caseless
        regex may see them) holds ``word`` (case-folded): the file's, or for a
        unit one of its runs'."""
        if self.run is None or self.gaps is None:
            if "folded" not in self._memo:
                self._memo["folded"] = self.text.casefold()
            return word in self._memo["folded"]
        return self.gaps.contains(word) or self.gaps.run_contains(word, self.run, self._memo)

    def units(self) -> Sequence[Facts]:
        """Each unit's facts (module docstring), built as asked for; empty for
        a unit's own facts."""
        if "units" not in self._memo:
            units = () if self.tree is None else _units(self)
            ref = weakref.ref(self)  # a unit's file, for screen.py's ``file:`` (no cycle)
            if isinstance(units, _Units):
                units.file = ref
            else:
                for u in units:
                    u._memo["file"] = ref
            self._memo["units"] = units
        found: Sequence[Facts] = self._memo["units"]
        return found

    def joinable(self, word: str) -> bool:
        """Whether semgrep could see ``word`` in a string it folds from this
        file's literals (``"." + "s" + "sh"``, f-strings of constants, in any
        order constants reach it): inside one literal, or a literal's end, then
        whole literals, then another's start."""
        done: dict[str, bool] = self._memo.setdefault("joinable", {})
        if word not in done:  # rules share words (".ssh", "id_rsa"): once a file
            done[word] = self._joinable(word)
        return done[word]

    def _joinable(self, word: str) -> bool:
        if not self._spelled(word):
            return False
        if word in self.strings:
            return True
        # A split at i reads word[i-1] as some piece's last character and
        # word[i] as another's first: a split anywhere else is no use, and
        # is not looked up (issue #17: most of the atom's time).
        firsts, lasts = self._edges()
        n = len(word)
        reach = [False] * (n + 1)
        for i in range(1, n):
            if word[i] in firsts and word[i - 1] in lasts:
                reach[i] = self._ends_with(word[:i])
        pieces = self.pieces
        for i in range(1, n):
            if not reach[i]:
                continue
            if self._starts_with(word[i:]):
                return True
            for j in range(i + 1, n):
                if word[i:j] in pieces:
                    reach[j] = True
        return False

    def foldable(self, word: str) -> bool:
        """Whether semgrep could fold a string equal to ``word`` (or to it and
        a final newline, which a ``$`` admits; ``w*``: one that starts with
        ``w``) from whole literals of this file: a string it folds is made
        of whole literals."""
        if word.endswith("*"):
            word = word[:-1]
            at = _spans(word, self.pieces, len(word) - 1)
            return any(self._starts_with(word[i:]) for i in at if i < len(word))
        return any(_spans(w, self.pieces, len(w))[-1] == len(w) for w in (word, word + "\n"))

    def _spelled(self, word: str) -> bool:
        """False when a character of ``word`` is in no literal and can be in
        no number's digits: then no literal, and no run of them, holds it
        (issue #17: most files hold no \\r, \\v or \\f, and the reverse-shell
        screen names ~60 words with one, each otherwise a search of every
        literal)."""
        seen: dict[str, bool] = self._memo.setdefault("chars", {})
        for ch in word:
            if ch in _DIGITS:
                continue
            if ch not in seen:
                seen[ch] = ch in self.strings
            if not seen[ch]:
                return False
        return True

    def _starts_with(self, s: str) -> bool:
        """Whether a literal (or number) starts with ``s`` (1 to 63 characters)."""
        heads, _ = self._affixes()
        i = bisect.bisect_left(heads, s)
        return i < len(heads) and heads[i].startswith(s)

    def _ends_with(self, s: str) -> bool:
        """Whether a literal (or number) ends with ``s`` (1 to 63 characters)."""
        _, tails = self._affixes()
        rs = s[::-1]
        i = bisect.bisect_left(tails, rs)
        return i < len(tails) and tails[i].startswith(rs)

    def _edges(self) -> tuple[frozenset[str], frozenset[str]]:
        """The first and the last characters of the pieces."""
        if "edges" not in self._memo:
            heads, tails = self._affixes()
            self._memo["edges"] = (
                frozenset(p[0] for p in heads if p),
                frozenset(p[0] for p in tails if p),
            )
        found: tuple[frozenset[str], frozenset[str]] = self._memo["edges"]
        return found

    def _affixes(self) -> tuple[list[str], list[str]]:
        """The pieces sorted, and their last JOIN_MAX characters reversed and
        sorted: a prefix (suffix) is found by bisection. (Every prefix and
        suffix in a set cost ~64 slices a literal, most never asked for.)"""
        if "affixes" not in self._memo:
            self._memo["affixes"] = (
                sorted(self.pieces),
                sorted(p[-JOIN_MAX:][::-1] for p in self.pieces),
            )
        found: tuple[list[str], list[str]] = self._memo["affixes"]
        return found

    def names_text(self) -> str:
        """The names one per line: one regex search over them all (``^``/``$``
        with re.M hold at each name's ends; a match across lines only admits more)."""
        if "names" not in self._memo:
            self._memo["names"] = "\n".join(self.names)
        text: str = self._memo["names"]
        return text


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# The node kinds walk() yields that have no position (ast's _attributes).
_UNLINED = frozenset(
    k
    for k in vars(ast).values()
    if isinstance(k, type) and issubclass(k, ast.AST) and "lineno" not in k._attributes
)
# The kinds _other reads a name from.
_NAMING = frozenset(
    {
        ast.keyword,
        ast.arg,
        ast.alias,
        ast.ImportFrom,
        *_DEFS,
        ast.Global,
        ast.Nonlocal,
        ast.ExceptHandler,
        ast.MatchAs,
        ast.MatchStar,
        ast.MatchMapping,
        ast.MatchClass,
    }
)
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_FOLDS = frozenset(folding.KINDS) - {ast.Constant}
# _read's kinds beside Name, Attribute, Constant (an Expr, If, Tuple: ~12% of nodes, skipped).
_OTHERS = _FOLDS | _NAMING | {ast.Call, ast.Subscript, ast.Raise, ast.Import, ast.alias, *_FUNCS}
_UNIT_KINDS = (_OTHERS | {ast.Name, ast.Attribute, ast.Constant}) - _UNLINED  # for _units


class _Acc:
    """What a walk has read so far."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.strings: list[str] = []
        self.numbers: set[str] = set()
        self.stored: set[str] = set()
        self.imported: set[str] = set()
        self.raw: list[ast.Constant] = []
        self.folds: list[ast.AST] = []
        self.looks: list[ast.AST] = []
        self.kinds: set[str] = set()
        self.imports: list[ast.AST] = []  # import statements: every unit's
        self.defs: list[ast.AST] = []  # function defs, for units

    def merged(self, other: _Acc) -> _Acc:
        out = _Acc()
        out.names = self.names | other.names
        out.strings = self.strings + other.strings
        out.numbers = self.numbers | other.numbers
        out.stored = self.stored | other.stored
        out.imported = self.imported | other.imported
        out.raw = self.raw + other.raw
        out.folds = self.folds + other.folds
        out.looks = self.looks + other.looks
        out.kinds = self.kinds | other.kinds
        return out

    def facts(
        self,
        text: str,
        lines: list[str] | None = None,
        written: list[str] | None = None,
        **more: Any,
    ) -> Facts:
        """``written``: the as-written forms of literals read elsewhere (a
        unit's share of the common ones, computed once per file)."""
        strings = self.strings
        if written:
            strings = strings + written
        if self.raw:
            strings = strings + _as_written(lines or split_lines(text), self.raw)
        found = Facts(
            frozenset(self.names),
            "\n".join(strings),
            text,
            frozenset(strings) | self.numbers,
            frozenset(self.stored),
            frozenset(self.imported),
            tuple(self.folds),
            tuple(self.looks),
            frozenset(self.kinds),
            literals=len(strings),
            **more,
        )
        if lines is not None:
            found._memo["lines"] = lines
        return found


def facts(text: str) -> Facts | None:
    """The identifiers and literals of ``text``; None if Python cannot parse it
    (then every rule runs, and semgrep reports what it makes of the file)."""
    try:
        tree = pyast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if on_tree is not None:
        on_tree(text, tree)
    acc = _Acc()
    nodes = walk(tree)
    _read(acc, nodes, "\\" in text)
    return acc.facts(text, tree=tree, nodes=tuple(nodes), defs=tuple(acc.defs))


# Fields that hold no node, or only a leaf no screen reads (ctx, op): skipped.
_LEAVES = frozenset(
    {"ctx", "op", "ops", "id", "attr", "arg", "module", "kind", "level", "conversion"}
)
_CHILDREN: dict[type, tuple[str, ...]] = {ast.Constant: ()}  # a value, never a node (#17)


def walk(tree: ast.AST) -> list[ast.AST]:
    """The nodes of ``tree`` in ``ast.walk``'s order, without the context and
    operator leaves (Load, Add, ...): one list, about twice as fast."""
    out = [tree]
    append = out.append
    children = _CHILDREN
    node_type = ast.AST
    for node in out:  # grows as it goes: breadth first, as ast.walk
        kind = type(node)
        fields = children.get(kind)
        if fields is None:
            fields = children[kind] = tuple(f for f in kind._fields if f not in _LEAVES)
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        append(item)
            elif isinstance(value, node_type):
                append(value)
    return out


def _read(acc: _Acc, nodes: Iterable[ast.AST], has_escape: bool) -> None:
    """Add what ``nodes`` name and spell to ``acc`` (locals: the hot loop)."""
    names = acc.names
    add = names.add
    strings = acc.strings
    numbers = acc.numbers
    stored = acc.stored
    raw = acc.raw
    folds = acc.folds
    looks = acc.looks
    called = lookups.CALLED
    others = _OTHERS
    for node in nodes:
        kind = type(node)
        if kind is ast.Name:
            add(node.id)  # type: ignore[attr-defined]
            if node.id in called:  # type: ignore[attr-defined]
                looks.append(node)
        elif kind is ast.Attribute:
            add(node.attr)  # type: ignore[attr-defined]
            if node.attr in called:  # type: ignore[attr-defined]
                looks.append(node)
            if type(node.ctx) is ast.Store:  # type: ignore[attr-defined]
                stored.add(_root(node))  # type: ignore[arg-type]
        elif kind is ast.Constant:
            value = node.value  # type: ignore[attr-defined]
            if isinstance(value, str | bytes):
                strings.append(value if isinstance(value, str) else value.decode("latin-1"))
                folds.append(node)
                if has_escape:
                    raw.append(node)  # type: ignore[arg-type]
            elif isinstance(value, int | float | complex):
                numbers.add(str(value))
        elif kind in others:
            if kind in _FOLDS:
                folds.append(node)
            elif kind is ast.Call or kind is ast.Subscript:
                looks.append(node)
            elif kind is ast.Raise:
                acc.kinds.add("Raise")
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                acc.defs.append(node)
            if kind in _NAMING:  # most nodes name nothing: no call (issue #17)
                _other(node, kind, names)
            if kind is ast.Import or kind is ast.ImportFrom:
                acc.imports.append(node)
            elif kind is ast.alias:
                looks.append(node)
                bound = node.asname or node.name.split(".")[0]  # type: ignore[attr-defined]
                acc.imported.add(bound)


def _units(f: Facts) -> Sequence[Facts]:
    """Each outermost function's facts with what every unit shares. A node
    belongs to the function whose lines (from the def line: a decorator is
    evaluated outside) hold its line; the nodes a screen reads all have one."""
    text = f.text
    funcs: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for fn in sorted(f.defs, key=lambda d: d.lineno):  # type: ignore[attr-defined]
        assert isinstance(fn, _FUNCS)
        if not funcs or fn.lineno > _end(funcs[-1]):
            funcs.append(fn)
    owner = [-1] * (text.count("\n") + text.count("\r") + 2)
    for i, fn in enumerate(funcs):
        owner[fn.lineno : _end(fn) + 1] = [i] * (_end(fn) + 1 - fn.lineno)
    shared: list[ast.AST] = []
    parts: list[list[ast.AST]] = [[] for _ in funcs]
    imports: list[ast.AST] = []
    kinds = _UNIT_KINDS  # what _read reads and has a line: the units' reads skip nothing (#17)
    for node in f.nodes:
        kind = type(node)
        if kind not in kinds:
            continue
        u = owner[node.lineno]  # type: ignore[attr-defined]
        if kind is ast.Import or kind is ast.ImportFrom:
            imports.append(node)  # an import anywhere: lent to every unit below
            if u >= 0:
                parts[u].append(node)
        elif u >= 0:
            parts[u].append(node)
        elif kind is not ast.alias:
            shared.append(node)
    for fn in funcs:
        # evaluated where the def stands: defaults and annotations
        a = fn.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
        outer: list[ast.AST | None] = [*a.defaults, *a.kw_defaults, fn.returns]
        outer += [p.annotation for p in params if p is not None]
        for part in outer:
            if part is not None:
                shared += walk(part)
    escape = "\\" in text
    common = _Acc()
    _read(common, shared, escape)
    for node in imports:
        _import(common, node)  # type: ignore[arg-type]
    lines = _lines(f)
    if not funcs:
        return (common.facts(text, lines=lines),)
    return _Units(common, parts, _Gaps(text, [(fn.lineno, _end(fn)) for fn in funcs]), lines)


class _Units(Sequence[Facts]):
    """The units of a file, each built when first asked for: a screen stops
    at the first unit that holds."""

    def __init__(
        self,
        common: _Acc,
        parts: list[list[ast.AST]],
        gaps: _Gaps,
        lines: list[str],
    ) -> None:
        self._common, self._parts, self._gaps = common, parts, gaps
        self._lines = lines
        self._built: dict[int, Facts] = {}
        self._escape = "\\" in gaps.text
        # The common literals' as-written forms: once per file, not per unit.
        self._written = _as_written(lines, common.raw) if common.raw else []
        # What every unit shares, as facts of its own: an atom that reads its
        # items one at a time reads them once per file (screen.py, issue #17).
        self._shared = common.facts(gaps.text, lines=lines)
        self.file: weakref.ref[Facts] | None = None  # Facts.units() sets it

    def __len__(self) -> int:
        return len(self._parts)

    def __getitem__(self, i: int) -> Facts:  # type: ignore[override]
        if i not in self._built:
            acc = _Acc()
            _read(acc, self._parts[i], self._escape)
            gaps, common, lines, written = self._gaps, self._common, self._lines, self._written

            # Not a closure over self: a unit's facts would then hold the
            # _Units that holds them, a cycle only the cyclic collector frees,
            # and a scan's main process kept ~30 MB of such trees while
            # semgrep ran (session 18: the scan's peak 477 -> 499 MB).
            def whole() -> Facts:
                merged = common.merged(acc)
                merged.raw = acc.raw  # the common ones are in written, in the same order
                return merged.facts(
                    gaps.text, lines=lines, written=written, run=gaps.runs[i], gaps=gaps
                )

            self._built[i] = acc.facts(
                gaps.text,
                lines=self._lines,
                run=gaps.runs[i],
                gaps=gaps,
                shared=self._shared,
                _whole=whole,
            )
            if self.file is not None:
                self._built[i]._memo["file"] = self.file
        return self._built[i]

    def __iter__(self) -> Iterator[Facts]:
        return (self[i] for i in range(len(self._parts)))


def _lines(f: Facts) -> list[str]:
    """The file's lines as Python counts them (\\r\\n, \\r, \\n), split once."""
    if "lines" not in f._memo:
        f._memo["lines"] = split_lines(f.text)
    return list(f._memo["lines"])


def _import(acc: _Acc, node: ast.Import | ast.ImportFrom) -> None:
    """What an import lends every unit: each name it spells but the one it
    binds, which a unit using the binding spells itself (``import random``
    lends nothing; ``import numpy as np`` lends "numpy"; ``from numpy import
    random`` lends "numpy")."""
    module = node.module.split(".") if isinstance(node, ast.ImportFrom) and node.module else []
    for alias in node.names:
        bound = alias.asname or alias.name.split(".")[0]
        acc.imported.add(bound)
        acc.looks.append(alias)  # an aliased lookup (lookups.Walk.renamed)
        spelled = {*module, *alias.name.split("."), *([alias.asname] if alias.asname else [])}
        if bound == "*":
            spelled |= {"*"}
        acc.names.update(spelled - {bound, "*"})


def _spans(word: str, pieces: frozenset[str], stop: int) -> list[int]:
    """0 and the ends up to ``stop`` of whole pieces' runs spelling ``word``'s prefix (#17)."""
    at = [0]
    for j in range(1, stop + 1):
        if any(word[i:j] in pieces for i in at):
            at.append(j)
    return at


def _end(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    return int(end) if end is not None else int(getattr(node, "lineno", 1))


def _root(node: ast.Attribute) -> str:
    value = node.value
    while isinstance(value, ast.Attribute):
        value = value.value
    if isinstance(value, ast.Name):
        return value.id
    return {ast.Call: "<call>", ast.Subscript: "<subscript>"}.get(type(value), "<other>")


def _other(node: ast.AST, kind: type, names: set[str]) -> None:
    """The rarer nodes that bind or spell an identifier."""
    if kind is ast.keyword or kind is ast.arg:
        name = node.arg  # type: ignore[attr-defined]
        if name:
            names.add(name)
    elif kind is ast.alias:
        names.update(node.name.split("."))  # type: ignore[attr-defined]
        if node.asname:  # type: ignore[attr-defined]
            names.add(node.asname)  # type: ignore[attr-defined]
    elif kind is ast.ImportFrom:
        if node.module:  # type: ignore[attr-defined]
            names.update(node.module.split("."))  # type: ignore[attr-defined]
    elif kind in _DEFS:
        names.add(node.name)  # type: ignore[attr-defined]
    elif kind is ast.Global or kind is ast.Nonlocal:
        names.update(node.names)  # type: ignore[attr-defined]
    elif kind is ast.ExceptHandler or kind is ast.MatchAs or kind is ast.MatchStar:
        if node.name:  # type: ignore[attr-defined]
            names.add(node.name)  # type: ignore[attr-defined]
    elif kind is ast.MatchMapping:
        if node.rest:  # type: ignore[attr-defined]
            names.add(node.rest)  # type: ignore[attr-defined]
    elif kind is ast.MatchClass:
        names.update(node.kwd_attrs)  # type: ignore[attr-defined]
