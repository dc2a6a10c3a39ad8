"""Facts version 20 (session 28): a callable chosen by name is judged by where
its name comes from (reach/names.py).

torchtune's recipes hand a config's `collate_fn` to
`_get_component_from_path`; real history blocked four ordinary changes for
it (issue #16). The name is now followed as `weights_only` is: a lookup whose
module and attribute are pieces of one parameter is conditional on it, and
each call judges what it passes there: a literal by the config check's
judgment, the caller's own parameter (or a read from it) in turn, a config
entry point's config (`@hydra.main`, torchtune's `@config.parse`) as the
config check's, anything else as a finding. Each attempt an insider would
make is kept beside its benign look-alike, through the real CLI on a real
repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.reach import facts, names

from .test_reach_handed import findings as handed_findings

RESOLVE = """\
import importlib
from importlib import import_module


def get_component(path: str):
    \"\"\"Return an object by its dotted path (hydra's _locate, trimmed).\"\"\"
    if path == "":
        raise ValueError("Empty path")
    parts = [part for part in path.split(".")]
    obj = import_module(parts[0])
    for m in range(1, len(parts)):
        part = parts[m]
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = import_module(".".join(parts[: m + 1]))
    return obj


def call_hook(name, *args):
    return get_component(name)(*args)


class Transform:
    def __init__(self, path, template=None):
        self.path = path
        self.template = get_component(template)() if template is not None else None


def load_plugin(spec, state):
    mod = importlib.import_module(spec.rsplit(".", 1)[0])
    fn = getattr(mod, spec.rsplit(".", 1)[1])
    return fn(state)
"""

RECIPE = """\
from functools import partial

from torch.utils.data import DataLoader

from train.utils.resolve import get_component


class Recipe:
    def setup(self, cfg):
        collate_name = cfg.get("collate_fn", "train.data.pad_collate")
        self._loader = self._setup_data(cfg.dataset, collate_fn=collate_name)
        self._curriculum = self._setup_curriculum(cfg.get("curriculum", None))

    def _setup_data(self, cfg_dataset, collate_fn: str):
        if "left_pad" in collate_fn:
            raise RuntimeError("left_pad is only for inference.")
        collate_fn = get_component(collate_fn)
        return DataLoader(cfg_dataset, collate_fn=partial(collate_fn, pad_id=0))

    def _setup_curriculum(self, cfg_curriculum):
        schedule = None
        if cfg_curriculum:
            schedule = cfg_curriculum.get("schedule", None)
            if schedule:
                schedule = get_component(schedule)(max_steps=10)
        return schedule
"""

CLI = """\
def parse(recipe_main):
    def run():
        return recipe_main({"collate_fn": "train.data.pad_collate"})

    return run
"""

BASE = {
    "train/__init__.py": "",
    "train/utils/__init__.py": "",
    "train/utils/resolve.py": RESOLVE,
    "train/utils/cli.py": CLI,
    "train/recipe.py": RECIPE,
    "train/data.py": "def pad_collate(batch, pad_id=0):\n    return batch\n",
    "train/utils/shell.py": (
        "import subprocess\n\n\ndef run_tool(cmd):\n"
        "    return subprocess.run(cmd, shell=True, check=False)\n"
    ),
}

HERE = "train.utils.resolve"
CHAIN = f"{HERE}.get_component -> builtins.dynattr"


def findings(tmp_path: Path, capsys: pytest.CaptureFixture[str], head: dict[str, str]) -> list[int]:
    got = handed_findings(tmp_path, capsys, head, BASE)
    for _rule, _path, _line, message in got:
        assert "a callable chosen by name at run time" in message
    return [line for rule, _path, line, _m in got if rule == "reach-dangerous-call"]


ENTRY = """\
import hydra

from train.recipe import Recipe


@hydra.main(config_path="configs", config_name="sft", version_base=None)
def recipe_main(cfg):
    recipe = Recipe()
    recipe.setup(cfg=cfg)


if __name__ == "__main__":
    recipe_main()
"""

BENIGN = """\
from train.recipe import Recipe
from train.utils.resolve import Transform, call_hook, get_component, load_plugin


def tokenizer(path, template=None):
    return Transform(path, template=template)


def chat_tokenizer(path):
    return Transform(path, "train.templates.ChatML")


def on_epoch_end(state):
    call_hook("train.hooks.log_metrics", state)
    load_plugin("train.plugins.warmup", state)
    for name in ["train.hooks.save_ema", "train.hooks.log_lr"]:
        call_hook(name, state)


def build_model(cfg_model):
    return get_component(cfg_model.get("cls", "train.models.TinyLM"))(dim=cfg_model.dim)


def setup_from(cfg):
    Recipe().setup(cfg)
"""


def test_config_names_reach_the_lookup_through_an_entry_point_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # torchtune's shape: the config's name goes through the recipe's setup to
    # the lookup; the config file is the config check's, the command line is
    # outside the change; nothing else in the change passes a name
    assert findings(tmp_path / "a", capsys, {"train/run_sft.py": ENTRY}) == []
    assert findings(tmp_path / "b", capsys, {"train/epoch.py": BENIGN}) == []


ATTACKS = """\
import os
from functools import partial

from train.utils.resolve import Transform, call_hook, load_plugin

FN = "os.system"


def a_class(path):
    return Transform(path, template="os.system")


def literal(state):
    call_hook("os.system", "id")


def concatenated(state):
    call_hook("o" + "s.system", "id")


def formatted(state):
    m = "os"
    call_hook(f"{m}.system", "id")


def a_default(cfg):
    call_hook(cfg.get("fn", "os.system"), "id")


def a_dict(state):
    call_hook({"fn": "os.system"}["fn"], "id")


def written_first(cfg):
    cfg.fn = "os.system"
    call_hook(cfg.fn, "id")


def from_the_environment(state):
    call_hook(os.environ["FN"], "id")


def a_global(state):
    load_plugin(FN, "id")


def rebound(name, state):
    if not name.startswith("train."):
        name = "train.hooks." + name
    return call_hook(name, state)


def looped(state):
    for name in ["train.hooks.log_metrics", "os.system"]:
        call_hook(name, "id")


def reversed_name(state):
    call_hook("system.os", "id")


def a_fallback(cfg):
    call_hook(cfg.get("fn") or "os.system", "id")


def starred(state):
    call_hook(*["os.system", "id"])


def bound_first(state):
    fire = partial(call_hook, "os.system")
    fire("id")


def aliased(cfg):
    hooks = cfg
    hooks.fn = "os.system"
    call_hook(cfg.fn, "id")


class Runner:
    def start(self, cfg):
        self.cfg = cfg
        self.cfg.fn = "os.system"
        call_hook(cfg.fn, "id")
"""


def test_every_insider_attempt_still_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [n for n, text in enumerate(ATTACKS.splitlines(), 1) if "call_hook(" in text]
    lines += [n for n, text in enumerate(ATTACKS.splitlines(), 1) if "Transform(path" in text]
    # the partial names call_hook with the literal; calling it runs it
    lines += [n for n, text in enumerate(ATTACKS.splitlines(), 1) if "fire" in text]
    lines += [n for n, text in enumerate(ATTACKS.splitlines(), 1) if "load_plugin(FN" in text]
    assert findings(tmp_path, capsys, {"train/attacks.py": ATTACKS}) == sorted(lines)


FAKE_ENTRY = """\
from train.recipe import Recipe
from train.utils import cli as config


@config.parse
def recipe_main(cfg):
    Recipe().setup(cfg=cfg)


if __name__ == "__main__":
    recipe_main()
"""

PASSED_ON = """\
from omegaconf import OmegaConf

from train.recipe import Recipe


def launch(path):
    Recipe().setup({"collate_fn": "os.system", "dataset": path})


def launch_file(path):
    Recipe().setup(OmegaConf.load(path))
"""


def test_a_repository_decorator_named_parse_is_no_entry_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `config.parse` here is the repository's own function: what it passes is
    # its code, not the config file's; the config parameter counts as unsafe,
    # so the function reaches the lookup whoever calls it
    assert findings(tmp_path, capsys, {"train/run_sft.py": FAKE_ENTRY}) == [7, 11]


def test_what_goes_into_the_recipe_is_judged_files_away(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # setup -> _setup_data -> get_component: a dict display naming os.system,
    # and a config loaded at run time, are judged where they go in
    assert findings(tmp_path, capsys, {"train/launch.py": PASSED_ON}) == [7, 11]


def test_the_facts_record_the_name_s_parameter() -> None:
    got = facts.extract(RESOLVE)
    assert got["dnr"] == {"get_component": "path"}
    assert got["np"]["get_component"]["path"] == [0, 1, 0]
    dyn = [c for c in got["calls"] if c[1] == "B:dynattr"]
    assert [c[5].get("dn") for c in dyn] == ["spec"]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("torchtune.data.padded_collate_sft", True),
        ("train.hooks.log_metrics", True),
        (None, True),
        ("os.system", False),
        ("system.os", False),
        ("subprocess.Popen", False),
        ("builtins.eval", False),
        ("pickle.loads", False),
        ("eval", False),
        ("logging.os.system", False),
        ("shutil.rmtree", False),
    ],
)
def test_a_literal_name_is_judged_as_the_config_check_judges_it(
    name: str | None, safe: bool
) -> None:
    assert names.safe_literal(name) is safe


REPO_NAMED = """\
from train.utils.resolve import call_hook


def cleanup(state):
    call_hook("train.utils.shell.run_tool", "rm -rf ~/.cache/wandb")


def log(state):
    call_hook("train.data.pad_collate", state)
"""


def test_a_harmless_literal_naming_a_repository_sink_helper_is_a_known_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # LIMITATION (pinned): the config check's judgment knows nothing of the
    # repository, so `train.utils.shell.run_tool` reads as harmless, as the
    # same name in a config's `_target_` does. Following every dotted literal
    # that names a repository function as a call of it was tried: on the
    # corpus it linked deprecation messages naming Lightning's classes into
    # a chain past the depth limit (`reach-incomplete`); it needs the name
    # followed only where a conditional lookup takes it. Before session 28
    # this call was flagged as a lookup of any name.
    got = handed_findings(tmp_path, capsys, {"train/cleanup.py": REPO_NAMED}, BASE)
    assert got == []
