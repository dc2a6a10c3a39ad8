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


# Session 26 red team: pytest's `pythonpath` (pyproject's [tool.pytest.ini_options],
# pytest.toml's [pytest]) puts directories on sys.path before pytest loads
# plugins (`addopts = -p name`): one outside the repository runs code from
# there in every test job. The INI files are read by pytest_ini.py.
_PYTEST_PATHS = (("tool", "pytest", "ini_options", "pythonpath"), ("pytest", "pythonpath"))


def _pytest_entry(path: tuple[str | int, ...]) -> bool:
    """pytest's ``pythonpath`` (a list item, or a string of entries)."""
    return any(path[: len(p)] == p and len(path) <= len(p) + 1 for p in _PYTEST_PATHS)


def external_sources(f: ChangedFile, effs: list[_Eff]) -> Iterator[Finding]:
    for e in effs:
        c = e.change
        pytest = _pytest_entry(c.path)
        if not (pytest or _searchpath_entry(c.path)) or not isinstance(c.new, str):
            continue
        why = f"{e.unknown[0]}, so the job decides it" if e.unknown else _outside(e.text, pytest)
        if why is None:
            continue
        yield _finding(
            f,
            "config-external-source",
            c.line,
            c.column,
            f"{format_path(c.path)} = {e.text!r}{_via(e)}: {why}; "
            + (_PYTEST_WHY if pytest else _HYDRA_WHY),
            "keep config directories and test helpers in the repository, or add them from "
            "a reviewed dependency (pkg:// for Hydra)",
        )


_HYDRA_WHY = "Hydra then reads configs (and the targets they instantiate) from files this change does not show"
_PYTEST_WHY = (
    "pytest imports plugins and modules from it in every test run, code this change does not show"
)


def _outside(text: str, pytest: bool) -> str | None:
    """A Hydra entry is one path; a pytest string value may hold several."""
    entries = text.split() if pytest else [text]
    return next((why for why in map(outside, entries) if why is not None), None)
