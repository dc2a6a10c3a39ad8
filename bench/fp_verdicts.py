"""Join a traingate JSON report with the per-finding verdicts of issue #16.

    python bench/fp_verdicts.py /tmp/fp_full.json --lines 1658918
    python bench/fp_verdicts.py REPORT --count-lines bench/.cache/large/repo

Counts the findings that block or need an approval (outcome ``block`` or
``require_approval``), looks each up by (path, line, rule) in
``bench/fp_verdicts.json`` (``want``: a reviewer of a shared training repo
wants to see it at merge; ``dismiss``: noise) and prints a markdown table per
rule, the dismissible ones per 10,000 lines, the findings nobody has judged
yet (to judge and add to the verdicts file) and the verdicts whose finding is
no longer reported. Outside the test suite; reads files only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GATED = ("block", "require_approval")

Key = tuple[str, int, str]
# Verdicts were recorded on the first corpus layout, src/<package>/<path>; the
# corpus is now one repository of <path>s (bench/.cache/large/repo).
_OLD_LAYOUT = re.compile(r"^src/[^/]+/")


def _path(p: str) -> str:
    return _OLD_LAYOUT.sub("", p)


def load_verdicts(path: Path) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for v in json.loads(path.read_text(encoding="utf-8")):
        if v["verdict"] not in ("want", "dismiss"):
            raise SystemExit(f"{path}: {v['path']}:{v['line']}: verdict must be want or dismiss")
        out[(_path(v["path"]), int(v["line"]), v["rule"])] = v
    return out


def gated(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["outcome"] in GATED]


def count_lines(root: Path, suffixes: tuple[str, ...]) -> int:
    total = 0
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in suffixes:
            with p.open("rb") as fh:
                total += sum(1 for _ in fh)
    return total


def table(found: list[dict[str, Any]], verdicts: dict[Key, dict[str, Any]], lines: int) -> str:
    per: dict[str, Counter[str]] = {}
    example: dict[tuple[str, str], str] = {}
    for f in found:
        v = verdicts.get((_path(f["path"]), f["line"], f["rule_id"]))
        word = v["verdict"] if v else "unjudged"
        per.setdefault(f["rule_id"], Counter())[word] += 1
        if v:
            example.setdefault((f["rule_id"], word), v["reason"])
    rows = [
        "| rule | n | want | dismiss | unjudged | dismiss per 10k | e.g. dismissed |",
        "|---|---|---|---|---|---|---|",
    ]
    total: Counter[str] = Counter()
    for rule, c in sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        total.update(c)
        rows.append(
            f"| `{rule}` | {sum(c.values())} | {c['want']} | {c['dismiss']} | {c['unjudged']} | "
            f"{c['dismiss'] * 10_000 / lines:.2f} | {example.get((rule, 'dismiss'), '')} |"
        )
    rows.append(
        f"| **all** | {sum(total.values())} | {total['want']} | {total['dismiss']} | "
        f"{total['unjudged']} | **{total['dismiss'] * 10_000 / lines:.2f}** | |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("report", type=Path, help="traingate --format json output")
    ap.add_argument("--verdicts", type=Path, default=HERE / "fp_verdicts.json")
    n = ap.add_mutually_exclusive_group(required=True)
    n.add_argument("--lines", type=int, help="lines scanned (the per-10k denominator)")
    n.add_argument("--count-lines", type=Path, metavar="DIR", help="count the lines under DIR")
    ap.add_argument(
        "--suffixes", nargs="+", default=[".py"], help="with --count-lines (default: .py)"
    )
    args = ap.parse_args(argv)
    lines = args.lines or count_lines(args.count_lines, tuple(args.suffixes))
    if lines <= 0:
        raise SystemExit("no lines counted")
    verdicts = load_verdicts(args.verdicts)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    found = gated(report)
    print(f"{len(found)} blocking-or-approval findings in {lines:,} lines\n")
    print(table(found, verdicts, lines))
    keys = {(_path(f["path"]), f["line"], f["rule_id"]) for f in found}
    new = [f for f in found if (_path(f["path"]), f["line"], f["rule_id"]) not in verdicts]
    if new:
        print(f"\nunjudged ({len(new)}): add them to {args.verdicts}")
        for f in sorted(new, key=lambda f: (f["rule_id"], f["path"], f["line"])):
            print(f"  {f['rule_id']}  {f['path']}:{f['line']}  {f['message'][:120]}")
    # One verdicts file serves several corpora: only those of this report's
    # top-level directories can be "no longer reported" here.
    tops = {f["path"].split("/", 1)[0] for f in report["findings"]}
    gone = [k for k in verdicts if k not in keys and k[0].split("/", 1)[0] in tops]
    if gone and report.get("mode") == "scan":  # a check reports only what it changed
        word = Counter(verdicts[k]["verdict"] for k in gone)
        print(
            f"\nno longer reported: {len(gone)} judged findings "
            f"({word['dismiss']} dismiss, {word['want']} want)"
        )
        for path, line, rule in sorted(gone, key=lambda k: (k[2], k[0], k[1])):
            if verdicts[(path, line, rule)]["verdict"] == "want":
                print(f"  WANT, now missing: {rule}  {path}:{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
