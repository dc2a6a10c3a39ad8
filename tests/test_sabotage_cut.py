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


def assert_cut_keeps_whole(source: str, name: str) -> None:
    """Analysing only a change's lines reports, on those lines, what the
    whole-file analysis reports there, for every added-line set above."""
    whole = analyze(source, "train/x.py")
    assert whole
    for what, added in _added_sets(source).items():
        cut = analyze(source, "train/x.py", added=added)
        assert _kept(cut, added) == _kept(whole, added), f"{name}: {what}"


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
    # insensitive) from a function no kept unit names; `global`: without it `y` is
    # setup's local, which the hook cannot read (module.module_binders).
    "bound-in-other-function": """\
import socket


def is_prod():
    return socket.gethostname().startswith("prod")


def setup():
    global y
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
    # Lazy module names (issue #17): a chain of names bound in untouched functions,
    # in an order the three rounds of ``bind`` only partly resolve (`d` is never
    # bound), and a name both a module-level trigger and a later plain value.
    "module-name-chain": """\
import os


def setup():
    d = c
    c = b
    b = a
    a = os.environ.get("TIER", "")
    e = a


x = 1
x = os.getenv("X")


def on_after_backward(model):
    if b or x or d:
        model.weight.grad.zero_()
    if e:
        model.bias.grad.zero_()
""",
    # Lazy class attributes: set through a chain in methods no kept unit is, read in
    # another; an attribute the first method sets plainly and a later one from a trigger.
    "class-attribute-chain": """\
import os
import platform


class Module:
    def __init__(self):
        self.tier = self._host
        self.mode = "dev"

    def setup(self):
        self._host = platform.node()
        self.mode = os.environ.get("MODE", "")

    def unrelated(self):
        return 1

    def on_after_backward(self):
        if self.tier.startswith("prod"):
            self.weight.grad.zero_()
        if self.mode == "prod":
            self.bias.grad.zero_()
""",
    # Lazy functions: a trigger two calls deep (round two), a name two functions
    # share (the first to give a trigger wins), a method called through `self.`.
    "function-rounds": """\
import getpass
import os


class A:
    def tier(self):
        return "dev"


class B:
    def tier(self):
        return os.getenv("TIER")


def who():
    return getpass.getuser()


def team():
    return who()


class Trainer:
    def host(self):
        return team()

    def on_after_backward(self):
        if self.tier() == "prod" or self.host() == "alice":
            self.weight.grad.zero_()
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


# Lazy imported helpers: read only when a walked unit calls them, and then exact.
HELPER_TIER = """\
import os

_PART = os.environ.get("SLURM_JOB_PARTITION", "")


def is_prod():
    return _PART.startswith("prod")


def plain():
    return 1
"""
HELPER_NOISE = """\
import torch


def perturb_(t, scale):
    t.add_(torch.randn_like(t) * scale)
"""
WITH_HELPERS = {
    "helper-trigger": """\
from .tier import is_prod, plain
from .noise import perturb_


def unrelated(model):
    return plain()


def on_after_backward(model):
    if is_prod():
        model.weight.grad.zero_()
    for p in model.parameters():
        perturb_(p.grad, 0.01)
""",
}


def _helpers(level: int, module: str) -> tuple[str, str] | None:
    return {"tier": ("pkg/tier.py", HELPER_TIER), "noise": ("pkg/noise.py", HELPER_NOISE)}.get(
        module
    )


@pytest.mark.parametrize("name", sorted(WITH_HELPERS))
def test_cut_keeps_what_the_whole_analysis_keeps_with_helpers(name: str) -> None:
    source = WITH_HELPERS[name]
    whole = analyze(source, "pkg/hooks.py", _helpers)
    assert len(_kept(whole, set(range(1, 99)))) == 2  # the trigger and the noise
    n = len(source.splitlines())
    sets = {**_added_sets(source), **{f"only {x}": {x} for x in range(1, n + 1)}}
    for what, added in sets.items():
        cut = analyze(source, "pkg/hooks.py", _helpers, added)
        assert _kept(cut, added) == _kept(whole, added), f"{name}: {what}"


def test_lazy_facts_do_not_deepen_the_stack() -> None:
    """A fact computed on demand inside a walk would nest its own walk in it: an
    expression the whole-module analysis walks must not overflow the stack here
    (a RecursionError skips the file). 700 terms: each nesting of a walk inside
    another halved what fits before facts were looked up ahead (``scopes.warm``)."""
    chain = " + ".join(['"a"'] * 700)
    source = (
        f'import os\n\n\ndef tier():\n    x = os.getenv("X") + {chain}\n    return x + {chain}\n'
        f"\n\ny = tier() + {chain}\n\n\ndef on_after_backward(model):\n    if y + {chain}:\n"
        "        model.weight.grad.zero_()\n"
    )
    last = len(source.splitlines())
    for added in (None, {last}, {last - 1, last}):
        hits = analyze(source, "x.py", None, added)
        assert [(h.rule, h.line) for h in hits] == [("sabotage-env-triggered-write", last)]


NESTED_CLASSES = """\
import os
import platform


class Outer:
    def __init__(self):
        self.tier = os.environ.get("TIER", "")
        self.host = platform.node()

    def build(self):
        class Inner:
            def __init__(self):
                self.mode = self.tier
                self.host = "x"

            def on_after_backward(self):
                if self.tier == "prod":
                    self.weight.grad.zero_()
                if self.mode or self.host:
                    self.bias.grad.zero_()

        return Inner


def on_after_backward(model):
    class Local:
        def setup(self):
            self.a = self.b

        def on_after_backward(self):
            if self.a:
                self.weight.grad.zero_()

        def other(self):
            self.b = os.getenv("B")

    return Local
"""


def test_a_class_in_a_method_reads_the_enclosing_class_attributes() -> None:
    """``self.mode = self.tier`` in a class defined in a method: ``tier`` is the
    enclosing class's (set from a trigger), as when every attribute was copied."""
    hits = analyze(NESTED_CLASSES, "x.py")
    assert [(h.line, h.lines) for h in hits] == [
        (18, (7, 17, 18)),
        (20, (7, 19, 20)),
        (32, (31, 32, 35)),
    ]
    for added in ({17, 18}, {19, 20}, {31, 32}, {7}, {35}):
        assert _kept(analyze(NESTED_CLASSES, "x.py", None, added), added) == _kept(hits, added)


def test_a_helper_no_walked_unit_calls_is_not_read() -> None:
    """The helper is looked up only for a call the analysis judges (issue #17)."""
    asked: list[str] = []

    def lookup(level: int, module: str) -> tuple[str, str] | None:
        asked.append(module)
        return _helpers(level, module)

    source = WITH_HELPERS["helper-trigger"]
    assert analyze(source, "pkg/hooks.py", lookup, {6, 7}) == []  # `unrelated` only
    assert "noise" not in asked and "tier" in asked  # plain() is in tier; perturb_ is not called


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


# ------------------------------------------------- attackers of the lazy facts
# Module facts are computed only for what the walked units read (issue #17). For
# each fact, a change whose only malicious line needs it, in a file large enough
# that the rest is never walked: it must still block.

FILLER = "".join(
    f"\n\ndef unrelated_{i}(values):\n    total = values[{i}]\n    return total\n"
    for i in range(40)
)


def test_added_guard_reads_an_unchanged_module_name_bound_in_another_function(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lazy module names: the trigger is bound (flow-insensitively) in an untouched
    function, through a copy of one of its locals, to a name it declares global;
    only the guarded write is added."""
    base = (
        "import os\n\n\ndef setup():\n    global tier\n    part = os.environ.get('SLURM_JOB_PARTITION', '')\n"
        "    tier = part\n    return tier\n"
        + FILLER
        + "\n\ndef on_after_backward(model):\n    for p in model.parameters():\n        p.requires_grad_(True)\n"
    )
    head = base.replace(
        "        p.requires_grad_(True)\n",
        "        p.requires_grad_(True)\n        if tier.startswith('prod'):\n            p.grad.zero_()\n",
    )
    found = _run(repo, capsys, {"train/hooks.py": base}, {"train/hooks.py": head})
    line = head.splitlines().index("            p.grad.zero_()") + 1
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", line)]


def test_added_guard_calls_an_unchanged_function_two_calls_from_the_trigger(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lazy functions of the file: `tier()` returns `who()`, which reads the user."""
    base = (
        "import getpass\n\n\ndef who():\n    return getpass.getuser()\n\n\ndef tier():\n    return who()\n"
        + FILLER
        + "\n\ndef training_step(model, batch):\n    loss = model(batch)\n    return loss\n"
    )
    head = base.replace(
        "    loss = model(batch)\n",
        "    loss = model(batch)\n    if tier() == 'alice':\n        loss = loss * 0\n",
    )
    found = _run(repo, capsys, {"train/step.py": base}, {"train/step.py": head})
    line = head.splitlines().index("        loss = loss * 0") + 1
    assert found == [("sabotage-env-triggered-write", "train/step.py", line)]


def test_added_calls_of_unchanged_imported_helpers(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lazy helpers: both helpers sit unchanged in another file of the repository; the
    added lines call them (one returns a trigger, one writes noise into its argument)."""
    helper = HELPER_TIER + "\n\n" + HELPER_NOISE.replace("import torch\n", "import torch  # noqa\n")
    base = (
        "from .tier import is_prod, perturb_\n"
        + FILLER
        + "\n\ndef on_after_backward(model):\n    for p in model.parameters():\n        p.requires_grad_(True)\n"
    )
    head = base.replace(
        "        p.requires_grad_(True)\n",
        "        p.requires_grad_(True)\n        if is_prod():\n            p.grad.zero_()\n"
        "        perturb_(p.grad, 0.01)\n",
    )
    found = _run(
        repo,
        capsys,
        {"train/__init__.py": "", "train/tier.py": helper, "train/hooks.py": base},
        {"train/hooks.py": head},
    )
    lines = head.splitlines()
    assert found == [
        (
            "sabotage-env-triggered-write",
            "train/hooks.py",
            lines.index("            p.grad.zero_()") + 1,
        ),
        (
            "sabotage-random-write-via-helper",
            "train/hooks.py",
            lines.index("        perturb_(p.grad, 0.01)") + 1,
        ),
    ]


def test_added_guard_reads_an_attribute_set_through_a_chain_in_unchanged_methods(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lazy class attributes: `self.tier` is `self._host`, which another unchanged
    method sets from the host; only the guarded write in a third method is added."""
    methods = "".join(
        f"\n    def helper_{i}(self, x):\n        y = x + {i}\n        return y\n"
        for i in range(30)
    )
    base = (
        "import platform\n\n\nclass Module:\n    def __init__(self):\n        self.tier = self._host\n"
        "\n    def setup(self):\n        self._host = platform.node()\n"
        + methods
        + "\n    def on_after_backward(self):\n        for p in self.parameters():\n"
        "            p.requires_grad_(True)\n"
    )
    head = base.replace(
        "            p.requires_grad_(True)\n",
        "            p.requires_grad_(True)\n            if self.tier.startswith('prod'):\n"
        "                p.grad[:, ::7] = 0\n",
    )
    found = _run(repo, capsys, {"train/module.py": base}, {"train/module.py": head})
    line = head.splitlines().index("                p.grad[:, ::7] = 0") + 1
    assert found == [("sabotage-env-triggered-write", "train/module.py", line)]


def test_changed_function_arms_an_unchanged_caller_through_round_two(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The changed line is in `who()`; `tier()` (unchanged) returns it, and the
    unchanged guard calls `tier()`: only round two sees the trigger."""
    base = (
        "import getpass\n\n\ndef who():\n    return 'dev'\n\n\ndef tier():\n    return who()\n"
        + FILLER
        + "\n\ndef on_after_backward(model):\n    if tier() == 'alice':\n"
        "        for p in model.parameters():\n            p.grad.zero_()\n"
    )
    head = base.replace("    return 'dev'\n", "    return getpass.getuser()\n")
    found = _run(repo, capsys, {"train/hooks.py": base}, {"train/hooks.py": head})
    assert found == [("sabotage-env-triggered-write", "train/hooks.py", 5)]


def test_changed_method_arms_an_unchanged_method_through_an_attribute_chain(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The added line sets `self._host`; unchanged methods copy it into `self.tier`
    and test it: every attribute whose trigger is read on an added line counts."""
    base = """\
import platform


class Module:
    def __init__(self):
        self.tier = self._host

    def setup(self):
        self._host = "dev"

    def on_after_backward(self):
        if self.tier.startswith("prod"):
            for p in self.parameters():
                p.grad.zero_()
"""
    head = base.replace('self._host = "dev"', "self._host = platform.node()")
    found = _run(repo, capsys, {"train/module.py": base}, {"train/module.py": head})
    assert found == [("sabotage-env-triggered-write", "train/module.py", 9)]


# ------------------------------------------------- helper facts cached per content


def _check_json(repo: Repo, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, int]]:
    capsys.readouterr()
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--format", "json"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    found = sorted((f["rule_id"], f["path"], f["line"]) for f in doc["findings"])
    assert code == 1 and doc["errors"] == []
    return found


def test_a_warm_recheck_reads_helper_facts_from_the_cache_and_a_forged_entry_is_a_miss(
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from traingate.checks.sabotage import store

    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    base = "from .tier import is_prod\n" + FILLER
    head = (
        base
        + "\n\ndef on_after_backward(model):\n    if is_prod():\n        model.weight.grad.zero_()\n"
    )
    found = _run(
        repo,
        capsys,
        {"train/__init__.py": "", "train/tier.py": HELPER_TIER, "train/hooks.py": base},
        {"train/hooks.py": head},
    )
    expected = [("sabotage-env-triggered-write", "train/hooks.py", len(head.splitlines()))]
    assert found == expected
    entries = list((tmp_path / "cache" / "sabotage").glob("*/??/*.json"))
    assert len(entries) == 1
    before = store.STATS["computed"]
    assert _check_json(repo, capsys) == expected  # warm: nothing computed
    assert store.STATS["computed"] == before
    # An entry saying the helper returns no trigger, under the old MAC: a miss.
    doc = json.loads(entries[0].read_text(encoding="utf-8"))
    doc["payload"] = json.dumps({"is_prod": [None, None]}, sort_keys=True)
    entries[0].write_text(json.dumps(doc), encoding="utf-8")
    store_cls = store.Store  # a new run reads the entry again
    assert store_cls(tmp_path / "cache").get(HELPER_TIER, "is_prod") is None
    assert _check_json(repo, capsys) == expected
    assert store.STATS["computed"] == before + 1
