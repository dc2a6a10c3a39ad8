#!/usr/bin/env python3
"""Every corpus file's screen mask from one tree of the code, to compare two
(issue #17: a change to screen.py's facts must keep the masks it does not
mean to change).

    PYTHONPATH=/old/src python bench/screen_masks.py dump --rules /old/policy/rules --out old.json
    python bench/screen_masks.py dump --out new.json
    python bench/screen_masks.py compare old.json new.json

``dump`` imports ``traingate`` from the path it is given (PYTHONPATH) and
reports the CPU time of the masks (facts and tests). ``compare`` prints, per
rule both dumps screen, the files whose bit differs: "narrowed" (1 -> 0) and
"widened" (0 -> 1), and exits 1 on any widening or on a narrowing of a rule
not named in --may-narrow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "bench" / ".cache" / "large" / "repo"


def dump(args: argparse.Namespace) -> int:
    if not os.environ.get("PYTHONPATH"):
        sys.path.insert(0, str(ROOT / "src"))
    from traingate.checks.semgrep import screen

    files = sorted(args.corpus.rglob("*.py"))[:: args.every]
    screens, _ = screen.read(sorted(args.rules.rglob("*.yaml")))
    masks: dict[str, str] = {}
    lines = 0
    cpu = 0.0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n") + 1
        t0 = time.process_time()
        mask, _ = screens.mask_parsed(text)
        cpu += time.process_time() - t0
        masks[path.relative_to(args.corpus).as_posix()] = mask
    print(
        f"{len(files)} files, {lines:,} lines: masks {cpu:.2f} cpu s "
        f"({cpu / lines * 1e4:.3f} s per 10k lines) from {screen.__file__}"
    )
    args.out.write_text(json.dumps({"ids": list(screens.ids), "masks": masks}))
    return 0


def compare(args: argparse.Namespace) -> int:
    old, new = (json.loads(p.read_text()) for p in (args.old, args.new))
    may = set(filter(None, args.may_narrow.split(",")))
    bad = 0
    for rule in sorted(set(old["ids"]) & set(new["ids"])):
        i, j = old["ids"].index(rule), new["ids"].index(rule)
        narrowed = widened = 0
        for name, mask in old["masks"].items():
            a, b = mask[i], new["masks"][name][j]
            narrowed += a == "1" and b == "0"
            widened += a == "0" and b == "1"
        if narrowed or widened:
            print(f"{rule}: narrowed {narrowed}, widened {widened}")
        if widened or (narrowed and rule not in may):
            bad += 1
    only = sorted(set(old["ids"]) ^ set(new["ids"]))
    print(f"{len(old['masks'])} files; rules in one dump only: {', '.join(only) or 'none'}")
    print("identical elsewhere" if not bad else f"{bad} rule(s) changed unexpectedly")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--corpus", type=Path, default=CORPUS)
    d.add_argument("--rules", type=Path, default=ROOT / "policy" / "rules")
    d.add_argument("--every", type=int, default=1)
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--may-narrow", default="", help="comma-separated rule ids")
    args = ap.parse_args()
    return dump(args) if args.cmd == "dump" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
