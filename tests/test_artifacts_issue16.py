"""Artifacts of issue #16: common safe training objects on the allow list, a
policy way to extend it, and binary ``.pth`` checkpoints judged by content.

The classes are stand-ins registered under the real module names (nothing is
imported from Lightning or transformers), pickled the way the real ones pickle
(plain classes without __reduce__/__setstate__: NEWOBJ + BUILD), and scanned
without unpickling."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import enum
import json
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.artifacts.scanner import ALLOWED_GLOBALS, scan_artifact
from traingate.cli import main

from .conftest import POLICY, Repo
from .test_artifacts import fake_torch, state_dict, torch_zip  # noqa: F401 (fixture)


class AttributeDict(dict[str, Any]):
    """Lightning's hparams container: attribute access over dict items."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


class IntervalStrategy(str, enum.Enum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"


@dataclasses.dataclass
class TrainingArguments:
    output_dir: str = "out"
    learning_rate: float = 5e-5
    eval_strategy: IntervalStrategy = IntervalStrategy.STEPS


class RunConfig:
    """A project's own config class: not on the list until the policy says so."""

    def __init__(self, lr: float) -> None:
        self.lr = lr


@pytest.fixture
def real_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the stand-ins under the modules the real classes live in."""
    for cls, module in (
        (AttributeDict, "lightning.fabric.utilities.data"),
        (IntervalStrategy, "transformers.trainer_utils"),
        (TrainingArguments, "transformers.training_args"),
        (RunConfig, "mylab.config"),
    ):
        parts = module.split(".")
        for k in range(1, len(parts)):  # parents, so that pickle can import it
            parent = ".".join(parts[:k])
            if parent not in sys.modules:
                monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
        mod = sys.modules.get(module) or types.ModuleType(module)
        monkeypatch.setattr(cls, "__module__", module)
        setattr(mod, cls.__name__, cls)
        monkeypatch.setitem(sys.modules, module, mod)
    yield


def test_safe_training_objects_are_allowed(real_names: None) -> None:
    ckpt = {
        "state_dict": collections.OrderedDict(),
        "hyper_parameters": AttributeDict(lr=3e-4, layers=12, name="gpt-small"),
        "hparams_namespace": argparse.Namespace(lr=3e-4, seed=1),
        "token_counts": collections.Counter({"the": 10, "a": 7}),
        "training_args": TrainingArguments(),
    }
    for protocol in (2, 4, 5):
        assert scan_artifact("last.ckpt", pickle.dumps(ckpt, protocol=protocol)) == []


def test_each_addition_names_why_it_is_safe() -> None:
    for key in [
        ("collections", "Counter"),
        ("argparse", "Namespace"),
        ("lightning.fabric.utilities.data", "AttributeDict"),
        ("pytorch_lightning.utilities.parsing", "AttributeDict"),
        ("transformers.training_args", "TrainingArguments"),
        ("transformers.trainer_utils", "IntervalStrategy"),
    ]:
        assert "issue" not in ALLOWED_GLOBALS[key] and len(ALLOWED_GLOBALS[key]) > 40


def _build_with(module: str, name: str, state: bytes) -> bytes:
    """A protocol-2 pickle: AttributeDict() then BUILD with ``state``."""
    return (
        b"\x80\x02clightning.fabric.utilities.data\nAttributeDict\n)\x81" + state + b"b."
    ).replace(b"STATE", f"c{module}\n{name}\n".encode())


@pytest.mark.parametrize(
    "payload",
    [
        # an allowed container smuggling a non-allowed object as an item
        b"\x80\x02clightning.fabric.utilities.data\nAttributeDict\n)\x81X\x02\x00\x00\x00cb"
        b"ctypes\nSimpleNamespace\n)\x81s.",
        _build_with("posix", "system", b"}X\x0c\x00\x00\x00__setstate__STATEs"),
        # REDUCE on an allowed class with a non-allowed callable as argument
        b"\x80\x02cargparse\nNamespace\n)\x81}X\x01\x00\x00\x00fcos\nsystem\nsb.",
        # Counter built from a call to a non-allowed global
        b"\x80\x02ccollections\nCounter\ncbuiltins\neval\nX\x01\x00\x00\x001\x85R\x85R.",
    ],
)
def test_attacker_variants_still_block(real_names: None, payload: bytes) -> None:
    issues = scan_artifact("hparams.pkl", payload)
    assert {i.rule_id for i in issues} & {"artifact-pickle-global", "artifact-pickle-malformed"}


def test_allowed_container_mutated_as_a_global_is_suspicious() -> None:
    # BUILD on the imported class itself (monkey-patching argparse.Namespace).
    payload = b"\x80\x02cargparse\nNamespace\nN}X\x01\x00\x00\x00xK\x01s\x86b."
    assert {i.rule_id for i in scan_artifact("x.pkl", payload)} == {"artifact-pickle-suspicious"}


# --- the policy extends the list ----------------------------------------------------------


def _check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return code, [f for f in doc["findings"] if f["check"] in ("artifacts", "semgrep")]


def _repo(repo: Repo, policy_extra: str = "") -> Repo:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n" + policy_extra)
    repo.write("README.md", "# x\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


ALLOW = "  artifacts:\n    allow_globals: ['mylab.config:RunConfig']\n"


def test_policy_allow_globals_extends_the_list(
    repo: Repo, real_names: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, ALLOW)
    repo.write("runs/cfg.pkl", pickle.dumps({"cfg": RunConfig(0.1)}, protocol=4))
    repo.commit("config pickle", who="mallory")
    # (The .pkl still needs the model-artifacts path approval; no finding adds to it.)
    _, found = _check(repo, capsys)
    assert found == []


def test_without_the_policy_entry_the_class_blocks(
    repo: Repo, real_names: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo)
    repo.write("runs/cfg.pkl", pickle.dumps({"cfg": RunConfig(0.1)}, protocol=4))
    repo.commit("config pickle", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    assert [(f["rule_id"], f["outcome"]) for f in found] == [("artifact-pickle-global", "block")]
    assert "mylab.config.RunConfig" in found[0]["message"]


def test_allow_globals_in_the_change_does_not_apply_to_it(
    repo: Repo, real_names: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The policy is read from the trusted base: a change cannot allow its own pickle.
    _repo(repo)
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n" + ALLOW)
    repo.write("runs/cfg.pkl", pickle.dumps({"cfg": RunConfig(0.1)}, protocol=4))
    repo.commit("allow my own pickle", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1 and [f["rule_id"] for f in found] == ["artifact-pickle-global"]


@pytest.mark.parametrize(
    "entry",
    [
        "os:system",
        "builtins:eval",
        "functools:partial",
        "torch.storage:_load_from_bytes",
        "mylab.x:getattr",
    ],
)
def test_policy_cannot_allow_code_execution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    p = tmp_path / ".traingate.yaml"
    p.write_text(f"version: 1\nchecks:\n  artifacts:\n    allow_globals:\n      - {entry!r}\n")
    assert main(["policy", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert ".traingate.yaml:5:" in err and "cannot be allowed" in err


def test_policy_allow_globals_syntax_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / ".traingate.yaml"
    p.write_text("version: 1\nchecks:\n  artifacts:\n    allow_globals: ['mylab.*']\n")
    assert main(["policy", "validate", str(p)]) == 2
    assert "allow_globals" in capsys.readouterr().err


# --- .pth by content ----------------------------------------------------------------------


@pytest.mark.usefixtures("fake_torch")
def test_binary_pth_checkpoint_is_an_artifact_not_source(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(".traingate.yaml", POLICY)  # semgrep enabled: it must not read the .pth
    repo.write("README.md", "# x\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("weights/resnet18.pth", torch_zip(state_dict()))
    repo.write("weights/legacy.pth", pickle.dumps(collections.OrderedDict(), protocol=2) + b"\0")
    repo.commit("weights", who="mallory")
    _, found = _check(repo, capsys)
    assert [f for f in found if f["rule_id"] == "source-unreadable"] == []
    # The legacy stream has trailing NUL bytes: the artifacts check judges it
    # (torch's multi-pickle layout), not the semgrep check.
    assert {f["check"] for f in found} <= {"artifacts"}


def test_text_pth_with_nul_bytes_still_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(".traingate.yaml", POLICY)
    repo.write("README.md", "# x\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("site/evil.pth", "import os;os.system('id')\n\0\0hidden\n")
    repo.commit("path file", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    assert {f["rule_id"] for f in found} & {"source-unreadable", "artifact-pickle-malformed"}


@pytest.mark.parametrize(
    "text",
    [
        b"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'\n",
        b"/work/main/src\n",
        b"# a comment\n../vendor/lib\nimport _editable_impl_mylab\n",
    ],
)
def test_text_pth_path_files_are_not_unparseable_pickles(text: bytes) -> None:
    assert scan_artifact("site-packages/mylab.pth", text) == []


@pytest.mark.parametrize(
    "payload",
    [
        b"cos\nsystem\n(S'id'\ntR.",  # protocol 0, sniffed: strict
        b"I1\n0cposix\nsystem\n(S'id'\ntR.",  # protocol 0 after a harmless int: lenient
        pickle.dumps(collections.OrderedDict(), protocol=2)[:-1] + b"cos\nsystem\n.",
    ],
)
def test_pickle_payloads_named_pth_still_block(payload: bytes) -> None:
    assert "artifact-pickle-global" in {i.rule_id for i in scan_artifact("model.pth", payload)}
