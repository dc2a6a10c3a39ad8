"""False positives of the sabotage check's analysis on real code (docs/checks/sabotage.md).

Runs only that analysis (no git, no semgrep) over every Python file of a tree,
every line counted as changed, with ``from ... import`` followed to the tree's
own files as the check follows them in the head tree. Prints each finding and,
last, the count per 10,000 lines:

    python bench/sabotage_fp.py bench/.cache/large/repo
"""

from __future__ import annotations

import functools
import posixpath
import sys
import time
from collections import Counter
from pathlib import Path

from traingate.checks.sabotage.analysis import analyze


def main(root: Path) -> int:
    libs = [d.name for d in root.iterdir() if d.is_dir()]

    def lookup(importer: str, level: int, module: str) -> tuple[str, str] | None:
        rel = module.replace(".", "/")
        if level:
            base = posixpath.dirname(importer)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            stems = [posixpath.join(base, rel) if rel else base]
        else:  # each library's package sits under <lib>/<package>
            stems = [f"{lib}/{rel}" for lib in libs]
        for stem in stems:
            for cand in (f"{stem}.py", f"{stem}/__init__.py"):
                p = root / cand
                if p.is_file():
                    return cand, p.read_text(encoding="utf-8", errors="replace")
        return None

    start, lines, rules = time.monotonic(), 0, Counter[str]()
    for f in sorted(root.rglob("*.py")):
        src = f.read_text(encoding="utf-8", errors="replace")
        rel = f.relative_to(root).as_posix()
        lines += src.count("\n") + 1
        try:
            hits = analyze(src, rel, functools.partial(lookup, rel))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for h in hits:
            rules[h.rule] += 1
            print(f"{rel}:{h.line}: {h.rule}: {h.message}")
    n = sum(rules.values())
    print(
        f"{n} findings in {lines} lines: {n / max(lines, 1) * 1e4:.3f} per 10,000 lines "
        f"({time.monotonic() - start:.0f} s) {dict(rules)}"
    )
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("root", nargs="?", type=Path, default=Path("bench/.cache/large/repo"))
    sys.exit(main(ap.parse_args().root))
