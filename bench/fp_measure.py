#!/usr/bin/env python3
"""False positives of the rule pack on real, widely used training code (issue #3).

Downloads the published wheels of a few training libraries from the package
registry into bench/.cache (no dependencies, nothing installed or imported),
unpacks their Python sources, runs `traingate scan` over them, and prints
findings per 10,000 lines by rule as a markdown table. Outside the test suite:

    python bench/fp_measure.py [--packages accelerate==1.1.1 ...] [--out docs/security/false-positives.md]
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "wheels"
DEFAULT = ["accelerate==1.1.1", "pytorch-lightning==2.4.0", "peft==0.13.2"]


def download(spec: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    hits = [p for p in CACHE.glob("*.whl") if p.name.lower().startswith(name + "-" + spec.split("==")[-1])]
    if hits:
        return hits[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(CACHE), spec],
        check=True,
    )
    hits = [p for p in CACHE.glob("*.whl") if p.name.lower().startswith(name + "-")]
    return sorted(hits)[-1]


def unpack(wheel: Path, dest: Path) -> tuple[Path, int, int]:
    root = dest / wheel.stem
    with zipfile.ZipFile(wheel) as z:
        members = [m for m in z.namelist() if m.endswith(".py") and ".dist-info/" not in m]
        for m in members:
            z.extract(m, root)
    lines = sum(len((root / m).read_text(encoding="utf-8", errors="replace").splitlines()) for m in members)
    return root, len(members), lines


def scan(root: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "traingate", "scan", str(root), "--format", "json", "--policy", "builtin:default"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"traingate scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", nargs="*", default=DEFAULT)
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--details", help="write every finding (JSON) here for review")
    args = ap.parse_args()
    per_rule: collections.Counter[str] = collections.Counter()
    severity: dict[str, str] = {}
    rows = []
    details = []
    total_lines = 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.packages:
            root, files, lines = unpack(download(spec), Path(tmp))
            doc = scan(root)
            found = [f for f in doc["findings"] if f["check"] == "semgrep"]
            for f in found:
                per_rule[f["rule_id"]] += 1
                severity[f["rule_id"]] = f["severity"]
                details.append({"package": spec, **{k: f[k] for k in ("rule_id", "severity", "path", "line", "message")}})
            total_lines += lines
            errors = [e.splitlines()[0] for e in doc["errors"]]
            rows.append((spec, files, lines, len(found), errors))
    out = ["| package | .py files | lines | semgrep findings | per 10k lines |", "|---|---|---|---|---|"]
    for spec, files, lines, n, errors in rows:
        out.append(f"| {spec} | {files} | {lines} | {n} | {n * 10000 / max(lines, 1):.2f} |" + (f" errors: {errors}" if errors else ""))
    out += ["", f"Total: {total_lines} lines.", "", "| rule | severity | findings | per 10k lines |", "|---|---|---|---|"]
    for rule, n in per_rule.most_common():
        out.append(f"| `{rule}` | {severity[rule]} | {n} | {n * 10000 / max(total_lines, 1):.2f} |")
    table = "\n".join(out) + "\n"
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    if args.details:
        Path(args.details).write_text(json.dumps(details, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
