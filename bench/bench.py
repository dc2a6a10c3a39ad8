#!/usr/bin/env python3
"""traingate speed benchmark: wall time and peak memory against bare semgrep.

Builds a ~5,800-file training monorepo from published wheels (downloaded into
bench/.cache, never installed or imported), branches with 1 / 20 / 200 / 2,000
edited Python files and one docs-only change, then times traingate in the
scenarios a team meets (pre-commit cold / warm / nothing relevant, CI range
checks, a full scan), each run alternating with bare semgrep (same rule pack,
same files; its Python CLI and its OCaml CLI, osemgrep) and bandit (reference). Prints a markdown table and writes
bench/out/results.md and bench/out/results.json. See bench/README.md.

    bench/run                       # everything, within the default 14-minute budget
    bench/run --runs-fast 5 --runs-slow 3 --budget 1800
    bench/run --only full-scan range-2000 --budget 3600
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

T0 = time.monotonic()
HERE = Path(__file__).resolve().parent
MAIN = HERE.parent
RULES = MAIN / "policy" / "rules"

# Real training code with its configs and docs: EleutherAI's evaluation harness
# (3,388 YAML task configs), OpenMMLab's segmentation framework (library code
# plus 769 training configs written in Python) and OpenMMLab's pretraining
# configs. Chosen for file count per byte of Python: this rule pack costs
# semgrep ~35 CPU-seconds per MB of Python (docs/performance.md), so a corpus of
# transformers-sized libraries cannot be scanned inside a 15-minute budget.
DEFAULT_PACKAGES = [
    "lm_eval==0.4.5",
    "mmsegmentation==1.2.2",
    "mmpretrain==1.2.0:mmpretrain/.mim/configs/",
]
BANDIT = "bandit==1.9.4"
POLICY = "version: 1\nextends: builtin:default\ngroups:\n  security: [sam]\n  ml-reviewers: [alice, bob]\n"
SEMGREP_EXT = {".py", ".pyi", ".pyw", ".sh", ".bash", ".pth", ".ipynb"}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Bench Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2024-06-01T12:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-06-01T12:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# --- tools -----------------------------------------------------------------


def beside_python(name: str) -> str | None:
    p = Path(sys.executable).with_name(name)
    return str(p) if p.exists() else shutil.which(name)


def tool_version(cmd: list[str]) -> str:
    try:
        env = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0"}  # else it waits on the network
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=env)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def ensure_bandit(cache: Path) -> str | None:
    venv = cache / "bandit-venv"
    exe = venv / "bin" / "bandit"
    if exe.exists():
        return str(exe)
    log(f"installing {BANDIT} into {venv}")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", BANDIT],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"bandit unavailable ({exc}); the bandit column is left empty")
        shutil.rmtree(venv, ignore_errors=True)
        return None
    return str(exe)


# --- corpus ----------------------------------------------------------------


def download(spec: str, wheels: Path) -> Path:
    req = spec.split(":", 1)[0]
    name, ver = req.split("==")
    stem = name.replace("-", "_").lower() + "-" + ver + "-"
    wheels.mkdir(parents=True, exist_ok=True)
    hits = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem)]
    if not hits:
        log(f"pip download {req}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "-d", str(wheels), req],
            check=True,
        )
        hits = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem)]
    if not hits:
        raise SystemExit(f"no wheel for {req} in {wheels}")
    return sorted(hits)[-1]


def git(repo: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    e = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", *args],
                          cwd=repo, input=stdin, capture_output=True, env=e, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args[:4])} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.stdout


def unpack(wheel: Path, subdir: str | None, dest: Path) -> int:
    n = 0
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith("/") or ".dist-info/" in name or name.startswith("/") or ".." in name.split("/"):
                continue
            if subdir and not name.startswith(subdir):
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            n += 1
    return n


APPENDED = '''

def _bench_added_helper_{i}(values):
    """Mean of the values (added by the traingate benchmark)."""
    total = 0.0
    for value in values:
        total += float(value)
    return total / max(len(values), 1)
'''


@dataclass
class Corpus:
    repo: Path
    files: int
    py_files: int
    py_bytes: int
    commits: int
    tiers: dict[int, list[str]]
    docs_paths: list[str]
    scan_targets: list[str]  # what `traingate scan` hands semgrep (same selection rules)
    scan_bytes: int
    pool_cap: int
    packages: list[str]


def semgrep_relevant(path: Path) -> bool:
    ext = path.suffix.lower()
    if path.is_symlink() or not path.is_file():
        return False
    data = path.read_bytes()
    if b"\0" in data[:8000]:
        return False
    if ext in SEMGREP_EXT:
        return True
    if ext == "":
        return data.startswith(b"#!") and any(w in data.split(b"\n", 1)[0] for w in (b"python", b"sh"))
    return False


def build_corpus(cache: Path, packages: list[str], tiers: list[int], seed: int, rebuild: bool) -> Corpus:
    repo = cache / "repo"
    key = hashlib.sha256(json.dumps([packages, tiers, seed, POLICY, APPENDED, 2]).encode()).hexdigest()[:16]
    meta_file = cache / "repo.json"
    if not rebuild and repo.is_dir() and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("key") == key:
            log(f"reusing corpus repo {repo}")
            meta.pop("key")
            meta["tiers"] = {int(k): v for k, v in meta["tiers"].items()}
            return Corpus(repo=repo, **{k: v for k, v in meta.items() if k != "repo"})
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    wheels = cache / "wheels"
    commits = 0
    for spec in packages:
        req, _, subdir = spec.partition(":")
        wheel = download(spec, wheels)
        n = unpack(wheel, subdir or None, repo)
        log(f"unpacked {n} files of {req}{' (' + subdir + ')' if subdir else ''}")
        if commits == 0:
            (repo / ".traingate.yaml").write_text(POLICY)
            (repo / "README.md").write_text("# training monorepo (traingate benchmark corpus)\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"Import {req}")
        commits += 1
    # Everything tracked, by size: the change tiers come from the Python files.
    listing = git(repo, "ls-tree", "-r", "-l", "-z", "main").split(b"\0")
    entries = []
    for rec in listing:
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, _kind, oid, size = meta.split()
        entries.append((path.decode(), mode.decode(), oid.decode(), int(size)))
    py = sorted((e for e in entries if e[0].endswith(".py")), key=lambda e: e[0])
    # Nested random tiers (1 in 20 in 200 in 2,000) from one pool, so every tier
    # has the same file-size distribution and seconds-per-file compare.
    cap = 0
    for cap in (4000, 6000, 8000, 16000, 10**12):
        pool = [e for e in py if e[3] <= cap]
        if len(pool) >= max(tiers):
            break
    rng = random.Random(seed)
    rng.shuffle(pool)
    top = pool[: max(tiers)]
    edits = cache / "tmp" / "edits"
    shutil.rmtree(edits, ignore_errors=True)
    edits.mkdir(parents=True)
    blob_of = {e[2]: e for e in top}
    raw = git(repo, "cat-file", "--batch", stdin=("\n".join(e[2] for e in top) + "\n").encode())
    pos = 0
    contents: dict[str, bytes] = {}
    for e in top:
        nl = raw.index(b"\n", pos)
        size = int(raw[pos:nl].split()[2])
        contents[e[0]] = raw[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    del blob_of
    files = []
    for i, e in enumerate(top):
        body = contents[e[0]]
        if body and not body.endswith(b"\n"):
            body += b"\n"
        f = edits / f"{i}.py"
        f.write_bytes(body + APPENDED.format(i=i).encode())
        files.append(f)
    oids = git(repo, "hash-object", "-w", "--stdin-paths", stdin=("\n".join(map(str, files)) + "\n").encode()).split()
    new_oid = {e[0]: oids[i].decode() for i, e in enumerate(top)}
    idx = cache / "tmp" / "bench.index"
    tier_paths: dict[int, list[str]] = {}
    for n in sorted(tiers):
        chosen = top[:n]
        tier_paths[n] = [e[0] for e in chosen]
        branch_commit(repo, idx, [(e[1], new_oid[e[0]], e[0]) for e in chosen], f"change-{n}",
                      f"Edit {n} Python file(s)")
    # The "nothing relevant" change: documentation and text only.
    docs = sorted(e for e in entries if e[0].endswith(".md"))[:5]
    doc_lines = []
    for e in docs:
        body = git(repo, "cat-file", "blob", e[2]) + b"\nSee the team wiki for the current numbers.\n"
        oid = git(repo, "hash-object", "-w", "--stdin", stdin=body).decode().strip()
        doc_lines.append((e[1], oid, e[0]))
    note = git(repo, "hash-object", "-w", "--stdin", stdin=b"Release notes draft.\n").decode().strip()
    doc_lines.append(("100644", note, "docs/NOTES.txt"))
    branch_commit(repo, idx, doc_lines, "docs-only", "Docs only")
    git(repo, "checkout", "-q", "-f", "main")
    shutil.rmtree(edits, ignore_errors=True)
    # What `traingate scan` hands semgrep: same selection as checks/semgrep/targets.py target().
    scan_targets = []
    scan_bytes = 0
    skip = {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if semgrep_relevant(p):
                scan_targets.append(p.relative_to(repo).as_posix())
                scan_bytes += p.stat().st_size
    corpus = Corpus(
        repo=repo,
        files=len(entries),
        py_files=len(py),
        py_bytes=sum(e[3] for e in py),
        commits=commits,
        tiers=tier_paths,
        docs_paths=[d[2] for d in doc_lines],
        scan_targets=scan_targets,
        scan_bytes=scan_bytes,
        pool_cap=cap,
        packages=packages,
    )
    meta = {k: v for k, v in corpus.__dict__.items() if k != "repo"}
    meta["key"] = key
    meta_file.write_text(json.dumps(meta))
    log(f"corpus: {corpus.files} files, {corpus.py_files} .py ({corpus.py_bytes / 1e6:.1f} MB), "
        f"{len(scan_targets)} semgrep targets, {commits} commits")
    return corpus


def branch_commit(repo: Path, idx: Path, lines: list[tuple[str, str, str]], branch: str, msg: str) -> None:
    env = {"GIT_INDEX_FILE": str(idx)}
    idx.unlink(missing_ok=True)
    git(repo, "read-tree", "main", env=env)
    info = "".join(f"{mode} {oid}\t{path}\n" for mode, oid, path in lines)
    git(repo, "update-index", "--index-info", stdin=info.encode(), env=env)
    tree = git(repo, "write-tree", env=env).decode().strip()
    commit = git(repo, "commit-tree", tree, "-p", "main", "-m", msg).decode().strip()
    git(repo, "update-ref", f"refs/heads/{branch}", commit)
    idx.unlink(missing_ok=True)


def materialize(repo: Path, branch: str, paths: list[str], dest: Path) -> list[str]:
    """Head versions of the changed files, for the bare baselines."""
    if dest.is_dir():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    data = git(repo, "archive", "--format=tar", branch, "--", *paths)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return [p for p in paths if semgrep_relevant(dest / p)]


# --- measuring -------------------------------------------------------------


class Sampler(threading.Thread):
    """Sum of RSS over a process tree, from /proc every `interval` seconds."""

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, root: int, interval: float = 0.02, kill_at: float | None = None) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.kill_at = kill_at
        self.killed = False
        self.interval = interval
        self.peak = 0
        self.names: set[str] = set()
        self.samples = 0
        self.sweep_cpu = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            c0 = time.thread_time()
            self.sample()
            self.sweep_cpu += time.thread_time() - c0
            if self.kill_at is not None and time.monotonic() > self.kill_at and not self.killed:
                self.killed = True  # the budget is a hard limit: end our own process group
                with contextlib.suppress(OSError):
                    os.killpg(self.root, 9)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def sample(self) -> None:
        kids: dict[int, list[int]] = {}
        info: dict[int, tuple[str, int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    s = fh.read()
            except OSError:
                continue
            lp, r = s.find(b"("), s.rfind(b")")
            fields = s[r + 2 :].split()
            pid = int(name)
            kids.setdefault(int(fields[1]), []).append(pid)
            info[pid] = (s[lp + 1 : r].decode(errors="replace"), int(fields[21]) * self.PAGE)
        if self.root not in info:
            return
        total, stack = 0, [self.root]
        while stack:
            p = stack.pop()
            comm, rss = info[p]
            total += rss
            self.names.add(comm)
            stack.extend(kids.get(p, ()))
        self.samples += 1
        self.peak = max(self.peak, total)


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float
    peak_mb: float
    rc: int
    semgrep_started: bool
    semgrep_wall: float | None = None  # inside traingate, from the wrapper
    findings: int | None = None
    errors: list[str] = field(default_factory=list)  # the run is invalid (not in the medians)
    scanned: int | None = None
    notes: list[str] = field(default_factory=list)  # per-file errors the tool reported; the run counts


KILL_AT: float | None = None  # monotonic time after which a measured run is killed (the budget)


def measure(cmd: list[str], cwd: Path, env: dict[str, str], out: Path, tool: str, wrapper_log: Path | None,
            expected: int = 0) -> Run:
    if wrapper_log is not None:
        wrapper_log.write_text("")
    with open(out, "wb") as fh:
        t0 = time.perf_counter()
        with open(out.with_suffix(".err"), "wb") as eh:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=eh, start_new_session=True)
        sampler = Sampler(proc.pid, kill_at=KILL_AT)
        sampler.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    names = sampler.names & {"semgrep", "semgrep-core", "pysemgrep"}
    sg_wall = None
    started = bool(names)
    if wrapper_log is not None:
        lines = [ln.split() for ln in wrapper_log.read_text().splitlines() if ln.strip()]
        if lines:
            started = True
            sg_wall = sum(float(e) - float(s) for s, e, *_ in lines)
    run = Run(tool, wall, ru.ru_utime + ru.ru_stime, sampler.peak / 2**20, proc.returncode, started, sg_wall)
    if sampler.killed:
        run.errors.append("killed at the budget deadline")
        return run
    try:
        doc = json.loads(out.read_bytes() or b"{}")
    except ValueError:
        doc = {}
        run.errors.append("output is not JSON")
    if tool == "traingate":
        run.findings = len(doc.get("findings", []))
        run.errors += [str(e).splitlines()[0][:200] for e in doc.get("errors", [])]
        if proc.returncode not in (0, 1):
            run.errors.append(f"exit code {proc.returncode}")
    elif tool in ("semgrep", "osemgrep"):
        run.findings = len(doc.get("results", []))
        run.scanned = len(doc.get("paths", {}).get("scanned", []))
        if run.scanned != expected:
            run.errors.append(f"semgrep scanned {run.scanned} of {expected} files")
        kinds = [e.get("type") for e in doc.get("errors", [])]
        kinds = [str(k[0] if isinstance(k, list) else k)[:60] for k in kinds]
        run.notes += [f"{n} x {k}" for k, n in sorted((k, kinds.count(k)) for k in set(kinds))]
        if proc.returncode not in (0, 1):
            run.errors.append(f"exit code {proc.returncode}")
    elif tool == "bandit":
        run.findings = len(doc.get("results", []))
        if proc.returncode not in (0, 1):
            run.errors.append(f"exit code {proc.returncode}")
    return run


# --- scenarios -------------------------------------------------------------


@dataclass
class Scenario:
    id: str
    title: str
    kind: str  # staged | warm | none | range | scan
    branch: str | None
    nominal: int
    tools: list[str]
    targets: list[str] = field(default_factory=list)  # baseline targets (relative)
    target_dir: Path | None = None
    head_bytes: int = 0
    tg_bytes: int = 0  # what traingate hands semgrep on a cold cache (head + base versions)
    files: int = 0
    runs: list[Run] = field(default_factory=list)
    planned: int = 0
    skipped: str | None = None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache: Path = args.cache
        self.out: Path = args.out
        self.deadline = T0 + args.budget
        self.traingate = beside_python("traingate")
        self.semgrep = beside_python("semgrep")
        if not self.traingate or not self.semgrep:
            raise SystemExit("traingate and semgrep must be installed beside this Python (or on PATH)")
        self.bandit: str | None = None
        self.tmp = self.cache / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.wrapper = self.tmp / "semgrep-wrapper.sh"
        self.wrapper_log = self.tmp / "semgrep-invocations.log"
        self.wrapper.write_text(
            "#!/bin/bash\n# Records each semgrep run traingate starts (start end argc), then runs it.\n"
            's=$(date +%s.%N)\n"$BENCH_REAL_SEMGREP" "$@"\nrc=$?\n'
            'echo "$s $(date +%s.%N) $#" >> "$BENCH_SEMGREP_LOG"\nexit $rc\n'
        )
        self.wrapper.chmod(0o755)
        # Cost model, wall seconds per tool: a + b * MB of head Python (traingate's
        # base versions are folded into its b). Starting guesses from a 2-core
        # machine, updated after every scenario.
        self.model = {"traingate": [0.6, 25.0], "semgrep": [6.0, 30.0], "osemgrep": [0.4, 25.0],
                      "bandit": [0.2, 2.5]}
        self.tg_fast = 0.5  # traingate when it starts no semgrep (none, warm)
        self.reserve = args.reserve + (30.0 if args.diagnostics else 0.0)

    # environment ---------------------------------------------------------
    def env(self, cache_dir: Path | None) -> dict[str, str]:
        # PYTHONDONTWRITEBYTECODE disables writing .pyc files for any non-empty
        # value ("0" included): it is dropped, so runs after the first start from
        # bytecode as they do on a user's machine.
        drop = ("TRAINGATE_", "SEMGREP_", "GIT_", "PYTHONDONTWRITEBYTECODE")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env.update({
            "TRAINGATE_SEMGREP": str(self.wrapper),
            "BENCH_REAL_SEMGREP": self.semgrep,
            "BENCH_SEMGREP_LOG": str(self.wrapper_log),
        })
        if cache_dir is not None:
            env["TRAINGATE_CACHE_DIR"] = str(cache_dir)
        return env

    def semgrep_cmd(self, targets: list[str], experimental: bool = False) -> list[str]:
        # `semgrep scan` is the Python CLI; `--experimental` runs the OCaml CLI
        # (osemgrep), the front end traingate uses: same matcher, same rules.
        return [self.semgrep, "scan", *(["--experimental"] if experimental else []), "--config", str(RULES),
                "--metrics=off", "--disable-version-check", f"--jobs={len(os.sched_getaffinity(0))}", "--json",
                "--quiet", *targets]

    # estimates -----------------------------------------------------------
    def est(self, tool: str, mb: float) -> float:
        a, b = self.model[tool]
        return a + b * mb

    def est_iter(self, s: Scenario) -> float:
        t = 0.0
        for tool in s.tools:
            if tool == "traingate" and s.kind in ("none", "warm"):
                t += self.tg_fast
            elif tool != "bandit" or self.bandit:
                t += self.est(tool, s.head_bytes / 1e6)
        if s.kind == "warm":
            t += self.est("traingate", s.head_bytes / 1e6)  # the untimed priming run, once
        return t

    def plan(self, todo: list[Scenario]) -> None:
        """N=1 for as many scenarios (in priority order) as fit; extra runs by priority."""
        left = self.deadline - time.monotonic() - self.reserve
        for s in todo:
            s.planned = 0
        used = 0.0
        for s in todo:
            e = self.est_iter(s)
            if used + e <= left:
                s.planned, used = 1, used + e
        grew = True
        while grew:
            grew = False
            for s in todo:
                if 0 < s.planned < s.nominal:
                    e = self.est_iter(s) - (self.est("traingate", s.head_bytes / 1e6) if s.kind == "warm" else 0)
                    if used + e <= left:
                        s.planned += 1
                        used += e
                        grew = True

    def update_model(self, s: Scenario) -> None:
        mb = s.head_bytes / 1e6
        for tool in self.model:
            walls = [r.wall for r in s.runs if r.tool == tool and not r.errors]
            if not walls:
                continue
            w = statistics.median(walls)
            if tool == "traingate" and s.kind in ("none", "warm"):
                self.tg_fast = w
            elif s.head_bytes < 20_000:
                self.model[tool][0] = w
            elif s.head_bytes >= 100_000:
                self.model[tool][1] = max(1.0, (w - self.model[tool][0]) / mb)

    # one scenario --------------------------------------------------------
    def run_scenario(self, s: Scenario, todo: list[Scenario]) -> None:
        repo = self.corpus.repo
        if s.kind in ("staged", "warm", "none"):
            git(repo, "read-tree", "-m", "-u", "HEAD", s.branch)  # the change, staged
        warm_dir = None
        try:
            # `none` too: a hook user's cache dir outlives each commit, and it
            # holds the validated policy (issue #17), so a fresh one per run is
            # not what the hook costs on a docs-only commit.
            if s.kind in ("warm", "none"):
                warm_dir = Path(tempfile.mkdtemp(prefix="warm-", dir=self.tmp))
                self.one("traingate", s, warm_dir, record=False)  # first run fills the cache
            i = 0
            while i < max(1, s.planned):
                order = s.tools[i % len(s.tools):] + s.tools[: i % len(s.tools)]
                for tool in order:
                    s.runs.append(self.one(tool, s, warm_dir))
                i += 1
                self.update_model(s)
                # Keep one run for every later scenario that still fits.
                rest = [x for x in todo if x is not s and not x.runs and not x.skipped]
                left = self.deadline - time.monotonic() - self.reserve
                need = 0.0
                for x in rest:
                    if need + self.est_iter(x) <= left:
                        need += self.est_iter(x)
                if i < s.planned and left - need < self.est_iter(s):
                    log(f"{s.id}: stopping after {i} run(s) to stay within the budget")
                    break
                if time.monotonic() > (KILL_AT or math.inf):
                    break
        finally:
            if s.kind in ("staged", "warm", "none"):
                git(repo, "read-tree", "-m", "-u", s.branch, "HEAD")
            if warm_dir is not None:
                shutil.rmtree(warm_dir, ignore_errors=True)

    def one(self, tool: str, s: Scenario, warm_dir: Path | None, record: bool = True) -> Run:
        repo = self.corpus.repo
        if KILL_AT is not None and time.monotonic() > KILL_AT - 1:
            return Run(tool, 0.0, 0.0, 0.0, -1, False, errors=["not started: budget deadline"])
        out = self.tmp / f"out-{s.id}-{tool}.json"
        if tool == "traingate":
            cache_dir = warm_dir or Path(tempfile.mkdtemp(prefix="cold-", dir=self.tmp))
            if s.kind == "scan":
                cmd = [self.traingate, "scan", ".", "--format", "json"]
            elif s.kind == "range":
                cmd = [self.traingate, "check", "--base", "main", "--head", s.branch, "--format", "json"]
            else:
                cmd = [self.traingate, "check", "--staged", "--approvals-advisory", "--format", "json"]
            run = measure(cmd, repo, self.env(cache_dir), out, tool, self.wrapper_log)
            if warm_dir is None:
                shutil.rmtree(cache_dir, ignore_errors=True)
        elif tool in ("semgrep", "osemgrep"):
            cwd = s.target_dir or repo
            cmd = self.semgrep_cmd(s.targets, experimental=tool == "osemgrep")
            run = measure(cmd, cwd, self.env(None), out, tool, None, len(s.targets))
        else:
            cwd = s.target_dir or repo
            run = measure([self.bandit, "-q", "-f", "json", *s.targets], cwd, self.env(None), out, tool, None)
        if record:
            extra = f" semgrep-inside={run.semgrep_wall:.2f}s" if run.semgrep_wall is not None else ""
            log(f"{s.id:14s} {tool:9s} {run.wall:7.2f}s wall {run.cpu:7.2f}s cpu {run.peak_mb:6.0f} MB "
                f"rc={run.rc}{extra}{' ERR ' + '; '.join(run.errors) if run.errors else ''}"
                f"{' note: ' + '; '.join(run.notes) if run.notes else ''}")
        else:
            log(f"{s.id:14s} {tool:9s} {run.wall:7.2f}s (priming run, not counted)"
                f"{' ERR ' + '; '.join(run.errors) if run.errors else ''}")
        return run

    # everything ------------------------------------------------------------
    def main(self) -> dict[str, Any]:
        a = self.args
        machine = describe_machine(self.semgrep)
        load_start = os.getloadavg()
        if not a.no_bandit:
            self.bandit = ensure_bandit(self.cache)
        self.corpus = build_corpus(self.cache, a.packages, a.tiers, a.seed, a.rebuild)
        c = self.corpus
        scen: list[Scenario] = []
        one = min(a.tiers)
        tdir = self.cache / "targets"
        def tier_targets(n: int) -> tuple[list[str], Path, int]:
            d = tdir / f"change-{n}"
            t = materialize(c.repo, f"change-{n}", c.tiers[n], d)
            return t, d, sum((d / p).stat().st_size for p in t)
        t1, d1, b1 = tier_targets(one)
        base1 = self.base_bytes(c.tiers[one])
        tg_tools = ["traingate", "semgrep", "osemgrep"] + (["bandit"] if self.bandit else [])
        scen.append(Scenario("none", "pre-commit, staged change with no Python/config file", "none",
                             "docs-only", a.runs_fast, ["traingate"], files=len(c.docs_paths)))
        scen.append(Scenario("warm", f"pre-commit, {one}-file staged change, warm cache", "warm",
                             f"change-{one}", a.runs_fast, ["traingate"], t1, d1, b1, b1 + base1, len(t1)))
        scen.append(Scenario("staged-cold", f"pre-commit, {one}-file staged change, cold cache", "staged",
                             f"change-{one}", a.runs_fast, tg_tools, t1, d1, b1, b1 + base1, len(t1)))
        for n in sorted(a.tiers):
            t, d, b = tier_targets(n)
            scen.append(Scenario(f"range-{n}", f"CI range check, {n} changed .py file(s), cold cache", "range",
                                 f"change-{n}", a.runs_slow, tg_tools, t, d, b, b + self.base_bytes(c.tiers[n]),
                                 len(t)))
        scen.append(Scenario("full-scan", f"full `traingate scan` of the repo ({c.files} files), cold cache",
                             "scan", None, a.runs_slow, tg_tools, c.scan_targets, None, c.scan_bytes,
                             c.scan_bytes, len(c.scan_targets)))
        # Priority: the cheap pre-commit cases, the range checks up to 200 files,
        # the full scan, then the largest tier.
        big = f"range-{max(a.tiers)}"
        scen.sort(key=lambda s: {big: 2, "full-scan": 1}.get(s.id, 0))
        if a.only:
            scen = [s for s in scen if s.id in a.only]
        # Priority: the cheap pre-commit cases, then ranges by size, the full scan last.
        self.plan(scen)
        log("plan: " + ", ".join(f"{s.id}x{s.planned}" for s in scen))
        for s in scen:
            if s.planned == 0 and time.monotonic() + self.est_iter(s) > self.deadline - self.reserve:
                s.skipped = f"not run: estimated {self.est_iter(s):.0f}s per round exceeds the budget left"
                log(f"{s.id}: {s.skipped}")
                continue
            self.run_scenario(s, scen)
            self.plan([x for x in scen if not x.runs and not x.skipped])
        diagnostics = None
        if a.diagnostics and self.deadline - time.monotonic() > 25:
            diagnostics = self.diagnose()
        load_end = os.getloadavg()
        result = {
            "machine": machine,
            "load_average_start": load_start,
            "load_average_end": load_end,
            "corpus": {k: v for k, v in c.__dict__.items() if k not in ("repo", "tiers", "scan_targets")}
            | {"tiers": {n: len(p) for n, p in c.tiers.items()}, "semgrep_targets": len(c.scan_targets)},
            "settings": {"runs_fast": a.runs_fast, "runs_slow": a.runs_slow, "budget_s": a.budget,
                         "seed": a.seed, "rules": str(RULES)},
            "scenarios": [scenario_json(s) for s in scen],
            "diagnostics": diagnostics,
            "elapsed_s": round(time.monotonic() - T0, 1),
        }
        return result

    def base_bytes(self, paths: list[str]) -> int:
        out = git(self.corpus.repo, "ls-tree", "-r", "-l", "-z", "main", "--", *paths)
        return sum(int(r.split(b"\t")[0].split()[3]) for r in out.split(b"\0") if r)

    # where traingate's own time goes ---------------------------------------
    def diagnose(self) -> dict[str, Any]:
        repo = self.corpus.repo
        one = min(self.args.tiers)
        d: dict[str, Any] = {}
        log("diagnostics: import time, git calls, cProfile")
        py = sys.executable
        # python -X importtime -m traingate --version
        p = subprocess.run([py, "-X", "importtime", "-m", "traingate", "--version"], capture_output=True,
                           text=True, cwd=repo, env=self.env(None))
        d["importtime_version"] = importtime_top(p.stderr)
        t = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([self.traingate, "--version"], capture_output=True, env=self.env(None))
            t.append(time.perf_counter() - t0)
        d["traingate_version_wall_s"] = statistics.median(t)
        t = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([py, "-c", "pass"], capture_output=True)
            t.append(time.perf_counter() - t0)
        d["python_startup_wall_s"] = statistics.median(t)
        # git wrapper counts calls and their wall time
        gdir = self.tmp / "gitwrap"
        gdir.mkdir(exist_ok=True)
        glog = self.tmp / "git-calls.log"
        real_git = shutil.which("git") or "/usr/bin/git"
        (gdir / "git").write_text(
            '#!/bin/bash\ns=$(date +%s.%N)\n"' + real_git + '" "$@"\nrc=$?\n'
            'echo "$s $(date +%s.%N) $*" | cut -c1-300 >> "' + str(glog) + '"\nexit $rc\n')
        (gdir / "git").chmod(0o755)
        for label, branch in (("none", "docs-only"), ("warm", f"change-{one}")):
            git(repo, "read-tree", "-m", "-u", "HEAD", branch)
            cache_dir = Path(tempfile.mkdtemp(prefix="diag-", dir=self.tmp))
            try:
                env = self.env(cache_dir)
                cmd = [self.traingate, "check", "--staged", "--approvals-advisory", "--format", "json"]
                if label == "warm":
                    subprocess.run(cmd, cwd=repo, env=env, capture_output=True)
                p = subprocess.run([py, "-X", "importtime", "-m", "traingate", *cmd[1:]], cwd=repo, env=env,
                                   capture_output=True, text=True)
                d[f"importtime_{label}"] = importtime_top(p.stderr)
                genv = {**env, "PATH": f"{gdir}:{env.get('PATH', '')}"}
                glog.write_text("")
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=repo, env=genv, capture_output=True)
                wall = time.perf_counter() - t0
                calls = [ln.split(" ", 2) for ln in glog.read_text().splitlines() if ln.strip()]
                d[f"git_{label}"] = {
                    "wall_s": wall,
                    "calls": len(calls),
                    "git_wall_s": sum(float(e) - float(s) for s, e, _ in calls),
                    "commands": [strip_c(c[2]) for c in calls],
                }
                prof = self.tmp / f"{label}.prof"
                subprocess.run([py, "-m", "cProfile", "-o", str(prof), "-m", "traingate", *cmd[1:]], cwd=repo,
                               env=env, capture_output=True)
                d[f"cprofile_{label}"] = cprofile_top(prof)
            finally:
                git(repo, "read-tree", "-m", "-u", branch, "HEAD")
                shutil.rmtree(cache_dir, ignore_errors=True)
        return d


def strip_c(cmdline: str) -> str:
    """git arguments without the leading `-c key=value` pairs."""
    t = cmdline.split()
    while len(t) >= 2 and t[0] == "-c":
        t = t[2:]
    return " ".join(t)[:120]


def importtime_top(stderr: str, n: int = 12) -> list[tuple[str, int]]:
    rows = []
    for ln in stderr.splitlines():
        if ln.startswith("import time:") and "|" in ln:
            parts = ln.split("|")
            name = parts[2]
            if (len(name) - len(name.lstrip())) == 1:
                with contextlib.suppress(ValueError):
                    rows.append((name.strip(), int(parts[1].strip())))
    rows.sort(key=lambda r: -r[1])
    return [("(all top-level imports)", sum(r[1] for r in rows))] + rows[:n]


def cprofile_top(prof: Path, n: int = 12) -> dict[str, list[str]]:
    """traingate's own functions by cumulative time, and everything by own time."""
    import pstats

    if not prof.exists():
        return {}
    out = {}
    for key, sort, restrict in (("traingate_cumulative", "cumulative", "traingate/(?!__main__)"),
                                ("all_tottime", "tottime", "")):
        buf = io.StringIO()
        st = pstats.Stats(str(prof), stream=buf)
        st.sort_stats(sort).print_stats(*([restrict, n] if restrict else [n]))
        lines = [ln.rstrip() for ln in buf.getvalue().splitlines() if ln.strip()]
        head = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
        out[key] = [ln.replace(str(MAIN / "src") + "/", "").replace(str(Path(sys.prefix)), "<venv>")
                    for ln in lines[head:]]
    return out


def describe_machine(semgrep: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal:"):
                mem = int(ln.split()[1]) // 1024
    except OSError:
        pass
    tg_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=MAIN, capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_mb": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "semgrep": tool_version([semgrep, "--version"]),
        "git": tool_version(["git", "--version"]),
        "traingate_commit": tg_rev,
    }


# --- report ----------------------------------------------------------------


def med(runs: list[Run], tool: str, attr: str = "wall") -> float | None:
    v = [getattr(r, attr) for r in runs if r.tool == tool and not r.errors and getattr(r, attr) is not None]
    return statistics.median(v) if v else None


def scenario_json(s: Scenario) -> dict[str, Any]:
    return {
        "id": s.id, "title": s.title, "kind": s.kind, "branch": s.branch, "files": s.files,
        "head_bytes": s.head_bytes, "traingate_semgrep_bytes_cold": s.tg_bytes,
        "runs_nominal": s.nominal, "skipped": s.skipped,
        "runs": [r.__dict__ for r in s.runs],
        "median": {t: {"wall": med(s.runs, t), "cpu": med(s.runs, t, "cpu"), "peak_mb": med(s.runs, t, "peak_mb")}
                   for t in ("traingate", "semgrep", "osemgrep", "bandit")},
    }


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def render(res: dict[str, Any]) -> str:
    m = res["machine"]
    c = res["corpus"]
    sc = {s["id"]: s for s in res["scenarios"]}
    out = []
    out.append(f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_mb'] / 1024:.1f} GiB RAM, "
               f"Python {m['python']}, {m['semgrep']}, {m['git']}; traingate {m['traingate_commit']}. "
               f"Load average {res['load_average_start'][0]:.1f} at start, {res['load_average_end'][0]:.1f} at end.")
    out.append(f"Corpus: {c['files']} files in {c['commits']} commits ({', '.join(c['packages'])}); "
               f"{c['py_files']} .py files, {c['py_bytes'] / 1e6:.1f} MB; {c['semgrep_targets']} semgrep targets. "
               f"Changed files: nested random sample of .py files <= {c['pool_cap']} bytes.")
    out.append("")
    out.append("| scenario | files | N | traingate s (cpu s) | semgrep s (cpu s) | ratio wall (cpu) | "
               "osemgrep s | ratio to osemgrep | bandit s | peak MB tg / sg / osg | semgrep started | target | "
               "result |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def row(sid: str, target: str, verdict: str, base: dict[str, Any] | None = None) -> None:
        s = sc.get(sid)
        if s is None:
            return
        if s["skipped"]:
            out.append(f"| {s['title']} | {s['files']} | 0 | – | – | – | – | – | – | – | – | {target} | "
                       f"NOT RUN ({s['skipped']}) |")
            return
        tg, sg, bd = s["median"]["traingate"], (base or s)["median"]["semgrep"], (base or s)["median"]["bandit"]
        osg = (base or s)["median"].get("osemgrep") or {"wall": None, "cpu": None, "peak_mb": None}
        n_tg = len([r for r in s["runs"] if r["tool"] == "traingate" and not r["errors"]])
        n_sg = len([r for r in (base or s)["runs"] if r["tool"] == "semgrep" and not r["errors"]])
        n = f"{n_tg}" if base or n_sg in (0, n_tg) else f"{n_tg}/{n_sg}"
        ratio = ratio_cpu = ratio_o = None
        if tg["wall"] and sg["wall"]:
            ratio, ratio_cpu = tg["wall"] / sg["wall"], tg["cpu"] / sg["cpu"]
        if tg["wall"] and osg["wall"]:
            ratio_o = tg["wall"] / osg["wall"]
        started = [r["semgrep_started"] for r in s["runs"] if r["tool"] == "traingate"]
        st = "yes" if all(started) else ("no" if not any(started) else f"{sum(started)}/{len(started)}")
        errs = sorted({e for r in s["runs"] for e in r["errors"]})
        errs += sorted({f"{r['tool']}: {nt}" for r in (base or s)["runs"] + s["runs"] for nt in r.get("notes", [])})
        counts = {r["tool"]: r.get("findings") for r in (base or s)["runs"] if not r["errors"]}
        if "semgrep" in counts and "osemgrep" in counts and counts["semgrep"] != counts["osemgrep"]:
            errs.append(f"semgrep found {counts['semgrep']} results, osemgrep {counts['osemgrep']}")
        ref = " (ref: cold run)" if base else ""
        out.append(
            f"| {s['title']}{' — errors: ' + '; '.join(errs)[:200] if errs else ''} | {s['files']} | {n} | "
            f"{fmt(tg['wall'])} ({fmt(tg['cpu'], '.1f')}) | {fmt(sg['wall'])} ({fmt(sg['cpu'], '.1f')}){ref} | "
            f"{fmt(ratio)} ({fmt(ratio_cpu)}) | {fmt(osg['wall'])} | {fmt(ratio_o)} | {fmt(bd['wall'])} | "
            f"{fmt(tg['peak_mb'], '.0f')} / {fmt(sg['peak_mb'], '.0f')} / {fmt(osg['peak_mb'], '.0f')} | {st} | "
            f"{target} | {verdict} |")

    def verdict(sid: str, check) -> str:
        s = sc.get(sid)
        if s is None or s["skipped"] or not s["runs"]:
            return "NOT RUN"
        try:
            return "PASS" if check(s) else "FAIL"
        except TypeError:
            return "n/a"

    tgw = lambda s: s["median"]["traingate"]["wall"]  # noqa: E731
    ratio = lambda s: s["median"]["traingate"]["wall"] / s["median"]["semgrep"]["wall"]  # noqa: E731
    no_sg = lambda s: not any(r["semgrep_started"] for r in s["runs"] if r["tool"] == "traingate")  # noqa: E731
    row("none", "< 0.3 s", verdict("none", lambda s: tgw(s) < 0.3))
    row("warm", "< 0.5 s, no semgrep", verdict("warm", lambda s: tgw(s) < 0.5 and no_sg(s)), base=sc.get("staged-cold"))
    row("staged-cold", "(none)", "–")
    tiers = sorted(int(k.split("-")[1]) for k in sc if k.startswith("range-"))
    for n in tiers:
        if n in (20, 200):
            row(f"range-{n}", "<= 1.1x semgrep", verdict(f"range-{n}", lambda s: ratio(s) <= 1.1))
        else:
            row(f"range-{n}", "(scaling)", "–")
    row("full-scan", "<= 1.05x semgrep, peak <= semgrep + 100 MB",
        verdict("full-scan", lambda s: ratio(s) <= 1.05 and s["median"]["traingate"]["peak_mb"]
                <= s["median"]["semgrep"]["peak_mb"] + 100))
    # scaling
    pts = [(n, sc[f"range-{n}"]) for n in tiers if sc[f"range-{n}"]["runs"]]
    if pts:
        out.append("")
        out.append("Scaling (cold range checks; seconds per changed file; slope = d log t / d log n to the next tier):")
        out.append("")
        out.append("| changed .py files | KB (head) | traingate s | s/file | slope | semgrep s | s/file | slope | "
                   "osemgrep s | slope |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        slopes_tg = []
        for i, (n, s) in enumerate(pts):
            tg, sg = s["median"]["traingate"]["wall"], s["median"]["semgrep"]["wall"]
            og = (s["median"].get("osemgrep") or {}).get("wall")
            sl_t = sl_s = sl_o = None
            if i > 0:
                n0, s0 = pts[i - 1]
                t0, g0 = s0["median"]["traingate"]["wall"], s0["median"]["semgrep"]["wall"]
                o0 = (s0["median"].get("osemgrep") or {}).get("wall")
                sl_t = math.log(tg / t0) / math.log(n / n0)
                sl_s = math.log(sg / g0) / math.log(n / n0) if sg and g0 else None
                sl_o = math.log(og / o0) / math.log(n / n0) if og and o0 else None
                slopes_tg.append(sl_t)
            out.append(f"| {n} | {s['head_bytes'] / 1000:.0f} | {fmt(tg)} | {fmt(tg / n, '.3f')} | {fmt(sl_t)} | "
                       f"{fmt(sg)} | {fmt(sg / n if sg else None, '.3f')} | {fmt(sl_s)} | {fmt(og)} | "
                       f"{fmt(sl_o)} |")
        want = [1, 20, 200, 2000]
        have = [n for n, _ in pts]
        res_s = "NOT RUN" if len(pts) < 2 else ("PASS" if max(slopes_tg) <= 1.1 else "FAIL")
        partial = "" if all(w in have for w in want) else f" (measured tiers: {have})"
        out.append("")
        out.append(f"Scaling target (linear or better: every slope <= 1.1): **{res_s}**{partial}.")
    out.append("")
    out.append(f"Bench wall time: {res['elapsed_s']:.0f} s (downloads, corpus build and measurements).")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs-fast", type=int, default=5, help="runs per tool for the pre-commit scenarios (5)")
    ap.add_argument("--runs-slow", type=int, default=3, help="runs per tool for range checks and the full scan (3)")
    ap.add_argument("--budget", type=float, default=840.0,
                    help="seconds for the whole bench, setup included (840); runs are cut, then scenarios "
                         "skipped (lowest priority first), to finish within it")
    ap.add_argument("--reserve", type=float, default=20.0, help="seconds kept back for reporting (20)")
    ap.add_argument("--packages", nargs="+", default=DEFAULT_PACKAGES,
                    help="wheels for the corpus: NAME==VERSION[:SUBDIR/]")
    ap.add_argument("--tiers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 20, 200, 2000],
                    help="changed-file counts of the range branches (1,20,200,2000)")
    ap.add_argument("--only", nargs="+", metavar="SCENARIO",
                    help="none warm staged-cold range-N full-scan")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-bandit", action="store_true")
    ap.add_argument("--no-diagnostics", dest="diagnostics", action="store_false",
                    help="skip the import-time / git-call / cProfile breakdown")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the corpus repo")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache" / "perf")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)
    global KILL_AT
    KILL_AT = T0 + args.budget - 5
    bench = Bench(args)
    res = bench.main()
    args.out.mkdir(parents=True, exist_ok=True)
    res["elapsed_s"] = round(time.monotonic() - T0, 1)
    table = render(res)
    (args.out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    (args.out / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
