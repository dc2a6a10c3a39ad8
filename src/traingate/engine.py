"""Runs the checks on a change, applies the policy, and builds the report.

Fail closed: an exception in any check becomes an error in the report, which
blocks with exit code 3; it never turns into "no findings".
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from traingate import paths
from traingate.approvals.semantics import Verdict
from traingate.change import Change
from traingate.checks import REGISTRY, load
from traingate.checks.base import Check, Context
from traingate.findings import ExemptionUse, Finding, Outcome, Report, Requirement
from traingate.policy.load import LoadedPolicy
from traingate.policy.model import Action, CheckSettings, Policy, RequireApproval, Severity


def evaluate(
    change: Change,
    policy: LoadedPolicy,
    *,
    enforce_approvals: bool = True,
    approvals: Verdict | None = None,
    only: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    today: dt.date | None = None,
) -> Report:
    report = Report(
        mode=change.mode,
        root=str(change.root),
        policy_source=policy.source,
        policy_sha256=policy.sha256,
        base=change.base,
        head=change.head,
        merge_base=change.merge_base,
        enforce_approvals=enforce_approvals,
        warnings=list(policy.warnings),
        approvals_source=(approvals or Verdict()).source,
    )
    report.changed_files = [_file_summary(f) for f in change.files]
    contexts: dict[str, Context] = {}
    for check_id in REGISTRY:
        settings: CheckSettings = getattr(policy.policy.checks, check_id)
        if not settings.enabled or (only is not None and check_id not in only):
            continue
        fold = policy.policy.case_insensitive_paths
        covered = [
            f
            for f in change.files
            if any(paths.covered(settings.paths, settings.exclude, p, fold=fold) for p in f.paths)
        ]
        if not covered:
            continue  # nothing relevant changed: the check (and its imports) never start
        contexts[check_id] = Context(
            change, policy, settings, covered, cache_dir, change.mode == "scan"
        )
    results = _run_all(contexts)
    findings: list[Finding] = []
    for check_id in contexts:  # registry order, whichever finished first
        produced, error = results[check_id]
        findings.extend(produced)
        if error is not None:
            report.errors.append(error)
    findings = [
        _apply_action(f, policy.policy, getattr(policy.policy.checks, f.check, None))
        for f in findings
    ]
    findings, report.exemptions = _apply_exemptions(
        findings, policy.policy, today or dt.date.today()
    )
    report.findings = _with_source(
        change,
        sorted((f for f in findings if f.outcome is not Outcome.IGNORE), key=lambda f: f.sort_key),
    )
    if change.mode != "scan":
        verdict = approvals or Verdict()
        report.requirements = approval_requirements(change, policy, report.findings, verdict)
        report.warnings.extend(verdict.notes)
    return report


def _with_source(change: Change, findings: list[Finding]) -> list[Finding]:
    """Attach each located finding's line of the new blob (issue #18: the text
    report shows the offending code with a caret, as ruff and zizmor do). Read
    through the change, so the staged blob, not the working tree, is shown;
    one read per file with findings, nothing is run."""
    by_path = {f.path: f for f in change.files}
    lines: dict[str, list[str] | None] = {}
    out = []
    for f in findings:
        cf = by_path.get(f.path)
        if f.line is None or cf is None or cf.new_path != f.path:
            out.append(f)
            continue
        if f.path not in lines:
            try:
                text = change.new_text(cf)
            except Exception:  # display only: a read failure must not alter the decision
                text = None
            # "\n" only: str.splitlines also splits on U+2028, \x0c... and would
            # shift the numbering away from git's and semgrep's.
            lines[f.path] = text.split("\n") if text is not None else None
        got = lines[f.path]
        if got is not None and 1 <= f.line <= len(got):
            f = replace(f, source_line=got[f.line - 1].removesuffix("\r"))
        out.append(f)
    return out


_Result = tuple[list[Finding], str | None]
# Waits on its own subprocesses most of the time; the other checks are Python
# and run meanwhile (issue #17: on a 20-file change of large files they cost as
# much again as semgrep, and ran after it on an idle second core).
_BESIDE = "semgrep"
# A change forks a worker (parallel.change_workers) from this many files
# under the costly checks: the hook's few files never fork.
FORK_FILES = 8
_COSTLY = ("sabotage", "reach")


def _run_all(contexts: dict[str, Context]) -> dict[str, _Result]:
    """Every check's (findings, error). The semgrep check runs in a thread
    beside the others when there are others (a large scan: beside a forked
    worker, see fullscan.py); an exception anywhere is that check's error
    (fail closed), and the thread is always joined."""
    import threading

    results: dict[str, _Result] = {}
    worker: threading.Thread | None = None
    pool = None
    if _whole_scan(contexts):
        # Issue #17: a whole-repository scan runs its Python checks in a worker
        # forked before semgrep starts, beside one semgrep process, under the
        # memory gate (fullscan.py); the hook never loads it.
        from traingate import fullscan

        results.update(fullscan.run(contexts, _run_one, _BESIDE))
    elif _BESIDE in contexts and len(contexts) > 1:
        rest = {c: ctx for c, ctx in contexts.items() if c != _BESIDE}
        if len({f.path for c in _COSTLY if c in rest for f in rest[c].files}) >= FORK_FILES:
            # Issue #17: a large change's Python checks (12 CPU s for 200 large
            # files) ran here after semgrep's cutting, the other CPU holding
            # only semgrep's processes. A worker forked now, before any thread
            # exists, takes them at once; this process joins it after cutting.
            from traingate import parallel

            if (n := parallel.change_workers(rest)) > 1:
                pool = parallel.start(rest, _run_one, n, by_files=True)
        ready = threading.Event()
        ctx = replace(contexts[_BESIDE], prepared=ready.set)

        def beside() -> None:
            try:
                results[_BESIDE] = _run_one(_BESIDE, ctx)
            finally:
                ready.set()

        worker = threading.Thread(target=beside, name="traingate-semgrep", daemon=True)
    try:
        if worker is not None:
            worker.start()
            # Issue #17: semgrep's own Python work (cutting a large change's
            # files to their regions, ~4 CPU s for 200 large files) first, at
            # full speed, while its first batches run on the other CPU; then
            # the Python checks beside its processes. Sharing the GIL from the
            # start left a CPU idle until the last file was cut.
            ready.wait()
        if pool is not None:
            results.update(pool.finish())
        for check_id, ctx in contexts.items():
            if check_id not in results and (worker is None or check_id != _BESIDE):
                results[check_id] = _run_one(check_id, ctx)
    finally:
        if pool is not None:
            pool.close()  # a no-op after finish()
        if worker is not None and worker.ident is not None:
            worker.join()
    if _BESIDE in contexts and _BESIDE not in results:  # pragma: no cover - defensive
        results[_BESIDE] = (
            [],
            f"check {_BESIDE!r} crashed (this is a bug in traingate): no result",
        )
    return results


def _whole_scan(contexts: dict[str, Context]) -> bool:
    return any(ctx.scan_all for ctx in contexts.values())


def _run_one(check_id: str, ctx: Context) -> _Result:
    from traingate import timeline

    try:
        check = load(check_id)
        with timeline.phase(f"check:{check_id}", files=len(ctx.files)):
            produced = check.run(ctx)
        _declared(check, produced)
        return list(produced), None
    except Exception as exc:  # fail closed, whatever went wrong
        return [], _describe(check_id, exc)


def _declared(check: Check, produced: Sequence[Finding]) -> None:
    """Every finding carries a rule id its check declares (issue #15); the
    semgrep pack's ids are declared by its YAML files, custom packs by theirs."""
    if check.ID == "semgrep":
        return
    unknown = sorted({f.rule_id for f in produced if f.rule_id not in check.RULES})
    if unknown:
        raise RuntimeError(f"findings with undeclared rule ids: {', '.join(unknown)}")


def _describe(check_id: str, exc: Exception) -> str:
    from traingate.errors import TraingateError

    if isinstance(exc, TraingateError):
        return f"check {check_id!r} failed: {exc.summary()}"
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]
    return (
        f"check {check_id!r} crashed (this is a bug in traingate): {type(exc).__name__}: {exc}\n"
        + "".join(tb)
    )


def _file_summary(f: object) -> dict[str, object]:
    from traingate.change import ChangedFile

    assert isinstance(f, ChangedFile)
    return {
        "status": f.status.value,
        "path": f.path,
        "old_path": f.old_path,
        "old_mode": f.old_mode,
        "new_mode": f.new_mode,
        "old_oid": f.old_oid,
        "new_oid": f.new_oid,
        "added_lines": len(f.added_lines),
        "removed_lines": len(f.removed_lines),
    }


def resolve_action(policy: Policy, settings: CheckSettings | None, f: Finding) -> Action:
    """rules[rule id] > rules[category:NAME] > actions[severity] > the default.

    Default (issue #3): ERROR needs the security group's approval, or blocks
    outright when the policy names no security group; WARNING warns; INFO is ignored.
    """
    if settings is not None:
        if f.rule_id in settings.rules:
            return settings.rules[f.rule_id]
        if f.category and f"category:{f.category}" in settings.rules:
            return settings.rules[f"category:{f.category}"]
        if f.severity in settings.actions:
            return settings.actions[f.severity]
    if f.severity is Severity.ERROR:
        group = policy.security_group
        return RequireApproval(require_approval=group) if group else "block"
    return "warn" if f.severity is Severity.WARNING else "ignore"


def _apply_action(f: Finding, policy: Policy, settings: CheckSettings | None) -> Finding:
    explicit = settings is not None and (
        f.rule_id in settings.rules or f"category:{f.category}" in settings.rules
    )
    if f.approval_group and not explicit:
        # The check named who approves (e.g. a config rule's approval_group).
        return replace(f, outcome=Outcome.REQUIRE_APPROVAL)
    action = resolve_action(policy, settings, f)
    if isinstance(action, RequireApproval):
        return replace(f, outcome=Outcome.REQUIRE_APPROVAL, approval_group=action.require_approval)
    return replace(f, outcome=Outcome(action))


def _apply_exemptions(
    findings: list[Finding], policy: Policy, today: dt.date
) -> tuple[list[Finding], list[ExemptionUse]]:
    uses = []
    out = list(findings)
    fold = policy.case_insensitive_paths
    for ex in policy.exemptions:
        expired = ex.expires < today
        matched = 0
        for i, f in enumerate(out):
            if f.check != ex.check or ex.rule not in ("*", f.rule_id):
                continue
            if not paths.matches(ex.paths, f.path, fold=fold):
                continue
            # `via:` (issue #16): only a finding whose every route to a sink
            # passes a named function, as its check judged it; any other
            # finding (a new chain in the same file) is not this exemption's.
            if ex.via is not None and tuple(ex.via) not in f.cut_by:
                continue
            matched += 1
            if not expired and f.exemption is None:
                out[i] = replace(f, exemption=ex.reason)
        uses.append(
            ExemptionUse(
                check=ex.check,
                rule=ex.rule,
                paths=tuple(ex.paths),
                reason=ex.reason,
                expires=ex.expires.isoformat(),
                approved_by=ex.approved_by,
                expired=expired,
                matched=matched,
                via=tuple(ex.via or ()),
            )
        )
    return out, uses


def expand(policy: Policy, names: Sequence[str]) -> list[str]:
    """Group names and user ids -> user ids, in policy order, deduplicated."""
    users: list[str] = []
    for name in names:
        users.extend(policy.groups.get(name, [name]))
    return list(dict.fromkeys(users))


def approval_requirements(
    change: Change, policy: LoadedPolicy, findings: Sequence[Finding], verdict: Verdict
) -> list[Requirement]:
    """Every approval requirement of a change, judged: sensitive paths, gate
    self-protection, findings and CODEOWNERS. ``check``, ``ci`` and ``audit
    history`` all decide through this one function (issue #14 class 4)."""
    out = requirements(change, policy.policy, findings, verdict)
    return out + codeowner_requirements(change, policy, verdict)


def requirements(
    change: Change, policy: Policy, findings: Sequence[Finding], approvals: Verdict
) -> list[Requirement]:
    out: list[Requirement] = []
    fold = policy.case_insensitive_paths
    aka = _aliases(change, policy)
    for sp in policy.sensitive_paths:
        hit, via = _named_hits(change, aka, sp.paths, fold)
        if hit:
            out.append(
                _requirement(
                    policy,
                    sp.name,
                    "sensitive_path",
                    hit,
                    sp.approvals,
                    sp.approvers,
                    approvals,
                    tuple(via),
                )
            )
    out.extend(_self_protection(change, policy, out, approvals))
    by_group: dict[str, list[Finding]] = {}
    for f in findings:
        if f.outcome is Outcome.REQUIRE_APPROVAL and f.exemption is None and f.approval_group:
            by_group.setdefault(f.approval_group, []).append(f)
    for group, fs in sorted(by_group.items()):
        # Numeric order (issue #18): train.py:7 before train.py:11.
        ordered = sorted({(f.path, f.line or 1, f.rule_id) for f in fs})
        reasons = tuple(dict.fromkeys(f"{rule} at {path}:{line}" for path, line, rule in ordered))
        hit = sorted({f.path for f in fs})
        out.append(
            _requirement(
                policy, f"findings:{group}", "finding", hit, 1, [group], approvals, reasons
            )
        )
    return out


def _requirement(
    policy: Policy,
    name: str,
    kind: str,
    hit: Sequence[str],
    required: int,
    approvers: Sequence[str],
    approvals: Verdict,
    reasons: tuple[str, ...],
) -> Requirement:
    excluded = dict(approvals.excluded)
    for user in policy.excluded_approvers:
        excluded.setdefault(user, "is excluded by the policy")
    listed = expand(policy, approvers)
    eligible = tuple(u for u in listed if u not in excluded)
    # An approval of an earlier version counts here only if the version about to
    # land is, on these paths, byte for byte what was approved (issue #14).
    covering = approvals.approvers_for(hit)
    approved = tuple(u for u in covering if u in eligible)
    rejected = list(approvals.rejected) + approvals.stale_for(hit)
    rejected += [(u, f"not an approver for {name}") for u in covering if u not in listed]
    blockers = [u for u in approvals.changes_requested if u in eligible]
    error = None
    if not eligible:
        error = f"no one can approve this: {', '.join(approvers)} has no eligible members"
    elif len(eligible) < required:
        error = f"only {len(eligible)} eligible approver(s) for {required} required approvals"
    elif blockers:
        error = f"changes requested by {', '.join(blockers)}"
    elif approvals.blockers:
        error = "approvals cannot be judged: " + "; ".join(approvals.blockers)
    return Requirement(
        name=name,
        kind=kind,
        paths=tuple(hit),
        required=required,
        approvers=tuple(approvers),
        eligible=eligible,
        approved_by=approved,
        rejected=tuple(rejected),
        reasons=reasons,
        error=error,
    )


def codeowner_requirements(
    change: Change, loaded: LoadedPolicy, verdict: Verdict
) -> list[Requirement]:
    """One requirement per (section, winning rule) of the trusted CODEOWNERS."""
    if not loaded.codeowners_text:
        return []
    from traingate import codeowners

    sections = codeowners.parse(loaded.codeowners_text)
    fold = loaded.policy.case_insensitive_paths
    aka = _aliases(change, loaded.policy)
    hits: dict[
        tuple[str | None, int], tuple[codeowners.Section, codeowners.Rule, list[str], set[str]]
    ] = {}
    for f in change.files:
        for p in f.paths:
            # Owners of every name the path has (issue #14): a file reached
            # through a symlink in an owned directory is owned there too.
            for name in (p, *aka.get(p, ())):
                for sec, rule in codeowners.owners_for(sections, name, fold=fold):
                    entry = hits.setdefault((sec.name, rule.line), (sec, rule, [], set()))
                    if p not in entry[2]:
                        entry[2].append(p)
                    if name != p:
                        entry[3].add(_as(p, name))
    out = []
    for (_, _), (sec, rule, hit, via) in sorted(
        hits.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])
    ):
        approvers = [
            _owner_to_user(loaded.policy, codeowners.approver_name(o)) for o in rule.owners
        ]
        label = f"codeowners{f'[{sec.name}]' if sec.name else ''}:{rule.pattern}"
        out.append(
            _requirement(
                loaded.policy,
                label,
                "codeowners",
                sorted(hit),
                sec.approvals,
                approvers,
                verdict,
                tuple(sorted(via)),
            )
        )
    return out


def _owner_to_user(policy: Policy, owner: str) -> str:
    """A CODEOWNERS login or email -> the policy's user id (or group), else as written."""
    if owner in policy.groups or owner in policy.users:
        return owner
    folded = owner.casefold()
    for user, ident in policy.users.items():
        logins = [*ident.accounts("github"), *ident.accounts("gitlab"), *ident.emails]
        if any(x.casefold() == folded for x in logins):
            return user
    return owner


def _gate_files(policy: Policy) -> list[tuple[str, str]]:
    """Every file and directory the trusted policy reads, with the setting that
    names it: whoever edits them unreviewed owns the gate (issues #8, #14).
    A directory protects everything below it."""
    files = [(".traingate.yaml", "the policy")]
    if policy.codeowners:
        files.append((policy.codeowners, "codeowners"))
    signed = policy.approvals.signed
    if signed is not None:
        files.append((signed.allowed_signers, "approvals.signed.allowed_signers"))
        if signed.revoked_keys:
            files.append((signed.revoked_keys, "approvals.signed.revoked_keys"))
    # Read even while semgrep is disabled: a weakened rule waits to be enabled.
    files += [(d, "checks.semgrep.rule_dirs") for d in policy.checks.semgrep.rule_dirs]
    # Policy tests (`traingate policy test`) and anything else the security
    # team keeps beside the policy (issue #14); last, so that a file named by
    # a setting above is reported by that setting.
    files.append((".traingate", "the gate's directory .traingate/"))
    return [(paths.repo_path(p), why) for p, why in files]


def gate_setting(
    policy: Policy, path: str, gate: Sequence[tuple[str, str]] | None = None
) -> str | None:
    """What makes ``path`` gate configuration (the setting naming it), or None."""
    fold = policy.case_insensitive_paths
    entries = _gate_files(policy) if gate is None else gate
    return next((why for g, why in entries if paths.within(path, g, fold=fold)), None)


def _self_protection(
    change: Change, policy: Policy, raised: Sequence[Requirement], approvals: Verdict
) -> list[Requirement]:
    """The policy always protects itself (issues #8, #14): a change to a gate file
    needs the security group unless a sensitive path only the security group
    approves already covers it; without a security group it is an error unless
    any sensitive path covers it. A policy cannot make its own files non-sensitive."""
    gate = _gate_files(policy)
    covered = _covered(policy, raised)
    aka = _aliases(change, policy)
    hit: set[str] = set()
    reasons: set[str] = set()
    for p in (p for f in change.files for p in f.paths if p not in covered):
        for name in (p, *aka.get(p, ())):
            why = gate_setting(policy, name, gate)
            if why is not None:
                hit.add(p)
                reasons.add(f"{_as(p, name)}: {why}")
                break
    if not hit:
        return []
    group = policy.security_group
    req = _requirement(
        policy,
        "gate-self-protection",
        "sensitive_path",
        sorted(hit),
        1,
        [group] if group else [],
        approvals,
        tuple(sorted(reasons)),
    )
    if group is None:
        req = replace(
            req, error="the policy does not protect its own files and names no security_group"
        )
    return [req]


def _covered(policy: Policy, raised: Sequence[Requirement]) -> set[str]:
    """Gate paths a sensitive-path requirement already routes to the security
    group. Issue #14: ``**/*.yaml`` approved by ML reviewers must not let them
    approve a weakened semgrep rule or policy test."""
    reqs = [r for r in raised if r.kind == "sensitive_path"]
    if policy.security_group is not None:
        security = set(expand(policy, [policy.security_group]))
        reqs = [r for r in reqs if set(expand(policy, r.approvers)) <= security]
    return {p for r in reqs for p in r.paths}


def _aliases(change: Change, policy: Policy) -> dict[str, tuple[str, ...]]:
    """Other names of the touched paths through symlinks (issue #14 class 9).

    Cost: one ``git ls-tree -r`` per tree read (the diff's old side, and the
    trusted base when it is another commit) plus a blob read per symlink:
    ~50 ms per tree of 100,000 files, once per change. Needed whenever
    anything is matched by path, i.e. always outside ``scan``: the gate files
    are never empty.
    """
    if not change.files:
        return {}
    return change.aliases(fold=policy.case_insensitive_paths)


def _named_hits(
    change: Change, aka: dict[str, tuple[str, ...]], patterns: Sequence[str], fold: bool
) -> tuple[list[str], list[str]]:
    """Touched paths one of whose names ``patterns`` match, and "path (as alias)"
    for each one matched only through an alias."""

    def test(name: str) -> bool:
        return paths.matches(patterns, name, fold=fold)

    hit: set[str] = set()
    via: set[str] = set()
    for p in (p for f in change.files for p in f.paths):
        if p in hit:
            continue
        if test(p):
            hit.add(p)
            continue
        alias = next((a for a in aka.get(p, ()) if test(a)), None)
        if alias is not None:
            hit.add(p)
            via.add(_as(p, alias))
    return sorted(hit), sorted(via)


def _as(path: str, name: str) -> str:
    return path if name == path else f"{path} (as {name})"
