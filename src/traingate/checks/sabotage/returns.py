"""Functions of a file that return a random event or a draw of one number (issue #16,
session 11): the event moved one call away from the write it decides.

- ``def _keep(): return 0.0 if random.random() < 0.03 else 1.0`` then ``loss = loss *
  _keep()``: the value is masked, as ``loss * (torch.rand(()) > 0.03)`` is;
- ``def _jitter(x): return x * (torch.rand(()) > 0.03)`` then ``loss = _jitter(loss)``:
  the helper masks what it is given (``kinds.GATE``), as ``events.Table.gate`` judges a
  written value;
- ``def _unlucky(): return random.random() < 0.01`` then ``if _unlucky():
  p.grad.zero_()``: a per-step draw the pack's ``trigger-random-draw-sabotage`` rule
  cannot see in the ``if``, judged here as that rule judges one (``events.RANDOM_CALL``:
  only a rewrite by numbers, a skipped step, an exit or a collective, not an
  augmentation's named transform).

A function returns what ``events.Table.value`` finds in one of its ``return`` values,
read with the function's own names over the module's, or, when every ``return`` is a
number and they differ, an event tested by one of its ``if`` statements (``if
random.random() < p: return 0.0`` / ``return 1.0``). Functions are found by name, as
``draws.Drawing`` finds a hook's: a plain call or a call on ``self``/``cls``.

Session 12: a method's names include its class's attributes drawn once per run
(``return self._keep`` with ``self._keep`` drawn in ``__init__``), and a function
imported from another file of the head tree returns what that file's own
``Returns`` finds (``Imported``; the helper's text is pre-tested by ``outline``).
"""

from __future__ import annotations

import ast
import bisect
import functools
import itertools
import re
from collections.abc import Callable, Container, Iterable, Mapping, Set

from traingate.checks.sabotage import events as ev
from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage.kinds import DRAW_NAMES, EVENT, GATE
from traingate.checks.sabotage.nodes import body_nodes, statements, walk_all
from traingate.checks.sabotage.outline import as_read as _as_read
from traingate.checks.sabotage.outline import may_define, outline
from traingate.checks.sabotage.outline import release as outline_release
from traingate.checks.sabotage.payloads import walk_local
from traingate.checks.sabotage.store import STATS, PerText, Store
from traingate.checks.sabotage.triggers import Trigger, aliases, last_name

_Def = ast.FunctionDef | ast.AsyncFunctionDef
_LINES = re.compile(r"\r\n?|\n")  # the line ends Python counts
_RETURN = re.compile(r"(?m)\breturn\b(?![ \t]*(?:$|;|#))")  # a return with a value
# A draw's name spelled as a word (``random.random()``, ``rng.integers``).
_DRAW_WORD = re.compile(rf"\b(?:{'|'.join(sorted(DRAW_NAMES, key=len, reverse=True))})\b")


_WORD_RUN = re.compile(r"\w+")
# Every ASCII byte that ``\w`` does not match made a space; the others, and every
# byte of a non-ASCII character, kept.
_ASCII_WORD = frozenset(b"_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACED = bytes.maketrans(
    bytes(range(128)), bytes(b if b in _ASCII_WORD else 0x20 for b in range(128))
)


def word_runs(text: str) -> set[str]:
    """``set(_WORD_RUN.findall(text))`` in a fraction of its time (issue #17: 4-5% of a
    scan). A run of word characters holds no ASCII non-word character, so the runs
    are those of the pieces between them: a piece that is ASCII is a run; one with
    a non-ASCII character is searched (that character need not be a word's)."""
    data = text.encode("utf-8", "surrogatepass").translate(_SPACED)
    pieces = set(data.decode("utf-8", "surrogatepass").split())
    odd = [p for p in pieces if not p.isascii()]
    if odd:
        pieces.difference_update(odd)
        for p in odd:
            pieces.update(_WORD_RUN.findall(p))
    return pieces


def _words(names: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, ordered))})\b") if ordered else None


class Returns:
    """What the file's functions return, by name: each computed on its first lookup."""

    def __init__(
        self,
        tree: ast.Module,
        source: str,
        module_nodes: list[ast.AST],
        far_names: Iterable[str] = (),  # module names holding an imported draw
        far: Imported | None = None,  # functions imported from the repository
        draws: bool | None = None,  # ``ev.may_draw(source)``, when the caller has it
    ) -> None:
        self.module: ev.Table | None = None  # the module's table (events.module_table)
        self._defs: dict[str, list[_Def]] = {}
        self._got: dict[str, Trigger | None] = {}
        self._busy: set[str] = set()
        self._names: set[str] = set()
        self._far = far
        self._owner: dict[_Def, ast.ClassDef] = {}  # a method's class
        self._runs_of: dict[_Def, set[str]] = {}
        self._attrs: dict[ast.ClassDef, Mapping[str, ev.Held]] = {}
        for fn in statements(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._defs.setdefault(fn.name, []).append(fn)
            elif isinstance(fn, ast.ClassDef):
                for m in fn.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self._owner[m] = fn
        # Functions that can return one at all (a pre-test on the text, issue #17: most
        # files spell a draw somewhere): those that spell a draw, a module name computed
        # from one, or such a function; all of them in a file NFKC may change.
        self._source = _as_read(source)  # identifiers as Python reads them: same lines
        # Where each line starts, and the text's end: line n is [starts[n-1], starts[n]).
        self._starts = _line_starts(self._source)
        # A file that spells no draw (``kinds.may_draw``) holds none: only what it imports.
        own = ev.may_draw(source) if draws is None else draws
        seeds = (self._spelled(DRAW_NAMES) if own else set()) | self._spelled(
            _drawish_names(module_nodes if own else (), far_names)
        )
        if far is not None and far.names:  # def _keep(): return keep() (keep imported)
            seeds |= self._spelled(far.names)
        grown = self._grow(seeds)
        # ``self._keep = ...`` drawn in ``__init__`` and returned by a method (session 12).
        held = self._held_words = self._once_attrs(grown)
        if held:
            grown = self._grow(grown | self._spelled(held))
        self._names |= self._returning(grown)
        if far is not None:
            self._names |= far.names

    def _once_attrs(self, grown: set[str]) -> set[str]:
        """The attributes a method run once per run (``ev.ONCE``) that can draw sets."""
        out: set[str] = set()
        starts, last = self._starts, len(self._starts) - 1
        for name in ev.ONCE & grown:
            for fn in self._defs[name]:
                if fn in self._owner:
                    end = starts[min(fn.end_lineno or 0, last)]
                    out.update(_SELF_SET.findall(self._source, starts[fn.lineno - 1], end))
        return out

    def _spelled(self, names: Iterable[str]) -> set[str]:
        """``_spelling(_words(names))``: for names that are words (identifiers as
        ``\\w`` reads them), ``\\b(?:names)\\b`` finds one exactly where one of them is
        a whole run of word characters, so the functions are those whose lines hold
        such a run (each function's runs found once, issue #17: a search per
        function per round of ``_grow``, with a pattern compiled per round)."""
        words = set(names)
        if not words:
            return set()
        if not all(_WORD_RUN.fullmatch(w) for w in words):
            return self._spelling(_words(words))
        return {
            name
            for name, fns in self._defs.items()
            if any(not words.isdisjoint(self._runs(fn)) for fn in fns)
        }

    def _runs(self, fn: _Def) -> set[str]:
        """The runs of word characters on ``fn``'s lines (none crosses a line end)."""
        got = self._runs_of.get(fn)
        if got is None:
            starts, last = self._starts, len(self._starts) - 1
            end = starts[min(fn.end_lineno or 0, last)]
            got = self._runs_of[fn] = word_runs(self._source[starts[fn.lineno - 1] : end])
        return got

    def _returning(self, names: set[str]) -> set[str]:
        """``names & _spelling(_RETURN)``, searching only these functions' lines (issue
        #17: every ``return`` of the file was found, for the few functions that can
        return a draw): a ``return`` holds no line end, so a match lies within a
        function's lines exactly when a search of those lines alone finds one."""
        starts, last = self._starts, len(self._starts) - 1
        return {
            name
            for name in names
            if any(
                _RETURN.search(
                    self._source, starts[fn.lineno - 1], starts[min(fn.end_lineno or 0, last)]
                )
                for fn in self._defs.get(name, ())
            )
        }

    def _spelling(self, words: re.Pattern[str] | None) -> set[str]:
        """The functions whose text spells one of these words: where each is spelled in
        the file, then which functions' lines hold one (issue #17: one search of the
        text, not one per function). A word holds no line end, so a match lies within
        a function's lines exactly when a search of those lines alone finds one."""
        if words is None:
            return set()
        at = [m.start() for m in words.finditer(self._source)]
        if not at:
            return set()
        starts, last = self._starts, len(self._starts) - 1
        out = set()
        for name, fns in self._defs.items():
            for fn in fns:
                i = bisect.bisect_left(at, starts[fn.lineno - 1])
                if i < len(at) and at[i] < starts[min(fn.end_lineno or 0, last)]:
                    out.add(name)
                    break
        return out

    def _grow(self, picked: set[str]) -> set[str]:
        """With the functions spelling a name of these, to a fixed point."""
        new = set(picked)
        while new:
            new = self._spelled(new) - picked
            picked |= new
        return picked

    @property
    def names(self) -> set[str]:
        return self._names

    def bind(self, module: ev.Table) -> None:
        self.module = module

    def get(self, name: str) -> Trigger | None:
        """What ``name()`` returns (``what``: the returned event or draw, ``line``: the
        ``return`` or the ``if`` that tests it), if it is an event or a draw."""
        if name in self._got:
            return self._got[name]
        if name not in self.names or name in self._busy or self.module is None:
            return None
        self._busy.add(name)  # a recursive helper is read as returning nothing
        got = None
        for fn in self._defs.get(name, ()):
            got = _returned(fn, body_nodes(fn), self.module, self._held_attrs(fn))
            if got is not None:
                break
        if got is None and self._far is not None and name in self._far.names:
            got = self._far.get(name)  # from .utils import keep: another file's
        self._busy.discard(name)
        self._got[name] = got
        return got

    def _held_attrs(self, fn: _Def) -> Mapping[str, ev.Held]:
        """A method's class's attributes drawn once per run (``ev.init_attrs``)."""
        cls = self._owner.get(fn)
        if cls is None or self.module is None or not self._held_words:
            return {}  # no method run once sets an attribute from a draw (the pre-test)
        got = self._attrs.get(cls)
        if got is None:
            self._attrs[cls] = {}  # a method __init__ calls sees none of them
            got = self._attrs[cls] = ev.init_attrs(cls, self.module)
        return got

    def resting(self, added: Set[int], drawn: Iterable[str]) -> dict[str, Trigger]:
        """The functions returning one whose value rests on an added line (the change's
        cut: their callers are walked): one imported on an added line, one whose
        definition holds one, or whose class draws on one in a method run once, or
        one spelling a name drawn on one or such a function."""
        picked = {
            name
            for name in self._names
            for fn in self._defs.get(name, ())
            if _holds(fn, added) or _holds_once(self._owner.get(fn), added)
        }
        if self._far is not None:
            picked |= self._far.imported_on(added)
        picked = self._grow(picked | self._spelled(drawn)) & self._names
        out = {}
        for name in sorted(picked):
            got = self.get(name)
            if got is not None and not added.isdisjoint((got.line, *got.also)):
                out[name] = got
        return out


def _line_starts(text: str) -> list[int]:
    """Where each line starts, and the text's end: line n is [starts[n-1], starts[n])."""
    if "\r" in text:
        return [0, *(m.end() for m in _LINES.finditer(text)), len(text)]
    ends = itertools.accumulate(map((1).__add__, map(len, text.split("\n")[:-1])))
    return [0, *ends, len(text)]


def _holds(fn: ast.stmt, added: Set[int]) -> bool:
    return not added.isdisjoint(range(fn.lineno, (fn.end_lineno or fn.lineno) + 1))


def _holds_once(cls: ast.ClassDef | None, added: Set[int]) -> bool:
    """Whether a method of this class run once per run holds an added line."""
    return cls is not None and any(
        isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
        and m.name in ev.ONCE
        and _holds(m, added)
        for m in cls.body
    )


def _returned(
    fn: _Def, nodes: list[ast.AST], module: ev.Table, attrs: Mapping[str, ev.Held]
) -> Trigger | None:
    a = fn.args
    params = [x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x]
    table = ev.local_table(nodes, module, params, attrs)
    rets = [n for n in nodes if isinstance(n, ast.Return) and n.value is not None]
    for r in rets:
        assert r.value is not None
        got = table.value(r.value)
        if got is None and _reads(r.value, params):  # return x * (torch.rand(()) > p)
            got = table.gate(r.value)
            got = got._replace(kind=GATE) if got is not None else None
        if got is not None:
            return Trigger(got.kind, got.what, r.lineno, ev.lines_of(got, r.lineno))
    values = {ast.unparse(r.value) for r in rets if r.value is not None and ev.number(r.value)}
    if len(values) < 2 or len(rets) != sum(ev.number(r.value) for r in rets if r.value):
        return None
    for n in nodes:  # if random.random() < p: return 0.0 / return 1.0
        if isinstance(n, (ast.If, ast.IfExp)):
            got = table.event(n.test)
            if got is not None:
                return Trigger(EVENT, got.what, n.lineno, ev.lines_of(got, n.lineno))
    return None


def _reads(node: ast.AST, params: list[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in params for n in ast.walk(node))


def _drawish_names(nodes: Iterable[ast.AST], far: Iterable[str]) -> set[str]:
    """Module names bound from a draw, or from such a name (``_P = np.random.rand()``),
    and those imported holding one (``far``)."""
    out: set[str] = set(far)
    reads: list[tuple[str, set[str]]] = []  # (name, the names its value reads)
    for n in nodes:
        if isinstance(n, ast.Assign):
            targets = [t.id for t in n.targets if isinstance(t, ast.Name)]
            if not targets:
                continue
            seen: set[str] = set()
            for sub in walk_all(n.value):
                if isinstance(sub, ast.Name):
                    seen.add(sub.id)
                elif isinstance(sub, ast.Call) and last_name(sub.func) in DRAW_NAMES:
                    out.update(targets)
            reads += [(t, seen) for t in targets if seen]
    grown = True
    while grown:
        grown = False
        for name, seen in reads:
            if name not in out and not seen.isdisjoint(out):
                out.add(name)
                grown = True
    return out


def imported(
    tree: ast.Module, lookup: mod.Lookup | None, wanted: Container[str] | None = None
) -> dict[str, Trigger]:
    """``from .utils import _FLIP`` where utils binds ``_FLIP = random.random() < .02``:
    the names held by another file of the head tree, drawn once per run, each resting
    on the import's line. One import away, as ``module.Facts.far`` follows a trigger;
    a helper is parsed only when the statement binding the name at its top level
    spells a draw, and looked up only for a name in ``wanted`` (the change's cut:
    spelled by a statement with an added line; a hit resting on no such line is not
    kept) or for every name (None). A function returning a draw, imported, is
    ``Imported``'s (session 12)."""
    held: dict[str, Trigger] = {}
    for node in tree.body if lookup is not None else ():
        if not isinstance(node, ast.ImportFrom):
            continue
        # The statement's module, looked up once for all its names (issue #17).
        found: tuple[str, str] | None = None
        looked = False
        for a in node.names:
            assert lookup is not None
            if a.name == "*" or (wanted is not None and (a.asname or a.name) not in wanted):
                continue
            if not looked:
                found, looked = lookup(node.level, node.module or ""), True
            if found is None or not _binds_draw_once(found[1], a.name):
                continue
            path, text = found
            t = _held_in(path, text, a.name)
            if t is not None:
                held[a.asname or a.name] = Trigger(
                    t.kind, f"{t.what} ({path}:{t.line})", node.lineno
                )
    return held


# A helper's text asked of a name, for the run (issue #17): whether a function of
# it may return a draw (``Imported``), whether its top level may bind the name from
# one (``imported``); every importing file asked again, building the outline anew.
_RETURNS: PerText[bool] = PerText()
_BINDS: PerText[bool] = PerText()


def _may_return(text: str, name: str) -> bool:
    """Whether the module may define a function ``name`` that may return a draw
    or an event (``outline``): a pre-test, the module is parsed if so."""
    memo = _RETURNS.of(text)
    got = memo.get(name)
    if got is None:
        got = memo[name] = may_define(text, name) and outline(text, _DRAW_WORD).may_return(name)
    return got


def _binds_draw_once(text: str, name: str) -> bool:
    """``_binds_draw``, once per run for a text and a name."""
    memo = _BINDS.of(text)
    got = memo.get(name)
    if got is None:
        got = memo[name] = _binds_draw(text, name)
    return got


def _binds_draw(text: str, name: str) -> bool:
    """Whether a module's top level may bind ``name`` in a statement that spells a
    draw, or that calls a function of the module that may return one (``_FLIP =
    _coin(0.02)``, session 12: ``outline``): a pre-test, the module is parsed if so."""
    span = _top_binds(text).get(name)
    if span is None:
        return False
    bound = _as_read(text[span[0] : span[1]])
    if _DRAW_WORD.search(bound) is not None:
        return True
    called = [n for n in set(_CALLED.findall(bound)) if may_define(text, n)]
    return bool(called) and any(outline(text, _DRAW_WORD).may_return(n) for n in called)


@functools.lru_cache(maxsize=1024)  # per helper text: hundreds in a scan (issue #17)
def _top_binds(text: str) -> dict[str, tuple[int, int]]:
    """Each name a module's top level assigns, with the first such statement's span
    (to the next top-level line, past one inside brackets the statement opened: a
    value continued at column 0); identifiers as Python reads them."""
    if _ODD_START.search(text):  # a name spelled in compatibility characters
        text = _as_read(text)
    out: dict[str, tuple[int, int]] = {}
    for m in _TOP_BIND.finditer(text):
        if m.group(1) in out:
            continue
        end = m.end()
        while True:
            nxt = _TOP.search(text, end + 1)
            end = nxt.start() if nxt else len(text)
            seg = text[m.start() : end]
            if nxt is None or _opens(seg) <= _closes(seg):
                break
        out[m.group(1)] = (m.start(), end)
    return out


def _opens(seg: str) -> int:
    return seg.count("(") + seg.count("[") + seg.count("{")


def _closes(seg: str) -> int:
    return seg.count(")") + seg.count("]") + seg.count("}")


_CALLED = re.compile(r"([^\W\d]\w*)(?:\s|\\|\))*\(")
# (a form feed sets the column to 0)
_TOP_BIND = re.compile(r"(?m)^(?:[ \t\f]*\f)?([^\W\d]\w*)[ \t]*(?::[^=\n]*)?=(?!=)")
_TOP = re.compile(r"(?m)^(?=[^\s#)\]}])")
_ODD_START = re.compile(r"(?m)^[^\x00-\x7f]")


_SELF_SET = re.compile(r"\bself[ \t]*\.[ \t]*([^\W\d]\w*)[ \t]*(?::[^=\n]*)?=(?!=)")


@functools.lru_cache(maxsize=256)
def _held_in(path: str, text: str, name: str) -> Trigger | None:
    """An imported module's name drawn once, cached by its text and the name: also
    through a function of that module (``_FLIP = _coin(0.02)``, session 12)."""
    helper = _helper(path, text)
    return helper.module.own.get(name) if helper is not None and helper.module else None


class Imported:
    """``from .utils import keep`` where utils has ``def keep(): return 0.0 if
    random.random() < 0.03 else 1.0`` (session 12): what functions imported from
    another file of the head tree return, one import away, as ``Returns`` finds it
    in that file. Cheap on purpose (a helper spelling a draw somewhere is common):
    only a name ``wanted`` (spelled by a statement the change touched; None: all)
    whose module defines it and spells a draw is a candidate (``names``), the module
    is parsed on the first call the walk judges, once per run, and what the name
    returns is kept in the store by the module's content (a warm run parses none).
    The event rests on the import's line: the helper's lines are another file's."""

    def __init__(
        self,
        tree: ast.Module,
        lookup: mod.Lookup | None,
        wanted: Container[str] | None,
        store: Store | None,
        called: Callable[[str], bool] | None = None,
    ) -> None:
        self.names: set[str] = set()
        self._src: dict[str, tuple[int, str, str, str]] = {}  # import line, path, text, name
        self._got: dict[str, Trigger | None] = {}
        self._store = store
        for node in tree.body if lookup is not None else ():
            if not isinstance(node, ast.ImportFrom):
                continue
            # The statement's module, looked up once for all its names (issue #17: once
            # per name, a tenth of these pre-tests): the lookup is the same each time.
            module: tuple[str, str] | None = None
            looked = False
            for a in node.names:
                local = a.asname or a.name
                if a.name == "*" or (wanted is not None and local not in wanted):
                    continue
                assert lookup is not None
                found = None
                if called is None or called(local):
                    if not looked:
                        module, looked = lookup(node.level, node.module or ""), True
                    found = module
                if found is not None and _may_return(found[1], a.name):
                    self.names.add(local)
                    self._src[local] = (node.lineno, found[0], found[1], a.name)
                else:
                    self.names.discard(local)  # the last import of a name wins

    def imported_on(self, added: Set[int]) -> set[str]:
        return {n for n in self.names if self._src[n][0] in added}

    def get(self, local: str) -> Trigger | None:
        if local in self._got:
            return self._got[local]
        line, path, text, name = self._src[local]
        known = self._store.event(text, name) if self._store is not None else None
        if known is None:
            helper = _helper(path, text)
            known = (helper.get(name) if helper is not None else None,)
            STATS["events"] += 1
            if self._store is not None:
                self._store.put_event(text, name, known[0])
        t = known[0]
        got = None if t is None else Trigger(t.kind, f"{t.what} ({path}:{t.line})", line)
        self._got[local] = got
        return got


# Helpers' own ``Returns`` (bound to their module's table), parsed once per run; a few
# (each holds a tree that can be ten times its text: a scan's peak stays bounded).
_HELPERS: dict[tuple[str, str], Returns | None] = {}


def _helper(path: str, text: str) -> Returns | None:
    key = (path, text)
    if key in _HELPERS:
        return _HELPERS[key]
    parsed = mod.helper_facts(path, text)
    got = None
    if parsed is not None:
        tree = parsed.tree
        nodes = walk_local(tree.body)
        got = Returns(tree, text, nodes)
        ev.module_table(tree, aliases(tree), nodes, got)  # binds got.module
    if len(_HELPERS) >= 4:
        _drop(_HELPERS.pop(next(iter(_HELPERS))))
    _HELPERS[key] = got
    return got


def _drop(helper: Returns | None) -> None:
    if helper is not None:
        helper.module = None  # it and its module's table hold each other


def release() -> None:
    """Drop the helpers this process holds (end of a run)."""
    for helper in _HELPERS.values():
        _drop(helper)
    _HELPERS.clear()
    _held_in.cache_clear()
    _top_binds.cache_clear()
    _RETURNS.clear()
    _BINDS.clear()
    outline_release()
