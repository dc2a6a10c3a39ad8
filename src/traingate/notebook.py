"""A notebook's code cells as one Python module, for the checks that parse it with ``ast``.

The reach and sabotage checks read a notebook the same way: code cells in
order, magics and shell escapes blanked (the semgrep check reads those), each
line mapped back to its line in the notebook's JSON so findings point there.
"""

from __future__ import annotations

import json


def notebook_source(raw: str) -> tuple[str, list[int]] | None:
    """A notebook's code cells as one module, and each line's line in the JSON.
    Magics and shell escapes become blank lines."""
    try:
        nb = json.loads(raw)
    except ValueError:
        return None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return None
    raw_lines = raw.splitlines()
    out: list[str] = []
    line_map: list[int] = []
    cursor = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        magic = text.lstrip().startswith("%%")
        for ln in text.splitlines():
            needle = json.dumps(ln)[1:-1]
            for i in range(cursor, len(raw_lines)):
                if needle in raw_lines[i]:
                    cursor = i
                    break
            out.append("" if magic or ln.lstrip().startswith(("%", "!")) else ln)
            line_map.append(cursor + 1)
        out.append("")
        line_map.append(cursor + 1)
    return "\n".join(out) + "\n", line_map or [1]


def json_line(line: int, line_map: list[int] | None) -> int:
    """``line`` of the cells' module as the notebook's JSON line (unchanged
    for a plain file, ``line_map`` None); out-of-range lines are clamped."""
    if line_map is None:
        return line
    return line_map[min(max(line, 1), len(line_map)) - 1]
