"""The copies inside the rank and host/user trigger rules stay equal (issue #17).

``trigger-rank-conditional-sabotage`` and ``trigger-host-user-conditional-sabotage``
run their payload list only inside a guarded region (``as: $REGION`` and a
``where`` over it), as ``trigger-random-draw-sabotage`` does
(tests/test_rule_random_draw_shape.py), so the list and the guard's source
test are written out once per branch: semgrep's YAML reader takes no anchors.
An edit to one copy that misses another would make a rule miss or flag
depending on the guard's form; this test fails instead. The payload lists are
the random-draw rule's (the rank rule without ``raise``, its sleeps excused
over the whole file instead). The rules' behaviour itself is tested by their
``# ruleid:`` / ``# ok:`` files (tests/test_rules_pack.py) and the evasion suite.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from .test_rules_pack import RULES_DIR

_DIR = RULES_DIR / "triggered-sabotage"
RULES = ["trigger-rank-conditional-sabotage", "trigger-host-user-conditional-sabotage"]
_SLEEPS = [{"pattern": "time.sleep(...)"}, {"pattern": "torch.cuda._sleep(...)"}]
_LOOP = "for $G in $OPT.param_groups:\n  ...\n"


def _match(rule_id: str) -> list[Any]:
    (rule,) = yaml.safe_load((_DIR / f"{rule_id}.yaml").read_text(encoding="utf-8"))["rules"]
    assert "patterns" not in rule
    clauses: list[Any] = rule["match"]["all"]
    return clauses


def _branches(rule_id: str) -> list[dict[str, Any]]:
    either, *nots = _match(rule_id)
    assert nots and all(set(n) == {"not"} for n in nots)
    branches: list[dict[str, Any]] = either["any"]
    assert len(branches) == 4
    return branches


def _hit(where: list[dict[str, Any]]) -> dict[str, Any]:
    assert where[-1] == {"focus": "$HIT"}
    (hit,) = [f for f in where[0]["all"] if f.get("as") == "$HIT"]
    assert isinstance(hit, dict)
    return hit


def _random_draw_payload() -> dict[str, Any]:
    path = _DIR / "trigger-random-draw-sabotage.yaml"
    (rule,) = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    return _hit(rule["match"]["all"][0]["any"][0]["where"])


@pytest.mark.parametrize("rule_id", RULES)
def test_region_branches_share_one_payload_and_one_source_test(rule_id: str) -> None:
    a, b, _, _ = _branches(rule_id)
    assert _hit(a["where"]) == _hit(b["where"])
    (guard_a,) = a["all"]
    (guard_b,) = b["all"]
    assert guard_a["as"] == guard_b["as"] == "$REGION"
    (test_a,) = guard_a["where"]
    (test_b,) = guard_b["where"]
    assert test_a["metavariable"] == "$COND" and test_b["metavariable"] == "$SRC"
    assert test_a["any"] == test_b["any"]


@pytest.mark.parametrize("rule_id", RULES)
def test_payload_is_the_random_draw_rules(rule_id: str) -> None:
    (a, *_) = _branches(rule_id)
    theirs = _random_draw_payload()
    if rule_id == "trigger-rank-conditional-sabotage":
        # no `raise`; the sleeps are plain here, their excuses are the rule's `not`s
        theirs = copy.deepcopy(theirs)
        theirs["any"].remove({"pattern": "raise $EXC"})
        sleep = theirs["any"].pop(0)
        assert sleep["all"][0] == {"any": _SLEEPS}
        theirs["any"][0:0] = _SLEEPS
    assert _hit(a["where"]) == theirs


@pytest.mark.parametrize("rule_id", RULES)
def test_loop_branches_repeat_the_guards_and_the_loop_payload(rule_id: str) -> None:
    a, b, c, d = _branches(rule_id)
    guard_a = {k: v for k, v in a["all"][0].items() if k != "as"}
    guard_b = {k: v for k, v in b["all"][0].items() if k != "as"}
    assert c["all"] == [{"pattern": _LOOP, "as": "$LOOP"}]
    guards, loop_payload = c["where"][0]["all"]
    assert guards == {"any": [guard_a, guard_b]}
    assert _hit(d["where"]) == loop_payload
    (inner_d,) = d["all"]
    assert inner_d["all"] == [{"pattern": _LOOP}, guard_b["all"][0]]
    assert inner_d["where"] == guard_b["where"] and inner_d["as"] == "$LOOP"
    assert d["where"][0]["all"][0] == guard_b["all"][1]
    # Branch A's own copy tests the loop from inside the region.
    inner = copy.deepcopy(loop_payload)
    del inner["as"]
    assert {"all": [{"inside": _LOOP}, inner]} in _hit(a["where"])["any"]
