"""Where a traingate run's memory goes (issue #17: peak RSS of a full scan).

Runs ``traingate <args>`` twice over the same arguments:

1. in a child process, summing the RSS of its whole process tree (traingate
   and every semgrep it starts) from /proc every 0.5 s: the tree's peak, the
   largest single process's (what ``/usr/bin/time`` reports), traingate's
   own, and which process held what at the tree's peak. The tree's PSS is
   given too: RSS counts the pages two semgrep-core processes share (~74 MB
   of its binary) in each of them, PSS splits them among every process on
   the machine that maps them (other semgrep runs too: read it alone);
2. with ``--per-check``, in this process, printing each check's RSS before
   and after it runs and the process's peak so far (in ``check`` the semgrep
   check runs in a thread beside the others, so disable it in the policy to
   read the Python checks alone; a ``scan`` runs it first, alone).

    python bench/check_memory.py scan src --policy builtin:default --format json
    python bench/check_memory.py --per-check scan src --policy nosemgrep.yaml --format json

Run it from the repository to check (``bench/.cache/large`` for the wheel
corpus), with ``TRAINGATE_CACHE_DIR`` pointing at an empty directory for a
cold run. The findings go to /dev/null: this measures, it does not judge.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from typing import Any


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(root: int) -> set[int]:
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    parent[int(name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


def tree_peak(args: list[str]) -> int:
    cmd = [sys.executable, "-m", "traingate", *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = single = own = pss = 0
    at_peak: list[tuple[int, str]] = []
    while proc.poll() is None:
        tree = _tree(proc.pid)
        sizes = {p: _rss_kb(p) for p in tree}
        pss = max(pss, sum(_pss_kb(p) for p in tree))
        total = sum(sizes.values())
        own = max(own, sizes.get(proc.pid, 0))
        single = max(single, max(sizes.values(), default=0))
        if total > peak:
            # What is resident when the tree peaks (issue #17): which process holds what.
            peak = total
            at_peak = sorted(
                ((kb, "traingate" if p == proc.pid else _name(p)) for p, kb in sizes.items() if kb),
                reverse=True,
            )
        time.sleep(0.5)
    parts = ", ".join(f"{name} {kb // 1024}" for kb, name in at_peak)
    print(
        f"exit {proc.returncode}, {time.monotonic() - t0:.1f} s; peak RSS of the process "
        f"tree {peak // 1024} MB (PSS {pss // 1024} MB), of one process {single // 1024} MB, "
        f"of traingate's own {own // 1024} MB (sampled every 0.5 s); at the tree's peak, "
        f"MB: {parts}"
    )
    return 0


def per_check(args: list[str]) -> int:
    from traingate import engine
    from traingate.cli import main

    run_one = engine._run_one

    def timed(check_id: str, ctx: Any) -> Any:
        t, before = time.monotonic(), _rss_kb(os.getpid())
        out = run_one(check_id, ctx)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"{check_id:12s} RSS {before // 1024} -> {_rss_kb(os.getpid()) // 1024} MB, "
            f"peak so far {peak // 1024} MB, {time.monotonic() - t:.1f} s "
            f"({threading.current_thread().name})",
            file=sys.stderr,
        )
        return out

    engine._run_one = timed
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            code = main(args)
        finally:
            sys.stdout = stdout
    return code


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["--per-check"]:
        sys.exit(per_check(argv[1:]))
    sys.exit(tree_peak(argv))
