"""Judge an environment: against its RECORDs alone, or against a signed baseline.

(Over 600 lines: one pass over an environment, kept together so snapshot and
verify cannot judge differently.)

One pass serves both commands (issue #20): ``env snapshot`` runs it without a
baseline and refuses to sign an environment that already fails; ``env verify``
runs it with the baseline and names every added, removed and changed file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import __version__
from traingate.env import pyc, scan
from traingate.errors import ExitCode, TraingateError, UsageError

BASELINE_TYPE = "traingate-env-baseline"
NAMESPACE = "traingate-env-baseline"  # ssh-keygen -Y sign -n: a baseline signature is nothing else


class BaselineError(TraingateError):
    """A baseline that cannot be trusted: the environment is not verified (exit 1)."""

    exit_code = ExitCode.BLOCKED


# (path of an editable checkout) -> (tree id, commit, evidence or None, first difference or None)
EditableJudge = Callable[[str], tuple[str | None, str | None, str | None, str | None]]


@dataclass(frozen=True)
class Finding:
    kind: str
    path: str
    message: str
    severity: str = "error"  # error blocks; note does not
    distribution: str | None = None


@dataclass
class Result:
    env: scan.Environment
    mode: str  # full | only
    only: list[str]
    baseline: str | None
    findings: list[Finding] = field(default_factory=list)
    files_hashed: int = 0
    bytes_hashed: int = 0
    seconds: float = 0.0
    manifest: dict[str, Any] | None = None  # what a snapshot would sign

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


KIND_HELP = {
    "changed": "a file differs from the baseline",
    "added": "a file exists that the baseline does not have",
    "removed": "a file of the baseline is gone",
    "record-mismatch": "a file does not match the sha256 its RECORD lists",
    "unhashed": "RECORD lists a file without a hash, and no baseline covers it",
    "unowned": "a file no installed distribution's RECORD owns",
    "pth-exec": "a .pth file with lines the interpreter executes at every start",
    "customize": "a sitecustomize/usercustomize module, run at every interpreter start",
    "pyc-mismatch": "a compiled .pyc whose code differs from its source",
    "pyc-unchecked": "a compiled .pyc that could not be checked against its source",
    "distribution-added": "a distribution the baseline does not have",
    "distribution-removed": "a distribution of the baseline is gone",
    "version-changed": "a distribution's version differs from the baseline",
    "record-changed": "a distribution's RECORD differs from the baseline",
    "record-problem": "a RECORD that cannot be read, or names files outside the environment",
    "interpreter-changed": "the interpreter differs from the baseline",
    "editable-dirty": "an editable install's checkout differs from its commit",
    "editable-unproven": "an editable install's checkout is not at a tree the gate passed",
    "pyc-recompiled": "a pyc written since the baseline; it matches its source",
}


class _Run:
    def __init__(
        self,
        env: scan.Environment,
        baseline: dict[str, Any] | None,
        only: list[str],
        allow: set[str],
        editable: EditableJudge | None,
        pythonpath: list[str],
    ) -> None:
        self.env = env
        self.base = baseline
        self.only = [scan.normalize(n) for n in only]
        self.allow = allow
        self.editable = editable
        self.pythonpath = pythonpath
        self.findings: list[Finding] = []
        self.digests: dict[str, str] = {}
        self.bytes = 0
        # Every file the baseline knows, with its digest (dist files and extras).
        self.known: dict[str, str] = {}
        if baseline is not None:
            for d in baseline["distributions"].values():
                self.known.update(d["files"])
            self.known.update({p: v["sha256"] for p, v in baseline["extra_files"].items()})

    def add(self, kind: str, path: str, message: str, *, dist: str | None = None) -> None:
        severity = "note" if kind == "pyc-recompiled" else "error"
        self.findings.append(Finding(kind, path, message, severity, dist))

    def note(self, kind: str, path: str, message: str, dist: str | None = None) -> None:
        self.findings.append(Finding(kind, path, message, "note", dist))

    def digest(self, path: str) -> str | None:
        if path in self.digests:
            return self.digests[path]
        try:
            if os.path.islink(path) and os.path.isdir(path):
                value = "symlink:" + hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
            else:
                value = scan.sha256_file(path)
                self.bytes += os.path.getsize(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            value = f"unreadable:{exc.strerror}"
        self.digests[path] = value
        return value


def examine(
    env: scan.Environment,
    *,
    baseline: dict[str, Any] | None = None,
    baseline_path: str | None = None,
    only: list[str] | None = None,
    allow: list[str] | None = None,
    editable: EditableJudge | None = None,
    pythonpath: list[str] | None = None,
) -> Result:
    start = time.monotonic()
    run = _Run(
        env,
        baseline,
        only or [],
        {os.path.abspath(a) for a in allow or []},
        editable,
        pythonpath or [],
    )
    manifest = _judge(run)
    result = Result(
        env,
        "only" if only else "full",
        run.only,
        baseline_path,
        findings=_order(run.findings),
        files_hashed=len(run.digests),
        bytes_hashed=run.bytes,
        manifest=manifest,
    )
    result.seconds = time.monotonic() - start
    return result


def _order(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in sorted(findings, key=lambda f: (f.severity != "error", f.path, f.kind)):
        if (f.kind, f.path) not in seen:
            seen.add((f.kind, f.path))
            out.append(f)
    return out


def _judge(run: _Run) -> dict[str, Any]:
    env = run.env
    dists = scan.distributions(env)
    by_key: dict[str, scan.Distribution] = {}
    for d in dists:
        if d.key in by_key:
            run.add(
                "record-problem",
                d.dist_info,
                f"two installs of {d.name}: {by_key[d.key].dist_info} and {d.dist_info}; "
                "which one imports depends on directory order",
                dist=d.key,
            )
        by_key.setdefault(d.key, d)
    base_dists: dict[str, Any] = run.base["distributions"] if run.base else {}
    if run.only:
        known = set(base_dists) if run.base else set(by_key)
        unknown = [n for n in run.only if n not in known]
        if unknown:
            where = "the baseline" if run.base else "the environment"
            raise UsageError(
                f"--only names distributions not in {where}: {', '.join(unknown)}",
                help="names are matched after PEP 503 normalization (Foo_Bar == foo-bar)",
            )
        selected = list(run.only)
    else:
        selected = sorted(set(by_key) | set(base_dists))
    owner: dict[str, str] = {}
    for d in dists:
        for f in d.files:
            owner.setdefault(f.path, d.key)
    pyc_jobs: dict[str, tuple[str, int, str | None]] = {}  # pyc -> (source, opt, dist)
    manifest_dists: dict[str, Any] = {}
    for key in selected:
        cur = by_key.get(key)
        base = base_dists.get(key)
        if cur is None:
            assert base is not None  # selected from the union of both
            run.add(
                "distribution-removed",
                base["dist_info"],
                f"{base['name']} {base['version']} is in the baseline but not installed",
                dist=key,
            )
            for path in sorted(base["files"]):
                if run.digest(path) is None:
                    run.add("removed", path, f"{path} is gone", dist=key)
                else:
                    run.add("unowned", path, "no installed RECORD owns it any more", dist=key)
            continue
        if run.base is not None and base is None:
            run.add(
                "distribution-added",
                cur.dist_info,
                f"{cur.name} {cur.version} is installed but not in the baseline",
                dist=key,
            )
            for owned in cur.files:
                if os.path.lexists(owned.path):
                    run.add(
                        "added", owned.path, "a file of a distribution the baseline lacks", dist=key
                    )
        manifest_dists[key] = _distribution(run, cur, base, pyc_jobs)
    _unowned(run, owner, selected, by_key, pyc_jobs, manifest_dists)
    _pycs(run, pyc_jobs, manifest_dists)
    _pth(run, owner, by_key)
    customize = _customize(run)
    interpreter = _interpreter(run)
    return {
        "type": BASELINE_TYPE,
        "version": 1,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": {"name": "traingate", "version": __version__},
        "environment": {
            "kind": env.kind,
            "prefix": env.prefix,
            "site_packages": env.site_packages,
            "python": interpreter,
        },
        "distributions": manifest_dists,
        "extra_files": _extras(run, manifest_dists, customize),
    }


def _distribution(
    run: _Run,
    cur: scan.Distribution,
    base: dict[str, Any] | None,
    pyc_jobs: dict[str, tuple[str, int, str | None]],
) -> dict[str, Any]:
    key = cur.key
    for problem in cur.problems:
        run.add("record-problem", cur.record, problem, dist=key)
    files: dict[str, str] = {}
    record_digest = run.digest(cur.record)
    for owned in cur.files:
        path = owned.path
        got = run.digest(path)
        src = scan.pyc_source(path, run.env.python.cache_tag)
        if got is None:
            if src is None:
                run.add("removed", path, f"{path} is listed in {cur.record} but gone", dist=key)
            continue  # a deleted pyc is recompiled from its source: harmless
        files[path] = got
        if owned.record_hash is not None:
            want = scan.record_hex(owned.record_hash)
            if want is None:
                want_ok = scan.digest_file(path, owned.record_hash.partition("=")[0])
                matches = want_ok == owned.record_hash
            else:
                matches = want == got
            if not matches:
                run.add(
                    "record-mismatch",
                    path,
                    f"does not match the hash in {cur.record}",
                    dist=key,
                )
        elif path == cur.record:
            pass  # RECORD cannot list its own hash; the baseline has it
        elif src is not None:
            if run.known.get(path) != got:
                pyc_jobs[path] = (src[0], src[1], key)
        elif run.known.get(path) != got:
            run.add(
                "unhashed",
                path,
                f"{cur.record} lists it without a hash and no baseline covers it",
                dist=key,
            )
    editable = _editable(run, cur)
    if base is not None:
        _compare(run, cur, base, files, record_digest)
    return {
        "name": cur.name,
        "version": cur.version,
        "dist_info": cur.dist_info,
        "installer": cur.installer,
        "record_sha256": record_digest,
        "editable": editable,
        "files": files,
    }


def _compare(
    run: _Run,
    cur: scan.Distribution,
    base: dict[str, Any],
    files: dict[str, str],
    record_digest: str | None,
) -> None:
    key = cur.key
    if base["version"] != cur.version:
        run.add(
            "version-changed",
            cur.dist_info,
            f"{cur.name} is {cur.version}, the baseline has {base['version']}",
            dist=key,
        )
    if base["record_sha256"] != record_digest:
        run.add(
            "record-changed",
            cur.record,
            "RECORD differs from the baseline (rewritten, or the distribution was reinstalled)",
            dist=key,
        )
    for path, want in sorted(base["files"].items()):
        if path == cur.record:
            continue  # reported once, as record-changed
        got = files.get(path) or run.digest(path)
        is_pyc = scan.pyc_source(path, run.env.python.cache_tag) is not None
        if got is None:
            if not is_pyc:
                run.add("removed", path, "in the baseline, gone from disk", dist=key)
        elif got != want and not is_pyc:
            # A pyc that differs is recompiled and compared instead (_pycs): the
            # interpreter rewrites pycs itself when a source's mtime changes.
            run.add("changed", path, "differs from the baseline", dist=key)
    for path in sorted(set(files) - set(base["files"])):
        if scan.pyc_source(path, run.env.python.cache_tag) is None:
            run.add("added", path, f"listed in {cur.record} but not in the baseline", dist=key)


def _editable(run: _Run, cur: scan.Distribution) -> dict[str, Any] | None:
    if cur.editable_url is None:
        return None
    path = scan.editable_path(cur.editable_url)
    info: dict[str, Any] = {"url": cur.editable_url, "path": path, "tree": None, "commit": None}
    where = os.path.join(cur.dist_info, "direct_url.json")
    if path is None or run.editable is None:
        run.add(
            "editable-unproven",
            where,
            f"editable install of {cur.name} from {cur.editable_url}: its checkout cannot be read",
            dist=cur.key,
        )
        return info
    tree, commit, evidence, first_diff = run.editable(path)
    info.update(tree=tree, commit=commit, evidence=evidence)
    if first_diff is not None:
        run.add(
            "editable-dirty",
            path,
            f"editable install of {cur.name}: {first_diff}",
            dist=cur.key,
        )
    base_tree = None
    if run.base is not None:
        bd = run.base["distributions"].get(cur.key) or {}
        base_tree = (bd.get("editable") or {}).get("tree")
    if evidence is None and (tree is None or tree != base_tree):
        run.add(
            "editable-unproven",
            path,
            f"editable install of {cur.name}: tree {str(tree)[:12]} "
            + ("differs from the baseline's and " if base_tree else "")
            + "has no evidence that it passed the gate (pass --audit-log, or attest it)",
            dist=cur.key,
        )
    return info


def _unowned(
    run: _Run,
    owner: dict[str, str],
    selected: list[str],
    by_key: dict[str, scan.Distribution],
    pyc_jobs: dict[str, tuple[str, int, str | None]],
    manifest_dists: dict[str, Any],
) -> None:
    candidates: list[str] = []
    if run.only:
        # Fast mode: the site dirs' top level (a stray module or .pth shadows or
        # runs anywhere) and the top-level directories the named distributions own.
        tops: set[str] = set()
        for key in selected:
            d = by_key.get(key)
            if d is None:
                continue
            for f in d.files:
                first = os.path.relpath(f.path, d.site).split(os.sep)[0]
                if first and first != ".." and os.path.isdir(os.path.join(d.site, first)):
                    tops.add(os.path.join(d.site, first))
        tops_known = _baseline_tops(run)
        for site in run.env.site_packages:
            for name in sorted(os.listdir(site)):
                full = os.path.join(site, name)
                if not os.path.isdir(full) or os.path.islink(full):
                    candidates.append(full)
                elif tops_known is not None and full not in tops_known:
                    # A new package directory (a new distribution, or a stray
                    # package) imports as well as the named ones: seen by name.
                    run.add("added", full, "a top-level directory the baseline does not have")
        for top in sorted(tops):
            candidates += scan.walk(top)
    else:
        for site in run.env.site_packages:
            candidates += scan.walk(site)
    for path in candidates:
        if path in owner:
            continue
        got = run.digest(path)
        if got is None:
            continue
        src = scan.pyc_source(path, run.env.python.cache_tag)
        if run.known.get(path) == got:
            continue  # the baseline accepted exactly this file
        if src is not None and src[0] in owner:
            pyc_jobs[path] = (src[0], src[1], owner[src[0]])
            continue
        if path in run.allow:
            continue
        if path.endswith(".pth") or os.path.basename(path).startswith(
            ("sitecustomize", "usercustomize")
        ):
            continue  # reported by _pth / _customize with a sharper message
        run.add("unowned", path, "no installed distribution's RECORD owns it")


def _baseline_tops(run: _Run) -> set[str] | None:
    """Top-level entries of the site dirs that the baseline has files under."""
    if run.base is None:
        return None
    tops: set[str] = set()
    for path in run.known:
        for site in run.env.site_packages:
            if path.startswith(site + os.sep):
                tops.add(os.path.join(site, path[len(site) + 1 :].split(os.sep)[0]))
    return tops


def _pycs(
    run: _Run,
    jobs: dict[str, tuple[str, int, str | None]],
    manifest_dists: dict[str, Any],
) -> None:
    if not jobs:
        return
    tag = run.env.python.cache_tag
    mine = sys.implementation.cache_tag
    if tag != mine:
        for path, (_src, _opt, dist) in sorted(jobs.items()):
            run.add(
                "pyc-unchecked",
                path,
                f"compiled for {tag}; traingate runs on {mine} and can only check its own "
                f"version's pycs (run traingate with the environment's Python)",
                dist=dist,
            )
        return
    results = pyc.check([(p, s, o) for p, (s, o, _d) in sorted(jobs.items())])
    for path, (src, _opt, dist) in sorted(jobs.items()):
        result, detail = results.get(path, ("error", "not checked"))
        if result == "match":
            if run.base is not None:
                run.add("pyc-recompiled", path, f"written since the baseline; matches {src}")
            continue
        kind = "pyc-mismatch" if result == "mismatch" else "pyc-unchecked"
        run.add(kind, path, f"{detail} ({src})", dist=dist)


def _pth(run: _Run, owner: dict[str, str], by_key: dict[str, scan.Distribution]) -> None:
    sites = list(run.env.site_packages)
    if run.env.user_site and os.path.isdir(run.env.user_site):
        sites.append(run.env.user_site)
    for site in sites:
        for name in sorted(os.listdir(site)):
            if not name.endswith(".pth"):
                continue
            path = os.path.join(site, name)
            got = run.digest(path)
            execs, _paths = scan.pth_lines(path)
            if run.known.get(path) is not None and run.known.get(path) == got:
                continue  # the baseline signer accepted exactly this file
            if path in run.allow:
                continue
            dist = owner.get(path)
            if not execs:
                if dist is None:
                    run.add("unowned", path, "a .pth file no RECORD owns (it adds import paths)")
                continue
            line = execs[0][:120]
            if dist is not None and run.base is None:
                # e.g. setuptools' distutils-precedence.pth: owned, hash-checked
                # against its RECORD above; listed so the snapshot's signer sees it.
                run.note(
                    "pth-exec",
                    path,
                    f"{by_key[dist].name} installs a .pth that runs code at every start: {line!r}",
                    dist,
                )
                continue
            run.add(
                "pth-exec",
                path,
                f"runs code at every interpreter start: {line!r}"
                + ("" if dist else " (no RECORD owns it)"),
                dist=dist,
            )


def _customize(run: _Run) -> dict[str, str]:
    found: dict[str, str] = {}
    for d in scan.search_dirs(run.env, run.pythonpath):
        for name in sorted(os.listdir(d)):
            stem = name.split(".")[0]
            if stem not in ("sitecustomize", "usercustomize"):
                continue
            path = os.path.join(d, name)
            if os.path.isdir(path):
                entries = scan.walk(path)
                h = hashlib.sha256()
                for e in entries:
                    h.update(e.encode() + b"\0" + (run.digest(e) or "").encode())
                got = h.hexdigest()
            else:
                got = run.digest(path) or ""
            found[path] = got
            if run.known.get(path) == got or path in run.allow:
                continue
            run.add(
                "customize",
                path,
                f"{stem} on the interpreter's path runs at every start (site.py imports it)",
            )
    return found


def _interpreter(run: _Run) -> dict[str, Any]:
    py = run.env.python
    info: dict[str, Any] = {"version": py.version, "cache_tag": py.cache_tag, "executable": None}
    if py.executable:
        real = os.path.realpath(py.executable)
        info["executable"] = real
        info["sha256"] = run.digest(real)
    if run.base is not None:
        want = run.base["environment"]["python"]
        for field_name in ("version", "executable", "sha256"):
            if want.get(field_name) != info.get(field_name):
                run.add(
                    "interpreter-changed",
                    str(info.get("executable") or py.executable or run.env.prefix),
                    f"interpreter {field_name} is {info.get(field_name)!r}, "
                    f"the baseline has {want.get(field_name)!r}",
                )
                break
    return info


def _extras(run: _Run, manifest_dists: dict[str, Any], customize: dict[str, str]) -> dict[str, Any]:
    """Files outside every RECORD that the baseline accepts: pycs that match
    their sources, and what the snapshot's --allow named."""
    owned = {p for d in manifest_dists.values() for p in d["files"]}
    extras: dict[str, Any] = {}
    bad = {f.path for f in run.findings if f.severity == "error"}
    for site in run.env.site_packages:
        if run.only:
            break  # a fast run does not see every file: it never writes a baseline
        for path in scan.walk(site):
            if path in owned or path in bad:
                continue
            got = run.digest(path)
            if got is None:
                continue
            if scan.pyc_source(path, run.env.python.cache_tag) is not None:
                extras[path] = {"sha256": got, "why": "pyc matching its source"}
            elif path in run.allow:
                extras[path] = {"sha256": got, "why": "allowed at snapshot"}
    for path, got in customize.items():
        if path in run.allow:
            extras[path] = {"sha256": got, "why": "allowed at snapshot"}
    return extras


def load_baseline(path: Path, allowed_signers: Path) -> dict[str, Any]:
    """The manifest of a signed baseline file, only when its signature verifies."""
    import json

    from traingate import sshsig
    from traingate.audit import canonical

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"baseline {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise BaselineError(f"baseline {path} is not readable JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("baseline"), dict):
        raise BaselineError(f"{path} is not a traingate environment baseline")
    manifest = doc["baseline"]
    signer, sig = doc.get("signer"), doc.get("signature")
    if not isinstance(signer, str) or not isinstance(sig, str):
        raise BaselineError(f"baseline {path} is not signed")
    if not sshsig.verify(canonical(manifest), sig, signer, allowed_signers, NAMESPACE):
        raise BaselineError(
            f"baseline {path}: the signature does not verify for {signer!r}",
            help="the baseline was edited after signing, or signed by a key not in "
            f"{allowed_signers} under that principal",
        )
    if manifest.get("type") != BASELINE_TYPE or manifest.get("version") != 1:
        raise BaselineError(f"baseline {path}: unknown type or version")
    for k in ("distributions", "extra_files", "environment"):
        if not isinstance(manifest.get(k), dict):
            raise BaselineError(f"baseline {path}: missing {k}")
    return dict(manifest)
