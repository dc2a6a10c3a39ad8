"""The reach check's policy settings (``checks.reach`` in the policy)."""

from __future__ import annotations

from pydantic import Field

from traingate.policy.base import CheckSettings, Pattern


# The summary reads every Python file of the head tree; `paths` chooses the
# changed files whose added calls are judged.
class ReachSettings(CheckSettings):
    paths: list[Pattern] = Field(
        default_factory=lambda: ["**/*.py", "**/*.ipynb", "**/*.ipy"],
        description="Gitignore-style patterns the check covers.",
    )
