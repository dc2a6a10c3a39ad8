"""CODEOWNERS import: owners become approver lists for the paths they own.

GitHub syntax: ``pattern owner...``; the last matching line wins.
GitLab syntax adds sections: ``[Section]``, ``[Section][N]`` (N approvals),
``^[Optional]`` (optional sections are skipped: they require nothing), default
owners after the header; the last match wins within each section, and every
section with a match raises its own requirement.

The file is read from the trusted base revision, like the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from traingate import paths

_SECTION = re.compile(r"^(\^)?\[([^\]]+)\](?:\[(\d+)\])?\s*(.*)$")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Section:
    name: str | None  # None: GitHub-style file, or entries before any section
    approvals: int
    optional: bool
    rules: tuple[Rule, ...]


def parse(text: str) -> list[Section]:
    sections: list[Section] = []
    name: str | None = None
    approvals, optional, defaults = 1, False, ()
    rules: list[Rule] = []

    def close() -> None:
        if rules or name is not None:
            sections.append(Section(name, approvals, optional, tuple(rules)))

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _SECTION.match(line)
        if m and not line.startswith("\\["):
            close()
            optional, name = bool(m[1]), m[2]
            approvals = int(m[3]) if m[3] else 1
            defaults = tuple(m[4].split())
            rules = []
            continue
        parts = _split(line)
        pattern, owners = parts[0], tuple(parts[1:]) or defaults
        rules.append(Rule(_pattern(pattern), owners, n))
    close()
    return sections


def _split(line: str) -> list[str]:
    # Escaped spaces belong to the pattern; an unescaped "#" starts a comment.
    tokens = re.findall(r"(?:\\.|[^\s\\])+", line.split(" #", 1)[0])
    return [t.replace("\\ ", " ") for t in tokens]


def _pattern(p: str) -> str:
    # CODEOWNERS "/docs/" and "*.py" read like gitignore patterns; a bare
    # directory name "docs" owns everything below it as well.
    return p


def owners_for(
    sections: list[Section], path: str, *, fold: bool = False
) -> list[tuple[Section, Rule]]:
    """The winning rule of each section for ``path``."""
    out = []
    for sec in sections:
        winner = None
        for rule in sec.rules:
            if paths.matches([rule.pattern], path, fold=fold):
                winner = rule
        if winner is not None and winner.owners and not sec.optional:
            out.append((sec, winner))
    return out


def approver_name(owner: str) -> str:
    """``@alice`` -> ``alice``; ``@org/team`` -> ``org/team``; emails stay as they are."""
    return owner[1:] if owner.startswith("@") else owner
