"""The interface every check module satisfies, and what it is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from traingate.catalog import Catalog
from traingate.change import Change, ChangedFile
from traingate.findings import Finding
from traingate.policy.load import LoadedPolicy
from traingate.policy.model import CheckSettings


@dataclass(frozen=True)
class Context:
    change: Change
    policy: LoadedPolicy
    settings: CheckSettings
    files: Sequence[ChangedFile]  # the changed files this check's `paths` cover
    cache_dir: Path | None
    scan_all: bool  # `scan`: every line counts as changed, no base to compare


class Check(Protocol):
    ID: str
    DESCRIPTION: str
    RULES: Catalog

    def run(self, ctx: Context) -> list[Finding]: ...
