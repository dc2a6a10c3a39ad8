"""The ``text`` screens of the costliest rules stay linear in their input (issue #17).

A screen regex that restarts a scan to the line's (or the file's) end at every
candidate character costs the square of a long line: ``sabotage-label-class-remap``'s
``-`` regex took 17 CPU s on one line of 20,000 ``-`` (session 16), and the
same shape was in its ``#``-comment and ``==`` regexes, in
``trigger-rank-conditional-sabotage``'s comment regex and in
``obfusc-decode-exec``'s ``getattr(...)(`` lookahead and ``[::`` slice regex. Each now starts once per
line (``^[^\\n-]*+-``), or cuts a scan where a later start covers the rest of
it. The inputs below are those worst cases at a size the old regexes took
seconds to minutes on; the rewrites take milliseconds.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_rules_pack import RULES_DIR

_REMAP = RULES_DIR / "training-sabotage" / "sabotage-label-class-remap.yaml"
_RANK = RULES_DIR / "triggered-sabotage" / "trigger-rank-conditional-sabotage.yaml"
_DECODE = RULES_DIR / "obfuscation" / "obfusc-decode-exec.yaml"
_BOMB = RULES_DIR / "triggered-sabotage" / "trigger-time-bomb.yaml"

_N = 60_000

# (rule file, source, the mask it must get): every source is Python (a file
# that does not parse runs every rule, unscreened) and makes the costly atom
# run (what the screen tests before it holds) and fail, or hold late.
_CASES = [
    # session 16's input (20,000 `-` took 17 CPU s): one line of `-`, a label name
    (_REMAP, "labels = y\n# " + "-" * _N + "\n", "0"),
    (_REMAP, "labels = y\nX = '" + "-" * _N + "'\n", "0"),
    # a `-` at each comment line's end: every one ran over all the lines after it
    (_REMAP, "labels = y\n" + "# -\n" * (_N // 4), "0"),
    (_REMAP, "labels = y\n# " + "- #" * (_N // 3) + "\n", "0"),
    # a label word before a comment, many times: each ran to the block's end
    (_REMAP, "labels = y\n" + "# y\n" * (_N // 4), "0"),
    (_REMAP, "labels = y\n# " + "y # " * (_N // 4) + "\n", "0"),
    # no label name: the `#`-comment regex reads a long `#` banner
    (_REMAP, "x = 1\n" + "#" * _N + "\n", "0"),
    # ... and a real remap after all of it is still found
    (_REMAP, "#" * _N + "\n# " + "-" * _N + "\nlabels = n - 1 - labels\n", "1"),
    # a rank word in the file, `#` after `#` on one line
    (_RANK, "p.grad = 0\nrank_of = 1\n# " + "y # " * (_N // 4) + "\n", "0"),
    (_RANK, "p.grad = 0\nrank_of = 1\n" + "#" * _N + "\n", "0"),
    # many getattr calls and no call of a call after them
    (_DECODE, "import base64\n" + "x = getattr(a, b)\n" * (_N // 18), "0"),
    (_DECODE, "import base64\ngetattr\n" + "# )\n" * (_N // 4), "0"),
    # a `[` on every comment line: each ran over all the lines after it
    (_DECODE, "exec(x)\n" + "# [\n" * (_N // 4), "0"),
    (_DECODE, "exec(x)\n" + "# [ :\n" * (_N // 6), "0"),
    (_BOMB, "import time\n" + "#" * _N + "\nx = [\n" + "1,\n" * (_N // 3) + "]\n", "0"),
]


def test_the_costly_screens_stay_linear_on_long_lines_and_comment_blocks() -> None:
    # One subprocess for every case, so a regression fails here instead of
    # hanging the suite. The bound is ~50x what the screens take (~2 CPU s
    # with the interpreter's start); session 16's regexes take ~50 CPU s at a
    # third of this size and ~7 minutes at it (quadratic).
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom traingate.checks.semgrep import screen\n"
        "for rule, source in json.load(sys.stdin):\n"
        "    s, _ = screen.read([Path(rule)])\n"
        "    print(s.mask(source))\n"
    )
    cases = json.dumps([[str(rule), source] for rule, source, _ in _CASES])
    done = subprocess.run(
        [sys.executable, "-c", code], input=cases, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [want for _, _, want in _CASES]


def _text_atoms(spec: Any) -> list[str]:
    found: list[str] = []
    if isinstance(spec, list):
        for part in spec:
            found += _text_atoms(part)
    elif isinstance(spec, dict):
        for key, value in spec.items():
            found += [value] if key == "text" else _text_atoms(value)
    return found


def _atom(path: Path, marker: str) -> re.Pattern[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    (found,) = [
        a for a in _text_atoms(doc["rules"][0]["metadata"]["traingate-screen"]) if marker in a
    ]
    return re.compile(found)


# Session 16's regexes: the forms the rewrites must admit.
# (The `-` and `==` regexes, "dash" and "eq" until session 24, are nodes now:
# labelnodes.py's label-op, issue #17.)
_OLD = {
    "hash": (r"[^#\n]*+#[^\n]*?\[", r"""(?i)#[^\n]*\[\s*['"](label|target)"""),
}
_TOKENS = [*"- \n#()\\\"];x\t'1[a", "labels", "y", "_y", "==", "label"]


@pytest.mark.parametrize("which", sorted(_OLD))
def test_the_linear_class_remap_regexes_admit_what_the_quadratic_ones_did(which: str) -> None:
    marker, old = _OLD[which]
    new, was = _atom(_REMAP, marker), re.compile(old)
    rng = random.Random(17)
    for _ in range(20_000):
        text = "".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, 24)))
        # a unit's run starts at a line start
        start = text.rfind("\n", 0, rng.randint(0, len(text))) + 1
        if was.search(text, start) is not None:
            assert new.search(text, start) is not None, (which, text, start)
