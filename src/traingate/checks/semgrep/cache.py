"""The semgrep result cache: hits per (rule pack, engine, semgrep version, blob).

A re-check of unchanged content starts no semgrep at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from traingate.checks.semgrep.hits import Hit


class Cache:
    """One JSON file per (pack, semgrep version, blob): safe for concurrent runs
    (atomic rename) and for a corrupt or unwritable directory (treated as a miss)."""

    def __init__(self, root: Path, pack_digest: str, semgrep_version: str) -> None:
        self.dir = root / "semgrep"
        self.salt = f"{pack_digest}:{semgrep_version}"

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(f"{self.salt}:{key}".encode()).hexdigest()
        return self.dir / digest[:2] / f"{digest}.json"

    def get(self, key: str) -> list[Hit] | None:
        try:
            raw = json.loads(self._path(key).read_text(encoding="utf-8"))
            if raw.get("key") != key:
                return None
            return [Hit(**h) for h in raw["hits"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def has(self, key: str) -> bool:
        """Cheap: only picks the scan strategy; scan() still reads and checks
        the entry (a corrupt one is a miss there)."""
        return self._path(key).is_file()

    def put(self, key: str, hits: Iterable[Hit]) -> None:
        path = self._path(key)
        payload = json.dumps({"key": key, "hits": [h.__dict__ for h in hits]})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full cache only costs speed
