"""Suppression attempts: comments and files that ask scanners to look away.

The gate runs semgrep with ``--disable-nosem`` and its own target list, so
these suppress nothing here; they are still findings, because their author
meant to hide something from the gate or from other scanners (issue #3).
"""

from __future__ import annotations

import posixpath
import re

from traingate.catalog import Rule, declare
from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.findings import Finding
from traingate.policy.base import CheckSettings, Severity

ID = "suppression"
DESCRIPTION = "Added nosemgrep/nosec comments and .semgrepignore changes."

# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = CheckSettings

RULES = declare(
    ID,
    [
        Rule(
            "suppress-nosemgrep",
            Severity.ERROR,
            "an added line contains nosemgrep / nosem",
            category="suppression",
        ),
        Rule(
            "suppress-nosec",
            Severity.WARNING,
            "an added line contains # nosec or # noqa: S… (bandit/ruff security codes)",
            category="suppression",
        ),
        Rule(
            "suppress-ignore-file",
            Severity.ERROR,
            ".semgrepignore, .bandit, .trivyignore or .gitleaksignore is added, changed, renamed or deleted",
            category="suppression",
        ),
    ],
)

_NOSEMGREP = re.compile(r"\bnosem(?:grep)?\b", re.IGNORECASE)
_NOSEC = re.compile(
    r"#\s*nosec\b|#\s*noqa\s*:\s*S\d|#\s*type:\s*ignore\[.*\bsecurity\b", re.IGNORECASE
)
_IGNORE_FILES = {".semgrepignore", ".bandit", ".trivyignore", ".gitleaksignore"}


def run(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for f in ctx.files:
        name = posixpath.basename(f.path)
        if name in _IGNORE_FILES or any(posixpath.basename(p) in _IGNORE_FILES for p in f.paths):
            out.append(_ignore_file(f, name))
            continue
        text = ctx.change.new_text(f)
        if text is None:
            continue
        added = set(f.added_lines)
        for n, line in enumerate(text.splitlines(), 1):
            if n not in added:
                continue
            out.extend(_line(f, n, line))
    return out


def _ignore_file(f: ChangedFile, name: str) -> Finding:
    return RULES.finding(
        "suppress-ignore-file",
        path=f.path,
        message=f"scanner ignore file {name} changed ({f.status.value}): it can hide files from scanners",
        help="the gate ignores it, but other scanners obey it; the security group must approve it",
    )


def _line(f: ChangedFile, n: int, line: str) -> list[Finding]:
    for rx, rule, what in (
        (_NOSEMGREP, "suppress-nosemgrep", "a nosemgrep comment"),
        (_NOSEC, "suppress-nosec", "a scanner suppression comment"),
    ):
        m = rx.search(line)
        if m:
            return [
                RULES.finding(
                    rule,
                    path=f.path,
                    line=n,
                    column=m.start() + 1,
                    end_line=n,
                    end_column=m.end() + 1,
                    message=f"the change adds {what} ({m.group(0)!r}); traingate does not honour it",
                    help="remove it; a false positive is exempted in the trusted policy (exemptions:)",
                )
            ]
    return []
