"""The longest string semgrep could fold from a file's literals, every
character in a class (the ``folded`` screen atom, issue #17).

``obfusc-high-entropy-literal`` matches ``"$S"`` where ``$S`` is 200 or more
base64 / hex characters. semgrep binds ``$S`` to the *folded* value, which
tests with semgrep 1.182 showed is built from:

- ``+`` chains (a parenthesised sub-chain too, not a re-grouping of
  ``x + "a" + "b"``), implicit concatenation, f-strings whose parts are
  constants (numbers as their digits);
- names by constant propagation: ``X = "..."`` (annotated or walrus too),
  ``X += "..."``, chains of them (``Y = X + X`` doubles), module constants
  read in a function;
- each literal as its source spells it (``"\\x41"`` is four characters).

It did not fold ``%``, ``.format``, ``.join``, ``*``, ``str(12345)``, tuple
unpacking or ``X = Y = "..."``; the bound below folds more than semgrep does
(every name by its identifier, whatever its scope or the flow, attributes
too, both arms of ``a if c else b``): a longer bound only admits more files.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Sequence

KINDS = (
    ast.Constant,
    ast.BinOp,
    ast.JoinedStr,
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
    ast.NamedExpr,
)

# The nodes expr() may fold to something; any other is None.
_VALUES = (
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.BinOp,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.IfExp,
)
_NUMBER = 24  # the longest a folded sum of numbers spells (63-bit ints, floats)
_ROUNDS = 12  # name-table rounds; not settled by then: assume the worst
_PREFIX = re.compile(r"^[rRbBuUfF]*")
_LINE_END = re.compile(r"\r\n|\r|\n")


class _Bound:
    def __init__(self, text: str, unclean: re.Pattern[str], cap: int) -> None:
        self.text = text
        self.escapes = "\\" in text
        self.unclean = unclean
        self.cap = cap
        self.names: dict[str, int] = {}
        self.numbers: set[str] = set()  # names whose every constant is a number
        self.best = 0
        self._lines: list[str] | None = None
        self._const: dict[int, int | None] = {}

    def clean(self, s: str) -> bool:
        return self.unclean.search(s) is None

    def const(self, node: ast.Constant, raw: str | None = None) -> int | None:
        """A literal's longest clean spelling; ``raw``: an f-string part's source."""
        key = id(node) if raw is None else -id(node)
        if key in self._const:
            return self._const[key]
        value = node.value
        found: int | None = None
        if isinstance(value, str | bytes):
            s = value if isinstance(value, str) else value.decode("latin-1")
            found = len(s) if self.clean(s) else None
            if raw is not None:
                if self.clean(raw):
                    found = max(found or 0, len(raw))
            elif self.escapes:
                found = self._as_written(node, found)
        elif isinstance(value, int | float | complex) and not isinstance(value, bool):
            # Its digits, in an f-string; semgrep folds no number into a + of strings.
            found = max(len(str(value)), _span(node) or 0)
        self._const[key] = found
        return found

    def _as_written(self, node: ast.AST, found: int | None) -> int | None:
        segment = self._segment(node)
        if segment is None or "\\" not in segment:
            return found
        bodies = _bodies(segment)
        if bodies is None:
            return max(found or 0, len(segment))  # could not split it: assume the worst
        if all(self.clean(b) for b in bodies):
            return max(found or 0, sum(map(len, bodies)))
        return found

    def fparts(self, node: ast.JoinedStr) -> list[str | None]:
        """Each literal part of an f-string as its source spells it (Python
        3.11 places them all at the whole f-string); None: the part is
        assumed clean and as long as the whole f-string."""
        parts = [p for p in node.values if isinstance(p, ast.Constant)]
        segment = self._segment(node) if self.escapes else None
        if segment is None or "\\" not in segment:
            return [str(p.value) for p in parts]
        found = _fliterals(segment)
        if found is None or len(found) != len(parts):
            return [None] * len(parts)
        return list(found)

    def _segment(self, node: ast.AST) -> str | None:
        if self._lines is None:
            # Lines as Python counts them (not str.splitlines: \f, \u2028 ...).
            self._lines = (
                self.text.split("\n") if "\r" not in self.text else _LINE_END.split(self.text)
            )
        first = getattr(node, "lineno", None)
        last = getattr(node, "end_lineno", None)
        start = getattr(node, "col_offset", None)
        end = getattr(node, "end_col_offset", None)
        if first is None or last is None or start is None or end is None:
            return None
        span = self._lines[first - 1 : last]
        if not span:
            return None
        data = "\n".join(span).encode("utf-8", "surrogateescape")
        stop = len(data) - len(span[-1].encode("utf-8", "surrogateescape")) + end
        return data[start:stop].decode("utf-8", "surrogateescape")

    def numeric(self, node: ast.AST) -> bool:
        """Whether semgrep would fold ``node`` to a number, if to anything."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, int | float | complex)
        if isinstance(node, ast.Name):
            return node.id in self.numbers
        if isinstance(node, ast.Attribute):
            return "." + node.attr in self.numbers
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return any(self.numeric(p) for p in _chain(node))
        return False

    def expr(self, node: ast.AST) -> int | None:
        """The longest clean string semgrep could fold ``node`` to; None: not
        a clean constant. Clean runs inside it are recorded in ``best``."""
        got: int | None = None
        if isinstance(node, ast.Constant):
            got = self.const(node)
            if got is not None and not isinstance(node.value, str | bytes):
                return got  # a number is no string until an f-string spells it
        elif isinstance(node, ast.Name):
            got = self.names.get(node.id)
        elif isinstance(node, ast.Attribute):
            got = self.names.get("." + node.attr)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            chain = _chain(node)
            if any(self.numeric(p) for p in chain):
                # a sum: semgrep's integers have at most 20 digits
                return _NUMBER if all(self.expr(p) is not None for p in chain) else None
            got = self._run(chain, None)
        elif isinstance(node, ast.JoinedStr):
            got = self._run(node.values, self.fparts(node))
        elif isinstance(node, ast.FormattedValue):
            got = self.expr(node.value)
            if got is not None and node.format_spec is not None:
                # semgrep did not fold {X:>10} at all; as Python would, a
                # spec pads to its width and adds its precision's digits.
                got = _spec(node.format_spec, got, self.cap)
        elif isinstance(node, ast.IfExp):
            a, b = self.expr(node.body), self.expr(node.orelse)
            got = None if a is None and b is None else max(a or 0, b or 0)
        if got is not None:
            self.best = max(self.best, got)
        return got

    def _run(self, parts: Sequence[ast.AST], raws: list[str | None] | None) -> int | None:
        """Sum of the parts if all are clean; the longest clean run is recorded.
        ``raws``: an f-string's literal parts as written (fparts)."""
        run = 0
        total: int | None = 0
        raw = iter(raws or ())
        for p in parts:
            got: int | None
            if raws is not None and isinstance(p, ast.Constant):
                spelled = next(raw)
                if spelled is None:
                    got = max(self.const(p) or 0, len(self._segment(p) or "") or self.cap)
                else:
                    got = self.const(p, spelled)
            else:
                got = self.expr(p)
            if got is None:
                total = None
                run = 0
            else:
                run += got
                self.best = max(self.best, run)
                if total is not None:
                    total += got
        return total


def longest(text: str, nodes: Sequence[ast.AST], unclean: re.Pattern[str], cap: int) -> int:
    """The longest clean string semgrep could fold from ``nodes`` (facts()
    collects the ``KINDS``), or ``cap`` once it reaches that; below ``cap``
    a lower value may stand for it (a literal too short to reach ``cap`` on
    its own is not read): only whether it reaches ``cap`` counts."""
    try:
        return _longest(text, nodes, unclean, cap)
    except RecursionError:
        return cap  # nested too deep to bound: assume the worst


def _longest(text: str, nodes: Sequence[ast.AST], unclean: re.Pattern[str], cap: int) -> int:
    b = _Bound(text, unclean, cap)
    values: list[tuple[str, ast.AST, bool]] = []  # name, value, augmented
    for node in nodes:
        if type(node) is ast.Constant:
            continue  # most nodes; a literal binds nothing (#17: three isinstance tests each)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                values += _bind(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            values += _bind(node.target, node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            values += [(n, v, True) for n, v, _ in _bind(node.target, node.value)]
    # A value expr() cannot fold (a call, a subscript, ...) is None in every
    # round and no number: left out once, not skipped in each round (issue #17).
    values = [v for v in values if isinstance(v[1], _VALUES)]
    # A name is as long as its longest constant value plus every += to it
    # (a += in a loop is not a constant for semgrep; each counts once).
    for _ in range(_ROUNDS):
        table: dict[str, int] = {}
        extra: dict[str, int] = {}
        strings: set[str] = set()
        for name, value, augmented in values:
            got = b.expr(value)
            if got is None:
                continue
            if b.numeric(value):
                table[name] = max(table.get(name, 0), _NUMBER if augmented else got)
                continue
            strings.add(name)
            into = extra if augmented else table
            if augmented:
                into[name] = into.get(name, 0) + got
            else:
                into[name] = max(into.get(name, 0), got)
        for name, more in extra.items():
            table[name] = table.get(name, 0) + more
        numbers = set(table) - strings
        settled = table == b.names and numbers == b.numbers
        b.names, b.numbers = table, numbers
        if b.best >= cap or any(v >= cap for v in table.values()):
            return cap
        if settled:
            break
    else:
        return cap  # names that keep growing (X = X + X): assume the worst
    for node in nodes:
        kind = type(node)
        if kind is ast.Constant and _short(node, cap):  # type: ignore[arg-type]
            continue  # spelled in fewer than cap characters: cannot reach it
        if kind is ast.BinOp and type(node.op) is not ast.Add:  # type: ignore[attr-defined]
            continue  # a * b, x - 1: expr() folds no other operator (issue #17: most BinOps)
        if kind in (ast.Constant, ast.BinOp, ast.JoinedStr):
            b.expr(node)
            if b.best >= cap:
                return cap
    return b.best


def _short(node: ast.Constant, cap: int) -> bool:
    """A str or bytes literal on one line whose source is shorter than ``cap``
    bytes: its value and its spelling as written (const) are no longer, so
    alone it adds nothing to a bound that counts only once it reaches ``cap``
    (issue #17: a regex test of every literal of every file, most of them
    short; a part of a ``+`` chain or an f-string is read with its parent)."""
    if not isinstance(node.value, str | bytes) or node.end_lineno != node.lineno:
        return False
    end = node.end_col_offset
    return end is not None and end - node.col_offset < cap


def _bind(target: ast.AST, value: ast.AST) -> list[tuple[str, ast.AST, bool]]:
    if isinstance(target, ast.Name):
        return [(target.id, value, False)]
    if isinstance(target, ast.Attribute):
        return [("." + target.attr, value, False)]  # x.attr: apart from names
    if (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, ast.Tuple | ast.List)
        and len(target.elts) == len(value.elts)
    ):
        return [b for t, v in zip(target.elts, value.elts, strict=True) for b in _bind(t, v)]
    return []


def _chain(node: ast.BinOp) -> list[ast.AST]:
    """The operands of a ``+`` chain, left to right (without recursion)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            stack += [n.right, n.left]
        else:
            out.append(n)
    return out


def _spec(spec: ast.AST, got: int, cap: int) -> int:
    if not isinstance(spec, ast.JoinedStr) or not all(
        isinstance(v, ast.Constant) and isinstance(v.value, str) for v in spec.values
    ):
        return cap  # a width from a field ({X:>{w}}): assume the worst
    text = "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant))
    return got + _NUMBER + sum(int(d) for d in re.findall(r"[0-9]+", text))


def _span(node: ast.AST) -> int | None:
    if getattr(node, "lineno", None) != getattr(node, "end_lineno", None):
        return None
    start, end = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
    return end - start if start is not None and end is not None else None


def _bodies(segment: str) -> list[str] | None:
    """Each literal of an (implicitly concatenated) string as its source spells it."""
    found = _tokens(segment)
    return None if found is None else [body for _, body in found]


def _tokens(segment: str) -> list[tuple[str, str]] | None:
    """The string tokens of ``segment``: (prefix, body between the quotes)."""
    out: list[tuple[str, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO("(" + segment + ")").readline):
            if tok.type == tokenize.STRING:
                prefix = _PREFIX.match(tok.string)
                assert prefix is not None  # it matches the empty string
                s = tok.string[prefix.end() :]
                q = 3 if s[:3] in ('"""', "'''") else 1
                out.append((prefix.group(), s[q:-q]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return out or None


def _fliterals(segment: str) -> list[str] | None:
    """The literal parts of an f-string's source, in order, as written
    (adjacent literals merged, as Python merges them); None if unsure."""
    out: list[str] = []
    after_field = True
    bodies = _tokens(segment)
    if bodies is None:
        return None
    for prefix, body in bodies:
        pieces = _fields(body) if "f" in prefix.lower() else [body]
        if pieces is None:
            return None
        for i, piece in enumerate(pieces):
            field_before = i > 0
            if field_before:
                after_field = True
            if not piece:
                continue
            if after_field or not out:
                out.append(piece)
            else:
                out[-1] += piece
            after_field = False
    return out


def _fields(body: str) -> list[str] | None:
    """``body`` split at its replacement fields (``{x!r:>{w}}``)."""
    out: list[str] = []
    cur: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in "{}" and body[i + 1 : i + 2] == c:
            cur.append(c + c)
            i += 2
        elif c == "}":
            return None
        elif c == "{":
            out.append("".join(cur))
            cur = []
            depth, i, quote = 1, i + 1, ""
            while i < n and depth:
                c = body[i]
                if quote:
                    if body.startswith(quote, i):
                        i += len(quote) - 1
                        quote = ""
                elif c in "'\"":
                    quote = c * 3 if body.startswith(c * 3, i) else c
                    i += len(quote) - 1
                elif c in "{[(":
                    depth += 1
                elif c in "}])":
                    depth -= 1
                i += 1
            if depth:
                return None
        else:
            cur.append(c)
            i += 1
    out.append("".join(cur))
    return out
