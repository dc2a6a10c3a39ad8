"""The catalog against the docs and the fixtures (issue #15): every rule
traingate can report has a docs row or page, and a fixture that fires it.

Fast: markers are read statically here; each check's test module
(tests/checks/test_<check>.py) proves that its fixtures fire what they say.
"""

from __future__ import annotations

import re
from pathlib import Path

from traingate import catalog
from traingate.catalog import Rule
from traingate.checks import REGISTRY

from . import harness

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy" / "rules"
RULEID = re.compile(r"(?:#|//)\s*ruleid:\s*([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)")

# Rules no fixture can fire, each with why and where it is tested instead.
# Everything else needs a firing fixture: adding an id here is a decision a
# reviewer sees, not a way around the test.
CANNOT_FIRE = {
    # Not a finding: a requirement's result in SARIF and Code Quality, raised
    # by sensitive paths and approvals (tests/test_check.py, tests/test_ci.py).
    "approval-required": "a requirement, not a finding of a check",
    # The artifact scanner's own crash (a bug): no input is known to cause it;
    # the fuzz tests in tests/test_artifacts.py assert that none does.
    "artifact-scan-error": "fires only on a scanner bug",
    # semgrep misbehaving (a file left out of its `paths.scanned`, a rule
    # timeout or out-of-memory on one file): no small fixture makes semgrep
    # 1.182 do either reliably, and a timeout fixture would cost >10 s per rule.
    "semgrep-skipped": "fires only when semgrep drops a target",
    "semgrep-incomplete": "fires only on a semgrep timeout or memory limit",
    # zizmor missing, crashing, hanging or printing what the gate cannot read:
    # no fixture file causes that with the real zizmor; tests/test_workflows_check.py
    # makes each happen (an empty PATH, stand-in scripts that exit 101 or sleep).
    "workflow-scan-error": "fires only when zizmor itself fails",
}


def _pack_fired() -> set[str]:
    """Pack rules with a `# ruleid:` case in their semgrep test file."""
    out: set[str] = set()
    for path in PACK.rglob("*"):
        if path.is_file() and not path.name.endswith((".yaml", ".yml")):
            for m in RULEID.finditer(path.read_text(encoding="utf-8", errors="replace")):
                out |= {r.strip() for r in m.group(1).split(",")}
    return out


def _marked() -> dict[str, set[str]]:
    """check id -> the rules its marker fixtures must fire."""
    return {c: harness.marked_rules(c) for c in harness.checks_with_fixtures()}


def _has_docs(rule: Rule) -> bool:
    page, _, anchor = rule.page.partition("#")
    path = ROOT / "docs" / page
    if not path.is_file():
        return False
    if rule.pack or not anchor:
        return True
    text = path.read_text(encoding="utf-8")
    if rule.check == "approvals":
        return bool(re.search(r"^#+ .*semantics", text, re.M | re.I))
    row = re.search(
        rf'^\| <a id="{re.escape(rule.id)}"></a>`{re.escape(rule.id)}` \| ([A-Z]+)', text, re.M
    )
    return row is not None and row.group(1) == rule.severity.value


def test_every_check_has_fixtures_and_a_test_module() -> None:
    # A check added to REGISTRY without fixtures fails here, not silently.
    missing = [
        c
        for c in REGISTRY
        if c not in harness.checks_with_fixtures()
        or not (Path(__file__).parent / f"test_{c}.py").is_file()
    ]
    assert not missing, f"checks without tests/fixtures/checks/<id>/ or test_<id>.py: {missing}"
    stray = sorted(set(harness.checks_with_fixtures()) - set(REGISTRY))
    assert not stray, f"fixture directories for no registered check: {stray}"


def test_every_rule_has_a_docs_row() -> None:
    missing = sorted(r.id for r in catalog.all_rules().values() if not _has_docs(r))
    assert not missing, "rules without a docs row (or with the wrong severity): " + ", ".join(
        missing
    )


def test_every_rule_has_a_fixture_that_fires_it() -> None:
    fired = _pack_fired().union(*_marked().values())
    rules = catalog.all_rules()
    missing = sorted(set(rules) - fired - set(CANNOT_FIRE))
    assert not missing, "rules no fixture fires: " + ", ".join(
        f"{r} ({rules[r].check})" for r in missing
    )


def test_markers_name_declared_rules() -> None:
    # A misspelt marker would only show up as "missing" in one check's run.
    known = set(catalog.all_rules())
    bad = {c: sorted(rs - known) for c, rs in _marked().items() if rs - known}
    assert not bad, f"markers naming no declared rule: {bad}"


def test_the_allow_list_is_not_stale() -> None:
    rules = catalog.all_rules()
    fired = _pack_fired().union(*_marked().values())
    assert set(CANNOT_FIRE) <= set(rules), set(CANNOT_FIRE) - set(rules)
    assert not set(CANNOT_FIRE) & fired, "a fixture fires it now: drop it from CANNOT_FIRE"


def test_each_check_fires_each_of_its_own_rules() -> None:
    # Stronger than the catalog-wide test: a check's rules are fired by that
    # check's own fixtures (pack rules excepted: policy/rules holds theirs).
    gaps = {
        c: sorted({r.id for r in REGISTRY[c].RULES} - marked - set(CANNOT_FIRE))
        for c, marked in _marked().items()
        if c in REGISTRY
    }
    gaps = {c: g for c, g in gaps.items() if g}
    assert not gaps, f"rules not fired by their own check's fixtures: {gaps}"
