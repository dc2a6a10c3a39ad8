"""Issue #16: Python's NFKC rule for names in a notebook whose kernel is not
Python. A Calysto Scheme notebook's ``vectorᵢ`` was blocked as "Python treats
them as the same name"; Scheme does not fold names. The rule is dropped only
for a cell no Python kernel runs as written (a non-Python kernel language and
a cell that does not parse as Python); mixed scripts count in any language.
The real gate on a real repository."""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

SCHEME = {"name": "calysto_scheme", "language": "scheme", "display_name": "Calysto Scheme"}
PYTHON = {"name": "python3", "language": "python", "display_name": "Python 3"}


def _notebook(kernel: dict[str, str], *cells: str) -> str:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": kernel, "language_info": {"name": kernel["language"]}},
            "cells": [
                {"cell_type": "code", "metadata": {}, "outputs": [], "source": c} for c in cells
            ],
        },
        indent=1,
        ensure_ascii=False,
    )


def _unicode(repo: Repo, capsys: pytest.CaptureFixture[str], text: str) -> set[tuple[str, str]]:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("README.md", "# nb\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("nb/guide.ipynb", text)
    repo.commit("notebook", who="mallory")
    main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
        + ["--format", "json"]
    )
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return {
        (f["rule_id"], f["message"].split(";")[0])
        for f in doc["findings"]
        if f["check"] == "unicode"
    }


def test_scheme_names_are_not_judged_by_python_folding(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # ok: Scheme code (it does not parse as Python) in a Scheme kernel.
    text = _notebook(SCHEME, "(define vectorᵢ (vector 1 2 3))\n(vector-ref vectorᵢ 0)")
    assert _unicode(repo, capsys, text) == set()


def test_python_kernel_still_folds_names(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # ruleid: the same unparseable cell in a Python kernel (it blocks as
    # python-syntax-error too, and the name rule still reports it).
    text = _notebook(PYTHON, "(define vectorᵢ (vector 1 2 3))\n(vector-ref vectorᵢ 0)")
    assert ("unicode-confusable-identifier", 'identifier "vectorᵢ" normalizes to "vectori"') in (
        _unicode(repo, capsys, text)
    )


def test_mislabelled_kernel_with_python_cells_still_folds(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # ruleid: a Python cell under a "scheme" label, beside a Scheme one: a
    # Python kernel runs each cell alone (Jupyter offers another kernel when
    # the named one is missing), and `ｅｘｅｃ` is `exec` there.
    text = _notebook(SCHEME, "(define vectorᵢ (vector 1 2 3))\n", "ｅｘｅｃ('print(1)')\n")
    found = _unicode(repo, capsys, text)
    assert ("unicode-confusable-identifier", 'identifier "ｅｘｅｃ" normalizes to "exec"') in found


def test_mixed_script_names_count_in_any_language(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # ruleid: a Cyrillic "а" in a Scheme name is a homoglyph in Scheme too.
    text = _notebook(SCHEME, "(define dаta (vector 1 2 3))\n(display dаta)")
    assert {rule for rule, _ in _unicode(repo, capsys, text)} == {"unicode-mixed-script-identifier"}
