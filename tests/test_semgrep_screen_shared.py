"""Sub-screens several rules share, tested once a file or unit (issue #17,
shared.py): the masks of the shipped pack are those of its screens compiled
one by one, on every screen fixture and on each of its units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from traingate.checks.semgrep import screen, shared

from .test_rules_pack import RULES_DIR as _RULES

_FIXTURES = Path(__file__).parent / "fixtures" / "screen"


def _specs() -> dict[str, Any]:
    """Each screened rule's screen, read from its YAML as a whole."""
    out: dict[str, Any] = {}
    for path in sorted(_RULES.rglob("*.yaml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", []):
            spec = (rule.get("metadata") or {}).get(screen.KEY)
            if spec is not None:
                out[rule["id"]] = spec
    return out


def test_the_pack_shares_sub_screens() -> None:
    # The triggered-sabotage payload block, among others: else nothing is kept.
    assert len(shared.repeated(_specs().values())) >= 3


def test_kept_answers_are_the_answers_of_each_screen_alone() -> None:
    screens, _ = screen.read(sorted(_RULES.rglob("*.yaml")))
    specs = _specs()
    alone = [screen.compile_screen(specs[i]) for i in screens.ids]
    checked = 0
    for path in sorted(_FIXTURES.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        kept, fresh = screen.facts(text), screen.facts(text)
        if kept is None or fresh is None:
            continue
        # The kept answers first, so a wrongly kept one would show below.
        assert screens.mask(text) == "".join("1" if t(fresh) else "0" for t in alone), path
        for unit, other in zip(kept.units(), fresh.units(), strict=True):
            got = [t(unit) for t in screens.tests]
            assert got == [t(other) for t in alone], path
        checked += 1
    assert checked > 10
