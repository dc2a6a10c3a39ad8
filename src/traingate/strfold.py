"""A string expression folded to the text it is, from literals, ``+`` and
f-strings, with names looked up by the caller (issues #16, #17).

One folder for the readers that need "which text does this make":
the config check's ``os.environ`` writes in ``.py`` files and the notebook
reader's constants in shell escapes. Anything else (a call, a format spec, a
``!r`` conversion, a name the caller cannot place) is None: the caller then
judges the expression as unknown, never as empty text.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

MAX_DEPTH = 16

# The text a name stands for, given the name and the depth it is met at.
Lookup = Callable[[ast.Name, int], "str | None"]


def fold(
    node: ast.expr, lookup: Lookup, depth: int = 0, *, decode_bytes: bool = False
) -> str | None:
    """``node`` as the string it makes, or None when that is not known."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(node, ast.Constant):
        if decode_bytes and isinstance(node.value, bytes):
            return node.value.decode("utf-8", "replace")
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        return lookup(node, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = fold(node.left, lookup, depth + 1, decode_bytes=decode_bytes)
        right = fold(node.right, lookup, depth + 1, decode_bytes=decode_bytes)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        out: list[str] = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                if part.conversion not in (-1, ord("s")) or part.format_spec is not None:
                    return None
                part = part.value
            got = fold(part, lookup, depth + 1, decode_bytes=decode_bytes)
            if got is None:
                return None
            out.append(got)
        return "".join(out)
    return None
