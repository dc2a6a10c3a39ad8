"""A tiny snapshot helper for the text report (issue #18).

``assert_snapshot(name, text)`` compares the whole output with
tests/snapshots/NAME.txt. To accept a change on purpose, rerun the tests with
TRAINGATE_UPDATE_SNAPSHOTS=1 and review the diff of tests/snapshots/ and of
the docs pages that embed them (docs/usage/pre-commit.md). The docs test
copies the snapshots into the page, so run the snapshot tests first:
``TRAINGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_text_report.py tests/test_docs.py``.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("TRAINGATE_UPDATE_SNAPSHOTS") == "1"


def scrub(text: str, *roots: Path) -> str:
    """Temp paths and commit ids, which differ on every run."""
    for root in roots:
        text = text.replace(str(root), "<tmp>")
    return re.sub(r"(\.traingate\.yaml@|no \.traingate\.yaml at )[0-9a-f]{12}", r"\1<rev>", text)


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.is_file(), f"no snapshot {path.name}; run with TRAINGATE_UPDATE_SNAPSHOTS=1"
    want = path.read_text(encoding="utf-8")
    if text != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"snapshots/{path.name}",
                "output",
            )
        )
        raise AssertionError(f"output differs from the snapshot:\n{diff}")


def read_snapshot(name: str) -> str:
    return (SNAPSHOTS / f"{name}.txt").read_text(encoding="utf-8")


_DOC_BLOCK = re.compile(r"(<!-- snapshot: ([\w-]+) -->\n```text\n)(.*?)(```\n)", re.S)


def doc_blocks(text: str) -> dict[str, str]:
    """``<!-- snapshot: NAME -->`` followed by a ```text block, by NAME."""
    return {m.group(2): m.group(3) for m in _DOC_BLOCK.finditer(text)}


def sync_doc(text: str) -> str:
    """The page with every marked block replaced by its snapshot."""
    return _DOC_BLOCK.sub(lambda m: m.group(1) + read_snapshot(m.group(2)) + m.group(4), text)
