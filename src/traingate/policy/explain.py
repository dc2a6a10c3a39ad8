"""``traingate policy explain``: why a path is (or is not) sensitive or checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from traingate import paths
from traingate.checks import REGISTRY
from traingate.engine import expand, gate_setting
from traingate.policy.load import LoadedPolicy
from traingate.policy.model import ConfigRule, Policy


def _which(patterns: Sequence[str], path: str, fold: bool) -> list[str]:
    """The patterns that match on their own (negations shown as such)."""
    return [p for p in patterns if not p.startswith("!") and paths.matches([p], path, fold=fold)]


def _config_rule(rule: ConfigRule, policy: Policy) -> str:
    parts = []
    if rule.approval_keys:
        group = rule.approval_group or policy.security_group or "(no group: blocks)"
        parts.append(f"changes to {', '.join(rule.approval_keys)} need {group}")
    if rule.forbid:
        parts.append(f"{len(rule.forbid)} forbidden key/value pattern(s)")
    if rule.target_allow is not None:
        parts.append(f"_target_ only under {', '.join(rule.target_allow) or '(nothing)'}")
    if rule.url_hosts is not None:
        parts.append(f"URLs only to {', '.join(rule.url_hosts) or '(no host)'}")
    if rule.bounds:
        parts.append(f"bounds on {', '.join(rule.bounds)}")
    return "; ".join(parts) or "no constraints"


def explain(
    loaded: LoadedPolicy,
    targets: Sequence[str],
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """``aliases``: each target's other names through symlinks (issue #14), as
    ``traingate.aliases.at_revision`` gives them; each name is judged."""
    policy = loaded.policy
    fold = policy.case_insensitive_paths
    out = [f"policy: {loaded.source} (layers: {' + '.join(loaded.layers)})"]
    today = dt.date.today()
    for path in targets:
        out.append("")
        out.append(f"{path}:")
        names = [path, *(aliases or {}).get(path, ())]
        if len(names) > 1:
            out.append(f"  also reachable as (symlinks): {', '.join(names[1:])}")
        found = False
        for sp in policy.sensitive_paths:
            name = next((n for n in names if paths.matches(sp.paths, n, fold=fold)), None)
            if name is None:
                continue
            found = True
            who = ", ".join(expand(policy, sp.approvers)) or "(nobody: group is empty)"
            via = f" (as {name})" if name != path else ""
            out.append(
                f"  sensitive: {sp.name}: needs {sp.approvals} approval(s) from "
                f"{', '.join(sp.approvers)} [{who}]; matched by "
                f"{', '.join(_which(sp.paths, name, fold))}{via}"
            )
        if not found:
            out.append("  sensitive: no")
        for name in names:
            why = gate_setting(policy, name)
            if why is not None:
                via = f" (as {name})" if name != path else ""
                group = policy.security_group or "(no security_group: blocks)"
                out.append(f"  gate configuration: {why}{via}; a change needs {group}")
                break
        for cid in REGISTRY:
            s = getattr(policy.checks, cid)
            if not s.enabled:
                out.append(f"  check {cid}: disabled")
            elif paths.covered(s.paths, s.exclude, path, fold=fold):
                out.append(f"  check {cid}: runs ({REGISTRY[cid].DESCRIPTION.rstrip('.')})")
            else:
                out.append(f"  check {cid}: not covered by its paths/exclude")
        for rule in policy.config_rules:
            if any(paths.matches(rule.paths, n, fold=fold) for n in names):
                out.append(f"  config rule {rule.name}: {_config_rule(rule, policy)}")
        for ex in policy.exemptions:
            if paths.matches(ex.paths, path, fold=fold):
                state = "EXPIRED" if ex.expires < today else "active"
                via = f" via {', '.join(ex.via)}" if ex.via else ""
                out.append(
                    f"  exemption ({state} until {ex.expires}): {ex.check}/{ex.rule}{via}: "
                    f"{ex.reason} (approved by {ex.approved_by})"
                )
    return "\n".join(out) + "\n"
