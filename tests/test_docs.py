"""Every check has a docs page with the same sections (ruff-style); the docs the
README promises exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from traingate.checks import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
CHECK_SECTIONS = ("## What it does", "## Why it matters", "## Example", "## Fix", "## Settings")


@pytest.mark.parametrize("check_id", sorted(REGISTRY))
def test_check_page_has_every_section(check_id: str) -> None:
    page = ROOT / "docs" / "checks" / f"{check_id}.md"
    assert page.is_file(), f"docs/checks/{check_id}.md is missing"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {check_id}\n")
    positions = [text.find(s + "\n") for s in CHECK_SECTIONS]
    assert all(p >= 0 for p in positions), f"missing sections in {page.name}: {CHECK_SECTIONS}"
    assert positions == sorted(positions), "sections out of order"


@pytest.mark.parametrize(
    "rel",
    [
        "getting-started.md",
        "policy.md",
        "reference/json-report.md",
        "reference/json-report.schema.json",
    ],
)
def test_promised_docs_exist(rel: str) -> None:
    assert (ROOT / "docs" / rel).is_file()


def test_readme_quickstart_is_exactly_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1].strip() for b in quick.split("```sh")[1:]]
    test_command = (
        "python -m pip install --require-hashes -r requirements/ci.lock"
        " && python -m pip install --no-deps --no-build-isolation . && python -m pytest -q"
    )
    assert [b.split("```")[0].strip() for b in blocks] == [
        "python -m pip install . && traingate demo",
        test_command,
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_every_test_docs_approvals_names_exists() -> None:
    """docs/approvals.md backs each class and comparison cell with a test: a
    renamed or deleted test must not leave the docs claiming it (issue #14)."""
    text = (ROOT / "docs" / "approvals.md").read_text(encoding="utf-8")
    named = 0
    current = None
    for m in re.finditer(r"`(?:(?:tests/)?(test_\w+\.py))?(?:::(\w+))?`", text):
        file, func = m.group(1), m.group(2)
        if file:
            current = file
            assert (ROOT / "tests" / file).is_file(), file
        if func:
            assert current is not None, func
            source = (ROOT / "tests" / current).read_text(encoding="utf-8")
            assert f"def {func}(" in source, f"{current}::{func}"
            named += 1
    assert named >= 40


def test_precommit_page_shows_the_real_output_of_each_outcome() -> None:
    """docs/usage/pre-commit.md embeds the hook's output for each outcome; the
    blocks are the snapshots tests/test_text_report.py produces and
    tests/test_precommit.py finds in the real hook's output (issue #18).
    TRAINGATE_UPDATE_SNAPSHOTS=1 rewrites the blocks from the snapshots."""
    from .outcomes import CHANGES
    from .snapshot import UPDATE, doc_blocks, read_snapshot, sync_doc

    page = ROOT / "docs" / "usage" / "pre-commit.md"
    text = page.read_text(encoding="utf-8")
    if UPDATE:
        text = sync_doc(text)
        page.write_text(text, encoding="utf-8")
    blocks = doc_blocks(text)
    assert sorted(blocks) == sorted(f"hook-{o}" for o in CHANGES)
    for name, body in blocks.items():
        assert body == read_snapshot(name), f"{name}: rerun with TRAINGATE_UPDATE_SNAPSHOTS=1"
