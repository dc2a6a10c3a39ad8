"""Same hits, old tree vs new: the sabotage analysis over every Nth corpus file and
every fixture, whole (a scan) and cut to two added windows (a change), dumped as
canonical JSON (issue #17: speed work must not change a single hit).

    PYTHONPATH=/tmp/s16/base/src python bench/sabotage_same.py dump --out old.json --step 2
    python bench/sabotage_same.py dump --out new.json --step 2
    python bench/sabotage_same.py compare old.json new.json    # exit 1 on any difference

Imports are resolved on disk (``candidates`` from the file's root), so helpers'
facts are exercised too. traingate is imported from PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".cache" / "large" / "repo"
MAIN = HERE.parent


def _files(step: int) -> list[tuple[Path, Path]]:
    """(root, file): every ``step``-th corpus file, every fixture and rule case."""
    corpus = sorted(p for p in CORPUS.rglob("*.py") if ".git" not in p.parts)[::step]
    own = sorted(
        {*MAIN.glob("tests/fixtures/**/*.py"), *MAIN.glob("policy/rules/**/*.py")},
    )
    return [(CORPUS, p) for p in corpus] + [(MAIN, p) for p in own]


def _windows(text: str) -> set[int]:
    """Two added windows, at a third (15 lines) and two thirds (5 lines) of the file."""
    n = text.count("\n") + 1
    return {*range(n // 3, n // 3 + 15), *range(2 * n // 3, 2 * n // 3 + 5)} - {0}


def _dump(out: str, step: int) -> int:
    from traingate.checks.sabotage import candidates
    from traingate.checks.sabotage.analysis import analyze

    got: dict[str, object] = {}
    for root, path in _files(step):
        rel = path.relative_to(root).as_posix()
        text = path.read_text("utf-8", "replace")

        def lookup(level: int, module: str, rel: str = rel, root: Path = root) -> object:
            for cand in candidates(rel, level, module):
                p = root / cand
                if p.is_file() and p.stat().st_size <= 4 << 20:
                    return cand, p.read_text("utf-8", "replace")
            return None

        for mode, added in (("whole", None), ("cut", _windows(text))):
            key = f"{mode} {root.name}/{rel}"
            try:
                hits = analyze(text, rel, lookup, added, None)  # type: ignore[arg-type]
                got[key] = sorted([h.rule, h.line, h.col, list(h.lines), h.message] for h in hits)
            except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
                got[key] = f"error {type(exc).__name__}"
    Path(out).write_text(json.dumps(got, indent=0, sort_keys=True) + "\n", "utf-8")
    count = sum(len(v) for v in got.values() if isinstance(v, list))
    print(f"{len(got)} runs, {count} hits -> {out}")
    return 0


def compare(a: str, b: str) -> int:
    old, new = (json.loads(Path(p).read_text("utf-8")) for p in (a, b))
    diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    for k in diff[:30]:
        print(f"{k}:\n  old {old.get(k)}\n  new {new.get(k)}")
    print(f"{len(old)} vs {len(new)} runs, {len(diff)} differ")
    return 1 if diff else 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--out", required=True)
    d.add_argument("--step", type=int, default=2)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        return _dump(args.out, args.step)
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
