"""Command line: ``main(argv) -> int`` so every command is testable in-process.

(Over 600 lines: the argument parser of every command and their handlers; the
handlers move out with the gate API of issue #15.)

Exit codes are decided here and nowhere else: 0 pass, 1 blocked by policy,
2 usage or policy error, 3 internal error (see traingate.errors.ExitCode).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traingate import __version__
from traingate.errors import ExitCode, TraingateError, UsageError
from traingate.report import FORMATS  # one enum of formats (issue #15)

if TYPE_CHECKING:
    from traingate.approvals import ReviewData
    from traingate.findings import Report
    from traingate.policy.load import LoadedPolicy


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 on its own, which matches our usage-error code.
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"error: {message}\n  help: run `{self.prog} --help`\n")


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=FORMATS, default="text", help="report format (default: text)"
    )
    p.add_argument(
        "--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout"
    )
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="use this policy file (or builtin:default) instead of the trusted .traingate.yaml",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="result cache (default: the user cache dir)")
    _add_explain(p)


def _add_explain(p: argparse.ArgumentParser) -> None:
    # Issue #18: one line per finding by default; the rule's paragraph on demand.
    p.add_argument(
        "--explain",
        action="store_true",
        help="text format: add each rule's full explanation under its finding",
    )


class _Version(argparse.Action):
    """``--version``: traingate, semgrep and the rule pack's digest (issue #18),
    computed only when asked, without starting semgrep."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print versions and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib import metadata

        from traingate.record import rules_sha256

        try:
            semgrep = f"semgrep {metadata.version('semgrep')}"
        except metadata.PackageNotFoundError:
            semgrep = "semgrep (no Python distribution installed; see `semgrep --version`)"
        sys.stdout.write(f"traingate {__version__}\n{semgrep}\nrule pack sha256:{rules_sha256()}\n")
        parser.exit(0)


def _add_audit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--audit-log",
        metavar="FILE",
        default=os.environ.get("TRAINGATE_AUDIT_LOG") or None,
        help="append the decision to this hash-chained JSON Lines log (docs/audit.md)",
    )
    p.add_argument("--audit-key", metavar="KEY", help="SSH private key that signs the record")
    p.add_argument(
        "--audit-signer", metavar="ID", help="the key's principal in the allowed-signers file"
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only`` of that command alone.

    ``main`` passes ``only`` when argv names the command: every hook run parses
    argv, and building all commands' parsers cost ~10 ms of the 0.3 s budget of
    a commit with no relevant file (issue #17). Completion and help need them all.
    """
    parser = _Parser(
        prog="traingate",
        description="A pre-merge policy gate for shared ML training code.",
        epilog="Exit codes: 0 pass, 1 blocked by policy, 2 usage or policy error, 3 internal error.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, add in _COMMANDS.items():
        if only is None or only == name:
            add(sub)
    from traingate import launchcli  # issue #20: env, verify, attest, verify-source

    if only is None or only in launchcli.COMMANDS:
        launchcli.add_parsers(sub, _Parser)
    return parser


def _only(argv: Sequence[str]) -> str | None:
    """The command argv names, if the parser can be limited to it: not for
    top-level options, an unknown command (argparse lists the valid ones) or
    completion (it prints the whole parser)."""
    from traingate.launchcli import COMMANDS as LAUNCH

    first = argv[0] if argv else ""
    if first == "completion" or (first not in _COMMANDS and first not in LAUNCH):
        return None
    return first


def _add_check_parser(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="check a change (staged, a revision range, or the working tree) against the policy",
        description=(
            "Check a change. Modes: --staged (index vs HEAD), --base REV [--head REV] "
            "(merge-base(base, head)..head), or, with neither, the working tree vs HEAD. "
            "The policy is read from the trusted base (HEAD, or --base), never from the change."
        ),
    )
    mode = check.add_mutually_exclusive_group()
    mode.add_argument("--staged", action="store_true", help="check the index against HEAD")
    mode.add_argument(
        "--base", metavar="REV", help="target branch revision; the policy is read from it"
    )
    mode.add_argument(
        "--pre-push",
        action="store_true",
        help="the commits being pushed (PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF, set by pre-commit)",
    )
    check.add_argument(
        "--head", metavar="REV", help="head of the change (default HEAD; with --base)"
    )
    check.add_argument(
        "--approvals-advisory",
        action="store_true",
        help="report approvals the change will need at merge without failing on them (hooks)",
    )
    check.add_argument(
        "--approvals",
        metavar="FILE",
        help="review data in traingate's neutral JSON format (docs/approvals.md)",
    )
    check.add_argument("--repo", metavar="DIR", default=".", help="repository (default: .)")
    _add_output(check)
    _add_audit(check)


def _add_ci_parser(sub: Any) -> None:
    ci = sub.add_parser(
        "ci",
        help="gate a pull/merge request in GitHub Actions or GitLab CI (trusted base, API approvals)",
        description=(
            "Detect GitHub Actions or GitLab CI, derive base, head, author and approvals, fetch "
            "missing history, and check the change with the policy from the base revision."
        ),
    )
    ci.add_argument(
        "--format", choices=FORMATS, default="text", help="stdout format (default: text)"
    )
    ci.add_argument("--output", "-o", metavar="FILE", help="write the --format report to FILE")
    ci.add_argument("--sarif", metavar="FILE", help="also write SARIF to FILE")
    ci.add_argument("--json", dest="json_file", metavar="FILE", help="also write the JSON report")
    ci.add_argument("--codequality", metavar="FILE", help="also write a GitLab Code Quality report")
    ci.add_argument("--markdown", metavar="FILE", help="also write the markdown summary")
    ci.add_argument("--repo", metavar="DIR", default=".")
    ci.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="result cache (default: none; a cache other jobs can write is not trusted)",
    )
    _add_explain(ci)
    _add_audit(ci)


def _add_scan_parser(sub: Any) -> None:
    scan = sub.add_parser(
        "scan",
        help="scan files or trees in full (every line counts as changed, no approvals)",
        description="Scan files or directories in full; same formats and exit codes as check.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH")
    _add_output(scan)


def _add_demo_parser(sub: Any) -> None:
    sub.add_parser(
        "demo",
        help="build a throwaway repo with a sabotaged training change and show the gate blocking it",
    )


def _add_approve_parser(sub: Any) -> None:
    appr = sub.add_parser(
        "approve",
        help="sign an offline approval of a change with your SSH key (stored in git notes)",
    )
    appr.add_argument("--base", required=True, metavar="REV")
    appr.add_argument("--head", default="HEAD", metavar="REV")
    appr.add_argument("--key", required=True, metavar="FILE", help="your SSH private key")
    appr.add_argument(
        "--approver", required=True, metavar="ID", help="your principal in the allowed-signers file"
    )
    appr.add_argument("--repo", metavar="DIR", default=".")


def _add_audit_parser(sub: Any) -> None:
    aud = sub.add_parser(
        "audit", help="verify the decision log; find unapproved changes in history"
    )
    asub = aud.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", parser_class=_Parser)
    ver = asub.add_parser(
        "verify", help="check that no record was edited, removed, reordered or forged"
    )
    ver.add_argument("file", metavar="FILE")
    ver.add_argument(
        "--allowed-signers",
        metavar="F",
        help="verify signatures (ssh-keygen allowed-signers); every record must then be signed",
    )
    hist = asub.add_parser(
        "history",
        help="list commits on a protected branch that changed sensitive paths without approval evidence",
    )
    hist.add_argument("--branch", default="main", metavar="REV")
    hist.add_argument("--since", metavar="REV", help="only commits after REV")
    hist.add_argument(
        "--audit-log", metavar="FILE", help="decision log whose passing records count as evidence"
    )
    hist.add_argument(
        "--allowed-signers",
        metavar="F",
        help="signers of the decision log (ssh-keygen allowed-signers); every record must verify",
    )
    hist.add_argument(
        "--github",
        metavar="OWNER/REPO",
        help="also accept merged pull requests whose approvals satisfy the policy (GITHUB_TOKEN)",
    )
    hist.add_argument(
        "--gitlab",
        metavar="PROJECT",
        help="also accept merged merge requests whose approvals satisfy the policy "
        "(project id or GROUP/PROJECT; TRAINGATE_GITLAB_TOKEN, CI_API_V4_URL)",
    )
    hist.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    hist.add_argument("--output", "-o", metavar="FILE")
    hist.add_argument("--repo", metavar="DIR", default=".")


def _add_rules_parser(sub: Any) -> None:
    rules = sub.add_parser("rules", help="work with semgrep rule packs")
    rsub = rules.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", parser_class=_Parser)
    rtest = rsub.add_parser(
        "test",
        help="run the rule tests (# ruleid: / # ok: lines) of the shipped pack and of DIRs",
    )
    rtest.add_argument("dirs", nargs="*", metavar="DIR", help="custom rule directories")
    rtest.add_argument("--no-builtin", action="store_true", help="skip the shipped rule pack")
    rlist = rsub.add_parser("list", help="list every rule id traingate can report (the catalog)")
    rlist.add_argument("--check", metavar="ID", help="only the rules of this check")
    rlist.add_argument("--format", choices=("text", "json"), default="text")


def _add_completion_parser(sub: Any) -> None:
    comp = sub.add_parser(
        "completion",
        help="print a bash or zsh completion script (source it, or install it where your shell "
        "looks: docs/getting-started.md#shell-completion)",
    )
    comp.add_argument("shell", choices=["bash", "zsh"])


def _add_rule_parser(sub: Any) -> None:
    rule = sub.add_parser("rule", help="print a rule's documentation, offline (like `ruff rule`)")
    rule.add_argument("rule_id", metavar="ID")


def _add_policy_parser(sub: Any) -> None:
    pol = sub.add_parser("policy", help="validate, explain and export the policy schema")
    psub = pol.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", parser_class=_Parser)
    val = psub.add_parser(
        "validate",
        help="validate a policy file (default: .traingate.yaml at the repository's root)",
    )
    val.add_argument("file", nargs="?", default=None)
    psub.add_parser("schema", help="print the JSON Schema of .traingate.yaml (for editors)")
    ptest = psub.add_parser(
        "test",
        help="run the policy's test cases (YAML: a change, approvals, the expected decision)",
    )
    ptest.add_argument("dir", nargs="?", default=".traingate/tests", metavar="DIR|FILE")
    ptest.add_argument(
        "--policy", metavar="FILE", help="policy under test (default: the cases' own)"
    )
    exp = psub.add_parser(
        "explain", help="which sensitive groups, checks and exemptions apply to paths"
    )
    exp.add_argument("paths", nargs="+", metavar="PATH")
    exp.add_argument(
        "--policy", metavar="FILE", help="policy file (default: .traingate.yaml at HEAD)"
    )
    exp.add_argument("--repo", metavar="DIR", default=".")


_COMMANDS: dict[str, Callable[[Any], None]] = {
    "check": _add_check_parser,
    "ci": _add_ci_parser,
    "scan": _add_scan_parser,
    "demo": _add_demo_parser,
    "approve": _add_approve_parser,
    "audit": _add_audit_parser,
    "rules": _add_rules_parser,
    "completion": _add_completion_parser,
    "rule": _add_rule_parser,
    "policy": _add_policy_parser,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_only(argv))
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except TraingateError as exc:
        machine = ("json", "sarif", "markdown", "gitlab-codequality")
        if args.command in ("check", "scan", "ci") and (
            getattr(args, "format", "text") in machine
            or any(getattr(args, a, None) for a in ("sarif", "json_file", "codequality"))
        ):
            _emit_error_report(args, exc)
        print(exc.diagnostics(), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was decided (blocking)", file=sys.stderr)
        return int(ExitCode.INTERNAL)
    except Exception as exc:  # fail closed: anything unexpected is a bug and blocks
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    fd, log = tempfile.mkstemp(prefix="traingate-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"traingate {__version__}\nargv: {sys.argv}\n\n{text}")
    print(
        f"error: internal error (this is a bug in traingate; the change is blocked): "
        f"{type(exc).__name__}: {exc}\n  help: please report it with the log at {log}",
        file=sys.stderr,
    )
    return int(ExitCode.INTERNAL)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "check":
        return _check(args)
    if args.command == "scan":
        return _scan(args)
    if args.command == "ci":
        return _ci(args)
    if args.command == "demo":
        from traingate.demo import run_demo

        return run_demo()
    if args.command == "policy":
        return _policy(parser, args)
    if args.command == "approve":
        return _approve(args)
    if args.command == "audit":
        return _audit(parser, args)
    if args.command in ("env", "verify", "attest", "verify-source"):
        from traingate.launchcli import dispatch

        return dispatch(parser, args)
    if args.command == "rules" and args.rules_command == "test":
        from traingate.rules import test_rules

        return test_rules(args.dirs, builtin=not args.no_builtin)
    if args.command == "rules" and args.rules_command == "list":
        from traingate.catalog import render_list

        sys.stdout.write(render_list(args.check, args.format))
        return int(ExitCode.PASS)
    if args.command == "completion":
        # shtab writes the script from this very parser, so it cannot drift from
        # the commands; imported only here.
        import shtab

        sys.stdout.write(shtab.complete(parser, shell=args.shell) + "\n")
        return int(ExitCode.PASS)
    if args.command == "rule":
        from traingate.catalog import render_rule

        sys.stdout.write(render_rule(args.rule_id))
        return int(ExitCode.PASS)
    parser.print_help()
    return int(ExitCode.USAGE)


def _cache_dir(args: argparse.Namespace) -> Path | None:
    if getattr(args, "cache_dir", None):
        return Path(args.cache_dir)
    if args.command == "ci" and not os.environ.get("TRAINGATE_CACHE_DIR"):
        # A runner's user cache can outlive the job and be written by other jobs
        # that run the change's code; a forged "no findings" entry would pass
        # the blob it names (docs/ci/hardening.md). Only an explicit dir is used.
        return None
    from traingate.cache import default_cache_dir

    return default_cache_dir()


def _check(args: argparse.Namespace) -> int:
    from traingate import gate

    report = gate.check(
        gate.CheckRequest(
            repo=args.repo,
            base=args.base,
            head=args.head,
            staged=args.staged,
            pre_push=args.pre_push,
            push_from=os.environ.get("PRE_COMMIT_FROM_REF"),
            push_to=os.environ.get("PRE_COMMIT_TO_REF"),
            policy_file=args.policy,
            approvals_file=args.approvals,
            advisory=args.approvals_advisory,
            cache_dir=_cache_dir(args),
        )
    )
    return _write(args, report)


def _merge_sources(sources: list[ReviewData]) -> ReviewData:
    from traingate.approvals.semantics import merge

    return merge(sources)


def _repo_path(arg: str, root: Path | None) -> str:
    """A path as the policy sees it: relative to the repository root, whether the
    user gave it absolute or relative to a subdirectory (issue #18)."""
    if root is None:
        return arg
    full = Path(arg) if os.path.isabs(arg) else Path.cwd() / arg
    try:
        rel = Path(os.path.normpath(full)).relative_to(root.resolve())
    except ValueError:
        try:
            rel = Path(os.path.normpath(full)).relative_to(root)
        except ValueError:
            return arg  # outside the repository: judged as written
    return rel.as_posix() + ("/" if arg.endswith("/") else "")


def _discover_policy() -> str:
    """The policy `check` would read: .traingate.yaml at the repository's root,
    from any subdirectory (issue #18); outside a repository, ./.traingate.yaml."""
    root = _repo_or_none(".")
    if root is None:
        return ".traingate.yaml"
    return os.path.relpath(root / ".traingate.yaml")


def _unmatched_paths(loaded: LoadedPolicy, file: str) -> list[str]:
    """Sensitive-path patterns of the repository's own policy that match no file
    at HEAD: likely a typo that leaves the code unprotected (issue #18)."""
    from traingate import git, paths

    root = _repo_or_none(str(Path(file).resolve().parent))
    head = git.resolve_commit(root, "HEAD") if root is not None else None
    if root is None or head is None:
        return []
    if Path(file).resolve() != (root / ".traingate.yaml").resolve():
        return []
    listing = git.run(root, "ls-tree", "-r", "-z", "--name-only", "--full-tree", head)
    files = [p.decode("utf-8", "surrogateescape") for p in listing.split(b"\0") if p]
    fold = loaded.policy.case_insensitive_paths
    out = []
    own = set(loaded.own_sensitive_paths)
    for sp in loaded.policy.sensitive_paths:
        if sp.name not in own:
            continue
        for pattern in sp.paths:
            if not any(paths.matches([pattern], f, fold=fold) for f in files):
                out.append(
                    f"sensitive path {sp.name!r}: pattern {pattern!r} matches no file at HEAD "
                    f"({head[:12]}); check it for a typo"
                )
    return out


def _repo_or_none(cwd: str) -> Path | None:
    from traingate import git

    try:
        return git.toplevel(cwd)
    except UsageError:
        return None


def _approve(args: argparse.Namespace) -> int:
    from traingate import git
    from traingate.approvals.signed import approve

    root = git.toplevel(args.repo)
    st = approve(root, args.base, args.head, Path(args.key), args.approver)
    print(
        f"approved {st['merge_base'][:12]}..{st['head'][:12]} as {st['approver']} "
        f"(patch-id {str(st['patch_id'])[:12]}); stored in refs/notes/traingate-approvals"
    )
    print("  help: push the note: git push origin refs/notes/traingate-approvals")
    return int(ExitCode.PASS)


def _ci(args: argparse.Namespace) -> int:
    from traingate import change as changes
    from traingate import ci, git
    from traingate.approvals.semantics import judge
    from traingate.approvals.signed import collect as collect_signed
    from traingate.engine import evaluate
    from traingate.policy import load as policy_load
    from traingate.report import render

    env = ci.environment()
    root = git.toplevel(args.repo)
    ctx = ci.ensure_history(root, ci.detect(env))
    ch = changes.revision_range(root, ctx.base, ctx.head)
    policy = policy_load.load_from_git(root, ch.base)  # trusted base only; no --policy here
    sources = [
        ci.review_data(
            ctx, refuse_overwritten_rules=policy.policy.approvals.refuse_overwritten_rules
        )
    ]
    signed = collect_signed(ch, policy)
    if signed is not None:
        sources.append(signed)
    data = _merge_sources(sources)
    verdict = judge(data, policy.policy, root, merge_base=ch.merge_base, head=ch.head, base=ch.base)
    report = evaluate(ch, policy, approvals=verdict, cache_dir=_cache_dir(args))
    report.base_ref = ctx.target_branch  # the base the decision was judged against
    for path, fmt in (
        (args.sarif, "sarif"),
        (args.json_file, "json"),
        (args.codequality, "gitlab-codequality"),
        (args.markdown, "markdown"),
    ):
        if path:
            Path(path).write_text(render(report, fmt), encoding="utf-8")
    if ctx.platform == "github":
        markdown = render(report, "markdown")
        ci.write_github_outputs(env, report.decision, markdown, args.sarif)
        # issue #19: the report may quote the change; the runner reads no
        # workflow commands while it prints, then gets our escaped annotations
        # (on stderr when stdout carries a machine format that must stay clean).
        human = args.format == "text" or bool(args.output)
        with ci.commands_stopped(env, enabled=human):
            code = _write(args, report)
        ci.annotate(env, report, None if human else sys.stderr)
        warning = ci.sticky_comment(env, ctx, markdown)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return code
    return _write(args, report)


def _scan(args: argparse.Namespace) -> int:
    from traingate import change as changes
    from traingate.engine import evaluate
    from traingate.policy import load as policy_load

    ch = changes.scan_paths(args.paths)
    policy = policy_load.load_file(args.policy) if args.policy else _scan_policy(args.paths)
    # No approvals exist for a scan: a finding that needs one blocks.
    report = evaluate(ch, policy, enforce_approvals=True, cache_dir=_cache_dir(args))
    return _write(args, report)


def _scan_policy(targets: Sequence[str]) -> LoadedPolicy:
    """The policy of the repository the scanned paths are in, as committed at its
    HEAD (what `scan --help` promises, issue #18); the built-in default when the
    paths are in no repository, or in several."""
    from traingate import git
    from traingate.policy import load as policy_load

    roots = {
        _repo_or_none(str(p if p.is_dir() else p.parent))
        for p in (Path(t).resolve() for t in targets)
    }
    root = roots.pop() if len(roots) == 1 else None
    head = git.resolve_commit(root, "HEAD") if root is not None else None
    if root is not None and head is not None and git.tree_entry(root, head, ".traingate.yaml"):
        return policy_load.load_from_git(root, head)
    return policy_load.load_builtin()


def _write(args: argparse.Namespace, report: object) -> int:
    from traingate.findings import Report
    from traingate.report import render

    assert isinstance(report, Report)
    if getattr(args, "audit_log", None):
        # Before printing the verdict: if the decision cannot be recorded, the
        # command fails (exit 3) instead of passing unrecorded.
        from traingate.record import append_decision

        append_decision(
            report, Path(report.root), args.audit_log, args.audit_key, args.audit_signer
        )
    if args.format == "text" and not args.output:
        # The hook's case: the text report once, for the terminal.
        sys.stdout.write(_text(args, report, color=_color()))
        return report.exit_code
    text = (
        _text(args, report, color=False) if args.format == "text" else render(report, args.format)
    )
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        if args.format != "text":
            sys.stdout.write(_text(args, report, color=_color()))
    else:
        sys.stdout.write(text)
    return report.exit_code


def _color() -> bool:
    # Imported here: a machine format on stdout needs no text renderer.
    from traingate.report.text import use_color

    return use_color(sys.stdout)


def _text(args: argparse.Namespace, report: Report, *, color: bool) -> str:
    """The human report with this command's display options (issue #18)."""
    from traingate.report.text import Options, render

    skip = None
    if args.command == "check" and args.approvals_advisory:
        # The pre-commit hooks' ids (.pre-commit-hooks.yaml).
        skip = "SKIP=traingate-push git push" if args.pre_push else "SKIP=traingate git commit"
    opts = Options(
        color=color,
        explain=getattr(args, "explain", False),
        policy_warnings=args.command == "ci",
        skip_hint=skip,
    )
    return render(report, opts)


def _emit_error_report(args: argparse.Namespace, exc: TraingateError) -> None:
    """A machine-readable format still gets a (blocking) document on error."""
    from traingate.findings import Report
    from traingate.report import render

    report = Report(
        mode=args.command, root=os.getcwd(), policy_source="(not loaded)", policy_sha256=""
    )
    report.errors.append(exc.diagnostics())
    report.exit_override = int(exc.exit_code)
    text = render(report, args.format)
    try:
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        elif args.format != "text":
            sys.stdout.write(text)
        # `ci` side files too, so an upload step finds a (blocking) report.
        for attr, fmt in (
            ("sarif", "sarif"),
            ("json_file", "json"),
            ("codequality", "gitlab-codequality"),
        ):
            path = getattr(args, attr, None)
            if path:
                Path(path).write_text(render(report, fmt), encoding="utf-8")
    except OSError:
        pass


def _audit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        from traingate import audit

        result = audit.verify(
            Path(args.file),
            allowed_signers=Path(args.allowed_signers) if args.allowed_signers else None,
            require_signatures=bool(args.allowed_signers),
        )
        print(audit.render(result))
        return int(ExitCode.PASS if result.ok else ExitCode.BLOCKED)
    if args.audit_command == "history":
        from traingate.history import run_history

        return run_history(args)
    parser.parse_args(["audit", "--help"])
    return int(ExitCode.USAGE)


def _policy(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from traingate.policy import load as policy_load

    if args.policy_command == "validate":
        file = args.file or _discover_policy()
        loaded = policy_load.load_file(file)
        for w in [*loaded.warnings, *_unmatched_paths(loaded, file)]:
            print(f"warning: {file}: {w}")
        args.file = file
        p = loaded.policy
        print(
            f"{args.file}: valid (layers: {' + '.join(loaded.layers)}; {len(p.sensitive_paths)} sensitive "
            f"path groups, {len(p.groups)} groups, {len(p.exemptions)} exemptions)"
        )
        return int(ExitCode.PASS)
    if args.policy_command == "test":
        from traingate.policytest import run_tests

        return run_tests(args.dir, args.policy)
    if args.policy_command == "schema":
        from traingate.policy.schema import schema_json

        sys.stdout.write(schema_json())
        return int(ExitCode.PASS)
    if args.policy_command == "explain":
        from traingate import aliases, git
        from traingate.policy.explain import explain

        if args.policy:
            loaded = policy_load.load_file(args.policy)
            root = _repo_or_none(args.repo)
            head = git.resolve_commit(root, "HEAD") if root is not None else None
        else:
            root = git.toplevel(args.repo)
            head = git.resolve_commit(root, "HEAD")
            loaded = policy_load.load_from_git(root, head)
        targets = [_repo_path(p, root) for p in args.paths]
        names = None
        if root is not None and head is not None:
            # every name the paths have through HEAD's symlinks
            fold = loaded.policy.case_insensitive_paths
            names = aliases.at_revision(root, head, targets, fold=fold)
        sys.stdout.write(explain(loaded, targets, names))
        return int(ExitCode.PASS)
    parser.parse_args(["policy", "--help"])
    return int(ExitCode.USAGE)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
