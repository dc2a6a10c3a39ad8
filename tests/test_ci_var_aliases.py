"""Aliases of author-controlled CI variables (session 27): a copy in GitLab's
`variables:` or in a script assignment is read as the variable it copies, so
`exec-shell-ci-var-injection` judges the later re-parse. Ordinary variables
stay as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.semgrep.civars import AUTHOR_VARS
from traingate.checks.semgrep.commands import command_text

RULE = (
    Path(__file__).resolve().parents[1]
    / "policy/rules/code-execution/exec-shell-ci-var-injection.yaml"
)


def _script(yaml_text: str) -> list[str]:
    out = command_text(yaml_text)
    assert out is not None
    return [line for line in out.split("\n") if line.strip()]


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        (
            "job:\n  variables:\n    T: $CI_MERGE_REQUEST_TITLE\n  script:\n    - sh -c \"notify '$T'\"\n",
            "sh -c \"notify '${CI_MERGE_REQUEST_TITLE}'\"",
        ),
        (
            'variables:\n  B: "${CI_COMMIT_BRANCH}"\njob:\n  script:\n    - eval "deploy ${B}"\n',
            'eval "deploy ${CI_COMMIT_BRANCH}"',
        ),
        (
            'job:\n  script:\n    - M="$CI_COMMIT_MESSAGE"\n    - N=$M\n    - eval "$N"\n',
            'eval "${CI_COMMIT_MESSAGE}"',
        ),
        # not an alias: a constant, another CI variable, a command's output
        ('job:\n  script:\n    - M="hello"\n    - eval "$M"\n', 'eval "$M"'),
        ('job:\n  script:\n    - D="$CI_PROJECT_DIR"\n    - sh -c "ls $D"\n', 'sh -c "ls $D"'),
        ('job:\n  script:\n    - eval "$(ssh-agent -s)"\n', 'eval "$(ssh-agent -s)"'),
    ],
)
def test_aliases_are_read_as_the_variable(ci: str, expected: str) -> None:
    assert _script(ci)[-1] == expected


def test_the_rule_and_this_list_name_the_same_variables() -> None:
    # the alternation is the rule's own, character for character
    assert f"(?:{AUTHOR_VARS})" in RULE.read_text(encoding="utf-8")
