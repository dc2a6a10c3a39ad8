"""A starred argument of known length fills exactly that many positions (issue #16).

timm's ``load_state_dict_from_hf(*pretrained_loc, cache_dir=...)`` reached
``torch.load(..., weights_only=weights_only)`` because any ``*x`` was taken to
fill every position from there on, ``weights_only`` among them. reach now
counts the elements of a tuple or list display (``*(p, "cpu")``), of a tuple
display bound once to a local, and of a local bound once to a call of a
repository function whose every ``return`` is a tuple display of n elements.
The attacks below get a ``False`` (or an unknown value) into the
``weights_only`` position through a starred argument in every way the new
rule must not believe; each must still give ``reach-dangerous-call`` at the
added call. The look-alikes fill fewer positions and stay quiet. Real CLI,
real repos, torch>=2.6 (only the weights_only-off kind is in play).
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules
from .test_reach_weights_only import CHAIN, HELPER, NEW_TORCH

# utils/loc.py: helpers returning tuples (or not) of fixed length
LOC = """\
import os


def pair(p):
    return p, "cpu"


def triple(p):
    return p, "cpu", False


def two_or_three(p):
    if os.environ.get("X"):
        return p, "cpu", False
    return p, "cpu"


def as_list(p):
    out = [p, "cpu"]
    out.append(False)
    return out


def listed(p):
    return [p, "cpu"]


def spread(p, rest):
    return (p, *rest)


def resolve(cfg):
    # timm 1.0.29's _resolve_pretrained_source: the location is a config
    # value, made a pair only when a filename is set
    loc = cfg.get("hf_hub_id")
    if cfg.get("hf_hub_filename"):
        loc = loc, cfg["hf_hub_filename"]
    return "hf-hub", loc


def gen(p):
    yield p
    return p, "cpu"

"""
IMPORTS = (
    "from utils.ckpt import load_state\n"
    "from utils.loc import as_list, gen, listed, pair, resolve, spread, triple, two_or_three\n"
)


def _train(body: str) -> str:
    return f"import os\n{IMPORTS}\n\ndef main(opts, args, path):\n{body}"


# name: new train.py body (the call is on line 7 unless said otherwise)
ATTACKS: dict[str, tuple[str, int]] = {
    "a literal tuple with False third": ("    return load_state(*('x.pt', 'cpu', False))\n", 7),
    "a literal list with False third": ("    return load_state(*['x.pt', 'cpu', False])\n", 7),
    "a local tuple with False third": (
        "    loc = ('x.pt', 'cpu', False)\n    return load_state(*loc)\n",
        8,
    ),
    "a helper returning three": ("    loc = triple(path)\n    return load_state(*loc)\n", 8),
    "three on one path, two on another": (
        "    loc = two_or_three(path)\n    return load_state(*loc)\n",
        8,
    ),
    "a returned list appended to": ("    loc = as_list(path)\n    return load_state(*loc)\n", 8),
    "a returned list (mutable)": (
        "    loc = listed(path)\n    loc.append(False)\n    return load_state(*loc)\n",
        9,
    ),
    "a local list appended to": (
        "    loc = [path, 'cpu']\n    loc.append(False)\n    return load_state(*loc)\n",
        9,
    ),
    "a tuple from a parameter": ("    return load_state(*args)\n", 7),
    "a parameter re-bound to a pair": (
        "    args = pair(path)\n    return load_state(*args)\n",
        8,
    ),
    "re-bound between assignment and call": (
        "    loc = pair(path)\n    loc = loc + (False,)\n    return load_state(*loc)\n",
        9,
    ),
    "grown in place": (
        "    loc = pair(path)\n    loc += (False,)\n    return load_state(*loc)\n",
        9,
    ),
    "re-bound in a loop": (
        "    loc = pair(path)\n    for loc in [('x', 'cpu', False)]:\n        pass\n"
        "    return load_state(*loc)\n",
        10,
    ),
    "paired with a helper's triple": (
        "    _, loc = 1, triple(path)\n    return load_state(*loc)\n",
        8,
    ),
    "a starred element inside": (
        "    loc = pair(path)\n    return load_state(*(*loc, False))\n",
        8,
    ),
    "a helper spreading its argument": (
        "    loc = spread(path, ['cpu', False])\n    return load_state(*loc)\n",
        8,
    ),
    # timm's own chain stays flagged, rightly: a model config whose hf_hub_id
    # is ("org/m", "pytorch_model.bin", False) and no filename passes False
    # as weights_only.
    "timm's shape: a config value unpacked from a pair": (
        "    src, loc = resolve(opts)\n    if isinstance(loc, (list, tuple)):\n"
        "        return load_state(*loc, map_location='cpu')\n",
        9,
    ),
    "a generator": ("    loc = gen(path)\n    return load_state(*loc)\n", 8),
    "a slice of a helper's triple": (
        "    loc = triple(path)\n    return load_state(*loc[:3])\n",
        8,
    ),
    "a pair then False positionally": (
        "    loc = pair(path)\n    return load_state(*loc, False)\n",
        8,
    ),
    "an unknown callable's result": (
        "    loc = opts.split(path)\n    return load_state(*loc)\n",
        8,
    ),
    "nonlocal re-binding in a nested def": (
        "    loc = pair(path)\n    def swap():\n        nonlocal loc\n"
        "        loc = ('x', 'cpu', False)\n    swap()\n    return load_state(*loc)\n",
        12,
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_starred_of_unknown_or_long_length_reaches_the_load(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    body, line = ATTACKS[name]
    _repo(repo, {**NEW_TORCH, "utils/ckpt.py": HELPER, "utils/loc.py": LOC})
    repo.write("train.py", _train(body))
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", line)], found
    assert CHAIN in found[0]["message"]
    assert code == 1


def test_helper_rebound_in_its_file_is_not_believed(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pair = triple`` after the def: the call gets the rebinding, not the def."""
    _repo(repo, {**NEW_TORCH, "utils/ckpt.py": HELPER, "utils/loc.py": LOC + "\npair = triple\n"})
    repo.write("train.py", _train("    loc = pair(path)\n    return load_state(*loc)\n"))
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 8)], found


def test_helper_decorated_is_not_believed(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    """A decorator may return anything in place of the tuple."""
    loc = (
        "def widen(f):\n    return lambda p: (p, 'cpu', False)\n\n\n@widen\n"
        + LOC.split("\n\n\n")[1]
    )
    _repo(repo, {**NEW_TORCH, "utils/ckpt.py": HELPER, "utils/loc.py": "import os\n\n\n" + loc})
    repo.write("train.py", _train("    loc = pair(path)\n    return load_state(*loc)\n"))
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 8)], found


LOOKALIKES: dict[str, str] = {
    "a literal pair": "    return load_state(*('x.pt', 'cpu'))\n",
    "a literal list pair": "    return load_state(*['x.pt', 'cpu'], weights_only=True)\n",
    "a literal with True third": "    return load_state(*('x.pt', 'cpu', True))\n",
    "a local pair": "    loc = (path, 'cpu')\n    return load_state(*loc)\n",
    "timm's shape: a helper's pair": (
        "    loc = pair(path)\n    return load_state(*loc, map_location='cpu')\n"
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_starred_of_known_short_length_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, {**NEW_TORCH, "utils/ckpt.py": HELPER, "utils/loc.py": LOC})
    repo.write("train.py", _train(LOOKALIKES[name]))
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert found == [], found
