"""Running semgrep: the command line, batches, limits, and reading its JSON.

semgrep runs over blobs materialized into a temp tree, with
``--metrics=off --disable-version-check --disable-nosem``, local rules only,
explicit targets (so semgrep's default ignore list, which skips ``tests/``,
and any ``.semgrepignore`` in the change do not apply), per-file time and
memory limits whose every hit is reported and blocks (issue #17), and an
overall timeout, scaled with the bytes scanned, that blocks. A file semgrep
cannot parse, skips, or times out on becomes a blocking error hit.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traingate.cache import installation
from traingate.checks.semgrep.cache import Cache
from traingate.checks.semgrep.hits import Hit, cacheable, merge_into
from traingate.checks.semgrep.results import parse as _parse
from traingate.checks.semgrep.rulepack import RulePack
from traingate.checks.semgrep.schedule import MemoryGate, estimate_mb
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.checks.semgrep.targets import Target, is_python
from traingate.checks.semgrep.unitcut import Seen
from traingate.errors import CheckError

if TYPE_CHECKING:  # screen.py loads on the first target semgrep must see
    from traingate.checks.semgrep.screenpack import ScreenedPack

# Bytes of target names past which semgrep scans the temp dir instead (ARG_MAX).
MAX_ARGV_NAMES = 100_000
# semgrep's OCaml CLI skips the Python CLI's ~6 s of start-up and rule loading;
# both hand the same rules and targets to the same semgrep-core matcher.
_ENGINE_FLAGS = {"osemgrep": ("--experimental",), "pysemgrep": ()}

# Limits per unit of work (issue #17). semgrep's --timeout bounds one rule on
# one file; a file that hits it (or --max-memory) is reported in the JSON
# `errors` with its path, which _parse turns into a blocking
# `semgrep-incomplete` finding naming the file and rule: never a silent pass.
# The per-rule limit scales with the largest file of its run: the costliest
# rule took ~0.01 s per KB on the large-file corpus (docs/performance.md), so
# this leaves a 10x margin. After TIMEOUT_THRESHOLD timeouts semgrep gives up
# on the file (it still blocks) instead of spending that much on every rule.
RULE_TIMEOUT_BASE_S = 10.0
RULE_TIMEOUT_PER_KB_S = 0.1
TIMEOUT_THRESHOLD = 3
MAX_MEMORY_MB = 1000  # per semgrep-core process and file; more is reported and blocks
# The overall limit grows with the change: checks.semgrep.timeout plus this
# much per MB scanned (the large-file corpus costs ~2 CPU s per MB after the
# issue #17 rewrites; 60 s per MB is a backstop, not the expected time).
OVERALL_S_PER_MB = 60.0
# Past SINGLE_RUN_BYTES (or BATCH_FILES files) the targets are split into
# batches of about equal bytes, each one semgrep process with one job,
# usable_cpus() of them at a time. One-job processes cost less CPU than
# semgrep's own --jobs: on a 200-file change of large files (2.2 MB) one
# process with --jobs=2 took 37 CPU s and 25 s, four one-job batches 28 CPU s
# and 19 s; on 20 files (180 kB) two batches took 1.0 s against 1.35 s. A
# process's memory is bounded by its batch (semgrep-core's heap grew through a
# whole-corpus run to 1.5 GB), and finished batches give progress. Below it,
# one process keeps the single start that a commit of a few files needs.
SINGLE_RUN_BYTES = 100_000
BATCH_BYTES = 1_000_000  # at most about this much per batch, plus one file
# A whole-repository scan's batches (issue #17: 500 MB for the tree). Each
# process pays ~0.45 CPU s to start and load the pack (103 processes of
# 0.5 MB took ~45 of the wheel corpus's 369 semgrep CPU s); its RSS starts at
# ~130 MB and grows little with the batch: on 5.6 MB of it, 0.5 MB batches
# peaked at 165-178 MB, 1.5 MB ones at 190-193 (the largest file's own peak,
# ~200-227 MB, is the gate's model: schedule.py).
SCAN_BATCH_BYTES = 1_500_000
BATCH_FILES = 400


class Engine:
    def __init__(
        self,
        pack: RulePack,
        settings: SemgrepSettings,
        cache_dir: Path | None,
        batch_bytes: int = BATCH_BYTES,
        work_dir: Path | None = None,
    ) -> None:
        self.pack = pack
        self.settings = settings
        self.batch_bytes = batch_bytes
        # The cache's key includes the semgrep version: another matcher may match
        # otherwise; and traingate's own installation (session 25): a hit is keyed
        # by blob and extension, so a new traingate that builds another text for
        # the same blob (a notebook's conversion, a screen) must not reuse hits
        # of the old one, even with the same rules.
        self.cache = (
            Cache(
                cache_dir,
                f"{pack.digest}:{settings.engine}:{installation()}",
                semgrep_version(),
            )
            if cache_dir
            else None
        )
        # Screens (screen.py) narrow the shipped pack only: a custom rule dir
        # may hold rules of any language for any file.
        self._screens = pack.builtin is not None and pack.dirs == (pack.builtin,)
        self._work_dir = work_dir
        self._built: ScreenedPack | None = None
        self._unit_tests: dict[int, Callable[[Any], bool]] | None = None  # unitcut.py
        self._seen = Seen()

    def _screened(self) -> ScreenedPack | None:
        """The screened pack, built on first use: a warm re-check answered by
        the cache never reads or copies the rule files (74 of them)."""
        if self._built is None and self._screens:
            from traingate.checks.semgrep.screenpack import ScreenedPack

            assert self.pack.builtin is not None
            self._built = ScreenedPack(self.pack.builtin, self._work_dir)
            self._built.screens = self._seen.watch(self._built.screens)  # unitcut.py
        return self._built

    def name(self, t: Target, i: int, rules: set[str] | None = None) -> str | None:
        """The name ``t`` is written under for semgrep: ``t<i><ext>``, or with
        screens ``t<i>-<mask><ext>``; None when no rule can match it (then it
        is answered with no hits and semgrep never sees it)."""
        screened = self._screened()
        if screened is None:
            return f"t{i}{t.ext}"
        return screened.name(t, i, rules)

    def names(self, t: Target, i: int, rules: set[str] | None = None) -> list[tuple[str, str]]:
        """Each name ``t`` is written under with the text written there ("": its
        own): name()'s, or (unitcut.py) the whole file's and a cut's; none
        when no rule can match it."""
        # The cyclic collector paused from the mask to the cut, and the file's
        # tree gone (no cycle: refcounts free it) before it resumes. Resumed
        # between the two, its first collection traversed the whole young
        # tree: 2.2 of a scan's ~39 screening CPU s on the large corpus (#17).
        was = gc.isenabled()
        gc.disable()
        try:
            return self._names(t, i, rules)
        finally:
            if was:
                gc.enable()

    def _names(self, t: Target, i: int, rules: set[str] | None) -> list[tuple[str, str]]:
        self._seen.take()
        name = self.name(t, i, rules)
        facts, built = self._seen.take(), self._built
        if name is None:
            return []
        if built is None or facts is None or not is_python(t) or t.problem:
            return [(name, "")]
        if self._unit_tests is None:
            from traingate.checks.semgrep import unitcut

            # The rule texts the screened pack already read: not the 78 files again.
            self._unit_tests = unitcut.unit_tests(built.sources, built.screens.ids)
        if not self._unit_tests:
            return [(name, "")]
        from traingate.checks.semgrep.unitcut import split

        # A rule no screen covers still runs on a whole file whose mask is all zeros.
        wide = getattr(built, "_open_python", None)
        wide = True if wide is None else bool(wide if rules is None else wide & rules)
        cut = split(name, len(built.screens.ids), facts, self._unit_tests, wide)
        if cut is None:
            return [(name, "")]
        return [(n, "") for n in [cut.whole] if n is not None] + list(cut.cuts)

    def parsed(self, key: str) -> bool:
        """Whether Python parsed this target's text while screening it."""
        return self._built is not None and key in self._built.parsed

    def configs(self, rules: set[str] | None = None) -> list[Path]:
        """The rule files or dirs semgrep loads (all of them, or ``rules``)."""
        screened = self._screened()
        if screened is not None:
            return screened.files(rules)
        return list(self.pack.dirs) if rules is None else self.pack.files_for(rules)

    def misses(self, targets: Sequence[Target]) -> list[Target]:
        """The targets the cache cannot answer (each key once)."""
        if self.cache is None:
            return list({t.key: t for t in targets}.values())
        return [t for t in {t.key: t for t in targets}.values() if not self.cache.has(t.key)]

    def scan(self, targets: Sequence[Target]) -> dict[str, list[Hit]]:
        results: dict[str, list[Hit]] = {}
        misses: dict[str, Target] = {}
        for t in targets:
            cached = self.cache.get(t.key) if self.cache else None
            if cached is not None:
                results[t.key] = cached
            else:
                misses.setdefault(t.key, t)
        if misses:
            fresh = self._run(list(misses.values()))
            for key, hits in fresh.items():
                results[key] = hits
                if self.cache and cacheable(hits):
                    self.cache.put(key, hits)
        return results

    def scan_with_rules(self, targets: Sequence[Target], rules: set[str]) -> dict[str, list[Hit]]:
        """Scan with only ``rules``. The answer is partial, so it is cached under
        the blob's key and that exact rule set, never under the blob's alone: a
        warm re-check of a large change starts no second run either."""
        if not targets:
            return {}
        tag = "\0rules:" + ",".join(sorted(rules))  # no path, so no key, holds a NUL
        results: dict[str, list[Hit]] = {}
        misses: dict[str, Target] = {}
        for t in targets:
            cached = self.cache.get(t.key + tag) if self.cache else None
            if cached is not None:
                results[t.key] = cached
            else:
                misses.setdefault(t.key, t)
        if misses:
            fresh = self._run(list(misses.values()), rules)
            for key, hits in fresh.items():
                results[key] = hits
                if self.cache and cacheable(hits):
                    self.cache.put(key + tag, hits)
        return results

    def command(self, exe: str, rules: set[str] | None = None) -> list[str]:
        """semgrep's command line but for the per-rule timeout, jobs and targets."""
        cmd = [
            exe,
            "scan",
            *_ENGINE_FLAGS[self.settings.engine],
            "--json",
            "--quiet",
            "--metrics=off",
            "--disable-version-check",
            "--disable-nosem",
            "--no-git-ignore",
            "--no-rewrite-rule-ids",
            "--oss-only",
            "--max-target-bytes=0",
            f"--timeout-threshold={TIMEOUT_THRESHOLD}",
            f"--max-memory={MAX_MEMORY_MB}",
        ]
        return cmd + [f"--config={d}" for d in self.configs(rules)]

    def _run(self, targets: list[Target], rules: set[str] | None = None) -> dict[str, list[Hit]]:
        exe = semgrep_executable()
        with tempfile.TemporaryDirectory(prefix="traingate-scan-") as tmp:
            root = Path(tmp)
            # An empty .semgrepignore replaces semgrep's default ignore list.
            (root / ".semgrepignore").write_text("")
            names: dict[str, Target] = {}
            unmatchable: dict[str, list[Hit]] = {}
            for i, t in enumerate(targets):
                written = self.names(t, i, rules)
                if not written:
                    unmatchable[t.key] = []
                for name, text in written:
                    _materialize(t, root / name, text)
                    names[name] = t
            if not names:
                return unmatchable
            base_cmd = self.command(exe, rules)
            size = {n: (root / n).stat().st_size for n in names}
            limit = self.settings.timeout + int(OVERALL_S_PER_MB * sum(size.values()) / 1e6)
            try:
                if sum(size.values()) <= SINGLE_RUN_BYTES and len(names) <= BATCH_FILES:
                    cmd = [*base_cmd, _rule_timeout(max(size.values(), default=0))]
                    cmd.append(f"--jobs={usable_cpus()}")
                    # Past ~100 kB of names the argument list nears the kernel's
                    # limit (a 100,000-file change); the temp dir holds exactly
                    # the targets, so scanning it is the same work, and _parse
                    # still requires every name.
                    listed = sorted(names)
                    cmd += listed if sum(len(n) + 1 for n in listed) < MAX_ARGV_NAMES else ["."]
                    out = _invoke(cmd, root, limit)
                else:
                    hits = _run_batches(base_cmd, root, names, size, limit, self.batch_bytes)
                    return {**unmatchable, **hits}
            except CheckError as exc:
                raise CheckError(self.pack.explain(exc.message), help=exc.help) from None
            return {**unmatchable, **_parse(out, names, root)}


def _materialize(t: Target, path: Path, text: str = "") -> None:
    """Write ``t`` (or ``text``: a unit cut of it) where semgrep reads it: a
    spilled text is linked (copied across file systems), never read back into
    memory (issue #17)."""
    if text or not t.spill:
        path.write_text(text or t.text, encoding="utf-8", errors="surrogateescape", newline="")
        return
    try:
        os.link(t.spill, path)
    except OSError:
        shutil.copyfile(t.spill, path)


def _rule_timeout(largest_bytes: int) -> str:
    """semgrep's per-(rule, file) limit for a run whose largest file has this
    size (issue #17); a hit is an error that blocks the file."""
    secs = RULE_TIMEOUT_BASE_S + RULE_TIMEOUT_PER_KB_S * largest_bytes / 1000
    return f"--timeout={math.ceil(secs)}"


def _run_batches(
    base_cmd: list[str],
    root: Path,
    names: dict[str, Target],
    size: dict[str, int],
    limit: int,
    batch_bytes: int,
) -> dict[str, list[Hit]]:
    """A large run as batches, usable_cpus() semgrep processes at a time with
    one job each, started under a memory budget (schedule.py; issue #17):
    memory is bounded per process and for all of them together, each batch's
    per-rule timeout follows its own largest file, and the whole run stays
    under one deadline. Any batch's failure fails the run. Each batch's JSON
    becomes hits as it arrives: a whole scan's JSON is not held at once."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    batches = plan_batches(size, usable_cpus(), batch_bytes)
    t0 = time.monotonic()
    deadline = t0 + limit
    progress = _Progress(len(size), t0)
    lock = threading.Lock()

    def one(batch: list[str], peak: list[float]) -> dict[str, list[Hit]]:
        cmd = [*base_cmd, _rule_timeout(size[batch[0]]), "--jobs=1", *batch]
        left = max(1, math.ceil(deadline - time.monotonic()))
        # The message names the whole run's limit, as a single run would.
        out = _invoke(cmd, root, left, shown_timeout=limit, peak=peak)
        # A batch answers for its own files only: every one scanned, no other.
        return _parse(out, {n: names[n] for n in batch}, root)

    def worker() -> None:
        while (batch := gate.take()) is not None:
            peak: list[float] = []
            try:
                hits = one(batch, peak)
            except BaseException:
                gate.cancel()  # no new batch starts; running ones finish
                raise
            finally:
                gate.release(batch, peak[0] if peak else None)
            with lock:
                merge_into(merged, hits)
                answered.update(batch)
                progress.done(len(batch))

    # Each batch's largest file comes first (plan_batches).
    gate = MemoryGate(batches, lambda b: estimate_mb(size[b[0]]))
    merged: dict[str, list[Hit]] = {}
    answered: set[str] = set()
    with ThreadPoolExecutor(max_workers=usable_cpus()) as pool:
        futures = [pool.submit(worker) for _ in range(min(usable_cpus(), len(batches)))]
    for f in futures:
        f.result()  # the first failure, if any, fails the run
    missing = {names[n].key for n in names.keys() - answered}
    if missing:  # never a silent pass: every name (a cut's too) is answered for
        raise CheckError(f"semgrep was not run on {len(missing)} of the files to check")
    progress.finish()
    return merged


def plan_batches(
    size: dict[str, int], cpus: int, batch_bytes: int = BATCH_BYTES
) -> list[list[str]]:
    """Names split into a multiple of ``cpus`` batches of about equal bytes,
    each at most ~``batch_bytes`` (plus one file) and on average at most
    BATCH_FILES files; the largest batches first, each one's largest file first.

    Longest-processing-time first: each file, largest first, goes to the
    lightest batch, so the last batches to finish are about as long as the
    others and no core idles at the end (a size-sorted fill left one batch of
    the largest files running alone)."""
    import heapq

    if not size:
        return []
    total = sum(size.values())
    # Past one full batch, two per CPU: files of one size differ in cost, and
    # a core that finishes early takes the next batch instead of idling.
    per_cpu = 2 if total > batch_bytes else 1
    n = max(per_cpu * cpus, math.ceil(total / batch_bytes), math.ceil(len(size) / BATCH_FILES))
    n = min(len(size), max(1, cpus) * math.ceil(n / max(1, cpus)))
    heap: list[tuple[int, int, list[str]]] = [(0, i, []) for i in range(n)]
    for name in sorted(size, key=lambda k: (-size[k], k)):
        held, i, names = heapq.heappop(heap)
        names.append(name)
        heapq.heappush(heap, (held + size[name], i, names))
    return [names for _, _, names in sorted(heap, key=lambda b: (-b[0], b[1])) if names]


class _Progress:
    """Files done / total and elapsed time on stderr for batched runs (issue
    #17): on a terminal by default, in CI logs only with TRAINGATE_PROGRESS=1
    (TRAINGATE_PROGRESS=0 silences it everywhere)."""

    def __init__(self, total: int, t0: float) -> None:
        flag = os.environ.get("TRAINGATE_PROGRESS", "")
        self.on = flag == "1" or (flag != "0" and sys.stderr.isatty())
        self.tty = sys.stderr.isatty()
        self.total = total
        self.files = 0
        self.t0 = t0

    def done(self, n: int) -> None:
        self.files += n
        if self.on:
            line = (
                f"traingate: semgrep {self.files}/{self.total} files, "
                f"{time.monotonic() - self.t0:.0f}s"
            )
            # On a terminal the line is redrawn in place; a log gets one line each.
            print(
                f"\r{line}" if self.tty else line,
                end="" if self.tty else "\n",
                file=sys.stderr,
                flush=True,
            )

    def finish(self) -> None:
        if self.on and self.tty:
            print(file=sys.stderr, flush=True)


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU
    quota (a CI container limited to 2 CPUs on a 64-core host must not start
    64 semgrep workers that then fight over 2)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota readable: the affinity mask stands
    return max(1, n)


def semgrep_executable() -> str:
    """$TRAINGATE_SEMGREP, else semgrep beside our interpreter (the one we were
    installed with), else PATH."""
    override = os.environ.get("TRAINGATE_SEMGREP")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise CheckError(f"TRAINGATE_SEMGREP={override} is not an executable file")
        return override
    local = Path(sys.executable).with_name("semgrep")
    if local.exists():
        return str(local)
    found = shutil.which("semgrep")
    if not found:
        raise CheckError(
            "semgrep is not installed or not on PATH",
            help="install it with `python -m pip install 'semgrep>=1.150'`",
        )
    return found


class _Measured(subprocess.Popen[bytes]):
    """A Popen that keeps its process's peak resident memory (ru_maxrss, kB on
    Linux) when it reaps it: semgrep execs semgrep-core in place, so the pid
    waited for is the matcher itself (issue #17: the memory gate's feedback)."""

    maxrss_kb = 0
    cpu = 0.0  # its user + system seconds, for the timeline (timeline.py)

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        try:
            pid, sts, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:  # reaped elsewhere: as CPython's own _try_wait
            return (self.pid, 0)
        if pid:
            self.maxrss_kb, self.cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        return (pid, sts)


def _run(cmd: list[str], cwd: Path, timeout: int, env: dict[str, str]) -> tuple[Any, int]:
    """subprocess.run(capture_output=True, timeout=...), plus the peak RSS in kB."""
    from traingate import timeline

    t0 = time.monotonic()
    with _Measured(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    timeline.record("semgrep-process", t0, time.monotonic(), proc.cpu, mb=proc.maxrss_kb >> 10)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), proc.maxrss_kb


def _invoke(
    cmd: list[str],
    cwd: Path,
    timeout: int,
    shown_timeout: int | None = None,
    peak: list[float] | None = None,
) -> dict[str, Any]:
    """semgrep's JSON; ``peak`` gets the process's peak RSS in MB, if measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMGREP_")}
    env.update({"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"})
    try:
        proc, maxrss_kb = _run(cmd, cwd, timeout, env)
        if peak is not None and maxrss_kb > 0:
            peak.append(maxrss_kb / 1024)
    except subprocess.TimeoutExpired:
        raise CheckError(
            f"semgrep did not finish within {shown_timeout or timeout}s; the change is blocked",
            help="raise checks.semgrep.timeout in the trusted policy, or split the change",
        ) from None
    except OSError as exc:
        raise CheckError(f"semgrep could not be started: {exc}") from None
    if proc.returncode not in (0, 1):
        tail = _json_errors(proc.stdout) or proc.stderr.decode("utf-8", "replace").strip()[-800:]
        raise CheckError(f"semgrep exited with code {proc.returncode}: {tail or '(no output)'}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise CheckError("semgrep printed output that is not JSON") from None
    if not isinstance(data, dict) or "results" not in data:
        raise CheckError("semgrep's JSON output has no results")
    return data


def _json_errors(stdout: bytes) -> str:
    """With --json semgrep reports a bad rule on stdout, not stderr: name it."""
    try:
        errors = json.loads(stdout).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for e in errors[:3] if isinstance(errors, list) else []:
        if not isinstance(e, dict):
            continue
        where = [sp.get("file") for sp in e.get("spans") or [] if isinstance(sp, dict)]
        text = e.get("long_msg") or e.get("message") or e.get("type") or ""
        parts.append(f"{text} ({where[0]})" if where and where[0] else str(text))
    return "; ".join(parts)[:800]


def semgrep_version() -> str:
    try:
        # The package's own constant: importlib.metadata would load email,
        # zipfile and csv, ~5% of a warm hook run (issue #17).
        from semgrep import __VERSION__  # type: ignore[import-untyped]

        return str(__VERSION__)
    except Exception:  # the metadata, then the binary, answer instead
        pass
    try:
        from importlib.metadata import version

        return version("semgrep")
    except Exception:
        out = subprocess.run([semgrep_executable(), "--version"], capture_output=True, check=False)
        return out.stdout.decode().strip() or "unknown"
