"""The ``label-op`` screen atom (screen.py, issue #17): a label operand beside
one of sabotage-label-class-remap's operators, read from the syntax tree.

The rule's class-to-class rewrite (``labels[labels == 3] = 5``, its
``torch.where`` / ``masked_fill`` forms) needs ``$Y == $A`` with ``$A``
digits, and its flip ``$Y = $N - 1 - $Y`` a subtraction of ``$Y``, where
``$Y``'s text ends in a label-like name or a ``["labels"]`` key. Its screen
read both from the raw text (a label word, then ``==``; a ``==`` before a
digit anywhere in the function; a ``-`` on a line ending in a label word):
on the large corpus the two admitted 28,487 and 11,150 unit lines that no
other form of the rule admitted, most for an ``if x == 0:`` beside a
``labels`` read, or ``1 - y`` in a docstring's formula.

``label-op: {name-regex: R, key: K, ops: [...]}`` holds on a unit whose
code (its function, or module or class code, which every unit holds) has a
node of one of ``ops``, where a *label operand* is a name or attribute whose
identifier matches ``R``, or a subscript by a string literal matching ``K``
(a superset of the rule's regex on ``$Y``'s text: that regex needs the
identifier at the text's end, or the quoted key just before its last
``]``):

- ``eq-int``: a ``==`` between a label operand and an int literal, in
  either order, anywhere in a chain, as a subscript's index or a call's
  argument (``$Y == $A``, ``$A`` digits, in ``$Y[...] = $B``,
  ``torch.where(...)`` or ``masked_fill(...)``: not an ``if`` test such as
  HF's ``if self.num_labels == 1:``, 9,647 unit lines of the corpus);
- ``minus``: an assignment (``=``, annotated, ``:=``) of ``<expr> - <label
  operand>`` (``$Y = $N - 1 - $Y``: ``$N - 1`` is the left side, whatever
  names the ``1``);
- ``mod``: an assignment of ``<expr> % <expr>`` to a label operand whose
  left side is no string format and spells the operand's last word, or
  ``%=`` on one (``$Y = <... $Y ...> % $N``, ``$Y %= $N``; not ``labels =
  index % num_classes``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from traingate.checks.semgrep.facts import Facts
from traingate.checks.semgrep.gaps import line_starts
from traingate.checks.semgrep.units import by_unit

Test = Callable[[Facts], bool]

KEYS = frozenset({"label-op"})
_OPS = frozenset({"eq-int", "minus", "mod"})
_ASSIGNS = (ast.Assign, ast.AnnAssign, ast.NamedExpr)
_SEQS = (ast.Tuple, ast.List)
# The field holding an expression's last operand: its text ends with that one's.
_LAST: dict[type, str] = {ast.BinOp: "right", ast.BoolOp: "values", ast.IfExp: "orelse"}
_LAST |= {ast.UnaryOp: "operand", ast.Lambda: "body", ast.Await: "value", ast.Starred: "value"}
_LAST |= {ast.Compare: "comparators", ast.NamedExpr: "value", ast.Yield: "value"}
_LAST |= {ast.YieldFrom: "value"}


class _Spec:
    def __init__(self, value: Any, error: type[ValueError]) -> None:
        if not isinstance(value, dict) or set(value) != {"name-regex", "key", "ops"}:
            raise error("label-op: takes name-regex, key and ops")
        ops = value["ops"]
        if not isinstance(ops, list) or not ops or not set(ops) <= _OPS:
            raise error(f"label-op: ops takes some of {sorted(_OPS)}, not {ops!r}")
        self.ops = frozenset(ops)
        try:
            self.name = re.compile(value["name-regex"])
            self.key = re.compile(value["key"])
        except (re.error, TypeError) as exc:
            raise error(f"label-op: {exc}") from None

    def label(self, node: ast.AST) -> bool:
        """Whether ``node``'s text may end as the rule's regex on ``$Y`` needs
        (module doc): its last operand (``a or b.labels``: the regex's
        ``(.*[.])?`` reads any text before a dot) is an attribute, a subscript
        or a one-item list (``["labels"]``) that spells the label; a name
        spells it only as the whole expression (no dot before it)."""
        top = True
        while True:
            kind = type(node)
            if kind is ast.Name:
                return top and self.name.search(node.id) is not None  # type: ignore[attr-defined]
            if kind is ast.Attribute:
                return self.name.search(node.attr) is not None  # type: ignore[attr-defined]
            if kind is ast.Subscript:
                return self._key(node.slice)  # type: ignore[attr-defined]
            if kind is ast.List:
                items = node.elts  # type: ignore[attr-defined]
                return len(items) == 1 and self._key(items[0])
            field = _LAST.get(kind)
            last: Any = getattr(node, field, None) if field else None
            if type(last) is list:
                last = last[-1] if last else None
            if not isinstance(last, ast.AST):
                return False
            node, top = last, False

    def _key(self, node: ast.AST) -> bool:
        value = getattr(node, "value", None) if type(node) is ast.Constant else None
        return isinstance(value, str) and self.key.search(value) is not None

    def holds(self, node: ast.AST) -> bool:
        """Whether ``node`` is one of the operators ``ops`` asks for (module doc)."""
        kind = type(node)
        if kind is ast.Subscript:  # `$Y[$Y == $A] = $B`, and `$Y[$Y == $A,]`
            index = node.slice  # type: ignore[attr-defined]
            items = index.elts if type(index) is ast.Tuple else [index]
            return "eq-int" in self.ops and any(map(self._eq_int, items))
        if kind is ast.Call:  # `torch.where($Y == $A, ...)`, `$Y.masked_fill_($Y == $A, $B)`
            if "eq-int" not in self.ops:
                return False
            args = node.args + [k.value for k in node.keywords]  # type: ignore[attr-defined]
            return any(map(self._eq_int, args))
        if kind is ast.AugAssign:
            op = node.op  # type: ignore[attr-defined]
            return "mod" in self.ops and type(op) is ast.Mod and self.label(node.target)  # type: ignore[attr-defined]
        if kind in _ASSIGNS:
            targets = node.targets if kind is ast.Assign else [node.target]  # type: ignore[attr-defined]
            return any(self._assigns(t, v) for t, v in _pairs(targets, node.value))  # type: ignore[attr-defined]
        return False

    def _assigns(self, target: ast.AST, value: ast.AST) -> bool:
        """``target = value`` is ``$Y = ... - $Y`` or ``$Y = <... $Y ...> % $N``."""
        if type(value) is not ast.BinOp:
            return False
        op = type(value.op)
        if op is ast.Sub:
            return "minus" in self.ops and self.label(value.right)
        return (
            op is ast.Mod
            and "mod" in self.ops
            and not _format(value.left)
            and self.label(target)
            and _spells(value.left, target)
        )

    def _eq_int(self, node: ast.AST) -> bool:
        if type(node) is not ast.Compare:
            return False
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) is ast.Eq and (
                (_int(right) and self.label(left)) or (_int(left) and self.label(right))
            ):
                return True
            left = right
        return False


def _pairs(targets: list[ast.AST], value: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """Each target with the value semgrep may pair it with: the whole, and
    for ``a, b = x, y`` each item with each (semgrep matched ``$Y = $N - 1 -
    $Y`` on ``labels, x = n - 1 - labels, 0``)."""
    out: list[tuple[ast.AST, ast.AST]] = []
    for t in targets:
        if t is None:  # a walrus's or annotated assignment's one target
            continue
        out.append((t, value))
        if type(t) in _SEQS and type(value) in _SEQS:
            for v in value.elts:  # type: ignore[attr-defined]
                out += _pairs(t.elts, v)  # type: ignore[attr-defined]
    return out


def _spells(expr: ast.AST, target: ast.AST) -> bool:
    """Whether ``expr`` spells ``target``'s last word (its name, attribute or
    string key) as a name, an attribute or a string: ``<... $Y ...>`` holds
    ``$Y``, so ``labels = index % n`` is no remap."""
    word = getattr(target, "id", None) or getattr(target, "attr", None)
    if word is None and type(target) is ast.Subscript:
        word = getattr(target.slice, "value", None)
    if not isinstance(word, str):
        return True  # not read here: admit
    for n in ast.walk(expr):
        kind = type(n)
        if (
            (kind is ast.Name and n.id == word)  # type: ignore[attr-defined]
            or (kind is ast.Attribute and n.attr == word)  # type: ignore[attr-defined]
            or (kind is ast.Constant and n.value == word)  # type: ignore[attr-defined]
        ):
            return True
    return False


def _int(node: ast.AST) -> bool:
    return type(node) is ast.Constant and type(node.value) is int


def _format(node: ast.AST) -> bool:
    """A ``%`` whose left side is a string formats text: it cannot hold ``$Y``."""
    return type(node) is ast.JoinedStr or (
        type(node) is ast.Constant and isinstance(node.value, str | bytes)
    )


def atom(key: str, value: Any, error: type[ValueError]) -> Test:
    """The test of ``label-op`` (screen.py's hook): on a file, whether one
    such node is in it; on a unit, in its own lines or in code every unit
    holds (facts._Gaps); a unit without its file admits."""
    spec = _Spec(value, error)
    memo = f"label-op {sorted(value.items())!r}"
    return by_unit(memo, lambda file: _offsets(file, spec))


def _offsets(file: Facts, spec: _Spec) -> list[int]:
    """The sorted offsets of the starts of the lines where such a node starts."""
    lines = sorted({n.lineno for n in file.nodes if spec.holds(n)})  # type: ignore[attr-defined]
    if not lines:
        return []
    starts = line_starts(file.text)
    return [starts[line - 1] for line in lines if line <= len(starts)]
