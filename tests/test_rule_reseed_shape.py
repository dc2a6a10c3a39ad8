"""sabotage-reseed-in-loop carries sabotage-reseed-every-step's formula (session 25).

The blocking rule flags a re-seed with loop-invariant arguments in a loop that
also steps; the warning rule covers re-seeding in loops at large. So that one
call is not reported twice, the warning rule's last clause is ``not:`` over the
blocking rule's whole ``match`` (semgrep's YAML reader takes no anchors, so it
is a copy). An edit to one copy that misses the other would make a call either
reported by both or by neither; this test fails instead. The behaviour itself
is tested by the rules' ``# ruleid:`` / ``# ok:`` files (tests/test_rules_pack.py).
"""

from __future__ import annotations

from typing import Any

import yaml

from .test_rules_pack import RULES_DIR

_DIR = RULES_DIR / "training-sabotage"


def _rule(rule_id: str) -> dict[str, Any]:
    (rule,) = yaml.safe_load((_DIR / f"{rule_id}.yaml").read_text(encoding="utf-8"))["rules"]
    assert isinstance(rule, dict) and "patterns" not in rule
    return rule


def test_warning_excludes_exactly_the_blocking_formula() -> None:
    blocking = _rule("sabotage-reseed-every-step")["match"]
    *_, last = _rule("sabotage-reseed-in-loop")["match"]["all"]
    assert last == {"not": blocking}


def test_both_rules_read_the_same_seed_functions() -> None:
    (branch,) = _rule("sabotage-reseed-every-step")["match"]["any"]
    (blocking_seedfn,) = [w for w in branch["where"] if w["metavariable"] == "$SEEDFN"]
    warning = _rule("sabotage-reseed-in-loop")["match"]
    (warning_seedfn,) = [w for w in warning["where"] if w["metavariable"] == "$SEEDFN"]
    assert blocking_seedfn == warning_seedfn
