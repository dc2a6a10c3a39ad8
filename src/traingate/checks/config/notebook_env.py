"""Risky environment a notebook's Python sets (config-risky-env, issue #16).

A notebook's (or .ipy script's) code sets the kernel's environment, and every
later ``!pip install`` or ``!torchrun`` runs with it, as a launcher's next
line runs with its ``export``: ``os.environ[NAME] = value``,
``os.environ.setdefault(NAME, value)``, ``os.putenv(NAME, value)``. Its
``%env`` lines are env.py's; the same names and reasons are judged here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator

from traingate.change import ChangedFile
from traingate.checks.config.env import _ENV_WHY, _RISKY_ENV
from traingate.checks.config.rules import _finding
from traingate.findings import Finding

_PY_ENV_SET = re.compile(
    r"""(?x)\b(?:environ\s*\[\s*(?P<q>["'])(?P<name>[A-Z_][A-Z0-9_]*)(?P=q)\s*\]\s*=(?!=)
      | (?:environ\s*\.\s*setdefault|putenv)\s*\(\s*(?P<q2>["'])(?P<name2>[A-Z_][A-Z0-9_]*)(?P=q2)\s*,
    )\s*(?P<value>[^\n]*)"""
)
_PY_STRING = re.compile(r"""[rRuUbBfF]{0,2}(["'])(.*?)(?<!\\)\1""")


def notebook_environ(f: ChangedFile, text: str, added: Collection[int]) -> list[Finding]:
    """``os.environ`` writes in a notebook's code cells or an .ipy script."""
    from traingate.checks.semgrep.ipython import notebook_cells, script_cells

    if "environ" not in text and "putenv" not in text:
        return []  # most notebooks: no parse needed
    if (f.new_path or "").endswith(".ipy"):
        cells = script_cells(text)
    else:
        try:
            got = notebook_cells(json.loads(text), text)
        except (ValueError, RecursionError):
            return []  # not JSON: the semgrep check blocks it as unparseable
        if got is None:
            return []
        cells = got
    return list(_environ_lines(f, cells.source, cells.line_map, added))


def _environ_lines(
    f: ChangedFile, source: list[str], line_map: list[int], added: Collection[int]
) -> Iterator[Finding]:
    """Risky environment a notebook's code cells (``source``, each line's
    file line in ``line_map``) set through ``os.environ`` (issue #16)."""
    for text, n in zip(source, line_map, strict=False):
        if n not in added or ("environ" not in text and "putenv" not in text):
            continue
        for m in _PY_ENV_SET.finditer(text):
            name = m.group("name") or m.group("name2")
            lit = _PY_STRING.match(m.group("value").strip())
            # A literal value as written; an expression as its text (a name
            # alone is enough for most kinds: LD_PRELOAD=path).
            value = lit.group(2) if lit else m.group("value").strip().rstrip(")")
            risky = _RISKY_ENV.search(f"{name}={value}")
            if risky is None:
                continue
            kind = next(k for k, v in risky.groupdict().items() if v)
            yield _finding(
                f,
                "config-risky-env",
                n,
                m.start() + 1,
                f"sets {name!r} ({_ENV_WHY[kind]})",
                "remove it from the notebook, or get it approved",
            )
