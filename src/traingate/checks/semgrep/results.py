"""semgrep's JSON as hits per target (issue #17: moved out of runner.py).

Every name given to semgrep must be listed as scanned, or its target gets a
blocking ``semgrep-skipped`` hit; an error tied to one of our files blocks it,
any other error fails the run. A target may be written under two names (a
unit cut, unitcut.py): their hits are merged under its key, a cut's offsets
moved to the whole text, each scanner error once.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from traingate.checks.semgrep import unitcut
from traingate.checks.semgrep.hits import Hit, error_hit, merge
from traingate.checks.semgrep.targets import Target
from traingate.errors import CheckError

# A metavariable semgrep left in a message: the branch that matched did not bind it.
_UNFILLED = re.compile(r"\$[A-Z][A-Z0-9_]*")
_PARSE_ERROR_TYPES = ("Syntax error", "PartialParsing", "Lexical error", "Other syntax error")


def _preferred(new: str, old: str) -> bool:
    """Of two messages for one rule and span: filled metavariables first, then the
    smaller text, so the choice does not depend on the order semgrep gives them
    (osemgrep and pysemgrep differ: `(ckpt_file)` and `(Path(ckpt_file))`)."""
    return (bool(_UNFILLED.search(new)), new) < (bool(_UNFILLED.search(old)), old)


def parse(data: dict[str, Any], names: dict[str, Target], root: Path) -> dict[str, list[Hit]]:
    """Hits per target key; a match's code is read from the file semgrep
    scanned (``root``), so no target's text need be held meanwhile."""
    found_by: dict[str, list[Hit]] = {name: [] for name in names}
    scanned_bytes: dict[str, bytes] = {}
    scanned_list = (data.get("paths") or {}).get("scanned")
    if not isinstance(scanned_list, list):
        # Without the list we cannot tell a clean file from a skipped one.
        raise CheckError("semgrep's JSON output does not say which files it scanned")
    scanned = set(scanned_list)
    for name in names:
        if name not in scanned:
            found_by[name].append(
                error_hit("semgrep-skipped", "semgrep skipped this file; it was not checked")
            )
    # Two branches of one rule can match the same span (session 25: a sampler
    # seed that both names the rank and is the `rank=` argument): one finding,
    # whose message has its metavariables filled in (_preferred).
    seen: dict[tuple[str, str, int, int], int] = {}
    for r in data["results"]:
        if names.get(r.get("path", "")) is None:
            raise CheckError(f"semgrep reported an unknown path {r.get('path')!r}")
        extra = r.get("extra", {})
        meta = extra.get("metadata", {}) or {}
        start, end = r["start"], r["end"]
        name = str(r["path"])
        if name not in scanned_bytes:
            # One file at a time (semgrep lists a file's results together).
            scanned_bytes = {name: (root / name).read_bytes()}
        code = scanned_bytes[name][start["offset"] : end["offset"]]
        rule = str(r["check_id"]).rsplit(".", 1)[-1]
        message = str(extra.get("message", ""))
        key = (name, rule, int(start["offset"]), int(end["offset"]))
        if key in seen:
            i = seen[key]
            if _preferred(message, found_by[name][i].message):
                found_by[name][i] = replace(found_by[name][i], message=message)
            continue
        seen[key] = len(found_by[name])
        found_by[name].append(
            Hit(
                rule=rule,
                severity=_severity(str(extra.get("severity", "WARNING"))),
                message=message,
                category=meta.get("category"),
                line=int(start["line"]),
                column=int(start["col"]),
                end_line=int(end["line"]),
                end_column=int(end["col"]),
                norm=" ".join(code.decode("utf-8", "replace").split()),
                start=int(start["offset"]),
                end=int(end["offset"]),
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
            found_by[str(path)].append(
                error_hit(
                    "semgrep-parse-error",
                    f"semgrep cannot parse this file ({kind} at line {line}); unparseable code "
                    "cannot be checked and is blocked",
                    line,
                )
            )
        else:
            rule = str(err.get("rule_id") or "").rsplit(".", 1)[-1]
            detail = str(err.get("message", "")).strip().splitlines()
            found_by[str(path)].append(
                error_hit(
                    "semgrep-incomplete",
                    f"semgrep could not finish this file: {kind}"
                    + (f" in rule {rule}" if rule else "")
                    + (f" ({detail[-1][:200]})" if detail else ""),
                )
            )
    return _by_key(found_by, names, root)


def _by_key(
    found_by: dict[str, list[Hit]], names: dict[str, Target], root: Path
) -> dict[str, list[Hit]]:
    """Each target's hits from all its names; a cut's offsets moved to the
    whole text (unitcut.remap), which is read only for a cut with hits."""
    parts: dict[str, list[list[Hit]]] = {}
    for name, found in found_by.items():
        t = names[name]
        if found and unitcut.is_cut(name):
            whole = t.text.encode("utf-8", "surrogateescape")
            if t.spill:
                whole = Path(t.spill).read_bytes()
            found = unitcut.remap(found, (root / name).read_bytes(), whole)
        parts.setdefault(t.key, []).append(found)
    return {key: merge(*lists) for key, lists in parts.items()}


def _severity(s: str) -> str:
    s = s.upper()
    if s in ("ERROR", "CRITICAL", "HIGH"):
        return "ERROR"
    return "WARNING" if s in ("WARNING", "MEDIUM") else "INFO"
