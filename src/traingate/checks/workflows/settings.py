"""The workflows check's policy settings (``checks.workflows`` in the policy)."""

from __future__ import annotations

from pydantic import Field

from traingate.policy.base import CheckSettings, Pattern

# GitHub runs the files directly under .github/workflows (no subdirectories)
# and resolves a local action by its action.yml/action.yaml anywhere in the
# tree. A .github/ below the root is dormant but is what a subtree split or a
# copy into another repository turns into a live workflow: covered too.
DEFAULT_PATHS = [
    "**/.github/workflows/*.yml",
    "**/.github/workflows/*.yaml",
    "**/action.yml",
    "**/action.yaml",
]


class WorkflowsSettings(CheckSettings):
    paths: list[Pattern] = Field(
        default_factory=lambda: list(DEFAULT_PATHS),
        description="Gitignore-style patterns the check covers.",
    )
    timeout: int = Field(
        default=60,
        ge=1,
        description="Seconds before zizmor is killed (blocks: workflow-scan-error).",
    )
