"""Which top-level units of a file a change can make report (issue #17).

A hit is kept only when one of its lines (payload, guard, where the trigger
was read, the hook registration) is an added line. A top-level statement's
payloads and guards lie inside it; its triggers are read inside it, or come
from a module-level name, a function of this file or an import (``Env.names``
and ``Env.funcs``: reached only through an identifier the unit spells), or
from a ``self`` attribute set in the same class. So a unit with no added line
can only produce a kept hit through an identifier whose trigger, or whose hook
registration, sits on an added line: ``hot`` names. The selection is grown to a
fixed point, as finding a unit hot brings the names it calls into view.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Iterator, Mapping, Set

from traingate.checks.sabotage.outline import nfkc_lines
from traingate.checks.sabotage.triggers import stmt_walk

# Anything but ASCII punctuation and whitespace: every identifier is one run of
# these (also with marks or middle dots), NFKC-normalised as Python does.
_TOKEN = re.compile(r"[^\s!-/:-@\[-^`{-~]+")
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (*_FUNCS, ast.ClassDef)


def span(node: ast.stmt) -> tuple[int, int]:
    """First and last line of a statement, decorators included."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first, node.end_lineno or node.lineno


class Plan:
    """The added lines of one file and the identifiers each line spells."""

    def __init__(self, tree: ast.Module, source: str, added: Set[int]) -> None:
        self.tree = tree
        self.added = added
        text = source.replace("\r\n", "\n")
        # A lone CR ends a line for Python, not for split("\n"): no cut then.
        self.lines: list[str] | None = None if "\r" in text else text.split("\n")
        self._tokens: dict[int, set[str]] = {}

    @property
    def usable(self) -> bool:
        return self.lines is not None

    def touched(self, node: ast.stmt) -> bool:
        first, last = span(node)
        return any(n in self.added for n in range(first, last + 1))

    def tokens(self, node: ast.stmt) -> set[str]:
        return self.span_tokens(*span(node))

    def _line(self, n: int) -> set[str]:
        got = self._tokens.get(n)
        if got is None:
            assert self.lines is not None
            got = line_tokens(self.lines[n - 1] if 0 < n <= len(self.lines) else "")
            self._tokens[n] = got
        return got

    def touched_nodes(self) -> Iterator[ast.AST]:
        """The nodes of the statements the change touched, not entering an untouched
        statement nested in them: a node's line lies within every statement around it."""
        todo: list[ast.AST] = [st for st in self.tree.body if self.touched(st)]
        while todo:
            node = todo.pop()
            yield node
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    if self.touched(child):
                        todo.append(child)
                elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                    todo.append(child)  # a container: its statements are judged one by one
                else:
                    yield from ast.walk(child)

    def units(self) -> list[int]:
        """Indices of top-level statements that hold definitions walked on their own."""
        return [i for i, st in enumerate(self.tree.body) if _holds_defs(st)]

    def imported(self) -> set[str]:
        """The functions an added ``from ... import`` brings, as calls spell them:
        their trigger is read at the import's line."""
        out: set[str] = set()
        for st in self.tree.body:
            if isinstance(st, ast.ImportFrom) and self.touched(st):
                mod = "." * st.level + (st.module or "")
                out.update(f"{mod}.{a.name}" if mod else a.name for a in st.names)
        return out

    def span_tokens(self, first: int, last: int) -> set[str]:
        """The identifiers lines ``first`` to ``last`` spell."""
        out: set[str] = set()
        for n in range(first, last + 1):
            out |= self._line(n)
        return out

    def armed(
        self, kept: Set[int], hot: Set[str], alias: Mapping[str, str]
    ) -> set[ast.FunctionDef | ast.AsyncFunctionDef]:
        """Functions of the kept units whose entry may carry a trigger read on an
        added line, so may arm an unchanged caller (``hot``): those the change
        touched, and those spelling a hot name (they may return its trigger)."""
        out: set[ast.FunctionDef | ast.AsyncFunctionDef] = set()
        for i in kept:
            for n in stmt_walk(self.tree.body[i]):
                if isinstance(n, _FUNCS) and (
                    self.touched(n) or (hot and not hot.isdisjoint(expand(self.tokens(n), alias)))
                ):
                    out.add(n)
        return out


def line_tokens(text: str) -> set[str]:
    """The identifiers a line can spell, as Python reads them (NFKC-normalised)."""
    got: set[str] = set()
    for t in _TOKEN.findall(text):
        if t.isascii():
            got.add(t)
        else:
            got.update(_TOKEN.findall(unicodedata.normalize("NFKC", t)))
    return got


def as_read(text: str) -> str:
    """The text with every identifier NFKC-normalised, as Python reads it.

    Only the lines holding a character that is not ASCII are searched (issue #17:
    a call per run of a helper's whole text was 1.4% of a scan): no run crosses a
    line end (a space), and NFKC leaves a run of ASCII as it is."""
    if text.isascii():
        return text
    return nfkc_lines(text, _TOKEN)


def expand(names: Set[str], alias: Mapping[str, str]) -> set[str]:
    """Names, plus the dotted name each import alias stands for and its last part."""
    out = set(names)
    for n in names:
        q = alias.get(n)
        if q is not None:
            out.add(q)
            out.add(q.rsplit(".", 1)[-1])
    return out


def _holds_defs(st: ast.stmt) -> bool:
    if isinstance(st, _DEFS):
        return True
    return any(isinstance(n, _DEFS) for n in stmt_walk(st))
