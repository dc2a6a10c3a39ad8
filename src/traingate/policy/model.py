"""The policy schema (version 1): strict pydantic models.

Every model forbids unknown keys: a typo in a security policy must be an
error, never a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from typing import Annotated, Literal

# pydantic plugins are entry points of whatever is installed beside us: code
# that would hook into validating the security policy. Looking them up also
# walks every installed distribution's metadata (~15 ms on each commit).
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic import Strict as StrictMode

NonEmptyStr = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False)]
Pattern = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Severity(str, enum.Enum):
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"


# YAML gives plain strings; accept them for the enum (still rejecting ints etc.).
SeverityKey = Annotated[Severity, StrictMode(False)]


class RequireApproval(Strict):
    """Allow the merge once this group (or user) has approved the change."""

    require_approval: NonEmptyStr


SimpleAction = Literal["block", "warn", "ignore"]
Action = SimpleAction | RequireApproval


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


class CheckSettings(Strict):
    enabled: bool = True
    paths: list[Pattern] = Field(
        default_factory=lambda: ["**"], description="Gitignore-style patterns the check covers."
    )
    exclude: list[Pattern] = Field(default_factory=list)
    actions: dict[SeverityKey, Action] = Field(
        default_factory=dict,
        description="Action per severity: block, warn, ignore or {require_approval: GROUP}.",
    )
    rules: dict[NonEmptyStr, Action] = Field(
        default_factory=dict,
        description="Action per rule id, or per category as 'category:NAME'; overrides actions.",
    )


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


# "module:qualname", as a pickle's GLOBAL names it (issue #16).
PickleGlobal = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
    ),
]
# Modules and callables that run code or unpickle again when a pickle calls them:
# no policy may allow them, even by mistake (the allow list's bar, artifacts.md).
_NEVER_ALLOWED_MODULES = frozenset(
    [
        *("os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "importlib"),
        *("pickle", "_pickle", "cPickle", "dill", "marshal", "runpy", "shutil", "socket"),
        *("pty", "ctypes", "code", "codeop", "webbrowser", "pdb", "multiprocessing"),
        *("copyreg", "functools", "operator", "types", "asyncio", "io", "_io"),
        *("builtins", "__builtin__"),
    ]
)
_NEVER_ALLOWED_GLOBALS = frozenset(
    [
        "torch:load",
        "torch.serialization:load",
        "torch.storage:_load_from_bytes",
        "torch.hub:load",
        "torch.jit:load",
        "numpy:load",
        "joblib:load",
        "torch._tensor:_rebuild_from_type_v2",
    ]
)


class ArtifactsSettings(CheckSettings):
    allow_globals: list[PickleGlobal] = Field(
        default_factory=list,
        description="More pickle globals ('module:name') the artifacts check accepts, "
        "after review (docs/checks/artifacts.md#the-allow-list).",
    )

    @field_validator("allow_globals")
    @classmethod
    def _not_code(cls, value: list[str]) -> list[str]:
        for entry in value:
            module, _, name = entry.partition(":")
            if (
                module.split(".", 1)[0] in _NEVER_ALLOWED_MODULES
                or entry in _NEVER_ALLOWED_GLOBALS
                or name.split(".")[-1] in ("eval", "exec", "system", "__import__", "getattr")
            ):
                raise ValueError(
                    f"{entry!r} runs code or unpickles when a pickle calls it; it cannot "
                    "be allowed (see docs/checks/artifacts.md#the-allow-list)"
                )
        return value


class ConfigForbid(Strict):
    key: NonEmptyStr = Field(description="Key-path glob, e.g. '**.trust_remote_code'.")
    value: bool | int | float | str | None = Field(
        default=None, description="Forbidden value; omitted: any value of that key is forbidden."
    )
    any_value: bool = Field(default=False, description="Forbid the key whatever its value.")


class ConfigBound(Strict):
    min: float | None = Field(default=None, strict=False)
    max: float | None = Field(default=None, strict=False)


class ConfigRule(Strict):
    """Key-level rules for training configs (YAML, JSON, TOML) matched by path."""

    name: NonEmptyStr
    paths: list[Pattern] = Field(min_length=1)
    forbid: list[ConfigForbid] = Field(default_factory=list)
    approval_keys: list[NonEmptyStr] = Field(
        default_factory=list, description="Key-path globs whose change needs approval_group."
    )
    approval_group: str | None = Field(
        default=None, description="Who approves approval_keys changes (default: security_group)."
    )
    target_allow: list[NonEmptyStr] | None = Field(
        default=None, description="Allowed module prefixes for Hydra/OmegaConf _target_ values."
    )
    url_hosts: list[NonEmptyStr] | None = Field(
        default=None, description="Allowed hosts for any string value that is a URL."
    )
    bounds: dict[NonEmptyStr, ConfigBound] = Field(
        default_factory=dict, description="Numeric bounds per key-path glob."
    )
    path_allow: list[NonEmptyStr] | None = Field(
        default=None,
        description="Allowed location prefixes (paths or URLs) for data and checkpoint keys "
        "(path_keys), judged after interpolation; a value from the environment is outside.",
    )
    path_keys: list[NonEmptyStr] | None = Field(
        default=None,
        description="Key-path globs judged by path_allow (default: common data and "
        "checkpoint keys, docs/checks/config.md).",
    )


class Checks(Strict):
    """Per-check settings; each key is a check id (docs/checks/<id>.md)."""

    semgrep: SemgrepSettings = Field(default_factory=SemgrepSettings)
    unicode: CheckSettings = Field(default_factory=CheckSettings)
    suppression: CheckSettings = Field(default_factory=CheckSettings)
    config: CheckSettings = Field(default_factory=CheckSettings)
    artifacts: ArtifactsSettings = Field(default_factory=ArtifactsSettings)
    repository: CheckSettings = Field(default_factory=CheckSettings)
    # Issue #16: files Python runs without a call (bytecode, start-up and install hooks).
    autorun: CheckSettings = Field(default_factory=CheckSettings)
    # Issue #16: calls into repository functions that reach a sink; the summary
    # reads every Python file of the head tree, `paths` chooses the changed
    # files whose added calls are judged.
    reach: CheckSettings = Field(
        default_factory=lambda: CheckSettings(paths=["**/*.py", "**/*.ipynb"])
    )


class Exemption(Strict):
    check: NonEmptyStr
    rule: NonEmptyStr = Field(description="A rule id, or '*' for every rule of the check.")
    paths: list[Pattern] = Field(min_length=1)
    reason: NonEmptyStr
    expires: dt.date = Field(
        strict=False, description="YYYY-MM-DD; expired exemptions are reported."
    )
    approved_by: NonEmptyStr


class UserIdentity(Strict):
    """One person and every account they act through (issue #14: persons, not accounts).

    Approvals are counted per person across all sources, and every account listed
    here is excluded when any of them wrote, pushed or signed part of the change.
    """

    emails: list[NonEmptyStr] = Field(default_factory=list)
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
        default_factory=list,
        description="Immutable numeric GitHub account ids (a login can be renamed and re-registered).",
    )
    gitlab_ids: list[int] = Field(
        default_factory=list, description="Immutable numeric GitLab user ids."
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
        default_factory=list, description="More user ids to treat as bots (never eligible)."
    )


class Policy(Strict):
    version: Literal[1]
    extends: Literal["builtin:default"] | None = None
    security_group: str | None = Field(
        default=None,
        description="Group whose approval ERROR findings require; without one they block outright.",
    )
    groups: dict[NonEmptyStr, list[NonEmptyStr]] = Field(default_factory=dict)
    users: dict[NonEmptyStr, UserIdentity] = Field(default_factory=dict)
    excluded_approvers: list[NonEmptyStr] = Field(default_factory=list)
    case_insensitive_paths: bool = Field(
        default=False,
        description="Match sensitive paths case-insensitively (macOS/Windows clients).",
    )
    sensitive_paths: list[SensitivePath] = Field(default_factory=list)
    checks: Checks = Field(default_factory=Checks)
    exemptions: list[Exemption] = Field(default_factory=list)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    config_rules: list[ConfigRule] = Field(default_factory=list)
    codeowners: str | None = Field(
        default=None,
        description="Repo path of a CODEOWNERS file (GitHub or GitLab syntax) whose owners "
        "become approvers; read from the trusted base.",
    )


CHECK_IDS: tuple[str, ...] = tuple(Checks.model_fields)
