"""What semgrep scans for one blob: the bytes git holds, as the language that runs them.

Python, shell, ``.pth`` and notebook files, and (issue #16) the other places a
training repository keeps commands: IPython scripts, Makefiles, Dockerfiles and
templates (notebooks and IPython scripts: ipython.py).
Each target keeps the file's own line numbers (or a line map back to them) and
says why raw bytes cannot be judged as source (NUL bytes, not UTF-8, too large).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from traingate.change import Change, ChangedFile, is_binary
from traingate.checks.semgrep import runners

PY_EXT = {".py", ".pyi", ".pyw"}
# Issue #16: zsh/ksh launchers and batch-scheduler job scripts are shell too.
_SH_EXT = {".sh", ".bash", ".zsh", ".ksh", ".sbatch", ".slurm", ".pbs", ".lsf", ".qsub"}
# Files a shell sources by name: direnv's .envrc on `cd`, rc files a Dockerfile
# copies into a home directory (session 25 red team).
_SHELL_NAMES = frozenset(
    [".envrc", ".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zshenv"]
    + [".zprofile", ".kshrc"]
)
_SHEBANG = re.compile(rb"^#![^\n]*\b(python[0-9.]*|bash|sh|zsh|ksh|mksh|dash|ash)\b")
# The extensions a shell script's own target gets (a `#!` script without one:
# .sh): not a Makefile's, Dockerfile's, template's or notebook's bash target,
# whose text is put together from pieces of another language.
SCRIPT_EXT = frozenset({".sh", ".bash"} | {e + ".sh" for e in _SH_EXT})


@dataclass(frozen=True)
class Target:
    """One blob to scan, as semgrep will see it."""

    oid: str
    path: str  # the repository path reported to users
    ext: str  # the extension semgrep sees (.py for notebooks and .pth files)
    text: str  # what semgrep scans
    line_map: tuple[int, ...] | None = None  # scanned line -> line in the real file
    problem: str | None = None  # why the raw bytes cannot be judged as source (blocks)
    problem_line: int = 1  # the real file's line the problem is at
    skip: bool = False  # not given to semgrep or the Python parser (too large)
    region: str = ""  # sha256 of ``text`` when it is a changed-region cut (regions.py)
    # A file that holds ``text`` (then ""): a scan does not keep every text in
    # memory while semgrep runs (issue #17); read it back with content().
    spill: str = ""
    # Issue #16: a second text of the same blob in another language (a
    # notebook's or .ipy script's shell escapes as bash, ipython.py), scanned
    # as a target of its own and reported on this file.
    companion: Target | None = None

    @property
    def key(self) -> str:
        # The cache keys by content: a cut of a blob is not the blob (issue #17).
        return f"{self.oid}{self.ext}" + (f"#{self.region}" if self.region else "")

    def content(self) -> str:
        """What semgrep scans, from memory or from the spill file."""
        if not self.spill:
            return self.text
        # newline="": a \r or \r\n is the file's own, not a line end to translate.
        with open(self.spill, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return fh.read()


def spill(t: Target, path: Path) -> Target:
    """``t`` with its text written to ``path`` (as the runner writes a target)
    and released from memory."""
    path.write_text(t.text, encoding="utf-8", errors="surrogateescape", newline="")
    return replace(t, text="", spill=str(path))


def is_python(t: Target) -> bool:
    """Scanned as Python (notebooks, .pth files and Python templates too)."""
    return t.ext.endswith(".py") or t.ext in PY_EXT


def target(change: Change, f: ChangedFile, *, new: bool, limit: int) -> Target | None:
    path = f.new_path if new else f.old_path
    oid = f.new_oid if new else f.old_oid
    mode = f.new_mode if new else f.old_mode
    if path is None or oid is None or mode is None or not mode.startswith("100"):
        return None
    ext = os.path.splitext(path)[1].lower()
    # Issue #16: Makefiles, Dockerfiles and Jinja templates hold shell or Python too.
    surface = _surface_kind(path)
    if surface is None and ext in (".yaml", ".yml", ".json"):
        # Issue #16: a Kubernetes Job's command, a launcher's setup lines.
        from traingate.checks.semgrep.commands import config_target

        data = change.read(oid)
        if data is None or len(data) > limit:
            return None
        found = config_target(oid, path, ext, data, limit)
        found = None if found is None else _with_inline_python(found, found.text)
        # Session 27: a chat or run-name template in the config is code when
        # rendered; its escapes are a Python target (templatecode.py).
        return _with_template_code(found, oid, path, data)
    if surface is None and ext not in PY_EXT | _SH_EXT | {".pth", ".ipynb", ".ipy", ""}:
        return None
    data = change.read(oid)
    if data is None:
        return None
    problem = None
    if is_binary(data):
        if (ext == "" and surface is None and not _runs_despite_nul(data)) or (
            ext == ".pth" and data.startswith((b"PK\x03\x04", b"\x80"))
        ):
            # No script: a binary without an extension, or (issue #16) a torch
            # checkpoint .pth (zip or pickle by content), which checks/artifacts judges.
            return None
        # A "script" with NUL bytes: no interpreter runs it as is, and no scanner
        # can judge it; an attacker can use that to hide a payload (issue #8).
        problem = "contains NUL bytes; it is not valid source and cannot be checked"
        data = data.replace(b"\0", b"")
    elif b"\0" in data and (surface is not None or ext == "" or ext in _SH_EXT):
        # Issue #16: shells drop NUL bytes past git's sniff window and run the rest.
        problem = "contains NUL bytes; it is not valid source and cannot be checked"
        data = data.replace(b"\0", b"")
    if ext == "" and surface is None:
        m = _SHEBANG.match(data)
        if m:
            ext = ".py" if m.group(1).startswith(b"python") else ".sh"
        elif path.rsplit("/", 1)[-1] in _SHELL_NAMES:
            ext = ".sh"  # sourced by a shell, no #! line needed (session 25)
        else:
            return None
    # Issue #16: a notebook's size is mostly its outputs (plots, widget state:
    # real tutorials of 4-9 MB hold under 100 KB of code); the limit is on the
    # code semgrep reads. Its JSON, parsed once, is capped at _NOTEBOOK_JSON x.
    notebook = ext == ".ipynb" and len(data) <= limit * _NOTEBOOK_JSON
    if len(data) > limit and not notebook:
        return _too_large(oid, path, ext, len(data), limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", "replace")
        problem = (
            problem or f"is not valid UTF-8 (byte {exc.start}); it cannot be checked as written"
        )
    decoded = None
    if ext in PY_EXT:
        from traingate.checks.unicode.cookie import decode_python

        decoded = decode_python(data)
    if decoded is not None:
        # A PEP 263 cookie: scan what CPython compiles, mapped back to git's
        # lines (unicode-encoding-cookie blocks the file as well).
        return Target(oid, path, ext, decoded[0], line_map=decoded[1], problem=problem)
    if surface is not None:
        found = _surface_target(oid, path, surface, text)
        if found is None:
            return None
        out = found
    elif ext == ".ipynb":
        out = _notebook(oid, path, text)
        size = len(out.text) + len(out.companion.text if out.companion else "")
        if size > limit:
            return _too_large(oid, path, ext, size, limit, " of code cells")
    elif ext == ".ipy":
        out = _ipython_script(oid, path, text)
    elif ext == ".pth":
        # site.py executes only lines that start with "import"; the rest are paths.
        lines = [ln if ln.startswith(("import ", "import\t")) else "" for ln in _pth_lines(text)]
        out = Target(oid, path, ".pth.py", "\n".join(lines) + "\n")
    elif ext in _SH_EXT - {".sh", ".bash"}:
        # semgrep picks bash by .sh/.bash only; .zsh, .sbatch, ... are shell too (issue #16).
        out = Target(oid, path, ext + ".sh", text)
    else:
        out = Target(oid, path, ext, text)
    out = _with_inline_python(out, text)
    return replace(out, problem=problem) if problem else out


def _with_inline_python(out: Target, raw: str) -> Target:
    """A shell target's ``python -c`` and ``python - <<EOF`` code as its Python
    companion (session 27, inlinepy.py); the raw text too, for a Dockerfile's
    heredoc that its shell target leaves out."""
    if not out.ext.endswith(".sh") or "python" not in raw.lower():
        return out
    from traingate.checks.semgrep.inlinepy import inline_python

    code = inline_python(out.text, raw)
    if code is None:
        return out
    return add_companion(out, Target(out.oid, out.path, out.ext + ".py", code, out.line_map))


_EOL = re.compile(r"\r\n|\r|\n")
# A notebook's JSON is read up to this many times max_file_bytes (issue #16).
_NOTEBOOK_JSON = 16


def _too_large(oid: str, path: str, ext: str, size: int, limit: int, what: str = "") -> Target:
    # semgrep's time on one huge file (a 50 MB single line took over five
    # minutes) would only end in the overall timeout; say why at once (issue #8).
    return Target(
        oid,
        path,
        ext,
        "",
        problem=f"is {size:,} bytes{what}, more than checks.semgrep.max_file_bytes "
        f"({limit:,}); a file too large to check is blocked",
        skip=True,
    )


def _pth_lines(text: str) -> list[str]:
    """The lines site.py reads (a text file: \\n, \\r\\n, \\r end them). Not
    str.splitlines: it also ends a line at \\x0c, which Python reads as a space,
    so ``import os\\x0c;os.system(...)`` runs whole but was scanned as two lines
    whose second, not starting with "import", was dropped (issue #16)."""
    lines = _EOL.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _notebook(oid: str, path: str, raw: str) -> Target:
    """Code cells as one Python file (ipython.py)."""
    from traingate.checks.semgrep.ipython import notebook

    return notebook(oid, path, raw)


def _ipython_script(oid: str, path: str, raw: str) -> Target:
    """An IPython script as one notebook code cell (ipython.py, issue #16)."""
    from traingate.checks.semgrep.ipython import ipython_script

    return ipython_script(oid, path, raw)


# Issue #16: executable surfaces beyond .py/.sh files. Each becomes a bash (or
# Python) target whose lines are the file's own lines, so findings need no map.
# `.tmpl`/`.tpl`/`.template`: the other names templates go by (Go, Helm,
# copier, a project's own sweep renderer); the inner suffix says what renders.
_TEMPLATE_EXT = (".j2", ".jinja", ".jinja2", ".tmpl", ".tpl", ".template")
_DOCKER_NAMES = ("dockerfile", "containerfile")
_MAKE_NAMES = ("makefile", "gnumakefile", "bsdmakefile")
# bash's check_binary_file (general.c, bash 5.1+): a script is "binary" only if
# it is ELF, or a NUL byte sits in its first line (first two with a #! line)
# within the first 80 bytes it reads; any other NUL is dropped and the rest runs.
_BASH_SAMPLE = 80


def _surface_kind(path: str) -> str | None:
    """'make', 'docker', or 'template:<inner kind or extension>', else None."""
    name = path.rsplit("/", 1)[-1].lower()
    for t in _TEMPLATE_EXT:
        if name.endswith(t) and len(name) > len(t):
            inner = name[: -len(t)]
            return "template:" + (_surface_kind(inner) or os.path.splitext(inner)[1])
    if name in _MAKE_NAMES or name.endswith(".mk"):
        return "make"
    if name in runners.JUST_NAMES or name.endswith(".just"):
        return "just"
    if name in runners.TOX_NAMES:
        return "tox"
    stem, _, suffix = name.partition(".")
    if name.endswith(tuple("." + d for d in _DOCKER_NAMES)) or (
        stem in _DOCKER_NAMES and suffix not in ("md", "txt", "rst", "dockerignore")
    ):
        return "docker"
    return None


def _runs_despite_nul(data: bytes) -> bool:
    """A file with NUL bytes that a shell still runs: a shell #! line, and for
    bash no NUL where check_binary_file looks (dash and zsh look nowhere).
    Python refuses any NUL, but a python #! file with one blocks like a .py."""
    m = _SHEBANG.match(data)
    if not m:
        return False
    if m.group(1) != b"bash":
        return True
    sample = data[:_BASH_SAMPLE]
    if sample.startswith(b"\x7fELF"):
        return False
    first_lines = sample.split(b"\n", 2)[:2]  # the #! line and the next
    return b"\0" not in b"\n".join(first_lines)


def _surface_target(oid: str, path: str, kind: str, text: str) -> Target | None:
    if kind == "make":
        return Target(oid, path, ".mk.sh", _makefile(text))
    if kind == "docker":
        return Target(oid, path, ".dockerfile.sh", _dockerfile(text))
    if kind == "just":
        return Target(oid, path, ".just.sh", runners.justfile(text))
    if kind == "tox":
        return Target(oid, path, ".tox.sh", runners.tox_ini(text))
    inner = kind.removeprefix("template:")
    # Session 27: _unjinja blanks the tags, where a sandbox escape would sit.
    code = _template_code_target(oid, path, text)
    text = _unjinja(text)
    if inner in ("make", "docker"):
        found = _surface_target(oid, path, inner, text)
        return code if found is None else replace(found, ext=".j2" + found.ext, companion=code)
    if inner == "":
        m = _SHEBANG.match(text.encode("utf-8", "surrogateescape"))
        if not m:
            return code
        inner = ".py" if m.group(1).startswith(b"python") else ".sh"
    if inner in PY_EXT:
        return Target(oid, path, ".j2.py", text, companion=code)
    if inner in _SH_EXT:
        return Target(oid, path, ".j2.sh", text, companion=code)
    # A template of a config or document (a prompt file): not code, but its
    # tags are when rendered.
    return code


def _template_code_target(oid: str, path: str, text: str, config: bool = False) -> Target | None:
    """The template expressions of ``text`` (a template, or with ``config`` a
    YAML/JSON config's strings) that name a sandbox escape, as a Python target
    of their own (templatecode.py), or None."""
    from traingate.checks.semgrep.templatecode import config_template_code, template_code

    found = config_template_code(text) if config else template_code(text)
    return None if found is None else Target(oid, path, ".tplcode.py", found)


def _with_template_code(found: Target | None, oid: str, path: str, data: bytes) -> Target | None:
    """A config's command target (or None) with its template escapes added:
    as its companion, or as the target when the config runs no command."""
    from traingate.checks.config.decode import sniff

    try:
        text = data.decode(sniff(data))
    except UnicodeDecodeError:
        return found
    code = _template_code_target(oid, path, text, config=True)
    if code is None or found is None:
        return found or code
    return add_companion(found, code)


def add_companion(t: Target, extra: Target) -> Target:
    """``t`` with ``extra`` at the end of its companion chain (a config's
    commands can hold inline Python and template escapes both)."""
    if t.companion is None:
        return replace(t, companion=extra)
    return replace(t, companion=add_companion(t.companion, extra))


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def _unjinja(text: str) -> str:
    """Jinja tags as placeholders of the same length, newlines kept: an
    expression becomes an identifier (``____``), a statement or comment
    blanks, so lines and columns stay those of the template."""

    def sub(m: re.Match[str]) -> str:
        fill = "_" if m.group(0).startswith("{{") else " "
        return "".join(c if c == "\n" else fill for c in m.group(0))

    return _JINJA.sub(sub, text)


_RECIPE_PREFIX = re.compile(r"^\s*\.RECIPEPREFIX\s*[:+?]?=\s*(\S)?", re.M)
_MAKE_RULE = re.compile(r"^[^\s#=:][^=#]*?:(?!=)")
_MAKE_AUTO_VAR = re.compile(r"\$([<^+|%])")


def _makefile(text: str) -> str:
    """Recipe lines (and $(shell ...) calls) as bash, other lines blank.

    make hands each recipe line, continuation lines included, to /bin/sh after
    removing the recipe prefix and the @/-/+ flags; `$$` is a literal `$`."""
    m = _RECIPE_PREFIX.search(text)
    prefix = (m.group(1) or "\t") if m else "\t"
    out: list[str] = []
    in_rule = continued = False
    for line in text.split("\n"):
        body = None
        flagged = not continued  # @/-/+ only lead a recipe line, not its continuation
        if continued or (in_rule and line.startswith(prefix)):
            body = line[len(prefix) :] if line.startswith(prefix) else line
            body = " " * (len(line) - len(body)) + body
        elif _MAKE_RULE.match(line):
            in_rule = True
            head, sep, recipe = line.partition(";")
            if sep:  # `target: deps ; recipe`
                body = " " * (len(head) + 1) + recipe
        elif line.strip() and not line.lstrip().startswith("#"):
            in_rule = line.startswith((" ", "\t")) and in_rule
        if body is not None:
            stripped = body.lstrip(" \t")
            lead = len(body) - len(stripped)
            flags = len(stripped) - len(stripped.lstrip("@-+")) if flagged else 0
            body = " " * (lead + flags) + stripped[flags:]
            body = _MAKE_AUTO_VAR.sub("$_", body.replace("$$", " $"))
            continued = body.endswith("\\")
            out.append(body)
        else:
            continued = False
            out.append(_make_shell_calls(line))
    return "\n".join(out)


def _make_shell_calls(line: str) -> str:
    """`$(shell cmd)` in a variable or directive runs cmd when make reads the file."""
    out = [" "] * len(line)
    i = line.find("$(shell ")
    while i >= 0:
        depth, j = 1, i + 2
        while j < len(line) and depth:
            depth += {"(": 1, ")": -1}.get(line[j], 0)
            j += 1
        start = i + len("$(shell ")
        out[start : j - 1] = line[start : j - 1].replace("$$", " $")
        i = line.find("$(shell ", j)
    return "".join(out).rstrip() if "$(shell " in line else ""


_DOCKER_INSTR = re.compile(r"^(\s*)(?:(onbuild)\s+)?([a-z]+)(\s+)", re.I)
_DOCKER_SHELL = {"run", "cmd", "entrypoint", "healthcheck"}
_DOCKER_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S)", re.I)


def _dockerfile(text: str) -> str:
    """RUN/CMD/ENTRYPOINT bodies as the one shell line Docker runs, on the
    instruction's first line (continuations joined, comment lines inside them
    dropped as Docker drops them); ENV/ARG as exports; ADD and COPY verbatim
    (an `ADD <url>` rule reads them); heredoc bodies as the script they are."""
    lines = text.split("\n")
    esc = "\\"
    for ln in lines[:5]:
        m = _DOCKER_ESCAPE.match(ln)
        if m:
            esc = m.group(1)
    out = [""] * len(lines)
    i = 0
    while i < len(lines):
        m = _DOCKER_INSTR.match(lines[i])
        if not m or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        first = i
        parts: list[str] = []
        cur = lines[i][m.end() :]
        while cur.rstrip().endswith(esc) and i + 1 < len(lines):
            parts.append(cur.rstrip()[: -len(esc)])
            i += 1
            while i + 1 < len(lines) and (
                lines[i].lstrip().startswith("#") or not lines[i].strip()
            ):
                i += 1
            cur = lines[i]
        parts.append(cur)
        body = "".join(parts)
        word = m.group(3).lower()
        pad = " " * m.end()
        heredoc = re.match(r"^((?:--\S+\s+)*)(\S*\s*)<<-?\s*['\"]?(\w+)['\"]?\s*$", body)
        if word in _DOCKER_SHELL and heredoc:
            end = heredoc.group(3)
            j = i + 1
            while j < len(lines) and lines[j].strip() != end:
                out[j] = lines[j]
                j += 1
            out[first] = pad + heredoc.group(2)
            i = j + 1
            continue
        if word in _DOCKER_SHELL:
            body = re.sub(r"^(\s*--\S+)+\s", lambda x: " " * len(x.group(0)), body)
            if word == "healthcheck":
                body = re.sub(r"^.*?\bCMD\b", "", body, flags=re.I)
            out[first] = pad + _docker_exec_form(body)
        elif word in ("env", "arg"):
            out[first] = pad + _docker_env(body)
        elif word in ("add", "copy"):
            out[first] = m.group(1) + m.group(3).upper() + m.group(4) + body
        i += 1
    return "\n".join(out)


def _docker_exec_form(body: str) -> str:
    """`["sh", "-c", "cmd"]` as the shell words it runs; shell form as is."""
    if body.lstrip().startswith("["):
        try:
            words = json.loads(body)
        except ValueError:
            return body
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            import shlex

            return shlex.join(words)
    return body


def _docker_env(body: str) -> str:
    """`ENV K=V K2=V2` / `ENV K V` / `ARG K=V` as an `export` line."""
    body = body.strip()
    first = body.split(None, 1)
    if first and "=" not in first[0] and len(first) == 2:
        import shlex

        return f"export {first[0]}={shlex.quote(first[1])}"
    return f"export {body}" if body else ""
