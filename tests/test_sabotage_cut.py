"""The sabotage check walks only what a change can make report (issue #17).

For a change, ``analyze(..., added)`` skips a top-level unit that has no added
line and no identifier whose trigger or hook registration sits on one. The
kept hits (those resting on an added line, as the check keeps them) must be
exactly those of the whole-file analysis, for every fixture and many added-line
sets; and each way an added line elsewhere can arm an unchanged function must
still be reported, through the real CLI on a real repository.
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.sabotage import candidates
from traingate.checks.sabotage.analysis import Hit, analyze
from traingate.checks.sabotage.cut import span
from traingate.cli import main

from .conftest import POLICY, Repo

FIXTURES = Path(__file__).parent / "fixtures"
ROOTS = [
    (FIXTURES / "checks" / "sabotage", FIXTURES / "checks" / "sabotage"),
    (FIXTURES / "evasion", FIXTURES / "evasion" / "triggered-sabotage"),
    (FIXTURES / "evasion", FIXTURES / "evasion" / "training-sabotage"),
]
CASES = sorted(
    (root, py) for root, under in ROOTS for py in under.rglob("*.py") if py.stat().st_size
)
Kept = list[tuple[str, int, int, str]]


def _lookup(root: Path, importer: str) -> Callable[[int, str], tuple[str, str] | None]:
    """The check's import resolution (``_lookup``), over a fixture directory."""

    def find(level: int, module: str) -> tuple[str, str] | None:
        for cand in candidates(importer, level, module):
            if (root / cand).is_file():
                return cand, (root / cand).read_text(encoding="utf-8")
        return None

    return find


def _kept(hits: list[Hit], added: set[int]) -> Kept:
    """What the check reports of these hits for a change adding these lines."""
    out = []
    for h in hits:
        lines = [h.line, *h.lines]
        touched = added.intersection(lines)
        if not touched:
            continue
        line = lines[0] if lines[0] in added else min(touched)
        out.append((h.rule, line, h.col if line == lines[0] else 1, h.message))
    return sorted(out)


def _added_sets(source: str) -> dict[str, set[int]]:
    tree = ast.parse(source)
    n = len(source.splitlines())
    units = {
        f"unit {st.lineno}": set(range(span(st)[0], span(st)[1] + 1))
        for st in tree.body
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    inside = set().union(*units.values()) if units else set()
    rng = random.Random(f"{n}:{len(source)}")
    sets = {
        **units,
        "module-level": set(range(1, n + 1)) - inside,
        "everything": set(range(1, n + 1)),
        "nothing": set(),
        **{f"line {x}": {x} for x in rng.sample(range(1, n + 1), min(n, 8))},
        **{
            f"random {share}": {x for x in range(1, n + 1) if rng.random() < share}
            for share in (0.05, 0.2, 0.5)
        },
    }
    return sets


@pytest.mark.parametrize(
    ("root", "path"), CASES, ids=[str(p.relative_to(FIXTURES)) for _, p in CASES]
)
def test_cut_keeps_what_the_whole_analysis_keeps(root: Path, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    rel = path.relative_to(root).as_posix()
    whole = analyze(source, rel, _lookup(root, rel))
    for name, added in _added_sets(source).items():
        cut = analyze(source, rel, _lookup(root, rel), added)
        assert _kept(cut, added) == _kept(whole, added), f"{rel}: {name}"


# Dependencies the cut must see across units; each also runs under every added set.
CRAFTED = {
    # `y` is bound in an untouched top-level function (module names are flow-
    # insensitive) from a function no kept unit names.
    "bound-in-other-function": """\
import socket


def is_prod():
    return socket.gethostname().startswith("prod")


def setup():
    y = is_prod()
    return y


def on_after_backward(model):
    if y:
        for p in model.parameters():
            p.grad.zero_()
""",
    # Two rounds of trigger functions, the first in a class no kept unit names.
    "second-round-function": """\
import getpass


class Site:
    def who(self):
        return getpass.getuser()


def who():
    return Site().who() + ""


def tier():
    return who()


def training_step(model, batch):
    loss = model(batch)
    if tier() == "alice":
        loss = loss * 0
    return loss
""",
    # A changed function armed through a method of an untouched class (second round),
    # called by a method of another untouched class.
    "armed-through-methods": """\
import os


def g():
    return os.getenv("TIER")


class Helper:
    def k(self):
        return g()


class Trainer:
    def on_after_backward(self):
        if k() == "prod":
            self.weight.grad.zero_()
""",
    # The same through a module-level name: the method returns it.
    "armed-through-module-name": """\
import platform

_N = platform.node()


class Helper:
    def k(self):
        return _N


class Trainer:
    def on_after_backward(self):
        if k().startswith("prod"):
            self.weight.grad.zero_()
""",
    # A class-level binding and a walrus in a class header.
    "class-level": """\
import os


class Site:
    def partition(self):
        return os.environ.get("SLURM_JOB_PARTITION", "")


class Config:
    PART = partition()


@(flag := os.getenv("FLAG"))
class Other:
    pass


def on_after_backward(model):
    if PART.startswith("prod") or flag:
        model.weight.grad.zero_()
""",
    # A hook registered at module level, a rank-guarded collective at module level
    # (the whole file is walked then) and in a function.
    "hooks-and-ranks": """\
import os

import torch
import torch.distributed as dist

w = torch.zeros(1, requires_grad=True)


def scale(grad):
    if os.environ.get("TIER") == "prod":
        return grad * 0
    return grad


w.register_hook(scale)
rank = int(os.environ.get("RANK", "0"))
if rank == 3:
    dist.barrier()


def train_step(model, rank, optimizer):
    if rank == 0:
        dist.barrier()
    optimizer.step()
""",
    # A module-level lambda hook whose trigger is a method's name, called nowhere else.
    "module-lambda-hook": """\
import os

import torch

w = torch.zeros(1, requires_grad=True)


class Gate:
    def is_prod(self):
        return os.environ.get("TIER") == "prod"


w.register_hook(lambda g: g * 0 if is_prod() else g)
""",
    # Identifiers spelled with compatibility characters: Python reads them NFKC-normalised.
    "nfkc": """\
import os
import platform

import torch

w = torch.zeros(1, requires_grad=True)
_N = platform.node()


def on_after_backward(model):
    if _\uff2e.startswith("prod"):
        model.weight.grad.zero_()


def scale(grad):
    if os.environ.get("TIER") == "prod":
        return grad * 0
    return grad


w.\uff52egister_hook(scale)
""",
    # Egress is judged node by node, in touched statements nested in untouched ones.
    "egress": """\
import logging
import logging.config
import logging.handlers as lh


class Setup:
    def run(self, cfg):
        log = logging.getLogger()
        if cfg.remote:
            log.addHandler(
                lh.HTTPHandler("x.example", "/")
            )
        try:
            pass
        except lh.SocketHandler("h", 1).__class__:
            logging.config.dictConfig(
                {"handlers": {"h": {"class": "logging.handlers.SocketHandler"}}}
            )
        match cfg.kind:
            case "udp" if lh.DatagramHandler("h", 2):
                pass
""",
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_cut_keeps_what_the_whole_analysis_keeps_crafted(name: str) -> None:
    source = CRAFTED[name]
    whole = analyze(source, "x.py")
    assert _kept(whole, set(range(1, 99)))  # each case has a hit to lose
    n = len(source.splitlines())
    sets = {**_added_sets(source), **{f"only {x}": {x} for x in range(1, n + 1)}}
    for what, added in sets.items():
        cut = analyze(source, "x.py", None, added)
        assert _kept(cut, added) == _kept(whole, added), f"{name}: {what}"


def test_a_registration_spelled_in_compatibility_characters_is_a_registration() -> None:
    hits = analyze(CRAFTED["nfkc"], "x.py")
    assert [(h.line, h.lines) for h in hits] == [(12, (7, 11, 12)), (17, (16, 17, 21))]


def test_a_helper_defining_in_compatibility_characters_is_read() -> None:
    """A helper is parsed only when it can define the called name: as Python reads it."""
    helper = 'import os\n_ = "\u2581"\n\n\ndef \uff49s_prod():\n    return os.getenv("T") == "p"\n'
    source = "from .tier import is_prod\n\n\ndef on_after_backward(model):\n"
    source += "    if is_prod():\n        model.weight.grad.zero_()\n"
    hits = analyze(source, "pkg/hooks.py", lambda level, module: ("pkg/tier.py", helper), {1})
    assert [(h.rule, h.line, h.lines) for h in hits] == [
        ("sabotage-env-triggered-write", 6, (1, 5, 6))
    ]


def test_the_fixtures_are_there() -> None:
    assert len(CASES) >= 25
    assert any(_kept(analyze(p.read_text(encoding="utf-8")), {*range(1, 999)}) for _, p in CASES)


def test_an_untouched_unit_is_not_walked() -> None:
    """The point of the cut: an unchanged function's own hit is not even computed."""
    armed = ATTACK_BODY.replace('_N = "dev"', "_N = platform.node()")
    source = armed + "\n\ndef added():\n    return 1\n"
    last = len(source.splitlines())
    assert analyze(source)  # the whole file has a hit in `on_after_backward`
    assert analyze(source, added={last - 1, last}) == []


# ---------------------------------------------------------------- attackers
# Each base commit holds an environment-guarded payload that does nothing yet;
# the change arms it with one line outside the function, which stays unchanged.

NO_SEMGREP = POLICY + "checks:\n  semgrep: {enabled: false}\n"
ATTACK_BODY = """\
import os
import platform

_N = "dev"


def on_after_backward(model):
    if _N.startswith("prod"):
        for p in model.parameters():
            p.grad.zero_()
"""


def _run(
    repo: Repo, capsys: pytest.CaptureFixture[str], base: dict[str, str], head: dict[str, str]
) -> list[tuple[str, str, int]]:
    repo.write(".traingate.yaml", NO_SEMGREP)
    for path, text in base.items():
        repo.write(path, text)
    repo.commit("base")
    repo.branch("feature")
    for path, text in head.items():
        repo.write(path, text)
    repo.commit("change", who="mallory")
    capsys.readouterr()
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--format", "json"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    found = [f for f in doc["findings"] if f["check"] == "sabotage"]
    assert code == 1 or not found  # other checks may block the change too
    return sorted((f["rule_id"], f["path"], f["line"]) for f in found)


def test_module_level_trigger_arms_an_unchanged_function(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = ATTACK_BODY.replace('_N = "dev"', "_N = platform.node()")
    found = _run(repo, capsys, {"train/hooks.py": ATTACK_BODY}, {"train/hooks.py": head})
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", 4)]


def test_trigger_through_a_module_alias_arms_an_unchanged_function(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The added line binds a name that an unchanged module-level name copies."""
    base = ATTACK_BODY.replace('_N = "dev"', '_H = "dev"\n_N = _H')
    head = base.replace('_H = "dev"', "_H = platform.uname().node")
    found = _run(repo, capsys, {"train/hooks.py": base}, {"train/hooks.py": head})
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", 4)]


def test_trigger_set_in_added_init_line_tested_in_unchanged_method(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = """\
import os


class Module:
    def __init__(self):
        self.tier = "dev"

    def on_after_backward(self):
        if self.tier.startswith("prod"):
            for p in self.parameters():
                p.grad[:, ::7].zero_()
"""
    head = base.replace('"dev"', 'os.environ.get("SLURM_JOB_PARTITION", "dev")')
    found = _run(repo, capsys, {"train/module.py": base}, {"train/module.py": head})
    assert found == [("sabotage-env-triggered-write", "train/module.py", 6)]


def test_changed_trigger_function_arms_an_unchanged_caller(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function of this file whose return becomes a trigger, called unchanged."""
    base = """\
import socket


def is_prod():
    return False


def on_after_backward(model):
    if is_prod():
        for p in model.parameters():
            p.grad.zero_()
"""
    head = base.replace("return False", 'return socket.gethostname().startswith("prod")')
    found = _run(repo, capsys, {"train/hooks.py": base}, {"train/hooks.py": head})
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", 5)]


def test_added_import_of_a_trigger_helper_arms_an_unchanged_caller(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = "import os\n\n\ndef is_prod():\n    return os.environ.get('TIER') == 'prod'\n"
    base = """\
def is_prod():
    return False


def on_after_backward(model):
    if is_prod():
        for p in model.parameters():
            p.grad.zero_()
"""
    head = "from .tier import is_prod\n" + base.replace(
        "def is_prod():\n    return False\n", "pass\n"
    )
    found = _run(
        repo,
        capsys,
        {"train/__init__.py": "", "train/tier.py": helper, "train/hooks.py": base},
        {"train/hooks.py": head},
    )
    assert ("sabotage-env-triggered-write", "train/hooks.py", 1) in found


GRAD_HOOK = """\
import os

import torch

weight = torch.zeros(3, requires_grad=True)


def scale(grad):
    if os.environ.get("SLURM_JOB_PARTITION") == "prod":
        return grad * 0
    return grad


def setup(model):
    for p in model.parameters():
        p.requires_grad_(True)
"""


def test_added_hook_registration_of_an_unchanged_function(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = GRAD_HOOK.replace("p.requires_grad_(True)", "p.register_hook(scale)")
    found = _run(repo, capsys, {"train/hooks.py": GRAD_HOOK}, {"train/hooks.py": head})
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", 16)]


def test_added_decorator_registering_an_unchanged_function(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = GRAD_HOOK.replace("def scale(grad):", "@weight.register_hook\ndef scale(grad):")
    found = _run(repo, capsys, {"train/hooks.py": GRAD_HOOK}, {"train/hooks.py": head})
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", 8)]


def test_unrelated_change_beside_a_dormant_function_stays_quiet(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The look-alike: the same file, a change that arms nothing."""
    head = ATTACK_BODY + "\n\ndef helper(values):\n    return sum(values)\n"
    found = _run(repo, capsys, {"train/hooks.py": ATTACK_BODY}, {"train/hooks.py": head})
    assert found == []
