"""Where cached results live, and the signed store for what decides the gate.

The semgrep results are keyed by content (see checks.semgrep). What decides
which checks run and which paths are sensitive (the validated policy, the
symlinks of a commit; issue #17) goes through :class:`Signed`: an entry is
used only if its HMAC verifies under a secret that traingate created in the
cache dir, so a hand-edited, planted or copied entry is a miss, never a
looser gate.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

SECRET_BYTES = 32


def default_cache_dir() -> Path:
    """$TRAINGATE_CACHE_DIR, else the platform's user cache dir."""
    env = os.environ.get("TRAINGATE_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "traingate"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "traingate"


class Signed:
    """JSON values under ``<cache_dir>/<namespace>/``, one file per key.

    Fail closed: a missing, unreadable, corrupt or unsigned entry, a missing or
    untrustworthy secret, or an entry filed under another key or namespace is a
    miss (``None``); a cache that cannot be written only costs speed. The
    secret is a regular file of this user that nobody else may read: whoever
    can read it can write the user's hooks too. ``traingate ci`` uses no cache
    dir unless one is given (docs/ci/hardening.md).
    """

    def __init__(self, cache_dir: Path, namespace: str) -> None:
        self.root = cache_dir
        self.namespace = namespace

    def _path(self, key: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a hex key: {key!r}")
        return self.root / self.namespace / f"{key}.json"

    def _mac(self, secret: bytes, key: str, payload: str) -> str:
        msg = f"{self.namespace}\0{key}\0{payload}".encode("utf-8", "surrogateescape")
        return hmac.new(secret, msg, hashlib.sha256).hexdigest()

    def get(self, key: str) -> Any:
        try:
            secret = _secret(self.root, create=False)
            if secret is None:
                return None
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            payload, mac = entry["payload"], entry["mac"]
            if type(payload) is not str or type(mac) is not str:
                return None
            if not hmac.compare_digest(mac, self._mac(secret, key, payload)):
                return None
            return json.loads(payload)
        except (OSError, ValueError, TypeError, KeyError, RecursionError):
            return None

    def put(self, key: str, value: Any) -> None:
        try:
            path = self._path(key)
            payload = json.dumps(value, sort_keys=True)
            secret = _secret(self.root, create=True)
            if secret is None:
                return
            entry = json.dumps({"payload": payload, "mac": self._mac(secret, key, payload)})
            path.parent.mkdir(parents=True, exist_ok=True)
            import tempfile  # a write only: a warm hook run reads

            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(entry)
                os.replace(tmp, path)
            except OSError:
                os.unlink(tmp)
                raise
        except (OSError, ValueError, TypeError):
            pass  # a read-only or full cache only costs speed


def _secret(root: Path, *, create: bool) -> bytes | None:
    """The MAC key: created once (a link never replaces a file, so two runs agree
    on one), trusted only as a regular file of this user, unreadable to others."""
    path = root / "secret"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if not create:
            return None
        root.mkdir(parents=True, exist_ok=True)
        import secrets
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=root, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(SECRET_BYTES))
            with contextlib.suppress(FileExistsError):  # another run made one first
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        return _secret(root, create=False)
    try:
        st = os.fstat(fd)
        data = os.read(fd, SECRET_BYTES + 1)
    finally:
        os.close(fd)
    own = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    private = stat.S_ISREG(st.st_mode) and not st.st_mode & 0o077
    return data if own and private and len(data) == SECRET_BYTES else None


@lru_cache(maxsize=1)
def installation() -> str:
    """A digest of traingate as installed: its version, Python's, and every file
    of the package and its shipped policy data (path, size, mtime), so that an
    upgrade or an edit to a source checkout misses every entry keyed with it."""
    import traingate
    from traingate.policy.load import data_dir

    h = hashlib.sha256(f"{traingate.__version__}\0{sys.version}\0".encode())
    package, data = Path(traingate.__file__).parent, data_dir()
    for top in [package] if package in (data, *data.parents) else [package, data]:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for fname in sorted(filenames):
                st = os.stat(os.path.join(dirpath, fname))
                h.update(f"{dirpath}/{fname}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def key(*parts: str) -> str:
    """One hex key from its parts (NUL-separated, so no two lists collide)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
