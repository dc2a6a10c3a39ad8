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
repository. Version 21: a harmless-looking literal that names a repository
function reaching a sink blocks (looked up, not followed), and a
`torchtune/config/_parse.py` the change adds or edits is no entry point.
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
from train.utils.resolve import Transform, call_hook, get_component, load_plugin


def cleanup(state):
    call_hook("train.utils.shell.run_tool", "rm -rf ~/.cache/wandb")


def through_a_default(cfg):
    call_hook(cfg.get("on_end", "train.utils.shell.run_tool"), "id")


def by_a_class(path):
    return Transform(path, template="train.utils.shell.ToolRunner")


def re_exported(state):
    load_plugin("train.utils.run_tool", "id")


def a_module(state):
    call_hook("train.utils.env", state)


def directly(state):
    get_component("train.utils.shell.run_tool")("id")


def by_its_default(state):
    fire_default()


def fire_default(name="train.utils.shell.run_tool"):
    return call_hook(name, "id")


def a_top_level_module(state):
    call_hook("setup_env", state)


def on_sys_path(state):
    call_hook("shell.run_tool", "id")


def wrapped(state):
    call_hook("train.collate.pad_logged", state)
    get_component("train.collate.pad_logged")(state)


def inherited(path):
    from train.templates import ChatTransform

    return ChatTransform(path, template="train.utils.shell.ToolRunner")
"""

LOGS = """\
import functools

from train.utils.shell import run_tool


def logged(fn):
    @functools.wraps(fn)
    def inner(*args):
        run_tool("logger -t collate " + fn.__name__)
        return fn(*args)

    return inner
"""

COLLATE = """\
import functools

from train.utils.logs import logged


@logged
def pad_logged(batch, pad_id=0):
    return batch


@functools.lru_cache(maxsize=1)
def vocab_size(path="tokenizer.json"):
    return 32000
"""

SHELL = (
    "import subprocess\n\n\ndef run_tool(cmd):\n"
    "    return subprocess.run(cmd, shell=True, check=False)\n\n\n"
    "class ToolRunner:\n    def __init__(self):\n        run_tool('id')\n"
)


def test_a_harmless_literal_naming_a_repository_sink_helper_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The two-step plant reach exists for: a dotted name that is harmless to
    # the config check but names a repository function (class, module, a
    # re-export of one) that reaches a sink; the name is looked up in what
    # reach computed (no call of it is followed). A default that names one
    # counts too, where the function is called with the argument left out; a
    # name relative to a directory of the repository (a script's, on
    # sys.path) and a def bound to a repository decorator's wrapper count.
    base = {
        **BASE,
        "train/utils/shell.py": SHELL,
        "train/utils/__init__.py": "from .shell import run_tool\n",
        # importing the module by its name runs its body
        "train/utils/env.py": "import os\n\nos.system(os.environ.get('SETUP', 'true'))\n",
        "setup_env.py": "import os\n\nos.system(os.environ.get('SETUP', 'true'))\n",
        "train/collate.py": COLLATE,
        "train/utils/logs.py": LOGS,
        "train/templates.py": (
            "from train.utils.resolve import Transform\n\n\n"
            "class ChatTransform(Transform):\n    pass\n"
        ),
    }
    got = handed_findings(tmp_path, capsys, {"train/cleanup.py": REPO_NAMED}, base)
    lines = [line for rule, _p, line, _m in got if rule == "reach-dangerous-call"]
    assert lines == [5, 9, 13, 17, 21, 25, 29, 37, 41, 45, 46, 52]


REPO_NAMED_OK = """\
from train.utils.resolve import Transform, call_hook, get_component, load_plugin


def log(state):
    call_hook("train.data.pad_collate", state)


def chat(path):
    return Transform(path, template="train.data.pad_collate")


def warm(state):
    load_plugin("train.data.pad_collate", state)
    get_component("train.data.pad_collate")(state)


def external(cfg):
    call_hook(cfg.get("collate_fn", "torchtune.data.padded_collate_sft"), [])


def plain_word(state):
    call_hook("identity", state)


def cached(state):
    call_hook("train.collate.vocab_size", state)
    get_component("train.collate.vocab_size")()
"""


def test_a_literal_naming_a_repository_function_that_reaches_nothing_is_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `train.data.pad_collate` reaches no sink, nor does a def a library's
    # decorator (`functools.lru_cache`) wraps; a name of nothing in the
    # repository is judged as before (the config check's judgment)
    base = {**BASE, "train/collate.py": COLLATE, "train/utils/logs.py": LOGS}
    assert handed_findings(tmp_path, capsys, {"train/hooks.py": REPO_NAMED_OK}, base) == []


TT_PARSE = """\
import os
from functools import wraps


def parse(recipe_main):
    @wraps(recipe_main)
    def run():
        return recipe_main({"collate_fn": os.environ.get("COLLATE", "train.data.pad_collate")})

    return run
"""

TT_PACKAGE = {
    "torchtune/__init__.py": "",
    "torchtune/config/__init__.py": "from ._parse import parse\n",
    "torchtune/config/_parse.py": TT_PARSE,
}

TT_RECIPE = """\
from torchtune import config

from train.recipe import Recipe


@config.parse
def recipe_main(cfg):
    Recipe().setup(cfg=cfg)


if __name__ == "__main__":
    recipe_main()
"""


def test_an_entry_point_the_change_adds_or_modifies_is_no_entry_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Impersonation: torchtune's `torchtune/config/_parse.py::parse` is
    # trusted as an entry point only when the change under review neither
    # adds nor modifies that file; an insider's own copy (its `parse` builds
    # the config from os.environ) added with a recipe blocks, as does an edit
    # of the one already there
    head = {**TT_PACKAGE, "train/run_sft.py": TT_RECIPE}
    assert findings(tmp_path / "a", capsys, head) == [8, 12]
    edited = TT_PARSE.replace("def run():", "def run():  # read the env\n")
    base = {**BASE, **TT_PACKAGE}
    head = {"torchtune/config/_parse.py": edited, "train/run_sft.py": TT_RECIPE}
    got = handed_findings(tmp_path / "b", capsys, head, base)
    assert [line for rule, _p, line, _m in got if rule == "reach-dangerous-call"] == [8, 12]


def test_an_entry_point_already_in_the_repository_is_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # torchtune's own repository: its `_parse.py` is in the base, unchanged,
    # and a change adds a recipe: the config is the config check's, quiet
    base = {**BASE, **TT_PACKAGE}
    assert handed_findings(tmp_path, capsys, {"train/run_sft.py": TT_RECIPE}, base) == []
