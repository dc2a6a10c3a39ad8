#!/usr/bin/env python3
"""Large-file benchmark (issue #17): the rule pack over real training libraries.

Fetches eight published wheels (pinned by version and sha256) into
bench/.cache/large/, extracts their .py files into a git repo (one commit per
wheel), adds branches that edit a few lines in each of 20 / 200 large files,
and times, side by side in one run:

- traingate (`scan .` for the full scan, `check --base main --head B` for a
  change), cold cache;
- bare semgrep with the same pack (`semgrep scan --experimental`, the engine
  traingate drives) on the same files (head versions);
- the parsing floor: semgrep with one pattern that has no literal, so every
  file is parsed and walked once;
- bandit, from its own venv (a baseline only, never a project dependency).

    python bench/large.py                          # the changes, then the full scan
    python bench/large.py --only large-20 large-200
    python bench/large.py --profile sample         # per-rule cost (semgrep --time)

Writes bench/out/large.md and bench/out/large.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (measure, Sampler, ensure_bandit, git helpers)

RULES = HERE.parent / "policy" / "rules"
# Pinned: the wheels fetched on 2026-12-02 from PyPI; a different file blocks the run.
WHEELS = [
    ("transformers", "5.24.0", "ff5ebedf9359f94bb63772b6380eba6e7104d010cbbb2cb82c788817ea7486f6"),
    ("accelerate", "1.15.0", "97eacca0b73e45cb867dbf8c5d5d4dc32219544300e0c8992c7334dc2ef33cec"),
    ("trl", "1.16.0", "c4726e139dd40e1a41661511c639c8a68416782b2e3e8c0befebd77bb7ba0396"),
    ("peft", "0.21.2", "106ab6077ff72c54d21577f9af5970e34bac7582cb14209f7b2b511e322a4eae"),
    ("lightning", "2.6.6", "2bcbd6ee840071cd076c7dc9953d7ac1040df92f1c5fa76583aae644f037ab85"),
    ("timm", "1.0.31", "5bd50f7d0fe6d09bf9285ac2523234a1b7e6bf075c0be3e7aed09139fcb617c7"),
    ("torchtune", "0.6.1", "bcbc4ee9774b5c5829a5ff13df851e0b0e32416c018af8db53faa3472ac256e7"),
    ("litgpt", "0.5.13", "da044b76c52cd44fc0564f6177ed6cf186dde24f711ce8e71e1fd9e9da5f02b2"),
]
LARGE_MIN_BYTES = 20_000  # "large file": the changed files are drawn from these
FLOOR_RULE = """rules:
  - id: parse-floor
    languages: [python]
    severity: INFO
    message: the parsing floor (issue 17)
    pattern: $X == $X
"""


def log(msg: str) -> None:
    bench.log(msg)


def fetch(cache: Path) -> list[Path]:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    out = []
    for name, ver, sha in WHEELS:
        stem = f"{name}-{ver}-"
        hits = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem)]
        if not hits:
            log(f"pip download {name}=={ver}")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--only-binary=:all:", "-d", str(wheels), f"{name}=={ver}"],
                check=True,
            )
            hits = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem)]
        if len(hits) != 1:
            raise SystemExit(f"expected one wheel for {name}=={ver} in {wheels}, found {hits}")
        got = hashlib.sha256(hits[0].read_bytes()).hexdigest()
        if got != sha:
            raise SystemExit(f"{hits[0].name}: sha256 {got}, pinned {sha}")
        out.append(hits[0])
    return out


def edit(body: bytes, i: int) -> bytes:
    """A few changed lines in a large file: a comment near the top, one in the
    middle, and a small function at the end."""
    lines = body.split(b"\n")
    mid = len(lines) // 2
    while mid < len(lines) - 1 and lines[mid].strip():
        mid += 1  # a blank line: a comment there cannot break a statement
    lines.insert(mid, b"# reviewed for the traingate benchmark")
    text = b"\n".join(lines).rstrip(b"\n") + b"\n"
    return text + bench.APPENDED.format(i=i).encode()


def build(cache: Path, tiers: list[int], seed: int) -> dict[str, Any]:
    repo = cache / "repo"
    meta_file = cache / "repo.json"
    key = hashlib.sha256(json.dumps([WHEELS, tiers, seed, bench.POLICY, 1]).encode()).hexdigest()[:16]
    if repo.is_dir() and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("key") == key:
            log(f"reusing {repo}")
            return meta
    wheels = fetch(cache)
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    bench.git(repo, "init", "-q", "-b", "main")
    (repo / ".traingate.yaml").write_text(bench.POLICY)
    for whl, (name, ver, _) in zip(wheels, WHEELS, strict=True):
        with zipfile.ZipFile(whl) as z:
            for info in z.infolist():
                n = info.filename
                if not n.endswith(".py") or ".dist-info/" in n or n.startswith("/") or ".." in n.split("/"):
                    continue
                t = repo / n
                t.parent.mkdir(parents=True, exist_ok=True)
                t.write_bytes(z.read(info))
        bench.git(repo, "add", "-A")
        bench.git(repo, "commit", "-q", "-m", f"Import {name} {ver}")
    py = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.py"))
    sizes = {p: (repo / p).stat().st_size for p in py}
    lines = {p: (repo / p).read_bytes().count(b"\n") for p in py}
    pool = [p for p in py if sizes[p] >= LARGE_MIN_BYTES]
    random.Random(seed).shuffle(pool)
    top = pool[: max(tiers)]
    tmp = cache / "tmp"
    tmp.mkdir(exist_ok=True)
    blobs = []
    for i, p in enumerate(top):
        f = tmp / f"edit-{i}.py"
        f.write_bytes(edit((repo / p).read_bytes(), i))
        blobs.append(f)
    oids = bench.git(repo, "hash-object", "-w", "--stdin-paths",
                     stdin=("\n".join(map(str, blobs)) + "\n").encode()).split()
    for f in blobs:
        f.unlink()
    idx = tmp / "bench.index"
    tier_paths = {}
    for n in sorted(tiers):
        chosen = [("100644", oids[i].decode(), p) for i, p in enumerate(top[:n])]
        bench.branch_commit(repo, idx, chosen, f"large-{n}", f"Edit {n} large Python files")
        tier_paths[str(n)] = top[:n]
    meta = {"key": key, "files": len(py), "lines": sum(lines.values()), "bytes": sum(sizes.values()),
            "tiers": tier_paths, "packages": [f"{n}=={v}" for n, v, _ in WHEELS], "py": py,
            "lines_of": lines}
    meta_file.write_text(json.dumps(meta))
    log(f"corpus: {len(py)} .py files, {meta['lines']:,} lines, {meta['bytes'] / 1e6:.1f} MB")
    return meta


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache: Path = args.cache
        self.tmp = self.cache / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.traingate = bench.beside_python("traingate")
        self.semgrep = bench.beside_python("semgrep")
        self.floor = self.tmp / "floor.yaml"
        self.floor.write_text(FLOOR_RULE)
        self.bandit = None if args.no_bandit else bench.ensure_bandit(self.cache)
        self.jobs = len(os.sched_getaffinity(0))

    def env(self, cache_dir: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINGATE_", "SEMGREP_", "GIT_"))}
        if cache_dir is not None:
            env["TRAINGATE_CACHE_DIR"] = str(cache_dir)
        return env

    def sg(self, config: Path, targets: list[str]) -> list[str]:
        return [self.semgrep, "scan", "--experimental", "--config", str(config), "--metrics=off",
                "--disable-version-check", f"--jobs={self.jobs}", "--json", "--quiet", "--no-git-ignore",
                "--timeout=0", "--max-target-bytes=0", *targets]

    def scenario(self, sid: str, branch: str | None, paths: list[str], repo: Path) -> dict[str, Any]:
        """Every tool once on the same head files; the tool order rotates by run."""
        if branch is None:
            tdir, targets = repo, paths
        else:
            tdir = self.tmp / f"targets-{sid}"
            targets = bench.materialize(repo, branch, paths, tdir)
        runs: list[bench.Run] = []
        tools = [t for t in self.args.tools if t != "bandit" or self.bandit]
        for r in range(self.args.runs):
            for tool in tools[r % len(tools):] + tools[: r % len(tools)]:
                out = self.tmp / f"out-{sid}-{tool}.json"
                if tool == "traingate":
                    cold = Path(tempfile.mkdtemp(prefix="cold-", dir=self.tmp))
                    cmd = ([self.traingate, "scan", ".", "--format", "json"] if branch is None else
                           [self.traingate, "check", "--base", "main", "--head", branch, "--format", "json"])
                    env = self.env(cold)
                    if self.args.timeline is not None:  # src/traingate/timeline.py
                        self.args.timeline.mkdir(parents=True, exist_ok=True)
                        env["TRAINGATE_TIMELINE"] = str(self.args.timeline / f"{sid}-{r}.jsonl")
                    run = bench.measure(cmd, repo, env, out, "traingate", None)
                    shutil.rmtree(cold, ignore_errors=True)
                elif tool in ("semgrep", "floor"):
                    cfg = RULES if tool == "semgrep" else self.floor
                    run = bench.measure(self.sg(cfg, targets), tdir, self.env(), out, "osemgrep", None,
                                        len(targets))
                    run.tool = tool
                else:
                    run = bench.measure([self.bandit, "-q", "-f", "json", *targets], tdir, self.env(), out,
                                        "bandit", None)
                log(f"{sid:10s} {tool:9s} {run.wall:8.2f}s wall {run.cpu:8.2f}s cpu {run.peak_mb:6.0f} MB "
                    f"rc={run.rc}{' ERR ' + '; '.join(run.errors) if run.errors else ''}")
                runs.append(run)
        return {"id": sid, "files": len(targets), "runs": [r.__dict__ for r in runs]}

    def profile(self, repo: Path, targets: list[str], lines: int, rules: Path) -> dict[str, Any]:
        """semgrep --time --json with one job: per-rule match time per 10,000 lines."""
        cmd = self.sg(rules, targets)
        cmd = [c for c in cmd if not c.startswith("--jobs")] + ["--jobs=1", "--time"]
        t0 = time.perf_counter()
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, cwd=repo, capture_output=True, env=self.env(), check=False)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - t0
        # CPU seconds are what compare on a shared machine; wall time follows the load.
        cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        doc = json.loads(p.stdout)
        t = doc["time"]
        rules = [r.rsplit(".", 1)[-1] for r in t["rules"]]
        cost: Counter[str] = Counter()
        per_file: Counter[str] = Counter()
        for x in t["targets"]:
            for i, m in enumerate(x["match_times"]):
                cost[rules[i]] += m
            per_file[x["path"]] = x["run_time"]
        return {"files": len(targets), "lines": lines, "wall_s": wall, "cpu_s": cpu,
                "load_average": os.getloadavg(),
                "parsing_s": t["parsing_time"]["total_time"], "matching_s": t["matching_time"]["total_time"],
                "scanning_s": t["scanning_time"]["total_time"], "tainting_s": t["tainting_time"]["total_time"],
                "per_rule_s": dict(cost.most_common()),
                "per_rule_s_per_10k_lines": {r: c * 1e4 / lines for r, c in cost.most_common()},
                "slowest_files_s": dict(per_file.most_common(10)), "results": len(doc["results"]),
                "errors": len(doc["errors"])}


def screened_profile(runner: Runner, repo: Path, targets: list[str], lines: int,
                     rules: Path = RULES) -> dict[str, Any]:
    """The profile with screens: each file under its masked name, the pack as
    traingate materializes it; the masks' own Python time is reported apart."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from traingate.checks.semgrep.screenpack import ScreenedPack
    from traingate.checks.semgrep.targets import Target

    with tempfile.TemporaryDirectory(prefix="screened-") as tmp:
        pack = ScreenedPack(rules, Path(tmp))  # --rules: an older pack's screens too
        root = Path(tmp) / "t"
        root.mkdir()
        (root / ".semgrepignore").write_text("")
        names = []
        c0 = time.process_time()
        for i, p in enumerate(targets):
            text = (repo / p).read_text(encoding="utf-8", errors="surrogateescape")
            name = pack.name(Target(str(i), p, ".py", text), i, None)
            if name is not None:
                (root / name).write_text(text, encoding="utf-8", errors="surrogateescape")
                names.append(name)
        mask_cpu = time.process_time() - c0
        prof = runner.profile(root, names, lines, pack.files(None)[0])
    prof.update(mask_cpu_s=mask_cpu, files_given_to_semgrep=len(names), files=len(targets))
    return prof


def med(runs: list[dict[str, Any]], tool: str, key: str) -> float | None:
    v = sorted(r[key] for r in runs if r["tool"] == tool and not r["errors"])
    return v[len(v) // 2] if v else None


def render(res: dict[str, Any]) -> str:
    c = res["corpus"]
    out = [f"Corpus: {', '.join(c['packages'])}: {c['files']:,} .py files, {c['lines']:,} lines, "
           f"{c['bytes'] / 1e6:.1f} MB. Load average {res['load'][0]:.2f} at start, {res['load_end'][0]:.2f} at end.",
           "", "| scenario | files | traingate s (cpu) | semgrep s (cpu) | floor s (cpu) | bandit s (cpu) | "
           "tg/semgrep | tg/floor | tg/bandit | peak MB tg / sg / floor / bandit | tg findings | errors |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["scenarios"]:
        w = {t: med(s["runs"], t, "wall") for t in ("traingate", "semgrep", "floor", "bandit")}
        u = {t: med(s["runs"], t, "cpu") for t in w}
        m = {t: med(s["runs"], t, "peak_mb") for t in w}
        f = {t: med(s["runs"], t, "findings") for t in w}
        ratio = {t: (w["traingate"] / w[t] if w["traingate"] and w[t] else None) for t in w}
        errs = sorted({e for r in s["runs"] for e in r["errors"]})
        out.append(
            f"| {s['id']} | {s['files']} | " + " | ".join(f"{bench.fmt(w[t])} ({bench.fmt(u[t], '.0f')})"
                                                      for t in ("traingate", "semgrep", "floor", "bandit"))
            + " | " + " | ".join(bench.fmt(ratio[t]) for t in ("semgrep", "floor", "bandit"))
            + " | " + " / ".join(bench.fmt(m[t], ".0f") for t in ("traingate", "semgrep", "floor", "bandit"))
            + f" | {bench.fmt(f['traingate'], '.0f')} | {'; '.join(errs)[:200] or '–'} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", default=["large-20", "large-200", "full-scan"],
                    help="large-20 large-200 full-scan (default: all three, in that order)")
    ap.add_argument("--runs", type=int, default=1, help="runs per tool and scenario (1)")
    ap.add_argument("--tiers", type=lambda s: [int(x) for x in s.split(",")], default=[20, 200])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", choices=["sample", "tier-20", "full"],
                    help="instead of timing: semgrep --time per rule on every 40th .py file (sample), "
                         "the 20-file change's head files, or the whole corpus")
    ap.add_argument("--rules", type=Path, default=RULES,
                    help="rule pack for --profile (default: policy/rules; e.g. an older revision's copy)")
    ap.add_argument("--tag", default="", help="suffix of the --profile output file, e.g. -before")
    ap.add_argument("--no-bandit", action="store_true")
    ap.add_argument("--tools", nargs="+", default=["traingate", "semgrep", "floor", "bandit"],
                    choices=["traingate", "semgrep", "floor", "bandit"],
                    help="which tools a scenario runs (default: all four)")
    ap.add_argument("--screened", action="store_true",
                    help="--profile with the rules' screens applied, as traingate runs them "
                         "(src/traingate/checks/semgrep/screen.py)")
    ap.add_argument("--timeline", type=Path, metavar="DIR",
                    help="TRAINGATE_TIMELINE for each traingate run: DIR/<scenario>-<run>.jsonl, "
                         "one JSON line per phase (check, semgrep cutting, each semgrep process)")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache" / "large")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)
    meta = build(args.cache, args.tiers, args.seed)
    repo = args.cache / "repo"
    runner = Runner(args)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.profile:
        if args.profile == "sample":
            targets = meta["py"][39::40]
        elif args.profile == "tier-20":
            targets = meta["tiers"]["20"]
        else:
            targets = meta["py"]
        lines = sum(meta["lines_of"][p] for p in targets)
        if args.screened:
            prof = screened_profile(runner, repo, targets, lines, args.rules)
        else:
            prof = runner.profile(repo, targets, lines, args.rules)
        prof["rules_dir"] = str(args.rules)
        path = args.out / f"large-profile-{args.profile}{args.tag}.json"
        path.write_text(json.dumps(prof, indent=1))
        print(f"{prof['files']} files, {lines:,} lines: wall {prof['wall_s']:.1f}s, cpu {prof['cpu_s']:.1f}s, "
              f"matching {prof['matching_s']:.1f}s, parsing {prof['parsing_s']:.1f}s"
              + (f", masks {prof['mask_cpu_s']:.1f} cpu s, {prof['files_given_to_semgrep']} files to semgrep"
                 if args.screened else ""))
        for r, v in list(prof["per_rule_s_per_10k_lines"].items())[:20]:
            print(f"  {v:6.3f} s / 10k lines  {r}")
        print(f"written to {path}")
        return 0
    res: dict[str, Any] = {"corpus": {k: v for k, v in meta.items() if k not in ("py", "lines_of", "tiers")},
                           "load": os.getloadavg(), "nproc": os.cpu_count(), "scenarios": []}
    for sid in args.only:
        if sid == "full-scan":
            res["scenarios"].append(runner.scenario(sid, None, meta["py"], repo))
        else:
            n = sid.split("-")[1]
            res["scenarios"].append(runner.scenario(sid, f"large-{n}", meta["tiers"][n], repo))
    res["load_end"] = os.getloadavg()
    table = render(res)
    (args.out / "large.json").write_text(json.dumps(res, indent=1, default=str))
    (args.out / "large.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
