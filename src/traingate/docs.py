"""Rule documentation pages, shipped with the package for SARIF help text."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def docs_dir() -> Path | None:
    from importlib import resources

    packaged = Path(str(resources.files("traingate"))) / "_docs"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "docs"
    return source if source.is_dir() else None


def rule_doc(rule_id: str, check: str) -> str | None:
    """The documentation page of a rule (the catalog decides which page)."""
    from traingate import catalog

    rule = catalog.all_rules().get(rule_id)
    page = rule.page.split("#")[0] if rule is not None else f"checks/{check}.md"
    return page_text(page)


def page_text(page: str) -> str | None:
    base = docs_dir()
    if base is None:
        return None
    try:
        return (base / page).read_text(encoding="utf-8")
    except OSError:
        return None
