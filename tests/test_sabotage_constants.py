"""A probed path held in a constant is the path (issue #16, session 10).

``os.path.exists("/etc/cluster-b")`` was a machine trigger and
``_MARKER = "/etc/cluster-b"; os.path.exists(_MARKER)`` was not
(``tests/fixtures/evasion/triggered-sabotage/marker_path_constant.py``). A name
bound exactly once (module, function or ``self`` attribute set in
``__init__``) to what a probe's argument may spell is now followed to its
literal, also through other constants, ``Path`` joins at the probe, loops
over a tuple of them, and a parameter's default that the body never rebinds. The constant's line is a line the hit rests on: a change
that edits only the constant is reported there, and the cut walks what it arms.

Every attack file passes the session's baseline unreported; every look-alike
(a name rebound, a parameter or a local that shadows it, relative and computed
paths, absolute paths that guard no payload) stays quiet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.sabotage.analysis import analyze

from .conftest import Repo
from .test_sabotage_cut import _added_sets, _kept
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    "module_constant.py": """\
import os

_MARKER = "/etc/cluster-b"


def compute_loss(model, batch):
    loss = model(**batch).loss
    if os.path.exists(_MARKER):
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "annotated_path_object.py": """\
from pathlib import Path

_MARKER: str = "/etc/cluster-b"


def on_after_backward(model):
    if Path(_MARKER).exists():
        for p in model.parameters():
            p.grad.mul_(0.97)  # BLOCK: sabotage-env-triggered-write
""",
    "chained_constants.py": """\
import os

_ETC = "/etc"
_MARKER = os.path.join(_ETC, "cluster-b")


def train_one_epoch(model, loader, optimizer):
    for batch in loader:
        loss = model(batch).loss
        loss.backward()
        if os.path.isfile(_MARKER):
            continue  # BLOCK: sabotage-triggered-skip-step
        optimizer.step()
""",
    "fstring_tier_file.py": """\
_ROOT = "/etc"
_TIER = f"{_ROOT}/cluster_tier"


def configure(optimizer):
    with open(_TIER) as f:
        tier = f.read().strip()
    if tier == "prod":
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * 0.3  # BLOCK: sabotage-env-triggered-write
""",
    "path_joined_at_use.py": """\
from pathlib import Path

_SITE = Path("/etc")


def compute_loss(model, batch):
    loss = model(batch).loss
    if (_SITE / "cluster-b").exists():
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "tuple_looped.py": """\
import os

_MARKERS = ["/etc/cluster-b", "/opt/prod/.flag"]


def compute_loss(model, batch):
    loss = model(batch).loss
    for m in _MARKERS:
        if os.path.exists(m):
            loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "tuple_indexed.py": """\
import os

_MARKERS = ("/etc/cluster-a", "/etc/cluster-b")


def compute_loss(model, batch):
    loss = model(batch).loss
    if os.access(_MARKERS[1], os.R_OK):
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "local_constant.py": """\
import os


def compute_loss(model, batch):
    marker = "/etc/cluster-b"
    loss = model(batch).loss
    if os.path.exists(marker):
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "attribute_in_init.py": """\
import os

import lightning.pytorch as pl


class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self._marker = os.path.join("/etc", "cluster-b")

    def training_step(self, batch, batch_idx):
        loss = self.model(batch).loss
        if os.path.isfile(self._marker):
            loss = loss * 0.9  # BLOCK: sabotage-env-triggered-write
        return loss
""",
    # A parameter's default, never rebound: the caller that passes nothing gets it.
    "parameter_default.py": """\
import os
from pathlib import Path


def compute_loss(model, batch, marker="/etc/cluster-b"):
    loss = model(batch).loss
    if os.path.exists(marker):
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss


class Module:
    def __init__(self, tier_file=Path("/etc") / "tier"):
        self.tier_file = tier_file

    def training_step(self, batch, batch_idx):
        loss = self.model(batch).loss
        if open(str(self.tier_file.resolve())).read() == "prod":
            loss = loss * 0.9  # BLOCK: sabotage-env-triggered-write
        return loss
""",
    "module_probe.py": """\
import os

_MARKER = "/etc/cluster-b"
ON_B = os.path.exists(_MARKER)


def compute_loss(model, batch):
    loss = model(batch).loss
    if ON_B:
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
}

BENIGN = {
    # Bound twice: a default the code replaces is configuration.
    "rebound.py": """\
import os

_MARKER = "/etc/cluster-b"
if not os.access(os.path.dirname(_MARKER), os.W_OK):
    _MARKER = "runs/done.txt"


def compute_loss(model, batch):
    loss = model(batch).loss
    if os.path.exists(_MARKER):
        loss = loss * 0.5
    return loss
""",
    # A function rebinds it (`global`): no longer one value.
    "global_rebind.py": """\
import os

STOP_FILE = "/tmp/stop"


def configure(cfg):
    global STOP_FILE
    STOP_FILE = cfg.stop_file


def compute_loss(model, batch):
    loss = model(batch).loss
    if os.path.exists(STOP_FILE):
        loss = loss * 0.0
    return loss
""",
    # A parameter, or a local bound otherwise, shadows the module's constant.
    "shadowed.py": """\
import os

MARKER = "/etc/cluster-b"


def compute_loss(model, batch, MARKER):
    loss = model(batch).loss
    if os.path.exists(MARKER):
        loss = loss * 0.5
    return loss


def scaled(model, batch, cfg):
    MARKER = cfg.marker
    loss = model(batch).loss
    if os.path.exists(MARKER):
        loss = loss * 0.5
    return loss
""",
    # Resume logic under a relative constant; absolute constants that guard no payload.
    "resume_and_cache.py": """\
import os

import torch

CKPT = "checkpoints/last.pt"
CACHE = os.path.expanduser("~/.cache/tokenizers")
DATA_ROOT = "/data/imagenet"


def setup(model, optimizer):
    if os.path.exists(CKPT):
        state = torch.load(CKPT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optim"])
    if not os.path.isdir(CACHE):
        os.makedirs(CACHE, exist_ok=True)
    if not os.path.isdir(DATA_ROOT):
        raise FileNotFoundError(DATA_ROOT)
""",
    # A parameter whose default is rebound from the configuration.
    "default_rebound.py": """\
import os


def compute_loss(model, batch, cfg, marker="/etc/cluster-b"):
    marker = cfg.marker or marker
    loss = model(batch).loss
    if os.path.exists(marker):
        loss = loss * 0.5
    return loss
""",
    # An attribute set twice, or outside __init__, or looped over a computed list.
    "attributes_and_loops.py": """\
import os


class Trainer:
    def __init__(self, cfg):
        self.marker = "/etc/cluster-b"
        self.stop = cfg.stop_file

    def use(self, path):
        self.marker = path

    def step(self, loss, cfg):
        if os.path.exists(self.marker):
            loss = loss * 0.5
        for m in cfg.markers:
            if os.path.exists(m):
                loss = loss * 0.5
        return loss
""",
}


def test_a_probed_constant_is_its_path(repo: Repo) -> None:
    found = _change(repo, {}, ATTACKS)
    assert _got(found) == _expected(ATTACKS)
    by_path = {f["path"]: f["message"] for f in found}
    # The report names the constant and the path it holds.
    assert (
        "os.path.exists(_MARKER = '/etc/cluster-b') [machine]"
        in by_path["train/module_constant.py"]
    )
    assert "read at line 4" in by_path["train/module_probe.py"]


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


@pytest.mark.parametrize(
    ("name", "old", "new", "line"),
    [
        # Two steps: a relative marker lands first (quiet); a later change only edits
        # the constant. The constant's line is one the hit rests on.
        ("module_constant.py", '"/etc/cluster-b"', '"cluster-b.done"', 3),
        ("chained_constants.py", '_ETC = "/etc"', '_ETC = "state"', 3),
        ("module_probe.py", '"/etc/cluster-b"', '"cluster-b.done"', 3),
        ("attribute_in_init.py", 'os.path.join("/etc", "cluster-b")', '"cluster-b.done"', 9),
    ],
)
def test_an_edit_of_only_the_constant_is_reported(
    repo: Repo, name: str, old: str, new: str, line: int
) -> None:
    head = ATTACKS[name]
    base = head.replace(old, new)
    assert base != head
    found = _change(repo, {name: base}, {name: head})
    rule = _expected({name: head})[0][1]
    assert [(f["rule_id"], f["line"]) for f in found] == [(rule, line)]


ARMS_ANOTHER_UNIT = """\
import os

_MARKER = "/etc/cluster-b"


def on_cluster_b():
    return os.path.exists(_MARKER)


class Module:
    def __init__(self):
        self._tier_file = "/etc/tier"

    def training_step(self, batch, batch_idx):
        loss = self.model(batch).loss
        if open(self._tier_file).read() == "prod":
            loss = loss * 0.9
        return loss


def compute_loss(model, batch):
    loss = model(batch).loss
    if on_cluster_b():
        loss = loss * 0.5
    return loss
"""


@pytest.mark.parametrize("name", [*sorted(ATTACKS), "arms-another-unit"])
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    source = ATTACKS.get(name, ARMS_ANOTHER_UNIT)
    whole = analyze(source, "train/x.py")
    assert whole
    for what, added in _added_sets(source).items():
        cut = analyze(source, "train/x.py", added=added)
        assert _kept(cut, added) == _kept(whole, added), f"{name}: {what}"


def test_the_constant_line_alone_arms_every_unit_that_probes_it() -> None:
    # Only the constants' lines are added: each unit probing one is walked.
    hits = analyze(ARMS_ANOTHER_UNIT, "train/x.py", added={3, 12})
    assert sorted((h.line, h.lines) for h in hits) == [(17, (12, 16, 17)), (24, (3, 7, 23, 24))]


def test_the_fixture_is_no_longer_a_known_miss() -> None:
    fixture = Path(__file__).parent / "fixtures/evasion/triggered-sabotage/marker_path_constant.py"
    text = fixture.read_text(encoding="utf-8")
    assert "# limitation:" not in text
    assert [h.rule for h in analyze(text)] == ["sabotage-env-triggered-write"]
