#!/usr/bin/env python3
"""The cost of a few rules over the large corpus, screened as traingate runs them (issue #17).

`bench/large.py --profile` times the whole pack on a sample; this times only the
rules named, on every corpus file (or every Nth), each file under its masked
name so that a rule runs only where its screen admits it. One semgrep process,
one job, `--time`; prints per rule the lines its screen admits, semgrep's match
time per 10,000 corpus lines, and the findings, plus the process's CPU seconds
(what compares on a loaded machine; match times are wall clock).

    python bench/rule_cost.py sabotage-label-class-remap obfusc-decode-exec
    python bench/rule_cost.py --alone trigger-time-bomb           # one process per rule
    python bench/rule_cost.py --alone --cut tamper-framework-monkeypatch   # unit cuts as a scan writes them
    PYTHONPATH=OLD/src python bench/rule_cost.py --rules OLD/policy/rules RULE   # an older tree

Run `python bench/large.py` once first: it builds the corpus in bench/.cache/large.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(
    rules: Path, ids: list[str], repo: Path, every: int, tmp: Path, cut: bool = False
) -> dict[str, Any]:
    from traingate.checks.semgrep.screenpack import ScreenedPack
    from traingate.checks.semgrep.targets import Target
    from traingate.checks.semgrep.unitcut import Seen, split, unit_tests

    meta = json.loads((repo.parent / "repo.json").read_text())
    targets = meta["py"][every - 1 :: every]
    lines = sum(meta["lines_of"][p] for p in targets)
    pack_dir = tmp / "pack"
    for rule_id in ids:
        (found,) = rules.rglob(f"{rule_id}.yaml")
        dest = pack_dir / found.relative_to(rules)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(found, dest)
    pack = ScreenedPack(pack_dir, tmp)
    # --cut: a unit-cut rule (unitcut.CUT_RULES) gets the cut copies a scan
    # writes (each rule's own units here: a scan may group it with others').
    seen = Seen()
    pack.screens = seen.watch(pack.screens)
    tests = unit_tests(pack.sources, pack.screens.ids) if cut else {}
    root = tmp / "t"
    root.mkdir()
    (root / ".semgrepignore").write_text("")
    origin: dict[str, str] = {}
    admitted: Counter[str] = Counter()
    given = 0  # non-blank lines written for semgrep (cut copies' kept lines)
    c0 = time.process_time()
    for i, path in enumerate(targets):
        text = (repo / path).read_text(encoding="utf-8", errors="surrogateescape")
        seen.take()
        name = pack.name(Target(str(i), path, ".py", text), i, None)
        facts = seen.take()
        if name is None:
            continue
        parts = split(name, len(pack.screens.ids), facts, tests, False) if tests and facts else None
        written = [(name, text)] if parts is None else list(parts.cuts)
        if parts is not None and parts.whole is not None:
            written.append((parts.whole, text))
        for n, t in written:
            (root / n).write_text(t, encoding="utf-8", errors="surrogateescape")
            origin[n] = path
            given += sum(1 for line in t.splitlines() if line.strip())
        mask = name.split("-", 1)[1][: len(pack.screens.ids)]
        for rule_id, bit in zip(pack.screens.ids, mask, strict=True):
            admitted[rule_id] += meta["lines_of"][path] if bit == "1" else 0
    mask_cpu = time.process_time() - c0
    cmd = [
        "semgrep",
        "scan",
        "--experimental",
        "--metrics=off",
        "--disable-version-check",
        "--json",
        "--quiet",
        "--no-git-ignore",
        "--timeout=0",
        "--max-target-bytes=0",
        "--jobs=1",
        "--time",
        f"--config={pack.files(None)[0]}",
        *origin,
    ]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=root, capture_output=True, check=False)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not done.stdout.strip():
        raise SystemExit(done.stderr.decode(errors="replace")[-2000:])
    doc = json.loads(done.stdout)
    timing = doc["time"]
    order = [r.rsplit(".", 1)[-1] for r in timing["rules"]]
    match: Counter[str] = Counter()
    for t in timing["targets"]:
        for i, seconds in enumerate(t["match_times"]):
            match[order[i]] += seconds
    findings = sorted(
        {
            (
                r["check_id"].rsplit(".", 1)[-1],
                origin.get(r["path"], r["path"]),
                r["start"]["line"],
                r["start"]["col"],
            )
            for r in doc["results"]
        }
    )
    return {
        "files": len(targets),
        "lines": lines,
        "files_to_semgrep": len(origin),
        "nonblank_lines_to_semgrep": given,
        "mask_cpu_s": mask_cpu,
        "semgrep_cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "load_average": os.getloadavg(),
        "admitted_lines": dict(admitted),
        "match_s_per_10k_lines": {r: match[r] * 1e4 / lines for r in ids},
        "findings": findings,
        "errors": [str(e.get("message", ""))[:300] for e in doc["errors"]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("rule", nargs="+", help="rule ids")
    ap.add_argument(
        "--rules",
        type=Path,
        default=HERE.parent / "policy" / "rules",
        help="the rule pack's directory",
    )
    ap.add_argument("--every", type=int, default=1, help="every Nth corpus file (1: all)")
    ap.add_argument(
        "--alone", action="store_true", help="one semgrep process per rule (its own CPU seconds)"
    )
    ap.add_argument(
        "--cut", action="store_true", help="unit-cut rules get the cut copies a scan writes"
    )
    ap.add_argument("--cache", type=Path, default=HERE / ".cache" / "large")
    ap.add_argument("--out", type=Path, help="write the JSON here")
    args = ap.parse_args(argv)
    groups = [[r] for r in args.rule] if args.alone else [args.rule]
    results = []
    for ids in groups:
        with tempfile.TemporaryDirectory(prefix="rule-cost-") as tmp:
            res = run(
                args.rules.resolve(), ids, args.cache / "repo", args.every, Path(tmp), args.cut
            )
        results.append(res)
        print(
            f"{', '.join(ids)}: {res['files_to_semgrep']} of {res['files']} files to semgrep "
            f"({res['nonblank_lines_to_semgrep']:,} non-blank lines), "
            f"semgrep {res['semgrep_cpu_s']:.1f} CPU s, masks {res['mask_cpu_s']:.1f} CPU s, "
            f"load {res['load_average'][0]:.1f}"
        )
        for r in ids:
            print(
                f"  {r}: {res['admitted_lines'].get(r, 0):,} lines admitted, "
                f"{res['match_s_per_10k_lines'][r]:.3f} s / 10k lines matching"
            )
        for f in res["findings"]:
            print("  finding", *f)
        for e in res["errors"]:
            print("  error", e)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
