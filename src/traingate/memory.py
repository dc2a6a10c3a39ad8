"""The resident memory of traingate's own processes, for the semgrep gate (issue #17).

A whole-repository scan runs Python checks in a forked worker beside its
semgrep processes (fullscan.py). The process tree may hold 500 MB in all, so
the memory gate (checks/semgrep/schedule.py) gives semgrep what traingate's
own processes leave: each one registered here counts as the larger of its
live resident size (``/proc/<pid>/statm``) and the peak measured for its work
(a bound for what it will grow to while a batch runs). A process that has
exited (gone, or a zombie: nothing resident) counts nothing; where /proc is
missing, the measured peak alone counts.

Nothing is registered outside a full scan: a change and the hook keep the
gate's fixed budget (schedule.MEMORY_BUDGET_MB).
"""

from __future__ import annotations

import os
import threading

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20
_lock = threading.Lock()
_own: dict[int, float] = {}  # pid -> the peak measured for its work, MB


def register(pid: int, expected_mb: float) -> None:
    with _lock:
        _own[pid] = expected_mb


def unregister(pid: int) -> None:
    with _lock:
        _own.pop(pid, None)


def active() -> bool:
    """Whether any process is registered (a full scan runs)."""
    return bool(_own)


def own_mb() -> float:
    """What traingate's registered processes hold, or may grow to, now."""
    with _lock:
        own = dict(_own)
    total = 0.0
    for pid, expected in own.items():
        live = resident_mb(pid)
        if live == 0.0:
            continue  # exited: its memory is free (the zombie waits to be reaped)
        total += expected if live is None else max(live, expected)
    return total


def resident_mb(pid: int) -> float | None:
    """``pid``'s resident size in MB; 0.0 when it has exited, None when unknown."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            fields = fh.read().split()
        return int(fields[1]) * _PAGE_MB
    except FileNotFoundError:
        # Gone, unless there is no /proc to ask (then: unknown, and the
        # measured peak counts).
        return 0.0 if os.path.isdir("/proc/self") else None
    except (OSError, ValueError, IndexError):
        return None
