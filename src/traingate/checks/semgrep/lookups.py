"""Lookups by a name that is not a plain string literal (the ``lookup``
screen atom, issue #17).

``obfusc-string-built-lookup`` matches ``getattr(x, NAME)``,
``__import__(NAME)``, ``importlib.import_module(NAME)``,
``operator.attrgetter(NAME)``, ``globals()[NAME]``, ``vars(m)[NAME]``,
``m.__dict__[NAME]`` (and ``.get(NAME)`` on the last two) where NAME is not a
literal, or is built from pieces. Most real files call ``getattr``, but with
a literal (``getattr(self, "foo")``) or a plain variable no assignment builds.

What semgrep 1.182 showed, with the rule's ``symbolic_propagation``: a name
bound to a built value matches, through chains (``n = s[::-1]; m = n``); so
does an alias of the lookup (``g = getattr; g(o, s[::-1])``) and of the
namespace (``ns = globals(); ns[s[::-1]]``, ``d = os.__dict__; d[n]``); an
implicitly concatenated literal (``"pa" "th"``) is a literal. The test below
is broader: every identifier is one name whatever its scope or flow, any ``+``
or sliced step or call of a string method builds, and a lookup named anywhere
but as the called function (an alias, a renamed import) holds outright.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

# The lookups a call makes, and which positional argument is the name.
CALLS = {"getattr": 1, "__import__": 0, "import_module": 0, "attrgetter": 0}
# The lookups a subscript (or ``.get``) makes on a namespace.
SPACES = frozenset({"globals", "locals", "vars", "__dict__", "__builtins__"})
KINDS = frozenset(CALLS) | SPACES
# Lookups an alias can stand for (g = getattr; g(o, n)): named anywhere but
# as the called function, they hold outright.
CALLED = frozenset(CALLS) | {"globals", "locals", "vars"}
_ASSIGNS = frozenset({ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr})
# Calls whose result the rule counts as built ($SEP.join, chr, .decode,
# bytes.fromhex, "...".replace / .translate; base64.$F and codecs.decode by
# any alias: every call, when the file names either module).
_BUILDERS = frozenset({"join", "chr", "decode", "fromhex", "replace", "translate"})


def _ident(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return "." + node.attr
    return None


def _bare(ident: str | None) -> str | None:
    return ident[1:] if ident is not None and ident.startswith(".") else ident


class Walk:
    """What the lookup test reads of a file, from the nodes ``screen.facts``
    collects in its one walk (``looks``: calls, subscripts, imports, names in
    ``CALLED``; ``folds``: the assignments among them)."""

    def __init__(
        self, looks: Sequence[ast.AST], folds: Sequence[ast.AST], names: frozenset[str]
    ) -> None:
        self.any_call_builds = not names.isdisjoint({"base64", "codecs"})
        self.calls: list[ast.Call] = []
        self.subscripts: list[ast.Subscript] = []
        self.assigned: list[tuple[str, ast.AST]] = []
        self.callees: set[int] = set()
        self.uses: list[tuple[str, ast.AST]] = []  # a lookup's identifier, anywhere
        self.renamed: set[str] = set()  # lookups an import binds under another name
        calls, subs, uses, callees = self.calls, self.subscripts, self.uses, self.callees
        for node in folds:
            if type(node) in _ASSIGNS:
                self._assign(node)
        for node in looks:
            kind = type(node)
            if kind is ast.Name:
                if node.id in CALLED:  # type: ignore[attr-defined]
                    uses.append((node.id, node))  # type: ignore[attr-defined]
            elif kind is ast.Attribute:
                if node.attr in CALLED:  # type: ignore[attr-defined]
                    uses.append((node.attr, node))  # type: ignore[attr-defined]
            elif kind is ast.Call:
                calls.append(node)  # type: ignore[arg-type]
                callees.add(id(node.func))  # type: ignore[attr-defined]
            elif kind is ast.Subscript:
                subs.append(node)  # type: ignore[arg-type]
            elif kind is ast.alias:
                last = node.name.split(".")[-1]  # type: ignore[attr-defined]
                if last in KINDS and node.asname not in (None, last):  # type: ignore[attr-defined]
                    self.renamed.add(last)

    def _assign(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            self._bind(node.target, node.value)
        elif isinstance(node, ast.AugAssign):
            self._bind(node.target, node)

    def _bind(self, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
                for t, v in zip(target.elts, value.elts, strict=True):
                    self._bind(t, v)
            return
        ident = _ident(target)
        if ident is not None:
            self.assigned.append((ident, value))

    def closure(self, test: Callable[[ast.AST, set[str]], bool]) -> set[str]:
        """Identifiers assigned a value ``test`` accepts, given the set so far."""
        found: set[str] = set()
        while True:
            more = {i for i, v in self.assigned if i not in found and test(v, found)}
            if not more:
                return found
            found |= more


def holds(w: Walk, via: frozenset[str], built: bool) -> bool:
    """Whether a lookup through ``via`` may take a name that is not a plain
    string literal (``built`` False) or that is built at run time (True)."""
    if not w.renamed.isdisjoint(via):
        return True  # from builtins import getattr as g: assume the worst
    if any(i in via and id(u) not in w.callees for i, u in w.uses):
        return True  # g = getattr; g(o, n): assume the worst

    def makes(node: ast.AST, done: set[str]) -> bool:
        """``node`` may be a built name (given the identifiers ``done`` holds)."""
        if isinstance(node, ast.Subscript):
            return isinstance(node.slice, ast.Slice) and node.slice.step is not None
        if isinstance(node, ast.Call):
            return w.any_call_builds or _bare(_ident(node.func)) in _BUILDERS
        if isinstance(node, ast.BinOp | ast.AugAssign):
            return isinstance(node.op, ast.Add)
        if isinstance(node, ast.NamedExpr):
            return makes(node.value, done)
        return _ident(node) in done

    def space(node: ast.AST, done: set[str]) -> bool:
        """``node`` may be a namespace the rule subscripts."""
        if isinstance(node, ast.Call):
            return _bare(_ident(node.func)) in ("globals", "locals", "vars")
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return True
        return _ident(node) in done or _ident(node) == "__builtins__"

    made = w.closure(makes) if built else set()
    use_spaces = not SPACES.isdisjoint(via)
    spaces = w.closure(space) if use_spaces else set()

    def named(arg: ast.AST | None) -> bool:
        if arg is None or isinstance(arg, ast.Starred):
            return True  # getattr(*args), a keyword: assume the worst
        if built:
            return makes(arg, made)
        return not (isinstance(arg, ast.Constant) and isinstance(arg.value, str))

    for call in w.calls:
        # _bare(_ident(call.func)) without building ".attr" strings: every
        # call of a file that calls getattr comes here (issue #17).
        func = call.func
        kind = type(func)
        if kind is ast.Name:
            ident = func.id  # type: ignore[attr-defined]
        elif kind is ast.Attribute:
            ident = func.attr  # type: ignore[attr-defined]
        else:
            continue  # no identifier: neither a lookup nor .get
        if ident in CALLS and ident in via:
            k = CALLS[ident]
            args = call.args
            if any(isinstance(a, ast.Starred) for a in args[: k + 1]) or call.keywords:
                return True
            if named(args[k] if len(args) > k else None):
                return True
        elif (
            ident == "get"
            and isinstance(call.func, ast.Attribute)
            and use_spaces
            and space(call.func.value, spaces)
            and call.args
            and named(call.args[0])
        ):
            return True
    if use_spaces:
        for sub in w.subscripts:
            if space(sub.value, spaces) and named(sub.slice):
                return True
    return False
