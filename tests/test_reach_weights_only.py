"""reach follows a ``weights_only`` parameter and its default (issue #16, noise on real history).

timm's ``_torch_load(path, ..., weights_only: bool = True)`` calls
``torch.load(..., weights_only=weights_only)``; a caller that omits the
argument gets True. Such a load is conditional: a call reaches it unsafely only
when it passes something other than a literal True. Each attack below passes
that (by keyword, positionally, through ``**opts``, through a variable, or
through its own parameter) and must give ``reach-dangerous-call`` at the added
call with the chain; the look-alikes (timm's own shape among them) stay quiet.
Every run is the real CLI on a real repo; the torch requirement is >=2.6, so
only the ``torch-load`` kind (weights_only off) is in play unless a case says so.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

HELPER = """\
import torch


def load_state(path, map_location="cpu", weights_only: bool = True):
    return torch.load(path, map_location=map_location, weights_only=weights_only)
"""
NEW_TORCH = {"requirements.txt": "torch>=2.6\n"}
CHAIN = "utils.ckpt.load_state -> torch.load (utils/ckpt.py:5): torch.load with weights_only off"
# utils/io.py: forwards its own True-default parameter (conditional in turn)
FORWARD = """\
from utils.ckpt import load_state


def restore(path, weights_only=True):
    return load_state(path, weights_only=weights_only)
"""


def _train(body: str, imports: str = "from utils.ckpt import load_state\n") -> str:
    return f"import os\n{imports}\n\ndef main(opts, args):\n{body}"


# name: (base files besides requirements, new train.py, reported lines, message part)
ATTACKS: dict[str, tuple[dict[str, str], str, list[int], str]] = {
    "weights_only=False": (
        {"utils/ckpt.py": HELPER},
        _train("    return load_state('x.pt', weights_only=False)\n"),
        [6],
        f"train.py:6 calls {CHAIN}",
    ),
    "a variable": (
        {"utils/ckpt.py": HELPER},
        _train(
            "    trusted = os.environ.get('TRUSTED') == '1'\n"
            "    return load_state('x.pt', weights_only=trusted)\n"
        ),
        [7],
        CHAIN,
    ),
    "**opts": (
        {"utils/ckpt.py": HELPER},
        _train("    return load_state('x.pt', **opts)\n"),
        [6],
        CHAIN,
    ),
    "*args": (
        {"utils/ckpt.py": HELPER},
        _train("    return load_state(*args)\n"),
        [6],
        CHAIN,
    ),
    "False positionally": (
        {"utils/ckpt.py": HELPER},
        _train("    return load_state('x.pt', 'cpu', False)\n"),
        [6],
        CHAIN,
    ),
    "own parameter defaulting to False": (
        {"utils/ckpt.py": HELPER},
        "from utils.ckpt import load_state\n\n\n"
        "def main(path, weights_only=False):\n"
        "    return load_state(path, weights_only=weights_only)\n",
        [5],
        CHAIN,
    ),
    "True-default forwarded, False two files away": (
        {"utils/ckpt.py": HELPER, "utils/io.py": FORWARD},
        _train(
            "    return restore('x.pt', weights_only=False)\n", "from utils.io import restore\n"
        ),
        [6],
        "train.py:6 calls utils.io.restore -> utils.ckpt.load_state -> torch.load "
        "(utils/ckpt.py:5): torch.load with weights_only off",
    ),
    "True-default forwarded, False positionally": (
        {"utils/ckpt.py": HELPER, "utils/io.py": FORWARD},
        _train("    return restore('x.pt', False)\n", "from utils.io import restore\n"),
        [6],
        "utils.io.restore -> utils.ckpt.load_state -> torch.load",
    ),
    "no default": (
        {"utils/ckpt.py": HELPER.replace("weights_only: bool = True", "*, weights_only")},
        _train("    return load_state('x.pt', weights_only=True)\n"),
        [6],
        CHAIN,
    ),
    # The parameter no longer holds what the caller passed: as before.
    "parameter rebound in the helper": (
        {
            "utils/ckpt.py": HELPER.replace(
                "    return torch",
                "    weights_only = os.environ.get('WO') == '1'\n    return torch",
            ).replace("import torch\n", "import os\nimport torch\n")
        },
        _train("    return load_state('x.pt')\n"),
        [6],
        "utils.ckpt.load_state -> torch.load (utils/ckpt.py:7)",
    ),
    # A decorator of the repository's own may call the helper with False.
    "decorated helper": (
        {
            "utils/ckpt.py": HELPER.replace(
                "\n\ndef load_state",
                "\n\ndef unsafe(fn):\n    return lambda *a, **k: fn(*a, weights_only=False)\n\n\n"
                "@unsafe\ndef load_state",
            )
        },
        _train("    return load_state('x.pt')\n"),
        [6],
        "utils.ckpt.load_state -> torch.load",
    ),
    # What a caller's omitted argument becomes is rewritten in the file.
    "helper rebound at module level": (
        {
            "utils/ckpt.py": "import functools\n"
            + HELPER
            + "\n\nload_state = functools.partial(load_state, weights_only=False)\n"
        },
        _train("    return load_state('x.pt')\n"),
        [6],
        "utils.ckpt.load_state -> torch.load (utils/ckpt.py:6)",
    ),
    "helper's __defaults__ written": (
        {"utils/ckpt.py": HELPER + "\n\nload_state.__defaults__ = ('cpu', False)\n"},
        _train("    return load_state('x.pt')\n"),
        [6],
        CHAIN,
    ),
    "forwarder's __defaults__ written": (
        {
            "utils/ckpt.py": HELPER,
            "utils/io.py": FORWARD + "\n\nrestore.__defaults__ = (False,)\n",
        },
        _train("    return restore('x.pt')\n", "from utils.io import restore\n"),
        [6],
        "utils.io.restore -> utils.ckpt.load_state -> torch.load",
    ),
    "own True-default parameter, its __defaults__ written": (
        {"utils/ckpt.py": HELPER},
        "from utils.ckpt import load_state\n\n\n"
        "def main(path, weights_only=True):\n"
        "    return load_state(path, weights_only=weights_only)\n\n\n"
        "main.__defaults__ = (False,)\n",
        [5],
        CHAIN,
    ),
    "method called bound, False positionally": (
        {
            "utils/ckpt.py": "import torch\n\n\nclass Ckpt:\n"
            "    def load(self, path, weights_only=True):\n"
            "        return torch.load(path, weights_only=weights_only)\n"
        },
        _train("    return Ckpt().load('x.pt', False)\n", "from utils.ckpt import Ckpt\n"),
        [6],
        "utils.ckpt.Ckpt.load -> torch.load (utils/ckpt.py:6)",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_non_true_weights_only_reaches_the_load(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, lines, part = ATTACKS[name]
    _repo(repo, {**NEW_TORCH, **base})
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", n) for n in lines], found
    assert all(part in f["message"] for f in found), (part, found)
    assert all(
        "torch.load with weights_only off one or more calls away" in f["message"] for f in found
    )
    assert all(f["severity"] == "ERROR" for f in found)
    assert code == 1


def test_forwarding_caller_is_found_where_false_is_passed(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The forwarder is conditional; an added caller passing False, two files
    from the load, is reported at its own line (not at the forwarder)."""
    _repo(repo, {**NEW_TORCH, "utils/ckpt.py": HELPER, "utils/io.py": FORWARD})
    repo.write(
        "eval/run.py",
        "from utils.io import restore\n\n\ndef run():\n"
        "    a = restore('a.pt')\n    b = restore('b.pt', weights_only=False)\n",
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "eval/run.py", 6)]
    assert (
        "eval/run.py:6 calls utils.io.restore -> utils.ckpt.load_state -> torch.load "
        "(utils/ckpt.py:5)" in found[0]["message"]
    )


# timm v1.0.30's shape: build_model_with_cfg -> load_pretrained ->
# load_state_dict(path) (omits weights_only) -> _torch_load -> torch.load.
TIMM = {
    "timm/__init__.py": "",
    "timm/models/__init__.py": "",
    "timm/models/_helpers.py": """\
import torch


def _torch_load(checkpoint_path, map_location='cpu', weights_only: bool = True):
    try:
        return torch.load(checkpoint_path, map_location=map_location, weights_only=weights_only)
    except TypeError:
        if not weights_only:
            return torch.load(checkpoint_path, map_location=map_location)
        raise


def load_state_dict(checkpoint_path, use_ema=True, device='cpu', weights_only: bool = True):
    checkpoint = _torch_load(checkpoint_path, map_location=device, weights_only=weights_only)
    return checkpoint.get('state_dict', checkpoint)
""",
    "timm/models/_builder.py": """\
from timm.models._helpers import load_state_dict


def load_pretrained(model, pretrained_loc, strict=True):
    state_dict = load_state_dict(pretrained_loc)
    model.load_state_dict(state_dict, strict=strict)


def build_model_with_cfg(model_cls, variant, pretrained, **kwargs):
    model = model_cls(**kwargs)
    if pretrained:
        load_pretrained(model, variant)
    return model
""",
}
TIMM_CALLER = (
    "from timm.models._builder import build_model_with_cfg\n\n\n"
    "def main(cls):\n    return build_model_with_cfg(cls, 'vit', pretrained=True)\n"
)

LOOKALIKES: dict[str, tuple[dict[str, str], str]] = {
    "timm's shape (the caller omits weights_only)": (TIMM, TIMM_CALLER),
    "literal True by keyword and positionally": (
        {"utils/ckpt.py": HELPER},
        _train(
            "    a = load_state('x.pt', weights_only=True)\n"
            "    return a, load_state('y.pt', 'cpu', True), load_state('z.pt')\n"
        ),
    ),
    "True-default forwarded, no one passes False": (
        {"utils/ckpt.py": HELPER, "utils/io.py": FORWARD},
        _train(
            "    return restore('x.pt'), restore('y.pt', weights_only=True)\n",
            "from utils.io import restore\n",
        ),
    ),
    "own True-default parameter forwarded": (
        {"utils/ckpt.py": HELPER},
        "from utils.ckpt import load_state\n\n\n"
        "def main(path, weights_only=True):\n"
        "    return load_state(path, weights_only=weights_only)\n",
    ),
    "a staticmethod with a True default, called as it is": (
        {
            "utils/ckpt.py": "import torch\n\n\nclass Ckpt:\n    @staticmethod\n"
            "    def load(path, weights_only=True):\n"
            "        return torch.load(path, weights_only=weights_only)\n"
        },
        _train("    return Ckpt.load('x.pt')\n", "from utils.ckpt import Ckpt\n"),
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_true_default_kept_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train = LOOKALIKES[name]
    _repo(repo, {**NEW_TORCH, **base})
    repo.write("train.py", train)
    repo.commit("feature")
    _, found, doc = _check(repo, capsys)
    assert found == [], found
    assert doc["errors"] == []


def test_timm_fallback_under_if_not_weights_only_is_conditional(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """timm's ``except TypeError: if not weights_only: torch.load(path)`` has
    no weights_only, but runs only when the caller turned the True-default
    parameter off (facts version 16): with no torch requirement it was a
    WARNING on every caller that keeps the default; now nothing, and the
    caller passing False gets the weights_only-off kind (tests of the guard's
    limits: test_reach_weights_only_flow.py)."""
    _repo(repo, TIMM)
    repo.write("train.py", TIMM_CALLER)
    repo.write(
        "eval.py",
        "from timm.models._helpers import load_state_dict\n\n\n"
        "def main(path):\n    return load_state_dict(path, weights_only=False)\n",
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "eval.py", 5)], found
    assert found[0]["severity"] == "ERROR"
    assert found[0]["message"].startswith(
        "eval.py:5 calls timm.models._helpers.load_state_dict -> "
        "timm.models._helpers._torch_load -> torch.load (timm/models/_helpers.py:6): "
        "torch.load with weights_only off one or more calls away"
    )
