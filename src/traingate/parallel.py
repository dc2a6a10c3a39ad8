"""The Python checks of a large scan or change, on every CPU (issue #17).

A scan of 4,191 library files spent ~260 CPU s in the Python checks, one after
another in one thread while the second CPU idled. Now the engine forks: the
work is cut into parts (a check, or a contiguous run of its files for the
checks whose findings for a file depend on that file alone), every process,
this one included, takes the next part from a shared queue until none is
left, and the children send back their parts' results pickled over a pipe.
A large scan forks one worker before its semgrep thread starts and more
once semgrep is done (fullscan.py); ``Pool.poll`` reads and reaps the
workers while this process waits on something else.

Fail closed: a part whose result does not come back (its worker died, was
killed, or sent anything but well-formed results) is its check's error, which
blocks. Same report: a split check's parts are joined in file order, and a
check with an error in any part reports that first error and no findings, as
one run that raised there would.

A change of many files (engine.FORK_FILES) forks one worker before its
semgrep thread starts (a fork copies one thread: none other may exist); the
worker takes parts at once while semgrep cuts its regions, and this process
joins it when only semgrep's processes are left (``start``, ``Pool.finish``).
Small scans, the hook's few files and every other mode never fork.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple

from traingate.checks.base import Context
from traingate.findings import Finding

Result = tuple[list[Finding], str | None]
RunOne = Callable[[str, Context], Result]

# Checks whose findings for a file depend only on that file (plus the policy and
# the head tree, which every part sees whole): any contiguous run of their files
# gives exactly the findings of those files, in order. Not here: reach (one
# summary of the head tree, then its call sites), config (targets span files),
# and the cheap ones, which are not worth a part each.
PER_FILE = ("sabotage", "unicode", "suppression")
# Below this many lines in the files checked, a scan runs one check after
# another: ~2 CPU s of checks, where a fork (a few ms) and waiting for the
# slowest part win little.
MIN_LINES = 20_000
# Each worker is a copy of this process, counted again in the process tree's
# summed resident memory: on the wheel corpus ~45 MB at the fork, ~110 MB at
# its peak with sabotage's parts, ~150 with reach: four workers ~480 MB.
MAX_WORKERS = 4
# A change (issue #17): its costly checks on 200 large files took ~12 CPU s
# (sabotage 8, reach 4) in the thread that runs semgrep's Python work too;
# the second CPU did nothing but semgrep's processes (~2 CPU s). From this
# many files (engine.CHANGE_FORK_FILES) a worker takes them while semgrep
# cuts its regions. Only one: beside semgrep's two processes and this one, a
# third copy would near the 500 MB the process tree may hold.
MAX_CHANGE_WORKERS = 2
_SMALLEST_PART = 2_000  # lines: a part's own cost (imports are paid once) stays small
# CPU s per 10,000 lines of the wheel corpus (session 13), only to order the
# parts: a wrong guess costs balance, never a finding.
_COST = {"sabotage": 1.06, "reach": 0.48, "suppression": 0.023, "unicode": 0.012}
_COST_OTHER = 0.002
_RECORD = struct.Struct("<I")


class Part(NamedTuple):
    check: str
    start: int  # a slice of the check's ctx.files
    stop: int


def change_workers(contexts: dict[str, Context]) -> int:
    """How many processes should run a large change's checks beside its
    semgrep thread (engine.CHANGE_FORK_FILES decides "large"): 2 when a
    second CPU is usable and no thread runs yet, else 1."""
    if any(ctx.scan_all for ctx in contexts.values()):
        return 1
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    from traingate.checks.semgrep.runner import usable_cpus

    return min(usable_cpus(), MAX_CHANGE_WORKERS)


def workers(contexts: dict[str, Context]) -> int:
    """How many processes should run these checks: 1 unless this is a large
    scan, there are CPUs to use and no thread runs (fork copies one thread)."""
    if not any(ctx.scan_all for ctx in contexts.values()):
        return 1  # a change, the hook: one check after another, as before
    if len(contexts) < 2 and not contexts.keys() & set(PER_FILE):
        return 1  # one part
    files = {f.path: f for ctx in contexts.values() for f in ctx.files}
    if sum(len(f.added_lines) for f in files.values()) < MIN_LINES:
        return 1
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    from traingate.checks.semgrep.runner import usable_cpus

    return min(usable_cpus(), MAX_WORKERS)


def plan(contexts: dict[str, Context], n: int, *, by_files: bool = False) -> list[Part]:
    """The parts, in the order they are taken: costliest first (reach whole,
    the first shares of sabotage), so that the last ones taken are small and
    the workers end together. Each next part of a per-file check is a 1/(2n)
    share of what is left of it. ``by_files``: a change's cost is in its
    files' whole texts, not in its few added lines, so each file weighs one;
    a part holds at least 1/(4n) of the files, as each part parses again the
    helper modules its files import (sabotage keeps them for one run only)."""
    parts: list[tuple[float, Part]] = []
    for check, ctx in contexts.items():
        smallest = math.ceil(len(ctx.files) / (4 * n)) if by_files else _SMALLEST_PART
        cost = _COST.get(check, _COST_OTHER)
        weights = [1 if by_files else len(f.added_lines) + 1 for f in ctx.files]
        if check not in PER_FILE:
            parts.append((cost * sum(weights), Part(check, 0, len(ctx.files))))
            continue
        left, start = sum(weights), 0
        while start < len(weights):
            want, stop, took = max(left // (2 * n), smallest), start, 0
            while stop < len(weights) and (took < want or stop == start):
                took += weights[stop]
                stop += 1
            parts.append((cost * took, Part(check, start, stop)))
            left, start = left - took, stop
    parts.sort(key=lambda cp: -cp[0])  # stable: equal costs keep registry and file order
    return [p for _, p in parts]


def run(contexts: dict[str, Context], run_one: RunOne, n: int) -> dict[str, Result]:
    """Every check's (findings, error), the parts run by ``n`` processes."""
    return start(contexts, run_one, n).finish()


def start(
    contexts: dict[str, Context],
    run_one: RunOne,
    n: int,
    *,
    by_files: bool = False,
    forks: int | None = None,
    expect_mb: float | None = None,
    keep: float = 0.0,
) -> Pool:
    """Fork the workers (``forks``, by default ``n - 1``), which start on the
    parts at once; this process joins them in ``Pool.finish()``. A change forks
    before its semgrep thread starts (no thread may exist at a fork) and
    finishes after semgrep's own Python work: meanwhile the children have the
    other CPU. ``expect_mb``: each worker's measured peak, registered for the
    semgrep memory gate while it lives (memory.py; a full scan's worker runs
    beside semgrep's processes). ``keep``: the workers forked now leave the
    last parts, up to this much cost, to whoever takes parts after them (a
    full scan: to run beside reach once semgrep is done)."""
    parts = plan(contexts, n, by_files=by_files)
    queue_r, queue_w = os.pipe()
    try:
        # Every part's index before any worker starts; a pipe read of one record
        # is atomic, so no two workers take the same part. 4 bytes a part: the
        # queue fits the pipe's buffer (64 KiB), as plan()'s shares shrink
        # geometrically (~100 parts for 10^9 lines on 4 CPUs).
        os.write(queue_w, b"".join(_RECORD.pack(i) for i in range(len(parts))))
    finally:
        os.close(queue_w)
    os.set_blocking(queue_r, False)
    pool = Pool(contexts, run_one, parts, queue_r, _Progress(len(parts)), expect_mb)
    try:
        pool.fork(n - 1 if forks is None else forks, keep=_kept(contexts, parts, keep))
    except BaseException:
        pool.close()
        raise
    return pool


class Pool:
    """Forked workers taking parts; ``finish()`` (this process takes parts
    too, then collects) or, on any way out before it, ``close()``."""

    def __init__(
        self,
        contexts: dict[str, Context],
        run_one: RunOne,
        parts: list[Part],
        queue: int,
        progress: _Progress,
        expect_mb: float | None = None,
    ) -> None:
        self.contexts, self.run_one, self.parts = contexts, run_one, parts
        self.queue, self.progress = queue, progress
        self.expect_mb = expect_mb
        self.children: list[tuple[int, int]] = []  # (pid, read end of its result pipe)
        self._sent: dict[int, list[bytes]] = {}  # pid -> what it has sent so far
        self._done: dict[int, Result] = {}
        self._lost: dict[int, str] = {}  # part -> how its worker ended
        self._open = True

    def fork(self, k: int, *, keep: int = 0) -> int:
        """Fork up to ``k`` more workers onto the parts left; how many started.
        Each stops when ``keep`` parts are left in the queue. Only while no
        other thread runs (a fork copies one thread: a lock another holds
        would stay held in the child)."""
        if k < 1 or not hasattr(os, "fork") or threading.active_count() > 1 or not self._waiting():
            return 0
        me, started = os.getpid(), 0
        from traingate import memory

        sys.stdout.flush()  # a buffer copied into a child could be written twice
        sys.stderr.flush()
        for _ in range(k):
            r, w = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no memory or processes left: fewer workers do it all
                os.close(r)
                os.close(w)
                break
            if pid == 0:  # pragma: no cover - the child; measured through its results
                os.close(r)
                _child(
                    self.parts,
                    self.contexts,
                    self.run_one,
                    (self.queue, keep),
                    w,
                    self.progress,
                    me,
                )
            os.close(w)
            self.children.append((pid, r))
            if self.expect_mb is not None:
                memory.register(pid, self.expect_mb)
            started += 1
        return started

    def poll(self, timeout: float) -> bool:
        """Read what the workers sent, waiting up to ``timeout`` s, and reap
        each that has finished, so that its memory is free at once (the
        semgrep gate gives it to semgrep) and its pipe never fills while this
        process waits on something else. False when no worker is left."""
        import select

        if not self.children:
            return False
        ready, _, _ = select.select([r for _, r in self.children], [], [], timeout)
        for pid, r in [c for c in self.children if c[1] in ready]:
            chunk = os.read(r, 1 << 20)
            if chunk:
                self._sent.setdefault(pid, []).append(chunk)
            else:
                self._reap(pid, r)
        return True

    def finish(self) -> dict[str, Result]:
        parts = self.parts
        try:
            mine = _work(parts, self.contexts, self.run_one, (self.queue, 0), self.progress, None)
            self._done.update(mine)
            while self.children:
                pid, r = self.children[0]
                while chunk := os.read(r, 1 << 20):
                    self._sent.setdefault(pid, []).append(chunk)
                self._reap(pid, r)
        finally:
            self.close()
        return _join(self.contexts, parts, self._done, self._lost)

    def _reap(self, pid: int, r: int) -> None:
        """A worker's pipe is at its end: wait for it and judge what it sent."""
        from traingate import memory

        self.children.remove((pid, r))
        os.close(r)
        got, how = _judge(pid, b"".join(self._sent.pop(pid, [])), len(self.parts))
        memory.unregister(pid)
        self._done.update((i, res) for i, res in got.items() if i not in self._done)
        if how:  # what it took and did not send is lost (a part taken later is done)
            self._lost.update((i, how) for i in range(len(self.parts)) if i not in self._done)

    def _waiting(self) -> bool:
        """Whether any part is left in the queue (unknown: yes, and a worker
        that finds none exits at once)."""
        left = _left(self.queue)
        return left is None or left > 0

    def close(self) -> None:
        """Kill and reap the workers not collected (e.g. Ctrl-C); idempotent."""
        if not self._open:
            return
        from traingate import memory

        self._open = False
        for pid, r in self.children:
            _end(pid, r)
            memory.unregister(pid)
        self.children = []
        os.close(self.queue)
        self.progress.finish()


def _work(
    parts: Sequence[Part],
    contexts: dict[str, Context],
    run_one: RunOne,
    queue_keep: tuple[int, int],
    progress: _Progress,
    parent: int | None,
) -> dict[int, Result]:
    queue, keep = queue_keep
    out: dict[int, Result] = {}
    while (keep == 0 or (_left(queue) or 0) > keep) and (i := _take(queue)) is not None:
        if parent is not None and os.getppid() != parent:
            os._exit(71)  # the parent is gone (e.g. a CI job's SIGTERM): nobody waits
        part = parts[i]
        progress.took(queue, part.check)
        ctx = contexts[part.check]
        if (part.start, part.stop) != (0, len(ctx.files)):
            ctx = replace(ctx, files=ctx.files[part.start : part.stop])
        out[i] = run_one(part.check, ctx)
    return out


def _left(queue: int) -> int | None:
    """Parts left in the queue (Linux: FIONREAD on the pipe), None if unknown."""
    import fcntl
    import termios

    try:
        got = fcntl.ioctl(queue, termios.FIONREAD, b"\0" * 4)
    except OSError:
        return None
    return int(struct.unpack("i", got)[0]) // _RECORD.size


def _kept(contexts: dict[str, Context], parts: Sequence[Part], cost: float) -> int:
    """How many of the last (cheapest) parts cost at most ``cost`` in all."""
    kept, total = 0, 0.0
    for part in reversed(parts):
        files = contexts[part.check].files[part.start : part.stop]
        total += _COST.get(part.check, _COST_OTHER) * sum(len(f.added_lines) + 1 for f in files)
        if total > cost:
            break
        kept += 1
    return kept


def _take(queue: int) -> int | None:
    try:
        got = os.read(queue, _RECORD.size)
    except BlockingIOError:
        return None
    if not got:
        return None  # empty and no writer: every part is taken
    if len(got) != _RECORD.size:  # pragma: no cover - Linux reads records whole
        raise RuntimeError(f"the check queue gave {len(got)} bytes, not a part")
    return int(_RECORD.unpack(got)[0])


def _child(
    parts: Sequence[Part],
    contexts: dict[str, Context],
    run_one: RunOne,
    queue: tuple[int, int],
    out: int,
    progress: _Progress,
    parent: int,
) -> None:  # pragma: no cover - runs in the forked child only
    """A worker's whole life: never returns into the parent's code (which would
    go on to print a second report), never runs the parent's exit handlers."""
    code = 70
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it; the parent reports
        t0, cpu = time.monotonic(), time.process_time()
        sent: object = ("parts", _work(parts, contexts, run_one, queue, progress, parent))
        record_peak("worker", t0, cpu)
        try:
            data = pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            data = pickle.dumps(("failed", f"its results do not pickle: {exc!r}"))
        with os.fdopen(out, "wb") as fh:
            fh.write(data)
        code = 0
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            os.write(out, pickle.dumps(("failed", f"{type(exc).__name__}: {exc}")))
    finally:
        os._exit(code)


def record_peak(name: str, t0: float, cpu: float) -> None:
    """The timeline's record of this process's peak RSS (issue #17: the
    memory gate's numbers for traingate's own processes are measured so)."""
    from traingate import timeline

    if timeline.PATH is not None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
        timeline.record(name, t0, time.monotonic(), time.process_time() - cpu, mb=peak)


def _judge(pid: int, data: bytes, total: int) -> tuple[dict[int, Result], str]:
    """A finished child's results (``data``: all it sent), and "" or how it
    failed. Anything but an exit of 0 after well-formed results is a failure,
    and none of its results count."""
    _, status = os.waitpid(pid, 0)
    sent: object = None
    with contextlib.suppress(Exception):  # garbage: judged below
        sent = pickle.loads(data)
    if os.WIFSIGNALED(status):
        return {}, f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    if isinstance(sent, tuple) and len(sent) == 2 and sent[0] == "failed":
        return {}, f"failed: {sent[1]}"
    if os.waitstatus_to_exitcode(status) != 0:
        return {}, f"exited with status {os.waitstatus_to_exitcode(status)}"
    got = _valid(sent, total)
    if got is None:
        return {}, "sent something that is not the results of its checks"
    return got, ""


def _valid(sent: object, total: int) -> dict[int, Result] | None:
    if not (isinstance(sent, tuple) and len(sent) == 2 and sent[0] == "parts"):
        return None
    body = sent[1]
    if not isinstance(body, dict):
        return None
    out: dict[int, Result] = {}
    for i, res in body.items():
        if not (type(i) is int and 0 <= i < total and isinstance(res, tuple) and len(res) == 2):
            return None
        findings, error = res
        if not isinstance(findings, list) or not all(isinstance(f, Finding) for f in findings):
            return None
        if error is not None and not isinstance(error, str):
            return None
        out[i] = (findings, error)
    return out


def _end(pid: int, r: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass  # already reaped by _judge
    os.close(r)


def _join(
    contexts: dict[str, Context],
    parts: Sequence[Part],
    done: dict[int, Result],
    lost: dict[int, str],
) -> dict[str, Result]:
    """Each check's parts in file order. An error in any part is the check's
    error and drops its findings, as one run that raised there would have."""
    out: dict[str, Result] = {}
    for check in contexts:
        found: list[Finding] = []
        error: str | None = None
        for i in sorted(
            (i for i, p in enumerate(parts) if p.check == check), key=lambda i: parts[i].start
        ):
            if i in done:
                findings, err = done[i]
            else:
                findings, err = (
                    [],
                    (
                        f"check {check!r} failed: the worker process running part of it "
                        f"{lost.get(i, 'never ran it')} before it sent its findings; "
                        "nothing was decided for these files (blocking)"
                    ),
                )
            if error is None and err is not None:
                error = err
            found.extend(findings)
        out[check] = ([], error) if error is not None else (found, None)
    return out


class _Progress:
    """Parts started / total and elapsed time on stderr, as the semgrep check's
    batches report (TRAINGATE_PROGRESS: 1 always, 0 never, else on a terminal).
    Every worker prints as it takes a part; the queue's length is the count."""

    def __init__(self, total: int) -> None:
        flag = os.environ.get("TRAINGATE_PROGRESS", "")
        self.tty = sys.stderr.isatty()
        self.on = flag == "1" or (flag != "0" and self.tty)
        self.total = total
        self.t0 = time.monotonic()  # the same clock in every process

    def took(self, queue: int, check: str) -> None:
        if not self.on:
            return
        import fcntl
        import termios

        try:
            waiting = struct.unpack("i", fcntl.ioctl(queue, termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return
        started = self.total - waiting // _RECORD.size
        line = (
            f"traingate: checks {started}/{self.total} parts ({check:<11}), "
            f"{time.monotonic() - self.t0:.0f}s"
        )
        # One write per line: two workers' lines must not interleave mid-line.
        sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.on and self.tty:
            print(file=sys.stderr, flush=True)
