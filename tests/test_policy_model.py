"""The policy model is assembled from the checks (issue #15): each check
declares its settings beside itself, and `checks.<id>` is exactly that model."""

from __future__ import annotations

from traingate.checks import REGISTRY
from traingate.policy.base import CheckSettings
from traingate.policy.model import Checks, Policy


def test_every_registered_check_has_its_own_settings_in_the_policy() -> None:
    assert set(Checks.model_fields) == set(REGISTRY)
    for cid, field in Checks.model_fields.items():
        declared = REGISTRY[cid].Settings
        assert issubclass(declared, CheckSettings), cid
        assert field.annotation is declared, cid
        assert type(getattr(Checks(), cid)) is declared, cid


def test_a_v1_policy_keeps_its_shape() -> None:
    """A policy written before the move validates to the same values."""
    p = Policy.model_validate(
        {
            "version": 1,
            "checks": {
                "semgrep": {
                    "timeout": 60,
                    "rule_dirs": ["rules/"],
                    "rules": {"exec-os-command": "warn"},
                },
                "artifacts": {"allow_globals": ["collections:OrderedDict"]},
                "reach": {"enabled": False},
                "config": {"paths": ["configs/**"]},
            },
            "config_rules": [
                {"name": "recipes", "paths": ["configs/**"], "approval_keys": ["**.lr"]}
            ],
        }
    )
    assert p.checks.semgrep.timeout == 60 and p.checks.semgrep.rule_dirs == ["rules/"]
    assert p.checks.artifacts.allow_globals == ["collections:OrderedDict"]
    assert p.checks.reach.enabled is False and p.checks.reach.paths == [
        "**/*.py",
        "**/*.ipynb",
        "**/*.ipy",
    ]
    assert p.checks.config.paths == ["configs/**"]
    assert p.config_rules[0].approval_keys == ["**.lr"]


def test_a_check_specific_key_is_rejected_under_another_check() -> None:
    """Settings are per check: semgrep's `timeout` is not a key of `checks.unicode`."""
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="timeout"):
        Policy.model_validate({"version": 1, "checks": {"unicode": {"timeout": 5}}})
