"""CPU of the sabotage analysis alone, in process, over every Nth corpus file
(issue #17): whole files (a scan's mode), no imported helpers.

    python bench/sabotage_cost.py 8            # every 8th .py file of the corpus
    python bench/sabotage_cost.py 16 --prof    # with a cProfile (cumulative)
    python bench/sabotage_cost.py 1 --lookup   # as a scan runs it: imports followed
                                               # on disk, the collector paused throughout

A scan's sabotage time also reads helpers (``--lookup``): each imported module's
text once per run, its facts per text (``store.PerText``).
"""

from __future__ import annotations

import cProfile
import functools
import gc
import pstats
import sys
import time
from pathlib import Path

from traingate.checks.sabotage import candidates
from traingate.checks.sabotage.analysis import analyze

ROOT = Path(__file__).resolve().parent / ".cache" / "large" / "repo"


def main(argv: list[str]) -> int:
    step = int(argv[0]) if argv and argv[0].isdigit() else 8
    files = sorted(p for p in ROOT.rglob("*.py") if ".git" not in p.parts)[::step]
    texts = [(p.relative_to(ROOT).as_posix(), p.read_text("utf-8", "replace")) for p in files]
    lines = sum(t.count("\n") for _, t in texts)
    prof = cProfile.Profile() if "--prof" in argv else None
    per: list[tuple[float, str, int]] = []
    # the head tree's listing, sizes included (``reach.summary.head_tree``)
    listed = {p.relative_to(ROOT).as_posix(): (p, p.stat().st_size) for p in ROOT.rglob("*.py")}
    read: dict[str, tuple[str, str]] = {}

    def lookup(importer: str, level: int, module: str) -> tuple[str, str] | None:
        # ``sabotage._lookup`` on disk: the nearest listed candidate, its text read once
        for cand in candidates(importer, level, module):
            entry = listed.get(cand)
            if entry is None or entry[1] > 4 << 20:
                continue
            if cand not in read:
                read[cand] = (cand, entry[0].read_text("utf-8", "replace"))
            return read[cand]
        return None

    follow = "--lookup" in argv
    if follow:
        gc.disable()  # as ``sabotage._run``: paused for the whole loop
    for path, text in texts:
        c0 = time.process_time()
        if prof is not None:
            prof.enable()
        try:
            find = functools.partial(lookup, path) if follow else (lambda *_: None)
            analyze(text, path, find, None, None)
        except (SyntaxError, ValueError, RecursionError) as exc:
            print(f"unjudged {path}: {type(exc).__name__}")
        if prof is not None:
            prof.disable()
        per.append((time.process_time() - c0, path, text.count("\n")))
    total = sum(t for t, _, _ in per)
    print(
        f"{len(texts)} files, {lines:,} lines: {total:.1f} CPU s, {total / lines * 1e4:.2f} s per 10k lines"
    )
    for t, path, n in sorted(per, reverse=True)[:10]:
        print(f"  {t:6.2f} s {n:6d} lines {path}")
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
