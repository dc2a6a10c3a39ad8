"""IPython input as what it runs: notebooks' code cells and .ipy scripts.

Issue #16: every cell is read twice, line for line. The Python the kernel
runs (``%env`` an ``os.environ`` write, code-running magics such as ``%time
stmt`` their statement) goes to the Python rules; the text a shell escape
(``!cmd``, ``%system``, ``%pip``, a ``%%bash`` cell, a bash kernel) hands to a
shell goes to the bash rules, the same ones a ``.sh`` launcher gets, as a
second target of the same file (``Target.companion``). A harmless escape
(``!nvidia-smi``, ``!pip list``) is then judged as the shell command it is,
not blocked as a subprocess call. An escape whose command IPython builds from
Python values at run time (``!{cmd}``, ``!wget $url``) stays a
``subprocess.run(..., shell=True)`` call for ``exec-subprocess-shell``: code
chooses that command, and its fields are Python the kernel evaluates. The
converter's own text matches no rule by itself: a finding is always about
what the notebook or script wrote. The reach and sabotage checks read the
same Python (traingate/notebook.py).
"""

from __future__ import annotations

import ast
import bisect
import json
import re
import string
from collections.abc import Callable
from typing import Any, NamedTuple

from traingate.checks.semgrep.ipyconst import Consts, Known
from traingate.checks.semgrep.ipyconst import constants as _constants
from traingate.checks.semgrep.ipyconst import expanded as _expanded
from traingate.checks.semgrep.ipynames import binder as _binder
from traingate.checks.semgrep.ipynames import unbound as _unbound
from traingate.checks.semgrep.targets import _SH_EXT, Target


class Cells(NamedTuple):
    """IPython input read line for line: three lists of one length."""

    python: list[str]  # the Python each line runs ("" or pass: none)
    shell: list[str]  # the shell text each line hands to a shell ("": none)
    line_map: list[int]  # each line's line in the file (a notebook's JSON line)
    source: list[str]  # each line as the cell holds it (JSON escapes decoded)


def notebook(oid: str, path: str, raw: str) -> Target:
    """Code cells as one Python file, and their shell escapes as one bash file.

    Issue #16: every notebook format Jupyter still opens (nbformat v4 and v1:
    top-level ``cells``; v2/v3: ``worksheets[].cells[]``; code in ``source``,
    v2/v3's ``input`` or v1's ``code``, as a list or one string), cell magics
    that hand the cell to a shell (``%%bash``, ``%%script bash``, ``%%sh``,
    ``%%system``, ``%%!``) and bash kernels. JSON that is none of these blocks:
    Jupyter would not open it, and the gate cannot say what it runs."""
    try:
        nb = json.loads(raw)
    except json.JSONDecodeError as exc:
        # Session 25: was the raw text as Python, which blocked as "not valid
        # Python" at line 1 wherever the JSON broke.
        return Target(
            oid,
            path,
            ".ipynb.py",
            "\n",
            problem=f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
            "Jupyter cannot open it, and it cannot be checked",
            problem_line=exc.lineno,
        )
    cells = notebook_cells(nb, raw)
    if cells is None:
        return Target(
            oid,
            path,
            ".ipynb.py",
            "\n",
            problem="is JSON but no notebook format Jupyter reads (no cells or worksheets "
            "list, or a cell's code is not text); it cannot be checked",
        )
    return _targets(oid, path, ".ipynb", cells)


def ipython_script(oid: str, path: str, text: str) -> Target:
    """An IPython script (``ipython setup.ipy``, a profile's ``startup/*.ipy``)
    as one notebook code cell: IPython runs the whole file as one cell (issue #16)."""
    return _targets(oid, path, ".ipy", script_cells(text))


def notebook_cells(nb: Any, raw: str) -> Cells | None:
    """A parsed notebook's code cells, each line mapped to its line in ``raw``
    (the JSON); None when ``nb`` is no notebook format Jupyter reads."""
    cells = _notebook_cells(nb)
    if cells is None:
        return None
    shell_kernel = _notebook_language(nb) in _SHELL_LANGUAGES
    raw_lines = raw.splitlines()
    line_map: list[int] = []
    source: list[str] = []
    cursor = 0
    for text in cells:
        for ln in text.splitlines():
            cursor = _find_line(raw_lines, ln, cursor)
            line_map.append(cursor + 1)
        source += [*text.splitlines(), ""]
        line_map.append(cursor + 1)

    foreign: set[int] = set()  # lines of cells a cell magic runs elsewhere or not at all

    def convert(
        bound: Callable[[str], bool] | None, known: Known | None
    ) -> tuple[list[str], list[str]]:
        py: list[str] = []
        sh: list[str] = []
        for text in cells:
            lines = text.splitlines()
            if lines and lines[0].lstrip().startswith("%%"):
                foreign.update(range(len(py), len(py) + len(lines)))
            cell_py, cell_sh = _cell(lines, shell_kernel, bound, known, len(py))
            py += [*cell_py, ""]
            sh += [*cell_sh, ""]
        return py, sh

    # Escapes are read once as if no name were bound, for the names the rest
    # of the notebook binds; then again with those, and with the constants
    # it sets (issue #16).
    py, sh = convert(_unbound, None)
    if any(sh):
        py, sh = convert(_binder(py, source), _constants(py, source, foreign))
    return Cells(py, sh, line_map or [1], source or [""])


def script_cells(text: str) -> Cells:
    """A .ipy script as one cell. Its lines are split as IPython splits them
    (str.splitlines: \\x0c ends one too); the line map gives each the file's
    own line (only \\n, \\r end one)."""
    line_map: list[int] = []
    real = 1
    for seg in text.splitlines(keepends=True):
        line_map.append(real)
        real += int(seg.endswith(("\n", "\r")))
    lines = text.splitlines()
    py, sh = _cell(lines, False, _unbound)
    if any(sh):
        foreign = range(len(lines)) if lines and lines[0].lstrip().startswith("%%") else ()
        py, sh = _cell(lines, False, _binder(py, lines), _constants(py, lines, foreign))
    return Cells(py, sh, line_map or [1], lines or [""])


def _targets(oid: str, path: str, ext: str, cells: Cells) -> Target:
    """The Python target; the shell escapes, if any, as its bash companion
    with the same line map (its key differs by extension)."""
    line_map = tuple(cells.line_map)
    companion = None
    if any(s.strip() for s in cells.shell):
        text = "\n".join(cells.shell) + "\n"
        companion = Target(oid, path, ext + ".sh", text, line_map)
    py = "\n".join(cells.python) + "\n"
    return Target(oid, path, ext + ".py", py, line_map, companion=companion)


def _cell(
    lines: list[str],
    shell_kernel: bool,
    bound: Callable[[str], bool] | None = None,
    known: Known | None = None,
    start: int = 0,
) -> tuple[list[str], list[str]]:
    """One code cell's lines as (Python, shell text), one output line per input
    line; ``bound`` tells the Python names the kernel may hold (None: any),
    ``known`` the notebook's constants at a line (``start``: the cell's first)."""
    mode = "shell" if shell_kernel else "python"
    dest = ""
    py: list[str] = []
    sh: list[str] = []
    skip = 0
    for i, ln in enumerate(lines):
        shell = ""
        if skip:
            skip -= 1
            continue
        consts = known(start + i) if known is not None else {}
        if i == 0 and ln.lstrip().startswith("%%"):
            mode, dest, converted = _cell_magic(ln, shell_kernel)
        elif mode == "shell":
            converted, shell = "", ln
        elif mode == "expand":
            # %%sx / %%system / %%!: each line through IPython's expansion, as `!`.
            lead = len(ln) - len(ln.lstrip())
            converted, shell = _escape(ln[:lead], "", ln[lead:], lead, bound, consts)
        elif mode == "other":
            # Perl, Ruby, node, an interpreter the cell does not name: no rule
            # set reads that language, so it is judged as the process it is.
            converted = _subprocess_call(ln)
        elif mode == "data":
            # Written to a file, not run (yet): kept as the write it is, so
            # rules on written content (.pth import lines, keys) still see it;
            # a shell script written is also judged as shell.
            converted = f"_nb_file.write({ln!r})" if dest else "pass"
            shell = ln if dest.endswith(tuple(_SH_EXT)) else ""
        else:
            end = _continued(lines, i)
            if end > i:
                # Issue #16: IPython joins an escape or magic continued with a
                # trailing backslash into one command (inputtransformer2's
                # assemble_continued_line); read apart, the next line was
                # Python that does not parse. The joined line is judged (its
                # run-time fields too); bash, which joins `\`-newline the same
                # way, gets the lines as written, each on its own line.
                skip = end - i
                joined = _joined(lines[i : end + 1])
                converted, shell = _unmagic_both(joined, bound, consts)
                py += [converted, *[""] * skip]
                if shell and shell != _unmagic_both(joined)[1]:
                    sh += [shell, *[""] * skip]  # the notebook's constants put in
                else:
                    rest = lines[i + 1 : end + 1] if shell else [""] * skip
                    sh += [_unmagic_both(ln)[1], *rest]
                continue
            converted, shell = _unmagic_both(ln, bound, consts)
        py.append(converted)
        sh.append(shell)
    return py, sh


def _continued(lines: list[str], i: int) -> int:
    """The last line of the escape or magic at ``lines[i]`` (``i`` itself
    when it is none, or not continued with a trailing backslash)."""
    stripped = lines[i].lstrip()
    if not (stripped.startswith(("!", "%")) or _ASSIGN_SHELL.match(stripped)):
        return i
    end = i
    while lines[end].endswith("\\") and end + 1 < len(lines):
        end += 1
    return end


def _joined(parts: list[str]) -> str:
    """Continued lines as IPython assembles them: each backslash dropped, the
    lines joined with a space (their own indentation kept)."""
    return " ".join([p.rstrip()[:-1] for p in parts[:-1]] + [parts[-1].rstrip()])


_SHELL_LANGUAGES = {"bash", "sh", "shell", "zsh", "ksh"}
# Interpreters whose script the bash rules can read.
_SHELLS = {"bash", "sh", "zsh", "ksh", "dash"}
# Cell magics whose body is Python run in the kernel (timed, captured, profiled).
_PY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"}
# Cell magics whose body is never run on the training host (rendered, or run by the browser).
_DATA_CELL_MAGICS = {"html", "markdown", "latex", "svg", "javascript", "js", "md"}
# Line magics that run the rest of the line in a shell (issue #16).
_SHELL_LINE_MAGIC = re.compile(r"^(!+|%(?:system|sx|sh|pip|conda|mamba|micromamba|uv)\b)(\s*)(.*)$")
_ASSIGN_SHELL = re.compile(
    r"^([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)(!+|%(?:system|sx)\b)(\s*)(.*)$"
)
_CODE_LINE_MAGIC = re.compile(r"^%(?:time|timeit|prun|debug)\b((?:\s+-\w+(?:\s+\d+)?)*)\s*(.*)$")
_ENV_MAGIC = re.compile(r"^%(?:env|set_env)\s+([A-Za-z_]\w*)(?:\s*=\s*|\s+)(.*)$")
# `name = %magic args` (IPython's MagicAssign); `= !cmd`/`%sx`: _ASSIGN_SHELL.
_ASSIGN_MAGIC = re.compile(r"^([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)(%\w.*)$")
# IPython's help syntax: `?obj`, `??obj`, `obj?`, `obj.attr??`, `%magic?`.
_HELP = re.compile(r"^(?:\?{1,2}\s*[%\w.*\[\]]+|%*[\w.*\[\]]+\s*\?{1,2})\s*$")
# A run-time field that is one name or a dotted chain of one: looking it up calls nothing.
_BARE = re.compile(r"[A-Za-z_]\w*(?:\.\w+)*")
# IPython's DollarFormatter (IPython/utils/text.py): `$name` is a Python value
# unless an odd number of single quotes follows it, `$$` a literal `$`. (Its
# regex tests the quotes with a lookahead per `$`; counted once here.)
_DOLLAR = re.compile(r"\$(\$?[\w.]+)")


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


def _subprocess_call(line: str) -> str:
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
        return mode, dest, f"_nb_file = open({dest!r}, {how!r})"
    if name in _PY_CELL_MAGICS or (name == "script" and args and "python" in args[0]):
        return "python", "", f"pass  # {line.strip()}"
    if name in _DATA_CELL_MAGICS:
        return "data", "", f"pass  # {line.strip()}"
    if name in ("bash", "sh", "zsh") or (
        name == "script" and args and args[0].rsplit("/", 1)[-1] in _SHELLS
    ):
        # ScriptMagics hand the body to the shell as written (no expansion).
        return "shell", "", f"pass  # {line.strip()}"
    if name in ("system", "!", "sx"):
        return "expand", "", f"pass  # {line.strip()}"
    if name in ("script", "perl", "ruby", "node"):
        # Any other interpreter runs the body as a subprocess: judged as one (fail closed).
        return "other", "", f"pass  # {line.strip()}"
    return ("shell" if shell_kernel else "python"), "", f"pass  # {line.strip()}"


def _find_line(raw_lines: list[str], src_line: str, start: int) -> int:
    for needle in (json.dumps(src_line)[1:-1], json.dumps(src_line, ensure_ascii=False)[1:-1]):
        for i in range(start, len(raw_lines)):
            if needle in raw_lines[i]:
                return i
    return start


def _unmagic(line: str) -> str:
    """A cell line as the Python it runs (its shell text: ``_unmagic_both``)."""
    return _unmagic_both(line)[0]


def _unmagic_both(
    line: str, bound: Callable[[str], bool] | None = None, consts: Consts | None = None
) -> tuple[str, str]:
    """A Python cell's line as (the Python it runs, the shell text it runs)."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    m = _SHELL_LINE_MAGIC.match(stripped)
    if m:
        cmd, at = _magic_command(m)
        return _escape(indent, "", cmd, len(indent) + at, bound, consts)
    m = _ASSIGN_SHELL.match(stripped)
    if m:
        # `files = !ls`, `out = %sx cmd` (issue #16): the command still runs.
        at = len(indent) + m.start(4)
        return _escape(indent, m.group(1), m.group(4), at, bound, consts)
    m = _ASSIGN_MAGIC.match(stripped)
    if m:
        # `t = %timeit -o expr`, `x = %pip list` (issue #16: a real notebook's
        # line was python-syntax-error): the magic runs as it would alone, its
        # result bound to the name.
        run, shell = _unmagic_both(indent + m.group(2), bound, consts)
        name = f"{indent}{m.group(1)}_tg_magic_output"
        if run.strip() == "pass" or run.lstrip().startswith("pass  #"):
            return name, shell
        return f"{run}; {name.lstrip()}", shell
    if _HELP.match(stripped):
        # `?obj`, `obj?`, `obj??`: IPython shows help, runs nothing (issue #16).
        return f"{indent}pass  # {stripped}", ""
    m = _CODE_LINE_MAGIC.match(stripped)
    if m and m.group(2):
        # `%time os.system(...)` runs its statement (issue #16): scan it as code.
        return f"{indent}{m.group(2)}", ""
    m = _ENV_MAGIC.match(stripped)
    if m:
        # A plain import, not __import__('os'): obfusc-string-built-lookup read
        # that as obfuscation on every harmless `%env CUDA_VISIBLE_DEVICES=0`
        # (issue #16), while rules on env writes (tamper-preload-env) did not
        # see it; an alias resolves to `os.environ` for them.
        name, value = m.group(1), m.group(2).strip()
        return f"{indent}import os as _tg_os; _tg_os.environ[{name!r}] = {value!r}", ""
    if stripped.startswith("%"):
        return f"{indent}pass  # {stripped}", ""
    return line, ""


def _magic_command(m: re.Match[str]) -> tuple[str, int]:
    """The shell command of a line magic (package managers keep their name)
    and the column it starts at in the stripped line (0-based)."""
    head = m.group(1)
    if head.startswith("!") or head in ("%system", "%sx", "%sh"):
        return m.group(3), m.start(3)
    # `%pip install x` runs `pip install x`: the name sits where it is written.
    return f"{head[1:]}{m.group(2)}{m.group(3)}".rstrip(), 1


def _escape(
    indent: str,
    assign: str,
    cmd: str,
    at: int,
    bound: Callable[[str], bool] | None = None,
    consts: Consts | None = None,
) -> tuple[str, str]:
    """A shell escape as (Python, shell text at the command's own column).

    Issue #16: a command IPython expands from Python values at run time
    (``{expr}``, ``$name``) is a shell call code builds: a subprocess call
    with shell=True, whose fields are the Python the kernel evaluates. Any
    other command is only shell text: Python sees a no-op (an assignment
    keeps its name bound). So is one whose fields are all constants the
    notebook sets (``consts``, ipyconst.py): the bash rules read it with
    their values put in, as IPython puts them in."""
    shell = " " * at + cmd
    fields = _run_time_fields(cmd, bound)
    text = _expanded(cmd, consts) if fields is not None and consts else None
    if text is not None:
        shell = " " * at + text
    if fields is None or text is not None:
        return (f"{indent}{assign}_tg_shell_output" if assign else f"{indent}pass"), shell
    parts = ", ".join(fields)
    call = f"__import__('subprocess').run(''.join([{parts}]), shell=True)"
    return f"{indent}{assign}{call}", shell


def _run_time_fields(cmd: str, bound: Callable[[str], bool] | None = None) -> list[str] | None:
    """The command as Python list items (literal text and ``str(expr)``) when
    IPython's var_expand builds it from Python values; None when it runs as written.

    IPython formats the command with the user namespace (FullEvalFormatter:
    every ``{field}`` is eval'd, DollarFormatter: ``$name``); if anything fails
    (a field that is no expression, ``awk '{print $1}'``, ``find -exec rm {}``)
    the command runs unexpanded. A field that parses is taken to run: the
    fields before a failing one did run. Issue #16 (``!mkdir -p ${ASSET_DIR}``,
    ``!echo $HOME``): when every field is a bare name (no call can run) and
    one of them is a name ``bound`` says the kernel cannot hold, its lookup
    fails and the shell gets the command as written."""
    try:
        parts = list(string.Formatter().parse(cmd))
    except ValueError:
        return None  # unbalanced braces: the formatter fails, the command runs as written
    items: list[str] = []
    exprs: list[str] = []
    code = False
    for literal, field, spec, _conv in parts:
        last = 0
        quotes = [i for i, c in enumerate(literal) if c == "'"]
        for m in _DOLLAR.finditer(literal):
            name = m.group(1)
            inside = (len(quotes) - bisect.bisect_left(quotes, m.end())) % 2
            if inside or name.startswith("$") or not _expression(name):
                continue
            items += [repr(literal[last : m.start()]), f"str({name})"]
            exprs.append(name)
            last, code = m.end(), True
        items.append(repr(literal[last:]))
        if field is None:
            continue
        expr = field + (":" + spec if spec else "")
        if _expression(expr):
            items.append(f"str({expr.strip()})")
            exprs.append(expr.strip())
            code = True
        else:
            items.append(repr("{" + expr + "}"))
    bare = code and bound is not None and all(_BARE.fullmatch(e) for e in exprs)
    if bare and bound is not None and any(not bound(e.split(".", 1)[0]) for e in exprs):
        return None
    return items if code else None


def _expression(text: str) -> bool:
    """A Python expression that is not a constant (``$1`` is the number 1)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return not isinstance(tree.body, ast.Constant)
