"""Which semgrep batch runs next: the CPUs in use, under a memory budget (issue #17).

A one-job semgrep process's resident memory is set by its largest file, not by
its batch's total: measured with the shipped pack on the large-file corpus,
~131 MB with the pack loaded and no real target, 177-227 MB for each of the
five largest files (200-280 kB) alone, 188 MB for a 0.5 MB batch of 28 kB
files, 182 MB for five 95 kB files, and three of the largest together peaked
at their largest's own peak. Two processes that happen to hold the two largest
files at once are what pushed a whole-repository scan past its 500 MB; the
gate below starts a batch only when its estimate fits beside the running
ones, so the peak is a property of the plan rather than of timing. It never
idles a CPU that some pending batch could use: a worker takes the first
pending batch (plan order, largest first) that fits, and one batch always
runs, however large its estimate.

The model is fitted to this pack and semgrep release; a costlier rule or
another release moves it. So the gate also learns from the processes it ran:
each finished batch reports its measured peak (the kernel's ru_maxrss of that
process, runner._invoke), and when a peak exceeds its batch's estimate by more
than the model's own error every later estimate is scaled up by that ratio
(never down: the budget is a bound).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

# The estimate errs high: 0.4 MB per kB puts the 280 kB file at 243 MB (it
# peaked at 198 MB) and the 234 kB one at 225 MB (it peaked at 227 MB).
PROCESS_BASE_MB = 131.0
PEAK_MB_PER_KB = 0.4
# Every semgrep process at once: the 500 MB for the whole tree less
# traingate's own process (46-50 MB while semgrep runs in a scan) and a
# margin: in session 18 a reference cycle in the screens' facts left ~30 MB
# of syntax trees in traingate's process through the semgrep phase and the
# scan peaked at 499 MB under a budget of 440 (fixed: facts.py,
# tests/test_semgrep_facts_no_cycles.py; 468 MB after, with this budget).
MEMORY_BUDGET_MB = 410.0
# The model's own error on the corpus: -19% (the largest file) to +32% (a
# 0.5 MB batch of 28 kB files, 188 MB against 142), which the sum of two
# batches absorbed (438 MB for the tree). A peak past this ratio means the
# model no longer describes the engine, and only then does the gate rescale.
MODEL_TOLERANCE = 1.5


def estimate_mb(largest_bytes: int) -> float:
    """A one-job semgrep process's expected peak RSS for a batch whose largest file has this size."""
    return PROCESS_BASE_MB + PEAK_MB_PER_KB * largest_bytes / 1000


class MemoryGate:
    """Hands out batches to worker threads under a memory budget.

    ``take()`` blocks until a pending batch fits beside the running ones (or
    nothing runs) and returns it, or returns None once nothing is pending and
    the gate is closed, or ``cancel()`` was called; ``release()`` returns a
    finished batch's share. A gate made with ``closed=False`` takes more
    batches with ``extend()`` until ``close()`` (pipeline.py: batches start
    while later files are still being prepared).
    """

    def __init__(
        self,
        batches: Sequence[list[str]],
        cost: Callable[[list[str]], float],
        budget: float = MEMORY_BUDGET_MB,
        *,
        closed: bool = True,
    ) -> None:
        self._cost = cost
        self._pending = [(cost(b), b) for b in batches]
        self._budget = budget
        self._held: dict[int, float] = {}  # id of a running batch -> its model estimate
        self.scale = 1.0  # measured peak / model estimate, the largest seen (>= 1)
        self._cancelled = False
        self._closed = closed
        self._cond = threading.Condition()
        self.peak = 0.0  # the largest sum of estimates that ran at once

    def take(self) -> list[str] | None:
        with self._cond:
            while True:
                if self._cancelled or (self._closed and not self._pending):
                    return None
                for i, (mb, batch) in enumerate(self._pending):
                    running = sum(self._held.values()) * self.scale
                    if not self._held or running + mb * self.scale <= self._budget:
                        del self._pending[i]
                        self._held[id(batch)] = mb
                        self.peak = max(self.peak, running + mb * self.scale)
                        return batch
                self._cond.wait()

    def release(self, batch: list[str], measured_mb: float | None = None) -> None:
        """``batch`` finished; ``measured_mb`` is its process's peak, if known."""
        with self._cond:
            mb = self._held.pop(id(batch))
            if measured_mb is not None and mb > 0 and measured_mb > MODEL_TOLERANCE * mb:
                self.scale = max(self.scale, measured_mb / mb)
            self._cond.notify_all()

    def extend(self, batches: Sequence[list[str]]) -> None:
        with self._cond:
            assert not self._closed, "batches added to a closed gate"
            self._pending += [(self._cost(b), b) for b in batches]
            self._cond.notify_all()

    def close(self) -> None:
        """No more batches: take() returns None once the pending ones are out."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()
