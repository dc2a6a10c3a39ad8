"""Injected-code detection with semgrep and the traingate rule pack.

How it stays honest (issue #3):
- semgrep runs once per phase over blobs materialized into a temp tree, with
  ``--metrics=off --disable-version-check --disable-nosem``, local rules only,
  explicit targets (so semgrep's default ignore list, which skips ``tests/``,
  and any ``.semgrepignore`` in the change do not apply), per-file time and
  memory limits whose every hit is reported and blocks (issue #17), and an
  overall timeout, scaled with the bytes scanned, that blocks;
- a file semgrep cannot parse, skips, or times out on is a blocking finding:
  attackers craft unparseable code to hide;
- results are cached by (rule pack hash, semgrep version, blob id), so a
  re-check of unchanged content starts no semgrep at all;
- in ``check`` a finding counts when it is new: present in the head version and
  not in the base version (same rule, same normalized code), wherever it sits.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from traingate.catalog import Rule, declare
from traingate.change import Change, ChangedFile, Status, is_binary
from traingate.checks.base import Context
from traingate.errors import CheckError
from traingate.findings import Finding
from traingate.policy.model import SemgrepSettings, Severity

ID = "semgrep"
DESCRIPTION = "The traingate semgrep rule pack (and the policy's own rule dirs) on changed code."

# The check's own rules; the pack's rules are declared by their YAML files.
RULES = declare(
    ID,
    [
        Rule(
            "semgrep-parse-error",
            Severity.ERROR,
            "semgrep cannot parse a file in a checked path",
            category="scanner",
        ),
        Rule(
            "semgrep-skipped",
            Severity.ERROR,
            "semgrep did not scan a file it was given",
            category="scanner",
        ),
        Rule(
            "semgrep-incomplete",
            Severity.ERROR,
            "semgrep gave up on a file (timeout, memory)",
            category="scanner",
        ),
        Rule(
            "python-syntax-error",
            Severity.ERROR,
            "CPython's own parser rejects a Python file (Python 2, broken code)",
            category="scanner",
        ),
        Rule(
            "source-unreadable",
            Severity.ERROR,
            "a file has NUL bytes, is not UTF-8, or is larger than max_file_bytes",
            category="scanner",
        ),
    ],
)

CACHE_VERSION = "1"
_PY_EXT = {".py", ".pyi", ".pyw"}
# Issue #16: zsh/ksh launchers and batch-scheduler job scripts are shell too.
_SH_EXT = {".sh", ".bash", ".zsh", ".ksh", ".sbatch", ".slurm", ".pbs", ".lsf", ".qsub"}
_SHEBANG = re.compile(rb"^#![^\n]*\b(python[0-9.]*|bash|sh|zsh|ksh|mksh|dash|ash)\b")
_PARSE_ERROR_TYPES = ("Syntax error", "PartialParsing", "Lexical error", "Other syntax error")


# Bytes of target names past which semgrep scans the temp dir instead (ARG_MAX).
MAX_ARGV_NAMES = 100_000
# Base versions above this many (uncached) go to a second, small semgrep run
# with only the bases a head hit can be in and only those hits' rules. Measured
# on 2 cores with osemgrep (docs/performance.md): riding along costs ~0.03 s
# wall per base; a second start with a few rules ~0.2-0.3 s. On the bench's
# 20-file range the second run takes 1.5 s in all, riding along 2.0 s.
SECOND_RUN_FILES = 8
# semgrep's OCaml CLI skips the Python CLI's ~6 s of start-up and rule loading;
# both hand the same rules and targets to the same semgrep-core matcher.
_ENGINE_FLAGS = {"osemgrep": ("--experimental",), "pysemgrep": ()}

# Limits per unit of work (issue #17). semgrep's --timeout bounds one rule on
# one file; a file that hits it (or --max-memory) is reported in the JSON
# `errors` with its path, which _parse turns into a blocking
# `semgrep-incomplete` finding naming the file and rule: never a silent pass.
# The per-rule limit scales with the largest file of its run: the costliest
# rule took ~0.01 s per KB on the large-file corpus (docs/performance.md), so
# this leaves a 10x margin. After TIMEOUT_THRESHOLD timeouts semgrep gives up
# on the file (it still blocks) instead of spending that much on every rule.
RULE_TIMEOUT_BASE_S = 10.0
RULE_TIMEOUT_PER_KB_S = 0.1
TIMEOUT_THRESHOLD = 3
MAX_MEMORY_MB = 1000  # per semgrep-core process and file; more is reported and blocks
# The overall limit grows with the change: checks.semgrep.timeout plus this
# much per MB scanned (the large-file corpus costs ~2 CPU s per MB after the
# issue #17 rewrites; 60 s per MB is a backstop, not the expected time).
OVERALL_S_PER_MB = 60.0
# Past this many bytes or files, the targets are split into batches by size,
# each one semgrep process with one job, usable_cpus() of them at a time: a
# process's memory is bounded by its batch (semgrep-core's heap grew through
# a whole-corpus run to 1.5 GB), files of one size share a per-rule timeout,
# and finished batches give progress. Below it, one process keeps the fast
# start that small changes need.
BATCH_BYTES = 3_000_000
BATCH_FILES = 400
# How osemgrep names a broken rule in its error messages (by id, not file).
_RULE_IN_ERROR = re.compile(r"\bin rule ([\w.\-]+)")


@dataclass(frozen=True)
class Target:
    """One blob to scan, as semgrep will see it."""

    oid: str
    path: str  # the repository path reported to users
    ext: str  # the extension semgrep sees (.py for notebooks and .pth files)
    text: str  # what semgrep scans
    line_map: tuple[int, ...] | None = None  # scanned line -> line in the real file
    problem: str | None = None  # why the raw bytes cannot be judged as source (blocks)
    skip: bool = False  # not given to semgrep or the Python parser (too large)

    @property
    def key(self) -> str:
        return f"{self.oid}{self.ext}"


@dataclass(frozen=True)
class Hit:
    rule: str
    severity: str
    message: str
    category: str | None
    line: int
    column: int
    end_line: int
    end_column: int
    norm: str  # whitespace-normalized matched code: identity across versions
    parse_error: bool = False


def run(ctx: Context) -> list[Finding]:
    settings = ctx.settings
    assert isinstance(settings, SemgrepSettings)
    pack = RulePack.load(ctx, settings)
    engine = Engine(pack, settings, ctx.cache_dir)
    pairs: list[tuple[Target, Target | None, ChangedFile]] = []
    for f in ctx.files:
        head = _target(ctx.change, f, new=True, limit=settings.max_file_bytes)
        if head is None:
            continue
        base = None
        if not ctx.scan_all and f.status is not Status.ADDED:
            base = _target(ctx.change, f, new=False, limit=settings.max_file_bytes)
        pairs.append((head, base, f))
    hits = _scan_pairs(engine, pairs)
    findings: list[Finding] = []
    for head, base, f in pairs:
        head_hits = list(hits.get(head.key, ()))
        syntax = _python_syntax(head)
        if syntax is not None:
            head_hits.append(syntax)
        if head.problem is not None:
            head_hits.append(_error_hit("source-unreadable", f"this file {head.problem}"))
        base_hits = hits.get(base.key, []) if base is not None else []
        new = _new_hits(head_hits, base_hits, set(f.added_lines), ctx.scan_all)
        findings.extend(_finding(head, h) for h in new)
    return findings


def _scan_pairs(
    engine: Engine, pairs: list[tuple[Target, Target | None, ChangedFile]]
) -> dict[str, list[Hit]]:
    """Hits of every head version and of the base versions that can matter.

    Small changes: one semgrep process for head and base versions alike, as
    start-up and rule loading cost about as much as scanning SECOND_RUN_FILES
    files. Larger ones: heads first, then only the bases that can hold one of a
    head hit's (rule, code) pairs, with only those rules: a base whose text
    lacks the hit's code cannot have it, so its hits are not needed to call the
    head hit new (issues #3 and #9).
    """
    heads = [h for h, _, _ in pairs if not h.skip]
    bases = [b for _, b, _ in pairs if b is not None and not b.skip]
    missing = {b.key for b in engine.misses(bases)}
    if len(missing) <= SECOND_RUN_FILES:
        return engine.scan(heads + bases)
    # Cached bases are answered with the heads (no semgrep work for them).
    hits = engine.scan(heads + [b for b in bases if b.key not in missing])
    needed: list[Target] = []
    rules: set[str] = set()
    for h, b, _ in pairs:
        if b is None or b.key in hits:
            continue
        shared = _shared_rules(hits.get(h.key, ()), b)
        if shared:
            needed.append(b)
            rules |= shared
    # Only the rules of those head hits: a base hit of any other rule cannot
    # make a head hit old, and loading 3 rules instead of the pack is most of
    # what a second semgrep start costs.
    hits.update(engine.scan_with_rules(needed, rules))
    return hits


def _shared_rules(head_hits: Iterable[Hit], base: Target | None) -> set[str]:
    """Rules of the head hits whose (normalized) code the base text contains."""
    if base is None or base.skip:
        return set()
    hits = [h for h in head_hits if not h.parse_error]
    if not hits:
        return set()
    text = " ".join(base.text.split())
    return {h.rule for h in hits if h.norm in text}


def _python_syntax(t: Target) -> Hit | None:
    """CPython's own parser (ast.parse never runs code): semgrep accepts some
    code CPython rejects (Python 2 prints), and we block what we cannot judge."""
    if t.skip or (not t.ext.endswith(".py") and t.ext not in _PY_EXT):
        return None
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(t.text, filename=t.path)
    except SyntaxError as exc:
        line = exc.lineno or 1
        where = f"line {line}" + (f", column {exc.offset}" if exc.offset else "")
        return _error_hit(
            "python-syntax-error",
            f"not valid Python {sys.version_info[0]}.{sys.version_info[1]} ({exc.msg} at {where}); "
            "code the gate cannot parse is blocked",
            line,
        )
    except (ValueError, RecursionError, MemoryError) as exc:
        return _error_hit(
            "python-syntax-error", f"Python cannot parse this file: {type(exc).__name__}"
        )
    return None


def _new_hits(head: list[Hit], base: list[Hit], added: set[int], scan_all: bool) -> list[Hit]:
    """Hits of the head version that the base version does not have."""
    if scan_all or not base:
        return head
    have = Counter((h.rule, h.norm) for h in base)
    count = Counter((h.rule, h.norm) for h in head)
    out = []
    # Where the head has more copies than the base, attribute the surplus to
    # hits on added lines first (a copy pasted into a new place is the new one).
    for h in sorted(head, key=lambda h: h.line not in added):
        key = (h.rule, h.norm)
        if h.parse_error or count[key] > have[key]:
            out.append(h)
            count[key] -= 1
    return out


def _finding(t: Target, h: Hit) -> Finding:
    line, end_line = h.line, h.end_line
    if t.line_map is not None:
        line = t.line_map[min(line, len(t.line_map)) - 1]
        end_line = t.line_map[min(end_line, len(t.line_map)) - 1]
    sev = {"ERROR": Severity.ERROR, "WARNING": Severity.WARNING}.get(h.severity, Severity.INFO)
    return Finding(
        path=t.path,
        line=line,
        column=h.column,
        end_line=end_line,
        end_column=h.end_column,
        check=ID,
        rule_id=h.rule,
        severity=sev,
        message=h.message.strip(),
        category=h.category,
        help=None if h.parse_error else f"see docs/rules/{h.rule}.md",
        snippet=h.norm[:200],
    )


# --- targets -------------------------------------------------------------


def _target(change: Change, f: ChangedFile, *, new: bool, limit: int) -> Target | None:
    path = f.new_path if new else f.old_path
    oid = f.new_oid if new else f.old_oid
    mode = f.new_mode if new else f.old_mode
    if path is None or oid is None or mode is None or not mode.startswith("100"):
        return None
    ext = os.path.splitext(path)[1].lower()
    # Issue #16: Makefiles, Dockerfiles and Jinja templates hold shell or Python too.
    surface = _surface_kind(path)
    if surface is None and ext not in _PY_EXT | _SH_EXT | {".pth", ".ipynb", ""}:
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
        if not m:
            return None
        ext = ".py" if m.group(1).startswith(b"python") else ".sh"
    if len(data) > limit:
        # semgrep's time on one huge file (a 50 MB single line took over five
        # minutes) would only end in the overall timeout; say why at once (issue #8).
        return Target(
            oid,
            path,
            ext,
            "",
            problem=f"is {len(data):,} bytes, more than checks.semgrep.max_file_bytes "
            f"({limit:,}); a file too large to check is blocked",
            skip=True,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", "replace")
        problem = (
            problem or f"is not valid UTF-8 (byte {exc.start}); it cannot be checked as written"
        )
    decoded = None
    if ext in _PY_EXT:
        from traingate.unicode_scan import decode_python

        decoded = decode_python(data)
    if decoded is not None:
        # A PEP 263 cookie: scan what CPython compiles, mapped back to git's
        # lines (unicode-encoding-cookie blocks the file as well).
        return Target(oid, path, ext, decoded[0], line_map=decoded[1], problem=problem)
    if surface is not None:
        found = _surface_target(oid, path, surface, text)
        if found is None:
            return None
        target = found
    elif ext == ".ipynb":
        target = _notebook(oid, path, text)
    elif ext == ".pth":
        # site.py executes only lines that start with "import"; the rest are paths.
        lines = [ln if ln.startswith(("import ", "import\t")) else "" for ln in text.splitlines()]
        target = Target(oid, path, ".pth.py", "\n".join(lines) + "\n")
    elif ext in _SH_EXT - {".sh", ".bash"}:
        # semgrep picks bash by .sh/.bash only; .zsh, .sbatch, ... are shell too (issue #16).
        target = Target(oid, path, ext + ".sh", text)
    else:
        target = Target(oid, path, ext, text)
    return replace(target, problem=problem) if problem else target


def _notebook(oid: str, path: str, raw: str) -> Target:
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
        mode = "shell" if shell_kernel else "python"
        dest = ""
        for i, ln in enumerate(text.splitlines()):
            cursor = _find_line(raw_lines, ln, cursor)
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
            line_map.append(cursor + 1)
        out.append("")
        line_map.append(cursor + 1)
    return Target(oid, path, ".ipynb.py", "\n".join(out) + "\n", tuple(line_map) or (1,))


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
        return f"{indent}__import__('os').environ[{m.group(1)!r}] = {m.group(2).strip()!r}"
    if stripped.startswith("%"):
        return f"{indent}pass  # {stripped}"
    return line


def _magic_command(m: re.Match[str]) -> str:
    """The shell command of a line magic: package managers keep their name."""
    head = m.group(1)
    if head.startswith("!") or head in ("%system", "%sx", "%sh"):
        return m.group(2)
    return f"{head[1:]} {m.group(2)}".strip()


# Issue #16: executable surfaces beyond .py/.sh files. Each becomes a bash (or
# Python) target whose lines are the file's own lines, so findings need no map.
_TEMPLATE_EXT = (".j2", ".jinja", ".jinja2")
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
    inner = kind.removeprefix("template:")
    text = _unjinja(text)
    if inner in ("make", "docker"):
        found = _surface_target(oid, path, inner, text)
        return None if found is None else replace(found, ext=".j2" + found.ext)
    if inner == "":
        m = _SHEBANG.match(text.encode("utf-8", "surrogateescape"))
        if not m:
            return None
        inner = ".py" if m.group(1).startswith(b"python") else ".sh"
    if inner in _PY_EXT:
        return Target(oid, path, ".j2.py", text)
    if inner in _SH_EXT:
        return Target(oid, path, ".j2.sh", text)
    return None  # a template of a config or document: not code


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


# --- rule pack -------------------------------------------------------------


@dataclass(frozen=True)
class RulePack:
    dirs: tuple[Path, ...]
    digest: str
    _tmp: Any = None  # keeps a materialized temp dir alive
    origins: tuple[tuple[str, str], ...] = ()  # materialized file -> "path@rev"
    builtin: Path | None = None  # the shipped pack's directory, when used

    @staticmethod
    def shipped() -> Path:
        from traingate.policy.load import data_dir

        return data_dir() / "rules"

    def files_for(self, rules: set[str]) -> list[Path]:
        """Rule files that can define ``rules``: a shipped rule lives in
        ``<id>.yaml`` (tested); custom directories are taken whole."""
        out: list[Path] = []
        for d in self.dirs:
            if d == self.builtin:
                out += [p for p in sorted(d.rglob("*.yaml")) if p.stem in rules]
            else:
                out.append(d)
        return out

    def explain(self, text: str) -> str:
        """Name the repository file behind a materialized rule file in a message.
        osemgrep names only the rule ("Rule parse error in rule ID"), so the
        file that defines that id is added."""
        for rule_id in dict.fromkeys(_RULE_IN_ERROR.findall(text)):
            where = self.file_defining(rule_id)
            if where is not None and str(where) not in text:
                text = text.replace(f"in rule {rule_id}", f"in rule {rule_id} ({where})", 1)
        for tmp, origin in self.origins:
            text = text.replace(tmp, origin)
        return text

    def file_defining(self, rule_id: str) -> Path | None:
        pattern = re.compile(
            rf"^[ \t-]*id:[ \t]*['\"]?{re.escape(rule_id)}['\"]?[ \t]*(#.*)?$", re.M
        )
        for d in self.dirs:
            for p in sorted(d.rglob("*")):
                if (
                    p.suffix in (".yaml", ".yml")
                    and p.is_file()
                    and pattern.search(p.read_text(encoding="utf-8", errors="replace"))
                ):
                    return p
        return None

    @classmethod
    def load(cls, ctx: Context, settings: SemgrepSettings) -> RulePack:
        from traingate.policy.load import data_dir

        dirs: list[Path] = []
        origins: list[tuple[str, str]] = []
        tmp = None
        if settings.builtin_rules:
            dirs.append(data_dir() / "rules")
        if settings.rule_dirs:
            tmp = tempfile.TemporaryDirectory(prefix="traingate-rules-")
            dirs.extend(_custom_dirs(ctx, settings.rule_dirs, Path(tmp.name), origins))
        if not dirs:
            raise CheckError(
                "the semgrep check is enabled but has no rules", help="set builtin_rules: true"
            )
        h = hashlib.sha256(CACHE_VERSION.encode())
        for d in dirs:
            for p in sorted(d.rglob("*")):
                if p.suffix in (".yaml", ".yml") and p.is_file():
                    h.update(p.relative_to(d).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
        builtin = cls.shipped() if settings.builtin_rules else None
        return cls(tuple(dirs), h.hexdigest(), tmp, tuple(origins), builtin)


def _custom_dirs(
    ctx: Context, rule_dirs: Sequence[str], into: Path, origins: list[tuple[str, str]]
) -> list[Path]:
    """Custom rule dirs come from the trusted base revision, not the change."""
    from traingate import git

    out = []
    for i, rel in enumerate(rule_dirs):
        dest = into / str(i)
        dest.mkdir(parents=True)
        rev = ctx.change.base
        if rev is not None and ctx.change.mode != "scan":
            listing = git.run(
                ctx.change.root, "--literal-pathspecs", "ls-tree", "-r", "-z", rev, "--", rel
            )
            entries = [e.split(b"\t", 1) for e in listing.split(b"\0") if e]
            reader = git.BlobReader(ctx.change.root)
            for meta, name in entries:
                _mode, kind, oid = meta.decode().split()
                if kind == "blob" and name.endswith((b".yaml", b".yml")):
                    target = dest / f"{len(list(dest.iterdir()))}.yaml"
                    target.write_bytes(reader.read(oid))
                    origins.append((str(target), f"{os.fsdecode(name)}@{rev[:12]}"))
            if not any(dest.iterdir()):
                raise CheckError(f"rule dir {rel!r} has no rules at the trusted base {rev[:12]}")
        elif ctx.change.mode != "scan":
            # No trusted revision (a repository's first commit, a new root pushed):
            # the working tree is the change itself, so its rules cannot judge it.
            raise CheckError(
                f"rule dir {rel!r} cannot be read from a trusted base: this change has none",
                help="commit the rule dir to the protected branch first, or check with `scan`",
            )
        else:
            src = ctx.change.root / rel
            if not src.is_dir():
                raise CheckError(f"rule dir {rel!r} does not exist")
            shutil.copytree(src, dest, dirs_exist_ok=True)
        out.append(dest)
    return out


# --- engine ----------------------------------------------------------------


class Engine:
    def __init__(self, pack: RulePack, settings: SemgrepSettings, cache_dir: Path | None) -> None:
        self.pack = pack
        self.settings = settings
        self.cache = _Cache(cache_dir, f"{pack.digest}:{settings.engine}") if cache_dir else None

    def misses(self, targets: Sequence[Target]) -> list[Target]:
        """The targets the cache cannot answer (each key once)."""
        if self.cache is None:
            return list({t.key: t for t in targets}.values())
        return [t for t in {t.key: t for t in targets}.values() if not self.cache.has(t.key)]

    def scan(self, targets: Sequence[Target]) -> dict[str, list[Hit]]:
        results: dict[str, list[Hit]] = {}
        misses: dict[str, Target] = {}
        for t in targets:
            cached = self.cache.get(t.key) if self.cache else None
            if cached is not None:
                results[t.key] = cached
            else:
                misses.setdefault(t.key, t)
        if misses:
            fresh = self._run(list(misses.values()))
            for key, hits in fresh.items():
                results[key] = hits
                if self.cache:
                    self.cache.put(key, hits)
        return results

    def scan_with_rules(self, targets: Sequence[Target], rules: set[str]) -> dict[str, list[Hit]]:
        """Scan with only ``rules`` (never cached: the answer is partial)."""
        if not targets:
            return {}
        configs = self.pack.files_for(rules)
        return self._run(list({t.key: t for t in targets}.values()), configs)

    def _run(self, targets: list[Target], configs: Sequence[Path] = ()) -> dict[str, list[Hit]]:
        exe = semgrep_executable()
        with tempfile.TemporaryDirectory(prefix="traingate-scan-") as tmp:
            root = Path(tmp)
            # An empty .semgrepignore replaces semgrep's default ignore list.
            (root / ".semgrepignore").write_text("")
            names: dict[str, Target] = {}
            for i, t in enumerate(targets):
                name = f"t{i}{t.ext}"
                (root / name).write_text(t.text, encoding="utf-8", errors="surrogateescape")
                names[name] = t
            base_cmd = [
                exe,
                "scan",
                *_ENGINE_FLAGS[self.settings.engine],
                "--json",
                "--quiet",
                "--metrics=off",
                "--disable-version-check",
                "--disable-nosem",
                "--no-git-ignore",
                "--no-rewrite-rule-ids",
                "--oss-only",
                "--max-target-bytes=0",
                f"--timeout-threshold={TIMEOUT_THRESHOLD}",
                f"--max-memory={MAX_MEMORY_MB}",
            ]
            for d in configs or self.pack.dirs:
                base_cmd.append(f"--config={d}")
            size = {n: len(t.text.encode("utf-8", "surrogateescape")) for n, t in names.items()}
            limit = self.settings.timeout + int(OVERALL_S_PER_MB * sum(size.values()) / 1e6)
            try:
                if sum(size.values()) <= BATCH_BYTES and len(names) <= BATCH_FILES:
                    cmd = [*base_cmd, _rule_timeout(max(size.values(), default=0))]
                    cmd.append(f"--jobs={usable_cpus()}")
                    # Past ~100 kB of names the argument list nears the kernel's
                    # limit (a 100,000-file change); the temp dir holds exactly
                    # the targets, so scanning it is the same work, and _parse
                    # still requires every name.
                    listed = sorted(names)
                    cmd += listed if sum(len(n) + 1 for n in listed) < MAX_ARGV_NAMES else ["."]
                    out = _invoke(cmd, root, limit)
                else:
                    out = _run_batches(base_cmd, root, size, limit)
            except CheckError as exc:
                raise CheckError(self.pack.explain(exc.message), help=exc.help) from None
        return _parse(out, names)


def _rule_timeout(largest_bytes: int) -> str:
    """semgrep's per-(rule, file) limit for a run whose largest file has this
    size (issue #17); a hit is an error that blocks the file."""
    secs = RULE_TIMEOUT_BASE_S + RULE_TIMEOUT_PER_KB_S * largest_bytes / 1000
    return f"--timeout={math.ceil(secs)}"


def _run_batches(
    base_cmd: list[str], root: Path, size: dict[str, int], limit: int
) -> dict[str, Any]:
    """A large run as batches of similar-sized files, usable_cpus() semgrep
    processes at a time with one job each (issue #17): memory is bounded per
    process, each batch's per-rule timeout follows its own largest file, and
    the whole run stays under one deadline. Any batch's failure fails the run."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    order = sorted(size, key=lambda n: (-size[n], n))  # largest first: balances the tail
    batches: list[list[str]] = [[]]
    held = 0
    for name in order:
        if batches[-1] and (held + size[name] > BATCH_BYTES or len(batches[-1]) >= BATCH_FILES):
            batches.append([])
            held = 0
        batches[-1].append(name)
        held += size[name]
    t0 = time.monotonic()
    deadline = t0 + limit
    progress = _Progress(len(size), t0)
    failed = threading.Event()
    lock = threading.Lock()

    def one(batch: list[str]) -> dict[str, Any] | None:
        if failed.is_set():
            return None
        cmd = [*base_cmd, _rule_timeout(size[batch[0]]), "--jobs=1", *batch]
        left = max(1, math.ceil(deadline - time.monotonic()))
        try:
            # The message names the whole run's limit, as a single run would.
            out = _invoke(cmd, root, left, shown_timeout=limit)
        except CheckError:
            failed.set()
            raise
        with lock:
            progress.done(len(batch))
        return out

    with ThreadPoolExecutor(max_workers=usable_cpus()) as pool:
        outs = list(pool.map(one, batches))
    progress.finish()
    merged: dict[str, Any] = {"results": [], "errors": [], "paths": {"scanned": []}}
    for out in outs:
        assert out is not None  # a failed batch raised above
        merged["results"] += out.get("results") or []
        merged["errors"] += out.get("errors") or []
        scanned = (out.get("paths") or {}).get("scanned")
        if not isinstance(scanned, list):
            raise CheckError("semgrep's JSON output does not say which files it scanned")
        merged["paths"]["scanned"] += scanned
    return merged


class _Progress:
    """Files done / total and elapsed time on stderr for batched runs (issue
    #17): on a terminal by default, in CI logs only with TRAINGATE_PROGRESS=1
    (TRAINGATE_PROGRESS=0 silences it everywhere)."""

    def __init__(self, total: int, t0: float) -> None:
        flag = os.environ.get("TRAINGATE_PROGRESS", "")
        self.on = flag == "1" or (flag != "0" and sys.stderr.isatty())
        self.tty = sys.stderr.isatty()
        self.total = total
        self.files = 0
        self.t0 = t0

    def done(self, n: int) -> None:
        import time

        self.files += n
        if self.on:
            line = (
                f"traingate: semgrep {self.files}/{self.total} files, "
                f"{time.monotonic() - self.t0:.0f}s"
            )
            # On a terminal the line is redrawn in place; a log gets one line each.
            print(
                f"\r{line}" if self.tty else line,
                end="" if self.tty else "\n",
                file=sys.stderr,
                flush=True,
            )

    def finish(self) -> None:
        if self.on and self.tty:
            print(file=sys.stderr, flush=True)


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU
    quota (a CI container limited to 2 CPUs on a 64-core host must not start
    64 semgrep workers that then fight over 2)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota readable: the affinity mask stands
    return max(1, n)


def semgrep_executable() -> str:
    """$TRAINGATE_SEMGREP, else semgrep beside our interpreter (the one we were
    installed with), else PATH."""
    override = os.environ.get("TRAINGATE_SEMGREP")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise CheckError(f"TRAINGATE_SEMGREP={override} is not an executable file")
        return override
    local = Path(sys.executable).with_name("semgrep")
    if local.exists():
        return str(local)
    found = shutil.which("semgrep")
    if not found:
        raise CheckError(
            "semgrep is not installed or not on PATH",
            help="install it with `python -m pip install 'semgrep>=1.150'`",
        )
    return found


def _invoke(
    cmd: list[str], cwd: Path, timeout: int, shown_timeout: int | None = None
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMGREP_")}
    env.update({"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"})
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise CheckError(
            f"semgrep did not finish within {shown_timeout or timeout}s; the change is blocked",
            help="raise checks.semgrep.timeout in the trusted policy, or split the change",
        ) from None
    except OSError as exc:
        raise CheckError(f"semgrep could not be started: {exc}") from None
    if proc.returncode not in (0, 1):
        tail = _json_errors(proc.stdout) or proc.stderr.decode("utf-8", "replace").strip()[-800:]
        raise CheckError(f"semgrep exited with code {proc.returncode}: {tail or '(no output)'}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise CheckError("semgrep printed output that is not JSON") from None
    if not isinstance(data, dict) or "results" not in data:
        raise CheckError("semgrep's JSON output has no results")
    return data


def _json_errors(stdout: bytes) -> str:
    """With --json semgrep reports a bad rule on stdout, not stderr: name it."""
    try:
        errors = json.loads(stdout).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for e in errors[:3] if isinstance(errors, list) else []:
        if not isinstance(e, dict):
            continue
        where = [sp.get("file") for sp in e.get("spans") or [] if isinstance(sp, dict)]
        text = e.get("long_msg") or e.get("message") or e.get("type") or ""
        parts.append(f"{text} ({where[0]})" if where and where[0] else str(text))
    return "; ".join(parts)[:800]


def _parse(data: dict[str, Any], names: dict[str, Target]) -> dict[str, list[Hit]]:
    hits: dict[str, list[Hit]] = {t.key: [] for t in names.values()}
    scanned_list = (data.get("paths") or {}).get("scanned")
    if not isinstance(scanned_list, list):
        # Without the list we cannot tell a clean file from a skipped one.
        raise CheckError("semgrep's JSON output does not say which files it scanned")
    scanned = set(scanned_list)
    for name, tgt in names.items():
        if name not in scanned:
            hits[tgt.key].append(
                _error_hit("semgrep-skipped", "semgrep skipped this file; it was not checked")
            )
    for r in data["results"]:
        found = names.get(r.get("path", ""))
        if found is None:
            raise CheckError(f"semgrep reported an unknown path {r.get('path')!r}")
        extra = r.get("extra", {})
        meta = extra.get("metadata", {}) or {}
        start, end = r["start"], r["end"]
        code = found.text.encode("utf-8", "surrogateescape")[start["offset"] : end["offset"]]
        hits[found.key].append(
            Hit(
                rule=str(r["check_id"]).rsplit(".", 1)[-1],
                severity=_severity(str(extra.get("severity", "WARNING"))),
                message=str(extra.get("message", "")),
                category=meta.get("category"),
                line=int(start["line"]),
                column=int(start["col"]),
                end_line=int(end["line"]),
                end_column=int(end["col"]),
                norm=" ".join(code.decode("utf-8", "replace").split()),
            )
        )
    for err in data.get("errors", []):
        path = err.get("path")
        target = names.get(path) if path else None
        kind = err.get("type")
        kind = kind[0] if isinstance(kind, list) else str(kind)
        if target is None:
            # Not tied to one of our files: a rule or engine problem. Fail closed.
            raise CheckError(f"semgrep error: {kind}: {str(err.get('message', ''))[:300]}")
        if kind in _PARSE_ERROR_TYPES:
            span = (err.get("spans") or [{}])[0]
            line = int(span.get("start", {}).get("line", 1))
            hits[target.key].append(
                _error_hit(
                    "semgrep-parse-error",
                    f"semgrep cannot parse this file ({kind} at line {line}); unparseable code "
                    "cannot be checked and is blocked",
                    line,
                )
            )
        else:
            rule = str(err.get("rule_id") or "").rsplit(".", 1)[-1]
            detail = str(err.get("message", "")).strip().splitlines()
            hits[target.key].append(
                _error_hit(
                    "semgrep-incomplete",
                    f"semgrep could not finish this file: {kind}"
                    + (f" in rule {rule}" if rule else "")
                    + (f" ({detail[-1][:200]})" if detail else ""),
                )
            )
    for key in hits:
        hits[key].sort(key=lambda h: (h.line, h.column, h.rule))
    return hits


def _severity(s: str) -> str:
    s = s.upper()
    if s in ("ERROR", "CRITICAL", "HIGH"):
        return "ERROR"
    if s in ("WARNING", "MEDIUM"):
        return "WARNING"
    return "INFO"


def _error_hit(rule: str, message: str, line: int = 1) -> Hit:
    return Hit(rule, "ERROR", message, "scanner", line, 1, line, 1, rule, parse_error=True)


# --- cache -----------------------------------------------------------------


class _Cache:
    """One JSON file per (pack, semgrep version, blob): safe for concurrent runs
    (atomic rename) and for a corrupt or unwritable directory (treated as a miss)."""

    def __init__(self, root: Path, pack_digest: str) -> None:
        self.dir = root / "semgrep"
        self.salt = f"{pack_digest}:{semgrep_version()}"

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(f"{self.salt}:{key}".encode()).hexdigest()
        return self.dir / digest[:2] / f"{digest}.json"

    def get(self, key: str) -> list[Hit] | None:
        try:
            raw = json.loads(self._path(key).read_text(encoding="utf-8"))
            if raw.get("key") != key:
                return None
            return [Hit(**h) for h in raw["hits"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def has(self, key: str) -> bool:
        """Cheap: only picks the scan strategy; scan() still reads and checks
        the entry (a corrupt one is a miss there)."""
        return self._path(key).is_file()

    def put(self, key: str, hits: Iterable[Hit]) -> None:
        path = self._path(key)
        payload = json.dumps({"key": key, "hits": [h.__dict__ for h in hits]})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full cache only costs speed


def semgrep_version() -> str:
    try:
        from importlib.metadata import version

        return version("semgrep")
    except Exception:
        out = subprocess.run([semgrep_executable(), "--version"], capture_output=True, check=False)
        return out.stdout.decode().strip() or "unknown"
