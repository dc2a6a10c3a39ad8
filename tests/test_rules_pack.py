"""The shipped semgrep rule pack (policy/rules): valid rules, passing rule tests,
required metadata, one docs page and one test file per rule, unique ids.

Covers every rule file found under policy/rules, whoever wrote it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "policy" / "rules"
DOCS_DIR = ROOT / "docs" / "rules"

# Rule-id prefixes of the categories that have a fixed one.
PREFIXES = {
    "code-execution": "exec-",
    "unsafe-deserialization": "deser-",
    "remote-code": "remote-",
    "network-egress": "egress-",
}
SEVERITIES = {"ERROR", "WARNING", "INFO"}
CONFIDENCES = {"HIGH", "MEDIUM", "LOW"}
METADATA_KEYS = ("category", "cwe", "confidence", "references", "docs")
DOC_SECTIONS = (
    "## What it does",
    "## Why is this bad in training code",
    "## Example",
    "## Use instead",
    "## References",
)
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
MIN_CASES = 3


# --------------------------------------------------------------------------- helpers


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.rglob("*.yaml")) + sorted(RULES_DIR.rglob("*.yml"))


def load_rules(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("rules"), list), (
        f"{path}: not a semgrep rule file (no top-level 'rules' list)"
    )
    rules: list[dict[str, Any]] = data["rules"]
    return rules


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


RULE_FILES = rule_files()
RULE_IDS = [_rel(p) for p in RULE_FILES]


def semgrep_exe() -> str:
    found = shutil.which("semgrep")
    if found:
        return found
    for name in ("semgrep", "semgrep.exe"):
        beside = Path(sys.executable).with_name(name)
        if beside.is_file():
            return str(beside)
    pytest.fail("semgrep executable not found (PATH or next to the Python interpreter)")


def semgrep_env() -> dict[str, str]:
    return {
        **os.environ,
        "SEMGREP_ENABLE_VERSION_CHECK": "0",
        "SEMGREP_SEND_METRICS": "off",
    }


COMMON = ["--metrics=off", "--disable-version-check"]


def run_semgrep(
    args: list[str], cwd: Path = ROOT, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [semgrep_exe(), *args],
        cwd=cwd,
        env=semgrep_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@cache
def semgrep_test_report() -> dict[str, Any]:
    proc = run_semgrep(["--test", *COMMON, "--json", str(RULES_DIR)])
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(
            f"semgrep --test gave no JSON (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    report["_returncode"] = proc.returncode
    return report


# --------------------------------------------------------------------------- semgrep itself


def test_pack_is_not_empty() -> None:
    assert RULE_FILES, f"no rule files under {RULES_DIR}"


def _offline_validate() -> None:
    """Load every rule against an empty target: the schema and pattern-parsing
    checks that `--validate` applies, without its downloaded lint pack."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.py"
        empty.write_text("", encoding="utf-8")
        scan = run_semgrep(
            ["scan", *COMMON, "--json", "--config", str(RULES_DIR), str(empty)], cwd=Path(tmp)
        )
    try:
        errors = json.loads(scan.stdout).get("errors", [])
    except ValueError:
        pytest.fail(f"offline validation gave no JSON:\n{scan.stderr[-4000:]}")
    assert not errors, "invalid rules:\n" + json.dumps(errors, indent=2)[:8000]
    assert scan.returncode == 0, scan.stderr[-4000:]


def test_semgrep_validate() -> None:
    """Rule validation, offline: `semgrep --validate` downloads a lint pack from
    the registry, and the suite never uses the network (principle 4)."""
    _offline_validate()


def _checks_by_rule() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for config, result in semgrep_test_report().get("results", {}).items():
        for rule_id, check in result.get("checks", {}).items():
            out.setdefault(rule_id.rsplit(".", 1)[-1], []).append((config, check))
    return out


def test_semgrep_rule_tests_pass() -> None:
    """One `semgrep --test` run over the whole tree: no config errors, no rule
    without tests, every rule exercised, exit status 0."""
    report = semgrep_test_report()
    problems = []
    if report.get("config_with_errors"):
        problems.append("config errors: " + json.dumps(report["config_with_errors"])[:6000])
    if report.get("config_missing_tests"):
        problems.append(f"rules without a test file: {report['config_missing_tests']}")
    checks = _checks_by_rule()
    for rule_id, entries in sorted(checks.items()):
        for config, check in entries:
            if not check.get("passed") or check.get("errors"):
                problems.append(f"{rule_id} ({config}): {_describe(check)}")
    expected = {r["id"] for p in RULE_FILES for r in load_rules(p)}
    if not expected <= set(checks):
        problems.append(f"rules not exercised by semgrep --test: {sorted(expected - set(checks))}")
    if not problems and report["_returncode"] != 0:
        problems.append(f"semgrep --test exited {report['_returncode']}")
    assert not problems, "semgrep --test:\n" + "\n".join(problems)


def _describe(check: dict[str, Any]) -> str:
    detail = {
        f: {
            "missed": sorted(set(m["expected_lines"]) - set(m["reported_lines"])),
            "unexpected": sorted(set(m["reported_lines"]) - set(m["expected_lines"])),
        }
        for f, m in check.get("matches", {}).items()
    }
    return f"{detail} {check.get('errors') or ''}".strip()


# --------------------------------------------------------------------------- per rule file


@pytest.mark.parametrize("path", RULE_FILES, ids=RULE_IDS)
def test_rule_file_shape(path: Path) -> None:
    rules = load_rules(path)
    assert len(rules) == 1, f"{_rel(path)}: exactly one rule per file"
    rule = rules[0]
    rid = rule.get("id")
    assert isinstance(rid, str) and ID_RE.match(rid), f"{rid!r}: ids are kebab-case, no dots"
    assert path.stem == rid, f"{_rel(path)}: file name must be <rule-id>.yaml"
    category = path.parent.name
    assert category in CATEGORIES, f"{_rel(path)}: unknown category directory {category!r}"
    if category in PREFIXES:
        assert rid.startswith(PREFIXES[category]), f"{rid}: must start with {PREFIXES[category]}"
    assert rule.get("languages"), f"{rid}: languages missing"
    assert rule.get("severity") in SEVERITIES, f"{rid}: severity must be one of {SEVERITIES}"
    assert isinstance(rule.get("message"), str) and rule["message"].strip(), f"{rid}: message"

    meta = rule.get("metadata")
    assert isinstance(meta, dict), f"{rid}: metadata missing"
    missing = [k for k in METADATA_KEYS if k not in meta]
    assert not missing, f"{rid}: metadata keys missing: {missing}"
    assert meta["category"] == category, f"{rid}: metadata.category must be {category!r}"
    assert re.match(r"^CWE-\d+: \S", str(meta["cwe"])), f"{rid}: cwe like 'CWE-94: ...'"
    assert meta["confidence"] in CONFIDENCES, f"{rid}: confidence must be one of {CONFIDENCES}"
    refs = meta["references"]
    assert isinstance(refs, list) and refs, f"{rid}: references must be a non-empty list"
    assert all(isinstance(u, str) and u.startswith("https://") for u in refs), f"{rid}: URLs"
    assert meta["docs"] == f"docs/rules/{rid}.md", f"{rid}: docs must be docs/rules/{rid}.md"


@pytest.mark.parametrize("path", RULE_FILES, ids=RULE_IDS)
def test_rule_has_docs_page(path: Path) -> None:
    rid = load_rules(path)[0]["id"]
    page = DOCS_DIR / f"{rid}.md"
    assert page.is_file(), f"docs/rules/{rid}.md is missing"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {rid}\n"), f"{page.name}: first line must be '# {rid}'"
    headings = [line.rstrip() for line in text.splitlines() if line.startswith("## ")]
    assert tuple(headings) == DOC_SECTIONS, (
        f"{page.name}: sections must be exactly {DOC_SECTIONS}, got {headings}"
    )
    for section in ("## Example", "## Use instead"):
        body = text.split(section + "\n", 1)[1].split("\n## ", 1)[0]
        assert re.search(r"^```[a-z]+\n", body, re.M), f"{page.name}: {section} needs a code block"
    refs = text.split("## References\n", 1)[1]
    assert "http" in refs, f"{page.name}: References lists no link"


@pytest.mark.parametrize("path", RULE_FILES, ids=RULE_IDS)
def test_rule_has_test_cases(path: Path) -> None:
    rid = load_rules(path)[0]["id"]
    candidates = [path.with_suffix(ext) for ext in (".py", ".sh", ".bash")]
    tests = next((c for c in candidates if c.is_file()), candidates[0])
    assert tests.is_file(), f"{_rel(tests)} (semgrep test file) is missing"
    counts = {"ruleid": 0, "ok": 0}
    annot = re.compile(r"^\s*#\s*(ruleid|ok)\s*:\s*(.+?)\s*$")
    for line in tests.read_text(encoding="utf-8").splitlines():
        m = annot.match(line)
        if m and rid in [s.strip() for s in m.group(2).split(",")]:
            counts[m.group(1)] += 1
    assert counts["ruleid"] >= MIN_CASES, f"{rid}: needs >= {MIN_CASES} '# ruleid:' cases"
    assert counts["ok"] >= MIN_CASES, f"{rid}: needs >= {MIN_CASES} '# ok:' cases"


@pytest.mark.parametrize("path", RULE_FILES, ids=RULE_IDS)
def test_rule_semgrep_test_passes(path: Path) -> None:
    rid = load_rules(path)[0]["id"]
    entries = _checks_by_rule().get(rid)
    assert entries, f"{rid}: semgrep --test did not run this rule (test file missing or misnamed?)"
    for _config, check in entries:
        assert check.get("passed") and not check.get("errors"), f"{rid}: {_describe(check)}"


def test_rule_ids_unique() -> None:
    seen: dict[str, str] = {}
    dupes = []
    for path in RULE_FILES:
        for rule in load_rules(path):
            rid = str(rule.get("id"))
            if rid in seen:
                dupes.append(f"{rid}: {seen[rid]} and {_rel(path)}")
            seen[rid] = _rel(path)
    assert not dupes, "duplicate rule ids:\n" + "\n".join(dupes)
