"""`traingate scan` over injected examples in the style of real training code finds
every rule-pack category; look-alike legitimate idioms are not blocked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import CATEGORIES

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import contextlib
    import io

    out = tmp_path_factory.mktemp("scan") / "r.json"
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "scan",
                str(FIXTURES),
                "--policy",
                "builtin:default",
                "--format",
                "json",
                "--output",
                str(out),
            ]
        )
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_is_found_in_its_example(report: dict[str, Any], category: str) -> None:
    name = f"injected/{category.replace('-', '_')}.py"
    hits = [f for f in report["findings"] if f["path"].endswith(name)]
    assert report["errors"] == []
    assert [f for f in hits if f["rule_id"].startswith(("semgrep-", "python-", "source-"))] == []
    assert any(f["category"] == category and f["blocking"] for f in hits), [
        (f["rule_id"], f["line"]) for f in hits
    ]


def test_legitimate_idioms_are_not_blocked(report: dict[str, Any]) -> None:
    legit = [f for f in report["findings"] if "/legit/" in f["path"] and f["blocking"]]
    assert legit == [], [(f["rule_id"], f["line"], f["message"][:80]) for f in legit]
