"""An opt-in timeline of a run's phases, to find where a CPU idles (issue #17).

``TRAINGATE_TIMELINE=path`` appends one JSON line per phase to ``path``: its
name, process, thread, start and end (``time.monotonic()``, one clock for
every process on the machine) and the CPU seconds its thread spent in it
(a semgrep process's phase carries that process's own CPU instead). Every
record is one ``write`` to a file opened with ``O_APPEND``, so the threads and
forked workers of one run, and several runs, append whole lines.

Unset, ``phase()`` returns one shared no-op object: no clock is read and
nothing is imported beyond what the hook already loads. Recording never
alters a decision: a failed write is dropped.
"""

from __future__ import annotations

import os
import time

PATH = os.environ.get("TRAINGATE_TIMELINE") or None


class _Off:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_OFF = _Off()


class _Phase:
    def __init__(self, name: str, extra: dict[str, object]) -> None:
        self.name = name
        self.extra = extra

    def __enter__(self) -> None:
        self.start = time.monotonic()
        self.cpu = time.thread_time()

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        cpu = time.thread_time() - self.cpu
        if kind is not None:
            self.extra["raised"] = kind.__name__
        record(self.name, self.start, time.monotonic(), cpu, **self.extra)


def phase(name: str, **extra: object) -> _Phase | _Off:
    """``with phase("reach"):`` records the block when the timeline is on."""
    return _OFF if PATH is None else _Phase(name, dict(extra))


def record(name: str, start: float, end: float, cpu: float, **extra: object) -> None:
    """One phase measured by the caller (e.g. a subprocess's own CPU time)."""
    if PATH is None:
        return
    import threading  # off the hook's path while the timeline is off

    line = {
        "name": name,
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "start": round(start, 4),
        "end": round(end, 4),
        "cpu": round(cpu, 4),
        **extra,
    }
    import json

    data = (json.dumps(line, default=str) + "\n").encode()
    try:
        fd = os.open(PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError:
        pass  # a diagnostic only: never the run's failure
