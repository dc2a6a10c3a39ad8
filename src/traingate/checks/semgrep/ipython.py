"""IPython input as the Python it runs: notebooks' code cells and .ipy scripts.

Issue #16: shell escapes (``!cmd``, ``%system``, ``%%bash`` cells) become
subprocess calls, ``%env`` an ``os.environ`` write and code-running magics
(``%time stmt``) their statement, so the Python rules judge what the kernel
runs. The converter's own text matches no rule by itself: a finding is always
about what the notebook or script wrote.
"""

from __future__ import annotations

import json
import re
from typing import Any

from traingate.checks.semgrep.targets import _SH_EXT, Target


def notebook(oid: str, path: str, raw: str) -> Target:
    """Code cells as one Python file; shell escapes become subprocess calls.

    Issue #16: every notebook format Jupyter still opens (nbformat v4 and v1:
    top-level ``cells``; v2/v3: ``worksheets[].cells[]``; code in ``source``,
    v2/v3's ``input`` or v1's ``code``, as a list or one string), cell magics
    that hand the cell to a shell (``%%bash``, ``%%script bash``, ``%%sh``,
    ``%%system``, ``%%!``) and bash kernels. JSON that is none of these blocks:
    Jupyter would not open it, and the gate cannot say what it runs."""
    try:
        nb = json.loads(raw)
    except ValueError:
        # Unparseable notebook: scan the raw text so semgrep reports the parse error.
        return Target(oid, path, ".ipynb.py", raw)
    cells = _notebook_cells(nb)
    if cells is None:
        return Target(
            oid,
            path,
            ".ipynb.py",
            "\n",
            problem="is JSON but no notebook format Jupyter reads (no cells or worksheets "
            "list, or a cell's code is not text); it cannot be checked",
        )
    shell_kernel = _notebook_language(nb) in _SHELL_LANGUAGES
    raw_lines = raw.splitlines()
    out: list[str] = []
    line_map: list[int] = []
    cursor = 0
    for text in cells:
        for ln in text.splitlines():
            cursor = _find_line(raw_lines, ln, cursor)
            line_map.append(cursor + 1)
        out += _cell(text.splitlines(), shell_kernel)
        out.append("")
        line_map.append(cursor + 1)
    return Target(oid, path, ".ipynb.py", "\n".join(out) + "\n", tuple(line_map) or (1,))


def ipython_script(oid: str, path: str, text: str) -> Target:
    """An IPython script (``ipython setup.ipy``, a profile's ``startup/*.ipy``)
    as one notebook code cell: IPython runs the whole file as one cell (issue #16).
    Its lines are split as IPython splits them (str.splitlines: \\x0c ends one
    too); the line map gives each the file's own line (only \\n, \\r end one)."""
    lines = text.splitlines()
    line_map: list[int] = []
    real = 1
    for seg in text.splitlines(keepends=True):
        line_map.append(real)
        real += int(seg.endswith(("\n", "\r")))
    out = _cell(lines, shell_kernel=False)
    return Target(oid, path, ".ipy.py", "\n".join(out) + "\n", tuple(line_map) or (1,))


def _cell(lines: list[str], shell_kernel: bool) -> list[str]:
    """One code cell's lines as Python, one output line per input line."""
    mode = "shell" if shell_kernel else "python"
    dest = ""
    out: list[str] = []
    for i, ln in enumerate(lines):
        if i == 0 and ln.lstrip().startswith("%%"):
            mode, dest, converted = _cell_magic(ln, shell_kernel)
        elif mode == "shell":
            converted = _shell_call(ln)
        elif mode == "data":
            # Written to a file, not run (yet): kept as the write it is, so
            # rules on written content (.pth import lines, keys) still see it.
            converted = f"_nb_file.write({ln!r})" if dest else "pass"
        else:
            converted = _unmagic(ln)
        out.append(converted)
    return out


_SHELL_LANGUAGES = {"bash", "sh", "shell", "zsh", "ksh"}
# Cell magics whose body is Python run in the kernel (timed, captured, profiled).
_PY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"}
# Cell magics whose body is never run on the training host (rendered, or run by the browser).
_DATA_CELL_MAGICS = {"html", "markdown", "latex", "svg", "javascript", "js", "md"}
# Line magics that run the rest of the line in a shell (issue #16).
_SHELL_LINE_MAGIC = re.compile(r"^(!+|%(?:system|sx|sh|pip|conda|mamba|micromamba|uv)\b)\s*(.*)$")
_ASSIGN_SHELL = re.compile(
    r"^([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)(!+|%(?:system|sx)\b)\s*(.*)$"
)
_CODE_LINE_MAGIC = re.compile(r"^%(?:time|timeit|prun|debug)\b((?:\s+-\w+(?:\s+\d+)?)*)\s*(.*)$")
_ENV_MAGIC = re.compile(r"^%(?:env|set_env)\s+([A-Za-z_]\w*)(?:\s*=\s*|\s+)(.*)$")


def _notebook_cells(nb: Any) -> list[str] | None:
    """The code cells' text of a v1-v4 notebook, or None when it is not one."""
    if not isinstance(nb, dict):
        return None
    if isinstance(nb.get("cells"), list):
        raw_cells = list(nb["cells"])
    elif isinstance(nb.get("worksheets"), list):
        raw_cells = []
        for ws in nb["worksheets"]:
            if not isinstance(ws, dict) or not isinstance(ws.get("cells", []), list):
                return None
            raw_cells += ws.get("cells", [])
    else:
        return None
    out: list[str] = []
    for cell in raw_cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for key in ("source", "input", "code"):  # v4, v2/v3, v1: scan all that are there
            if key not in cell:
                continue
            src = cell[key]
            if isinstance(src, list) and all(isinstance(x, str) for x in src):
                out.append("".join(src))
            elif isinstance(src, str):
                out.append(src)
            else:
                return None
    return out


def _notebook_language(nb: dict[str, Any]) -> str:
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return "python"
    for holder, key in (("kernelspec", "language"), ("language_info", "name")):
        sub = meta.get(holder)
        if isinstance(sub, dict) and isinstance(sub.get(key), str):
            return str(sub[key]).lower()
    return str(meta.get("language", "python")).lower()


def _shell_call(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    return f"{indent}__import__('subprocess').run({stripped!r}, shell=True)"


def _cell_magic(line: str, shell_kernel: bool) -> tuple[str, str, str]:
    """(mode of the cell body, file it is written to, the magic line as Python)."""
    words = line.strip()[2:].split()
    name = words[0] if words else ""
    args = words[1:]
    if name in ("writefile", "file"):
        dest = next((a for a in args if not a.startswith("-")), "")
        how = "a" if "-a" in args or "--append" in args else "w"
        mode = "python" if dest.endswith((".py", ".pyw")) else "data"
        if dest.endswith(tuple(_SH_EXT)):
            mode = "shell"
        return mode, dest, f"_nb_file = open({dest!r}, {how!r})"
    if name in _PY_CELL_MAGICS or (name == "script" and args and "python" in args[0]):
        return "python", "", f"pass  # {line.strip()}"
    if name in _DATA_CELL_MAGICS:
        return "data", "", f"pass  # {line.strip()}"
    if name in ("bash", "sh", "zsh", "system", "!", "sx", "script", "perl", "ruby", "node"):
        # Any other interpreter runs the body as a subprocess: judged as one (fail closed).
        return "shell", "", f"pass  # {line.strip()}"
    return ("shell" if shell_kernel else "python"), "", f"pass  # {line.strip()}"


def _find_line(raw_lines: list[str], src_line: str, start: int) -> int:
    for needle in (json.dumps(src_line)[1:-1], json.dumps(src_line, ensure_ascii=False)[1:-1]):
        for i in range(start, len(raw_lines)):
            if needle in raw_lines[i]:
                return i
    return start


def _unmagic(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    m = _SHELL_LINE_MAGIC.match(stripped)
    if m:
        return f"{indent}__import__('subprocess').run({_magic_command(m)!r}, shell=True)"
    m = _ASSIGN_SHELL.match(stripped)
    if m:
        # `files = !ls`, `out = %sx cmd` (issue #16): the command still runs.
        return f"{indent}{m.group(1)}__import__('subprocess').run({m.group(3)!r}, shell=True)"
    m = _CODE_LINE_MAGIC.match(stripped)
    if m and m.group(2):
        # `%time os.system(...)` runs its statement (issue #16): scan it as code.
        return f"{indent}{m.group(2)}"
    m = _ENV_MAGIC.match(stripped)
    if m:
        # A plain import, not __import__('os'): obfusc-string-built-lookup read
        # that as obfuscation on every harmless `%env CUDA_VISIBLE_DEVICES=0`
        # (issue #16), while rules on env writes (tamper-preload-env) did not
        # see it; an alias resolves to `os.environ` for them.
        return (
            f"{indent}import os as _tg_os; _tg_os.environ[{m.group(1)!r}] = {m.group(2).strip()!r}"
        )
    if stripped.startswith("%"):
        return f"{indent}pass  # {stripped}"
    return line


def _magic_command(m: re.Match[str]) -> str:
    """The shell command of a line magic: package managers keep their name."""
    head = m.group(1)
    if head.startswith("!") or head in ("%system", "%sx", "%sh"):
        return m.group(2)
    return f"{head[1:]} {m.group(2)}".strip()
