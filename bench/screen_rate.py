#!/usr/bin/env python3
"""How often each rule's screen lets it run on real code, and whether it ever
drops a real match (issue #17; src/traingate/checks/semgrep/screen.py).

    python bench/screen_rate.py                      # every 10th file of the large corpus
    python bench/screen_rate.py --every 1            # all of it (~20 CPU s of parsing)
    python bench/screen_rate.py --verify --every 20  # and run those rules unscreened on
                                                     # the same files: every match must be
                                                     # screened in
    python bench/screen_rate.py --rules exec-os-command,deser-pickle-load

"Lines in" is the share of the corpus's lines in files the screen lets the
rule run on: the share of the rule's semgrep work left. The corpus is
bench/large.py's (the published wheels of eight training libraries).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from traingate.checks.semgrep import screen  # noqa: E402

RULES = ROOT / "policy" / "rules"
CORPUS = ROOT / "bench" / ".cache" / "large" / "repo"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--every", type=int, default=10, help="take every Nth .py file")
    ap.add_argument("--rules", default="", help="comma-separated rule ids (default: all screened)")
    ap.add_argument("--verify", action="store_true", help="run semgrep unscreened and compare")
    ap.add_argument("--json", type=Path, help="write the table here too")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}: run `python bench/large.py --fetch` first")
        return 2
    files = sorted(args.corpus.rglob("*.py"))[:: args.every]
    rule_files = sorted(RULES.rglob("*.yaml"))
    screens, sources = screen.read(rule_files)
    wanted = [r for r in args.rules.split(",") if r] or list(screens.ids)
    unknown = [r for r in wanted if r not in screens.ids]
    if unknown:
        print(f"not screened: {', '.join(unknown)}")
        return 2
    total_lines = 0
    lines_in = dict.fromkeys(wanted, 0)
    files_in = dict.fromkeys(wanted, 0)
    masks: dict[str, str] = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        n = text.count("\n") + 1
        total_lines += n
        mask = screens.mask(text)
        masks[str(path.relative_to(args.corpus))] = mask
        for r in wanted:
            if mask[screens.ids.index(r)] == "1":
                lines_in[r] += n
                files_in[r] += 1
    matches: dict[str, int] = dict.fromkeys(wanted, 0)
    misses: list[str] = []
    if args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            listing = Path(tmp) / "targets"
            listing.write_text("\n".join(masks) + "\n")
            cmd = [
                str(Path(sys.executable).with_name("semgrep")),
                "scan",
                "--experimental",
                "--json",
                "--quiet",
                "--metrics=off",
                "--disable-version-check",
                "--disable-nosem",
                "--no-git-ignore",
                "--jobs=2",
                "--timeout=0",
                *[f"--config={sources[r][0]}" for r in wanted],
                *masks,
            ]
            out = subprocess.run(cmd, cwd=args.corpus, capture_output=True, text=True, check=False)
            for res in json.loads(out.stdout)["results"]:
                rule = res["check_id"].rsplit(".", 1)[-1]
                matches[rule] = matches.get(rule, 0) + 1
                if masks[res["path"]][screens.ids.index(rule)] != "1":
                    misses.append(f"{rule}: {res['path']}:{res['start']['line']}")
    rows = []
    print(f"{len(files)} files, {total_lines:,} lines (every {args.every}th of {args.corpus})")
    print(f"{'rule':45s} {'files in':>9s} {'lines in':>9s}" + ("  matches" if args.verify else ""))
    for r in sorted(wanted, key=lambda r: -lines_in[r]):
        share = lines_in[r] / max(1, total_lines)
        rows.append({"rule": r, "files_in": files_in[r], "lines_in": share, "matches": matches[r]})
        extra = f"  {matches[r]:7d}" if args.verify else ""
        print(f"{r:45s} {files_in[r]:9d} {share:9.3f}{extra}")
    mean = sum(lines_in.values()) / max(1, total_lines) / max(1, len(wanted))
    print(f"mean share of lines in, over {len(wanted)} rules: {mean:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "misses": misses}, indent=1))
    if misses:
        print("MISSED (the screen would drop these real matches):")
        print("\n".join(misses))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
