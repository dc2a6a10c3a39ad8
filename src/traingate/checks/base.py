"""The interface every check module satisfies, and what it is given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from traingate.catalog import Catalog
from traingate.change import Change, ChangedFile
from traingate.findings import Finding
from traingate.policy.base import CheckSettings

if TYPE_CHECKING:  # the policy model imports the checks: only a type here
    from traingate.policy.load import LoadedPolicy


@dataclass(frozen=True)
class Context:
    change: Change
    policy: LoadedPolicy
    settings: CheckSettings
    files: Sequence[ChangedFile]  # the changed files this check's `paths` cover
    cache_dir: Path | None
    scan_all: bool  # `scan`: every line counts as changed, no base to compare
    # Called by a check run beside the others (semgrep) once its Python work
    # is done and only its subprocesses remain; the engine holds the other
    # checks until then, so the GIL does not halve that work (issue #17).
    prepared: Callable[[], None] | None = None


class Check(Protocol):
    ID: str
    DESCRIPTION: str
    RULES: Catalog

    # The check's policy settings model (``checks.<id>``); policy.model assembles
    # them. Read-only, so a check may declare a subclass of CheckSettings.
    @property
    def Settings(self) -> type[CheckSettings]: ...  # a class, as modules spell it

    def run(self, ctx: Context) -> list[Finding]: ...
