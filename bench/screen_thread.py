#!/usr/bin/env python3
"""The screening thread of a full scan, with semgrep left out (issue #17).

Runs the semgrep check of ``traingate scan .`` over the large-file corpus
in-process (read, decode, spill, screen, unit cuts, batches: check.py with
pipeline.HeadStream), but every batch is answered by a stand-in that reads
what semgrep would have been given instead of starting semgrep: its CPU is
the screening thread's alone. Reach's prefill is not armed (reach/prefill.py
rides on the same trees; bench/python_side.py measures it).

    python bench/screen_thread.py --out new.json              # the tree installed
    PYTHONPATH=/old/src python bench/screen_thread.py --out old.json
    python bench/screen_thread.py compare old.json new.json   # names, texts, batches
    python bench/screen_thread.py --profile prof.out          # cProfile of the thread

``--out`` records each name written (the mask and the cut copies in it) with
the sha256 of its text, and every batch (its names, sorted): two trees of
the code must write the same files into the same batches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "bench" / ".cache" / "large" / "repo"


def run(args: argparse.Namespace) -> int:
    if not os.environ.get("PYTHONPATH"):
        sys.path.insert(0, str(ROOT / "src"))
    from traingate import change as changes
    from traingate.checks.base import Context
    from traingate.checks.semgrep import check, pipeline
    from traingate.policy import load as policy_load

    written: dict[str, str] = {}
    batches: list[list[str]] = []
    lock = threading.Lock()

    def answer(cmd: list[str], cwd: Path, timeout: int, **_: Any) -> dict[str, Any]:
        names = [c for c in cmd if c.startswith("t") and not c.startswith("--")]
        with lock:
            batches.append(sorted(names))
            if args.out:
                for n in names:
                    written[n] = hashlib.sha256((cwd / n).read_bytes()).hexdigest()
        return {"results": [], "errors": [], "paths": {"scanned": names}}

    pipeline._invoke = answer  # type: ignore[assignment]
    os.chdir(args.corpus)
    change = changes.scan_paths(["."])
    policy = policy_load.load_builtin()
    settings = policy.policy.checks.semgrep
    files = [f for f in change.files if f.new_path is not None]
    with tempfile.TemporaryDirectory(prefix="screen-thread-") as cache:
        ctx = Context(change, policy, settings, files, Path(cache), True)
        prof = None
        if args.profile:
            import cProfile

            prof = cProfile.Profile(time.thread_time)  # CPU: the machine is shared
            prof.enable()
        in_gc = _gc_clock()
        t0, c0 = time.monotonic(), time.thread_time()
        found = check.run(ctx)
        cpu, wall = time.thread_time() - c0, time.monotonic() - t0
        gc_cpu = in_gc()
        if prof is not None:
            prof.disable()
            prof.dump_stats(args.profile)
    print(
        f"{len(files)} files, {len(written) or '-'} names, {len(batches)} batches, "
        f"{len(found)} findings: screening thread {cpu:.2f} cpu s ({wall:.2f} s wall; "
        f"the cyclic collector {gc_cpu:.2f} cpu s of it) "
        f"from {check.__file__}"
    )
    if args.out:
        args.out.write_text(
            json.dumps({"written": written, "batches": sorted(batches), "findings": len(found)})
        )
    return 0


def _gc_clock() -> Any:
    """The CPU the cyclic collector takes in this thread from now: a callable."""
    import gc

    spent = [0.0, 0.0]
    me = threading.get_ident()

    def note(phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != me:
            return
        if phase == "start":
            spent[1] = time.thread_time()
        else:
            spent[0] += time.thread_time() - spent[1]

    gc.callbacks.append(note)
    return lambda: spent[0]


def compare(args: argparse.Namespace) -> int:
    old, new = (json.loads(p.read_text()) for p in (args.old, args.new))
    bad = 0
    names = set(old["written"]) | set(new["written"])
    for n in sorted(names):
        if old["written"].get(n) != new["written"].get(n):
            bad += 1
            if bad <= 20:
                print(f"differs: {n}")
    same_batches = old["batches"] == new["batches"]
    print(
        f"{len(old['written'])} / {len(new['written'])} names, {bad} differ; "
        f"batches {'identical' if same_batches else 'DIFFER'} "
        f"({len(old['batches'])} / {len(new['batches'])}); "
        f"findings {old['findings']} / {new['findings']}"
    )
    return 1 if bad or not same_batches or old["findings"] != new["findings"] else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("cmd", nargs="?", choices=["run", "compare"], default="run")
    ap.add_argument("old", type=Path, nargs="?")
    ap.add_argument("new", type=Path, nargs="?")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path, help="record names, text hashes and batches here")
    ap.add_argument("--profile", type=Path, help="cProfile the run into this file")
    args = ap.parse_args()
    if args.cmd == "compare":
        return compare(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
