"""Findings, requirements and the decision: frozen, typed values.

Lines and columns are 1-based everywhere; ``None`` means "the whole file".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


# A finding's default severity; the policy maps it to an outcome. Defined here,
# not beside the policy models, so that the CLI, the reports and the rule
# catalog load without pydantic (issue #17: it was ~70% of `traingate --help`);
# traingate.policy.base re-exports it. No docstring: the policy's JSON Schema
# would carry it.
class Severity(str, enum.Enum):
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"


class Outcome(str, enum.Enum):
    """What the policy does with a finding."""

    BLOCK = "block"
    REQUIRE_APPROVAL = "require_approval"
    WARN = "warn"
    IGNORE = "ignore"


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int | None
    column: int | None
    check: str
    rule_id: str
    severity: Severity
    message: str
    end_line: int | None = None
    end_column: int | None = None
    category: str | None = None
    help: str | None = None  # how to fix; shown as "help:" and in SARIF
    # Set by the decision from the policy:
    outcome: Outcome = Outcome.BLOCK
    approval_group: str | None = None
    exemption: str | None = None  # the exemption's reason when one applied
    # Set by the reach check (issue #16): the policy's `via:` lists that every
    # route of this call to a sink passes through; an exemption with `via:`
    # applies only to a finding whose check put its list here.
    cut_by: tuple[tuple[str, ...], ...] = ()
    # The finding's line in the change's new blob, filled by the engine for the
    # text report's source excerpt (issue #18); never executed or parsed.
    source_line: str | None = None

    @property
    def blocking(self) -> bool:
        """Blocks the merge outright (not merely pending an approval)."""
        return self.outcome is Outcome.BLOCK and self.exemption is None

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.column or 0, self.check, self.rule_id)


@dataclass(frozen=True)
class Requirement:
    """N distinct eligible approvals needed for some paths or findings."""

    name: str
    kind: str  # "sensitive_path" | "finding"
    paths: tuple[str, ...]
    required: int
    approvers: tuple[str, ...]  # as written in the policy (groups and users)
    eligible: tuple[str, ...]  # users who may approve, after exclusions
    approved_by: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (user, why their approval did not count)
    reasons: tuple[str, ...] = ()  # e.g. which findings raised it
    error: str | None = None  # e.g. "no one can approve this"

    @property
    def satisfied(self) -> bool:
        return self.error is None and len(self.approved_by) >= self.required

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.approved_by))


@dataclass(frozen=True)
class ExemptionUse:
    check: str
    rule: str
    paths: tuple[str, ...]
    reason: str
    expires: str
    approved_by: str
    expired: bool
    matched: int = 0
    via: tuple[str, ...] = ()  # reach: the functions every route must pass (issue #16)


@dataclass
class Report:
    """Everything a reporter needs; built once by the engine."""

    mode: str
    root: str
    policy_source: str
    policy_sha256: str
    findings: list[Finding] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    exemptions: list[ExemptionUse] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # internal errors: always block
    warnings: list[str] = field(default_factory=list)
    changed_files: list[dict[str, object]] = field(default_factory=list)
    base: str | None = None
    head: str | None = None
    merge_base: str | None = None
    # The branch the change was judged against (issue #14 class 12): a PR/MR
    # retargeted to another base is judged anew, and the report says against what.
    base_ref: str | None = None
    approvals_source: str | None = None
    enforce_approvals: bool = True
    exit_override: int | None = None  # an error before any check ran (usage/policy: 2)

    def finding_blocks(self, f: Finding) -> bool:
        """Whether this finding stops this run: outright, or pending an approval
        that no satisfied requirement provides (in `scan` there are none).

        With approvals advisory (hooks), an approval a finding requires is
        advisory exactly like a path approval (issue #18): the hook said "needs
        approval at merge" and then failed, which users read as a contradiction.
        The finding stays visible (the hook runs with ``verbose: true``) and CI,
        where the approvals exist, enforces it; findings whose outcome is
        ``block`` still fail the hook."""
        if f.blocking:
            return True
        if f.outcome is not Outcome.REQUIRE_APPROVAL or f.exemption is not None:
            return False
        if not self.enforce_approvals:
            return False
        return not any(
            r.satisfied
            for r in self.requirements
            if r.kind == "finding" and f.approval_group in r.approvers
        )

    @property
    def unmet(self) -> list[Requirement]:
        return [r for r in self.requirements if not r.satisfied]

    @property
    def decision(self) -> str:
        if self.errors or any(self.finding_blocks(f) for f in self.findings):
            return "block"
        if self.enforce_approvals and self.unmet:
            return "block"
        return "pass"

    @property
    def exit_code(self) -> int:
        from traingate.errors import ExitCode

        if self.exit_override is not None:
            return self.exit_override
        if self.errors:
            return int(ExitCode.INTERNAL)
        return int(ExitCode.BLOCKED if self.decision == "block" else ExitCode.PASS)
