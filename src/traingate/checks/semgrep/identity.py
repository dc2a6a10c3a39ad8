"""When a head hit is the same finding as a base hit: compared as Python syntax trees (issue #16).

A hit's *context* is the syntax it matched, read from the whole file's tree
(``ast``, never run): the innermost node whose source range is the match, the
run of statements it spans, or else the innermost node around it. Comparing
the matched snippets alone would miss what a match leaves out. A matched callee
(``os.system``) takes its call with it: the arguments are what it runs, so
``os.system("nvidia-smi")`` becoming ``os.system("curl x | sh")`` is a new
finding even though the matched text is the same.

Two contexts are the same finding when they are equal node for node, literal
for literal (types and values, never whitespace-normalised text), or, for a
head hit not paired that way, when the head's is derived from the base's by
only:

- adding, to a call present in both, a keyword from ``NARROWING`` whose value
  is a literal constant that the keyword's test accepts (pinning, safe modes,
  limits: they can only make the call do less);
- deleting whole statements inside the matched span, when the deleted
  statement neither leaves its block (``return``, ``raise``, ``break``,
  ``continue``, ``assert``: a removed guard would unleash the kept code) nor
  binds a name the kept code reads (a removed assignment, import or ``global``
  would change what the kept code means).

Anything else is a change: a callee, a positional argument, a kept keyword's
value, an added ``**kwargs`` or non-literal keyword, a removed keyword
(removing ``revision=`` unpins), an added statement.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from collections.abc import Callable, Sequence

from traingate import pyast
from traingate.checks.semgrep.hits import Hit

# A full git commit id (sha-1 or sha-256): a branch, a tag or `refs/pr/N` can
# move, and on the Hugging Face Hub anyone can open `refs/pr/N` on any repo.
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Decoding a file as the platform default does; utf-7 and friends can turn
# harmless-looking text into code.
_PLAIN_ENCODINGS = {"utf-8", "utf8", "utf_8", "utf-8-sig", "utf_8_sig", "ascii"}


def _commit(v: object) -> bool:
    return isinstance(v, str) and _COMMIT.fullmatch(v) is not None


def _true(v: object) -> bool:
    return v is True


def _bool(v: object) -> bool:
    return isinstance(v, bool)


def _text(v: object) -> bool:
    return isinstance(v, str)


def _positive(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _plain_encoding(v: object) -> bool:
    return isinstance(v, str) and v.lower() in _PLAIN_ENCODINGS


# Keywords whose addition can only narrow what a call does. Each test admits
# only the narrowing values: `weights_only=False`, `strict=False` (silently
# skips missing weights) or `revision="main"` would widen, so they count as new.
# Left out on purpose: `verify`, `trust_remote_code`, `pickle_module`, `shell`,
# `env`, `cwd`, `executable`, `map_location` callables, and any non-literal
# value (an expression can run code or name anything).
NARROWING: dict[str, Callable[[object], bool]] = {
    # pin the downloaded code/weights to one immutable commit
    "revision": _commit,
    "code_revision": _commit,
    "commit_hash": _commit,
    # the loaders' safe modes
    "weights_only": _true,
    "use_safetensors": _true,
    "local_files_only": _true,
    # fail loudly instead of going on
    "check": _true,
    "strict": _true,
    # bounds and representation: what runs stays the same
    "timeout": _positive,
    "map_location": _text,
    "text": _bool,
    "capture_output": _bool,
    "encoding": _plain_encoding,
    "dtype": _text,
    "torch_dtype": _text,
    "device_map": _text,
    "low_cpu_mem_usage": _bool,
}

_EXITS = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Assert)
_NEWLINE = re.compile(rb"\r\n|\r|\n")  # what CPython's tokenizer ends a line with

Context = tuple[ast.AST, ...]


class Source:
    """One version of a Python file: its tree, and node ranges in the byte
    offsets semgrep reports (UTF-8 of the scanned text), computed only along
    the path down to each hit (a full index cost as much as the parse)."""

    def __init__(self, tree: ast.Module, text: str) -> None:
        self.tree = tree
        data = text.encode("utf-8", "surrogateescape")
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(data)]
        # Per node: its positioned children (looked through those without a
        # position, like ``arguments``) as (start, end, node), sorted by start.
        self.kids: dict[int, tuple[list[int], list[tuple[int, int, ast.AST]]]] = {}

    def _range(self, node: ast.AST) -> tuple[int, int] | None:
        if not hasattr(node, "lineno") or getattr(node, "end_lineno", None) is None:
            return None
        starts = self.starts
        start = starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        for dec in getattr(node, "decorator_list", ()):  # a decorator is part of its def
            start = min(start, starts[dec.lineno - 1] + dec.col_offset)
        return start, end

    def context(self, hit: Hit) -> Context | None:
        """The syntax ``hit`` matched, or None when it cannot be placed: the
        innermost node whose range is the match (so a matched call is the call,
        not the statement around it: assigning its result changes nothing), a
        run of statements of one block (``a ... b`` patterns), or else the
        innermost node around the match (a parenthesised callee, say)."""
        s, e = hit.start, hit.end
        if s < 0 or e < s:
            return None
        path = self._path(s, e)
        node = path[-1]
        if self._range(node) != (s, e):
            run = self._statements(node, s, e)
            if run is not None:
                return run
            if node is self.tree:
                return None
        return (self._with_call(path),)

    def _path(self, s: int, e: int) -> list[ast.AST]:
        """The module and the nodes down to the innermost one holding [s, e)
        (nodes without a position, like ``arguments``, are looked through)."""
        path: list[ast.AST] = [self.tree]
        while True:
            firsts, kids = self._kids(path[-1])
            # Siblings do not overlap: only those starting last at or before s can hold it.
            i = bisect.bisect_right(firsts, s) - 1
            inner = None
            for k in range(i, -1, -1):
                a, b, child = kids[k]
                if a != firsts[i]:
                    break
                if e <= b:
                    inner = child
                    break
            if inner is None:
                return path
            path.append(inner)

    def _kids(self, node: ast.AST) -> tuple[list[int], list[tuple[int, int, ast.AST]]]:
        got = self.kids.get(id(node))
        if got is None:
            flat: list[tuple[int, int, ast.AST]] = []
            stack = list(ast.iter_child_nodes(node))
            while stack:
                child = stack.pop()
                rng = self._range(child)
                if rng is None:
                    stack.extend(ast.iter_child_nodes(child))
                else:
                    flat.append((rng[0], rng[1], child))
            flat.sort(key=lambda x: (x[0], -x[1]))
            got = self.kids[id(node)] = ([x[0] for x in flat], flat)
        return got

    def _statements(self, node: ast.AST, s: int, e: int) -> Context | None:
        for value in vars(node).values():
            if not (isinstance(value, list) and value and isinstance(value[0], ast.stmt)):
                continue
            ranges = [self._range(x) for x in value]
            first = next((i for i, r in enumerate(ranges) if r and r[0] == s), None)
            last = next((i for i, r in enumerate(ranges) if r and r[1] == e), None)
            if first is not None and last is not None and first <= last:
                return tuple(value[first : last + 1])
        return None

    @staticmethod
    def _with_call(path: list[ast.AST]) -> ast.AST:
        """A matched callee grows into its call, arguments and all."""
        i = len(path) - 1
        while i > 0 and isinstance(path[i - 1], ast.Call) and path[i - 1].func is path[i]:  # type: ignore[attr-defined]
            i -= 1
        return path[i]


def parse(text: str) -> Source | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = pyast.parse(text)
        return Source(tree, text)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, IndexError):
        return None


def key(ctx: Context) -> str:
    """Exact identity: node types, fields and literal values, no positions
    (``ast.dump`` writes ``True`` and ``1``, ``1`` and ``1.0`` apart)."""
    return "\n".join(ast.dump(n) for n in ctx)


def same(base: Context, head: Context, *, relax: bool) -> bool:
    """Equal contexts, or with ``relax`` a head derived by the narrowing rules."""
    try:
        if all(isinstance(n, ast.stmt) for n in (*base, *head)):
            return _Compare(head, relax).stmts(list(base), list(head))  # type: ignore[arg-type]
        cmp = _Compare(head, relax)
        return len(base) == len(head) and all(
            cmp.node(b, h) for b, h in zip(base, head, strict=True)
        )
    except RecursionError:
        return False  # too deep to compare: new


class _Compare:
    def __init__(self, head: Sequence[ast.AST], relax: bool) -> None:
        self.relax = relax
        self.head = head
        self._reads: set[str] | None = None

    @property
    def reads(self) -> set[str]:
        """Names the head's code reads: a deleted statement must not bind one."""
        if self._reads is None:
            self._reads = {
                n.id
                for h in self.head
                for n in ast.walk(h)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            }
        return self._reads

    def node(self, b: ast.AST, h: ast.AST) -> bool:
        if type(b) is not type(h):
            return False
        if self.relax and isinstance(b, ast.Call):
            assert isinstance(h, ast.Call)
            return self.call(b, h)
        return all(self.value(getattr(b, f, None), getattr(h, f, None)) for f in b._fields)

    def value(self, b: object, h: object) -> bool:
        if isinstance(b, ast.AST):
            return isinstance(h, ast.AST) and self.node(b, h)
        if isinstance(b, list):
            if not isinstance(h, list):
                return False
            if self.relax and all(isinstance(x, ast.stmt) for x in b + h) and (b or h):
                return self.stmts(b, h)
            return len(b) == len(h) and all(self.value(x, y) for x, y in zip(b, h, strict=True))
        # Literals and identifiers: same type and value (True is not 1, 1 is not 1.0).
        return type(b) is type(h) and b == h

    def call(self, b: ast.Call, h: ast.Call) -> bool:
        if not (self.node(b.func, h.func) and len(b.args) == len(h.args)):
            return False
        if not all(self.node(x, y) for x, y in zip(b.args, h.args, strict=True)):
            return False
        names = [k.arg for k in h.keywords if k.arg is not None]
        if len(names) != len(set(names)):
            return False  # a repeated keyword does not compile
        kept = {k.arg for k in b.keywords}
        i = 0
        for k in h.keywords:
            if i < len(b.keywords) and b.keywords[i].arg == k.arg:
                if not self.node(b.keywords[i].value, k.value):
                    return False
                i += 1
            elif not self._narrowing(k, kept):
                return False
        return i == len(b.keywords)  # a removed keyword (revision=) is a change

    @staticmethod
    def _narrowing(k: ast.keyword, kept: set[str | None]) -> bool:
        test = NARROWING.get(k.arg or "")
        return (
            test is not None
            and k.arg not in kept
            and isinstance(k.value, ast.Constant)
            and test(k.value.value)
        )

    def stmts(self, b: list[ast.stmt], h: list[ast.stmt]) -> bool:
        """``h`` is ``b`` with deletable statements removed (in order)."""
        if not self.relax:
            return len(b) == len(h) and all(self.node(x, y) for x, y in zip(b, h, strict=True))
        i = 0
        for hs in h:
            while i < len(b) and not self.node(b[i], hs):
                if not self._deletable(b[i]):
                    return False
                i += 1
            if i == len(b):
                return False
            i += 1
        return all(self._deletable(s) for s in b[i:])

    def _deletable(self, s: ast.stmt) -> bool:
        for n in ast.walk(s):
            if isinstance(n, _EXITS):
                return False
            if _binds(n) & self.reads:
                return False
        return True


def _binds(n: ast.AST) -> set[str]:
    """Names ``n`` itself binds (assignment, import, def, global, ...)."""
    if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
        return {n.id}
    if isinstance(n, ast.alias):
        return {(n.asname or n.name).split(".")[0]}
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {n.name}
    if isinstance(n, (ast.Global, ast.Nonlocal)):
        return set(n.names)
    if isinstance(n, ast.ExceptHandler) and n.name:
        return {n.name}
    if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
        return {n.name}
    return set()
