"""Reach's prefill extraction over the large corpus, timed and compared (issue #17).

In a full scan the semgrep screens hand each tree they parse to reach's
``prefill._Taker``, which extracts reach's facts from it and writes them to
reach's blob cache. This parses every ``.py`` file of the corpus once (as
the screens do: the text, decoded as UTF-8), then hands the tree to a real
``_Taker`` and measures only that: CPU seconds of the hand-over (extraction,
serialisation, write), and of the extraction alone.

    nice -n 10 python bench/reach_extract.py time [--step N] [--profile OUT]
    PYTHONPATH=/tmp/s21/base/src python bench/reach_extract.py dump --out old.txt
    python bench/reach_extract.py dump --out new.txt
    cmp old.txt new.txt    # the cache entries, byte for byte (sha256 per file)

traingate is imported from PYTHONPATH; the cache entries are written under a
fresh temporary directory each run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".cache" / "large" / "repo"


def _texts(step: int) -> list[tuple[str, str]]:
    """(path, text) of every ``step``-th corpus file the screens would parse."""
    out = []
    for p in sorted(p for p in CORPUS.rglob("*.py") if ".git" not in p.parts)[::step]:
        try:
            out.append((p.relative_to(CORPUS).as_posix(), p.read_bytes().decode("utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return out


def _taker(texts: list[tuple[str, str]], cache: Path) -> object:
    from traingate import git
    from traingate.checks.reach import prefill

    files = [
        SimpleNamespace(
            new_path=path, new_oid=git.hash_blob(text.encode("utf-8")), new_mode="100644"
        )
        for path, text in texts
    ]
    return prefill._Taker(SimpleNamespace(files=files), cache)  # type: ignore[arg-type]


def _time(step: int, profile: str | None) -> int:
    from traingate import pyast
    from traingate.checks.reach import facts

    texts = _texts(step)
    with tempfile.TemporaryDirectory() as tmp:
        taker = _taker(texts, Path(tmp))
        prof = cProfile.Profile(time.process_time) if profile else None
        handed = extract = 0.0
        for _path, text in texts:
            try:
                tree = pyast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            # The new tree's young-generation collection, which the first
            # allocation after the parse pays wherever it comes: not the
            # hand-over's cost (the screens pay it when nothing is handed).
            gc.collect(0)
            t0 = time.process_time()
            if prof is not None:
                prof.enable()
            taker(text, tree)  # type: ignore[operator]
            if prof is not None:
                prof.disable()
            t1 = time.process_time()
            with contextlib.suppress(Exception):  # as _Taker: the blob is left to reach
                facts.extract_tree(tree)
            handed += t1 - t0
            extract += time.process_time() - t1
        if prof is not None:
            prof.dump_stats(profile)
        n = taker.taken  # type: ignore[attr-defined]
    print(f"{len(texts)} files, {n} taken: hand-over {handed:.2f} CPU s, extraction {extract:.2f}")
    return 0


def _dump(out: str, step: int) -> int:
    from traingate import pyast

    texts = _texts(step)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        taker = _taker(texts, Path(tmp))
        for _path, text in texts:
            try:
                tree = pyast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            taker(text, tree)  # type: ignore[operator]
        entries = sorted(Path(tmp).glob("reach/*/??/*.json"))
        for entry in entries:
            digest = hashlib.sha256(entry.read_bytes()).hexdigest()
            lines.append(f"{entry.name} {digest}\n")
    Path(out).write_text("".join(lines))
    print(f"{len(texts)} files, {len(lines)} entries -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time")
    t.add_argument("--step", type=int, default=1)
    t.add_argument("--profile")
    d = sub.add_parser("dump")
    d.add_argument("--out", required=True)
    d.add_argument("--step", type=int, default=1)
    args = ap.parse_args(argv)
    if args.cmd == "time":
        return _time(args.step, args.profile)
    return _dump(args.out, args.step)


if __name__ == "__main__":
    sys.exit(main())
