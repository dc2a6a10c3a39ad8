"""False positives on real recipe configs (issue #16): scan, add, change.

    python bench/fp_configs.py                 # fetch, build the repo, run the three gates
    python bench/fp_configs.py --details DIR   # also keep the three JSON reports in DIR

The published wheels of the training libraries carry little YAML, and their
sdists less; these do ship real configs (fetched with pip, pinned by sha256,
never installed or imported; only the config files are extracted):

- torchtune 0.6.1 (wheel; no sdist is published): 156 fine-tuning recipes,
  ``recipes/configs/**.yaml``;
- trl 1.16.0 (wheel): its accelerate launch configs;
- lm-eval 0.4.13 (sdist): ~14,000 evaluation task configs, ``lm_eval/tasks``.

(litgpt 0.5.13, torchtitan 0.3.0 and llm-foundry 0.22.0 sdists were checked:
no recipe files; axolotl publishes no sdist of 0.21.0.)

The files go into a git repository under ``bench/.cache/configs/repo`` in
three commits: ``base`` (a README), ``added`` (every config file added) and
``changed`` (one numeric value changed in every YAML file that has one). Then,
with ``--policy builtin:default``:

1. ``traingate scan`` of the whole tree;
2. ``traingate check --base base --head added``: each config added by a change;
3. ``traingate check --base added --head changed``: a value changed in each.

Printed: lines, findings that block or need an approval per rule and per
10,000 config lines, for each run (judge them with ``bench/fp_verdicts.py``).
Outside the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "configs"
# (name, version, sha256, "wheel" | "sdist", config path prefixes inside the archive)
SOURCES = [
    (
        "torchtune",
        "0.6.1",
        "bcbc4ee9774b5c5829a5ff13df851e0b0e32416c018af8db53faa3472ac256e7",
        "wheel",
        ("recipes/configs/",),
    ),
    (
        "trl",
        "1.16.0",
        "c4726e139dd40e1a41661511c639c8a68416782b2e3e8c0befebd77bb7ba0396",
        "wheel",
        ("trl/accelerate_configs/",),
    ),
    (
        "lm-eval",
        "0.4.13",
        "f592269f21a5e173d7993ae01267f61fc84be393cee1f51779e3e104a70c967e",
        "sdist",
        ("lm_eval-0.4.13/lm_eval/tasks/",),
    ),
]
CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
GATED = ("block", "require_approval")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
# The first plain numeric scalar of a YAML mapping line: `lr: 2e-5`, `epochs: 3`.
_NUMBER = re.compile(
    r"^(\s*[\w.\-]+:\s*)(-?\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?)(\s*(?:#.*)?)$", re.M
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _norm(filename: str) -> str:
    return filename.lower().replace("-", "_").replace(".tar.gz", "_")


def fetch(dl: Path) -> dict[str, Path]:
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, ver, sha, kind, _prefixes in SOURCES:
        stem = f"{name}-{ver}-".replace("-", "_")  # lm-eval's sdist is lm_eval-0.4.13.tar.gz

        def hits(stem: str = stem) -> list[Path]:
            return [p for p in sorted(dl.iterdir()) if _norm(p.name).startswith(stem)]

        if not hits():
            log(f"pip download {name}=={ver} ({kind})")
            binary = ["--only-binary=:all:"] if kind == "wheel" else ["--no-binary", ":all:"]
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *binary]
                + ["-d", str(dl), f"{name}=={ver}"],
                check=True,
            )
        out[name] = pinned(hits(), f"archive for {name}=={ver} in {dl}", sha)
    return out


def pinned(found: list[Path], what: str, sha: str) -> Path:
    """The one downloaded file, if its sha256 is the pinned one (else exit)."""
    if len(found) != 1:
        raise SystemExit(f"expected one {what}, found {found}")
    got = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if got != sha:
        raise SystemExit(f"{found[0].name}: sha256 {got}, pinned {sha}")
    return found[0]


def members(archive: Path) -> list[tuple[str, bytes]]:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return [(n, z.read(n)) for n in z.namelist() if not n.endswith("/")]
    out = []
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.isfile():
                fh = t.extractfile(m)
                if fh is not None:
                    out.append((m.name, fh.read()))
    return out


def extract(archives: dict[str, Path], tree: Path) -> int:
    """Config files only, each under ``<package>/<path after the prefix's parent>``."""
    n = 0
    for name, _ver, _sha, _kind, prefixes in SOURCES:
        for member, data in members(archives[name]):
            if not member.endswith(CONFIG_SUFFIXES) or ".." in member.split("/"):
                continue
            if not any(member.startswith(p) for p in prefixes):
                continue
            rel = member.split("/", 1)[1] if name == "lm-eval" else member
            dest = tree / name / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            n += 1
    return n


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _GIT_ENV
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def bump(text: str) -> str | None:
    """``text`` with its first numeric scalar's last digit changed, or None."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    num = m.group(2)
    last = len(num) - 1
    new = num[:last] + str((int(num[last]) + 1) % 10)
    return text[: m.start(2)] + new + text[m.end(2) :]


def build(archives: dict[str, Path], repo: Path) -> dict[str, int]:
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("Recipe configs of published training libraries (issue #16).\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "branch", "base")
    files = extract(archives, repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "added")
    git(repo, "branch", "added")
    changed = 0
    for p in sorted(repo.rglob("*")):
        if p.suffix in (".yaml", ".yml") and ".git" not in p.parts:
            new = bump(p.read_text(encoding="utf-8", errors="surrogateescape"))
            if new is not None:
                p.write_text(new, encoding="utf-8", errors="surrogateescape")
                changed += 1
    git(repo, "commit", "-q", "-am", "changed")
    git(repo, "branch", "changed")
    lines = sum(
        len(p.read_bytes().splitlines())
        for p in repo.rglob("*")
        if p.is_file() and p.suffix in CONFIG_SUFFIXES and ".git" not in p.parts
    )
    return {"files": files, "lines": lines, "changed_files": changed}


def run_gate(repo: Path, args: list[str], out: Path) -> dict[str, Any]:
    cache = out.parent / f".cache-{out.stem}"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = ["traingate", *args, "--policy", "builtin:default", "--format", "json", "-o", str(out)]
    cmd += ["--cache-dir", str(cache)]
    log(" ".join(cmd))
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def summary(name: str, doc: dict[str, Any], lines: int) -> str:
    gated = [f for f in doc["findings"] if f["outcome"] in GATED]
    per = Counter(f["rule_id"] for f in gated)
    warn = sum(1 for f in doc["findings"] if f["outcome"] == "warn")
    reqs = len(doc.get("requirements") or [])
    rows = [
        f"### {name}: {len(gated)} blocking or approval ({len(gated) * 10_000 / lines:.2f} per "
        f"10,000 lines), {warn} warnings, {reqs} path requirements, decision {doc['decision']}",
        "",
        "| rule | blocking or approval | per 10,000 lines |",
        "|---|---|---|",
    ]
    rows += [f"| `{r}` | {n} | {n * 10_000 / lines:.2f} |" for r, n in per.most_common()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--details", type=Path, help="keep the JSON reports in this directory")
    args = ap.parse_args(argv)
    archives = fetch(CACHE / "dl")
    repo = CACHE / "repo"
    stats = build(archives, repo)
    log(json.dumps(stats))
    outdir = args.details or CACHE / "reports"
    outdir.mkdir(parents=True, exist_ok=True)
    outdir = outdir.resolve()
    runs = [
        ("scan", ["scan", "."]),
        ("added", ["check", "--repo", ".", "--base", "base", "--head", "added"]),
        ("changed", ["check", "--repo", ".", "--base", "added", "--head", "changed"]),
    ]
    print(
        f"{stats['files']} config files, {stats['lines']:,} lines; "
        f"{stats['changed_files']} YAML files with a value changed\n"
    )
    for name, gate_args in runs:
        doc = run_gate(repo, gate_args, outdir / f"{name}.json")
        print(summary(name, doc, stats["lines"]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
