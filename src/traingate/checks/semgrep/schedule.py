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

from traingate import memory

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
# A full scan (issue #17) runs Python work beside semgrep's processes and
# registers traingate's processes (memory.py): semgrep then has the process
# tree's limit less a margin and what those processes hold or are measured
# to grow to, read again at each batch's start. Its estimates are refitted
# to the peaks of session 20's 20 batches of the corpus (163-208 MB, largest
# files 63-279 kB): an upper envelope of all 20 (the 233 kB batch: 209
# against 208; the 279 kB one: 218 against 198), and every peak over its
# estimate scales the later ones (tolerance 1.0). The margin covers what the
# gate does not see (git cat-file, a process's growth past its measured
# peak): the corpus's tree peaked at 462 MB under it. The change path keeps
# the model above and its fixed budget.
TREE_MB = 500.0
MARGIN_MB = 20.0
SCAN_BASE_MB = 165.0
SCAN_MB_PER_KB = 0.19
# While processes are registered, a waiting batch looks again this often: a
# worker's exit frees its memory without a word to the gate.
RECHECK_S = 0.25
# The model's own error on the corpus: -19% (the largest file) to +32% (a
# 0.5 MB batch of 28 kB files, 188 MB against 142), which the sum of two
# batches absorbed (438 MB for the tree). A peak past this ratio means the
# model no longer describes the engine, and only then does the gate rescale.
MODEL_TOLERANCE = 1.5


def estimate_mb(largest_bytes: int) -> float:
    """A one-job semgrep process's expected peak RSS for a batch whose largest
    file has this size (the refitted model in a full scan: memory.active())."""
    if memory.active():
        return SCAN_BASE_MB + SCAN_MB_PER_KB * largest_bytes / 1000
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
        budget: float | None = None,
        *,
        closed: bool = True,
    ) -> None:
        self._cost = cost
        self._pending = [(cost(b), b) for b in batches]
        self._budget = budget  # None: MEMORY_BUDGET_MB, or the measured one (budget())
        self._held: dict[int, float] = {}  # id of a running batch -> its model estimate
        self.scale = 1.0  # measured peak / model estimate, the largest seen (>= 1)
        self._cancelled = False
        self._closed = closed
        self._cond = threading.Condition()
        self.peak = 0.0  # the largest sum of estimates that ran at once

    def budget(self) -> float:
        """MB for every semgrep process at once: fixed, unless traingate's own
        processes are registered (a full scan), then what they leave."""
        if self._budget is not None:
            return self._budget
        if not memory.active():
            return MEMORY_BUDGET_MB
        return TREE_MB - MARGIN_MB - memory.own_mb()

    def take(self) -> list[str] | None:
        with self._cond:
            while True:
                if self._cancelled or (self._closed and not self._pending):
                    return None
                budget = self.budget() if self._pending else 0.0
                for i, (mb, batch) in enumerate(self._pending):
                    running = sum(self._held.values()) * self.scale
                    if not self._held or running + mb * self.scale <= budget:
                        del self._pending[i]
                        self._held[id(batch)] = mb
                        self.peak = max(self.peak, running + mb * self.scale)
                        return batch
                self._cond.wait(RECHECK_S if memory.active() else None)

    def release(self, batch: list[str], measured_mb: float | None = None) -> None:
        """``batch`` finished; ``measured_mb`` is its process's peak, if known."""
        with self._cond:
            mb = self._held.pop(id(batch))
            tolerance = 1.0 if self._budget is None and memory.active() else MODEL_TOLERANCE
            if measured_mb is not None and mb > 0 and measured_mb > tolerance * mb:
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
