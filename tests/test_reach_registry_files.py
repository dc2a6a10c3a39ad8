"""Reach: one finding per call site, re-exports named, registries across files (issue #16).

Session 12 (task HC). A scan pointed at timm's ``opt_class = partial(opt_class,
...)`` twice: the partial's own call was resolved to the partial itself. A
name bound two ways is one call, one finding. Every case runs the real CLI
on a real repository (``train_change``) or the scan both ways
(``scan_both_ways``: whole tree and streamed, which must agree).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traingate.checks.reach import summary
from traingate.cli import main

from .conftest import Repo
from .test_reach import NO_SEMGREP, assert_blocks_at, train_change
from .test_reach_streaming import scan_both_ways

# timm/optim/_optim_factory.py's shape: a class imported by a run-time name,
# then bound with its defaults through a partial of the same local.
OPT_FACTORY = """\
import importlib
from functools import partial


def _import_class(class_string):
    module_name, class_name = class_string.rsplit(".", 1)
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


class Registry:
    def get_class(self, info, bind_defaults=True):
        opt_class = _import_class(info.opt_class)
        if bind_defaults and info.defaults:
            opt_class = partial(opt_class, **info.defaults)
        return opt_class
"""


def test_scan_points_at_a_partial_of_its_own_local_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old code: two findings at line 15 (one through the partial calling itself)."""
    found = scan_both_ways(tmp_path, {"opt/factory.py": OPT_FACTORY}, monkeypatch)
    assert [(f.rule_id, f.line) for f in found] == [("reach-dangerous-call", 15)], found
    assert "_import_class -> builtins.dynattr" in found[0].message
    assert "get_class.opt_class" not in found[0].message


MODULE_PARTIAL = """\
from functools import partial

from utils.io import load

load = partial(load, fast=True)
"""

IO_HELPER = (
    "import pickle\n\n\ndef load(path, fast=False):\n    return pickle.load(open(path, 'rb'))\n"
)


def test_a_module_level_partial_of_its_own_name_is_one_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``load = partial(load, ...)``: the partial wraps the import, not itself."""
    found = scan_both_ways(
        tmp_path,
        {"utils/__init__.py": "", "utils/io.py": IO_HELPER, "ckpt.py": MODULE_PARTIAL},
        monkeypatch,
    )
    assert [(f.path.rpartition("/")[2], f.line) for f in found] == [("ckpt.py", 5)], found
    assert "calls utils.io.load -> pickle.load" in found[0].message, found


SHELL_HELPER = "import os\n\n\ndef load(cmd):\n    os.system(cmd)\n"

# One call of a name bound two ways: two refs, one call site.
TWO_WAYS = """\
try:
    from utils.fast import load
except ImportError:
    from utils.slow import load


def main(p):
    return load(p)
"""


def test_a_name_bound_two_ways_is_one_finding_naming_both_kinds(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old code: two findings at train.py:8, one per branch's import."""
    base = {"utils/__init__.py": "", "utils/fast.py": IO_HELPER, "utils/slow.py": SHELL_HELPER}
    result = train_change(repo, capsys, base, "def main(p):\n    pass\n", TWO_WAYS)
    found = assert_blocks_at(result, 8, "utils.fast.load -> pickle.load")
    assert found["message"].endswith("; it also reaches a shell command"), found


def test_a_scan_of_a_name_bound_two_ways_points_at_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = {
        "utils/__init__.py": "",
        "utils/fast.py": IO_HELPER,
        "utils/slow.py": SHELL_HELPER,
        "train.py": TWO_WAYS,
    }
    found = scan_both_ways(tmp_path, tree, monkeypatch)
    assert [(f.path.rpartition("/")[2], f.line) for f in found] == [("train.py", 8)], found
    assert "it also reaches a shell command" in found[0].message


# -- (2) the path followed to a factory's or a dict's sink, and its re-export --

HOOKS = (
    "import importlib\n\n\ndef locate(spec):\n"
    '    mod_name, _, attr = spec.partition(":")\n'
    "    return getattr(importlib.import_module(mod_name), attr)\n"
)
DECODER = "import pickle\n\n\ndef decoder():\n    return pickle.loads\n"
CODECS = 'import pickle\n\nHANDLERS = {"pickle": pickle.loads}\n'

WORDING = {
    "a factory's lookup through `from .hooks import locate as _locate`": (
        {"utils/__init__.py": "from .hooks import locate as _locate\n", "utils/hooks.py": HOOKS},
        "from utils import _locate\n\n\ndef main(cfg, state):\n    _locate(cfg.hook)(state)\n",
        "calls utils._locate -> utils.hooks.locate -> builtins.dynattr (utils/hooks.py:6): "
        "a callable chosen by name at run time returned by a repository function, "
        "re-exported as utils._locate",
    ),
    "a factory returning pickle.loads, re-exported": (
        {"utils/__init__.py": "from .io import decoder as _decoder\n", "utils/io.py": DECODER},
        "from utils import _decoder\n\n\ndef main(cfg, state):\n    _decoder()(state)\n",
        "calls utils._decoder -> utils.io.decoder -> pickle.loads (utils/io.py:5): "
        "unpickling returned by a repository function, re-exported as utils._decoder",
    ),
    "a factory returning pickle.loads, imported from its module": (
        {"utils/__init__.py": "", "utils/io.py": DECODER},
        "from utils.io import decoder\n\n\ndef main(cfg, state):\n    decoder()(state)\n",
        "calls utils.io.decoder -> pickle.loads (utils/io.py:5): "
        "unpickling returned by a repository function",
    ),
    "a dict's element, the dict re-exported": (
        {"utils/__init__.py": "from .codecs import HANDLERS\n", "utils/codecs.py": CODECS},
        "from utils import HANDLERS\n\n\ndef main(fmt, state):\n    HANDLERS[fmt](state)\n",
        "calls utils.HANDLERS -> utils.codecs.HANDLERS -> pickle.loads (utils/codecs.py:3): "
        "unpickling held in a repository dict, re-exported as utils.HANDLERS",
    ),
}


@pytest.mark.parametrize("name", list(WORDING))
def test_the_message_says_which_path_was_followed(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old code: a factory's pickle.loads and a dict's were "re-exported by
    the repository", a re-exported factory was named by its def only."""
    base, new, text = WORDING[name]
    result = train_change(repo, capsys, base, "def main(cfg, state):\n    pass\n", new)
    found = assert_blocks_at(result, 5, text)
    assert found["message"] == f"train.py:5 {text}", found


def test_a_name_bound_to_the_sink_still_says_re_exported(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"utils/__init__.py": "from pickle import loads as raw\n"}
    new = "from utils import raw\n\n\ndef main(cfg, state):\n    raw(state)\n"
    result = train_change(repo, capsys, base, "def main(cfg, state):\n    pass\n", new)
    found = assert_blocks_at(result, 5, "calls utils.raw -> pickle.loads (utils/__init__.py:1)")
    assert found["message"].endswith(": unpickling re-exported by the repository"), found


# -- (3) registries across files: timm's @register_model -------------------------

REGISTRY = """\
import sys

_model_entrypoints = {}


def register_model(fn):
    mod = sys.modules[fn.__module__]
    model_name = fn.__name__
    _model_entrypoints[model_name] = fn
    return fn


def model_entrypoint(model_name):
    arch_name = model_name.split(".")[0]
    return _model_entrypoints[arch_name]
"""

FACTORY = """\
from ._registry import model_entrypoint


def create_model(model_name, pretrained=False, **kwargs):
    create_fn = model_entrypoint(model_name)
    model = create_fn(pretrained=pretrained, **kwargs)
    return model
"""

PACKAGE = (
    "from ._factory import create_model\nfrom ._registry import *\n"
    "from .resnet import *\nfrom .vit import *\n"
)


def _entry(name: str, body: str, head: str = "from ._registry import register_model") -> str:
    deco = head.rpartition(" ")[2]
    return (
        f"import torch\n\n{head}\n\n\n@{deco}\n"
        f"def {name}(pretrained=False, **kwargs):\n    model = object()\n"
        f"    if pretrained:\n        {body}\n    return model\n"
    )


VIT_UNSAFE = _entry("vit_tiny", 'model = torch.load(kwargs["path"], weights_only=False)')
VIT_SAFE = _entry("vit_tiny", 'model = torch.load(kwargs["path"], weights_only=True)')
RESNET = _entry("resnet50", "model = model")


def _models(vit: str, **more: str) -> dict[str, str]:
    return {
        "models/__init__.py": PACKAGE,
        "models/_registry.py": REGISTRY,
        "models/_factory.py": FACTORY,
        "models/resnet.py": RESNET,
        "models/vit.py": vit,
        **more,
    }


TRAIN_OLD = "def main(cfg):\n    pass\n"
TRAIN_NEW = (
    "from models import create_model\n\n\ndef main(cfg):\n    return create_model(cfg.model)\n"
)


def test_create_model_reaches_an_entry_another_file_registers(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old code: quiet (the decorator and its dict are in two files)."""
    result = train_change(repo, capsys, _models(VIT_UNSAFE), TRAIN_OLD, TRAIN_NEW)
    assert_blocks_at(
        result,
        5,
        "calls models._factory.create_model -> models.vit.vit_tiny -> torch.load "
        "(models/vit.py:10)",
    )


HELPERS = "import pickle\n\n\ndef read_state(path):\n    with open(path, 'rb') as fh:\n        return pickle.load(fh)\n"


def test_an_entry_registered_through_a_renamed_re_export_reaches_its_helper(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model file never names ``register_model``: ``models/api.py``
    re-exports it as ``reg``. Old code: quiet."""
    convnext = _entry(
        "convnext", "model = read_state(kwargs['path'])", "from models.api import reg"
    ).replace("import torch\n", "from models._helpers import read_state\n")
    base = _models(
        VIT_SAFE,
        **{
            "models/api.py": "from ._registry import register_model as reg\n",
            "models/_helpers.py": HELPERS,
            "models/convnext.py": convnext,
        },
    )
    result = train_change(repo, capsys, base, TRAIN_OLD, TRAIN_NEW)
    assert_blocks_at(
        result, 5, "models.convnext.convnext -> models._helpers.read_state -> pickle.load"
    )


CODEC_REGISTRY = """\
CODECS = {}


def register(name):
    def deco(fn):
        CODECS[name] = fn
        return fn

    return deco


def get_codec(fmt):
    return CODECS[fmt]
"""
PKL_CODEC = (
    'import pickle\n\nfrom codecs_pkg.base import register\n\n\n@register("pkl")\n'
    "def read_pkl(data):\n    return pickle.loads(data)\n"
)
JSON_CODEC = (
    'import json\n\nfrom codecs_pkg.base import register\n\n\n@register("json")\n'
    "def read_json(data):\n    return json.loads(data)\n"
)
CODEC_TREE = {
    "codecs_pkg/__init__.py": "",
    "codecs_pkg/base.py": CODEC_REGISTRY,
    "codecs_pkg/pkl.py": PKL_CODEC,
    "codecs_pkg/js.py": JSON_CODEC,
}


def test_a_called_registry_decorator_in_another_file_keys_its_entry(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``@register("pkl")`` in codecs_pkg/pkl.py fills base.py's ``CODECS``
    under "pkl": a run-time key reaches it. Old code: quiet."""
    new = "from codecs_pkg.base import get_codec\n\n\ndef main(cfg):\n    return get_codec(cfg.fmt)(cfg.data)\n"
    result = train_change(repo, capsys, CODEC_TREE, TRAIN_OLD, new)
    assert_blocks_at(result, 5, "codecs_pkg.pkl.read_pkl -> pickle.loads")


def test_the_scan_finds_the_registry_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed and whole-tree scans agree; the sink is pointed at once, at
    the factory's call of the entry."""
    found = scan_both_ways(tmp_path, {**_models(VIT_UNSAFE), "train.py": TRAIN_NEW}, monkeypatch)
    assert [(f.path.rpartition("proj/")[2], f.line) for f in found] == [
        ("models/_factory.py", 6)
    ], found
    assert "calls models.vit.vit_tiny -> torch.load (models/vit.py:10)" in found[0].message


LOOKALIKES = {
    "every entry loads with weights_only=True": (_models(VIT_SAFE), TRAIN_NEW),
    "a registry of plain constructors": (
        _models(_entry("vit_tiny", "model = model")),
        TRAIN_NEW,
    ),
    "a literal key of a safe entry (the pickle one is registered too)": (
        CODEC_TREE,
        "from codecs_pkg.base import CODECS\n\n\ndef main(cfg):\n"
        '    return CODECS["json"](cfg.data)\n',
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_registry_lookalike_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, new = LOOKALIKES[name]
    _code, found, doc = train_change(repo, capsys, base, TRAIN_OLD, new, who="alice")
    assert doc["errors"] == [] and found == [], [f["message"] for f in found]


def test_the_join_parses_only_files_that_name_the_decorator(
    repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registrants are found in the blobs' bytes: ten files that never
    name ``register_model`` are read, not parsed (issue #17: cost)."""
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    unrelated = {f"data/set{i}.py": f"def load_{i}(p):\n    return p\n" for i in range(10)}
    base = {**_models(VIT_UNSAFE), **unrelated}
    summary.STATS["parsed"] = 0
    result = train_change(repo, capsys, base, TRAIN_OLD, TRAIN_NEW)
    assert_blocks_at(result, 5, "models.vit.vit_tiny -> torch.load")
    # train.py both sides, the package, the factory, the registry, the two
    # model files: never the ten data files
    assert summary.STATS["parsed"] <= 8, summary.STATS


def test_staged_mode_finds_an_entry_only_the_index_holds(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The base revision is searched by ``git grep``; a blob laid over from
    the index is read: a model file staged with the call is a registrant."""
    repo.write(".traingate.yaml", NO_SEMGREP)
    for path, text in _models(VIT_SAFE).items():
        repo.write(path, text)
    repo.write("train.py", TRAIN_OLD)
    repo.commit("base")
    evil = _entry("evil_net", "model = read_state(kwargs['path'])").replace(
        "import torch\n", "import torch\nfrom models._helpers import read_state\n"
    )
    repo.write("models/_helpers.py", HELPERS)
    repo.write("models/evil.py", evil)
    repo.write("train.py", TRAIN_NEW)
    repo.git("add", "-A")
    capsys.readouterr()
    main(["check", "--repo", str(repo.path), "--staged", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    found = [f for f in doc["findings"] if f["check"] == "reach"]
    # the new entry's own call of the helper is an added call too
    got = sorted((f["path"], f["line"], f["message"]) for f in found)
    assert [(p, n) for p, n, _ in got] == [("models/evil.py", 11), ("train.py", 5)], got
    assert "create_model -> models.evil.evil_net -> models._helpers.read_state" in got[1][2]


def test_a_registrant_python_cannot_parse_is_incomplete(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file naming the decorator that this Python refuses may register an
    entry that reaches a sink: the join cannot judge it (fail closed)."""
    legacy = "from ._registry import register_model\n\n\n@register_model\ndef old(**kw):\n    print 'x'\n"
    base = _models(VIT_SAFE, **{"models/legacy.py": legacy})
    _code, found, doc = train_change(repo, capsys, base, TRAIN_OLD, TRAIN_NEW)
    assert doc["errors"] == []
    assert [(f["rule_id"], f["path"]) for f in found] == [
        ("reach-incomplete", "models/legacy.py")
    ], found
    assert "could not be parsed" in found[0]["message"], found
