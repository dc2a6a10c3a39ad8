"""docs/reference/json-report.md names exactly the fields of the schema the
suite validates every JSON report against (issue #18): a field added to the
report and the schema but not to the page, or the reverse, fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"
PAGE = (DOCS / "json-report.md").read_text(encoding="utf-8")
SCHEMA = json.loads((DOCS / "json-report.schema.json").read_text(encoding="utf-8"))


def _fields(section: str) -> set[str]:
    """Every `name` in the first column of the section's table."""
    text = PAGE.split(section, 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`(\w+)(?:\[\])?`", first))
    return names


def _items(prop: str) -> dict[str, Any]:
    item = SCHEMA["properties"][prop]["items"]
    if "$ref" in item:
        defs = SCHEMA.get("$defs") or SCHEMA.get("definitions") or {}
        item = defs[item["$ref"].rsplit("/", 1)[1]]
    return dict(item["properties"])


@pytest.mark.parametrize(
    ("section", "fields"),
    [
        ("# JSON report", lambda: SCHEMA["properties"]),
        ("## findings[]", lambda: _items("findings")),
        ("## requirements[]", lambda: _items("requirements")),
    ],
)
def test_page_tables_are_the_schema(section: str, fields: Any) -> None:
    assert _fields(section) == set(fields())
