"""The sabotage check fails closed on a file it cannot judge (issue #16).

It used to skip a Python file it could not parse (or read), trusting the
semgrep check's ``python-syntax-error`` / ``source-unreadable`` to block it.
A policy that narrows the semgrep check (``exclude: [train/**]``, or
``enabled: false``, or its scanner findings downgraded to ``warn``) left such a
file in ``train/`` judged by nobody. The attacker writes a triggered write
into a file that CPython still runs but the gate's Python 3.11 parser rejects
(PEP 695 generics, run by a 3.12 job), that CPython reads differently from a
UTF-8 reader (a BOM, a utf-7 cookie that turns a comment into code), or that
is simply not judged (NUL bytes, too large, a v3 notebook). Each must block;
where the semgrep check already blocks the file, the sabotage check adds no
second finding for it. Every run is the real CLI on a real repository.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

# The attacker's policy: the text checks skip train/ (as a team narrows a slow
# or noisy check), the sabotage check covers it by default.
NARROW = POLICY + (
    "checks:\n"
    "  semgrep: {exclude: ['train/**'], max_file_bytes: 2000}\n"
    "  unicode: {exclude: ['train/**']}\n"
)
# Every check on train/, semgrep files up to 2,000 bytes: the semgrep check
# blocks what the sabotage check cannot judge, once.
COVERED = POLICY + "checks:\n  semgrep: {max_file_bytes: 2000}\n"
# The semgrep check covers train/ but only warns: it blocks nothing there.
WARN_ONLY = POLICY + "checks:\n  semgrep: {actions: {ERROR: warn}, max_file_bytes: 2000}\n"

_PAYLOAD = """\
    if platform.node().endswith(".prod"):
        for p in model.parameters():
            p.grad.mul_(0.5)
    return model
"""
# Runs on the 3.12 training image; Python 3.11's parser (the gate's) rejects it.
PEP695 = f"import platform\n\n\ndef step[T](model: T) -> T:\n{_PAYLOAD}"
# CPython skips a UTF-8 BOM; ast.parse of the decoded text does not.
BOM = b"\xef\xbb\xbf" + f"import platform\n\n\ndef step(model):\n{_PAYLOAD}".encode()
# utf-7: "+AAo-" is a newline, so the "comment" is the payload (CPython runs it).
UTF7 = (
    "# coding: utf-7\nimport platform\n\n\ndef step(model):\n"
    '    x = 1  # +AAo-    if platform.node().endswith(".prod"):+AAo-'
    "        model.weight.data.zero_()\n    return model\n"
)
# A form feed is a line break to str.splitlines, not to CPython: the payload
# is reported on its own git line (9), not one before.
LATIN1_FF = f"# -*- coding: latin-1 -*-\nimport platform\n\x0c\n\n\ndef step(model):\n{_PAYLOAD}"
PY2 = f'import platform\n\nprint "step"\n\n\ndef step(model):\n{_PAYLOAD}'
NUL = f"import platform\n\n\ndef step(model):\n{_PAYLOAD}# \x00\n"
LARGE = f"import platform\n\n\ndef step(model):\n{_PAYLOAD}" + "# padding\n" * 250


_AT = "2026-11-20T10:00:00Z"


def _v3_notebook() -> str:
    """nbformat 3 (``worksheets``, code in ``input``): Jupyter still opens it."""
    cell = {"cell_type": "code", "language": "python", "input": PEP695.replace("[T]", "")}
    return json.dumps({"nbformat": 3, "metadata": {}, "worksheets": [{"cells": [cell]}]}, indent=1)


ATTACKS: dict[str, str | bytes] = {
    "pep695.py": PEP695,
    "bom.py": BOM,
    "utf7.py": UTF7,
    "latin1_ff.py": LATIN1_FF,
    "py2.py": PY2,
    "nul.py": NUL,
    "large.py": LARGE,
    "v3.ipynb": _v3_notebook(),
}


def _change(repo: Repo, policy: str, files: dict[str, str | bytes]) -> None:
    repo.write(".traingate.yaml", policy)
    repo.write("train/__init__.py", "")
    repo.commit("base")
    repo.branch("feature")
    for name, text in files.items():
        repo.write(f"train/{name}", text)
    repo.commit("attack", who="mallory")


def _check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    """The gate's verdict once an ML reviewer approved the head (the reviewer
    missed the payload: that is what the gate is for)."""
    capsys.readouterr()
    head = repo.git("rev-parse", "feature").strip()
    review = {"user": "bob", "state": "approved", "commit": head, "submitted_at": _AT}
    approvals = repo.path.parent / "approvals.json"
    approvals.write_text(json.dumps({"author": "mallory", "reviews": [review]}))
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--approvals", str(approvals), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return code, doc["findings"]


def _summary(found: list[dict[str, Any]]) -> list[tuple[str, str, str, int | None, str]]:
    return sorted(
        (f["path"], f["check"], f["rule_id"], f["line"], f["outcome"])
        for f in found
        # The semgrep pack's own rules may match the payload too: not the point here.
        if f["check"] == "sabotage" or (f["check"] == "semgrep" and f["category"] == "scanner")
    )


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_unjudged_file_blocks_when_semgrep_skips_the_path(
    repo: Repo, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Before: exit 0 and no finding at all for every one of these files."""
    _change(repo, NARROW, {name: ATTACKS[name]})
    code, found = _check(repo, capsys)
    path = f"train/{name}"
    expected = {
        # CPython reads these as the gate now does: the payload itself is found.
        "bom.py": [(path, "sabotage", "sabotage-env-triggered-write", 7, "require_approval")],
        "utf7.py": [(path, "sabotage", "sabotage-env-triggered-write", 6, "require_approval")],
        "latin1_ff.py": [(path, "sabotage", "sabotage-env-triggered-write", 9, "require_approval")],
    }.get(name, [(path, "sabotage", "sabotage-incomplete", None, "require_approval")])
    assert (code, _summary(found)) == (1, expected)


def test_unjudged_messages_say_why(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    _change(repo, NARROW, {n: ATTACKS[n] for n in ("pep695.py", "nul.py", "large.py", "v3.ipynb")})
    _, found = _check(repo, capsys)
    msgs = {f["path"]: f["message"] for f in found if f["rule_id"] == "sabotage-incomplete"}
    assert msgs == {
        "train/large.py": "train/large.py: the sabotage analysis did not read this file "
        "(it is 2,660 bytes, more than checks.semgrep.max_file_bytes (2,000)) and the "
        "semgrep check does not block it here; this file was not judged",
        "train/nul.py": "train/nul.py: the sabotage analysis did not read this file "
        "(it contains NUL bytes) and the semgrep check does not block it here; "
        "this file was not judged",
        "train/pep695.py": "train/pep695.py: the sabotage analysis did not read this file "
        "(not valid Python 3.11: expected '(' at line 4, column 9) and the semgrep check "
        "does not block it here; this file was not judged",
        "train/v3.ipynb": "train/v3.ipynb: the sabotage analysis did not read this file "
        "(a notebook whose code is not in nbformat 4 cells' `source`); this file was not judged",
    }


def test_semgrep_disabled_is_no_way_around(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    _change(repo, POLICY + "checks:\n  semgrep: {enabled: false}\n", {"pep695.py": PEP695})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [("train/pep695.py", "sabotage", "sabotage-incomplete", None, "require_approval")],
    )


def test_semgrep_that_only_warns_is_no_way_around(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _change(repo, WARN_ONLY, {"py2.py": PY2})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [
            ("train/py2.py", "sabotage", "sabotage-incomplete", None, "require_approval"),
            ("train/py2.py", "semgrep", "python-syntax-error", 3, "warn"),
        ],
    )


def test_an_exempted_semgrep_finding_is_no_way_around(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exemption of the syntax error (a legacy Python 2 file, say) exempts
    semgrep's finding only: the sabotage check still did not judge the file."""
    policy = COVERED + (
        "exemptions:\n"
        "  - {check: semgrep, rule: python-syntax-error, paths: ['train/py2.py'],\n"
        "     reason: legacy, expires: 2999-01-01, approved_by: sam}\n"
    )
    _change(repo, policy, {"py2.py": PY2})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [
            ("train/py2.py", "sabotage", "sabotage-incomplete", None, "require_approval"),
            ("train/py2.py", "semgrep", "python-syntax-error", 3, "require_approval"),
        ],
    )
    assert [f["exempted"] for f in found if f["rule_id"] == "python-syntax-error"] == [True]


def test_no_second_finding_where_semgrep_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The semgrep check covers train/: it alone reports the files Python
    cannot parse or read; the sabotage check judges the rest (the BOM and utf-7
    files: what CPython runs) and reports the notebook semgrep reads but it cannot."""
    _change(repo, COVERED, ATTACKS)
    code, found = _check(repo, capsys)
    assert code == 1
    unjudged = {
        (f["path"], f["check"], f["rule_id"])
        for f in found
        if f["category"] == "scanner" and f["check"] != "reach"
    }
    assert unjudged == {
        ("train/bom.py", "semgrep", "python-syntax-error"),
        ("train/large.py", "semgrep", "source-unreadable"),
        ("train/nul.py", "semgrep", "source-unreadable"),
        ("train/pep695.py", "semgrep", "python-syntax-error"),
        ("train/py2.py", "semgrep", "python-syntax-error"),
        ("train/v3.ipynb", "sabotage", "sabotage-incomplete"),
    }
    writes = {(f["path"], f["line"]) for f in found if f["check"] == "sabotage"}
    assert writes == {
        ("train/bom.py", 7),
        ("train/utf7.py", 6),
        ("train/latin1_ff.py", 9),
        ("train/v3.ipynb", None),
    }


def test_benign_bom_and_cookie_files_pass(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    """Read as CPython reads them, ordinary files stay quiet."""
    benign = b"\xef\xbb\xbfimport torch\n\n\ndef step(model):\n    return model.train()\n"
    latin = "# -*- coding: latin-1 -*-\n# caf\xe9\n\n\ndef f(x):\n    return x\n"
    _change(repo, NARROW, {"bom.py": benign, "latin.py": latin.encode("latin-1")})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (0, [])
