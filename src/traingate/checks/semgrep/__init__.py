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
  not in the base version (same rule, same code: for Python the same syntax, up
  to narrowing changes, see ``identity``), wherever it sits.

The package (issue #15): ``targets`` (what is scanned, and as what language),
``rulepack`` (which rules), ``runner`` (the semgrep process and its JSON),
``cache`` (results per blob), ``newness`` and ``identity`` (which head hits
are new); this module turns their answer into findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from traingate.catalog import Rule, declare
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.policy.base import Severity

if TYPE_CHECKING:
    from traingate.checks.base import Context
    from traingate.findings import Finding

ID = "semgrep"
DESCRIPTION = "The traingate semgrep rule pack (and the policy's own rule dirs) on changed code."

# The check's own rules; the pack's rules are declared by their YAML files.
# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = SemgrepSettings

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
            "shell-syntax-error",
            Severity.ERROR,
            "bash would reject a shell script (unterminated quote or substitution, unclosed if/case/loop)",
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

__all__ = ["DESCRIPTION", "ID", "RULES", "Settings", "run"]


def run(ctx: Context) -> list[Finding]:
    # The engine (check.py and what it drives) loads only when a file of the
    # check's paths changed: the hook's no-relevant-file path never pays for it.
    from traingate.checks.semgrep.check import run as run_check

    return run_check(ctx)
