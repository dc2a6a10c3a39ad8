"""The suppression check (docs/checks/suppression.md): every rule fires on the
attempt it names and stays quiet on the look-alike. The author of a change may
be the adversary, so a suppression comment is a finding, never a suppression."""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo


def _findings(repo: Repo, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, Any]]:
    capsys.readouterr()
    main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    return sorted(
        (f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["check"] == "suppression"
    )


@pytest.fixture
def feature(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("train.py", "import os\n")
    repo.write(".semgrepignore", "tests/\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def test_each_suppression_attempt_is_a_finding(
    feature: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    feature.write(
        "train.py",
        "import os\n"
        "os.system(cmd)  # nosemgrep: exec-os-command\n"
        "eval(expr)  # nosec B307\n"
        "exec(code)  # noqa: S102\n",
    )
    feature.write(".semgrepignore", "tests/\ntrain.py\n")
    feature.commit("quiet the scanners", who="mallory")
    assert _findings(feature, capsys) == [
        ("suppress-ignore-file", ".semgrepignore", None),
        ("suppress-nosec", "train.py", 3),
        ("suppress-nosec", "train.py", 4),
        ("suppress-nosemgrep", "train.py", 2),
    ]


def test_look_alikes_are_quiet(feature: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    feature.write(
        "train.py",
        "import os\n"
        "# the nosemgrepper tool is unrelated\n"
        "value = 1  # noqa: E501\n"
        "ANNOUNCE = 'see nosec-docs for details'\n",
    )
    feature.commit("comments", who="mallory")
    assert _findings(feature, capsys) == []
