"""Where a Hydra job reads its configs from (issue #16, session 25 red team).

``hydra.searchpath`` adds config directories to the ones the application ships:
a ``defaults:`` entry of the reviewed config is then looked up there too. An
entry outside the repository (``file:///mnt/shared/configs``, a ``..`` that
climbs out of it, a value from the environment) puts what the job instantiates
in files the gate never sees: the payload's ``_target_: os.system`` sits on a
shared mount while the change only adds one reviewed-looking line.
``pkg://`` entries name a Python package's configs: installed code, judged
where the dependency is added (``config-dependency-source``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from traingate.change import ChangedFile
from traingate.checks.config.effective import _Eff, _via
from traingate.checks.config.keypath import format_path
from traingate.checks.config.rules import _finding
from traingate.findings import Finding

# Hydra's own schemes; a bare path is a file path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_ABSOLUTE = re.compile(r"^(/|~|\\\\|[A-Za-z]:[\\/])")


def _searchpath_entry(path: tuple[str | int, ...]) -> bool:
    """``hydra.searchpath[i]`` (or ``searchpath[i]`` in a ``hydra/`` group file)."""
    return len(path) >= 2 and path[-2] == "searchpath" and isinstance(path[-1], int)


def outside(entry: str) -> str | None:
    """Why a searchpath entry reads configs from outside the repository, or None."""
    m = _SCHEME.match(entry.strip())
    scheme, where = (m.group(1).lower(), m.group(2)) if m else ("file", entry.strip())
    if scheme != "file":
        return None
    if _ABSOLUTE.match(where):
        return f"{where!r} is an absolute path"
    if posixpath.normpath(where.replace("\\", "/")).startswith(".."):
        return f"{where!r} climbs out of the directory the job starts in"
    return None


def external_sources(f: ChangedFile, effs: list[_Eff]) -> Iterator[Finding]:
    for e in effs:
        c = e.change
        if not _searchpath_entry(c.path) or not isinstance(c.new, str):
            continue
        why = f"{e.unknown[0]}, so the job decides it" if e.unknown else outside(e.text)
        if why is None:
            continue
        yield _finding(
            f,
            "config-external-source",
            c.line,
            c.column,
            f"{format_path(c.path)} = {e.text!r}{_via(e)}: {why}; Hydra then reads configs "
            "(and the targets they instantiate) from files this change does not show",
            "keep config directories in the repository, or add them with pkg:// from a "
            "reviewed dependency",
        )
