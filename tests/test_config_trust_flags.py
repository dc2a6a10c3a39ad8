"""trust_remote_code as launchers pass it and configs spell it (session 27 red
team): a launch line's `--trust_remote_code True`, a key spelled with dashes
or in camel case, a quoted string (any non-empty string is true to
`from_pretrained`). Real git and the real CLI; benign look-alikes beside them."""

from __future__ import annotations

import pytest

from traingate.checks.config.remote_flags import is_trust_key, truthy

from .conftest import Repo
from .test_config_issue16 import change, crepo, rules_at, run

__all__ = ["crepo"]  # the fixture, re-used


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("accelerate launch sft.py --model acme/x --trust_remote_code True", True),
        ("torchrun --nproc_per_node 8 sft.py --trust-remote-code", True),
        ("python sft.py --trust_remote_code --bf16", True),
        ('python sft.py --trust_remote_code "$TRUST"', True),
        ("python sft.py --trust_remote_code=1 \\", True),
        ("python sft.py --trust_remote_code=False", False),
        ("python sft.py --trust_remote_code false --bf16", False),
        ("# python sft.py --trust_remote_code", False),
        ('echo "add --trust_remote_code for custom models"', False),
        ("python sft.py --trust_remote_code_for_tokenizer_only", False),
    ],
)
def test_launch_lines(
    crepo: Repo, capsys: pytest.CaptureFixture[str], line: str, flagged: bool
) -> None:
    change(crepo, {"scripts/launch.sh": f"#!/bin/bash\nset -e\n{line}\n"})
    _, doc = run(crepo, capsys)
    got = {(r, ln) for r, p, ln in rules_at(doc) if p == "scripts/launch.sh"}
    assert (("config-trust-remote-code", 3) in got) is flagged


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("model:\n  trust-remote-code: true\n", True),
        ("model:\n  trustRemoteCode: true\n", True),
        ('model:\n  trust_remote_code: "1"\n', True),
        # looks false, is a non-empty string
        ('model:\n  trust_remote_code: "false"\n', True),
        ("model:\n  trust_remote_code: false\n", False),
        ("model:\n  trust_remote_code: null\n", False),
        ("model:\n  trust_remote_code: 0\n", False),
        ("model:\n  trust_remote_code_warning: true\n", False),
    ],
)
def test_config_spellings(
    crepo: Repo, capsys: pytest.CaptureFixture[str], snippet: str, flagged: bool
) -> None:
    change(crepo, {"configs/model.yaml": snippet})
    _, doc = run(crepo, capsys)
    got = {r for r, p, _ in rules_at(doc) if p == "configs/model.yaml"}
    assert ("config-trust-remote-code" in got) is flagged


def test_key_and_truth_helpers() -> None:
    assert is_trust_key("TRUST_REMOTE_CODE") and not is_trust_key("trust_remote")
    assert truthy("false") and truthy(1) and not truthy("") and not truthy(0.0)
