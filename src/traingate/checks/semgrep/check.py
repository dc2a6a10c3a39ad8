"""The semgrep check's run: targets, regions, one or two semgrep runs, newness, findings.

Imported by ``run`` in the package, so a commit that changes no relevant file
never loads the engine (the hook's fast path).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from traingate import timeline, tmptrees
from traingate.change import ChangedFile, Status
from traingate.checks.base import Context
from traingate.checks.semgrep import ID, shellparse
from traingate.checks.semgrep.hits import Hit, error_hit
from traingate.checks.semgrep.newness import new_hits, scan_pairs
from traingate.checks.semgrep.pipeline import FLUSH_BYTES, HeadStream
from traingate.checks.semgrep.regions import regions as cut_regions
from traingate.checks.semgrep.rulepack import RulePack
from traingate.checks.semgrep.runner import BATCH_BYTES, SCAN_BATCH_BYTES, Engine
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.checks.semgrep.targets import (
    PY_EXT,
    SCRIPT_EXT,
    Target,
    is_python,
    spill,
    target,
)
from traingate.findings import Finding
from traingate.policy.base import Severity


def run(ctx: Context) -> list[Finding]:
    spill_dir = tempfile.TemporaryDirectory(prefix="traingate-spill-")
    try:
        return _run(ctx, Path(spill_dir.name))
    finally:
        tmptrees.leave(spill_dir)  # a full scan removes it beside reach (issue #17)


def _run(ctx: Context, spill_dir: Path) -> list[Finding]:
    settings = ctx.settings
    assert isinstance(settings, SemgrepSettings)
    pack = RulePack.load(ctx, settings)  # a missing or unreadable pack blocks, targets or not

    # The engine is made at the first target (issue #17): a docs-only commit,
    # most of the hook's runs, has none, and making it costs the semgrep
    # version lookup (the cache's key).
    @functools.cache
    def engine() -> Engine:
        batch = SCAN_BATCH_BYTES if ctx.scan_all else BATCH_BYTES
        return Engine(pack, settings, ctx.cache_dir, batch, work_dir=spill_dir)

    pairs: list[tuple[Target, Target | None, ChangedFile]] = []
    with contextlib.ExitStack() as leave:
        stream: HeadStream | None = None
        pending = 0  # bytes of heads cut before the stream started
        prep = leave.enter_context(_Span("semgrep:targets"))
        for f, head, base in _targets(ctx, settings):
            size = len(head.text)
            if not ctx.scan_all and f.status is not Status.ADDED:
                # Only the shipped pack's rule shapes were analysed for cutting.
                if base is not None and not settings.rule_dirs:
                    head, base = _changed_regions(head, base, f)
            elif ctx.scan_all and head.text:
                # Issue #17: a scan needs no text after semgrep but for the syntax
                # check, so it waits on disk instead of in memory (72 MB for the
                # wheel corpus) beside the semgrep processes.
                head = spill(head, spill_dir / f"s{len(pairs)}")
            pairs.append((head, base, f))
            if head.skip:
                continue
            if stream is not None:
                stream.add(head)
                continue
            # A change past a batch's worth scans its heads while the rest is
            # cut (pipeline.py); a small one keeps the single semgrep start.
            # A scan's heads are screened as they come too (issue #17: the
            # wheel corpus's 4,191 files were all screened, one CPU idle,
            # before its first batch started), a scan batch's worth at a time.
            pending += len(head.text) if base is not None else size
            if pending >= FLUSH_BYTES:
                flush = SCAN_BATCH_BYTES if ctx.scan_all else None
                stream = leave.enter_context(HeadStream(engine(), flush))
                for h, _, _ in pairs:
                    stream.add(h)
        prep.end()
        if ctx.prepared is not None:
            ctx.prepared()  # only semgrep's processes and their results are left
        with timeline.phase("semgrep:scan"):
            hits = (
                scan_pairs(engine(), pairs, stream.close() if stream is not None else None)
                if pairs
                else {}
            )
    if ctx.scan_all:  # the report's order is the files', not the screening's
        order = {id(f): i for i, f in enumerate(ctx.files)}
        pairs.sort(key=lambda p: order[id(p[2])])
    with timeline.phase("semgrep:findings"):
        return _findings(ctx, engine, pairs, hits)


def _findings(
    ctx: Context,
    engine: Callable[[], Engine],
    pairs: list[tuple[Target, Target | None, ChangedFile]],
    hits: dict[str, list[Hit]],
) -> list[Finding]:
    findings: list[Finding] = []
    # Issue #16: read the rule files only when a shell target failed to parse.
    need_ast = functools.cache(lambda: _shell_ast_rules(ctx, engine().pack))
    for head, base, f in pairs:
        head_hits = list(hits.get(head.key, ()))
        if shellparse.is_shell(head.ext) and any(h.parse_error for h in head_hits):
            head_hits = shellparse.judge(head_hits, head.content(), need_ast())
        if head.ext in SCRIPT_EXT and head.problem is None:
            head_hits = shellparse.syntax(head_hits, head.content())
        # Screening parsed most heads already (screen.py): not again.
        syntax = None if engine().parsed(head.key) else _python_syntax(head)
        if syntax is not None:
            # One parse error per file CPython cannot parse (issue #16: an R
            # notebook gave semgrep's beside CPython's); other hits stay.
            head_hits = [h for h in head_hits if h.rule != "semgrep-parse-error"]
            head_hits.append(syntax)
        if head.problem is not None:
            problem = f"this file {head.problem}"
            head_hits.append(error_hit("source-unreadable", problem, head.problem_line))
        base_hits = hits.get(base.key, []) if base is not None else []
        # Python on both sides: hits are compared as syntax (identity.py, issue #16).
        texts = None
        if base is not None and is_python(head) and is_python(base):
            texts = (head.text, base.text)
        new = new_hits(head_hits, base_hits, set(f.added_lines), ctx.scan_all, texts)
        findings.extend(_finding(head, h) for h in new)
    return findings


def _shell_ast_rules(ctx: Context, pack: RulePack) -> list[str]:
    """The loaded bash rules that need semgrep's syntax tree and that the
    policy acts on (not ``ignore``): while there is none, a shell file semgrep
    cannot parse hides nothing from the rules (shellparse.py)."""
    from traingate.engine import resolve_action
    from traingate.findings import Finding

    def active(rule_id: str, severity: str, category: str | None) -> bool:
        sev = {"ERROR": Severity.ERROR, "WARNING": Severity.WARNING}.get(
            severity.upper(), Severity.INFO
        )
        probe = Finding("", None, None, ID, rule_id, sev, "", category=category)
        return resolve_action(ctx.policy.policy, ctx.settings, probe) != "ignore"

    return shellparse.ast_rules(pack.dirs, active)


def _targets(
    ctx: Context, settings: SemgrepSettings
) -> Iterator[tuple[ChangedFile, Target, Target | None]]:
    """Each changed file's head and base targets; then, where a file has one,
    its companion pair (issue #16: a notebook's shell escapes as bash)."""
    files: list[ChangedFile] = list(ctx.files)
    if ctx.scan_all:
        # Issue #17: largest first. Beside the worker that runs the Python
        # checks (fullscan.py) only one semgrep process fits the memory budget
        # anyway; the large-file batches, which cannot run two at a time,
        # run then, and the small ones pair up once the worker has exited
        # (last, they left a CPU idle for ~18 s of a 96 s scan).
        files.sort(key=lambda f: -len(f.added_lines))
    for f in files:
        head = target(ctx.change, f, new=True, limit=settings.max_file_bytes)
        if head is None:
            continue
        base = None
        if not ctx.scan_all and f.status is not Status.ADDED:
            base = target(ctx.change, f, new=False, limit=settings.max_file_bytes)
        if head.companion is None:
            yield f, head, base
            continue
        yield f, replace(head, companion=None), base
        # The companion chain (session 27: a config's inline Python and its
        # template escapes), each paired with the base's of the same kind.
        olds = {t.ext: t for t in _chain(base.companion if base else None)}
        for c in _chain(head.companion):
            yield f, replace(c, companion=None), olds.get(c.ext)


def _chain(t: Target | None) -> Iterator[Target]:
    while t is not None:
        yield t
        t = t.companion


class _Span:
    """A timeline phase ended by ``end()`` or at the latest by the exit stack."""

    def __init__(self, name: str) -> None:
        self._phase = timeline.phase(name)
        self._open = False

    def __enter__(self) -> _Span:
        self._phase.__enter__()
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

    def end(self) -> None:
        if self._open:
            self._open = False
            self._phase.__exit__(None)


def _changed_regions(head: Target, base: Target, f: ChangedFile) -> tuple[Target, Target]:
    """Issue #17: a large Python file scanned only where the change can matter
    (regions.py), both versions cut alike; anything else is scanned whole."""
    for t in (head, base):
        if t.ext not in PY_EXT or t.line_map is not None or t.problem or t.skip:
            return head, base
    cut = cut_regions(head.text, base.text, f.added_lines, f.removed_lines)
    if cut is None:
        return head, base
    return _as_cut(head, cut[0]), _as_cut(base, cut[1])


def _as_cut(t: Target, text: str) -> Target:
    return replace(
        t, text=text, region=hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    )


def _python_syntax(t: Target) -> Hit | None:
    """CPython's own parser (ast.parse never runs code): semgrep accepts some
    code CPython rejects (Python 2 prints), and we block what we cannot judge."""
    if t.skip or (not t.ext.endswith(".py") and t.ext not in PY_EXT):
        return None
    if t.region:
        return None  # a cut is made only of a file ast parsed (regions.py)
    import warnings

    from traingate import pyast

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pyast.parse(t.content(), filename=t.path)
    except SyntaxError as exc:
        line = exc.lineno or 1
        where = f"line {line}" + (f", column {exc.offset}" if exc.offset else "")
        return error_hit(
            "python-syntax-error",
            f"not valid Python {sys.version_info[0]}.{sys.version_info[1]} ({exc.msg} at {where}); "
            "code the gate cannot parse is blocked",
            line,
        )
    except (ValueError, RecursionError, MemoryError) as exc:
        return error_hit(
            "python-syntax-error", f"Python cannot parse this file: {type(exc).__name__}"
        )
    return None


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
    )
