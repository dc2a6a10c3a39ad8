"""The copies inside ``trigger-random-draw-sabotage`` stay equal (issue #17).

The rule runs its payload list only inside a guarded region (``as: $REGION``
and a ``where`` over it), so the list is written once per branch: semgrep's
YAML reader takes no anchors. Branch C (the ``param_groups`` loop) repeats the
guards of branches A and B. An edit to one copy that misses another would
make the rule miss or flag depending on the guard's form; this test fails
instead. The rule's behaviour itself is tested by its ``# ruleid:`` / ``# ok:``
file (tests/test_rules_pack.py) and the evasion suite.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from .test_rules_pack import RULES_DIR

RULE = RULES_DIR / "triggered-sabotage" / "trigger-random-draw-sabotage.yaml"


def _branches() -> list[dict[str, Any]]:
    (rule,) = yaml.safe_load(RULE.read_text(encoding="utf-8"))["rules"]
    either, sleeps_polling = rule["match"]["all"]
    assert "not" in sleeps_polling
    branches: list[dict[str, Any]] = either["any"]
    assert len(branches) == 3
    return branches


def _payload(branch: dict[str, Any]) -> dict[str, Any]:
    where = branch["where"]
    assert where[-1] == {"focus": "$HIT"}
    (hit,) = [f for f in where[0]["all"] if f.get("as") == "$HIT"]
    assert isinstance(hit, dict)
    return hit


def test_payload_lists_are_equal() -> None:
    a, b, _ = _branches()
    assert _payload(a) == _payload(b)
    assert b["where"][0]["all"][0] == {"inside": "if <... $TV.$METHOD(...) ...>:\n  ...\n"}


def test_loop_branch_repeats_the_guards_and_the_loop_payload() -> None:
    a, b, c = _branches()
    (guard_a,) = a["all"]
    guard_a = {k: v for k, v in guard_a.items() if k != "as"}
    (regions_b,) = b["all"]
    guard_b = {"all": [{k: v for k, v in regions_b.items() if k != "as"}, b["where"][0]["all"][0]]}
    assert c["all"] == [{"pattern": "for $G in $OPT.param_groups:\n  ...\n", "as": "$LOOP"}]
    guards, loop_payload = c["where"][0]["all"]
    assert guards == {"any": [guard_a, guard_b]}
    # Branch A's own copy tests the loop from inside the region.
    inner = copy.deepcopy(loop_payload)
    del inner["as"]
    assert {"all": [{"inside": "for $G in $OPT.param_groups:\n  ...\n"}, inner]} in _payload(a)[
        "any"
    ]
