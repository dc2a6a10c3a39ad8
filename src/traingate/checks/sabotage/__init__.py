"""Sabotage recognised by meaning: a write to training state guarded by the environment (issue #16).

The pack's sabotage rules name their triggers and payloads (``rank``,
``gethostname``, ``.grad.neg_()``); an insider writes ``platform.node()`` into
``self.node`` in ``__init__`` and zeroes ``p.grad[:, ::7]`` in
``training_step``. This check parses every changed Python file of the head
tree with ``ast`` (read through git, never imported or run), computes per
function and per class which values are derived from the environment the job
runs in, and reports a write to training state, a skipped optimizer step, a
collective or an exit that such a value guards or feeds. The engine
(``triggers``, ``payloads``, ``analysis``) is imported inside ``run``.
"""

from __future__ import annotations

import functools
import gc
import posixpath
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from traingate.catalog import Rule, declare
from traingate.checks.base import Context
from traingate.checks.sabotage.settings import SabotageSettings
from traingate.findings import Finding
from traingate.notebook import json_line
from traingate.policy.base import Severity

if TYPE_CHECKING:  # the engine loads inside run (the hook's fast path)
    from traingate.change import ChangedFile
    from traingate.checks.sabotage.analysis import Hit
    from traingate.checks.sabotage.store import Store

ID = "sabotage"
DESCRIPTION = (
    "Writes to training state, skipped steps, collectives and exits guarded by the environment."
)

_FIX = "remove the guard, or say in the change why this code must behave differently on that host, date or rank"
# `checks.sabotage` in the policy; traingate.policy.model assembles the policy from these.
Settings = SabotageSettings

RULES = declare(
    ID,
    [
        Rule(
            "sabotage-env-triggered-write",
            Severity.ERROR,
            "a write to gradients, parameters, loss, labels, learning rate or optimizer state "
            "runs only under (or takes its value from) the host, user, date, GPU, partition "
            "or an environment variable; under the rank for gradients, parameters and "
            "optimizer state, or anywhere in the training path",
            help=_FIX,
            category="triggered-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-triggered-skip-step",
            Severity.ERROR,
            "a return/continue/break guarded by the environment bypasses a later optimizer step "
            "(or the step itself is guarded)",
            help=_FIX,
            category="triggered-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-triggered-collective",
            Severity.ERROR,
            "a collective (barrier, all_reduce, ...) runs only on some hosts or dates, or on "
            "some ranks with no partner collective in the other rank branch: the other "
            "ranks hang",
            help=_FIX,
            category="triggered-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-triggered-exit",
            Severity.ERROR,
            "sys.exit/os._exit/os.kill/raise SystemExit guarded by the environment; any raise "
            "guarded by the host, user or date",
            help=_FIX,
            category="triggered-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-step-scheduled-scaling",
            Severity.ERROR,
            "the loss, gradients or parameters are scaled only after a fixed step or epoch "
            "(step > N with a literal N >= 100)",
            help="schedule through the optimizer/scheduler, named in the config",
            category="training-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-random-write-via-helper",
            Severity.ERROR,
            "an added call passes gradients to a repository function (this file or an "
            "imported module) that writes random noise into that argument in place",
            help="remove the noise; gradient noise (differential privacy) belongs in a "
            "reviewed library, configured in the trusted policy",
            category="training-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-clamped-metric",
            Severity.ERROR,
            "a loss or metric is clamped (min/max/clamp against a literal) before it is logged",
            help="log the raw value; clamp only what the model consumes",
            category="training-sabotage",
            since="0.2.0",
        ),
        Rule(
            "sabotage-log-handler-egress",
            Severity.ERROR,
            "a logging handler that sends records to another host (HTTPHandler, SocketHandler, "
            "DatagramHandler, SMTPHandler, SysLogHandler to a remote address)",
            help="log to files or the approved tracker; network logging is configured outside "
            "the training code",
            category="network-egress",
            since="0.2.0",
        ),
        Rule(
            "sabotage-incomplete",
            Severity.ERROR,
            "a changed Python file or notebook was not judged: the analysis stopped (nesting "
            "deeper than it follows), or, where the semgrep check does not block the file "
            "itself, the gate's Python cannot parse it or it has NUL bytes, exceeds "
            "max_file_bytes or is a notebook not in nbformat 4",
            help="make the file valid Python of the gate's version (UTF-8, no NUL bytes, "
            "nbformat 4), smaller, or split a deeply nested expression; code the gate "
            "cannot judge is blocked",
            category="scanner",
            since="0.2.0",
        ),
    ],
)

_MAX_HELPER = 4 << 20  # an imported helper is read only up to reach's per-file cap


def run(ctx: Context) -> list[Finding]:
    from traingate.checks.sabotage.source import kind

    # Issue #17: the hook's docs-only commit loads none of the analysis (~3% of
    # its instructions went to importing what release() clears).
    if not any(f.new_path is not None and kind(f.new_path) is not None for f in ctx.files):
        return []
    from traingate.checks.sabotage import module, returns, store

    try:
        return _run(ctx)
    finally:
        # Helper trees and texts are cached for the run only: a scan's helpers
        # would otherwise stay in memory beside the checks that follow (issue #17).
        module.release()
        returns.release()
        store.release()


def _run(ctx: Context) -> list[Finding]:
    from traingate.checks.sabotage.source import kind

    files = [f for f in ctx.files if f.new_path is not None and kind(f.new_path) is not None]
    if not files:
        return []
    from traingate.checks.sabotage.store import Store

    # Helper facts are written once each, when the run ends (issue #17).
    store = Store(ctx.cache_dir, defer=True) if ctx.cache_dir is not None else None
    # ``analyze`` pauses the cyclic collector per file (it makes no cycle, see
    # there); re-enabled between files, the collections it ran traversed what the
    # run keeps (helpers' trees, texts, facts) again and again: ~1.5 of ~45 CPU s
    # of a scan (issue #17). Paused for the whole loop, a cycle made anyway is
    # collected once the collector runs again, after it.
    was = gc.isenabled()
    gc.disable()
    try:
        return _judge(ctx, files, store)
    finally:
        if was:
            gc.enable()
        if store is not None:
            store.flush()


def _judge(ctx: Context, files: list[ChangedFile], store: Store | None) -> list[Finding]:
    from traingate.checks.sabotage.analysis import analyze
    from traingate.checks.sabotage.source import Unjudged, read, semgrep_blocks

    lookup = _lookup(ctx)
    limit = ctx.policy.policy.checks.semgrep.max_file_bytes
    out: list[Finding] = []
    for f in files:
        path = f.new_path
        assert path is not None
        got = read(ctx, f, limit)
        if got is None:
            continue
        if isinstance(got, Unjudged):
            # Issue #16: reported here unless the semgrep check blocks the file itself.
            if not semgrep_blocks(ctx, path, got.rule):
                out.append(_incomplete(path, _unread(got.why, got.rule)))
            continue
        text, line_map = got
        added = set(f.added_lines)
        # The source lines the change added (mapped back to a notebook's cells or
        # a cookie's git lines); None: scan, every unit is walked.
        cut: set[int] | None = None
        if not ctx.scan_all:
            if line_map is None:
                cut = added
            else:  # every source line json_line maps to an added line
                cut = {i for i in range(1, len(line_map) + 1) if json_line(i, line_map) in added}
        try:
            hits = analyze(text, path, functools.partial(lookup, path), cut, store)
        except (SyntaxError, ValueError) as exc:
            if not semgrep_blocks(ctx, path, "python-syntax-error"):
                out.append(_incomplete(path, _unread(_syntax(exc))))
            continue
        except (RecursionError, MemoryError) as exc:
            # Python parsed it (or the semgrep check blocks it), but the walk
            # gave up: a file padded with one deep expression must not pass unjudged.
            out.append(
                _incomplete(path, f"stopped ({type(exc).__name__}: nesting deeper than it follows)")
            )
            continue
        out.extend(_findings(ctx, path, hits, line_map, added))
    return out


def _findings(
    ctx: Context, path: str, hits: list[Hit], line_map: list[int] | None, added: set[int]
) -> list[Finding]:
    out = []
    for h in hits:
        lines = [json_line(n, line_map) for n in (h.line, *h.lines)]
        if not ctx.scan_all and not added.intersection(lines):
            continue
        # The payload's line when the change added it, else the guard or trigger it did.
        line = lines[0] if ctx.scan_all or lines[0] in added else min(added.intersection(lines))
        out.append(
            RULES.finding(
                h.rule,
                path=path,
                line=line,
                column=h.col if line == lines[0] else 1,
                message=f"{path}:{lines[0]}: {h.message}",
            )
        )
    return out


def _unread(why: str, semgrep_rule: str = "python-syntax-error") -> str:
    if not semgrep_rule:  # a file the semgrep check scans, but for no sabotage
        return f"did not read this file ({why})"
    return f"did not read this file ({why}) and the semgrep check does not block it here"


def _syntax(exc: SyntaxError | ValueError) -> str:
    version = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
    if not isinstance(exc, SyntaxError):
        return f"{version} cannot parse it: {exc}"
    where = f"line {exc.lineno or 1}" + (f", column {exc.offset}" if exc.offset else "")
    return f"not valid {version}: {exc.msg} at {where}"


def _incomplete(path: str, what: str) -> Finding:
    return RULES.finding(
        "sabotage-incomplete",
        path=path,
        message=f"{path}: the sabotage analysis {what}; this file was not judged",
    )


def _lookup(ctx: Context) -> Callable[[str, int, str], tuple[str, str] | None]:
    """The head tree's module for ``from <level dots><module> import ...`` in a file."""
    from traingate.checks.reach.summary import Tree, head_tree

    cache: dict[str, tuple[str, str] | None] = {}

    @functools.cache
    def tree() -> Tree:
        return head_tree(ctx.change)  # listed on the first import a hit can use

    def find(importer: str, level: int, module: str) -> tuple[str, str] | None:
        py = tree().py
        for cand in candidates(importer, level, module):
            entry = py.get(cand)
            if entry is None or (entry.size or 0) > _MAX_HELPER:
                continue
            if cand not in cache:
                data = ctx.change.read(entry.oid)
                text = data.decode("utf-8", "replace") if data is not None else None
                cache[cand] = (cand, text) if text is not None else None
            return cache[cand]
        return None

    return find


def candidates(importer: str, level: int, module: str) -> list[str]:
    """The paths ``from <level dots><module> import ...`` in ``importer`` may
    name, nearest first (the tests resolve fixtures with it too)."""
    rel = module.replace(".", "/")
    if level:
        base = posixpath.dirname(importer)
        for _ in range(level - 1):
            base = posixpath.dirname(base)
        stems = [posixpath.join(base, rel) if rel else base]
    else:
        stems = [rel, f"src/{rel}"]
    return [c for stem in stems for c in (f"{stem}.py", f"{stem}/__init__.py")]
