"""What a semgrep scan yields per target: hits, and the scanner's own error hits."""

from __future__ import annotations

from dataclasses import dataclass


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
    norm: str  # whitespace-normalized matched code (shown; identity where ast cannot judge)
    parse_error: bool = False
    # Byte offsets of the match in the scanned text (-1: none): where the
    # identity of a Python hit is read from (checks/semgrep/identity.py).
    start: int = -1
    end: int = -1


def error_hit(rule: str, message: str, line: int = 1) -> Hit:
    return Hit(rule, "ERROR", message, "scanner", line, 1, line, 1, rule, parse_error=True)


# An error hit that says more about the machine than the blob (a rule's time or
# memory limit hit on a loaded machine): it blocks this check, but is not
# cached, so the next check of the same blob runs semgrep again (issue #17).
TRANSIENT_RULES = frozenset({"semgrep-incomplete"})


def cacheable(hits: list[Hit]) -> bool:
    return not any(h.parse_error and h.rule in TRANSIENT_RULES for h in hits)


def merge(*parts: list[Hit]) -> list[Hit]:
    """One target's hits from each name it was written under (a unit cut,
    unitcut.py), sorted; a scanner error both names got counts once."""
    if len(parts) == 1:
        return sorted(parts[0], key=lambda h: (h.line, h.column, h.rule))
    out = list(parts[0])
    errors = {h for h in out if h.parse_error}
    for more in parts[1:]:
        for h in more:
            if not (h.parse_error and h in errors):
                out.append(h)
                if h.parse_error:
                    errors.add(h)
    return sorted(out, key=lambda h: (h.line, h.column, h.rule))


def merge_into(into: dict[str, list[Hit]], more: dict[str, list[Hit]]) -> None:
    """Add a batch's hits: a target whose names fell in two batches gets both."""
    for key, hits in more.items():
        into[key] = merge(into[key], hits) if key in into else hits
