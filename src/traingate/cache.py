"""Where cached check results live (keyed by content, see checks.semgrep)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_cache_dir() -> Path:
    """$TRAINGATE_CACHE_DIR, else the platform's user cache dir."""
    env = os.environ.get("TRAINGATE_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "traingate"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "traingate"
