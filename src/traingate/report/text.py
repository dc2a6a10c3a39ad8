"""The human report: what blocks, what needs whose approval, what is only a warning.

Issue #18. Diagnostics in the style of ruff and zizmor::

    train.py:6:5: error[exec-os-command] A shell command runs (needs approval at merge)
      |
    6 |     os.system(cmd)
      |     ^^^^^^^^^^^^^^
      = needs: 1 approval from security (sam), at merge
      = help: https://.../docs/rules/exec-os-command.md, or `traingate rule exec-os-command` offline

One vocabulary for outcomes, the same words in every mode and in the docs
(docs/usage/pre-commit.md); the level word follows the policy's outcome, never
the rule's raw severity, so a ``warning[...]`` never blocks:

- ``error`` + ``(blocks)``: blocks in every mode until fixed or exempted;
- ``error`` + ``(needs approval)``: blocks in CI until the named people approve;
  ``(needs approval at merge)`` in hooks (``--approvals-advisory``), where it
  does not fail the commit; ``(approved)`` once they have;
- ``warning`` + ``(does not block)``; any level + ``(exempted)``: never blocks.

The last line is the decision and the exit code, and the lines above it name
exactly which items block and which only need approval at merge.

Output is plain and byte-stable unless colour is asked for; colour goes
through rich, imported only then (the hook runs on every commit).
"""

from __future__ import annotations

import os
import re
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TextIO

from traingate.findings import Finding, Outcome, Report, Requirement

if TYPE_CHECKING:
    from traingate.catalog import Rule


@dataclass(frozen=True)
class Options:
    color: bool = False
    explain: bool = False  # the rule's long explanation under each finding
    # "group ... has no members" comes from the policy, which an engineer
    # cannot change: shown by `policy validate`/`policy explain` and once in CI.
    policy_warnings: bool = True
    skip_hint: str | None = None  # the hook's bypass, e.g. "SKIP=traingate git commit"


Span = tuple[str, str]  # (text, rich style; "" for none)
Line = list[Span]

_LEVEL_STYLE = {"error": "bold red", "warning": "bold yellow"}
_TAG_STYLE = {
    "blocks": "bold red",
    "needs approval": "bold red",
    "needs approval at merge": "yellow",
    "approved": "green",
    "does not block": "yellow",
    "exempted": "dim",
}
_GUTTER = "bold blue"
_LABEL = "bold cyan"
_NO_MEMBERS = re.compile(r"group '[^']*' has no members")
MAX_SOURCE_WIDTH = 160


def use_color(stream: TextIO) -> bool:
    """NO_COLOR (no-color.org) wins; then FORCE_COLOR (force-color.org); else
    a terminal that is not TERM=dumb. Pipes, files, CI logs and pre-commit's
    captured output stay plain."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb"


# --- text from the change is escaped before it reaches a terminal ------------


def _unsafe(ch: str) -> bool:
    # Controls, format characters (bidi overrides, zero-width), surrogates
    # (undecodable path bytes), private use, unassigned, line separators: a
    # change must not be able to move the cursor, recolour or reorder the report.
    return ch != "\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _escape(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def clean(text: str) -> str:
    """``text`` with every unsafe character written as ``<U+XXXX>``."""
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def _width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _display(line: str) -> tuple[str, list[int]]:
    """The line as shown (tabs expanded, unsafe characters escaped) and the
    display column where each character starts (plus one past the end)."""
    out: list[str] = []
    offsets: list[int] = []
    col = 0
    for ch in line:
        offsets.append(col)
        if ch == "\t":
            rep, w = " " * (4 - col % 4), 4 - col % 4
        elif _unsafe(ch):
            rep = _escape(ch)
            w = len(rep)
        else:
            rep, w = ch, _width(ch)
        out.append(rep)
        col += w
    offsets.append(col)
    return "".join(out), offsets


# semgrep reports columns as UTF-8 byte offsets; the other checks count
# characters. Only the caret converts: the `path:line:col` printed is the
# check's own (issue #18 leaves that to the semgrep check).
BYTE_COLUMNS = frozenset({"semgrep"})


def _char_index(f: Finding, line: str, column: int) -> int:
    if f.check not in BYTE_COLUMNS:
        return column - 1
    raw = line.encode("utf-8", "surrogateescape")[: max(column - 1, 0)]
    return len(raw.decode("utf-8", "ignore"))


def _span(f: Finding, line: str) -> tuple[int, int]:
    """0-based [start, end) character range of the finding on its line."""
    body_start = len(line) - len(line.lstrip())
    body_end = len(line.rstrip())
    if f.column is None:
        return body_start, max(body_end, body_start + 1)
    start = min(max(_char_index(f, line, f.column), 0), len(line))
    if f.end_line == f.line and f.end_column is not None and f.end_column > f.column:
        end = min(_char_index(f, line, f.end_column), len(line))
    elif f.end_line is not None and f.line is not None and f.end_line > f.line:
        end = max(body_end, start + 1)
    else:
        end = start + 1
    return start, max(end, start + 1)


def _source(f: Finding, level: str) -> list[Line]:
    if f.source_line is None or f.line is None:
        return []
    line = f.source_line
    start, end = _span(f, line)
    lo, hi, pre, post = 0, len(line), "", ""
    if _display(line)[1][-1] > MAX_SOURCE_WIDTH:  # a window around the caret
        lo = max(0, start - 40)
        hi = lo
        width = 0
        while hi < len(line) and width < MAX_SOURCE_WIDTH - 2:
            width = _display(line[lo : hi + 1])[1][-1]
            hi += 1
        pre, post = ("…" if lo > 0 else ""), ("…" if hi < len(line) else "")
    shown, offsets = _display(line[lo:hi])
    a = offsets[min(max(start - lo, 0), len(offsets) - 1)] + len(pre)
    b = offsets[min(max(end - lo, 0), len(offsets) - 1)] + len(pre)
    gutter = " " * len(str(f.line))
    caret = "^" * max(b - a, 1)
    style = _LEVEL_STYLE[level]
    return [
        [(f"{gutter} |", _GUTTER)],
        [(f"{f.line} |", _GUTTER), (f" {pre}{shown}{post}".rstrip(), "")],
        [(f"{gutter} |", _GUTTER), (" " + " " * a, ""), (caret, style)],
    ]


# --- findings ----------------------------------------------------------------


def _loc(f: Finding) -> str:
    if f.line is None:
        return clean(f.path)
    return f"{clean(f.path)}:{f.line}:{f.column or 1}"


def _level(f: Finding) -> str:
    return "warning" if f.outcome is Outcome.WARN else "error"


def _requirement_of(report: Report, f: Finding) -> Requirement | None:
    return next(
        (r for r in report.requirements if r.kind == "finding" and f.approval_group in r.approvers),
        None,
    )


def status(report: Report, f: Finding) -> str:
    """The finding's outcome in this run, in the report's one vocabulary
    (also the markdown report's words)."""
    if f.exemption is not None:
        return "exempted"
    if f.outcome is Outcome.BLOCK:
        return "blocks"
    if f.outcome is Outcome.WARN:
        return "does not block"
    r = _requirement_of(report, f)
    if r is not None and r.satisfied:
        return "approved"
    return "needs approval" if report.enforce_approvals else "needs approval at merge"


def _one_of(users: Sequence[str], word: str = "or") -> str:
    names = [clean(u) for u in users]
    if not names:
        return "(nobody)"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _pending(r: Requirement) -> str:
    if r.error:
        return f"{clean(r.name)}: {clean(r.error)}"
    who = [u for u in r.eligible if u not in r.approved_by]
    return f"{clean(r.name)}: {r.missing} from {_one_of(who)}"


# The pack's messages are a summary sentence, then the rationale (the catalog
# takes the same first sentence as the rule's summary).
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)\.\s+")


def one_line(message: str) -> tuple[str, str]:
    """The message's first sentence, and the rest (shown with ``--explain``)."""
    text = " ".join(message.split())
    m = _SENTENCE_END.search(text)
    if m is None:
        return text, ""
    return text[: m.start()], text[m.end() :]


def _rule(f: Finding) -> Rule | None:
    """The catalog entry for the docs link, without loading the whole semgrep
    pack (~0.5 s of YAML): check rules from the static registry, pack rules
    by their file name (each pack rule's file is named by its id)."""
    from traingate.catalog import Rule, check_catalogs

    catalog = check_catalogs().get(f.check)
    if catalog is not None and f.rule_id in catalog:
        return catalog[f.rule_id]
    if f.check == "semgrep" and _in_pack(f.rule_id):
        return Rule(f.rule_id, f.severity, "", check="semgrep", pack=True)
    return None


@cache
def _in_pack(rule_id: str) -> bool:
    from traingate.policy.load import data_dir

    if not re.fullmatch(r"[\w.\-]+", rule_id):
        return False
    return any((data_dir() / "rules").glob(f"*/{rule_id}.yaml"))


def _finding(report: Report, f: Finding, opts: Options) -> list[Line]:
    level = _level(f)
    tag = status(report, f)
    first, rest = one_line(clean(f.message))
    lines: list[Line] = [
        [
            (_loc(f), "bold"),
            (": ", ""),
            (f"{level}[{f.rule_id}]", _LEVEL_STYLE[level]),
            (f" {first} ", ""),
            (f"({tag})", _TAG_STYLE[tag]),
        ]
    ]
    lines += _source(f, level)
    pad = " " * (len(str(f.line)) + 1 if f.source_line is not None and f.line else 2)

    def note(label: str, text: str) -> None:
        lines.append([(f"{pad}= ", _GUTTER), (f"{label}:", _LABEL), (f" {text}", "")])

    if opts.explain and rest:
        wrapped = textwrap.wrap(rest, width=88 - len(pad) - 7, break_on_hyphens=False)
        for i, chunk in enumerate(wrapped):
            if i == 0:
                note("why", chunk)
            else:
                lines.append([(f"{pad}  {' ' * 5}{chunk}", "")])
    if f.exemption is not None:
        note("exempted", f"{clean(f.exemption)} (an exemption in the trusted policy)")
    elif f.outcome is Outcome.REQUIRE_APPROVAL:
        r = _requirement_of(report, f)
        group = clean(f.approval_group or "?")
        if r is None:
            note("needs", f"1 approval from {group}; `scan` has no approvals, so it blocks here")
        elif r.satisfied:
            note("approved", f"by {_one_of(r.approved_by, 'and')}")
        elif r.error:
            note("needs", f"1 approval from {group}, but {clean(r.error)}")
        else:
            when = ", at merge" if not report.enforce_approvals else ""
            who = [u for u in r.eligible if u not in r.approved_by]
            note("needs", f"{r.missing} approval from {group} ({_one_of(who)}){when}")
    if f.help and not f.help.startswith("see docs/"):
        note("fix", clean(f.help))
    rule = _rule(f)
    if rule is not None:
        note("help", f"{rule.url}, or `traingate rule {f.rule_id}` offline")
    return lines


def _requirement(r: Requirement) -> list[Line]:
    mark = "ok " if r.satisfied else "MISSING"
    who = ", ".join(clean(a) for a in r.approvers)
    s = "s" if r.required != 1 else ""
    lines: list[Line] = [
        [
            ("  [", ""),
            (mark, "green" if r.satisfied else "bold red"),
            (f"] {clean(r.name)}: needs {r.required} approval{s} from {who}", ""),
            (f" ({len(r.approved_by)}/{r.required})", ""),
        ]
    ]

    def sub(text: str) -> None:
        lines.append([(f"      {text}", "")])

    paths = [clean(p) for p in r.paths]
    sub(f"paths: {', '.join(paths[:8])}{' ...' if len(paths) > 8 else ''}")
    if r.reasons:
        reasons = [clean(x) for x in r.reasons]
        sub(f"raised by: {'; '.join(reasons[:5])}{' ...' if len(reasons) > 5 else ''}")
    if r.approved_by:
        sub(f"approved by: {', '.join(clean(u) for u in r.approved_by)}")
    for user, why in r.rejected:
        sub(f"not counted: {clean(user)}: {clean(why)}")
    if r.error:
        sub(f"error: {clean(r.error)}")
        sub("help: add members to the group in the trusted policy, or ask the security team")
    elif not r.satisfied:
        pending = [clean(u) for u in r.eligible if u not in r.approved_by]
        sub(f"eligible approvers: {', '.join(pending) or '(none)'}")
    return lines


# --- the summary: one vocabulary ---------------------------------------------


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _summary(report: Report, opts: Options) -> list[Line]:
    shown = [f for f in report.findings if f.outcome is not Outcome.IGNORE]
    # Outright blocks, and (in `scan`, which has no approvals) findings whose
    # approval nobody can give there. Findings pending an approval that a
    # requirement asks for are counted once, as that requirement.
    blocks = [
        f
        for f in shown
        if report.finding_blocks(f)
        and (f.outcome is Outcome.BLOCK or _requirement_of(report, f) is None)
    ]
    unmet = report.unmet
    missing = unmet if report.enforce_approvals else []
    at_merge = [] if report.enforce_approvals else unmet
    warns = [f for f in shown if f.outcome is Outcome.WARN and f.exemption is None]
    exempted = [f for f in shown if f.exemption is not None]
    blocked = report.decision == "block"

    def brief(fs: list[Finding]) -> str:
        return "; ".join(f"{f.rule_id} at {_loc(f)}" for f in fs)

    out: list[Line] = []

    def item(label: str, text: str, style: str) -> None:
        out.append([(f"{label}:", style), (f" {text}", "")])

    if blocks:
        item("blocks now", brief(blocks), "bold red")
    if missing:
        item("approvals missing (block now)", "; ".join(_pending(r) for r in missing), "bold red")
    if at_merge:
        when = "do not block this commit" if opts.skip_hint else "not enforced in this run"
        item(
            f"approvals needed at merge ({when})",
            "; ".join(_pending(r) for r in at_merge),
            "yellow",
        )
    if warns:
        item("warnings (never block)", brief(warns), "yellow")
    if exempted:
        item("exempted (never block)", brief(exempted), "dim")
    nexts: list[str] = []
    if blocks:
        nexts.append(
            "fix what blocks; for a false positive, ask the security team for an exemption "
            "in the trusted policy (`exemptions:` in .traingate.yaml on the target branch)"
        )
    if missing:
        nexts.append("ask the approvers named above to approve the merge request")
    if at_merge:
        nexts.append(
            "open the merge request and ask the approvers named above to approve it; "
            "CI enforces these approvals at merge"
        )
    if opts.skip_hint and blocked:
        nexts.append(
            f"`{opts.skip_hint}` skips this hook once; CI still enforces the policy at merge"
        )
    for text in nexts:
        item("next", text, _LABEL)

    if blocked:
        why = []
        if report.errors:
            why.append(_n(len(report.errors), "error"))
        if blocks:
            why.append(f"{_n(len(blocks), 'finding')} block{'s' if len(blocks) == 1 else ''}")
        if missing:
            why.append(f"{_n(len(missing), 'approval')} missing")
        if not why:  # cannot happen with the rules above; never print a bare verdict
            why.append("see above")
        out.append([("BLOCKED", "bold red"), (f": {', '.join(why)} (exit {report.exit_code})", "")])
    else:
        parts = []
        if at_merge:
            parts.append(f"{_n(len(at_merge), 'approval')} needed at merge")
        if warns:
            parts.append(_n(len(warns), "warning"))
        if exempted:
            parts.append(f"{len(exempted)} exempted")
        tail = f": {', '.join(parts)}" if parts else ""
        out.append([("PASSED", "bold green"), (f"{tail} (exit {report.exit_code})", "")])
    return out


def lines(report: Report, opts: Options) -> list[Line]:
    out: list[Line] = []
    n = len(report.changed_files)
    out.append(
        [
            (
                f"traingate {report.mode}: {n} file{'s' if n != 1 else ''}, "
                f"policy {clean(report.policy_source)}",
                "dim",
            )
        ]
    )
    for f in report.findings:
        if f.outcome is Outcome.IGNORE:
            continue
        out.append([])
        out.extend(_finding(report, f, opts))
    if report.requirements:
        out.append([])
        title = (
            "Approvals:"
            if report.enforce_approvals
            else "Approvals this change will need at merge:"
        )
        out.append([(title, "bold")])
        for r in report.requirements:
            out.extend(_requirement(r))
    notes: list[Line] = []
    for ex in report.exemptions:
        if ex.expired:
            notes.append(
                [
                    ("warning", _LEVEL_STYLE["warning"]),
                    (
                        f": exemption for {clean(ex.check)}/{clean(ex.rule)} on "
                        f"{', '.join(clean(p) for p in ex.paths)}"
                        + (f" via {', '.join(clean(v) for v in ex.via)}" if ex.via else "")
                        + f" expired {ex.expires}",
                        "",
                    ),
                ]
            )
    for w in report.warnings:
        if not opts.policy_warnings and _NO_MEMBERS.search(w):
            continue
        notes.append([("warning", _LEVEL_STYLE["warning"]), (f": {clean(w)}", "")])
    if notes:
        out.append([])
        out.extend(notes)
    if report.errors:
        out.append([])
        out.append([("Errors (the gate fails closed):", "bold red")])
        for e in report.errors:
            out.extend([[("  " + clean(line), "")] for line in e.rstrip().splitlines()])
    out.append([])
    out.extend(_summary(report, opts))
    return out


def _plain(rows: list[Line]) -> str:
    return "".join("".join(text for text, _ in row) + "\n" for row in rows)


def _colored(rows: list[Line]) -> str:
    import io

    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    # Every setting explicit: the caller already decided on colour, and the
    # bytes must not depend on the terminal's size or COLORTERM (snapshots).
    console = Console(
        file=buf,
        force_terminal=True,
        color_system="standard",
        no_color=False,
        width=10_000,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )
    for row in rows:
        text = Text()
        for chunk, style in row:
            text.append(chunk, style=style or None)
        console.print(text)
    return buf.getvalue()


def render(report: Report, options: Options | None = None) -> str:
    opts = options or Options()
    rows = lines(report, opts)
    return _colored(rows) if opts.color else _plain(rows)
