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
    base = docs_dir()
    if base is None:
        return None
    page = (
        base / "rules" / f"{rule_id}.md" if check == "semgrep" else base / "checks" / f"{check}.md"
    )
    try:
        return page.read_text(encoding="utf-8")
    except OSError:
        return None
