"""GitHub Actions workflows and actions the change adds or modifies, audited by zizmor.

A workflow step ``run: echo "${{ github.event.pull_request.title }}"`` is a
backdoor an insider can plant: anyone who later opens a pull request with a
crafted title runs code in CI with the repository's secrets. The shell rules
read ``run:`` commands but not GitHub expressions; zizmor (docs.zizmor.sh) is
the maintained static analyser for exactly this, so the check runs it
(offline, no token, no configuration or ignore comments from the change) on
the head blobs and maps its findings to ``workflow-<audit>`` rules.

The runner (``traingate.checks.workflows.zizmor``) is imported inside ``run``:
a change without a workflow never loads it (the engine starts a check only
when a file its ``paths`` cover changed).
"""

from __future__ import annotations

from traingate.catalog import Rule, declare
from traingate.checks.base import Context
from traingate.checks.workflows.settings import WorkflowsSettings
from traingate.findings import Finding
from traingate.policy.base import Severity

ID = "workflows"
DESCRIPTION = "Added or changed GitHub workflows and actions, audited by zizmor (offline)."

# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = WorkflowsSettings

_FIX = "read docs.zizmor.sh/audits for the audit; the safe pattern is in its Remediation"

# zizmor audits reported under their own id. Each is ERROR when zizmor rates the
# finding High, WARNING otherwise (the severity is zizmor's judgement of the
# instance: an injection of a PR title is High, of a branch name Low).
AUDITS: dict[str, str] = {
    "template-injection": "a ${{ }} expression an outsider controls (PR title, issue body, "
    "branch name, a composite action's input) is expanded into a run: script or a "
    "script-running action's code, in the file or in a local action or reusable workflow "
    "it passes the value to",
    "dangerous-triggers": "the workflow runs on pull_request_target or workflow_run: with the "
    "base's secrets and token, on an event an outsider starts",
    "github-env": "a step writes to $GITHUB_ENV or $GITHUB_PATH in a workflow an outsider can "
    "trigger: later steps run what was written (LD_PRELOAD, PATH)",
    "insecure-commands": "ACTIONS_ALLOW_UNSECURE_COMMANDS is set: ::set-env/::add-path from any "
    "output becomes code",
    "cache-poisoning": "a release or publishing workflow restores a cache an untrusted run can "
    "have written",
    "bot-conditions": "an if: trusts github.actor == a bot's name, which an outsider can spoof",
    "excessive-permissions": "the workflow or a job has broad token permissions (write-all, or "
    "defaults where a write matters)",
    "artipacked": "actions/checkout persists the token in .git/config where a later step or an "
    "uploaded artifact can read it",
    "secrets-inherit": "a reusable workflow is called with secrets: inherit (every secret to "
    "code the caller does not review)",
    "overprovisioned-secrets": "the whole secrets context is expanded (toJSON(secrets)) into "
    "a step",
    "unredacted-secrets": "a secret is parsed (fromJSON) so the parts escape log redaction",
    "obfuscation": "an expression or uses: is obfuscated (a path through ./, a computed "
    "expression) so a reader misreads it",
}

# Audits of style and supply-chain hygiene: never more than a warning, whatever
# zizmor's severity (unpinned-uses is High under its blanket policy, and a tag
# is the norm in published workflows; the security team reviews pinning in
# the repository's own CI, not in every change that touches a workflow).
CAPPED: frozenset[str] = frozenset(
    {
        "unpinned-uses",
        "unpinned-images",
        "unpinned-tools",
        "ref-version-mismatch",
        "stale-action-refs",
        "archived-uses",
        "misfeature",
        "use-trusted-publishing",
        "forbidden-uses",
        "dependabot-cooldown",
        "dependabot-execution",
    }
)


# Audits of form only, not reported at all: `uses: ./x` instead of `$/x`, a
# workflow without a name, without a concurrency group, an action that could be
# a shell line, a permission without a comment. Nothing an outsider can use;
# 17 of the 40 findings on espnet's 19 workflow files were self-repository.
OFF: frozenset[str] = frozenset(
    {
        "self-repository",
        "anonymous-definition",
        "concurrency-limits",
        "superfluous-actions",
        "undocumented-permissions",
    }
)


def _audit_rule(audit: str, summary: str) -> Rule:
    return Rule(
        f"workflow-{audit}",
        Severity.ERROR,
        f"{summary} (zizmor `{audit}`; WARNING unless zizmor rates it High)",
        help=_FIX,
        category="ci-workflow",
        since="0.3.0",
    )


RULES = declare(
    ID,
    [
        *(_audit_rule(a, s) for a, s in AUDITS.items()),
        Rule(
            "workflow-unpinned-uses",
            Severity.WARNING,
            "a uses: names an action or reusable workflow by tag or branch, not a commit "
            "sha (zizmor `unpinned-uses`; never more than a warning)",
            help="pin the action to a full commit sha (a tag can be moved)",
            category="ci-workflow",
            since="0.3.0",
        ),
        Rule(
            "workflow-audit",
            Severity.ERROR,
            "any other zizmor audit (named in the message): ERROR when zizmor rates it High "
            "and it is not a style or pinning audit, WARNING otherwise",
            help=_FIX,
            category="ci-workflow",
            since="0.3.0",
        ),
        Rule(
            "workflow-parse-error",
            Severity.ERROR,
            "a changed workflow or action that zizmor cannot load: YAML it cannot parse or a "
            "document that is not a valid workflow/action (the message says where)",
            help="fix the file; GitHub would refuse it too, and the gate judges nothing it "
            "cannot read",
            category="scanner",
            since="0.3.0",
        ),
        Rule(
            "workflow-callee-unjudged",
            Severity.ERROR,
            "a changed workflow or action passes outsider data (PR title, branch name ...) "
            "to a local action or reusable workflow (`uses: ./...`) the gate cannot read in "
            "the head tree: missing, a symlink or submodule, not YAML, or nested too deep",
            help="commit the callee as a regular file; GitHub resolves `./` in the job's "
            "workspace at run time, so a callee the tree lacks is whatever the job checked out",
            category="scanner",
            since="0.3.0",
        ),
        Rule(
            "workflow-scan-error",
            Severity.ERROR,
            "zizmor is missing, crashed, timed out or gave output the gate cannot read: the "
            "changed workflows were not judged",
            help="install traingate's locked dependencies (zizmor is one); the gate blocks "
            "rather than pass what it did not judge",
            category="scanner",
            since="0.3.0",
        ),
    ],
)


def rule_for(audit: str) -> str:
    """The rule id a zizmor audit is reported under."""
    rid = f"workflow-{audit}"
    return rid if audit in AUDITS or audit == "unpinned-uses" else "workflow-audit"


def severity_for(audit: str, zizmor_severity: str) -> Severity:
    """ERROR only for zizmor's High on an audit that is not style or pinning."""
    if audit in CAPPED or zizmor_severity.lower() != "high":
        return Severity.WARNING
    return Severity.ERROR


def run(ctx: Context) -> list[Finding]:
    from traingate.checks.workflows import callees, zizmor

    # zizmor judges each file alone; callees follows data into local callees.
    return zizmor.audit(ctx) + callees.trace(ctx)
