"""IPython input as one Python module, for the checks that parse it with ``ast``.

The reach and sabotage checks read a notebook's code cells (and, issue #16,
an IPython script, ``.ipy``) as the semgrep check does: the Python the kernel
runs (checks/semgrep/ipython.py: ``%time stmt`` its statement, ``%env`` an
``os.environ`` write, a shell escape a no-op or, when IPython builds its
command from Python values, the subprocess call with those values), each
line mapped back to its line in the file (a notebook's JSON) so findings
point there. The shell text of the escapes is the semgrep check's bash rules'.
"""

from __future__ import annotations

import json

# Files read as IPython input (issue #16): notebooks and IPython scripts.
IPYTHON_EXT = (".ipynb", ".ipy")


def notebook_source(raw: str) -> tuple[str, list[int]] | None:
    """A notebook's code cells as one module, and each line's line in the
    JSON; None when it is no notebook."""
    from traingate.checks.semgrep.ipython import notebook_cells

    try:
        nb = json.loads(raw)
    except ValueError:
        return None
    cells = notebook_cells(nb, raw)
    if cells is None:
        return None
    return "\n".join(cells.python) + "\n", cells.line_map


def ipython_source(raw: str) -> tuple[str, list[int]]:
    """An IPython script (``.ipy``) as the module IPython runs (one cell),
    and each line's line in the file."""
    from traingate.checks.semgrep.ipython import script_cells

    cells = script_cells(raw)
    return "\n".join(cells.python) + "\n", cells.line_map


def ipython_input(path: str, raw: str) -> tuple[str, list[int]] | None:
    """``notebook_source`` or ``ipython_source`` by the file's suffix."""
    if path.lower().endswith(".ipy"):
        return ipython_source(raw)
    return notebook_source(raw)


def json_line(line: int, line_map: list[int] | None) -> int:
    """``line`` of the cells' module as the notebook's JSON line (unchanged
    for a plain file, ``line_map`` None); out-of-range lines are clamped."""
    if line_map is None:
        return line
    return line_map[min(max(line, 1), len(line_map)) - 1]
