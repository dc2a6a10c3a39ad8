"""Hook files read line by line: a .pth site.py runs, a .pdbrc pdb runs.

Split from autorun.py (size); each yields ``(rule id, line, message, help)``
for the autorun check to report, on the first line that runs code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from traingate.change import is_binary

_PTH_IMPORT = re.compile(r"^import[ \t]")
_DOCS = "see docs/checks/autorun.md"
Hit = tuple[str, int, str, str]


def pth(data: bytes, added: set[int]) -> Iterator[Hit]:
    """Lines site.py executes: it splits on \\n, \\r and \\r\\n and decodes the
    bytes itself, NULs and all. Git gives no added lines for a file with a NUL
    byte, so then every line counts: a NUL in a comment made a payload line
    "a torch checkpoint" that the artifacts check, reading it as a pickle that
    is not plausible, passed (issue #16)."""
    every = is_binary(data)
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    for n, line in enumerate(text.split("\n"), 1):
        if (every or n in added) and any(_PTH_IMPORT.match(p) for p in line.split("\r")):
            yield (
                "autorun-pth-import",
                n,
                "site.py executes every line of a .pth file that starts with `import` at "
                "interpreter start, when the file sits in a site directory (pip installs a "
                "package's .pth files there)",
                _DOCS,
            )
            return


def pdbrc(data: bytes, added: set[int]) -> Iterator[Hit]:
    """pdb (python -m pdb, breakpoint()) reads .pdbrc from the working directory
    and runs each line as a debugger command, a line that is none as Python
    (session 26 red team). Only `#` comments and blank lines are inert; with a
    NUL byte git gives no added lines, so every line counts."""
    every = is_binary(data)
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    for n, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if (every or n in added) and stripped and not stripped.startswith("#"):
            yield (
                "autorun-debugger-rc",
                n,
                "pdb runs every line of a .pdbrc in its working directory when a debugger "
                "starts (python -m pdb, breakpoint(), a post-mortem), a line that is no pdb "
                "command as Python, before the user types anything",
                "keep debugger aliases in your own ~/.pdbrc; " + _DOCS,
            )
            return
