"""The file's lines as Python counts them, and literals as their source
spells them (facts.py, issue #17); here so that facts.py stays under 600 lines."""

from __future__ import annotations

import ast
import re

_QUOTED = re.compile(r"""[rRbBuUfF]*('{3}|"{3}|'|")(.*)\1""", re.S)
_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """``text`` split at \\r\\n, \\r and \\n, as Python counts lines: with
    no \\r (most files), str.split's (issue #17: ~4x faster than the regex's)."""
    return text.split("\n") if "\r" not in text else _LINE_END.split(text)


def as_written(lines: list[str], nodes: list[ast.Constant]) -> list[str]:
    """The literals with a backslash as their source spells them: semgrep
    matches ``"\\x0authorized_keys"`` as written (it decodes only \\t \\n \\r
    \\v \\f and \\\\), where Python's value has lost the "a" to the escape."""
    out: list[str] = []
    for node in nodes:
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        span = lines[first : last + 1]
        if not any("\\" in ln for ln in span):
            continue
        data = "\n".join(span).encode("utf-8", "surrogateescape")
        end = len(data) - len(span[-1].encode("utf-8", "surrogateescape"))
        end += node.end_col_offset if node.end_col_offset is not None else len(data)
        segment = data[node.col_offset : end].decode("utf-8", "surrogateescape")
        quoted = _QUOTED.fullmatch(segment)
        out.append(quoted.group(2) if quoted else segment)
    return out
