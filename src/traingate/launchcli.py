"""Command-line parsers for issue #20's commands: ``env``, ``verify``, ``attest``,
``verify-source``. Kept here so cli.py only registers and dispatches them."""

from __future__ import annotations

import argparse
from typing import Any

from traingate.errors import ExitCode

COMMANDS = ("env", "verify", "attest", "verify-source")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments both env commands (and ``traingate verify --env-baseline``) take.

    Here, not in env.command: every hook run builds the whole parser, and
    importing the env package for it cost ~10 ms of a 0.3 s budget (issue #17)."""
    p.add_argument("--env", metavar="PREFIX", help="a venv or conda env (default: $VIRTUAL_ENV)")
    p.add_argument(
        "--site-packages",
        metavar="DIR",
        action="append",
        default=[],
        help="explicit site-packages dirs instead of --env (repeatable)",
    )
    p.add_argument(
        "--audit-log",
        metavar="FILE",
        help="decision log: evidence that editable installs' checkouts passed the gate",
    )
    p.add_argument("--branch", metavar="REV", help="evidence must be for the protected branch REV")


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    env = sub.add_parser(
        "env", help="snapshot and verify a Python environment (RECORD, .pth, pyc, editables)"
    )
    esub = env.add_subparsers(dest="env_command", metavar="SUBCOMMAND", parser_class=parser_class)
    snap = esub.add_parser(
        "snapshot", help="write a signed baseline of every installed file (keep it outside the env)"
    )
    add_arguments(snap)
    snap.add_argument("--output", "-o", required=True, metavar="FILE", help="the baseline file")
    snap.add_argument("--key", required=True, metavar="KEY", help="SSH private key that signs it")
    snap.add_argument(
        "--signer", required=True, metavar="ID", help="the key's principal in allowed-signers"
    )
    snap.add_argument(
        "--allowed-signers",
        metavar="F",
        help="signers of the evidence for editable installs (decision log, attestations)",
    )
    snap.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATH",
        help="accept this unowned file, .pth or sitecustomize into the baseline (repeatable)",
    )
    snap.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    ver = esub.add_parser(
        "verify", help="compare the environment with its signed baseline (or its RECORDs)"
    )
    add_arguments(ver)
    ver.add_argument("--baseline", metavar="FILE", help="signed baseline from `env snapshot`")
    ver.add_argument("--allowed-signers", metavar="F", help="who may sign baselines (and evidence)")
    ver.add_argument(
        "--only",
        action="append",
        metavar="NAMES",
        help="fast mode: only these distributions, comma-separated (e.g. torch,transformers)",
    )
    ver.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    ver.add_argument("--output", "-o", metavar="FILE")

    v = sub.add_parser(
        "verify",
        help="before a job starts: is this working tree (or commit) exactly a tree that passed?",
    )
    v.add_argument("dir", nargs="?", metavar="DIR", help="the directory the job runs (default: .)")
    v.add_argument(
        "--commit", metavar="REV", help="the commit whose tree DIR must be (default HEAD)"
    )
    v.add_argument("--repo", metavar="DIR", help="the git repository (default: DIR or .)")
    v.add_argument("--audit-log", metavar="FILE", help="decision log whose passing records count")
    v.add_argument(
        "--allowed-signers",
        metavar="F",
        help="signers of attestations, the decision log and the env baseline",
    )
    v.add_argument("--branch", metavar="REV", help="evidence must be for the protected branch REV")
    v.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="gitignore-style paths on disk not compared (data, outputs); they are not verified",
    )
    v.add_argument("--env-baseline", metavar="FILE", help="also verify the Python environment")
    v.add_argument("--env", metavar="PREFIX", help="with --env-baseline (default: $VIRTUAL_ENV)")
    v.add_argument("--site-packages", metavar="DIR", action="append", default=[])
    v.add_argument(
        "--only", action="append", metavar="NAMES", help="with --env-baseline: fast mode"
    )
    v.add_argument("--format", choices=("text", "json"), default="text")

    att = sub.add_parser(
        "attest",
        help="after a change lands: sign SLSA source attestations into refs/notes/commits",
    )
    att.add_argument("--commit", default="HEAD", metavar="REV", help="the landed commit")
    att.add_argument("--repo", metavar="DIR", default=".")
    att.add_argument("--audit-log", required=True, metavar="FILE", help="the decision log")
    att.add_argument("--allowed-signers", metavar="F", help="signers of the decision log")
    att.add_argument("--key", required=True, metavar="KEY", help="SSH private key that signs")
    att.add_argument("--signer", required=True, metavar="ID", help="its allowed-signers principal")
    att.add_argument("--resource-uri", metavar="URI", help="default: git+<remote.origin.url>")
    att.add_argument("--ref", default="refs/heads/main", metavar="REF", help="the protected branch")
    att.add_argument("--output", "-o", metavar="FILE", help="also write the envelopes (JSON Lines)")
    att.add_argument("--no-store", action="store_true", help="do not write the git note")

    vs = sub.add_parser(
        "verify-source", help="verify a commit's signed source attestations (refs/notes/commits)"
    )
    vs.add_argument("commit", metavar="COMMIT")
    vs.add_argument("--allowed-signers", required=True, metavar="F")
    vs.add_argument("--repo", metavar="DIR", default=".")
    vs.add_argument("--format", choices=("text", "json"), default="text")


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "env":
        from traingate.env import command

        if args.env_command == "snapshot":
            return command.run_snapshot(args)
        if args.env_command == "verify":
            return command.run_verify(args)
        parser.parse_args(["env", "--help"])
        return int(ExitCode.USAGE)
    if args.command == "verify":
        from traingate.launch import run_verify

        return run_verify(args)
    if args.command == "attest":
        from traingate.attest import run_attest

        return run_attest(args)
    from traingate.attest import run_verify_source

    return run_verify_source(args)
