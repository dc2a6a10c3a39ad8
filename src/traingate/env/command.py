"""The ``traingate env`` commands (issue #20); cli.py only dispatches here."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from traingate.env import core, scan
from traingate.env.output import render, render_text
from traingate.errors import ExitCode, UsageError


def _environment(args: argparse.Namespace) -> scan.Environment:
    return scan.discover(args.env, list(args.site_packages))


def _editable_judge(args: argparse.Namespace) -> core.EditableJudge:
    """Whether an editable install's checkout is clean and at a tree that passed."""
    from traingate import git, launch, treediff

    opts = launch.EvidenceOptions(
        audit_log=Path(args.audit_log) if getattr(args, "audit_log", None) else None,
        allowed_signers=Path(args.allowed_signers)
        if getattr(args, "allowed_signers", None)
        else None,
        branch=getattr(args, "branch", None),
    )

    def judge(path: str) -> tuple[str | None, str | None, str | None, str | None]:
        try:
            root = git.toplevel(path)
        except UsageError:
            return None, None, None, f"{path} is not a git checkout: its content is unknown"
        commit = git.resolve_commit(root, "HEAD")
        if commit is None:
            return None, None, None, f"{path} has no commit: its content is unknown"
        tree = launch.tree_of(root, commit)
        diffs = treediff.compare(root, tree, root)
        first = f"the checkout differs from its commit: {diffs[0].render()}" if diffs else None
        evidence = None
        if opts.audit_log is not None or opts.allowed_signers is not None:
            evidence = launch.find_evidence(root, tree, opts).found
        return tree, commit, evidence, first

    return judge


def _outside(path: Path, env: scan.Environment) -> None:
    """A baseline inside the environment could be swapped by whoever can write it."""
    real = os.path.realpath(path)
    for d in [env.prefix, *env.site_packages]:
        base = os.path.realpath(d) + os.sep
        if real.startswith(base):
            raise UsageError(
                f"the baseline {path} lies inside the environment ({d})",
                help="keep it where the environment's writers cannot write (issue #20)",
            )


def run_snapshot(args: argparse.Namespace) -> int:
    from traingate import sshsig
    from traingate.audit import canonical

    env = _environment(args)
    out = Path(args.output)
    _outside(out, env)
    result = core.examine(
        env, allow=list(args.allow), editable=_editable_judge(args), pythonpath=_pythonpath()
    )
    if not result.ok:
        sys.stdout.write(render(result, args.format))
        print(
            f"error: not signing a baseline of an environment that already fails; "
            f"{out} was not written",
            file=sys.stderr,
        )
        return int(ExitCode.BLOCKED)
    assert result.manifest is not None
    manifest = result.manifest
    sig = sshsig.sign(canonical(manifest), Path(args.key), core.NAMESPACE)
    doc = {"baseline": manifest, "signer": args.signer, "signature": sig}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    files = sum(len(d["files"]) for d in manifest["distributions"].values())
    notes = [f for f in result.findings if f.severity == "note"]
    for f in notes:
        print(f"note  {f.kind}: {f.path}: {f.message}")
    print(
        f"baseline of {env.prefix}: {len(manifest['distributions'])} distributions, "
        f"{files} files, {len(manifest['extra_files'])} other accepted files; "
        f"signed by {args.signer}; written to {out}"
    )
    return int(ExitCode.PASS)


def _pythonpath() -> list[str]:
    # The job's PYTHONPATH puts directories before site-packages: a
    # sitecustomize there runs as well (issue #20).
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def _verify(args: argparse.Namespace, baseline_arg: str | None) -> core.Result:
    env = _environment(args)
    only = [n for part in (args.only or []) for n in part.split(",") if n.strip()]
    baseline = None
    if baseline_arg:
        if not args.allowed_signers:
            raise UsageError("--baseline needs --allowed-signers to check the baseline's signature")
        _outside(Path(baseline_arg), env)
        baseline = core.load_baseline(Path(baseline_arg), Path(args.allowed_signers))
    elif only:
        raise UsageError("--only needs --baseline: a fast check compares against a baseline")
    return core.examine(
        env,
        baseline=baseline,
        baseline_path=baseline_arg,
        only=[n.strip() for n in only],
        editable=_editable_judge(args),
        pythonpath=_pythonpath(),
    )


def run_verify(args: argparse.Namespace) -> int:
    result = _verify(args, args.baseline)
    text = render(result, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        if args.format != "text":
            sys.stdout.write(render_text(result))
    else:
        sys.stdout.write(text)
    return int(ExitCode.PASS if result.ok else ExitCode.BLOCKED)


def verify_for_launch(args: argparse.Namespace) -> core.Result:
    """``traingate verify --env-baseline``: the same check, reported by the caller."""
    return _verify(args, args.env_baseline)
