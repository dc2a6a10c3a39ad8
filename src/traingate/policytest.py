"""``traingate policy test``: the security team's unit tests for a policy.

Each YAML file in the test directory holds cases::

    policy: .traingate.yaml          # optional: a path (relative to this file) or inline YAML
    cases:
      - name: a training change needs an ML reviewer
        author: mallory
        files:
          train.py: {before: "x = 1\\n", after: "x = 2\\n"}
          old.py: {before: "y\\n", after: null}      # deleted
        approvals: [{user: bob, state: approved}]    # given on the change's head
        expect:
          decision: pass
          requirements: [{name: training-code, satisfied: true, approved_by: [bob]}]
          findings: [{rule_id: exec-os-command, path: train.py}]   # optional, a subset

Each case runs the real gate: a temp git repository whose base commit holds the
policy (the trusted base) and the ``before`` files, and whose head commit by
``author`` holds the ``after`` files. Expectations are compared field by field;
a failure prints a readable diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from traingate.errors import ExitCode, UsageError


def run_tests(target: str, policy_path: str | None) -> int:
    files = _case_files(Path(target))
    failures = 0
    total = 0
    for f in files:
        doc = _load(f)
        policy_text = _policy_text(doc, f, policy_path)
        for case in doc["cases"]:
            total += 1
            problems = _run_case(policy_text, case, f)
            name = case.get("name", "?")
            if problems:
                failures += 1
                print(f"FAIL {f.name}: {name}")
                for p in problems:
                    print(f"    {p}")
            else:
                print(f"ok   {f.name}: {name}")
    print(f"{total - failures} passed, {failures} failed")
    return int(ExitCode.BLOCKED if failures else ExitCode.PASS)


def _case_files(target: Path) -> list[Path]:
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise UsageError(f"{target}: no such test file or directory")
    files = sorted(p for p in target.rglob("*.y*ml") if p.is_file())
    if not files:
        raise UsageError(f"{target}: no *.yaml test cases")
    return files


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise UsageError(f"{path}: expected a mapping with a `cases:` list")
    for i, case in enumerate(doc["cases"]):
        if (
            not isinstance(case, dict)
            or not isinstance(case.get("files"), dict)
            or "expect" not in case
        ):
            raise UsageError(f"{path}: cases[{i}] needs `files:` and `expect:`")
    return doc


def _policy_text(doc: dict[str, Any], path: Path, override: str | None) -> str:
    if override:
        return Path(override).read_text(encoding="utf-8")
    src: object = doc.get("policy")
    if src is None:
        default = Path(".traingate.yaml")
        if not default.exists():
            raise UsageError(
                f"{path}: no `policy:` in the file and no .traingate.yaml here; pass --policy"
            )
        return default.read_text(encoding="utf-8")
    text = str(src)
    if "\n" in text:
        return text
    return (path.parent / text).read_text(encoding="utf-8")


def _git(root: Path, *args: str, who: str = "base") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME=who,
        GIT_AUTHOR_EMAIL=f"{who}@example.com",
        GIT_COMMITTER_NAME=who,
        GIT_COMMITTER_EMAIL=f"{who}@example.com",
    )
    out = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise UsageError(f"policy test: git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def _write(root: Path, files: dict[str, Any], side: str) -> None:
    for rel, spec in files.items():
        content = spec.get(side) if isinstance(spec, dict) else (spec if side == "after" else None)
        target = root / rel
        if content is None and side == "before" and rel == ".traingate.yaml":
            continue  # the base always holds the policy under test
        if content is None:
            if target.exists():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(content), encoding="utf-8")


def _run_case(policy_text: str, case: dict[str, Any], source: Path) -> list[str]:
    from traingate.cli import main

    author = str(case.get("author", "author"))
    with tempfile.TemporaryDirectory(prefix="traingate-policytest-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        _git(root, "init", "-q", "-b", "main")
        (root / ".traingate.yaml").write_text(policy_text, encoding="utf-8")
        _write(root, case["files"], "before")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", "base")
        _git(root, "checkout", "-q", "-b", "change")
        _write(root, case["files"], "after")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", "change", who=author)
        head = _git(root, "rev-parse", "HEAD")
        reviews = [
            {
                "user": a["user"],
                "state": a.get("state", "approved"),
                "commit": head,
                "submitted_at": f"2026-01-01T00:00:{i:02d}Z",
            }
            for i, a in enumerate(case.get("approvals") or [])
        ]
        approvals = Path(tmp) / "approvals.json"
        approvals.write_text(json.dumps({"author": author, "reviews": reviews}))
        out = Path(tmp) / "report.json"
        args = ["check", "--repo", str(root), "--base", "main", "--head", "change"]
        args += ["--approvals", str(approvals), "--format", "json", "--output", str(out)]
        import contextlib
        import io

        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()) as err,
        ):
            code = main(args)
        if not out.exists():
            return [f"the gate did not produce a report (exit {code}): {err.getvalue().strip()}"]
        report = json.loads(out.read_text())
    return _compare(case["expect"], report)


def _compare(expect: dict[str, Any], report: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in ("decision", "exit_code"):
        if key in expect and expect[key] != report[key]:
            problems.append(f"{key}: expected {expect[key]!r}, got {report[key]!r}")
    got_reqs = {r["name"]: r for r in report["requirements"]}
    for want in expect.get("requirements") or []:
        got = got_reqs.get(want["name"])
        if got is None:
            problems.append(
                f"requirement {want['name']!r}: expected, but the change raised {sorted(got_reqs) or 'none'}"
            )
            continue
        for k, v in want.items():
            if k != "name" and got.get(k) != v:
                problems.append(
                    f"requirement {want['name']!r}.{k}: expected {v!r}, got {got.get(k)!r}"
                )
    if "requirements_exactly" in expect:
        names = sorted(got_reqs)
        if names != sorted(expect["requirements_exactly"]):
            problems.append(
                f"requirements: expected exactly {sorted(expect['requirements_exactly'])}, got {names}"
            )
    got_findings = [(f["rule_id"], f["path"]) for f in report["findings"]]
    for want in expect.get("findings") or []:
        if (want["rule_id"], want["path"]) not in got_findings:
            problems.append(
                f"finding {want['rule_id']} at {want['path']}: expected, got {got_findings or 'none'}"
            )
    if expect.get("no_findings") and got_findings:
        problems.append(f"findings: expected none, got {got_findings}")
    return problems
