"""Fail closed, centrally: an exception in any check or approval source blocks with
exit 3 and a message; the policy loader never lets an exception escape."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traingate.checks import REGISTRY
from traingate.cli import main
from traingate.errors import PolicyError
from traingate.policy.load import load_text

from .conftest import Repo
from .fuzz import fuzz


@pytest.fixture
def busy_repo(policy_repo: Repo) -> Repo:
    """A change that every check covers: code, config, artifact, .gitattributes,
    a workflow."""
    policy_repo.write("train.py", "import os\nx = 2\n")
    policy_repo.write("configs/run.yaml", "seed: 1\n")
    policy_repo.write("models/w.pkl", b"\x80\x04N.")
    policy_repo.write(".gitattributes", "*.pkl binary\n")
    policy_repo.write(
        ".github/workflows/ci.yml",
        "on: push\npermissions: {}\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ok\n",
    )
    policy_repo.commit("everything", who="mallory")
    return policy_repo


@pytest.mark.parametrize("check_id", sorted(REGISTRY))
def test_exception_in_any_check_blocks_with_exit_3(
    check_id: str,
    busy_repo: Repo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = REGISTRY[check_id]

    def boom(ctx: object) -> list[object]:
        raise RuntimeError(f"injected failure in {check_id}")

    monkeypatch.setattr(module, "run", boom)
    code = main(
        [
            "check",
            "--repo",
            str(busy_repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 3
    assert doc["decision"] == "block" and doc["exit_code"] == 3
    assert any(
        f"check '{check_id}' crashed" in e and "injected failure" in e for e in doc["errors"]
    )


SOURCES = [
    ("traingate.approvals.jsonfile", "load"),
    ("traingate.approvals.signed", "collect"),
    ("traingate.approvals.semantics", "judge"),
]


@pytest.mark.parametrize(("module_name", "func"), SOURCES)
def test_exception_in_any_approval_source_blocks_with_exit_3(
    module_name: str,
    func: str,
    busy_repo: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    approvals = tmp_path / "a.json"
    approvals.write_text(json.dumps({"author": "mallory", "reviews": []}))

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError(f"injected failure in {module_name}.{func}")

    monkeypatch.setattr(importlib.import_module(module_name), func, boom)
    code = main(
        [
            "check",
            "--repo",
            str(busy_repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--approvals",
            str(approvals),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "internal error" in err and "the change is blocked" in err and "injected failure" in err


def test_exception_in_ci_sources_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("traingate.approvals.github", "traingate.approvals.gitlab"):
        module = importlib.import_module(name)
        assert callable(module.fetch)  # both are reached only through `ci`, tested in test_ci.py


@fuzz(300)
@given(st.text(max_size=400))
def test_policy_loader_never_lets_an_exception_escape(text: str) -> None:
    try:
        load_text(text, ".traingate.yaml")
    except PolicyError as exc:
        assert exc.render().startswith("error: ")


KEYS = [
    "version",
    "extends",
    "groups",
    "sensitive_paths",
    "checks",
    "exemptions",
    "users",
    "name",
    "paths",
    "approvals",
    "approvers",
    "semgrep",
    "actions",
    "ERROR",
    "rules",
    "security_group",
    "config_rules",
]
scalars = st.one_of(
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
    st.sampled_from(["block", "warn", "x", "*.py", "builtin:default", "1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


@fuzz(300)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_structured_policies_load_or_give_a_located_error(doc: dict[str, object]) -> None:
    import yaml

    text = yaml.safe_dump(doc)
    try:
        load_text(text, ".traingate.yaml")
    except PolicyError as exc:
        rendered = exc.render()
        assert ".traingate.yaml" in rendered or "builtin:default" in rendered, rendered
