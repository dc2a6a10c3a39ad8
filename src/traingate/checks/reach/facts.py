"""What one Python file says about calls, read with ``ast`` and never run (issue #16).

The facts of a file depend on its bytes alone (relative imports are kept as
``level`` + name and resolved against the file's path later), so they are
cached by blob id and shared by every tree that holds the blob.

Facts, as plain JSON:

- ``defs``: ``qualname -> [kind, line]`` for functions, methods
  (``Class.method``), nested functions (``outer.inner``), lambdas bound to a
  name, classes, and ``<module>`` (the code importing the file runs);
- ``classes``: ``name -> [base refs, find_class]``, where ``find_class`` is
  None (not defined), True (defined and it can raise: a restricted unpickler)
  or False (defined, restricts nothing);
- ``aliases``: module-level names bound to something importable
  (``import x as y``, ``from m import f as g``, ``load = pickle.loads``),
  ``name -> ref``; a re-export is followed through them;
- ``calls``: ``[caller, ref, line, column, end_line, flags]`` for every call
  and every import statement (an import runs the imported module's body).

A ref is a string: ``I:<level>:<dotted>`` (through an import), ``L:<qualname>``
(defined in this file), ``S:<Class>.<method>`` (``self.method`` in a method of
``Class``) or ``B:<name>`` (a builtin: eval, exec, __import__, or ``B:dynattr``
for ``getattr(__import__(m), n)``).
"""

from __future__ import annotations

import ast
import builtins
from typing import Any

# Bumped when the shape or meaning of the facts changes: old cache entries are
# then simply not found.
VERSION = 1

_BUILTIN_SINKS = frozenset({"eval", "exec", "__import__"})
_CONST = (ast.Constant,)
# Calls whose first argument's origin matters (graph.SINKS' DNS lookups).
_DNS_NAMES = frozenset(
    {"gethostbyname", "gethostbyname_ex", "getaddrinfo", "gethostbyaddr", "resolve", "query"}
)


def extract(text: str, filename: str = "<blob>") -> dict[str, Any]:
    """The facts of one file; raises SyntaxError (or ValueError for NUL bytes)."""
    tree = ast.parse(text, filename=filename, type_comments=False)
    return _Extractor(tree).facts


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None for anything that is not a plain chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _is_const(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, _CONST):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_const(e) for e in node.elts)
    return False


def _names(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


# Leaves and operators: never a call, import, definition or assignment, and
# about half of a tree's nodes (every Name carries a Load); not walked.
_LEAVES = (
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
    ast.Constant,
    ast.Name,
)


def _children(node: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    for name in node._fields:
        v = getattr(node, name, None)
        if isinstance(v, ast.AST):
            if not isinstance(v, _LEAVES):
                out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v if isinstance(x, ast.AST) and not isinstance(x, _LEAVES))
    return out


def _own_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node of a body except those inside nested functions, lambdas and
    classes (which are their own callers); decorators, defaults and bases of
    nested definitions run here, so they are kept. Leaves are left out."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kids: list[ast.AST] = [*node.decorator_list, *node.args.defaults]
            kids += [d for d in node.args.kw_defaults if d is not None]
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Lambda)
            and all(isinstance(t, ast.Name) for t in node.targets)
        ):
            # A lambda bound to a name is a function of its own (read by
            # _lambda); an anonymous one runs where it is written.
            lam = node.value
            kids = [*lam.args.defaults, *(d for d in lam.args.kw_defaults if d is not None)]
        elif isinstance(node, ast.ClassDef):
            kids = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        else:
            kids = _children(node)
        stack.extend(reversed(kids))
    return out


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` does not run on import."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    t = node.test
    sides = [t.left, *t.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _taint(params: set[str], own: list[ast.AST]) -> set[str]:
    tainted = set(params)
    if not tainted:
        return tainted
    flows: list[tuple[set[str], set[str]]] = []
    for node in own:
        if isinstance(node, ast.Assign):
            flows.append((set().union(*(_names(t) for t in node.targets)), _names(node.value)))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            flows.append((_names(node.target), _names(node.value)))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            flows.append((_names(node.target), _names(node.iter)))
        elif isinstance(node, ast.NamedExpr):
            flows.append(({node.target.id}, _names(node.value)))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            flows.append((_names(node.optional_vars), _names(node.context_expr)))
    for _ in range(8):
        grew = False
        for targets, sources in flows:
            if sources & tainted and not targets <= tainted:
                tainted |= targets
                grew = True
        if not grew:
            break
    return tainted


class _Scope:
    """A function (or the module body) being read: its local names and imports."""

    def __init__(
        self,
        qualname: str,
        params: set[str],
        parent: _Scope | None,
        cls: str | None,
    ) -> None:
        self.qualname = qualname
        self.params = params
        self.parent = parent
        self.cls = cls  # the class when this is a method (for self.method)
        self.local_defs: dict[str, str] = {}  # nested def/lambda name -> qualname
        self.imports: dict[str, str] = {}  # function-level imports: name -> ref
        self._tainted: set[str] | None = None
        self.own: list[ast.AST] = []

    @property
    def tainted(self) -> set[str]:
        """Locals that carry a parameter's value (flow-insensitive, to a
        fixpoint): "a name built by the caller" for the DNS sink. Computed only
        when a call needs it (it walks every assignment)."""
        if self._tainted is None:
            self._tainted = _taint(self.params, self.own)
        return self._tainted


class _Extractor:
    def __init__(self, tree: ast.Module) -> None:
        self.defs: dict[str, list[Any]] = {"<module>": ["module", 1]}
        self.classes: dict[str, list[Any]] = {}
        self.aliases: dict[str, str] = {}
        self.calls: list[list[Any]] = []
        self.module_names: set[str] = set()  # every name bound at module level
        self._collect_module_names(tree)
        module = _Scope("<module>", set(), None, None)
        body = [s for s in tree.body if not _is_main_guard(s)]
        main = [s for s in tree.body if _is_main_guard(s)]
        self._module_aliases(tree.body)
        self._scope(module, body)
        if main:
            # The __main__ block runs only as a script: its calls are callers of
            # their own (a changed line there still makes a call), never run on import.
            self.defs["<main>"] = ["main", main[0].lineno]
            self._scope(_Scope("<main>", set(), None, None), main)
        self.facts = {
            "defs": self.defs,
            "classes": self.classes,
            "aliases": self.aliases,
            "calls": self.calls,
        }

    # -- module level -------------------------------------------------------

    def _collect_module_names(self, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.module_names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    self.module_names.add((a.asname or a.name).split(".")[0])
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    self.module_names |= _names(t)

    def _module_aliases(self, body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.aliases[a.asname] = f"I:0:{a.name}"
                    else:
                        head = a.name.split(".")[0]
                        self.aliases[head] = f"I:0:{head}"
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                for a in node.names:
                    if a.name == "*":
                        continue
                    name = f"{mod}.{a.name}" if mod else a.name
                    self.aliases[a.asname or a.name] = f"I:{node.level}:{name}"
            elif isinstance(node, (ast.Try, ast.If)):
                # `try: import ujson as json / except ImportError: import json`
                for sub in (node.body, node.orelse, getattr(node, "finalbody", [])):
                    self._module_aliases(sub)
                for h in getattr(node, "handlers", []):
                    self._module_aliases(h.body)
        for node in body:
            # `load = pickle.loads`: an alias the rest of the file calls through
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, (ast.Name, ast.Attribute))
            ):
                chain = _dotted(node.value)
                if chain and chain[0] in self.aliases:
                    base = self.aliases[chain[0]]
                    self.aliases[node.targets[0].id] = ".".join([base, *chain[1:]])

    # -- scopes -------------------------------------------------------------

    def _scope(self, scope: _Scope, body: list[ast.stmt]) -> None:
        own = _own_nodes(body)
        # Local definitions and function-level imports first: a call may precede
        # the def in the text (a nested helper used in a loop above it).
        for node in own:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if scope.qualname not in ("<module>", "<main>"):
                    scope.local_defs[node.name] = f"{scope.qualname}.{node.name}"
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for t in node.targets:
                    if isinstance(t, ast.Name) and scope.qualname not in ("<module>", "<main>"):
                        scope.local_defs[t.id] = f"{scope.qualname}.{t.id}"
            elif isinstance(node, ast.Import) and scope.qualname != "<module>":
                for a in node.names:
                    key = a.asname or a.name.split(".")[0]
                    scope.imports[key] = f"I:0:{a.name if a.asname else key}"
            elif isinstance(node, ast.ImportFrom) and scope.qualname != "<module>":
                mod = node.module or ""
                for a in node.names:
                    if a.name != "*":
                        name = f"{mod}.{a.name}" if mod else a.name
                        scope.imports[a.asname or a.name] = f"I:{node.level}:{name}"
        scope.own = own
        for node in own:
            if isinstance(node, ast.Call):
                self._call(scope, node)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    self._record(scope, f"I:0:{a.name}", node, {"imp": 1})
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                for a in node.names:
                    # `from pkg import sub` may import a submodule: both are tried
                    name = f"{mod}.{a.name}" if mod and a.name != "*" else mod
                    self._record(scope, f"I:{node.level}:{name}", node, {"imp": 1})
        for node in own:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(scope, node)
            elif isinstance(node, ast.ClassDef):
                self._class(scope, node)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self._lambda(scope, t.id, node.value)

    def _qual(self, scope: _Scope, name: str) -> str:
        if scope.qualname in ("<module>", "<main>"):
            return name
        return f"{scope.qualname}.{name}"

    def _function(
        self, parent: _Scope, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: str | None = None
    ) -> None:
        qual = f"{cls}.{node.name}" if cls else self._qual(parent, node.name)
        self.defs[qual] = ["func", node.lineno]
        a = node.args
        params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
        self._scope(_Scope(qual, params, parent, cls), node.body)

    def _lambda(self, parent: _Scope, name: str, node: ast.Lambda, cls: str | None = None) -> None:
        qual = f"{cls}.{name}" if cls else self._qual(parent, name)
        self.defs[qual] = ["lambda", node.lineno]
        a = node.args
        params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
        body: list[ast.stmt] = [
            ast.Expr(value=node.body, lineno=node.lineno, col_offset=node.col_offset)
        ]
        self._scope(_Scope(qual, params, parent, cls), body)

    def _class(self, parent: _Scope, node: ast.ClassDef) -> None:
        if parent.qualname not in ("<module>", "<main>"):
            # Classes inside functions: their methods are rarely called by name
            # from elsewhere; their calls still count for the enclosing function.
            name = f"{parent.qualname}.{node.name}"
        else:
            name = node.name
        self.defs[name] = ["class", node.lineno]
        bases = [r for r in (self._ref(parent, b) for b in node.bases) if r is not None]
        find_class: bool | None = None
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if stmt.name == "find_class":
                    # A restricted unpickler refuses globals: its find_class raises.
                    find_class = any(isinstance(n, ast.Raise) for n in ast.walk(stmt))
                self._function(parent, stmt, cls=name)
            elif isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Lambda):
                for t in stmt.targets:
                    if isinstance(t, ast.Name):
                        self._lambda(parent, t.id, stmt.value, cls=name)
        self.classes[name] = [bases, find_class]
        # The class body's own statements run where the class is defined.
        body = [
            s
            for s in node.body
            if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and not (isinstance(s, ast.Assign) and isinstance(s.value, ast.Lambda))
        ]
        if body:
            self._scope_into(parent, body)

    def _scope_into(self, scope: _Scope, body: list[ast.stmt]) -> None:
        for node in _own_nodes(body):
            if isinstance(node, ast.Call):
                self._call(scope, node)
        for node in body:
            if isinstance(node, ast.ClassDef):
                self._class(scope, node)

    # -- names --------------------------------------------------------------

    def _name(self, scope: _Scope, name: str) -> str | None:
        s: _Scope | None = scope
        while s is not None:
            if name in s.params:
                return None  # a parameter: whatever the caller passes
            if name in s.local_defs:
                return f"L:{s.local_defs[name]}"
            if name in s.imports:
                return s.imports[name]
            s = s.parent
        if name in self.aliases:
            return self.aliases[name]
        if name in self.module_names:
            return f"L:{name}"
        if name in _BUILTIN_SINKS and hasattr(builtins, name):
            return f"B:{name}"
        return None

    def _ref(self, scope: _Scope, func: ast.expr) -> str | None:
        chain = _dotted(func)
        if chain is None:
            # `Cls(x).method()`: the method of what the inner call makes
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
                inner = self._ref(scope, func.value.func)
                if inner is not None and inner[0] in "IL":
                    return f"{inner}.{func.attr}"
            return None
        head, rest = chain[0], chain[1:]
        if head in ("self", "cls") and scope.cls is not None and len(rest) == 1:
            return f"S:{scope.cls}.{rest[0]}"
        base = self._name(scope, head)
        if base is None:
            return None
        if base.startswith("B:"):
            return base if not rest else None
        return ".".join([base, *rest])

    # -- calls --------------------------------------------------------------

    def _call(self, scope: _Scope, node: ast.Call) -> None:
        ref = self._ref(scope, node.func)
        flags: dict[str, Any] = {}
        # getattr(__import__(m), n) / getattr(importlib.import_module(m), n):
        # any callable, chosen by name at run time.
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and "getattr" not in self.module_names
            and node.args
            and isinstance(node.args[0], ast.Call)
        ):
            inner = self._ref(scope, node.args[0].func)
            if inner in ("B:__import__", "I:0:importlib.import_module"):
                dyn = [*node.args[0].args[:1], *node.args[1:2]]
                if not all(_is_const(a) for a in dyn):
                    self._record(scope, "B:dynattr", node, {})
        if ref is None:
            return
        kw = {k.arg for k in node.keywords}
        if None in kw:
            flags["star"] = 1  # **kwargs: any keyword may be in there
        wo = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
        if wo is not None:
            flags["wo"] = 1 if isinstance(wo, ast.Constant) and wo.value is True else 0
        shell = next((k.value for k in node.keywords if k.arg == "shell"), None)
        if shell is not None:
            flags["shell"] = 0 if isinstance(shell, ast.Constant) and not shell.value else 1
        first = node.args[0] if node.args else None
        if first is None:
            first = next(
                (
                    k.value
                    for k in node.keywords
                    if k.arg in ("host", "hostname", "command", "args", "source", "cmd")
                ),
                None,
            )
        if first is not None:
            if _is_const(first):
                flags["c0"] = 1
            if ref.rsplit(".", 1)[-1] in _DNS_NAMES and _names(first) & scope.tainted:
                flags["p0"] = 1
        if all(_is_const(a) for a in node.args) and all(
            k.arg is not None and _is_const(k.value) for k in node.keywords
        ):
            flags["ac"] = 1
        self._record(scope, ref, node, flags)

    def _record(self, scope: _Scope, ref: str, node: ast.AST, flags: dict[str, Any]) -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        end = getattr(node, "end_lineno", None) or line
        self.calls.append([scope.qualname, ref, line, col, end, flags])
