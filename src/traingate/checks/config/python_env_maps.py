"""Keys an ``os.environ`` write takes from a mapping of literal keys
(config-risky-env, session 25).

``for key, value in _SETTINGS.items(): os.environ[key] = value`` names no
variable, but when ``_SETTINGS`` is a dict literal every key it writes is in
the file: ``"PIP_INDEX_URL": "https://pypi.mirror.example/simple"`` is the
same write as ``os.environ["PIP_INDEX_URL"] = ...``. The mapping is a dict
literal or ``dict(...)`` in the loop header, or a name its scope binds to
one; a list or tuple of ``(key, value)`` pairs or of keys counts too.

A name is judged by every mapping it may hold (an insider who rebinds it on
one branch, or adds the key later, is the case to catch): every dict literal
its scope binds it to, and every literal key given to that name where it
means the same mapping (``M[K] = v``, ``M.update(...)``, ``M.setdefault(K,
v)``, ``M |= {...}``; in a function, a module-level table's when the function
does not bind the name itself).
A key that is no literal, or a mapping that is none (``load_env()``, a
function's parameter, ``os.environ`` itself), adds nothing: it stays a key
known only at run time, as before.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

# (key, value) of one entry; value None when the mapping gives none (a key list).
Entry = tuple[ast.expr, ast.expr | None]
_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# Calls that iterate what they are given in the same order of keys.
_PASS_THROUGH = frozenset({"sorted", "list", "tuple", "reversed", "iter"})
_MUTATORS = frozenset({"update", "setdefault", "__setitem__", "__ior__"})


class Mappings:
    """The literal mappings each name of one file may hold, by scope."""

    def __init__(self, tree: ast.Module) -> None:
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self._bound: dict[ast.AST, dict[str, list[ast.expr]]] = {}
        self._local: dict[ast.AST, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, _SCOPES):
                self._scan_scope(node)
        # entries added to a mapping, under the scope its name resolves to
        # where it is added: a function's own `env` is not the module's
        self._added: dict[tuple[ast.AST | None, str], list[Entry]] = {}
        for at, name, entries in _added_entries(tree):
            self._added.setdefault((self._scope_of(name, at), name), []).extend(entries)

    def loop_of(self, name: str, at: ast.AST) -> tuple[ast.expr, ast.expr | None] | None:
        """The nearest loop or comprehension around ``at`` whose target binds
        ``name``: its iterable and its value name (None for ``for k in M``)."""
        node: ast.AST | None = at
        while node is not None and not isinstance(node, _DEFS):
            loop = self.parent.get(node)
            target = iterable = None
            if isinstance(loop, (ast.For, ast.AsyncFor)) and node in loop.body:
                target, iterable = loop.target, loop.iter
            elif isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                for gen in loop.generators:
                    if _binds(gen.target, name):
                        target, iterable = gen.target, gen.iter
            if target is not None and iterable is not None and _binds(target, name):
                return iterable, _value_target(target, name)
            node = loop
        return None

    def entries(self, expr: ast.expr, at: ast.AST) -> list[Entry]:
        """The literal entries of the mapping ``expr`` iterates (``M``,
        ``M.items()``, ``M.keys()``, ``sorted(M.items())``) or spells."""
        expr = _unwrap(expr)
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr in ("items", "keys")
            and not expr.args
        ):
            expr = expr.func.value
        if isinstance(expr, ast.Name):
            scope = self._scope_of(expr.id, at)
            held = self._bound[scope].get(expr.id, []) if scope is not None else []
            out = [e for value in held for e in _literal_entries(value)]
            return out + self._added.get((scope, expr.id), [])
        return _literal_entries(expr)

    def _scope_of(self, name: str, at: ast.AST) -> ast.AST | None:
        """The scope ``name`` resolves to at ``at``: the innermost function
        that binds it, else the module."""
        node: ast.AST | None = self.parent.get(at)
        while node is not None:
            if isinstance(node, _SCOPES) and (
                name in self._local[node] or isinstance(node, ast.Module)
            ):
                return node
            node = self.parent.get(node)
        return None

    def _scan_scope(self, scope: ast.AST) -> None:
        bound: dict[str, list[ast.expr]] = {}
        local: set[str] = set()
        declared: set[str] = set()
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            local.update(a.arg for a in _all_args(scope.args))
        for node in _own_nodes(scope):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                local.add(node.id)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        bound.setdefault(t.id, []).append(node.value)
        self._bound[scope] = bound
        self._local[scope] = local - declared


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope``'s own code: not those of a def or class inside it."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _DEFS):
            todo.extend(ast.iter_child_nodes(node))


def _all_args(args: ast.arguments) -> list[ast.arg]:
    out = args.posonlyargs + args.args + args.kwonlyargs
    return out + [a for a in (args.vararg, args.kwarg) if a is not None]


def _binds(target: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target))


def _value_target(target: ast.expr, key: str) -> ast.expr | None:
    """``v`` of a ``k, v`` target whose first part is the key ``k``."""
    if (
        isinstance(target, (ast.Tuple, ast.List))
        and len(target.elts) == 2
        and isinstance(target.elts[0], ast.Name)
        and target.elts[0].id == key
    ):
        return target.elts[1]
    return None


def _unwrap(expr: ast.expr) -> ast.expr:
    """``sorted(x)``, ``list(x)``, ``x.copy()``: ``x``."""
    for _ in range(8):
        if (
            isinstance(expr, ast.Call)
            and len(expr.args) == 1
            and not expr.keywords
            and isinstance(expr.func, ast.Name)
            and expr.func.id in _PASS_THROUGH
        ):
            expr = expr.args[0]
            continue
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "copy"
            and not expr.args
        ):
            expr = expr.func.value
            continue
        break
    return expr


def _literal_entries(expr: ast.expr) -> list[Entry]:
    """A dict literal's or ``dict(...)``'s entries; a list, tuple or set of
    ``(key, value)`` pairs or of keys."""
    if isinstance(expr, ast.Dict):
        out: list[Entry] = []
        for k, v in zip(expr.keys, expr.values, strict=True):
            out += [(k, v)] if k is not None else _literal_entries(v)  # `**other`
        return out
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict":
        out = [e for arg in expr.args for e in _literal_entries(arg)]
        for kw in expr.keywords:
            out += [(ast.Constant(kw.arg, lineno=kw.lineno), kw.value)] if kw.arg else []
            out += _literal_entries(kw.value) if kw.arg is None else []
        return out
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        return [_pair(e) for e in expr.elts if not isinstance(e, ast.Starred)]
    return []


def _pair(elt: ast.expr) -> Entry:
    if isinstance(elt, (ast.Tuple, ast.List)) and len(elt.elts) == 2:
        return elt.elts[0], elt.elts[1]
    return elt, None


def _added_entries(tree: ast.Module) -> Iterator[tuple[ast.AST, str, list[Entry]]]:
    """Entries the file adds to a mapping by name, where: ``M[K] = v``,
    ``M.update({...})``, ``M.setdefault(K, v)``, ``M |= {...}``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                    yield node, t.value.id, [(t.slice, node.value)]
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.op, ast.BitOr)
            and isinstance(node.target, ast.Name)
        ):
            yield node, node.target.id, _literal_entries(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.attr in _MUTATORS
        ):
            yield node, node.func.value.id, _call_entries(node)


def _call_entries(call: ast.Call) -> list[Entry]:
    func = call.func
    assert isinstance(func, ast.Attribute)
    if func.attr in ("setdefault", "__setitem__"):
        return [(call.args[0], call.args[1] if len(call.args) > 1 else None)] if call.args else []
    out = [e for arg in call.args for e in _literal_entries(arg)]
    for kw in call.keywords:
        if kw.arg is not None:
            out.append((ast.Constant(kw.arg, lineno=kw.lineno), kw.value))
        else:
            out += _literal_entries(kw.value)
    return out
