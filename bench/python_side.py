"""The Python checks of a full scan, with the semgrep check off (issue #17).

Runs ``traingate scan .`` over the large-file corpus (bench/large.py builds it)
with a policy that disables semgrep, on an empty cache, and prints wall time,
CPU (user + system of the whole process tree), the tree's peak resident
memory (bench.Sampler) and each check's CPU summed over its parts (the forked
workers of parallel.py included): which check is the next lever.

    python bench/python_side.py                    # the installed traingate
    PYTHONPATH=/tmp/old/src python bench/python_side.py   # another tree's
    python bench/python_side.py --only reach       # one check (the others disabled)
    python bench/python_side.py --only reach --check large-200   # a change, not a scan
    python bench/python_side.py --only reach --cache /tmp/c      # twice: the second is warm
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench

HERE = Path(__file__).resolve().parent
POLICY = "version: 1\nextends: builtin:default\nchecks:\n  semgrep:\n    enabled: false\n"
# Run inside the scan: each check part's CPU (its thread's) and process, to stderr.
STAMP = """
import os, sys, time
from traingate import engine
_orig = engine._run_one
def _timed(cid, ctx):
    c0 = time.thread_time(); r = _orig(cid, ctx)
    print(f"part {cid} pid {os.getpid()} files {len(ctx.files)} cpu {time.thread_time() - c0:.3f}",
          file=sys.stderr, flush=True)
    return r
engine._run_one = _timed
from traingate.cli import main
sys.exit(main(sys.argv[1:]))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, default=HERE / ".cache" / "large" / "repo")
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these checks")
    ap.add_argument("--check", metavar="REV", help="check --base main --head REV instead of a scan")
    ap.add_argument("--cache", type=Path, metavar="DIR", help="this cache dir (default: a new one)")
    args = ap.parse_args()
    policy_text = POLICY
    if args.only:
        from traingate.checks import REGISTRY  # the tree under test's (PYTHONPATH)

        off = [c for c in REGISTRY if c not in args.only]
        policy_text = "version: 1\nextends: builtin:default\nchecks:\n" + "".join(
            f"  {c}:\n    enabled: false\n" for c in off
        )
    command = ["check", "--base", "main", "--head", args.check] if args.check else ["scan", "."]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINGATE_", "SEMGREP_", "GIT_"))}
    with tempfile.TemporaryDirectory(prefix="traingate-pyside-") as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(policy_text)
        env["TRAINGATE_CACHE_DIR"] = str(args.cache or Path(tmp) / "cache")
        load0 = os.getloadavg()[0]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-c", STAMP, *command, "--policy", str(policy), "--format", "json"],
            cwd=args.repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        sampler = bench.Sampler(p.pid)
        sampler.start()
        _, err = p.communicate()
        wall = time.perf_counter() - t0
        sampler.stop()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        tree_cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    cpu: collections.Counter[str] = collections.Counter()
    pids: set[str] = set()
    for m in re.finditer(r"^part (\S+) pid (\d+) files \d+ cpu ([\d.]+)$", err, re.M):
        cpu[m.group(1)] += float(m.group(3))
        pids.add(m.group(2))
    print(f"rc {p.returncode}, wall {wall:.1f} s, CPU {tree_cpu:.1f} s, {len(pids)} process(es), peak {sampler.peak / 2**20:.0f} MB,"
          f" load {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    for check, s in cpu.most_common():
        print(f"  {check:12s} {s:7.1f} CPU s")
    print(f"  {'all':12s} {sum(cpu.values()):7.1f} CPU s")
    return 0 if p.returncode in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
