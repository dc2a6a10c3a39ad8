"""A large change's heads scanned while its later files are still being cut (issue #17).

Cutting a modified file to its changed regions (regions.py) costs Python ~25 ms
a large file, under the GIL it shares with the other checks. A run that waited
for every cut kept semgrep idle for the first 5-10 s of a 200-file change of
large files, while the Python checks had both CPUs and used one. Here each
head is written out as it is made; once a few hundred kB are pending they go
to the memory gate as a batch and a semgrep process starts on them, while the
next files are cut. What is pending at the end is planned like any batched run
(plan_batches: longest first, as many batches as CPUs), so no core idles at
the end for want of a split.

Same guarantees as a batched run (runner.py): every target is answered for or
the run fails, any batch's failure fails the run, per-rule limits follow each
batch's largest file, and the overall limit grows with the bytes added.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from traingate import tmptrees
from traingate.checks.semgrep.hits import Hit, cacheable, merge_into
from traingate.checks.semgrep.results import parse as _parse
from traingate.checks.semgrep.runner import (
    OVERALL_S_PER_MB,
    Engine,
    _invoke,
    _materialize,
    _Progress,
    _rule_timeout,
    plan_batches,
    semgrep_executable,
    usable_cpus,
)
from traingate.checks.semgrep.schedule import MemoryGate, estimate_mb
from traingate.checks.semgrep.targets import Target
from traingate.errors import CheckError

if TYPE_CHECKING:  # imported when a stream starts: off the hook's path
    from concurrent.futures import Future, ThreadPoolExecutor

# Pending bytes that start a batch before the last file is cut: at ~15 CPU s
# per MB of cut text, ~4 s of semgrep work, against ~0.4 s to start a process.
FLUSH_BYTES = 250_000


class HeadStream:
    """``add()`` targets as they are made; ``close()`` returns every one's hits.

    Use as a context manager: leaving it early (an exception while cutting)
    cancels what has not started, waits for the running processes and removes
    the temp tree.
    """

    def __init__(self, engine: Engine, flush_bytes: int | None = None) -> None:
        self._engine = engine
        self._flush_bytes = FLUSH_BYTES if flush_bytes is None else flush_bytes
        self._exe = semgrep_executable()
        self._base_cmd = engine.command(self._exe)
        self._tmp = tempfile.TemporaryDirectory(prefix="traingate-scan-")
        self._root = Path(self._tmp.name)
        # An empty .semgrepignore replaces semgrep's default ignore list.
        (self._root / ".semgrepignore").write_text("")
        self._cpus = usable_cpus()
        self._names: dict[str, Target] = {}
        self._count = 0
        self._size: dict[str, int] = {}
        self._pending: list[str] = []
        self._keys: set[str] = set()
        self._cached: dict[str, list[Hit]] = {}
        self._merged: dict[str, list[Hit]] = {}
        self._answered: set[str] = set()
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._progress = _Progress(0, self._t0)
        self._gate = MemoryGate([], lambda b: estimate_mb(self._size[b[0]]), closed=False)
        self._pool: ThreadPoolExecutor | None = None
        self._workers: list[Future[None]] = []

    def __enter__(self) -> HeadStream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._gate.cancel()  # a no-op after close(): nothing is pending then
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        tmptrees.leave(self._tmp)  # a full scan removes it beside reach (issue #17)

    def add(self, t: Target) -> None:
        if t.skip or t.key in self._keys:
            return
        self._keys.add(t.key)
        cache = self._engine.cache
        cached = cache.get(t.key) if cache else None
        if cached is not None:
            self._cached[t.key] = cached
            return
        written = self._engine.names(t, self._count)
        self._count += 1
        if not written:  # no rule can match it (screen.py)
            self._cached[t.key] = []
            if cache is not None:
                cache.put(t.key, [])
            return
        for name, text in written:  # the whole file, and a unit cut of it (unitcut.py)
            _materialize(t, self._root / name, text)
            self._names[name] = t
            self._size[name] = (self._root / name).stat().st_size
            self._pending.append(name)
        self._progress.total = len(self._names)
        pending = sum(self._size[n] for n in self._pending)
        # The first batch at FLUSH_BYTES: a scan's batches are larger
        # (SCAN_BATCH_BYTES), and the first must not idle a CPU while they fill.
        first = self._pool is None
        if pending >= (min(self._flush_bytes, FLUSH_BYTES) if first else self._flush_bytes):
            # One process for what is pending: a split would pay a second start.
            self._flush(max(self._engine.batch_bytes, pending), 1)

    def close(self) -> dict[str, list[Hit]]:
        """Hits of every target added (cached ones included); raises the first
        batch's failure, or if any target went unanswered."""
        # A remainder under FLUSH_BYTES is one process: a second start would
        # cost about as much as the split saves at the end. Past it, one per
        # CPU: a scan's remainder of up to 1.5 MB in one process kept the
        # other CPU idle for its whole run.
        left = sum(self._size[n] for n in self._pending)
        split = left >= min(self._flush_bytes, FLUSH_BYTES)
        self._flush(self._engine.batch_bytes, self._cpus if split else 1)
        self._gate.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for w in self._workers:
            try:
                w.result()
            except CheckError as exc:
                raise CheckError(self._engine.pack.explain(exc.message), help=exc.help) from None
        missing = {self._names[n].key for n in self._names.keys() - self._answered}
        if missing:  # never a silent pass: every name (a cut's too) is answered for
            raise CheckError(f"semgrep was not run on {len(missing)} of the files to check")
        self._progress.finish()
        cache = self._engine.cache
        if cache is not None:
            for key, hits in self._merged.items():
                if cacheable(hits):
                    cache.put(key, hits)
        return {**self._cached, **self._merged}

    def _flush(self, batch_bytes: int, cpus: int) -> None:
        if not self._pending:
            return
        batches = plan_batches({n: self._size[n] for n in self._pending}, cpus, batch_bytes)
        self._pending = []
        self._gate.extend(batches)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(
                max_workers=self._cpus, thread_name_prefix="traingate-batch"
            )
            self._workers = [self._pool.submit(self._worker) for _ in range(self._cpus)]

    def _limit(self) -> int:
        """The overall limit so far: the policy's timeout plus a share per MB added."""
        total = sum(self._size.values())
        return self._engine.settings.timeout + int(OVERALL_S_PER_MB * total / 1e6)

    def _worker(self) -> None:
        from traingate import timeline

        while (batch := self._gate.take()) is not None:
            peak: list[float] = []
            t0 = time.monotonic()
            try:
                hits = self._one(batch, peak)
            except BaseException:
                self._gate.cancel()  # no new batch starts; running ones finish
                raise
            finally:
                self._gate.release(batch, peak[0] if peak else None)
            # The gate's model against the measured peak (issue #17: its refit).
            largest = self._size[batch[0]]
            timeline.record(
                "semgrep-batch",
                t0,
                time.monotonic(),
                0.0,
                kb=largest // 1000,
                files=len(batch),
                est=round(estimate_mb(largest)),
                mb=round(peak[0]) if peak else None,
            )
            with self._lock:
                merge_into(self._merged, hits)
                self._answered.update(batch)
                self._progress.done(len(batch))

    def _one(self, batch: list[str], peak: list[float]) -> dict[str, list[Hit]]:
        limit = self._limit()
        cmd = [*self._base_cmd, _rule_timeout(self._size[batch[0]]), "--jobs=1", *batch]
        left = max(1, math.ceil(self._t0 + limit - time.monotonic()))
        out = _invoke(cmd, self._root, left, shown_timeout=limit, peak=peak)
        # A batch answers for its own files only: every one scanned, no other.
        return _parse(out, {n: self._names[n] for n in batch}, self._root)
