"""Screen atoms read from a file's call nodes (screen.py, issue #17):
``loader-call`` and ``keyword-not-true``.

deser-torch-load-unsafe's screen asked for ``torch`` and ``load``, or for
``weights_only``, in one unit; those are in nearly every checkpoint helper
of a training library, so it admitted 683 functions (26,571 lines) of the
large corpus, 15,020 of those lines only for a ``load`` in module code or an
import. Yet no branch of the rule matches a plain ``torch.load(f,
map_location="cpu")`` outside an ``except`` handler, nor a call passing
``weights_only=True``: each one needs, on the call it reports (or on the
statement, for ``torch.load = f``), a ``weights_only`` keyword whose value is
not the literal ``True`` (the rule's ``pattern-not: "True"``), or on a call
of the loader a ``pickle_module`` keyword, a ``**`` argument (a splatted dict,
built where it may be), three or more positional arguments
(``load(f, map_location, pickle_module)``) or a place in an ``except``
handler's body (the unsafe retry), or a write to the loader's attribute
(``torch.load = f``).

``keyword-not-true: [k, ...]``: a call (any callee) passes one of the
keywords a value other than the literal ``True`` (a name bound to True
counts: semgrep's propagation is not followed).

``loader-call: {names: [...], keywords: [...]}``, read once per file: a
*candidate callee* is a name or attribute spelling one of ``names``, or one
bound anywhere in the file (assignment, walrus, annotated or augmented
assignment, a ``for``, ``with`` or comprehension target, a parameter's
default, an import's ``as``; for an attribute target, each identifier it
spells: ``self.loader = torch.load``) from a name or attribute spelling a
candidate, from a ``getattr(...)`` call, or from any other expression that
spells one outside a call (``a if c else torch.load``, a tuple); semgrep's
symbolic propagation carries ``ld = torch.load`` and ``ld =
getattr(torch, "load")`` into ``ld(...)``, not the result of a call. Any
callee that is no name or attribute is one too (``getattr(torch,
"load")(...)``). A call of ``partial`` (any spelling of it, as a
candidate) is read as a call of its first argument with the rest. A *hit*
is a call of a candidate callee with a ``**`` argument, one of ``keywords``,
three or more positional arguments (a ``*args`` counts as one: semgrep's
``$F, $ML, $PM`` take one argument each), or whose line lies in an
``except`` handler's body; or an attribute spelling one of ``names`` written
to (assigned, augmented, a ``for`` or ``with`` target) on an object that
hangs from a name an import binds (any, after a star import), from ``torch``,
from a name bound from such a name or attribute (``t = torch``), or from no
name at all (``__import__("torch").load = f``): ``self.load = 0`` is no
write to torch's loader.

``module-attr: {attrs, modules, calls, tables}`` (deser-pickle-load: its
``$M.$FN`` with ``$M`` a pickle-like module, a dynamic import or a
``sys.modules[...]`` entry): an attribute spelling one of ``attrs`` read from
a name or attribute spelling one of ``modules`` or bound from one (an
import's ``as``, an assignment, ...: as above), from a call of one of
``calls`` (``__import__("pickle")``, ``importlib.import_module(...)``, or a
name bound from such a call), from a subscript of one of ``tables``
(``sys.modules[name]``), or from any receiver that is no name, attribute,
call or subscript; or a name imported as one of ``attrs`` from a module
spelling one of ``modules`` (``from pickle import loads as restore``: the
import and each use of the name; after a star import from one, every name
spelling an attr). The loader names and the module names in one function,
which the rule's name screen asked for, admitted units where ``json.load``
met a class header naming ``pickle.Pickler`` or an ``importlib.import_module``.

Each atom holds on a unit whose run of lines (facts._Gaps) holds a hit's
first line, and on every unit when one is in module or class code (a
decorator's call, a module-level partial); on a file, when it holds a hit.
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable, Set
from typing import Any

from traingate.checks.semgrep.facts import Facts
from traingate.checks.semgrep.gaps import line_starts
from traingate.checks.semgrep.units import by_unit

Test = Callable[[Facts], bool]

# A binding from a call of this carries the loader (``ld = getattr(torch, "load")``).
_LOOKUP = "getattr"
# A call of this is read as a call of its first argument (functools.partial).
_PARTIAL = "partial"
_KEYS = {"names", "keywords"}
_MODULE_KEYS = {"attrs", "modules", "calls", "tables"}


def atom(key: str, value: Any, error: type[ValueError]) -> Test:
    """The test of ``loader-call``, ``keyword-not-true`` or ``module-attr`` (screen.py's hook)."""
    if key == "module-attr":
        if not isinstance(value, dict) or set(value) != _MODULE_KEYS:
            raise error(f"module-attr: takes {sorted(_MODULE_KEYS)}, not {value!r}")
        sets: dict[str, frozenset[str]] = {}
        for k in sorted(_MODULE_KEYS):
            v = value[k]
            if not isinstance(v, list) or not all(_ident(w) for w in v):
                raise error(f"module-attr: {k} takes a list of identifiers, not {v!r}")
            sets[k] = frozenset(v)
        if not sets["attrs"] or not sets["modules"]:
            raise error("module-attr: attrs and modules must not be empty")
        return by_unit(
            f"{key} {sorted((k, sorted(v)) for k, v in sets.items())}",
            lambda file: _module_attrs(file, sets),
        )
    if key == "keyword-not-true":
        words = [value] if isinstance(value, str) else value
        if not isinstance(words, list) or not words or not all(_ident(w) for w in words):
            raise error(f"keyword-not-true: takes an identifier or a list of them, not {value!r}")
        wanted = frozenset(words)
        return by_unit(f"{key} {sorted(wanted)}", lambda file: _not_true(file, wanted))
    if not isinstance(value, dict) or set(value) != _KEYS:
        raise error(f"loader-call: takes {sorted(_KEYS)}, not {value!r}")
    lists = {k: value[k] for k in sorted(_KEYS)}
    for k, v in lists.items():
        if not isinstance(v, list) or not all(_ident(w) for w in v):
            raise error(f"loader-call: {k} takes a list of identifiers, not {v!r}")
    if not lists["names"]:
        raise error("loader-call: names must not be empty")
    names, keywords = frozenset(lists["names"]), frozenset(lists["keywords"])
    return by_unit(
        f"{key} {sorted(names)} {sorted(keywords)}", lambda file: _hits(file, names, keywords)
    )


def _ident(w: Any) -> bool:
    return isinstance(w, str) and w.isidentifier()


def _offsets(file: Facts, lines: list[int]) -> list[int]:
    """The sorted offsets where ``lines`` (1-based) start."""
    if not lines:
        return []
    starts = line_starts(file.text)
    return sorted({starts[line - 1] for line in lines if line <= len(starts)})


def _not_true(file: Facts, wanted: frozenset[str]) -> list[int]:
    """The lines of calls passing one of ``wanted`` anything but the literal True."""
    if wanted.isdisjoint(file.names):
        return []
    lines: list[int] = []
    for node in file.nodes:
        if type(node) is ast.Call:
            for k in node.keywords:
                if k.arg in wanted and not _is_true(k.value):
                    lines.append(node.lineno)
                    break
    return _offsets(file, lines)


def _is_true(node: ast.AST) -> bool:
    return type(node) is ast.Constant and node.value is True


# The nodes that bind a name to a value (or import one under another name).
_BINDERS = frozenset(
    {ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.AsyncFor}
    | {ast.comprehension, ast.withitem, ast.arguments, ast.alias}
)


def _bind(
    node: Any,
    kind: type,
    bindings: list[tuple[ast.AST, ast.AST]],
    renamed: list[tuple[str, str]],
) -> None:
    """Record what a ``_BINDERS`` node binds: (target, value) pairs, and an import's
    (last part of the imported name, its ``as`` name)."""
    if kind is ast.Assign:
        bindings.extend((t, node.value) for t in node.targets)
    elif kind is ast.AnnAssign or kind is ast.AugAssign or kind is ast.NamedExpr:
        if node.value is not None:
            bindings.append((node.target, node.value))
    elif kind is ast.For or kind is ast.AsyncFor or kind is ast.comprehension:
        bindings.append((node.target, node.iter))
    elif kind is ast.withitem:
        if node.optional_vars is not None:
            bindings.append((node.optional_vars, node.context_expr))
    elif kind is ast.arguments:
        bindings += _defaults(node)
    elif node.asname:  # ast.alias
        renamed.append((node.name.rsplit(".", 1)[-1], node.asname))


def _hits(file: Facts, names: frozenset[str], keywords: frozenset[str]) -> list[int]:
    """The sorted offsets of the starts of the lines a hit starts on (module doc)."""
    calls: list[ast.Call] = []
    handlers: list[tuple[int, int]] = []  # (first, last) line of each handler's body
    stored: list[ast.Attribute] = []  # attributes spelling a name, written to
    bindings: list[tuple[ast.AST, ast.AST]] = []  # (target, value)
    renamed: list[tuple[str, str]] = []  # (imported name's last part, its ``as`` name)
    for node in file.nodes:
        kind = type(node)
        if kind is ast.Call:
            calls.append(node)  # type: ignore[arg-type]
        elif kind is ast.Attribute:
            if node.attr in names and type(node.ctx) is ast.Store:  # type: ignore[attr-defined]
                stored.append(node)  # type: ignore[arg-type]
        elif kind is ast.ExceptHandler:
            body = node.body  # type: ignore[attr-defined]
            handlers.append((body[0].lineno, _end(node)))
        elif kind in _BINDERS:
            _bind(node, kind, bindings, renamed)
    if not calls and not stored:
        return []
    callees = _bound(_spots(file), names | {_PARTIAL}, bindings, renamed, True)
    partials: frozenset[str] = frozenset()
    # every spelling of partial names it (an import, `p = functools.partial`)
    if _PARTIAL in file.names:
        partials = _bound(_spots(file), frozenset({_PARTIAL}), bindings, renamed, False)
    lines: list[int] = []
    if stored:
        roots = _roots(file, bindings)
        for a in stored:
            root = _root(a)  # None: hangs from a call or subscript, any module
            if roots is None or root is None or root in roots:
                lines.append(a.lineno)
    spans = _merge(handlers)
    firsts = [a for a, _ in spans]
    for call in calls:
        func: ast.AST = call.func
        args: list[ast.expr] = call.args
        if _spelling(func) in partials and args and type(args[0]) is not ast.Starred:
            func, args = args[0], args[1:]
        spelled = _spelling(func)
        if spelled is not None and spelled not in callees:
            continue
        if len(args) >= 3 or any(k.arg is None or k.arg in keywords for k in call.keywords):
            lines.append(call.lineno)
            continue
        i = bisect.bisect_right(firsts, call.lineno) - 1
        if i >= 0 and call.lineno <= spans[i][1]:
            lines.append(call.lineno)
    return _offsets(file, lines)


def _module_attrs(file: Facts, sets: dict[str, frozenset[str]]) -> list[int]:
    """The sorted offsets of the lines where ``module-attr`` has a hit (module doc)."""
    attrs, modules = sets["attrs"], sets["modules"]
    if attrs.isdisjoint(file.names):
        return []
    reads: list[ast.Attribute] = []
    bindings: list[tuple[ast.AST, ast.AST]] = []
    renamed: list[tuple[str, str]] = []
    lines: list[int] = []
    loaders: set[str] = set()  # names imported as a loader from a module
    star = False
    for node in file.nodes:
        kind = type(node)
        if kind is ast.Attribute:
            if node.attr in attrs:  # type: ignore[attr-defined]
                reads.append(node)  # type: ignore[arg-type]
        elif kind in _BINDERS:
            _bind(node, kind, bindings, renamed)
        elif kind is ast.ImportFrom and not modules.isdisjoint(
            (node.module or "").split(".")  # type: ignore[attr-defined]
        ):
            for a in node.names:  # type: ignore[attr-defined]
                if a.name == "*":
                    star = True
                    lines.append(node.lineno)  # type: ignore[attr-defined]
                elif a.name in attrs:
                    loaders.add(a.asname or a.name)
                    lines.append(node.lineno)  # type: ignore[attr-defined]
    if star:
        loaders |= attrs
    mods = _bound(_spots(file), modules, bindings, renamed, False)
    calls = _bound(_spots(file), sets["calls"], bindings, renamed, False)
    tables = _bound(_spots(file), sets["tables"], bindings, renamed, False)
    if calls or tables:
        # a name bound from `__import__(...)` or `sys.modules[...]` is a module too
        more = [
            (t, v)
            for t, v in bindings
            if (type(v) is ast.Call and _spells(v.func, calls))
            or (type(v) is ast.Subscript and _spells(v.value, tables))
        ]
        extra = {i for t, _ in more for i in _identifiers(t)}
        if extra - mods:
            mods = _bound(_spots(file), mods | extra, bindings, renamed, False)
    for read in reads:
        v = read.value
        vk = type(v)
        if vk is ast.Name or vk is ast.Attribute:
            hit = _spells(v, mods)
        elif vk is ast.Call:
            hit = _spells(v.func, calls)  # type: ignore[attr-defined]
        elif vk is ast.Subscript:
            hit = _spells(v.value, tables)  # type: ignore[attr-defined]
        else:
            hit = True
        if hit:
            lines.append(read.lineno)
    if loaders:
        lines += [n.lineno for n in file.nodes if type(n) is ast.Name and n.id in loaders]
    return _offsets(file, lines)


def _spells(node: ast.AST, names: Set[str]) -> bool:
    """Whether a name or attribute ``node`` spells one of ``names``."""
    spelled = _spelling(node)
    return spelled is not None and spelled in names


def _spelling(node: ast.AST) -> str | None:
    """The identifier a callee spells (a name's, an attribute's); None for another expression."""
    kind = type(node)
    if kind is ast.Name:
        return node.id  # type: ignore[attr-defined, no-any-return]
    if kind is ast.Attribute:
        return node.attr  # type: ignore[attr-defined, no-any-return]
    return None


def _defaults(args: ast.arguments) -> list[tuple[ast.AST, ast.AST]]:
    """Each parameter with a default, and its default."""
    positional = [*args.posonlyargs, *args.args]
    out: list[tuple[ast.AST, ast.AST]] = []
    for p, d in zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True):
        out.append((p, d))
    for p, kd in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if kd is not None:
            out.append((p, kd))
    return out


def _bound(
    spots: Callable[[], dict[str, list[tuple[int, int]]]],
    names: frozenset[str],
    bindings: list[tuple[ast.AST, ast.AST]],
    renamed: list[tuple[str, str]],
    lookup: bool,
) -> frozenset[str]:
    """``names`` and every identifier bound from a value that may be one of
    them (module doc; ``lookup``: or a getattr call), to a fixed point
    (``a = torch.load; b = a``). A value that is no name, attribute or call
    holds one where a name or attribute spelling one starts in its span, out
    of a call's arguments or not: found by position (``spots``), not by
    walking it (issue #17: most of a file's expressions are some binding's value)."""
    found = set(names)
    found.update(alias for name, alias in renamed if name in found)
    new = set(found)
    at: list[tuple[int, int]] | None = None
    left = bindings
    while new:
        if at is not None:
            at = sorted(at + _positions(spots(), new))
        grown: set[str] = set()
        rest: list[tuple[ast.AST, ast.AST]] = []
        for target, value in left:
            kind = type(value)
            if kind is ast.Name or kind is ast.Attribute:
                hit = _spells(value, found)
            elif kind is ast.Call:
                hit = lookup and _spelling(value.func) == _LOOKUP  # type: ignore[attr-defined]
            elif kind is ast.Constant:
                hit = False
            else:
                if at is None:  # positions only once a value needs them
                    at = sorted(_positions(spots(), found))
                hit = _spans_one(at, value)
            if hit:
                grown |= _identifiers(target)
            else:
                rest.append((target, value))
        left = rest
        grown.update(alias for name, alias in renamed if name in grown)
        new = grown - found
        found |= new
    return frozenset(found)


def _roots(file: Facts, bindings: list[tuple[ast.AST, ast.AST]]) -> frozenset[str] | None:
    """The names a module may hang from: import-bound, ``torch``, and those
    bound from a name or attribute hanging from one (``t = torch``); None
    after a star import (any name)."""
    if "*" in file.imported:
        return None
    found = set(file.imported) | {"torch"}
    while True:
        grown = {
            t
            for target, value in bindings
            if type(value) in (ast.Name, ast.Attribute) and _root(value) in found
            for t in _identifiers(target)
        }
        if grown <= found:
            return frozenset(found)
        found |= grown


def _root(node: ast.AST) -> str | None:
    """The name an attribute chain hangs from; None for another expression."""
    while type(node) is ast.Attribute:
        node = node.value
    return node.id if type(node) is ast.Name else None


def _spots(file: Facts) -> Callable[[], dict[str, list[tuple[int, int]]]]:
    """Where each name or attribute starts, by what it spells: built once a
    file, when a binding's value first needs it."""

    def spots() -> dict[str, list[tuple[int, int]]]:
        if "loadcalls spots" not in file._memo:
            out: dict[str, list[tuple[int, int]]] = {}
            for n in file.nodes:
                kind = type(n)
                if kind is ast.Name:
                    out.setdefault(n.id, []).append((n.lineno, n.col_offset))  # type: ignore[attr-defined]
                elif kind is ast.Attribute:
                    out.setdefault(n.attr, []).append((n.lineno, n.col_offset))  # type: ignore[attr-defined]
            file._memo["loadcalls spots"] = out
        found: dict[str, list[tuple[int, int]]] = file._memo["loadcalls spots"]
        return found

    return spots


def _positions(spots: dict[str, list[tuple[int, int]]], spelled: set[str]) -> list[tuple[int, int]]:
    """Where a name or attribute spelling one of ``spelled`` starts."""
    return [at for name in spelled for at in spots.get(name, ())]


def _spans_one(at: list[tuple[int, int]], value: ast.AST) -> bool:
    """Whether one of the positions ``at`` (sorted) lies in ``value``'s span."""
    first = (value.lineno, value.col_offset)  # type: ignore[attr-defined]
    i = bisect.bisect_left(at, first)
    if i == len(at):
        return False
    last = (value.end_lineno, value.end_col_offset)  # type: ignore[attr-defined]
    return at[i] < last


def _identifiers(node: ast.AST) -> set[str]:
    """The names and attribute names in a binding's target (a parameter: its own)."""
    if type(node) is ast.arg:
        return {node.arg}
    out: set[str] = set()
    for n in ast.walk(node):
        kind = type(n)
        if kind is ast.Name:
            out.add(n.id)  # type: ignore[attr-defined]
        elif kind is ast.Attribute:
            out.add(n.attr)  # type: ignore[attr-defined]
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _end(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    return int(end) if end is not None else int(getattr(node, "lineno", 1))
