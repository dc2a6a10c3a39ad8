"""A scan's reach facts, taken from the trees the semgrep screens parse (issue #17).

In a whole-repository scan every Python file was parsed by ``ast`` twice: by
the rule screens (semgrep/facts.py, in the semgrep phase, which runs first and
alone) and again by reach (~7 CPU s of the eight-library corpus's ~250). While
the semgrep check runs, ``armed`` hands each tree the screens parse to
``_Taker``, which extracts reach's facts from it and writes them to reach's
blob cache (summary._Cache), exactly as reach's own cold parse writes them;
reach then reads them as a warm re-scan does and parses only what was not
handed over. Nothing is kept in memory: the facts of the corpus are ~250 MB,
and the forked workers of the Python checks would count them again.

Sound only when the tree is the one reach would parse, so a tree is taken
only when:

- its text, encoded as UTF-8, has the blob id of a ``.py`` file reach reads
  (a git blob hash of the very bytes: any other decoding, a cut of the file,
  a notebook's cells or a ``.pth`` file's lines has another id);
- those bytes decode as CPython decodes a module's bytes: no UTF-8 BOM, and
  no PEP 263 cookie that names anything but UTF-8 (the screens parse ``str``,
  which ignores the cookie; reach parses the bytes, which obey it);
- the extraction finishes. A RecursionError or MemoryError leaves the blob to
  reach, which records it as it always did. Anything else is a bug of ours:
  the blob is left to reach too (reach fails closed on its own; the screens
  must not fail for a cache we only hoped to fill).

Only a scan with a cache directory is armed: there the semgrep check ends
before reach starts (fullscan.py runs reach once semgrep's thread is
joined), so every handed-over entry is on disk when reach asks. The hook (a
change's few files) never arms it.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from traingate import git
from traingate.change import Change
from traingate.checks.base import Context
from traingate.findings import Finding

ID = "reach"
Result = tuple[list[Finding], str | None]  # engine._Result
RunOne = Callable[[str, Context], Result]

# PEP 263 (CPython's tokenizer: the first two lines; get_normal_name).
_COOKIE = re.compile(r"coding[:=][ \t]*([-\w.]+)")
_UTF8 = frozenset({"utf-8", "utf8"})


def _wanted(change: Change) -> dict[str, str]:
    """blob id -> path of the ``.py`` files reach's summary lists (listing.py
    head_tree in a scan: the scanned regular files)."""
    out: dict[str, str] = {}
    for f in change.files:
        path, oid, mode = f.new_path, f.new_oid, f.new_mode
        if path is None or oid is None or mode is None:
            continue
        if path.endswith(".py") and mode.startswith("100"):
            out.setdefault(oid, path)
    return out


def utf8_module(text: str) -> bool:
    """Whether CPython decodes the UTF-8 bytes of ``text`` back to ``text``
    when it compiles them as a module: no BOM, and every coding cookie in the
    first two lines (under any line ending: up to the second ``\\n``) names UTF-8."""
    if text.startswith("\ufeff"):
        return False
    end = text.find("\n")
    end = text.find("\n", end + 1) if end >= 0 else -1
    head = text if end < 0 else text[:end]
    if "coding" not in head:
        return True
    for name in _COOKIE.findall(head):
        norm = name[:12].lower().replace("_", "-")
        if norm not in _UTF8 and not norm.startswith("utf-8-"):
            return False
    return True


class _Taker:
    """facts.on_tree while armed: the facts of each wanted blob, to the cache."""

    def __init__(self, change: Change, cache_dir: Path) -> None:
        from traingate.checks.reach import summary

        self.wanted = _wanted(change)
        self.cache = summary._Cache(cache_dir)
        self.taken = 0

    def __call__(self, text: str, tree: ast.Module) -> None:
        if not self.wanted:
            return
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return  # a lone surrogate: not the decoding of any blob
        oid = git.hash_blob(data)
        # Once a blob (another parse of the text adds nothing); pop is atomic.
        if self.wanted.pop(oid, None) is None or not utf8_module(text):
            return
        if self.cache.exists(oid):
            return  # a warm entry: reach reads it as it is
        from traingate.checks.reach import facts as factsmod

        was = gc.isenabled()
        gc.disable()  # as summary._parse: a tree's facts hold no cycle
        try:
            try:
                got = factsmod.extract_tree(tree)
            except Exception:  # reach parses the blob itself, and fails as it fails (module doc)
                return
            self.cache.store(oid, {**got, "size": len(data)})
            self.taken += 1
            # Freed while the collector is paused, the facts are never
            # traversed by it (issue #17: a young-generation collection of
            # every file's facts, once they were written).
            del got
        finally:
            if was:
                gc.enable()


@contextlib.contextmanager
def armed(ctx: Context | None) -> Iterator[_Taker | None]:
    """Hand the screens' trees to reach's blob cache while the block runs,
    given reach's context (a scan with a cache directory; else nothing)."""
    from traingate.checks.semgrep import facts as screen_facts

    if ctx is None or not ctx.scan_all or ctx.change.mode != "scan" or ctx.cache_dir is None:
        yield None
        return
    taker = _Taker(ctx.change, ctx.cache_dir)
    screen_facts.on_tree = taker
    try:
        yield taker
    finally:
        screen_facts.on_tree = None


def run_first(run_one: RunOne, check_id: str, contexts: dict[str, Context]) -> dict[str, Result]:
    """``check_id``'s result (the semgrep check, run first and alone in a
    scan: engine._run_all), armed for reach; nothing when it does not run."""
    if check_id not in contexts:
        return {}
    with armed(contexts.get(ID)):
        return {check_id: run_one(check_id, contexts[check_id])}
