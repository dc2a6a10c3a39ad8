"""False positives on real non-Python surfaces (issue #16): shell, Makefile,
Dockerfile, SLURM, Kubernetes and CI YAML, templates, notebooks.

    python bench/fp_surfaces.py                  # fetch, build the repo, scan, tabulate
    python bench/fp_surfaces.py --details DIR    # also keep the JSON report in DIR
    python bench/fp_surfaces.py --report R.json  # tabulate an existing report only

The wheel corpus (bench/large.py) and the config corpus (bench/fp_configs.py)
hold no shell script, Makefile, Dockerfile, notebook, SLURM or Kubernetes
file, so the benign side of the rules for those surfaces rested on look-alikes
we wrote. These sdists ship them (fetched with pip, pinned by sha256, never
built, installed or imported; only the surfaces are extracted, no ``.py``):

- espnet 202611: the speech toolkit's training recipes, ``egs2/**/run.sh``,
  the Kaldi-style ``asr.sh``/``tts.sh`` stage scripts, ``path.sh``/``cmd.sh``,
  ``utils/`` and ``tools/`` installers, ``docker/*.dockerfile``, Makefiles,
  CI workflows, ``conf/*.yaml`` training configs;
- skypilot 0.14.1: a launcher of training jobs on Kubernetes and SLURM:
  Kubernetes manifests, Jinja templates of cluster YAML and shell,
  Dockerfiles, setup scripts;
- torchx 0.7.0: PyTorch's job launcher: its Dockerfiles.

(Surveyed and not used, no such files in the sdist: accelerate 1.16.0,
deepspeed 0.19.8 (only ``bin/`` launchers), lightning 2.6.6, litgpt 0.5.13,
llm-foundry 0.22.0, megatron-core 0.16.1, mosaicml 0.32.1, peft 0.21.2,
torchtitan 0.3.0, transformers 5.25.0, trl 1.16.0, colossalai 0.5.0,
nemo-toolkit 3.0.0, horovod 0.28.1, openai-whisper, captum, torchgeo;
ludwig 0.17.10 ships one Dockerfile. None of them ships a notebook.)

The files go into one git commit under ``bench/.cache/surfaces/repo``
(``<package>/<path in the sdist>``); ``traingate scan .`` runs with
``--policy builtin:default`` on an empty cache. Printed: lines and files per
surface kind, findings that block or need an approval per rule and per kind
(per 10,000 lines), the fail-closed findings on these valid files
(``config-parse-error``, ``source-unreadable``, ...), and the join with the
verdicts in ``bench/fp_surfaces_verdicts.json`` (want / dismiss, with a
reason; same shape as ``fp_verdicts.json``). Outside the test suite.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fp_configs import pinned

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "surfaces"
VERDICTS = HERE / "fp_surfaces_verdicts.json"
# Config files are taken only from the first three: lm-eval's ~14,000 task
# configs are bench/fp_configs.py's corpus already.
_ALL = None
_NO_CONFIGS = frozenset({"shell", "slurm", "makefile", "dockerfile", "notebook", "template"})
# (name, version, sha256, "sdist" | "wheel", kinds taken) -- pinned 2026-12-05.
SOURCES = [
    (
        "espnet",
        "202611",
        "eb5816c4d2e4a18eaa2afacc2f8cf74f93e5534dec0fdcee0b2c89b6f7ddd1fd",
        "sdist",
        _ALL,
    ),
    (
        "skypilot",
        "0.14.1",
        "60c6d38e68999d67f9294f87e30808787caad682bd93274136a261f3606fac8d",
        "sdist",
        _ALL,
    ),
    (
        "torchx",
        "0.7.0",
        "933b800849c69ddff9feda931f0ae2c4083638eafc73abfdf361158667c68ad6",
        "sdist",
        _ALL,
    ),
    (
        "lm-eval",
        "0.4.13",
        "f592269f21a5e173d7993ae01267f61fc84be393cee1f51779e3e104a70c967e",
        "sdist",
        _NO_CONFIGS,
    ),
    (
        "mmsegmentation",
        "1.2.2",
        "dadf62bba00a65947d71b08471bc1fe2fee8e2d6eb740381eecd03991e204b47",
        "wheel",
        _NO_CONFIGS,
    ),
    (
        "mmpretrain",
        "1.2.0",
        "96156327c509cbf17fdc5867f7bc89142df6f63be38ecd67e91b41dc5e538933",
        "wheel",
        _NO_CONFIGS,
    ),
]
GATED = ("block", "require_approval")
# Fail-closed findings: on a valid published file each one is a false positive.
FAIL_CLOSED = (
    "config-parse-error",
    "source-unreadable",
    "semgrep-parse-error",
    "semgrep-incomplete",
    "semgrep-skipped",
    "check-error",
)
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
_SH_EXT = (".sh", ".bash", ".zsh", ".ksh")
_SLURM_EXT = (".sbatch", ".slurm", ".pbs", ".lsf", ".qsub")
_TEMPLATE_EXT = (".j2", ".jinja", ".jinja2", ".tmpl", ".tpl", ".template")
_CONFIG_EXT = (".yaml", ".yml", ".json", ".toml")
_SHEBANG = re.compile(rb"^#![^\n]*\b(bash|sh|zsh|ksh|dash)\b")
# A job script (#SBATCH directives) or a launcher that starts its job with srun/sbatch.
_SLURM = re.compile(rb"(?m)^#SBATCH\s|^\s*(?:\S+=\S*\s+)*(?:srun|sbatch)\s")
_K8S = re.compile(rb"(?m)^apiVersion:\s*\S+")
_K8S_KIND = re.compile(rb"(?m)^kind:\s*\S+")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def kind_of(path: str, data: bytes) -> str | None:
    """The surface a file is, as this measurement counts it, or None (not a surface)."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".py") or name.endswith(".pyc"):
        return None
    if name.endswith(_TEMPLATE_EXT):
        return "template"
    if name in ("makefile", "gnumakefile") or name.endswith(".mk"):
        return "makefile"
    if "dockerfile" in name or "containerfile" in name:
        return None if name.endswith((".md", ".txt", ".rst", ".dockerignore")) else "dockerfile"
    if name.endswith((".ipynb", ".ipy")):
        return "notebook"
    if name.endswith(_SLURM_EXT) or (
        (name.endswith(_SH_EXT) or _SHEBANG.match(data)) and _SLURM.search(data)
    ):
        return "slurm"
    if name.endswith(_SH_EXT) or ("." not in name and _SHEBANG.match(data)):
        return "shell"
    if name.endswith(_CONFIG_EXT):
        if "/.github/workflows/" in f"/{path}" or name in (".gitlab-ci.yml", ".mergify.yml"):
            return "ci-yaml"
        if _K8S.search(data) and _K8S_KIND.search(data):
            return "kubernetes"
        return "config"
    return None


def fetch(dl: Path) -> dict[str, Path]:
    """The pinned sdists: pip first; when pip cannot prepare the sdist's metadata
    (a setup.py importing torch), the same file from PyPI's JSON API."""
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, ver, sha, kind, _kinds in SOURCES:
        stem = f"{name}-{ver}".replace("-", "_").lower()
        suffix = ".tar.gz" if kind == "sdist" else ".whl"

        def hits(stem: str = stem, suffix: str = suffix) -> list[Path]:
            # name_version.tar.gz, or name_version_<tags>.whl once "-" is "_".
            want = stem + (suffix if suffix == ".tar.gz" else "_")
            return [
                p
                for p in sorted(dl.iterdir())
                if p.name.endswith(suffix) and p.name.replace("-", "_").lower().startswith(want)
            ]

        if not hits():
            log(f"pip download {name}=={ver} ({kind})")
            binary = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary=:all:"]
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *binary]
                + ["-d", str(dl), f"{name}=={ver}"],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0 and not hits():
                log(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "pip failed")
                _from_json_api(name, ver, dl)
        out[name] = pinned(hits(), f"{kind} of {name}=={ver} in {dl}", sha)
    return out


def _from_json_api(name: str, ver: str, dl: Path) -> None:
    import urllib.request

    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as r:
        meta = json.load(r)
    for u in meta["releases"].get(ver, []):
        if u["packagetype"] == "sdist":
            rest = u["url"].split("/packages/", 1)[1].removeprefix("packages/")
            log(f"fetching {u['filename']} from PyPI")
            with urllib.request.urlopen(
                f"https://files.pythonhosted.org/packages/{rest}", timeout=300
            ) as r:
                (dl / u["filename"]).write_bytes(r.read())
            return
    raise SystemExit(f"{name}=={ver}: no sdist on PyPI")


def members(archive: Path) -> Iterator[tuple[str, bytes, bool]]:
    """(path inside the package, bytes, executable) of each regular file: an
    sdist's paths without their ``name-version/`` top directory."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir() and ".dist-info/" not in info.filename:
                    yield info.filename, z.read(info), bool((info.external_attr >> 16) & 0o111)
        return
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            parts = m.name.split("/")
            fh = t.extractfile(m) if m.isfile() and len(parts) > 1 else None
            if fh is not None:
                yield "/".join(parts[1:]), fh.read(), bool(m.mode & 0o111)


def extract(archives: dict[str, Path], tree: Path) -> dict[str, str]:
    """Surface files only, as ``<package>/<path inside the package>``; returns path -> kind."""
    kinds: dict[str, str] = {}
    wanted = {name: taken for name, _v, _s, _k, taken in SOURCES}
    for name, archive in archives.items():
        for path, data, executable in members(archive):
            rel = f"{name}/{path}"
            if ".." in path.split("/") or path.startswith("/") or "egg-info/" in rel:
                continue
            kind = kind_of(rel, data)
            taken = wanted[name]
            if kind is None or (taken is not None and kind not in taken):
                continue
            dest = tree / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            if executable:
                dest.chmod(0o755)
            kinds[rel] = kind
    return kinds


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _GIT_ENV
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def build(archives: dict[str, Path], repo: Path) -> dict[str, Any]:
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    kinds = extract(archives, repo)
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "-m", "surfaces of " + ", ".join(f"{s[0]} {s[1]}" for s in SOURCES))
    lines = {p: len((repo / p).read_bytes().splitlines()) for p in kinds}
    # espnet copies its stage scripts into every recipe (asr.sh ~180 times):
    # the distinct contents are counted too, so one idiom is not one per copy.
    blobs = {p: hashlib.sha256((repo / p).read_bytes()).hexdigest() for p in kinds}
    meta = {"kinds": kinds, "lines": lines, "blobs": blobs}
    (repo.parent / "repo.json").write_text(json.dumps(meta))
    return meta


def run_scan(repo: Path, out: Path, accept: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    """``traingate scan .`` on an empty cache; an exit outside ``accept`` is
    fatal (the notebook corpus keeps a check's own error, exit 3, and prints
    it with the tables)."""
    cache = out.parent / f".cache-{out.stem}"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = ["traingate", "scan", ".", "--policy", "builtin:default", "--format", "json"]
    cmd += ["-o", str(out), "--cache-dir", str(cache)]
    log(" ".join(cmd))
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode not in accept or not out.exists():
        raise SystemExit(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    shutil.rmtree(cache, ignore_errors=True)
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def load_verdicts(path: Path) -> dict[tuple[str, int, str], dict[str, Any]]:
    if not path.exists():
        return {}
    out = {}
    for v in json.loads(path.read_text(encoding="utf-8")):
        if v["verdict"] not in ("want", "dismiss"):
            raise SystemExit(f"{path}: {v['path']}:{v['line']}: verdict must be want or dismiss")
        out[(v["path"], int(v["line"]), v["rule"])] = v
    return out


def tables(doc: dict[str, Any], meta: dict[str, Any], verdicts: dict[Any, Any]) -> str:
    kinds: dict[str, str] = meta["kinds"]
    lines: dict[str, int] = meta["lines"]
    per_kind_lines: Counter[str] = Counter()
    per_kind_files: Counter[str] = Counter()
    for p, k in kinds.items():
        per_kind_lines[k] += lines[p]
        per_kind_files[k] += 1
    total = sum(per_kind_lines.values())
    gated = [f for f in doc["findings"] if f["outcome"] in GATED]

    # The same rule twice at one line and column (two of its patterns matched
    # there) is one thing to look at: the second report is noise.
    seen: set[tuple[str, int, int, str]] = set()
    dup: set[int] = set()
    for i, f in enumerate(gated):
        key = (f["path"], f["line"], f.get("column", 0), f["rule_id"])
        if key in seen:
            dup.add(i)
        seen.add(key)

    def word(f: dict[str, Any]) -> str:
        if id(f) in dup_ids:
            return "dismiss"
        v = verdicts.get((f["path"], f["line"], f["rule_id"]))
        return v["verdict"] if v else "unjudged"

    dup_ids = {id(gated[i]) for i in dup}

    by_kind: dict[str, Counter[str]] = {}
    by_rule: dict[str, Counter[str]] = {}
    for f in gated:
        k = kinds.get(f["path"], "other")
        by_kind.setdefault(k, Counter())[word(f)] += 1
        by_rule.setdefault(f["rule_id"], Counter())[word(f)] += 1
    out = [
        f"{len(kinds):,} files, {total:,} lines; {len(gated)} blocking or approval "
        f"({len(gated) * 10_000 / total:.2f} per 10,000 lines), decision {doc['decision']}",
        "",
        "| surface | files | lines | blocking or approval | want | dismiss | unjudged "
        "| dismiss per 10k |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in sorted(per_kind_lines, key=lambda k: -per_kind_lines[k]):
        c = by_kind.get(k, Counter())
        out.append(
            f"| {k} | {per_kind_files[k]:,} | {per_kind_lines[k]:,} | {sum(c.values())} | "
            f"{c['want']} | {c['dismiss']} | {c['unjudged']} | "
            f"{c['dismiss'] * 10_000 / per_kind_lines[k]:.2f} |"
        )
    allc: Counter[str] = Counter()
    for c in by_kind.values():
        allc.update(c)
    out.append(
        f"| **all** | {len(kinds):,} | {total:,} | {sum(allc.values())} | {allc['want']} | "
        f"{allc['dismiss']} | {allc['unjudged']} | **{allc['dismiss'] * 10_000 / total:.2f}** |"
    )
    out += [
        "",
        "| rule | blocking or approval | want | dismiss | unjudged | per 10k |",
        "|---|---|---|---|---|---|",
    ]
    for r, c in sorted(by_rule.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        n = sum(c.values())
        out.append(
            f"| `{r}` | {n} | {c['want']} | {c['dismiss']} | {c['unjudged']} | "
            f"{n * 10_000 / total:.2f} |"
        )
    blobs: dict[str, str] = meta.get("blobs", {})
    if blobs:
        first: dict[str, str] = {}
        for p in sorted(kinds):
            first.setdefault(blobs[p], p)
        uniq_lines = sum(lines[p] for p in first.values())
        uniq = [f for f in gated if first.get(blobs.get(f["path"], ""), f["path"]) == f["path"]]
        ud = sum(1 for f in uniq if word(f) == "dismiss")
        out += [
            "",
            f"distinct contents: {len(first):,} files, {uniq_lines:,} lines; "
            f"{len(uniq)} blocking or approval, {ud} dismiss "
            f"({ud * 10_000 / uniq_lines:.2f} per 10,000 lines)",
        ]
    out += ["", f"same rule reported twice at one line and column: {len(dup)} (counted as dismiss)"]
    fc = Counter(f["rule_id"] for f in doc["findings"] if f["rule_id"] in FAIL_CLOSED)
    out += ["", f"fail-closed findings on these valid files: {dict(fc) or 0}"]
    warn = Counter(f["rule_id"] for f in doc["findings"] if f["outcome"] == "warn")
    out += [f"warnings (not gating): {sum(warn.values())} {dict(warn.most_common(8))}"]
    new = [f for f in gated if word(f) == "unjudged"]
    out += judged_tail(gated, new, verdicts, VERDICTS.name)
    return "\n".join(out)


def judged_tail(
    gated: list[dict[str, Any]],
    new: list[dict[str, Any]],
    verdicts: dict[tuple[str, int, str], dict[str, str]],
    name: str,
) -> list[str]:
    """The unjudged findings (``new``), and the judged ones no longer
    reported (a wanted one missing is named): the tail of each corpus table."""
    out: list[str] = []
    keys = {(f["path"], f["line"], f["rule_id"]) for f in gated}
    if new:
        out += ["", f"unjudged ({len(new)}): add them to {name}"]
        for f in sorted(new, key=lambda f: (f["rule_id"], f["path"], f["line"])):
            out.append(f"  {f['rule_id']}  {f['path']}:{f['line']}  {f['message'][:110]}")
    gone = [k for k in verdicts if k not in keys]
    if gone:
        w = Counter(verdicts[k]["verdict"] for k in gone)
        out += [
            "",
            f"no longer reported: {len(gone)} judged ({w['dismiss']} dismiss, {w['want']} want)",
        ]
        out += [
            f"  WANT, now missing: {r}  {p}:{n}"
            for p, n, r in sorted(gone)
            if verdicts[(p, n, r)]["verdict"] == "want"
        ]
    return out


def cli(
    argv: list[str] | None,
    doc: str | None,
    cache: Path,
    default_verdicts: Path,
    build_repo: Callable[[Path], dict[str, Any]],
    tabulate: Callable[[dict[str, Any], dict[str, Any], Any], str],
    accept: tuple[int, ...] = (0, 1),
) -> int:
    """The command line each corpus script shares: fetch and build the
    corpus (``build_repo(repo)``), scan it, print the tables."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    ap.add_argument("--details", type=Path, help="keep the JSON report in this directory")
    ap.add_argument("--report", type=Path, help="tabulate this report; do not build or scan")
    ap.add_argument("--verdicts", type=Path, default=default_verdicts)
    args = ap.parse_args(argv)
    repo = cache / "repo"
    if args.report:
        meta = json.loads((cache / "repo.json").read_text())
        report = json.loads(args.report.read_text(encoding="utf-8"))
    else:
        meta = build_repo(repo)
        outdir = (args.details or cache / "reports").resolve()
        outdir.mkdir(parents=True, exist_ok=True)
        report = run_scan(repo, outdir / "scan.json", accept)
    print(tabulate(report, meta, load_verdicts(args.verdicts)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(
        argv, __doc__, CACHE, VERDICTS, lambda repo: build(fetch(CACHE / "dl"), repo), tables
    )


if __name__ == "__main__":
    sys.exit(main())
