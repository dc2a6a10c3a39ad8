"""Trojan Source and invisible characters in every added line of every text file.

Bidi controls reorder what a reviewer sees versus what the interpreter parses
(CVE-2021-42574); zero-width and other invisible characters split or disguise
identifiers; NFKC-folding identifiers (fullwidth ``ｅｘｅｃ`` is ``exec`` to
Python) and mixed-script homoglyphs make two names look alike. A Python
source-encoding declaration other than UTF-8 makes CPython read different text
from what everyone else reads (issue #14, class 11): it is a finding of its own,
and the other rules read Python source as CPython decodes it.

This module is the check (its rules and ``run``); the scanner beside it is
standard library only: ``scan`` (the entry points, imported inside ``run``),
``tables``, ``invisible``, ``identifiers``, ``strings`` and ``cookie``.
"""

from __future__ import annotations

import posixpath
import re

from traingate.catalog import Rule, declare
from traingate.change import ChangedFile, is_binary
from traingate.checks.base import Context
from traingate.findings import Finding
from traingate.policy.base import CheckSettings, Severity

ID = "unicode"
DESCRIPTION = (
    "Bidi controls, invisible characters, confusable identifiers and non-UTF-8 "
    "source-encoding declarations in added lines."
)

# Issue #16: IPython scripts (.ipy) are Python too: their identifiers count.
_PY = {".py", ".pyi", ".pyw", ".pth", ".ipynb", ".ipy"}
# Files CPython compiles from bytes, where a PEP 263 declaration decides the
# decoding; notebook cells, .ipy scripts (IPython reads them as UTF-8 text)
# and .pth lines reach Python as text and ignore one.
_PEP263 = {".py", ".pyi", ".pyw"}
# Tokenizer vocabularies list subword pieces of every script, not hosts or paths;
# a piece such as "▁Mосква.ru" is data (issue #16: confusable strings).
_VOCABULARY = re.compile(
    r"(tokenizer|vocab|merges|added_tokens|special_tokens_map)[\w.-]*\.(json|txt)$|.*\.vocab$",
    re.IGNORECASE,
)
# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = CheckSettings

RULES = declare(
    ID,
    [
        Rule(
            "unicode-bidi-control",
            Severity.ERROR,
            "a bidirectional control character (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)",
            help="remove the control character; if the text needs it, escape it (\\u202e)",
            category="trojan-source",
        ),
        Rule(
            "unicode-invisible",
            Severity.ERROR,
            "a zero-width or invisible character",
            help="remove the invisible character or write it as an escape",
            category="trojan-source",
        ),
        Rule(
            "unicode-confusable-identifier",
            Severity.ERROR,
            "(Python) an identifier whose NFKC form differs from how it looks",
            help="use the plain ASCII spelling of the identifier",
            category="trojan-source",
        ),
        Rule(
            "unicode-mixed-script-identifier",
            Severity.WARNING,
            "(Python) an identifier mixing scripts, e.g. Latin with a Cyrillic а",
            help="spell the identifier in one script",
            category="trojan-source",
        ),
        Rule(
            "unicode-confusable-string",
            Severity.ERROR,
            "a word mixing scripts (Latin with a Cyrillic а) in a URL, host, path, package or one-word string literal; WARNING in other string text",
            help="spell the word in one script (the ASCII one for hosts, paths and packages)",
            category="trojan-source",
            since="0.2.0",
        ),
        Rule(
            "unicode-terminal-escape",
            Severity.WARNING,
            "a raw ESC starting a terminal colour sequence in a string literal (write it as \\x1b)",
            help="write the escape as \\x1b or \\033 so it is visible in review",
            category="trojan-source",
            since="0.2.0",
        ),
        Rule(
            "unicode-encoding-cookie",
            Severity.ERROR,
            "(Python source) a PEP 263 source-encoding declaration naming anything but UTF-8 or ASCII, or a codec Python does not know",
            help="save the file as UTF-8 and remove the coding declaration",
            category="trojan-source",
        ),
    ],
)


def run(ctx: Context) -> list[Finding]:
    from traingate.checks.unicode.scan import scan_source, scan_text
    from traingate.checks.unicode.tables import CONFUSABLE

    out: list[Finding] = []
    for f in ctx.files:
        data = ctx.change.read(f.new_oid) if (f.new_mode or "").startswith("100") else None
        if not data:
            continue
        binary = is_binary(data)
        wide = _wide_text(data) if binary else None
        if binary and wide is None and not _utf8(data):
            continue  # binary: no reader takes it for text
        # A file git calls binary has no added lines: every line counts.
        lines = None if ctx.scan_all or binary else set(f.added_lines)
        if lines is not None and not lines:
            continue
        ext = posixpath.splitext(f.path)[1].lower()
        # Issue #16: a Python template (train.py.j2, model.py.tmpl) is Python
        # once rendered, as the semgrep check reads it.
        shebang = _python_shebang(data) or _python_template(f.path)
        if ext not in _PY and not shebang and _is_artifact(f.path, data):
            # A small pickle has no NUL byte and decodes as "text"; its opcodes
            # are not characters anyone reads. The artifacts check judges it.
            continue
        confusables = not _VOCABULARY.match(posixpath.basename(f.path))
        cells = _notebook_code(data) if ext == ".ipynb" and wide is None else None
        if cells is not None:
            # Issue #16: a notebook's code cells as the kernel gets them (JSON
            # escapes decoded: a `\u202e` written as an escape was unseen),
            # not its outputs and widget state (a rendered placeholder's
            # U+200B blocked real notebooks, none of it runs).
            source, line_map, unfolded = cells
            want = None if lines is None else {i for i, n in enumerate(line_map, 1) if n in lines}
            issues = [
                issue._replace(line=line_map[issue.line - 1])
                for issue in scan_text(
                    "\n".join(source), want, python=True, confusables=confusables
                )
                if not (issue.rule_id == CONFUSABLE and issue.line in unfolded)
            ]
        elif wide is not None:
            issues = scan_text(wide.removeprefix("\ufeff"), lines, confusables=confusables)
        else:
            issues = scan_source(
                data,
                lines,
                python=ext in _PY or shebang,
                pep263=ext in _PEP263 or shebang,
                confusables=confusables,
            )
        for issue in issues:
            out.append(
                _finding(f, issue.rule_id, issue.line, issue.column, issue.message, issue.severity)
            )
    return out


def _notebook_code(data: bytes) -> tuple[list[str], list[int], set[int]] | None:
    """A notebook's code cells, line for line, each line's JSON line, and the
    lines (1-based, of the cells) Python's NFKC rule for names does not apply
    to; None when it is no notebook (then its whole text is scanned).

    Issue #16: a Calysto Scheme notebook's ``vectorᵢ`` was blocked as
    "normalizes to vectori; Python treats them as the same name". Scheme does
    not fold names. The rule is dropped only for a cell no Python kernel runs
    as written: the kernel's language is not Python's (nor a Python dialect)
    and the cell, as IPython reads it, does not parse as Python (a Python
    kernel runs each cell alone: a Python cell under a mislabelled kernel is
    still judged). Mixed scripts and invisible characters count in every
    language."""
    import json

    from traingate.checks.semgrep.ipynames import parse_python
    from traingate.checks.semgrep.ipython import (
        _notebook_cells,
        _notebook_language,
        notebook_cells,
    )

    try:
        raw = data.decode("utf-8")
        nb = json.loads(raw)
        cells = notebook_cells(nb, raw)
    except (ValueError, RecursionError):
        return None
    if cells is None:
        return None
    unfolded: set[int] = set()
    language = _notebook_language(nb)
    if "python" not in language and language not in _PYTHON_DIALECTS:
        start = 0
        for text in _notebook_cells(nb) or []:
            # notebook_cells: each cell's lines, then one empty line
            end = start + len(text.splitlines())
            if parse_python(cells.python[start:end]) is None:
                unfolded.update(range(start + 1, end + 1))
            start = end + 1
        if start != len(cells.python):
            unfolded = set()  # cells not where they were counted: judge every line
    return cells.source, cells.line_map, unfolded


# Kernel languages whose code is Python or a superset of it (issue #16).
_PYTHON_DIALECTS = frozenset({"", "sage", "xonsh", "coconut", "cython", "sos", "mojo", "pypy"})


def _wide_text(data: bytes) -> str | None:
    """UTF-16 or UTF-32 text (a byte order mark, or the NUL pattern of its
    first bytes, as YAML and JSON readers decide) decoded as its readers do
    (issue #16: NUL bytes made a UTF-16 config "binary", its bidi controls
    unseen). None: not such text, or not decodable as it claims."""
    from traingate.checks.config.decode import sniff

    codec = sniff(data)
    if codec.startswith("utf-8"):
        return None
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _utf8(data: bytes) -> bool:
    """Text with a NUL byte (bash runs a script with one past its first line):
    read, and the NUL itself reported. Binary formats are not valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_artifact(path: str, data: bytes) -> bool:
    from traingate.checks.artifacts.scanner import is_artifact_candidate

    return is_artifact_candidate(path, data[:4096])


def _python_template(path: str) -> bool:
    from traingate.checks.semgrep.targets import PY_EXT, _surface_kind

    kind = _surface_kind(path) or ""
    return kind.startswith("template:") and kind.removeprefix("template:") in PY_EXT


def _python_shebang(data: bytes) -> bool:
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    return first.startswith(b"#!") and b"python" in first


def _finding(
    f: ChangedFile, rule: str, line: int, column: int, message: str, severity: str | None
) -> Finding:
    return RULES.finding(
        rule,
        path=f.path,
        line=line,
        column=column,
        message=message,
        severity=Severity(severity) if severity else None,
    )
