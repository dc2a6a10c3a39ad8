"""Real changes, release by release (issue #16: noise on real history).

    python bench/release_replay.py                  # fetch, build, check every release pair
    python bench/release_replay.py --only trl peft  # some packages
    python bench/release_replay.py --details DIR    # keep each JSON report in DIR
    python bench/release_replay.py --per-file --sample 40 --seed 21 --details DIR
    python bench/release_replay.py --per-file --flagged DIR --details DIR2  # the files a release finding names
    python bench/release_replay.py --per-file --files LIST --details DIR3   # `package older-newer path` lines
    python bench/release_replay.py --tabulate DIR/per-file.jsonl DIR2/per-file.jsonl  # re-judge, no re-run
    python bench/release_replay.py --per-file --flagged DIR --policy FILE --details DIR4  # a project's policy

The issue's replay of 1,176 real commits needs the code hosts, which this
machine cannot reach; the package registry it can. Each package below is a git
repository with one commit per published wheel (pinned by sha256; fetched with
pip, never installed or imported; the wheel's ``RECORD`` left out), and each
pair of consecutive releases is checked as one change:

    traingate check --base v<older> --head v<newer> --policy builtin:default --format json

on an empty cache. A release is the sum of the commits between two tags, so
this is a coarser and harder test than one commit at a time: every finding the
commits would have raised one by one is raised here at once, and a rewrite
spread over many commits is one change here. Printed per pair: files changed,
lines added, the gate's wall time and exit code, and the findings that block
or need an approval (by rule) apart from the policy's path rules
(sensitive paths such as training code, which a release touches by design); judge them with the verdicts in
``bench/fp_verdicts.json`` (docs/security/false-positives.md).

``--per-file`` is a closer proxy for ordinary commits: every file a release
pair changes (added, modified or deleted; the wheel's ``*.dist-info/`` left
out, which no source commit touches) becomes its own one-file change, a real
commit on top of the older release's tree, checked the same way. ``--sample N
--seed S`` checks N of them per package (the full set is slow on a shared
machine); ``--flagged`` and ``--files`` check chosen ones (a census of a
cause: their shares are not a sample's, only counts). The checks of one package share a result cache: it is keyed by
content (src/traingate/cache.py), so it changes the time, not the findings.
Each one-file change is written to ``DIR/per-file.jsonl``; the table joins its
security findings with ``bench/replay_verdicts.json`` (``want`` / ``dismiss``)
and counts the one-file changes blocked only by findings a reviewer would
dismiss. Still not a commit: a wheel has no tests, docs or CI files, and one
file of a release may hold several commits' edits.

``--policy FILE`` checks with a project policy instead of the bare default
(``extends: builtin:default`` lays it over the default, as a project's
``.traingate.yaml`` would): e.g. the ``via:`` exemptions a project's security
team writes after reviewing a helper (issue #16). A finding an exemption
quiets is counted as not blocking, and ``matched`` per exemption is kept.

transformers is left out: its releases change thousands of files each.
Outside the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

# The bench scripts run from bench/: its git and log helpers are fp_configs'.
from fp_configs import _GIT_ENV, git, log

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "replay"
# package -> consecutive releases (version, sha256 of the py3-none-any wheel)
RELEASES: dict[str, list[tuple[str, str]]] = {
    "trl": [
        ("1.12.0", "9c8f117b21a941edbc85744f5a341c9453d38e81f24ae81d3c6e9b9ca3b96409"),
        ("1.13.0", "7c7ae0c72e969450221cf4c7cfe69c532c5a83c727204f1c8ced38a9b79134ec"),
        ("1.14.0", "10059306c0efc6a2c32b17bc28363bb1c7b186a820d0e34e1fbd8b2aac80c22c"),
        ("1.14.1", "ae406a3ca113f23da33f297b4a067d7b25aa658ab9e5b226d36e775a55d9dfe5"),
        ("1.14.2", "bd97adb0284f2520ae8c5ebf243e2e4b3cbe50f09cb5964547e38dfc1d37694e"),
        ("1.15.0", "9c9a4b68a184a0b6425293e9b152950f817af686f3758f70191fff4ded1391c7"),
        ("1.16.0", "c4726e139dd40e1a41661511c639c8a68416782b2e3e8c0befebd77bb7ba0396"),
    ],
    "peft": [
        ("0.18.0", "624f69ca6393b765ccc6734adda7ca57d80b238f0900a42c357d8b67a03d62ff"),
        ("0.18.1", "0bf06847a3551e3019fc58c440cffc9a6b73e6e2962c95b52e224f77bbdb50f1"),
        ("0.19.0", "7feca0f07bee9101807c7fd4601353d91161ea9e1f450150ee7859b2354c7690"),
        ("0.19.1", "2113f72a81621b5913ef28f9022204c742df111890c5f49d812716a4a301e356"),
        ("0.20.0", "0fbba16ffebfad3de96e06f2da6860fd860292324b85b6141909fa1e26ea9233"),
        ("0.21.0", "b64eb75fd9dece7401c70e675b8d9de024993b70483691b41c62876f0c7809b7"),
        ("0.21.1", "6b99d659a33acc17295c0838f1e58267337b8c30ac9aef0c8f2d48364d3f24e2"),
        ("0.21.2", "106ab6077ff72c54d21577f9af5970e34bac7582cb14209f7b2b511e322a4eae"),
    ],
    "accelerate": [
        ("1.10.1", "3621cff60b9a27ce798857ece05e2b9f56fcc71631cfb31ccf71f0359c311f11"),
        ("1.11.0", "a628fa6beb069b8e549460fc449135d5bd8d73e7a11fd09f0bc9fc4ace7f06f1"),
        ("1.12.0", "3e2091cd341423207e2f084a6654b1efcd250dc326f2a37d6dde446e07cabb11"),
        ("1.13.0", "cf1a3efb96c18f7b152eb0fa7490f3710b19c3f395699358f08decca2b8b62e0"),
        ("1.14.0", "e94390c2863b873be18f623f9df48a0d8fe5eff13ea7f1a00092b0a7904888c6"),
        ("1.15.0", "97eacca0b73e45cb867dbf8c5d5d4dc32219544300e0c8992c7334dc2ef33cec"),
    ],
    "torchtune": [
        ("0.3.1", "b409f2bb180ed444d50e2600c854654a8954dbfab9d655cf1461eeedf6a74094"),
        ("0.4.0", "557c7eef38223368c368ae9f82990fcadfc65b7371b5480e823a98f2a441b49e"),
        ("0.5.0", "4b16e6a0b97f1c50455510cbf869628f50f3c72147277af3b791718212ada25c"),
        ("0.6.0", "7ee65f826af35789e86c6aa15e7000be7c4c69d1555bdc6a274c4275bbded5c7"),
        ("0.6.1", "bcbc4ee9774b5c5829a5ff13df851e0b0e32416c018af8db53faa3472ac256e7"),
    ],
    "litgpt": [
        ("0.5.8", "398fd49e6ac98b5874d9fb27c87fdf144b6cc42e429120b2136dbf87064c1ba0"),
        ("0.5.9", "db94a4c52f613b9f834b348448318042e15a06ae99156298774fca4f263fa6fa"),
        ("0.5.10", "e720fc1955dd768d2e8a81720a8573cdcd93f44f9968fd441794b7ca066adb8d"),
        ("0.5.11", "0b28190c3825daa0086c2f40753df726eb3b3427e66f6f1ae2081d4f54755f1d"),
        ("0.5.12", "e4f6ba212e977191b5ec3166b5e2b4eb19596e99dd288ba1dd3f590cec80c53f"),
        ("0.5.13", "da044b76c52cd44fc0564f6177ed6cf186dde24f711ce8e71e1fd9e9da5f02b2"),
    ],
    "timm": [
        ("1.0.26", "985c330de5ccc3a2aa0224eb7272e6a336084702390bb7e3801f3c91603d3683"),
        ("1.0.27", "5ff07c9ddf53cbada88eab1c93ff175c64cab683b5a2fddf863bcee985926f89"),
        ("1.0.28", "e577b88da96b3a722ea5e2f042455ce6f715d398304d8e63b17d126ed7d89968"),
        ("1.0.29", "4266486e355c9beb9432e689de580d09e2efe7fa92a9a79e76c03e7763eac724"),
        ("1.0.30", "c8e27adf6801a2fdfb570dbbdd171f2f084756eefc673df8cfaab06bd14864f3"),
        ("1.0.31", "5bd50f7d0fe6d09bf9285ac2523234a1b7e6bf075c0be3e7aed09139fcb617c7"),
    ],
}
GATED = ("block", "require_approval")
# Approvals the default policy asks for config keys (its `approval_keys`, the
# ml-reviewers' call), not security findings: counted apart, as in the
# release table (docs/security/false-positives.md, issue #16).
POLICY_RULES = frozenset({"config-key-change"})
VERDICTS = HERE / "replay_verdicts.json"


def wheel(dl: Path, name: str, ver: str, sha: str) -> Path:
    path = dl / f"{name}-{ver}-py3-none-any.whl"
    if not path.exists():
        log(f"pip download {name}=={ver}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            + ["--only-binary=:all:", "-d", str(dl), f"{name}=={ver}"],
            check=True,
        )
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != sha:
        raise SystemExit(f"{path.name}: sha256 {got}, pinned {sha}")
    return path


def build(name: str, dl: Path, repo: Path) -> None:
    """One commit per release, tagged ``v<version>``; rebuilt only when missing."""
    versions = RELEASES[name]
    if repo.exists():
        tags = set(git(repo, "tag").split())
        if tags >= {f"v{v}" for v, _ in versions}:
            return
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for ver, sha in versions:
        for child in repo.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        with zipfile.ZipFile(wheel(dl, name, ver, sha)) as z:
            for member in z.namelist():
                if member.endswith(("/", ".dist-info/RECORD")) or ".." in member.split("/"):
                    continue
                dest = repo / member
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(member))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", f"{name} {ver}")
        git(repo, "tag", f"v{ver}")


def diffstat(repo: Path, a: str, b: str) -> tuple[int, int]:
    files = added = 0
    for line in git(repo, "diff", "--numstat", "--no-renames", a, b).splitlines():
        plus, _minus, _path = line.split("\t", 2)
        files += 1
        added += int(plus) if plus.isdigit() else 0
    return files, added


def check(
    repo: Path, a: str, b: str, out: Path, policy: str = "builtin:default"
) -> tuple[dict[str, Any], float, int]:
    cache = out.parent / f".cache-{out.stem}"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, "-m", "traingate", "check", "--base", a, "--head", b]
    cmd += ["--policy", policy]
    cmd += ["--format", "json", "-o", str(out), "--cache-dir", str(cache)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    wall = time.monotonic() - started
    shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{repo.name} {a}..{b}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc, wall, proc.returncode


def one_file_changes(repo: Path, a: str, b: str) -> list[tuple[str, str]]:
    """(status, path) of every file v<a>..v<b> adds, modifies or deletes."""
    out = git(repo, "diff", "--name-status", "--no-renames", "-z", f"v{a}", f"v{b}")
    parts = out.split("\0")[:-1]
    pairs = zip(parts[::2], parts[1::2], strict=True)
    return [(st, path) for st, path in pairs if ".dist-info/" not in path]


def one_file_commit(repo: Path, a: str, b: str, status: str, path: str, index: Path) -> str:
    """A commit on v<a> whose only change is ``path`` as v<b> has it (or its deletion)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _GIT_ENV
    env["GIT_INDEX_FILE"] = str(index)

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
        ).stdout

    run("read-tree", f"v{a}")
    if status == "D":
        run("update-index", "--force-remove", "--", path)
    else:
        meta, _name = run("ls-tree", "-z", f"v{b}", "--", path).split("\t", 1)
        mode, _kind, oid = meta.split()
        run("update-index", "--add", "--cacheinfo", f"{mode},{oid},{path}")
    tree = run("write-tree").strip()
    return run("commit-tree", tree, "-p", f"v{a}", "-m", f"{path} as in {b}").strip()


def check_one(
    repo: Path, base: str, head: str, cache: Path, out: Path, policy: str = "builtin:default"
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "traingate", "check", "--base", base, "--head", head]
    cmd += ["--policy", policy, "--format", "json", "-o", str(out)]
    cmd += ["--cache-dir", str(cache)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    rec: dict[str, Any] = {"exit": proc.returncode, "wall": round(time.monotonic() - started, 2)}
    # Fail closed: a run that did not decide (exit 2+, no report) is counted as
    # an error row of its own, never as a pass.
    if proc.returncode not in (0, 1) or not out.exists():
        rec["error"] = proc.stderr[-2000:]
        return rec
    doc = json.loads(out.read_text(encoding="utf-8"))
    rec["errors"] = doc.get("errors") or []
    rec["requirements"] = sorted({r["name"] for r in doc.get("requirements") or []})
    rec["gated"] = [
        {k: f.get(k) for k in ("rule_id", "check", "path", "line", "outcome", "message")}
        for f in doc["findings"]
        if gates(f)
    ]
    # What each exemption of a project policy (--policy) quieted (issue #16: via).
    used = [e for e in doc.get("exemptions") or [] if e["matched"]]
    if used:
        rec["exempted"] = [{k: e.get(k) for k in ("rule", "via", "matched")} for e in used]
    return rec


def gates(f: dict[str, Any]) -> bool:
    """Blocks or needs an approval, and no exemption of the policy quiets it."""
    return f["outcome"] in GATED and not f.get("exempted")


def flagged_files(reports: Path) -> set[tuple[str, str, str]]:
    """(package, change, path) of every file a security finding of a release
    report (``--details`` of a release run) points at."""
    out = set()
    for report in sorted(reports.glob("*.json")):
        name, a, b = report.stem.split("-")
        for f in json.loads(report.read_text(encoding="utf-8"))["findings"]:
            if gates(f) and f["rule_id"] not in POLICY_RULES:
                out.add((name, f"{a}-{b}", f["path"]))
    return out


def per_file(
    names: list[str],
    outdir: Path,
    sample: int | None,
    seed: int,
    only: set[tuple[str, str, str]] | None = None,
    policy: str = "builtin:default",
) -> Path:
    """Check every (or a sample of N per package, or ``only`` these) one-file
    change; return the JSONL."""
    jsonl = outdir / "per-file.jsonl"
    work = outdir / "per-file"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = random.Random(seed)
    with jsonl.open("w", encoding="utf-8") as fh:
        for name in names:
            repo = CACHE / name / "repo"
            build(name, CACHE / "dl", repo)
            vers = [v for v, _ in RELEASES[name]]
            todo = [
                (a, b, st, path)
                for a, b in itertools.pairwise(vers)
                for st, path in one_file_changes(repo, a, b)
            ]
            total = len(todo)
            if only is not None:
                todo = [t for t in todo if (name, f"{t[0]}-{t[1]}", t[3]) in only]
            elif sample is not None and sample < total:
                todo = sorted(rng.sample(todo, sample), key=lambda t: (vers.index(t[0]), t[3]))
            cache = work / f".cache-{name}"
            for i, (a, b, st, path) in enumerate(todo):
                head = one_file_commit(repo, a, b, st, path, work / "index")
                out = work / f"{name}-{i}.json"
                rec = {"package": name, "change": f"{a}-{b}", "status": st, "path": path}
                rec |= {"of": total} | check_one(repo, f"v{a}", head, cache, out, policy)
                if not rec.get("gated") and "error" not in rec:
                    out.unlink()  # keep the reports worth reading only
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                log(f"{name} {a}->{b} {st} {path}: exit {rec['exit']} {rec['wall']} s")
            shutil.rmtree(cache, ignore_errors=True)
    return jsonl


def verdict_of(f: dict[str, Any], rec: dict[str, Any], verdicts: list[dict[str, Any]]) -> str:
    """The first verdict for the finding's package and rule whose optional
    ``path``, ``line``, ``change`` and ``contains`` (a piece of the message,
    such as the chain of a reach finding: one verdict for every model file that
    calls timm's builder) also match; ``unjudged`` when none does."""
    for v in verdicts:
        if (v["package"], v["rule"]) != (rec["package"], f["rule_id"]):
            continue
        got = {"path": f["path"], "line": f["line"], "change": rec["change"]}
        if any(v.get(k) not in (None, val) for k, val in got.items()):
            continue
        if v.get("contains") is not None and v["contains"] not in (f.get("message") or ""):
            continue
        return str(v["verdict"])
    return "unjudged"


def tabulate(jsonls: list[Path], verdicts_path: Path) -> None:
    verdicts: list[dict[str, Any]] = json.loads(verdicts_path.read_text(encoding="utf-8"))
    for v in verdicts:
        if v["verdict"] not in ("want", "dismiss") or not v.get("reason"):
            raise SystemExit(
                f"{verdicts_path}: {v}: verdict must be want or dismiss, with a reason"
            )
    # Several runs (other packages, other seeds) may be tabulated together; a
    # one-file change checked twice counts once.
    recs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in jsonls:
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            recs.setdefault((rec["package"], rec["change"], rec["path"]), rec)
    per_pkg: dict[str, Counter[str]] = {}
    per_rule: dict[str, Counter[str]] = {}
    unjudged: Counter[tuple[str, str, str, int, str]] = Counter()
    for rec in recs.values():
        c = per_pkg.setdefault(rec["package"], Counter())
        c["checked"] += 1
        c["of"] = rec["of"]
        c["exempted"] += bool(rec.get("exempted"))
        if "error" in rec or rec.get("errors"):
            c["error"] += 1
            continue
        sec = [f for f in rec["gated"] if f["rule_id"] not in POLICY_RULES]
        words = [verdict_of(f, rec, verdicts) for f in sec]
        c["policy"] += bool(len(sec) < len(rec["gated"]))
        c["paths"] += bool(rec["requirements"])
        if not sec:
            continue
        c["blocked"] += 1
        # A change is wanted when any of its findings is; dismissible only
        # when every one is dismissed; otherwise still to judge.
        c["want" if "want" in words else "unjudged" if "unjudged" in words else "dismiss"] += 1
        rules_here: dict[str, Counter[str]] = {}
        for f, w in zip(sec, words, strict=True):
            rules_here.setdefault(f["rule_id"], Counter())[w] += 1
            if w == "unjudged":
                msg = (f.get("message") or "")[:240]
                unjudged[(rec["package"], f["rule_id"], f["path"], f["line"] or 0, msg)] += 1
        for rule, got in rules_here.items():
            r = per_rule.setdefault(rule, Counter())
            r["changes"] += 1
            r.update(got)
    print(
        "| package | one-file changes | checked | errors | blocked by a security finding "
        "| want | dismiss | unjudged | dismissible share | policy key approvals | path approvals |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    tot: Counter[str] = Counter()
    for name, c in per_pkg.items():
        tot.update(c)
        print(_row(name, c))
    if len(per_pkg) > 1:
        print(_row("all", tot))
    # A sample draws the same number from each package, so the pooled share
    # over-weights the small ones: weight each package's share by its size.
    # Both figures mean something for a --sample run only, not a census.
    est = sum(c["of"] * c["dismiss"] / c["checked"] for c in per_pkg.values() if c["checked"])
    lo, hi = _wilson(tot["dismiss"], tot["checked"])
    print(
        f"\nDismissible blocks: {tot['dismiss']} of {tot['checked']} one-file changes "
        f"(95% interval {lo:.1%}-{hi:.1%}); if a sample, weighted by package size "
        f"{est / tot['of'] if tot['of'] else 0.0:.1%} of all {tot['of']}."
    )
    if tot["exempted"]:
        print(
            f"A finding quieted by an exemption of the policy: {tot['exempted']} one-file changes."
        )
    print("\n| rule | one-file changes | findings | want | dismiss | unjudged |")
    print("|---|---|---|---|---|---|")
    for rule, r in sorted(per_rule.items(), key=lambda kv: (-kv[1]["changes"], kv[0])):
        n = r["want"] + r["dismiss"] + r["unjudged"]
        print(
            f"| `{rule}` | {r['changes']} | {n} | {r['want']} | {r['dismiss']} | {r['unjudged']} |"
        )
    if unjudged:
        print("\nNot judged yet (add to the verdicts file):")
        for (pkg, rule, path, line, msg), n in sorted(unjudged.items()):
            print(f"- {pkg} `{rule}` {path}:{line} ({n}x): {msg}")


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of k successes in n draws (sound at k = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def _row(name: str, c: Counter[str]) -> str:
    share = c["dismiss"] / c["checked"] if c["checked"] else 0.0
    return (
        f"| {name} | {c['of']} | {c['checked']} | {c['error']} | {c['blocked']} | {c['want']} "
        f"| {c['dismiss']} | {c['unjudged']} | {share:.1%} | {c['policy']} | {c['paths']} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--only", nargs="+", choices=sorted(RELEASES), help="these packages only")
    ap.add_argument("--details", type=Path, help="keep the JSON reports in this directory")
    ap.add_argument("--per-file", action="store_true", help="one change per changed file")
    ap.add_argument("--sample", type=int, help="--per-file: this many one-file changes per package")
    ap.add_argument("--seed", type=int, default=21, help="--sample's seed (default 21)")
    ap.add_argument(
        "--flagged",
        type=Path,
        metavar="DIR",
        help="--per-file: only the files a security finding of the release reports in DIR names",
    )
    ap.add_argument(
        "--files",
        type=Path,
        metavar="FILE",
        help="--per-file: only these one-file changes, one `package older-newer path` a line",
    )
    ap.add_argument("--tabulate", type=Path, nargs="+", help="only tabulate these per-file.jsonl")
    ap.add_argument("--verdicts", type=Path, default=VERDICTS, help="per-file verdicts JSON")
    ap.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="check with this project policy (extends: builtin:default) instead of the default",
    )
    args = ap.parse_args(argv)
    policy = str(args.policy.resolve()) if args.policy else "builtin:default"
    if args.tabulate:
        tabulate(args.tabulate, args.verdicts)
        return 0
    outdir = (args.details or CACHE / "reports").resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if args.per_file:
        only = flagged_files(args.flagged) if args.flagged else None
        if args.files:
            lines = args.files.read_text(encoding="utf-8").split("\n")
            listed = {(n, c, p) for n, c, p in (ln.split(" ", 2) for ln in lines if ln.strip())}
            only = (only or set()) | listed
        jsonl = per_file(args.only or list(RELEASES), outdir, args.sample, args.seed, only, policy)
        tabulate([jsonl], args.verdicts)
        return 0
    print(
        "| package | change | files | lines added | wall s | exit | approvals asked (policy rules) | findings that block or need approval |"
    )
    print("|---|---|---|---|---|---|---|---|")
    totals: Counter[str] = Counter()
    pairs = blocked = lines = 0
    for name in args.only or list(RELEASES):
        repo = CACHE / name / "repo"
        build(name, CACHE / "dl", repo)
        vers = [v for v, _ in RELEASES[name]]
        for a, b in itertools.pairwise(vers):
            files, added = diffstat(repo, f"v{a}", f"v{b}")
            out = outdir / f"{name}-{a}-{b}.json"
            doc, wall, code = check(repo, f"v{a}", f"v{b}", out, policy)
            gated = Counter(f["rule_id"] for f in doc["findings"] if gates(f))
            totals.update(gated)
            pairs, lines = pairs + 1, lines + added
            blocked += bool(gated)
            shown = ", ".join(f"`{r}` {n}" for r, n in gated.most_common()) or "none"
            paths = ", ".join(sorted({r["name"] for r in doc.get("requirements") or []})) or "none"
            print(
                f"| {name} | {a} → {b} | {files} | {added:,} | {wall:.1f} | {code} | {paths} "
                f"| {shown} |"
            )
            sys.stdout.flush()
    print(f"\n{pairs} release changes, {lines:,} lines added; {blocked} with a blocking or")
    print(f"approval finding; {sum(totals.values())} such findings in all:")
    for rule, n in totals.most_common():
        print(f"- `{rule}`: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
