"""The policy's building blocks that checks share: a leaf module.

Each check declares its settings beside itself (``checks/<id>/settings.py``)
on top of these, and :mod:`traingate.policy.model` assembles the policy from
them. Nothing here imports a check, so a check can import this module without
an import cycle.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

# pydantic plugins are entry points of whatever is installed beside us: code
# that would hook into validating the security policy. Looking them up also
# walks every installed distribution's metadata (~15 ms on each commit).
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import Strict as StrictMode

# Severity is defined with the findings (pydantic-free, issue #17); it stays
# importable from here, where the checks and the policy schema read it.
from traingate.findings import Severity as Severity


def empty_list() -> list[Any]:
    """``default_factory=empty_list``, not ``list``: pydantic reads each factory's
    signature, and for a builtin that means inspect compiling its text signature
    (~5 ms per run over the policy's fields; issue #17, the no-relevant-file hook)."""
    return []


def empty_dict() -> dict[Any, Any]:
    """``default_factory=empty_dict``, not ``dict``: see :func:`empty_list`."""
    return {}


NonEmptyStr = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False)]
Pattern = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


# YAML gives plain strings; accept them for the enum (still rejecting ints etc.).
SeverityKey = Annotated[Severity, StrictMode(False)]


class RequireApproval(Strict):
    """Allow the merge once this group (or user) has approved the change."""

    require_approval: NonEmptyStr


SimpleAction = Literal["block", "warn", "ignore"]
Action = SimpleAction | RequireApproval


class CheckSettings(Strict):
    enabled: bool = True
    paths: list[Pattern] = Field(
        default_factory=lambda: ["**"], description="Gitignore-style patterns the check covers."
    )
    exclude: list[Pattern] = Field(default_factory=empty_list)
    actions: dict[SeverityKey, Action] = Field(
        default_factory=empty_dict,
        description="Action per severity: block, warn, ignore or {require_approval: GROUP}.",
    )
    rules: dict[NonEmptyStr, Action] = Field(
        default_factory=empty_dict,
        description="Action per rule id, or per category as 'category:NAME'; overrides actions.",
    )
