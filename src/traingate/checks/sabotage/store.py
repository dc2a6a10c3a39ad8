"""Imported helpers' facts, cached across runs by the helper's content (issue #17).

What ``Helper.facts(name)`` gives (the trigger ``name()`` returns, the arguments
it fills with noise) depends only on the helper's text and on this code, so an
entry is keyed by both (``cache.installation()``: an upgrade or an edit misses),
and a warm re-check parses no helper. Entries decide findings, so they go
through ``cache.Signed``: a planted, copied or hand-edited entry is a miss,
never a looser gate; one that does not have the expected shape is a miss too.

Layout: ``<cache_dir>/sabotage/<salt>/<key[:2]>/<key>.json``, one per helper
text, holding the names computed so far. Bound: when a run first writes, at
most once every ``PRUNE_EVERY`` seconds, the oldest entries go until ``KEEP``
remain (as the reach check's per-blob cache).
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any, Generic, TypeVar

from traingate import cache
from traingate.checks.sabotage.triggers import Trigger

# 2: a probed path is named whole (session 11), so a fact stored before names '/etc'.
# 3: an entry also holds the events imported functions return (``=name``, session 12).
VERSION = 3
_SALT = f"helpers-v{VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"

Facts = tuple[Trigger | None, dict[int, str] | None]
# Debug counter for tests and the bench: helper facts computed, not read from the cache.
STATS = {"computed": 0, "events": 0}

T = TypeVar("T")


class PerText(Generic[T]):
    """What one helper's text says of each name, kept for the run (issue #17): a
    scan's 4,243 files import the same few hundred helpers, and each importer
    asked the same questions again of each (one outline built per importer: 10 of
    the check's ~50 CPU s). Each answer depends on the text and the name only, so
    it is keyed by both (a path's text is the same object all run: the lookup keeps
    it, and its hash is computed once). At most ``TEXTS`` texts, the oldest going
    first: the run's lookup holds them anyway, another caller's stay bounded; the
    check's run clears it when it ends (``release``)."""

    TEXTS = 1024

    def __init__(self) -> None:
        self._by_text: dict[str, dict[str, T]] = {}

    def of(self, text: str) -> dict[str, T]:
        """The answers kept for this text (name -> answer), to read and fill."""
        got = self._by_text.get(text)
        if got is None:
            if len(self._by_text) >= self.TEXTS:
                del self._by_text[next(iter(self._by_text))]
            got = self._by_text[text] = {}
        return got

    def clear(self) -> None:
        self._by_text.clear()


class Store:
    """The helper facts of one cache dir, read once per run and written as computed;
    with ``defer``, written by ``flush`` (the check's run ends with one): a scan of
    4,243 files computed 1,297 facts of 418 helpers, and rewrote a helper's whole
    entry for each (~1 of its ~50 CPU s, issue #17)."""

    KEEP = 20_000
    PRUNE_EVERY = 3600.0

    def __init__(self, cache_dir: Path, defer: bool = False) -> None:
        self.root = cache_dir
        self.dir = cache_dir / "sabotage" / _SALT
        self.entries: dict[str, dict[str, Any]] = {}
        self.wrote = False
        self.defer = defer
        self.dirty: set[str] = set()  # keys whose entry ``flush`` writes

    def get(self, text: str, name: str) -> Facts | None:
        """The facts of ``name`` in this helper, or None (a miss)."""
        raw = self._entry(_key(text)).get(name)
        return _decode(raw)

    def put(self, text: str, name: str, facts: Facts) -> None:
        key = _key(text)
        self._entry(key)[name] = _encode(facts)
        self._write(key)

    def event(self, text: str, name: str) -> tuple[Trigger | None] | None:
        """The event or draw ``name()`` returns in this helper, as a 1-tuple, or None
        (a miss). Kept beside the helper's other facts under ``=name`` (no identifier
        starts with ``=``)."""
        raw = self._entry(_key(text)).get(f"={name}", _MISS)
        return None if raw is _MISS else _decode_trigger(raw)

    def put_event(self, text: str, name: str, event: Trigger | None) -> None:
        key = _key(text)
        entry = self._entry(key)
        entry[f"={name}"] = None if event is None else [event.kind, event.what, event.line]
        self._write(key)

    def _write(self, key: str) -> None:
        if self.defer:
            self.dirty.add(key)
        else:
            self._put(key)

    def _put(self, key: str) -> None:
        if not self.wrote:
            self.prune()
            self.wrote = True
        self._signed(key).put(key, self.entries[key])

    def flush(self) -> None:
        """Write the entries ``defer`` held back (each once, with every name computed)."""
        keys = sorted(self.dirty)
        self.dirty.clear()
        for key in keys:
            self._put(key)

    def _entry(self, key: str) -> dict[str, Any]:
        got = self.entries.get(key)
        if got is None:
            raw = self._signed(key).get(key)
            got = self.entries[key] = raw if isinstance(raw, dict) else {}
        return got

    def _signed(self, key: str) -> cache.Signed:
        return cache.Signed(self.root, f"sabotage/{_SALT}/{key[:2]}")

    def prune(self) -> None:
        stamp = self.dir / "pruned"
        try:
            if stamp.exists() and time.time() - stamp.stat().st_mtime < self.PRUNE_EVERY:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            stamp.touch()
            entries = [(p.stat().st_mtime, p) for p in self.dir.glob("??/*.json")]
            if len(entries) <= self.KEEP:
                return
            entries.sort()
            for _mtime, old in entries[: len(entries) - self.KEEP]:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # a cache that cannot be pruned only costs space


def release() -> None:
    _key.cache_clear()  # it holds up to 64 helper texts


@functools.lru_cache(maxsize=64)
def _key(text: str) -> str:
    return cache.key(_SALT, cache.installation(), text)


def _encode(facts: Facts) -> list[Any]:
    t, writes = facts
    return [
        None if t is None else [t.kind, t.what, t.line],
        None if writes is None else {str(k): v for k, v in writes.items()},
    ]


_MISS = object()


def _decode_trigger(raw: Any) -> tuple[Trigger | None] | None:
    """A stored event: None (known to return none), or [kind, what, line]."""
    if raw is None:
        return (None,)
    if not (
        isinstance(raw, list)
        and len(raw) == 3
        and isinstance(raw[0], str)
        and isinstance(raw[1], str)
        and type(raw[2]) is int
    ):
        return None
    return (Trigger(raw[0], raw[1], raw[2]),)


def _decode(raw: Any) -> Facts | None:
    """An entry's value, or None when it does not have exactly the shape ``_encode`` gives."""
    if not (isinstance(raw, list) and len(raw) == 2):
        return None
    t, writes = raw
    got = _decode_trigger(t)
    if got is None:
        return None
    (trigger,) = got
    out: dict[int, str] | None = None
    if writes is not None:
        if not isinstance(writes, dict):
            return None
        out = {}
        for k, v in writes.items():
            if not (isinstance(k, str) and k.isascii() and k.isdigit() and isinstance(v, str)):
                return None
            out[int(k)] = v
    return trigger, out
