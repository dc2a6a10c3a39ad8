"""Where the name of a callable chosen at run time comes from (facts version 20, 21).

``builtins.dynattr`` (a callable looked up by name in a module named at run
time) is dangerous or not by the name. Session 28 (issue #16: four of the
22 dismissed blocks of real history were torchtune's recipes handing a
config's ``collate_fn`` to ``_get_component_from_path``) judges the name
where it comes from, as ``weights_only`` is judged where it is passed:

- at the lookup, ``piece``: the module and attribute names are all pieces
  of one parameter ``p`` (``p`` itself, a read from it, ``p.get("k", d)``,
  ``p.split(".")``, an element or slice of that list, ``".".join`` of one),
  so the name is the caller's; anything else (``"o" + p``, an f-string, a
  global, ``os.environ``) keeps the finding where it is;
- at a call, ``code``: what an argument passes as a name: 1 (a literal the
  config check's judgment finds harmless, or ``None``), the name of the
  caller's own parameter (or of the parameter a read chain starts from), or
  0 (anything else: the caller's finding).

A parameter rebound before the read (a loop around both counts as before),
or written to anywhere in the function (``cfg.x = v``, ``cfg["x"] = v``,
``setattr(cfg, ...)``, ``cfg.update(...)``, ``OmegaConf.update(cfg, ...)``)
is not what the caller passed. Not seen: a function the parameter is handed
to that writes to it (``_tweak(cfg)``), at the caller's side.

Version 21: a harmless literal may still name a repository function that
reaches a sink; ``code`` collects the dotted ones (``nl``) and graph.py
looks them up (``passed_literals``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from traingate.checks.config.names import names_code
from traingate.checks.config.targets import (
    _DANGEROUS_ATTRIBUTE_MODULES,
    _DANGEROUS_CALLABLES,
    _DANGEROUS_LAST,
    _DANGEROUS_MODULES,
    _dangerous_target,
    _stdlib_target,
)

Code = int | str  # 1 harmless, 0 unknown or dangerous, a parameter's name

# Any segment of these, anywhere in the name: a helper may put the segments
# in another order (``getattr(import_module(parts[1]), parts[0])``), so
# "system.os" is as dangerous as "os.system".
_WORDS = frozenset(
    [*_DANGEROUS_MODULES, *_DANGEROUS_ATTRIBUTE_MODULES, *_DANGEROUS_LAST]
    + [c for c in _DANGEROUS_CALLABLES if "." not in c]
)
# Methods that change their receiver (or, with a first argument, that
# argument: ``OmegaConf.update(cfg, "k", v)``).
_MUTATORS = frozenset(
    ["update", "setdefault", "pop", "popitem", "clear", "merge_with", "merge_with_cli"]
    + ["merge_with_dotlist", "set", "put", "append", "extend", "insert", "remove"]
    + ["__setitem__", "__setattr__", "__delitem__", "sort", "reverse"]
)
# Calls that neither keep nor change a list they are handed (``_escaped``).
_PURE = frozenset(
    ["len", "isinstance", "str", "repr", "print", "bool", "enumerate", "sorted", "reversed"]
    + ["list", "tuple", "iter", "any", "all", "range", "getattr", "hasattr", "__import__"]
    + ["import_module", "join", "format", "debug", "info", "warning", "error", "exception"]
)
_MAX_DEPTH = 8
# A literal that may name a repository object (facts version 21, ``nl``):
# identifiers joined by dots, or one alone (a top-level module, imported by
# name, runs its body); a message or a path is not one.
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@lru_cache(maxsize=4096)
def _safe_text(t: str) -> bool:
    if names_code(t) or _dangerous_target(t) or _stdlib_target(t):
        return False
    return not _WORDS.intersection(seg.strip() for seg in t.split("."))


def safe_literal(value: object) -> bool:
    """A literal passed as a callable's dotted name that names nothing the
    config check reports (``torchtune.data.padded_collate_sft``, None)."""
    if not isinstance(value, str):
        return True  # None, a number: no module has such a name
    return _safe_text(value.strip())


def dotted(value: object) -> str | None:
    """``value`` when it is a dotted name a repository object may have."""
    if isinstance(value, str) and _DOTTED.fullmatch(value.strip()):
        return value.strip()
    return None


def _root(node: ast.expr) -> str | None:
    """The name an attribute, subscript or method chain starts from."""
    while True:
        t = type(node)
        if t is ast.Name:
            return node.id  # type: ignore[attr-defined,no-any-return]
        if t is ast.Attribute or t is ast.Subscript:
            node = node.value  # type: ignore[attr-defined]
        elif t is ast.Call and type(node.func) is ast.Attribute:  # type: ignore[attr-defined]
            node = node.func.value  # type: ignore[attr-defined]
        else:
            return None


def _pos(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _end(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0


def _inside(inner: ast.AST, outer: ast.AST) -> bool:
    return _pos(outer) <= _pos(inner) and _end(inner) <= _end(outer)


class Flow:
    """A scope's bindings by name, what it writes to, and what it hands on."""

    def __init__(
        self,
        own: list[ast.AST],
        params: set[str],
        nonlocals: Callable[[list[ast.stmt]], set[str]],
    ):
        self.params = params
        self._nonlocals = nonlocals  # names a nested def declares nonlocal (facts)
        # name -> (kind, statement or None, value): "v" a value bound (the
        # statement gives its place), "i" an element of the value, "u" unknown.
        self.stores: dict[str, list[tuple[str, ast.AST | None, ast.expr | None]]] = {}
        self.written: set[str] = set()
        self.escaped: set[str] = set()
        self._loops: list[ast.AST] = []  # the scope's own loops (facts keeps `While`)
        # (where a parameter's object went, the parameter): an alias written
        # to writes the parameter's object (`c = cfg; c.fn = ...`).
        self._aliases: list[tuple[ast.expr, str]] = []
        self._deep: set[str] = set()  # roots written two levels down: `self.c.fn = v`
        for node in own:
            self._note(node)
        for target, param in self._aliases:
            # `c = cfg` then `c.fn = v`; `self.c = cfg` then `self.c.fn = v`
            # (any write two levels below `self`)
            t = type(target)
            hit = target.id in self.written if t is ast.Name else _root(target) in self._deep  # type: ignore[attr-defined]
            if hit:
                self.written.add(param)

    def _bind(self, name: str, kind: str, at: ast.AST | None, value: ast.expr | None) -> None:
        self.stores.setdefault(name, []).append((kind, at, value))

    def _target(self, x: ast.expr, kind: str, at: ast.AST | None, value: ast.expr | None) -> None:
        t = type(x)
        if t is ast.Name:
            self._bind(x.id, kind, at, value)  # type: ignore[attr-defined]
        elif t is ast.Attribute or t is ast.Subscript:
            root = _root(x)
            if root is not None:
                self.written.add(root)
                if type(x.value) in (ast.Attribute, ast.Subscript):  # type: ignore[attr-defined]
                    self._deep.add(root)
        else:
            for n in ast.walk(x):
                if isinstance(n, ast.Name):
                    self._bind(n.id, "u", None, None)
                elif isinstance(n, (ast.Attribute, ast.Subscript)) and (r := _root(n)) is not None:
                    self.written.add(r)

    def _alias(self, targets: list[ast.expr], value: ast.expr | None) -> None:
        """Note where a parameter's object (or a part of it) is stored."""
        root = _root(value) if value is not None else None
        if root is not None and root in self.params:
            self._aliases += [(x, root) for x in targets]

    def _note(self, node: Any) -> None:
        t = type(node)
        if t is ast.Call:
            self._call(node)  # the commonest own node, then reads
        elif t is ast.Attribute or t is ast.Subscript or t is ast.Name:
            return
        elif t is ast.Assign:
            self._alias(node.targets, node.value)
            for x in node.targets:
                self._target(x, "v", node, node.value)
        elif t is ast.AnnAssign or t is ast.AugAssign:
            if t is ast.AnnAssign:
                self._alias([node.target], node.value)
            if node.value is not None:
                self._target(node.target, "v" if t is ast.AnnAssign else "u", node, node.value)
        elif t is ast.For or t is ast.AsyncFor or t is ast.comprehension:
            self._target(node.target, "i", None, node.iter)
            if t is not ast.comprehension:
                self._loops.append(node)
        elif t is ast.While:
            self._loops.append(node)
        elif t is ast.NamedExpr:
            self._alias([node.target], node.value)
            self._bind(node.target.id, "v", None, node.value)
        elif t is ast.withitem and node.optional_vars is not None:
            self._target(node.optional_vars, "u", None, None)
        elif t is ast.Delete:
            for x in node.targets:
                self._target(x, "u", None, None)
        elif t is ast.Global or t is ast.Nonlocal:
            for name in node.names:
                self._bind(name, "u", None, None)
        elif (t is ast.ExceptHandler or t is ast.MatchAs or t is ast.MatchStar) and node.name:
            self._bind(node.name, "u", None, None)
        elif t is ast.MatchMapping and node.rest:
            self._bind(node.rest, "u", None, None)
        elif t is ast.alias:
            self._bind(node.asname or node.name.split(".")[0], "u", None, None)
        elif t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            for name in self._nonlocals(node.body):
                self._bind(name, "u", None, None)

    def _call(self, node: ast.Call) -> None:
        f = node.func
        fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        first = _root(node.args[0]) if node.args else None
        if fname in ("setattr", "delattr") and first is not None:
            self.written.add(first)
        if fname in _MUTATORS:
            if type(f) is ast.Attribute and (r := _root(f.value)) is not None:
                self.written.add(r)
            if first is not None:
                self.written.add(first)
        if fname not in _PURE:
            for a in [*node.args, *(k.value for k in node.keywords)]:
                v = a.value if type(a) is ast.Starred else a
                if type(v) is ast.Name:
                    self.escaped.add(v.id)

    def loops(self) -> list[ast.AST]:
        return self._loops

    def reaching(
        self, name: str, read: ast.AST | None
    ) -> list[tuple[str, ast.AST | None, ast.expr | None]]:
        """The bindings of ``name`` that may hold at ``read``: one after it in
        the text (or whose value holds it: ``x = f(x)``) does not, unless a
        loop holds both."""
        out = []
        for kind, at, value in self.stores.get(name, ()):
            if read is not None and at is not None and kind == "v" and value is not None:
                later = _inside(read, value) or _pos(at) > _pos(read)
                if later and not any(_inside(read, lp) and _inside(at, lp) for lp in self.loops()):
                    continue
            out.append((kind, at, value))
        return out


def combine(codes: list[Code]) -> Code:
    """All harmless: 1; else the one parameter they come from; else 0."""
    if any(c == 0 for c in codes):
        return 0
    names = {c for c in codes if isinstance(c, str)}
    if len(names) > 1:
        return 0
    return names.pop() if names else 1


def code(flow: Flow, expr: ast.expr, depth: int = 0, lits: list[str] | None = None) -> Code:
    """What ``expr`` passes as a callable's name (the module docstring);
    ``lits`` collects the harmless dotted literals it may pass (``nl``)."""
    if depth > _MAX_DEPTH:
        return 0
    t = type(expr)
    if t is ast.Constant:
        return literal_code(expr.value, lits)  # type: ignore[attr-defined]
    if t is ast.Name:
        return _name_code(flow, expr, depth, lits)  # type: ignore[arg-type]
    if t is ast.IfExp:
        sides = [expr.body, expr.orelse]  # type: ignore[attr-defined]
        return combine([code(flow, e, depth + 1, lits) for e in sides])
    base, default = _read(expr)
    if base is None:
        return 0
    got = code(flow, base, depth + 1, lits)
    if not isinstance(got, str):
        return 0  # a read from a literal, or from anything not a parameter
    if default is not None:
        return combine([got, code(flow, default, depth + 1, lits)])
    return got


def literal_code(value: object, lits: list[str] | None) -> Code:
    """1 for a harmless literal (kept in ``lits`` when dotted: it may name a
    repository function that reaches a sink, graph.py's to look up), else 0."""
    if not safe_literal(value):
        return 0
    name = dotted(value)
    if name is not None and lits is not None:
        lits.append(name)
    return 1


def _read(expr: ast.expr) -> tuple[ast.expr | None, ast.expr | None]:
    """``x.k``, ``x["k"]``, ``x.get("k")``, ``x.get("k", d)``: (x, d)."""
    t = type(expr)
    if t is ast.Attribute:
        return expr.value, None  # type: ignore[attr-defined]
    if t is ast.Subscript and type(expr.slice) is ast.Constant:  # type: ignore[attr-defined]
        return expr.value, None  # type: ignore[attr-defined]
    if t is ast.Call:
        f = expr.func  # type: ignore[attr-defined]
        args = expr.args  # type: ignore[attr-defined]
        if (
            type(f) is ast.Attribute
            and f.attr == "get"
            and not expr.keywords  # type: ignore[attr-defined]
            and 1 <= len(args) <= 2
            and type(args[0]) is ast.Constant
        ):
            return f.value, (args[1] if len(args) == 2 else None)
    return None, None


def _name_code(flow: Flow, expr: ast.Name, depth: int, lits: list[str] | None) -> Code:
    name = expr.id
    if name in flow.written:
        return 0
    codes: list[Code] = [name] if name in flow.params else []
    for kind, _at, value in flow.reaching(name, expr):
        if kind == "v" and value is not None:
            codes.append(code(flow, value, depth + 1, lits))
        elif kind == "i" and type(value) in (ast.List, ast.Tuple, ast.Set):
            codes += [code(flow, e, depth + 1, lits) for e in value.elts]  # type: ignore[union-attr]
        else:
            codes.append(0)
    return combine(codes) if codes else 0


# -- at the lookup --------------------------------------------------------

_Piece = tuple[frozenset[str], str]  # (the parameters, "v" value / "s" string / "l" list)


def param_of(flow: Flow, exprs: list[ast.expr]) -> str | None:
    """The one parameter every name of a lookup is a piece of, if any."""
    params: set[str] = set()
    for e in exprs:
        got = _piece(flow, e, 0, set())
        if got is None or got[1] == "l":
            return None
        params |= got[0]
    return params.pop() if len(params) == 1 else None


def _merge(pieces: list[_Piece | None]) -> _Piece | None:
    if not pieces or any(p is None for p in pieces):
        return None
    kinds = {p[1] for p in pieces if p is not None}
    if "l" in kinds and len(kinds) > 1:
        return None
    kind = kinds.pop() if len(kinds) == 1 else "s"
    return frozenset().union(*(p[0] for p in pieces if p is not None)), kind


def _piece(flow: Flow, e: ast.expr, depth: int, busy: set[str]) -> _Piece | None:
    if depth > _MAX_DEPTH:
        return None
    t = type(e)
    if t is ast.Constant:
        return (frozenset(), "s") if safe_literal(e.value) else None  # type: ignore[attr-defined]
    if t is ast.Name:
        return _name_piece(flow, e.id, depth, busy)  # type: ignore[attr-defined]
    if t is ast.IfExp:
        sides = [e.body, e.orelse]  # type: ignore[attr-defined]
        return _merge([_piece(flow, s, depth + 1, busy) for s in sides])
    if t is ast.Subscript:
        base = _piece(flow, e.value, depth + 1, busy)  # type: ignore[attr-defined]
        if base is None:
            return None
        if base[1] == "l":  # an element or a slice of the segments
            return base[0], "l" if type(e.slice) is ast.Slice else "s"  # type: ignore[attr-defined]
        key_ok = type(e.slice) is ast.Constant and isinstance(e.slice.value, str)  # type: ignore[attr-defined]
        return (base[0], "v") if base[1] == "v" and key_ok else None
    if t is ast.Attribute:
        base = _piece(flow, e.value, depth + 1, busy)  # type: ignore[attr-defined]
        return (base[0], "v") if base is not None and base[1] == "v" else None
    if t is ast.ListComp:
        return _comp_piece(flow, e, depth, busy)  # type: ignore[arg-type]
    if t is ast.Call:
        return _call_piece(flow, e, depth, busy)  # type: ignore[arg-type]
    return None


def _comp_piece(flow: Flow, e: ast.ListComp, depth: int, busy: set[str]) -> _Piece | None:
    """``[x for x in segments]`` (filtered or not): the segments again."""
    if len(e.generators) != 1:
        return None
    g = e.generators[0]
    if not (type(e.elt) is ast.Name and type(g.target) is ast.Name and e.elt.id == g.target.id):
        return None
    got = _piece(flow, g.iter, depth + 1, busy)
    return got if got is not None and got[1] == "l" else None


def _call_piece(flow: Flow, e: ast.Call, depth: int, busy: set[str]) -> _Piece | None:
    f = e.func
    if type(f) is not ast.Attribute:
        return None
    args = e.args
    if type(f.value) is ast.Constant and f.value.value == "." and f.attr == "join":
        got = _piece(flow, args[0], depth + 1, busy) if len(args) == 1 and not e.keywords else None
        return (got[0], "s") if got is not None and got[1] == "l" else None
    base = _piece(flow, f.value, depth + 1, busy)
    if base is None or base[1] == "l":
        return None
    if f.attr in ("split", "rsplit", "partition", "rpartition"):
        # Cut only at dots: the segments are the caller's, as written.
        sep = args[0] if args else None
        maxsplit_only = all(k.arg == "maxsplit" for k in e.keywords) and len(args) <= 2
        if type(sep) is ast.Constant and sep.value == "." and maxsplit_only:
            return base[0], "l"
        return None
    if f.attr == "get" and base[1] == "v":
        _b, default = _read(e)
        if _b is None:
            return None
        if default is None:
            return base[0], "v"
        got = _piece(flow, default, depth + 1, busy)
        return _merge([base, got]) if got is not None and got[1] != "l" else None
    return None


def _name_piece(flow: Flow, name: str, depth: int, busy: set[str]) -> _Piece | None:
    if name in busy or name in flow.written:
        return None
    stores = flow.stores.get(name, ())
    if name in flow.params:
        # The caller's value as passed: never rebound, never handed on.
        ok = not stores and name not in flow.escaped
        return (frozenset([name]), "v") if ok else None
    if not stores:
        return None  # a global, a builtin, a closure's name
    busy = busy | {name}
    pieces: list[_Piece | None] = []
    for kind, _at, value in stores:
        got = _piece(flow, value, depth + 1, busy) if value is not None else None
        if kind == "i":
            got = (got[0], "s") if got is not None and got[1] == "l" else None
        elif kind != "v":
            got = None
        pieces.append(got)
    merged = _merge(pieces)
    if merged is not None and merged[1] == "l" and name in flow.escaped:
        return None  # a list handed to a call that may change it
    return merged


def default_of(a: ast.arguments, param: str) -> object:
    """``param``'s literal default (None when it has none or it is None);
    a default that is not a literal is returned as its node (not harmless)."""
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
    pairs = list(zip(positional, [*defaults, *a.defaults], strict=True))
    pairs += list(zip(a.kwonlyargs, a.kw_defaults, strict=True))
    for arg, d in pairs:
        if arg.arg == param:
            if d is None:
                return None
            return d.value if type(d) is ast.Constant else d
    return None


# -- graph.py: what a call passes ----------------------------------------

SAFE, UNSAFE = "safe", "unsafe"  # as graph.SAFE / graph.UNSAFE
# Entry points that build their function's config from the YAML files and the
# command line: what the config files hold is the config check's to judge.
ENTRY_POINTS = frozenset(["hydra.main", "torchtune.config.parse", "torchtune.config._parse.parse"])
ENTRY_NODES = frozenset(["torchtune/config/_parse.py::parse"])


def passed_name(flags: dict[str, Any], sig: list[Any] | None, param: str) -> str:
    """What a call with ``flags`` (or an ``ni`` entry) passes as the name at
    the callee's ``param`` (``sig``: its ``np`` entry): SAFE, UNSAFE or the
    caller's own parameter it hands on."""
    keys = _passed_keys(flags, sig, param)
    if keys is None or sig is None:
        return UNSAFE
    if not keys:
        return SAFE if sig[1] == 1 else UNSAFE
    nc = flags.get("nc") or {}
    got = combine([nc.get(k, 0) for k in keys])
    if got == 0:
        return UNSAFE
    return SAFE if got == 1 else str(got)


def passed_literals(flags: dict[str, Any], sig: list[Any] | None, param: str) -> list[str]:
    """The dotted literals (``nl``) the same call may pass there: the
    default's (``sig[3]``) when the argument is left out."""
    keys = _passed_keys(flags, sig, param)
    if keys is None or sig is None:
        return []
    if not keys:
        return [str(x) for x in sig[3:]]
    nl = flags.get("nl") or {}
    return [x for k in keys for x in nl.get(k, ())]


def _passed_keys(flags: dict[str, Any], sig: list[Any] | None, param: str) -> list[str] | None:
    """The ``nc`` keys of what the call passes at ``param`` (none: the default
    is used); None when that is unknown (a ``*`` or ``**`` argument)."""
    if sig is None or flags.get("star") or flags.get("s"):
        return None
    nc = flags.get("nc") or {}
    index, shift = sig[0], sig[2]
    keys: list[str] = []
    passed_kw = set(flags.get("kn") or ()) | set(flags.get("k") or ()) | set(nc)
    if param in passed_kw:
        keys.append(param)
    if "n" in flags:
        npos = int(flags["n"])
    else:
        pa = flags.get("pa") or []
        npos = -1 if any(c == "*" or (type(c) is str and c[:1] == "*") for c in pa) else len(pa)
    if index is not None:
        # A method may be called bound or not: both positions, the worse wins.
        for pos in range(max(index - shift, 0), index + 1):
            if npos < 0:
                return None
            if pos < npos:
                keys.append(str(pos))
    return keys
