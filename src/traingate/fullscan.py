"""A whole-repository scan's checks on every CPU, within the memory limit (issue #17).

Session 19's full scan of the eight-library corpus (200 CPU s on 2 CPUs)
ran semgrep alone, then the Python checks in forked workers: once the
semgrep check had cut its last target, ~1.5 semgrep processes ran for 36 s
while the memory gate kept the largest batches apart, and ~20 s of one CPU
idled. Two semgrep processes (~410 MB) leave the 500 MB process tree no room
for a Python check (a worker with sabotage's parts ~110 MB, reach ~280 MB
in one process), but one semgrep process beside one worker fits, and keeps
two CPUs busy as well as two semgrep processes do. So:

1. before any thread exists, one worker is forked (parallel.start) and
   takes the parts of every check but reach at once, beside the semgrep
   check's cutting and its processes; it is registered with its measured
   peak (memory.py), and the gate lets semgrep have what it and this
   process leave: one process while it lives, two once it has exited;
2. the semgrep check runs in a thread; this process reads the worker's
   results as they come (its pipe never fills, and its memory is free the
   moment it exits) and joins the thread;
3. then, no thread left, reach runs here (its facts came from the semgrep
   screens' parses, prefill.py, and are all on disk by now), while workers
   forked again if parts are left take them beside it; ``Pool.finish``
   takes what is left and collects. The semgrep check's temporary trees
   are removed in a thread beside them (tmptrees.py): removed in the
   semgrep thread, they held reach and the worker back 3.5-10.6 s on a
   loaded machine, with nothing else running (session 22).

Fail closed as parallel.py: a part whose worker dies is its check's error;
an exception in the semgrep thread is the semgrep check's error; the thread
is always joined, the workers always reaped. Findings are those of one check
after another: parts are joined in file order (parallel._join).
"""

from __future__ import annotations

import os
import threading
import time

from traingate import memory, parallel, tmptrees
from traingate.checks.base import Context
from traingate.checks.reach import prefill

Result = parallel.Result
# Measured on the corpus (session 20, each process's ru_maxrss in the
# timeline): traingate's own process peaked at 77 MB while the semgrep check
# cut its targets and waited on its batches, the worker forked at the start
# (sabotage's, suppression's and unicode's parts, the small checks) at
# 119-120 MB. The gate counts each as the larger of this and its live size.
SELF_MB = 80.0
WORKER_MB = 150.0
# Workers beside semgrep's processes: a second one (~150 MB) would leave the
# gate no room for any semgrep process but the one it always lets run.
BESIDE_WORKERS = 1
# Reach runs after semgrep, alone unless parts are left for a worker beside
# it: the worker beside semgrep leaves the cheapest parts worth about reach's
# cost (warm, its facts prefilled: 6.3 CPU s against sabotage's 34.9 on the
# corpus, i.e. 0.19 in parallel._COST's units, where sabotage is 1.06).
REACH_COST = 0.19
_POLL_S = 0.25


def run(contexts: dict[str, Context], run_one: parallel.RunOne, beside: str) -> dict[str, Result]:
    """Every check's result but those left to the caller (one after another)."""
    rest = {c: ctx for c, ctx in contexts.items() if c != beside}
    n = parallel.workers(rest)
    queued = {c: ctx for c, ctx in rest.items() if c != prefill.ID}
    if beside not in contexts or n < 2 or not queued:
        # Semgrep first and alone, then the Python checks on every CPU (session 19).
        first = prefill.run_first(run_one, beside, contexts)
        if n > 1:
            first.update(parallel.run(rest, run_one, n))
        return first
    results: dict[str, Result] = {}
    me = os.getpid()
    t0, cpu = time.monotonic(), time.process_time()
    memory.register(me, SELF_MB)
    pool = None
    thread = None
    cleaner = None
    failed: list[BaseException] = []
    try:
        with tmptrees.collect() as trees:
            reach = rest.get(prefill.ID)
            keep = REACH_COST * sum(len(f.added_lines) + 1 for f in reach.files) if reach else 0.0
            pool = parallel.start(
                queued, run_one, n, forks=min(BESIDE_WORKERS, n - 1), expect_mb=WORKER_MB, keep=keep
            )
            ctx = contexts[beside]

            def semgrep() -> None:
                with prefill.armed(contexts.get(prefill.ID)):
                    results[beside] = run_one(beside, ctx)

            thread = threading.Thread(target=semgrep, name="traingate-semgrep", daemon=True)
            thread.start()
            while thread.is_alive() and pool.poll(_POLL_S):
                pass
            thread.join()
            parallel.record_peak("main-beside-semgrep", t0, cpu)  # what SELF_MB bounds
            pool.poll(0)  # a worker that has just stopped is reaped: fork in its place
            pool.fork(n - 1 - len(pool.children))  # no thread is left: the other CPUs
            # Only now: a fork copies one thread, so none may run at a fork.
            left = list(trees)
            trees.clear()
            cleaner = threading.Thread(
                target=_remove, args=(left, failed), name="traingate-tmptrees", daemon=True
            )
            cleaner.start()
            if reach is not None:
                results[prefill.ID] = run_one(prefill.ID, reach)
            results.update(pool.finish())
    finally:
        memory.unregister(me)
        if pool is not None:
            pool.close()  # a no-op after finish()
        if thread is not None and thread.ident is not None:
            thread.join()
        if cleaner is not None:
            cleaner.join()
    if failed and beside in results and results[beside][1] is None:
        # Fail closed as before, when the check removed them itself: a tree it
        # could not remove was its error.
        results[beside] = (
            [],
            f"check {beside!r} crashed (this is a bug in traingate): "
            f"its temporary files could not be removed: {failed[0]!r}",
        )
    return results


def _remove(trees: list[tmptrees.TempTree], failed: list[BaseException]) -> None:
    try:
        tmptrees.remove(trees)
    except Exception as exc:
        failed.append(exc)
