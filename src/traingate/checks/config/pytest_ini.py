"""pytest's ``pythonpath`` in INI files (session 26 red team).

pytest puts each ``pythonpath`` entry on ``sys.path`` before it loads plugins
(``addopts = -p name``) and conftest files: an entry outside the repository
(``/mnt/team/ci-tools``, ``../shared``) makes every CI test job import code
the change does not show. pyproject's ``[tool.pytest.ini_options]`` and
pytest.toml are read as TOML by the config check (sources.py); this reads the
INI files pytest takes the same key from: ``pytest.ini`` / ``.pytest.ini`` and
``tox.ini`` (section ``[pytest]``) and ``setup.cfg`` (``[tool:pytest]``), as
iniconfig reads them: ``key = value`` or ``key: value``, indented lines
continuing the value, ``#``/``;`` comment lines.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterator

from traingate.change import ChangedFile
from traingate.checks.config.rules import _finding
from traingate.checks.config.sources import outside
from traingate.findings import Finding

# File name -> the section pytest reads.
SECTIONS = {
    "pytest.ini": "pytest",
    ".pytest.ini": "pytest",
    "tox.ini": "pytest",
    "setup.cfg": "tool:pytest",
}
_SECTION = re.compile(r"^\[([^\]]*)\]")
_KEY = re.compile(r"^([^\s=:#;][^=:]*?)\s*[=:]\s?(.*)$")


def pytest_pythonpath(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    """Each added ``pythonpath`` entry of the pytest section that is outside the repository."""
    want = SECTIONS[posixpath.basename(f.new_path or "")]
    for n, value in ini_values(text, want, "pythonpath"):
        if n not in added:
            continue
        for entry in value.split():
            why = outside(entry)
            if why is not None:
                yield _finding(
                    f,
                    "config-external-source",
                    n,
                    1,
                    f"pytest's pythonpath adds {entry!r}: {why}; pytest imports plugins "
                    "(-p) and modules from it in every test run, code this change does not show",
                    "keep test helpers in the repository, or install them as a reviewed dependency",
                )


def ini_values(text: str, section: str, key: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each physical line of ``key``'s value in ``section``
    (also setup.cfg's entry points, for the autorun check)."""
    current, in_key = None, False
    for n, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        head = _SECTION.match(line)
        if head:
            current, in_key = head.group(1).strip(), False
        elif line[:1] in (" ", "\t") and in_key:
            yield n, stripped  # a continuation line of the value
        else:
            m = _KEY.match(line)
            in_key = m is not None and current == section and m.group(1).strip().lower() == key
            if in_key and m is not None:
                yield n, m.group(2)
