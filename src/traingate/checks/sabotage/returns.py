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
"""

from __future__ import annotations

import ast
import functools
import re
import unicodedata
from collections.abc import Container, Iterable, Set

from traingate.checks.sabotage import events as ev
from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage.kinds import DRAW_NAMES, EVENT, GATE
from traingate.checks.sabotage.payloads import walk_local
from traingate.checks.sabotage.triggers import Trigger, aliases, last_name, stmt_walk

_Def = ast.FunctionDef | ast.AsyncFunctionDef
_LINES = re.compile(r"\r\n?|\n")  # the line ends Python counts
_RETURN = re.compile(r"(?m)\breturn\b(?![ \t]*(?:$|;|#))")  # a return with a value
# A draw's name spelled as a word (``random.random()``, ``rng.integers``).
_DRAW_WORD = re.compile(rf"\b(?:{'|'.join(sorted(DRAW_NAMES, key=len, reverse=True))})\b")


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
    ) -> None:
        self.module: ev.Table | None = None  # the module's table (events.module_table)
        self._defs: dict[str, list[_Def]] = {}
        self._got: dict[str, Trigger | None] = {}
        self._busy: set[str] = set()
        self._names: set[str] = set()
        for fn in stmt_walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._defs.setdefault(fn.name, []).append(fn)
        # Functions that can return one at all (a pre-test on the text, issue #17: most
        # files spell a draw somewhere): those that spell a draw, a module name computed
        # from one, or such a function; all of them in a file NFKC may change.
        self._source = _as_read(source)  # identifiers as Python reads them: same lines
        # Where each line starts, and the text's end: line n is [starts[n-1], starts[n]).
        self._starts = [0, *(m.end() for m in _LINES.finditer(self._source)), len(self._source)]
        seeds = self._spelling(_DRAW_WORD) | self._spelling(
            _words(_drawish_names(module_nodes, far_names))
        )
        self._names |= self._grow(seeds) & self._spelling(_RETURN)

    def _spelling(self, words: re.Pattern[str] | None) -> set[str]:
        """The functions whose text spells one of these words."""
        if words is None:
            return set()
        starts, last, text = self._starts, len(self._starts) - 1, self._source
        return {
            name
            for name, fns in self._defs.items()
            if any(
                words.search(text, starts[fn.lineno - 1], starts[min(fn.end_lineno or 0, last)])
                for fn in fns
            )
        }

    def _grow(self, picked: set[str]) -> set[str]:
        """With the functions spelling a name of these, to a fixed point."""
        new = set(picked)
        while new:
            new = self._spelling(_words(new)) - picked
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
            got = _returned(fn, walk_local(fn.body), self.module)
            if got is not None:
                break
        self._busy.discard(name)
        self._got[name] = got
        return got

    def resting(self, added: Set[int], drawn: Iterable[str]) -> dict[str, Trigger]:
        """The functions returning one whose value rests on an added line (the change's
        cut: their callers are walked): one imported on an added line, one whose
        definition holds one, or one spelling a name drawn on one or such a function."""
        picked = {
            name
            for name in self._names
            for fn in self._defs.get(name, ())
            if not added.isdisjoint(range(fn.lineno, (fn.end_lineno or fn.lineno) + 1))
        }
        picked = self._grow(picked | self._spelling(_words(drawn))) & self._names
        out = {}
        for name in sorted(picked):
            got = self.get(name)
            if got is not None and not added.isdisjoint((got.line, *got.also)):
                out[name] = got
        return out


def _returned(fn: _Def, nodes: list[ast.AST], module: ev.Table) -> Trigger | None:
    a = fn.args
    params = [x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x]
    table = ev.local_table(nodes, module, params, {})
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
            for sub in ast.walk(n.value):
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
    kept) or for every name (None). A function returning a draw, imported, is not
    followed: most helpers spell a draw somewhere, and reading each one a change's
    files import doubled the check's time on a 200-file change."""
    held: dict[str, Trigger] = {}
    for node in tree.body if lookup is not None else ():
        if not isinstance(node, ast.ImportFrom):
            continue
        for a in node.names:
            assert lookup is not None
            if a.name == "*" or (wanted is not None and (a.asname or a.name) not in wanted):
                continue
            found = lookup(node.level, node.module or "")
            if found is None or not _binds_draw(found[1], a.name):
                continue
            path, text = found
            t = _held_in(path, text, a.name)
            if t is not None:
                held[a.asname or a.name] = Trigger(
                    t.kind, f"{t.what} ({path}:{t.line})", node.lineno
                )
    return held


def _binds_draw(text: str, name: str) -> bool:
    """Whether a module's top level may bind ``name`` in a statement that spells a
    draw (a pre-test: the module is parsed if so)."""
    span = _top_binds(text).get(name)
    return span is not None and _DRAW_WORD.search(_as_read(text[span[0] : span[1]])) is not None


@functools.lru_cache(maxsize=64)
def _top_binds(text: str) -> dict[str, tuple[int, int]]:
    """Each name a module's top level assigns, with the first such statement's span
    (to the next top-level line); identifiers as Python reads them."""
    if _ODD_START.search(text):  # a name spelled in compatibility characters
        text = _as_read(text)
    out: dict[str, tuple[int, int]] = {}
    for m in _TOP_BIND.finditer(text):
        end = _TOP.search(text, m.end())
        out.setdefault(m.group(1), (m.start(), end.start() if end else len(text)))
    return out


_TOP_BIND = re.compile(r"(?m)^([^\W\d]\w*)[ \t]*(?::[^=\n]*)?=(?!=)")
_TOP = re.compile(r"(?m)^(?=[^\s#)\]}])")
_ODD_START = re.compile(r"(?m)^[^\x00-\x7f]")
# An identifier with a character NFKC may change (cut._TOKEN's, holding one).
_ODD_TOKEN = re.compile(r"[A-Za-z0-9_]*[^\x00-\x7f][^\s!-/:-@\[-^`{-~]*")


def _as_read(text: str) -> str:
    """``cut.as_read``, normalising only the identifiers that are not ASCII (faster:
    NFKC leaves an ASCII one as it is)."""
    if text.isascii():
        return text
    return _ODD_TOKEN.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


@functools.lru_cache(maxsize=256)
def _held_in(path: str, text: str, name: str) -> Trigger | None:
    """An imported module's name drawn once, cached by its text and the name."""
    helper = mod.helper_facts(path, text)
    if helper is None:
        return None
    tree = helper.tree
    return ev.module_table(tree, aliases(tree), walk_local(tree.body)).own.get(name)
