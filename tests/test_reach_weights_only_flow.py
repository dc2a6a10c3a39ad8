"""reach follows ``weights_only`` through a local kwargs dict and an ``if not`` guard (issue #16).

timm 1.0.31's ``_torch_load`` builds ``load_kwargs = dict(map_location=...,
weights_only=weights_only)``, may add ``load_kwargs['mmap'] = True``, calls
``torch.load(path, **load_kwargs)``, and in ``except TypeError:`` under ``if
not weights_only:`` calls ``torch.load(path, map_location=...)``. Every
caller leaving the True default loads with ``weights_only=True``: reach now
reads the dict's entry as the parameter (facts version 16, ``woflow.py``)
and the guarded load as conditional on it. The attacks below turn the
load off through the chain, through the dict (overwritten, updated, merged,
mutated by a helper, aliased, re-bound) or around the guard (the parameter
re-bound, an ``else``, a walrus, another name, a False default); each must
give ``reach-dangerous-call`` (weights_only off, ERROR) at the caller. Real
CLI on real repos; torch>=2.6 unless a case says otherwise, so only the
weights_only-off kind is in play.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules
from .test_reach_weights_only import NEW_TORCH

# utils/ckpt.py: timm 1.0.31's _torch_load, reduced
HELPER = """\
import os
import torch


def load_state(path, map_location="cpu", weights_only: bool = True, mmap: bool = False):
    load_kwargs = dict(map_location=map_location, weights_only=weights_only)
    if mmap:
        load_kwargs["mmap"] = True
    try:
        return torch.load(path, **load_kwargs)
    except TypeError:
        if mmap:
            return load_state(path, map_location=map_location, weights_only=weights_only)
        if not weights_only:
            return torch.load(path, map_location=map_location)
        raise
"""
BINDING = "    load_kwargs = dict(map_location=map_location, weights_only=weights_only)\n"
CALLER = "import os\nfrom utils.ckpt import load_state\n\n\ndef main(path, opts):\n{}"
NO_ENTRY = "    load_kwargs = dict(map_location=map_location)\n"
OFF = "torch.load with weights_only off one or more calls away"


def _after_binding(extra: str) -> str:
    return HELPER.replace(BINDING, BINDING + extra)


def _run(
    repo: Repo, capsys: pytest.CaptureFixture[str], base: dict[str, str], body: str
) -> tuple[int, list[dict[str, object]]]:
    _repo(repo, base)
    repo.write("train.py", CALLER.format(body))
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    return code, found


LOOKALIKES: dict[str, str] = {
    "timm 1.0.31's shape": HELPER,
    "a dict display": HELPER.replace(
        BINDING, '    load_kwargs = {"map_location": map_location, "weights_only": weights_only}\n'
    ),
    "other keys written and read": _after_binding(
        "    load_kwargs.update(mmap=mmap)\n"
        '    load_kwargs.update({"map_location": map_location})\n'
        '    load_kwargs.setdefault("map_location", "cpu")\n'
        '    if "mmap" in load_kwargs and not load_kwargs.get("mmap"):\n'
        '        del load_kwargs["mmap"]\n'
        '    load_kwargs.pop("mmap", None)\n'
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_true_default_through_the_dict_and_the_guard_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """No torch requirement: the guarded fallback without weights_only was a
    WARNING on every such chain; it runs only when the caller turned the
    parameter off, so nothing is reported for callers that keep it."""
    body = (
        "    a = load_state(path)\n"
        "    b = load_state(path, mmap=True, weights_only=True)\n"
        "    return a, b, load_state(path, 'cpu', True)\n"
    )
    _, found = _run(repo, capsys, {"utils/ckpt.py": LOOKALIKES[name]}, body)
    assert found == [], found


# name: (utils/ckpt.py, train.py's body); the caller's call is on line 6.
ATTACKS: dict[str, tuple[str, str]] = {
    # Through the chain: what the caller passes.
    "weights_only=False": (HELPER, "    return load_state(path, weights_only=False)\n"),
    "a variable": (
        HELPER,
        "    return load_state(path, weights_only=os.environ.get('T') == '1')\n",
    ),
    "**opts": (HELPER, "    return load_state(path, **opts)\n"),
    "False positionally": (HELPER, "    return load_state(path, 'cpu', False)\n"),
    "**{...} with False": (HELPER, "    return load_state(path, **{'weights_only': False})\n"),
    # The dict's entry turned off in the helper (the caller keeps the default).
    "entry overwritten": (
        _after_binding('    load_kwargs["weights_only"] = False\n'),
        "    return load_state(path)\n",
    ),
    "entry overwritten by a name": (
        _after_binding('    key = "weights_only"\n    load_kwargs[key] = False\n'),
        "    return load_state(path)\n",
    ),
    "update(weights_only=...)": (
        _after_binding("    load_kwargs.update(weights_only=False)\n"),
        "    return load_state(path)\n",
    ),
    "update({...})": (
        _after_binding('    load_kwargs.update({"weights_only": False})\n'),
        "    return load_state(path)\n",
    ),
    "update(other dict)": (
        _after_binding(
            '    load_kwargs.update(os.environ.get("KW") and {"weights_only": False})\n'
        ),
        "    return load_state(path)\n",
    ),
    "setdefault": (
        HELPER.replace(BINDING, NO_ENTRY + '    load_kwargs.setdefault("weights_only", False)\n'),
        "    return load_state(path)\n",
    ),
    "|= merge": (
        _after_binding('    load_kwargs |= {"weights_only": False}\n'),
        "    return load_state(path)\n",
    ),
    "a helper mutating it": (
        _after_binding("    _tweak(load_kwargs)\n")
        + '\n\ndef _tweak(kw):\n    kw["weights_only"] = False\n',
        "    return load_state(path)\n",
    ),
    "aliased, then written": (
        _after_binding('    opts = load_kwargs\n    opts["weights_only"] = False\n'),
        "    return load_state(path)\n",
    ),
    "bound with an alias": (
        HELPER.replace("    load_kwargs = dict(", "    load_kwargs = alias = dict(").replace(
            "    if mmap:\n        load_kwargs",
            '    alias["weights_only"] = False\n    if mmap:\n        load_kwargs',
        ),
        "    return load_state(path)\n",
    ),
    "re-bound": (
        _after_binding(
            '    if os.environ.get("FAST"):\n'
            "        load_kwargs = dict(map_location=map_location, weights_only=False)\n"
        ),
        "    return load_state(path)\n",
    ),
    "re-bound by a nested def": (
        _after_binding(
            "    def flip():\n        nonlocal load_kwargs\n"
            '        load_kwargs = {"weights_only": False}\n    flip()\n'
        ),
        "    return load_state(path)\n",
    ),
    "written through the frame": (
        _after_binding(
            '    sys._getframe().f_locals["load_kwargs"]["weights_only"] = False\n'
        ).replace("import os\n", "import os\nimport sys\n"),
        "    return load_state(path)\n",
    ),
    "written through locals()": (
        _after_binding('    locals()["load_kwargs"]["weights_only"] = False\n'),
        "    return load_state(path)\n",
    ),
    "**other merged into the display": (
        HELPER.replace(
            BINDING,
            '    extra = {"weights_only": False}\n'
            '    load_kwargs = {"map_location": map_location, "weights_only": weights_only, **extra}\n',
        ),
        "    return load_state(path)\n",
    ),
    "a shadowed dict()": (
        HELPER.replace(
            "import torch\n",
            "import torch\n\n\ndef dict(**kw):\n    return {**kw, 'weights_only': False}\n",
        ),
        "    return load_state(path)\n",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_weights_only_turned_off_through_the_dict_reaches_the_load(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    helper, body = ATTACKS[name]
    code, found = _run(repo, capsys, {**NEW_TORCH, "utils/ckpt.py": helper}, body)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 6)], found
    assert OFF in str(found[0]["message"]), found
    assert "utils.ckpt.load_state -> torch.load" in str(found[0]["message"])
    assert found[0]["severity"] == "ERROR"
    assert code == 1


# utils/ckpt.py: the unsafe load is only under the guard (what the guard
# alone decides), the other one passes a literal True.
GUARDED = """\
import os
import torch


def load_state(path, weights_only: bool = True):
    if not weights_only:
        return torch.load(path, weights_only=False)
    return torch.load(path, weights_only=True)
"""

GUARD_ATTACKS: dict[str, tuple[str, str]] = {
    "the caller turns it off": (GUARDED, "    return load_state(path, weights_only=False)\n"),
    "the caller turns it off with 0": (GUARDED, "    return load_state(path, 0)\n"),
    "re-bound before the guard": (
        GUARDED.replace(
            "    if not weights_only:",
            '    weights_only = os.environ.get("SAFE") == "1"\n    if not weights_only:',
        ),
        "    return load_state(path)\n",
    ),
    "the unsafe load in the else": (
        GUARDED.replace(
            "        return torch.load(path, weights_only=False)\n"
            "    return torch.load(path, weights_only=True)\n",
            "        return torch.load(path, weights_only=True)\n"
            "    else:\n        return torch.load(path, weights_only=False)\n",
        ),
        "    return load_state(path)\n",
    ),
    "not through a walrus": (
        GUARDED.replace("if not weights_only:", "if not (w := weights_only):"),
        "    return load_state(path)\n",
    ),
    "not through another name": (
        GUARDED.replace(
            "    if not weights_only:", "    w = weights_only\n    w = not w\n    if w:"
        ),
        "    return load_state(path)\n",
    ),
    "a False default": (
        GUARDED.replace("weights_only: bool = True", "weights_only: bool = False"),
        "    return load_state(path)\n",
    ),
    "not of a different parameter": (
        GUARDED.replace(
            "weights_only: bool = True):", "weights_only: bool = True, strict: bool = True):"
        ).replace("if not weights_only:", "if not strict:"),
        "    return load_state(path, strict=False)\n",
    ),
    "a decorated helper": (
        GUARDED.replace(
            "\n\ndef load_state",
            "\n\ndef unsafe(fn):\n    return lambda *a, **k: fn(*a, weights_only=False)\n\n\n"
            "@unsafe\ndef load_state",
        ),
        "    return load_state(path)\n",
    ),
    "a lambda made under the guard, called later": (
        GUARDED.replace(
            "    if not weights_only:\n        return torch.load(path, weights_only=False)\n",
            "    if not weights_only:\n"
            "        _LOADERS.append(lambda: torch.load(path, weights_only=False))\n"
            "    for f in _LOADERS:\n        return f()\n",
        ).replace("\n\ndef load_state", "\n_LOADERS = []\n\n\ndef load_state"),
        "    return load_state(path)\n",
    ),
    "a while loop is not an if": (
        GUARDED.replace(
            "    if not weights_only:\n        return",
            "    while not weights_only:\n        return",
        ),
        "    return load_state(path, weights_only=False)\n",
    ),
}


@pytest.mark.parametrize("name", list(GUARD_ATTACKS))
def test_guard_that_does_not_hold_still_reaches_the_load(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    helper, body = GUARD_ATTACKS[name]
    code, found = _run(repo, capsys, {**NEW_TORCH, "utils/ckpt.py": helper}, body)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 6)], found
    assert OFF in str(found[0]["message"]), found
    assert code == 1


def test_guarded_load_quiet_when_the_caller_keeps_the_default(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``GUARDED`` itself: its unsafe load runs only for a caller passing a
    falsy ``weights_only``; the callers here never do."""
    body = (
        "    return load_state(path), load_state(path, True), load_state(path, weights_only=True)\n"
    )
    _, found = _run(repo, capsys, {**NEW_TORCH, "utils/ckpt.py": GUARDED}, body)
    assert found == [], found


def test_old_default_kind_when_the_dict_cannot_be_vouched_for_and_no_torch_requirement(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``**kwargs`` parameter is as before: the default kind (a WARNING
    without a torch requirement), with the hint to pass it explicitly."""
    helper = (
        "import torch\n\n\ndef load_state(path, **kwargs):\n    return torch.load(path, **kwargs)\n"
    )
    _, found = _run(repo, capsys, {"utils/ckpt.py": helper}, "    return load_state(path)\n")
    assert _rules(found) == [("reach-dangerous-call", "train.py", 6)], found
    assert found[0]["severity"] == "WARNING"
    assert "torch.load without weights_only" in str(found[0]["message"])


EDITS: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    "entry overwritten": (
        '    load_kwargs["weights_only"] = False\n',
        [("deser-torch-load-unsafe", "utils/ckpt.py", 11)],
    ),
    "update(weights_only=False)": (
        "    load_kwargs.update(weights_only=False)\n",
        [("deser-torch-load-unsafe", "utils/ckpt.py", 11)],
    ),
    "an innocuous edit": ("    # cheap metadata reads\n", []),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_a_change_editing_the_helper_itself(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The callers are in the base tree, so no added call reaches the load:
    the edited helper's own load is judged by the rule pack (default policy,
    real semgrep), which reads the dict the same way."""
    edit, want = EDITS[name]
    repo.write("requirements.txt", "torch>=2.6\n")
    repo.write("utils/ckpt.py", HELPER)
    repo.write("train.py", CALLER.format("    return load_state(path)\n"))
    repo.commit("base")
    repo.branch("feature")
    repo.write("utils/ckpt.py", _after_binding(edit))
    repo.commit("feature", who="mallory")
    _, _, doc = _check(repo, capsys, "--policy", "builtin:default")
    assert doc["errors"] == []
    got = sorted((f["rule_id"], f["path"], f["line"]) for f in doc["findings"])
    assert got == want, got
