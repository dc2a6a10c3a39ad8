"""The policy schema (version 1): strict pydantic models.

Every model forbids unknown keys: a typo in a security policy must be an
error, never a silently ignored setting. The ``checks`` section is assembled
from the settings each check declares beside itself (its module's
``Settings``); the shared building blocks live in :mod:`traingate.policy.base`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from traingate.checks import artifacts as artifacts_check
from traingate.checks import autorun as autorun_check
from traingate.checks import config as config_check
from traingate.checks import reach as reach_check
from traingate.checks import repository as repository_check
from traingate.checks import sabotage as sabotage_check
from traingate.checks import semgrep as semgrep_check
from traingate.checks import suppression as suppression_check
from traingate.checks import unicode as unicode_check
from traingate.checks import workflows as workflows_check
from traingate.checks.artifacts.settings import ArtifactsSettings as ArtifactsSettings
from traingate.checks.config.settings import ConfigBound as ConfigBound
from traingate.checks.config.settings import ConfigForbid as ConfigForbid
from traingate.checks.config.settings import ConfigRule as ConfigRule
from traingate.checks.reach import via as reach_via
from traingate.checks.semgrep.settings import SemgrepSettings as SemgrepSettings
from traingate.policy.base import Action as Action
from traingate.policy.base import CheckSettings as CheckSettings
from traingate.policy.base import NonEmptyStr as NonEmptyStr
from traingate.policy.base import Pattern as Pattern
from traingate.policy.base import RequireApproval as RequireApproval
from traingate.policy.base import Severity as Severity
from traingate.policy.base import SeverityKey as SeverityKey
from traingate.policy.base import SimpleAction as SimpleAction
from traingate.policy.base import Strict as Strict
from traingate.policy.base import empty_dict, empty_list


class SensitivePath(Strict):
    name: NonEmptyStr = Field(description="A stable name shown in reports and approvals.")
    description: str | None = None
    paths: list[Pattern] = Field(
        min_length=1, description="Gitignore-style patterns, relative to the repository root."
    )
    approvals: int = Field(
        default=1,
        ge=1,
        description="Distinct approvers needed, not counting the change's author and committers.",
    )
    approvers: list[NonEmptyStr] = Field(
        min_length=1, description="Group names or user ids who may approve."
    )


class Checks(Strict):
    """Per-check settings; each key is a check id (docs/checks/<id>.md).

    Each field's type is the ``Settings`` its check declares (tests/test_policy_model.py
    holds the fields equal to the check registry)."""

    semgrep: semgrep_check.Settings = Field(default_factory=semgrep_check.Settings)
    unicode: unicode_check.Settings = Field(default_factory=unicode_check.Settings)
    suppression: suppression_check.Settings = Field(default_factory=suppression_check.Settings)
    config: config_check.Settings = Field(default_factory=config_check.Settings)
    artifacts: artifacts_check.Settings = Field(default_factory=artifacts_check.Settings)
    repository: repository_check.Settings = Field(default_factory=repository_check.Settings)
    autorun: autorun_check.Settings = Field(default_factory=autorun_check.Settings)
    reach: reach_check.Settings = Field(default_factory=reach_check.Settings)
    sabotage: sabotage_check.Settings = Field(default_factory=sabotage_check.Settings)
    workflows: workflows_check.Settings = Field(default_factory=workflows_check.Settings)


# A qualified function name as a reach chain prints it (module.Class.func).
# No globs (issue #16): `mod.*` would also cover functions nobody reviewed,
# among them one a later change adds to the module.
_QUALIFIED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _qualified(name: str) -> str:
    if not _QUALIFIED.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a qualified function name (module.function or "
            "module.Class.method, as a reach chain names it; no globs: name each "
            "reviewed function)"
        )
    return name


FunctionName = Annotated[str, AfterValidator(_qualified)]
# The checks whose findings name a chain of functions `via:` can be matched on,
# and the rules of each that do (issue #16).
VIA_RULES: dict[str, tuple[str, ...]] = {reach_check.ID: reach_via.RULES}


class Exemption(Strict):
    check: NonEmptyStr
    rule: NonEmptyStr = Field(description="A rule id, or '*' for every rule of the check.")
    paths: list[Pattern] = Field(min_length=1)
    via: list[FunctionName] | None = Field(
        default=None,
        min_length=1,
        description="reach only: exempt a finding only when every route of its call to a "
        "sink passes through one of these functions (qualified names, as the chain prints "
        "them); paths must match too.",
    )
    reason: NonEmptyStr
    expires: dt.date = Field(
        strict=False, description="YYYY-MM-DD; expired exemptions are reported."
    )
    approved_by: NonEmptyStr

    @field_validator("via")
    @classmethod
    def _via_on_chains(cls, via: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # Fail closed: on a check whose findings name no chain, `via:` could
        # never match, and a reader would take the exemption for a narrow one.
        check, rule = info.data.get("check"), info.data.get("rule")
        if via is None or check is None or rule is None:
            return via
        rules = VIA_RULES.get(check)
        if rules is None:
            raise ValueError(
                f"via: applies only to checks whose findings name a call chain "
                f"({', '.join(VIA_RULES)}), not {check!r}"
            )
        if rule != "*" and rule not in rules:
            raise ValueError(
                f"via: applies only to the rules of {check!r} that name a call chain "
                f"({', '.join(rules)} or '*'), not {rule!r}"
            )
        return via


class UserIdentity(Strict):
    """One person and every account they act through (issue #14: persons, not accounts).

    Approvals are counted per person across all sources, and every account listed
    here is excluded when any of them wrote, pushed or signed part of the change.
    """

    emails: list[NonEmptyStr] = Field(default_factory=empty_list)
    github: NonEmptyStr | list[NonEmptyStr] | None = Field(
        default=None, description="GitHub login(s) of this person."
    )
    gitlab: NonEmptyStr | list[NonEmptyStr] | None = Field(
        default=None, description="GitLab username(s) of this person."
    )
    ssh: NonEmptyStr | list[NonEmptyStr] | None = Field(
        default=None, description="Principal(s) of this person in the allowed-signers file."
    )
    github_ids: list[int] = Field(
        default_factory=empty_list,
        description="Immutable numeric GitHub account ids (a login can be renamed and re-registered).",
    )
    gitlab_ids: list[int] = Field(
        default_factory=empty_list, description="Immutable numeric GitLab user ids."
    )

    def accounts(self, platform: str) -> list[str]:
        value = {"github": self.github, "gitlab": self.gitlab, "ssh": self.ssh}.get(platform)
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)

    def account_ids(self, platform: str) -> list[int]:
        return {"github": self.github_ids, "gitlab": self.gitlab_ids}.get(platform, [])


class SignedApprovals(Strict):
    allowed_signers: NonEmptyStr = Field(
        description="ssh-keygen allowed-signers file (repo path, read from the trusted base)."
    )
    revoked_keys: str | None = Field(
        default=None, description="ssh-keygen KRL or revoked-keys file (repo path, trusted base)."
    )


class ApprovalSettings(Strict):
    signed: SignedApprovals | None = Field(
        default=None, description="Accept SSH-signed offline approvals stored in git notes."
    )
    refuse_overwritten_rules: bool = Field(
        default=False, description="GitLab: block when the MR overrides its own approval rules."
    )
    bots: list[NonEmptyStr] = Field(
        default_factory=empty_list, description="More user ids to treat as bots (never eligible)."
    )


class Policy(Strict):
    version: Literal[1]
    extends: Literal["builtin:default"] | None = None
    security_group: str | None = Field(
        default=None,
        description="Group whose approval ERROR findings require; without one they block outright.",
    )
    groups: dict[NonEmptyStr, list[NonEmptyStr]] = Field(default_factory=empty_dict)
    users: dict[NonEmptyStr, UserIdentity] = Field(default_factory=empty_dict)
    excluded_approvers: list[NonEmptyStr] = Field(default_factory=empty_list)
    case_insensitive_paths: bool = Field(
        default=False,
        description="Match sensitive paths case-insensitively (macOS/Windows clients).",
    )
    sensitive_paths: list[SensitivePath] = Field(default_factory=empty_list)
    checks: Checks = Field(default_factory=Checks)
    exemptions: list[Exemption] = Field(default_factory=empty_list)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    config_rules: list[ConfigRule] = Field(default_factory=empty_list)
    codeowners: str | None = Field(
        default=None,
        description="Repo path of a CODEOWNERS file (GitHub or GitLab syntax) whose owners "
        "become approvers; read from the trusted base.",
    )


CHECK_IDS: tuple[str, ...] = tuple(Checks.model_fields)
