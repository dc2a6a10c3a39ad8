"""One harness for every check's marker fixtures (issue #15; zizmor's model).

``tests/fixtures/checks/<check>/`` mirrors a repository: each file there is
added (or, with a ``.base`` sidecar, modified) at its relative path by one
commit of another author, and the real gate judges that change once (one
semgrep process). The exact set of (path, line, rule, level) it reports must
equal what the fixtures' markers say; the failure lists what is missing and
what is unexpected. The marker format is in tests/fixtures/checks/README.md.
"""

from __future__ import annotations

import os
import re
import runpy
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from traingate.gate import CheckRequest, check
from traingate.policy.model import Severity

from ..conftest import Repo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
# The base commit's policy unless the check's directory holds its own (read
# from the base, like the gate reads it: the change cannot loosen it).
DEFAULT_POLICY = "version: 1\nextends: builtin:default\n"
POLICY = ".traingate.yaml"
# Sidecars describe a fixture; they are never committed themselves.
SIDECARS = (".expect", ".gen.py", ".base", ".symlink", ".gitlink", ".exec")
# Sidecars that stand in for the fixture's content: the file itself need not exist.
STAND_INS = (".gen.py", ".symlink", ".gitlink")
# Dropped from the path in the repository under test: for names that would act
# on traingate's own checkout (.gitattributes, .semgrepignore, sitecustomize.py).
RENAME = ".fixture"
LEVELS = {"BLOCK": Severity.ERROR, "WARN": Severity.WARNING, "INFO": Severity.INFO}
_IDS = r"([a-z0-9][a-z0-9-]*(?:\s*,\s*[a-z0-9][a-z0-9-]*)*)"
# A trailing comment in the file's own syntax: # // -- ; % /* <!-- REM.
MARKER = re.compile(r"(?:#|//|--|;|%|/\*|<!--|\bREM)\s*(BLOCK|WARN|INFO):\s*" + _IDS)
PASS = re.compile(r"(?:#|//|--|;|%|/\*|<!--|\bREM)\s*PASS\b")
# .expect lines: `<line>: BLOCK: rule-id[, rule-id]`, `file:` for a whole-file finding.
EXPECT = re.compile(r"^(\d+|file):\s*(BLOCK|WARN|INFO):\s*" + _IDS + r"\s*$")


class Expected(NamedTuple):
    path: str
    line: int | None
    rule: str
    level: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path} (whole file)"
        return f"{where}: {self.level} {self.rule}"


class Fixture(NamedTuple):
    source: Path  # the file under tests/fixtures/checks/<check>/
    path: str  # where the change puts it in the repository under test

    def sidecar(self, suffix: str) -> Path | None:
        p = self.source.with_name(self.source.name + suffix)
        return p if p.exists() else None


def checks_with_fixtures() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def fixtures(check_id: str) -> list[Fixture]:
    root = FIXTURES / check_id
    owners: set[Path] = set()
    for p in root.rglob("*"):
        if p.is_dir() or p.relative_to(root).as_posix() == POLICY:
            continue
        suffix = next((s for s in SIDECARS if p.name.endswith(s)), None)
        if suffix is None:
            owners.add(p)
            continue
        owner = p.with_name(p.name.removesuffix(suffix))
        if suffix in STAND_INS:  # the sidecar is the fixture: no file of its own
            owners.add(owner)
        else:  # a sidecar whose fixture is missing is a typo that tests nothing
            assert owner.is_file() or _stand_in(owner), f"orphan sidecar {p}"
    return [Fixture(p, p.relative_to(root).as_posix().removesuffix(RENAME)) for p in sorted(owners)]


def _stand_in(owner: Path) -> bool:
    return any(owner.with_name(owner.name + s).is_file() for s in STAND_INS)


def head_bytes(fx: Fixture) -> bytes:
    gen = fx.sidecar(".gen.py")
    if gen is not None:
        data = runpy.run_path(str(gen))["generate"]()
        assert isinstance(data, bytes), gen
        return data
    return fx.source.read_bytes()


def expected(fx: Fixture) -> tuple[set[Expected], bool]:
    """The findings the fixture's markers demand, and whether it says PASS."""
    out: set[Expected] = set()
    passes = False
    if fx.source.is_file() or fx.sidecar(".gen.py") is not None:
        text = head_bytes(fx).decode("utf-8", errors="replace")
        # Lines as git counts them: only \n ends one (not \r, \f or U+2028).
        for n, line in enumerate(text.split("\n"), 1):
            passes = passes or bool(PASS.search(line))
            for m in MARKER.finditer(line):
                out |= _entries(fx.path, n, m.group(1), m.group(2))
    exp = fx.sidecar(".expect")
    if exp is not None:
        got, said_pass = _expect_file(fx.path, exp)
        out |= got
        passes = passes or said_pass
    assert not (passes and out), f"{fx.source}: a PASS fixture carries markers"
    return out, passes


def _expect_file(path: str, exp: Path) -> tuple[set[Expected], bool]:
    out: set[Expected] = set()
    passes = False
    for raw in exp.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.strip() == "PASS":  # a binary look-alike: no finding at all
            passes = True
            continue
        m = EXPECT.match(raw)
        assert m is not None, f"{exp}: cannot read {raw!r}"
        line = None if m.group(1) == "file" else int(m.group(1))
        out |= _entries(path, line, m.group(2), m.group(3))
    return out, passes


def _entries(path: str, line: int | None, level: str, ids: str) -> set[Expected]:
    return {Expected(path, line, r.strip(), LEVELS[level].value) for r in ids.split(",")}


def marked_rules(check_id: str) -> set[str]:
    """Every rule some fixture of ``check_id`` must fire (read statically)."""
    return {e.rule for fx in fixtures(check_id) for e in expected(fx)[0]}


def build(repo: Repo, check_id: str, fxs: Iterable[Fixture]) -> None:
    """Base: the policy and every `.base`; head (by mallory): every fixture."""
    fxs = list(fxs)
    policy = FIXTURES / check_id / POLICY
    repo.write(POLICY, policy.read_text(encoding="utf-8") if policy.is_file() else DEFAULT_POLICY)
    for fx in fxs:
        base = fx.sidecar(".base")
        if base is not None:
            repo.write(fx.path, base.read_bytes())
    repo.commit("base")
    repo.branch("feature")
    gitlinks = []
    for fx in fxs:
        target = fx.sidecar(".symlink")
        dest = repo.path / fx.path
        if target is not None:
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target.read_text(encoding="utf-8").strip(), dest)
        elif fx.sidecar(".gitlink") is not None:
            gitlinks.append(fx.path)
        else:
            repo.write(fx.path, head_bytes(fx), 0o755 if fx.sidecar(".exec") else 0o644)
    repo.git("add", "-A")
    base_sha = repo.git("rev-parse", "main").strip()
    for path in gitlinks:
        # A submodule entry pointing at a commit (any id will do; the base's).
        repo.git("update-index", "--add", "--cacheinfo", f"160000,{base_sha},{path}")
    repo.git("commit", "-q", "--no-verify", "-m", f"{check_id} fixtures", who="mallory")


def run(check_id: str, tmp_path: Path) -> None:
    """Judge all fixtures of ``check_id`` as one change; compare exactly."""
    fxs = fixtures(check_id)
    assert fxs, f"no fixtures under {FIXTURES / check_id}"
    repo = Repo(tmp_path / "repo")
    build(repo, check_id, fxs)
    report = check(CheckRequest(repo=repo.path, base="main", head="feature"))
    assert report.errors == [], report.errors
    got = {Expected(f.path, f.line, f.rule_id, f.severity.value) for f in report.findings}
    want: set[Expected] = set()
    for fx in fxs:
        marks, passes = expected(fx)
        # Every fixture says what it is for: a silent one would test nothing.
        assert marks or passes, f"{fx.source}: neither markers nor PASS"
        want |= marks
    missing = sorted(want - got, key=str)
    unexpected = sorted(got - want, key=str)
    lines = [f"fixtures of check {check_id!r} ({FIXTURES / check_id}):"]
    lines += [f"  missing:    {e}" for e in missing]
    lines += [f"  unexpected: {e}" for e in unexpected]
    assert not missing and not unexpected, "\n".join(lines)
