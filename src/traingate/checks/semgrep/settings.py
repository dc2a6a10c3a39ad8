"""The semgrep check's policy settings (``checks.semgrep`` in the policy)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from traingate.policy.base import CheckSettings, NonEmptyStr


class SemgrepSettings(CheckSettings):
    rule_dirs: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Extra rule directories (relative to the repo root, read from the trusted base).",
    )
    timeout: int = Field(
        default=300, ge=1, description="Seconds before semgrep is killed (blocks)."
    )
    max_file_bytes: int = Field(
        default=4_000_000,
        ge=1,
        description="Source files larger than this are not scanned; they block (source-unreadable).",
    )
    builtin_rules: bool = True
    engine: Literal["osemgrep", "pysemgrep"] = Field(
        default="osemgrep",
        description=(
            "semgrep's command-line front end: 'osemgrep' (its OCaml CLI, `semgrep scan "
            "--experimental`, ~0.2 s to start) or 'pysemgrep' (its Python CLI, ~6 s to load "
            "the pack). Both drive the same matching engine (docs/performance.md)."
        ),
    )
