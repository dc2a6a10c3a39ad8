"""Run zizmor on the head blobs of the changed workflows and map what it finds.

zizmor sees copies written from git (never the change's working tree) into a
private directory, at their repository paths: the path is how zizmor tells a
workflow from an action. It runs offline, with no token in its environment
and with ``--no-config --no-ignores``: a ``zizmor.yml`` or a
``# zizmor: ignore[...]`` comment in the change is the author's word, not the
policy's. ``--no-exit-codes`` leaves a non-zero exit to mean only that zizmor
failed; the gate decides what its findings mean.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.checks.workflows import OFF, RULES, laundering, rule_for, severity_for
from traingate.checks.workflows.settings import WorkflowsSettings
from traingate.findings import Finding, Severity

ARGS = (
    "--offline",
    "--no-config",
    "--no-ignores",
    "--no-exit-codes",
    "--strict-collection",
    "--persona",
    "regular",
    "--no-progress",
    "--color",
    "never",
    "--format",
    "json",
)
# zizmor reads a token (and settings) from these; offline it should use none,
# and a gate run must never hand the CI token to a subprocess that has no use for it.
_SCRUB = ("GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "RUST_BACKTRACE", "RUST_LOG")
# Expanded into a script, these are GitHub login names: [A-Za-z0-9-] for users,
# an app's slug plus "[bot]" for apps, so no outsider can put shell syntax in
# them. zizmor rates them High; a warning keeps them visible. Only the exact
# expression: `github.actor || github.event.pull_request.title` is not excused.
LOGIN_NAMES = frozenset({"github.actor", "github.triggering_actor"})
_LOGIN_WHY = "letters, digits and '-' only, so not injectable; reported as a warning"
_NOISE = ("INFO ", "WARN ", "DEBUG ", "fatal: no audit was performed", "Caused by:")
_WHERE = re.compile(r"at line (\d+) column (\d+)")


class Outcome(NamedTuple):
    findings: list[dict[str, Any]]  # zizmor's JSON, one entry per finding
    error: str | None  # why zizmor did not audit these inputs
    timed_out: bool = False  # then one run per file would only take longer


def audit(ctx: Context) -> list[Finding]:
    files = [f for f in ctx.files if f.new_path is not None]
    links = [_link(f) for f in files if not _regular(f)]
    files = [f for f in files if _regular(f)]
    if not files:
        return links
    exe = find_zizmor()
    if exe is None:
        return links + [
            _scan_error(f, "zizmor is not installed beside traingate nor on PATH") for f in files
        ]
    with tempfile.TemporaryDirectory(prefix="traingate-workflows-") as tmp:
        root = Path(tmp)
        for f in files:
            _write(root, f.path, ctx.change.read(f.new_oid) or b"")
        return links + _judge(exe, root, files, _timeout(ctx))


def _link(f: ChangedFile) -> Finding:
    """A symlink or submodule at a workflow or action path: what GitHub would
    read is not this blob, and the gate audits blobs; blocks rather than guess."""
    return _scan_error(f, "a symlink or submodule at a workflow/action path is not audited")


def _timeout(ctx: Context) -> int:
    s = ctx.settings
    return s.timeout if isinstance(s, WorkflowsSettings) else WorkflowsSettings().timeout


def _regular(f: ChangedFile) -> bool:
    """A blob GitHub reads as the file; a symlink or submodule is the repository check's."""
    return f.new_mode is not None and f.new_mode.startswith("100")


def find_zizmor() -> str | None:
    """The console script installed with traingate, else the one on PATH."""
    beside = Path(sys.executable).parent / ("zizmor.exe" if os.name == "nt" else "zizmor")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("zizmor")


def _write(root: Path, rel: str, data: bytes) -> None:
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def _judge(exe: str, root: Path, files: list[ChangedFile], timeout: int) -> list[Finding]:
    """One zizmor run for all files; when it fails (not by the clock), one per
    file, so a broken file blocks by name and the others are still judged."""
    whole = run_zizmor(exe, root, [f.path for f in files], timeout)
    if whole.error is None:
        return _unique(_mapped(whole.findings, files, root))
    if len(files) == 1 or whole.timed_out:
        return [_failure(f, whole.error) for f in files]
    out: list[Finding] = []
    for f in files:
        one = run_zizmor(exe, root, [f.path], timeout)
        if one.error is None:
            out.extend(_mapped(one.findings, [f], root))
        else:
            out.append(_failure(f, one.error))
    return _unique(out)


def _mapped(found: list[dict[str, Any]], files: list[ChangedFile], root: Path) -> list[Finding]:
    """:func:`_map`, or a block on every file when zizmor's JSON is not the
    shape the check reads (a release that changed it must not pass quietly)."""
    try:
        return _map(found, {f.path: f for f in files}, root)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        why = f"zizmor's JSON is not the v1 shape the check reads ({type(exc).__name__}: {exc})"
        return [_scan_error(f, why) for f in files]


def run_zizmor(exe: str, root: Path, rels: Sequence[str], timeout: int) -> Outcome:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith("ZIZMOR_")}
    try:
        proc = subprocess.run(
            [exe, *ARGS, "--", *rels],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome([], f"zizmor timed out after {timeout} s", timed_out=True)
    except OSError as exc:
        return Outcome([], f"zizmor could not start: {exc}")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        return Outcome([], _reason(err, proc.returncode))
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return Outcome([], "zizmor's output is not JSON")
    if not isinstance(data, list):
        return Outcome([], "zizmor's output is not a list of findings")
    return Outcome(data, None)


def _reason(stderr: str, code: int) -> str:
    """zizmor's own error lines: log lines, boilerplate and any backtrace dropped."""
    keep: list[str] = []
    for ln in stderr.splitlines():
        text = re.sub(r"^\d+: ", "", ln.strip())
        if text.startswith("Stack backtrace"):
            break
        if text and not text.startswith(_NOISE) and text not in keep:
            keep.append(text)
    said = "; ".join(keep[:4])
    return f"zizmor exited {code}: {said}" if said else f"zizmor exited {code}"


def _failure(f: ChangedFile, reason: str) -> Finding:
    if "failed to load" not in reason:
        return _scan_error(f, reason)
    m = _WHERE.search(reason)
    line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    return RULES.finding(
        "workflow-parse-error",
        path=f.path,
        line=line,
        column=col,
        message=f"not a workflow/action zizmor can load, so not audited: {reason}",
    )


def _scan_error(f: ChangedFile, reason: str) -> Finding:
    return RULES.finding(
        "workflow-scan-error",
        path=f.path,
        message=f"the workflow was not audited: {reason}",
    )


class Hit(NamedTuple):
    """zizmor's primary location of one finding."""

    path: str
    first: int  # 1-based lines, inclusive
    last: int
    column: int
    fragment: str | None  # the expression zizmor points at, for an injection
    annotation: str


def _map(found: list[dict[str, Any]], files: dict[str, ChangedFile], root: Path) -> list[Finding]:
    """zizmor's findings on lines the change added (every line in ``scan``)."""
    out: list[Finding] = []
    for item in found:
        hit = _hit(item)
        f = files.get(hit.path) if hit is not None else None
        audit = str(item.get("ident", ""))
        if hit is None or f is None or audit in OFF:
            continue
        if _touches(_new_lines(f), hit.first, hit.last):
            out.append(_finding(item, audit, hit, f, root))
    return out


def _finding(item: dict[str, Any], audit: str, hit: Hit, f: ChangedFile, root: Path) -> Finding:
    rated = str(item.get("determinations", {}).get("severity", ""))
    severity = severity_for(audit, rated)
    what = f"{hit.fragment} {hit.annotation}" if hit.fragment else hit.annotation
    if audit == "template-injection" and hit.fragment:
        text = (root / f.path).read_text(encoding="utf-8", errors="replace")
        severity, what = _injection(severity, what, hit.fragment, text)
    return RULES.finding(
        rule_for(audit),
        path=f.path,
        line=hit.first,
        column=hit.column,
        severity=severity,
        message=f"zizmor {audit} ({rated}): {item.get('desc', '')}: {what}",
    )


def _injection(severity: Severity, what: str, fragment: str, text: str) -> tuple[Severity, str]:
    """zizmor's rating of an injection, corrected both ways (see LOGIN_NAMES, laundering)."""
    if fragment in LOGIN_NAMES:
        return Severity.WARNING, f"{what} (a GitHub login: {_LOGIN_WHY})"
    if severity is not Severity.ERROR and laundering.carries_event_data(text, fragment):
        return Severity.ERROR, f"{what} (set from github.event or github.head_ref in this workflow)"
    return severity, what


def _hit(item: dict[str, Any]) -> Hit | None:
    """The primary location; None when zizmor gives none (never seen)."""
    for loc in item.get("locations", ()):
        sym, conc = loc.get("symbolic", {}), loc.get("concrete", {})
        if sym.get("kind") != "Primary":
            continue
        path = str(sym.get("key", {}).get("Local", {}).get("verbatim_path", ""))
        start, end = conc["location"]["start_point"], conc["location"]["end_point"]
        first, last = start["row"] + 1, end["row"] + 1
        if end["column"] == 0 and last > first:  # a span ending at a line's start
            last -= 1
        kind = sym.get("feature_kind")
        sub = kind.get("Subfeature", {}) if isinstance(kind, dict) else {}
        raw = sub.get("fragment", {}).get("Raw") if isinstance(sub.get("fragment"), dict) else None
        annotation = str(sym.get("annotation", ""))
        return Hit(path.removeprefix("./"), first, last, start["column"] + 1, raw, annotation)
    return None


def _new_lines(f: ChangedFile) -> Container[int]:
    """The added lines; every line of a file renamed or copied into place: the
    place is what makes GitHub run it, so `docs/example.yml` moved to
    `.github/workflows/` is a new workflow however few lines changed."""
    if f.old_path is not None and f.old_path != f.new_path:
        return _Every()
    return set(f.added_lines)


class _Every:
    def __contains__(self, line: object) -> bool:
        return True


def _touches(added: Container[int], first: int, last: int) -> bool:
    """The finding's span holds a line the change added (every line in ``scan``)."""
    return any(n in added for n in range(first, last + 1))


def _unique(found: list[Finding]) -> list[Finding]:
    seen: dict[tuple[object, ...], Finding] = {}
    for f in found:
        seen.setdefault((f.path, f.line, f.column, f.rule_id, f.message), f)
    return list(seen.values())
