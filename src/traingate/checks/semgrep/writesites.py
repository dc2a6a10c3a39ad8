"""Screen atoms read from the nodes that write to an object (screen.py, issue #17),
for the two rules whose screens admitted functions for a name anywhere in
them: ``attr-write`` and ``helper-def`` (tamper-framework-monkeypatch),
``outside-def`` and ``write-target`` (sabotage-grad-param-corruption).

tamper-framework-monkeypatch's writes all name the object written to, ``$M``:
``$M.$ATTR = $V`` (and ``+=``), ``setattr($M, ...)``, ``$M.__setattr__(...)``,
``object.__setattr__($M, ...)`` / ``type.__setattr__($M, ...)``,
``$M.__dict__[...] = ...`` / ``.update(...)``, ``vars($M)[...] = ...`` /
``.update(...)``; and ``$M`` must be spelled as a dotted name or start with
``importlib.import_module``, ``__import__``, ``getattr`` or ``sys.modules``
(its metavariable-regex), and hold a framework name semgrep sees
(metavariable-pattern: the name, or an import of it that semgrep resolves).
Its screen asked for ``setattr`` (or ``vars``, ``__dict__``, ``__setattr__``)
and a framework name anywhere in one function: that admitted every method
doing ``setattr(self, k, v)`` in a file that imports torch, 670 functions
(41,455 lines) of the large corpus.

``attr-write: {roots: [...], lookups: [...]}``: a *site* is such a write's
object: an attribute's object where the attribute is stored to (assigned,
augmented, or a loop or ``with`` target), the first argument of a call of
``setattr`` or ``vars`` (by name or attribute: ``builtins.setattr``), the
object and the first argument of a ``__setattr__`` call, the object of any
``__dict__``. A site *holds* when its leftmost name (through attributes,
calls, subscripts, conditional expressions, binary and boolean operations,
comparisons and starred arguments: the first token of its text, parentheses
aside) is one of ``roots``; or is bound by an import whose dotted path spells
one of them (``from torch import optim as o``: semgrep 1.182 resolves an
import wherever it stands in the file, and no relative one to a framework);
or is any name after a star import from such a module; or, for a site that
is not a plain dotted name (a call or subscript on its way), one of
``lookups`` (``getattr(torch, "optim").SGD = f``). An import that renames
``setattr``, ``vars``, ``object`` or ``type`` makes the atom hold on every
unit: semgrep might resolve the new name to the builtin. Some of that is
more than the rule matches (semgrep 1.182 matched none of
``builtins.setattr(torch, ...)``, a renamed ``setattr``, ``(torch.optim).SGD
= f``, a star-imported name): only more admits.

``helper-def: f`` (or a list) holds on a unit whose lines hold the def of a
function that calls ``f`` with one of its parameters first (units.helper_of's
helpers, any depth). The rule's helper branch reads such a def in one unit
and its call in another; its screen kept every unit naming ``setattr`` in a
file naming a framework for the def (213 units, 13,436 lines of the corpus).

``outside-def: [name, ...]``: the unit is not an outermost function (or
async one: semgrep's ``def`` pattern matches both) of one of these names, or
every unit of the file is: sabotage-grad-param-corruption drops every match
inside its init functions (``pattern-not-inside: def __init__(...): ...``),
and a match in module or class code, which every unit shares, still needs one
unit kept. (A def of such a name nested in another function is not excluded.)

``write-target: {attrs: [...], unbound: [...]}``: the rule's random writes
need ``.grad`` or ``.data`` in the text of the written expression ``$T``
(its metavariable-regex): a method call's receiver (a call with arguments,
or a method in ``unbound``), the first argument of a method in ``unbound``
(``torch.Tensor.normal_(p.data)``), an assignment's target. A site holds when
that expression holds one of ``attrs`` as an attribute, a literal spelling
``.attr``, or its lines spell ``.attr`` when it spans more than one (a
comment). The screen asked for the name ``data`` anywhere, and every
``from torch.utils.data import ...`` lent it to every function of the file.

Each atom holds on a unit whose run of lines (facts._Gaps) holds a site
(``write-target``: whose own code, read from its calls and assignments), and
on every unit when one is in module or class code, which every unit shares.
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable
from typing import Any

from traingate.checks.semgrep.facts import Facts
from traingate.checks.semgrep.gaps import line_starts
from traingate.checks.semgrep.units import _helpers as helpers
from traingate.checks.semgrep.units import by_unit, file_of, within

Test = Callable[[Facts], bool]

KEYS = frozenset({"attr-write", "helper-def", "outside-def", "write-target"})
# Builtins the rule's patterns call by name: renamed by an import, semgrep may
# resolve the new name to them.
_CALLED = frozenset({"setattr", "vars", "object", "type"})
_WRITERS = frozenset({"setattr", "vars"})
_EVERY = -1  # a site offset standing for "every unit": a renamed builtin


def atom(key: str, value: Any, error: type[ValueError]) -> Test:
    """The test of ``attr-write`` or ``helper-def`` (screen.py's hook)."""
    if key == "helper-def":
        return _helper_def(value, error)
    if key == "outside-def":
        return _outside_def(value, error)
    if key == "write-target":
        return _write_target(value, error)
    if not isinstance(value, dict) or not {"roots"} <= set(value) <= {"roots", "lookups"}:
        raise error(f"attr-write: takes roots and lookups, not {value!r}")
    lists = {k: value.get(k, []) for k in ("roots", "lookups")}
    for k, v in lists.items():
        if not isinstance(v, list) or not all(isinstance(w, str) and w.isidentifier() for w in v):
            raise error(f"attr-write: {k} takes a list of identifiers, not {v!r}")
    if not lists["roots"]:
        raise error("attr-write: roots must not be empty")
    roots, lookups = frozenset(lists["roots"]), frozenset(lists["lookups"])
    key = f"attr-write {sorted(roots)} {sorted(lookups)}"
    return _in_unit(key, lambda file: _sites(file, roots, lookups))


def _helper_def(value: Any, error: type[ValueError]) -> Test:
    callees = [value] if isinstance(value, str) else value
    if not isinstance(callees, list) or not all(
        isinstance(c, str) and c.isidentifier() for c in callees
    ):
        raise error(f"helper-def: takes an identifier or a list of them, not {value!r}")
    wanted = frozenset(callees)

    def defs(file: Facts) -> list[int]:
        found = helpers(file, wanted)
        if not found:
            return []
        lines = {d.lineno for d in file.defs if getattr(d, "name", None) in found}  # type: ignore[attr-defined]
        starts = line_starts(file.text)
        return sorted(starts[line - 1] for line in lines if line <= len(starts))

    return _in_unit(f"helper-def {sorted(wanted)}", defs)


def _outside_def(value: Any, error: type[ValueError]) -> Test:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(n, str) and n.isidentifier() for n in value)
    ):
        raise error(f"outside-def: takes a non-empty list of identifiers, not {value!r}")
    names = frozenset(value)
    key = f"outside-def {sorted(names)}"

    def test(f: Facts) -> bool:
        file = file_of(f)
        if file is None or f.run is None:
            return True  # the file; a unit without its file: admit, never drop
        if key not in file._memo:
            file._memo[key] = _named_units(file, names)
        named: list[tuple[int, bool]] = file._memo[key]
        if all(n for _, n in named):
            return True  # every unit is excluded: what matches is in shared code
        i = bisect.bisect_left(named, (f.run[0], False))
        return not (i < len(named) and named[i][0] < f.run[1] and named[i][1])

    return test


def _named_units(file: Facts, names: frozenset[str]) -> list[tuple[int, bool]]:
    """Each outermost function's def line start, and whether it is named one of ``names``."""
    starts = line_starts(file.text)
    out: list[tuple[int, bool]] = []
    last = 0
    for fn in sorted(file.defs, key=lambda d: d.lineno):  # type: ignore[attr-defined]
        if fn.lineno > last and fn.lineno <= len(starts):  # type: ignore[attr-defined]
            out.append((starts[fn.lineno - 1], fn.name in names))  # type: ignore[attr-defined]
            last = getattr(fn, "end_lineno", None) or fn.lineno  # type: ignore[attr-defined]
    return out


def _write_target(value: Any, error: type[ValueError]) -> Test:
    if not isinstance(value, dict) or set(value) != {"attrs", "unbound"}:
        raise error(f"write-target: takes attrs and unbound, not {value!r}")
    for k in ("attrs", "unbound"):
        v = value[k]
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(n, str) and n.isidentifier() for n in v)
        ):
            raise error(f"write-target: {k} takes a non-empty list of identifiers, not {v!r}")
    attrs, unbound = frozenset(value["attrs"]), frozenset(value["unbound"])
    dotted = tuple("." + a for a in sorted(attrs))
    key = f"write-target {sorted(attrs)} {sorted(unbound)}"

    def spelled(text: str) -> list[int]:
        """The lines (1-based, sorted) whose text spells one of ``dotted``:
        a written expression's text is on its lines (issue #17: an ast walk
        of every call's receiver cost more than semgrep saved)."""
        starts = line_starts(text)
        found: set[int] = set()
        for d in dotted:
            at = text.find(d)
            while at >= 0:
                found.add(bisect.bisect_right(starts, at))
                at = text.find(d, at + 1)
        return sorted(found)

    def spells(obj: ast.AST) -> bool:
        """``obj`` holds one of the attributes, or a literal spelling one."""
        for n in ast.walk(obj):
            kind = type(n)
            if kind is ast.Attribute and n.attr in attrs:  # type: ignore[attr-defined]
                return True
            if kind is ast.Constant:
                v = n.value  # type: ignore[attr-defined]
                if isinstance(v, bytes):
                    v = v.decode("latin-1")
                if isinstance(v, str) and any(d in v for d in dotted):
                    return True
        return False

    def holds(f: Facts, lines: list[int]) -> bool:
        """A site among the calls (``looks``) and assignments (``folds``) of
        ``f``'s own code (a unit's, or the shared part's, or the file's),
        its lines from ``lines``: there, a comment may spell the attribute
        when the expression spans more than one (its parentheses)."""
        if key not in f._memo:
            on = frozenset(lines)
            found = False
            for node in (*f.looks, *f.folds):
                kind = type(node)
                first: int = getattr(node, "lineno", 0)
                if kind is ast.Call:
                    func = node.func  # type: ignore[attr-defined]
                    if type(func) is not ast.Attribute:
                        continue
                    fill = func.attr in unbound
                    if not (node.args or node.keywords or fill):  # type: ignore[attr-defined]
                        continue
                    last = int((node.end_lineno if fill else func.end_lineno) or first)  # type: ignore[attr-defined]
                    objs = [func.value, *node.args[:1]] if fill else [func.value]  # type: ignore[attr-defined]
                elif kind is ast.Assign or kind is ast.AugAssign or kind is ast.AnnAssign:
                    v = node.value  # type: ignore[attr-defined]
                    last = int(v.lineno if v is not None else node.end_lineno or first)  # type: ignore[attr-defined]
                    objs = node.targets if kind is ast.Assign else [node.target]  # type: ignore[attr-defined]
                else:
                    continue
                if first == last:
                    if first not in on:
                        continue
                elif not within(lines, first, last + 1):
                    continue
                else:
                    found = True  # spelled on its lines: a comment, a literal or the code
                    break
                if any(spells(o) for o in objs):
                    found = True
                    break
            f._memo[key] = found
        held: bool = f._memo[key]
        return held

    def test(f: Facts) -> bool:
        file = file_of(f) or f
        if key + " lines" not in file._memo:
            file._memo[key + " lines"] = spelled(file.text)
        lines: list[int] = file._memo[key + " lines"]
        if not lines:
            return False
        return holds(f, lines) or (f.shared is not None and holds(f.shared, lines))

    return test


def _in_unit(key: str, find: Callable[[Facts], list[int]]) -> Test:
    """The test of an atom that holds on a unit whose run of lines holds one
    of the line starts ``find`` returns for its file (sorted; ``[_EVERY]``:
    every unit), or on every unit when one is in module or class code."""

    return by_unit(key, find)


def _sites(file: Facts, roots: frozenset[str], lookups: frozenset[str]) -> list[int]:
    """The sorted offsets of the starts of the lines holding a site that holds
    (module doc); ``[_EVERY]`` when a builtin the patterns call is renamed."""
    bound: set[str] = set()  # names an import binds from a path spelling a root
    star = False
    for node in file.nodes:
        kind = type(node)
        if kind is not ast.Import and kind is not ast.ImportFrom:
            continue
        module = getattr(node, "module", None)
        parts = module.split(".") if module else []
        for alias in node.names:  # type: ignore[attr-defined]
            name, asname = alias.name, alias.asname
            if asname and asname != name.rsplit(".", 1)[-1] and name in _CALLED:
                return [_EVERY]
            if name == "*":
                star = star or not roots.isdisjoint(parts)
            elif not roots.isdisjoint(parts) or not roots.isdisjoint(name.split(".")):
                bound.add(asname or name.split(".")[0])
    lines: set[int] = set()
    for node in file.nodes:
        kind = type(node)
        if kind is ast.Attribute:
            if type(node.ctx) is ast.Store or node.attr == "__dict__":  # type: ignore[attr-defined]
                objects: tuple[ast.AST, ...] = (node.value,)  # type: ignore[attr-defined]
            else:
                continue
        elif kind is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            args = node.args  # type: ignore[attr-defined]
            kf = type(func)
            called = func.id if kf is ast.Name else func.attr if kf is ast.Attribute else None
            if called in _WRITERS and args:
                objects = (args[0],)
            elif called == "__setattr__":
                objects = (func.value, args[0]) if args else (func.value,)
            else:
                continue
        else:
            continue
        for obj in objects:
            if _holds(obj, roots, lookups, bound, star):
                lines.add(node.lineno)  # type: ignore[attr-defined]
                break
    if not lines:
        return []
    starts = line_starts(file.text)
    return sorted(starts[line - 1] for line in lines if line <= len(starts))


def _holds(
    obj: ast.AST, roots: frozenset[str], lookups: frozenset[str], bound: set[str], star: bool
) -> bool:
    """Whether ``obj``'s leftmost name is a root, bound to one, or a lookup's."""
    dotted = True  # a plain dotted name so far
    while True:
        kind = type(obj)
        if kind is ast.Attribute:
            obj = obj.value  # type: ignore[attr-defined]
        elif kind is ast.Name:
            name: str = obj.id  # type: ignore[attr-defined]
            return name in roots or name in bound or star or (not dotted and name in lookups)
        else:
            dotted = False
            if kind is ast.Call:
                obj = obj.func  # type: ignore[attr-defined]
            elif kind is ast.Subscript or kind is ast.Starred:
                obj = obj.value  # type: ignore[attr-defined]
            elif kind is ast.IfExp:
                obj = obj.body  # type: ignore[attr-defined]
            elif kind is ast.BinOp or kind is ast.Compare:
                obj = obj.left  # type: ignore[attr-defined]
            elif kind is ast.BoolOp:
                obj = obj.values[0]  # type: ignore[attr-defined]
            else:
                return False
