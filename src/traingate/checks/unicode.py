"""Trojan Source and invisible characters in every added line of every text file.

Bidi controls reorder what a reviewer sees versus what the interpreter parses
(CVE-2021-42574); zero-width and other invisible characters split or disguise
identifiers; NFKC-folding identifiers (fullwidth ``ｅｘｅｃ`` is ``exec`` to
Python) and mixed-script homoglyphs make two names look alike.
"""

from __future__ import annotations

import posixpath

from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.findings import Finding
from traingate.policy.model import Severity

ID = "unicode"
DESCRIPTION = "Bidi controls, invisible characters and confusable identifiers in added lines."

_PY = {".py", ".pyi", ".pyw", ".pth", ".ipynb"}
_SEVERITY = {
    "unicode-bidi-control": Severity.ERROR,
    "unicode-invisible": Severity.ERROR,
    "unicode-confusable-identifier": Severity.ERROR,
    "unicode-mixed-script-identifier": Severity.WARNING,
}
_HELP = {
    "unicode-bidi-control": "remove the control character; if the text needs it, escape it (\\u202e)",
    "unicode-invisible": "remove the invisible character or write it as an escape",
    "unicode-confusable-identifier": "use the plain ASCII spelling of the identifier",
    "unicode-mixed-script-identifier": "spell the identifier in one script",
}


def run(ctx: Context) -> list[Finding]:
    from traingate.unicode_scan import scan_text

    out: list[Finding] = []
    for f in ctx.files:
        text = ctx.change.new_text(f)
        if not text:
            continue
        lines = None if ctx.scan_all else set(f.added_lines)
        if lines is not None and not lines:
            continue
        python = posixpath.splitext(f.path)[1].lower() in _PY or _python_shebang(text)
        for issue in scan_text(text, lines, python=python):
            out.append(_finding(f, issue.rule_id, issue.line, issue.column, issue.message))
    return out


def _python_shebang(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return first.startswith("#!") and "python" in first


def _finding(f: ChangedFile, rule: str, line: int, column: int, message: str) -> Finding:
    return Finding(
        path=f.path,
        line=line,
        column=column,
        check=ID,
        rule_id=rule,
        severity=_SEVERITY.get(rule, Severity.ERROR),
        message=message,
        help=_HELP.get(rule),
        category="trojan-source",
    )
