"""The sabotage check judges what the semgrep check scans as Python (issue #16).

It used to take only paths ending in ``.py`` or ``.ipynb``, case-sensitively
(and its default ``paths`` were ``**/*.py``, ``**/*.ipynb``). A launcher runs
``python train/Train.PY`` or an extensionless ``#!/usr/bin/env python3``
script just the same, and the semgrep check scans both as Python: the
attacker names the file so, and the triggered write passed the sabotage check
(exit 0 with the semgrep check narrowed). Every run is the real CLI on a real
repository.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Repo
from .test_sabotage_failclosed import _PAYLOAD, COVERED, NARROW, PEP695, _change, _check, _summary

PLAIN = f"import platform\n\n\ndef step(model):\n{_PAYLOAD}"  # the write on line 7
SHEBANG = "#!/usr/bin/env python3\n" + PLAIN  # line 8
WRITE = "sabotage-env-triggered-write"


@pytest.mark.parametrize("name", ["Train.PY", "step.Py", "tool.pyw", "types.pyi"])
def test_python_extension_in_any_case(
    repo: Repo, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Before: exit 0, no finding."""
    _change(repo, NARROW, {name: PLAIN})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [(f"train/{name}", "sabotage", WRITE, 7, "require_approval")],
    )


@pytest.mark.parametrize(
    "shebang", ["#!/usr/bin/env python3", "#!/usr/bin/python", "#! /opt/conda/bin/python3.11 -u"]
)
def test_extensionless_python_script(
    repo: Repo, capsys: pytest.CaptureFixture[str], shebang: str
) -> None:
    """Before: exit 0, no finding."""
    _change(repo, NARROW, {"launch": f"{shebang}\n{PLAIN}"})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [("train/launch", "sabotage", WRITE, 8, "require_approval")],
    )


def test_notebook_extension_in_any_case(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": PLAIN.splitlines(True)}
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}
    _change(repo, NARROW, {"Explore.IPYNB": json.dumps(nb, indent=1)})
    code, found = _check(repo, capsys)
    assert code == 1
    assert [(f["path"], f["rule_id"]) for f in found if f["check"] == "sabotage"] == [
        ("train/Explore.IPYNB", WRITE)
    ]


def test_what_no_check_takes_for_python_stays_unjudged(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shell #! line, no #! line, a Makefile (the semgrep check reads it as
    make, whatever its first line) and a config file are not Python."""
    files: dict[str, str | bytes] = {
        "run": "#!/bin/bash\n" + PLAIN,
        "notes": PLAIN,
        "Makefile": SHEBANG,
        "step.py.txt": PLAIN,
    }
    _change(repo, NARROW, files)
    _, found = _check(repo, capsys)
    assert [f for f in found if f["check"] == "sabotage"] == []


def test_unjudged_extensionless_script_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fail closed as for a .py (test_sabotage_failclosed): a script the gate's
    Python cannot parse, or one with NUL bytes, is reported when the semgrep
    check does not block it."""
    files: dict[str, str | bytes] = {
        "pep695": "#!/usr/bin/env python3\n" + PEP695,
        "nul": SHEBANG + "# \x00\n",
    }
    _change(repo, NARROW, files)
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [
            ("train/nul", "sabotage", "sabotage-incomplete", None, "require_approval"),
            ("train/pep695", "sabotage", "sabotage-incomplete", None, "require_approval"),
        ],
    )


def test_the_semgrep_finding_asked_about_is_the_one_it_reports(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The semgrep check reports an extensionless script with NUL bytes as
    source-unreadable (a .py as python-syntax-error). With that finding only
    warned, the sabotage check must not think the file blocked: it would if
    it asked about python-syntax-error, which blocks here."""
    policy = COVERED.replace(
        "{max_file_bytes: 2000}", "{max_file_bytes: 2000, rules: {source-unreadable: warn}}"
    )
    _change(repo, policy, {"nul": SHEBANG + "# \x00\n"})
    code, found = _check(repo, capsys)
    assert (code, _summary(found)) == (
        1,
        [
            ("train/nul", "sabotage", "sabotage-incomplete", None, "require_approval"),
            ("train/nul", "semgrep", "source-unreadable", 1, "warn"),
        ],
    )


def test_no_second_finding_where_semgrep_blocks_a_script(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _change(
        repo, COVERED, {"nul": SHEBANG + "# \x00\n", "pep695": "#!/usr/bin/env python3\n" + PEP695}
    )
    _, found = _check(repo, capsys)
    assert _summary(found) == [
        ("train/nul", "semgrep", "source-unreadable", 1, "require_approval"),
        ("train/pep695", "semgrep", "python-syntax-error", 5, "require_approval"),
    ]
