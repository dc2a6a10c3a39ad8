"""The sabotage check's policy settings (``checks.sabotage`` in the policy)."""

from __future__ import annotations

from pydantic import Field

from traingate.policy.base import CheckSettings, Pattern


# Python files and notebooks: the trigger and the payload are judged in the
# whole head file, findings only where the change touched them. Every path by
# default: the check takes what the semgrep check scans as Python (any case of
# .py, #! python files without an extension: ``source.kind``, issue #16).
class SabotageSettings(CheckSettings):
    paths: list[Pattern] = Field(
        default_factory=lambda: ["**"],
        description="Gitignore-style patterns the check covers.",
    )
