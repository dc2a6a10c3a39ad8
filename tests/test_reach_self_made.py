"""A module-level name made from itself ends (issue #16).

``W = W.float()`` then ``W.x()`` at module level (notebook and script style:
``model = model.to(device)`` in 5 of transformer-lens's published notebooks)
sent reach round ``_local -> _instance -> resolve -> _local`` without end:
a RecursionError, so every such file blocked as a crash of the check. Now
the depth goes on through that loop and ends at the alias-hop bound, and a
sink reached through the re-made instance is still found. Real CLI, real
repos.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

CLS = """\
import pickle


class M:
    def to(self, d):
        return self

    def run(self, b):
        return pickle.loads(b)
"""


@pytest.mark.parametrize(
    "new",
    [
        "W = W.float()\nW.x()\n",
        "model = model.to(1)\nmodel.run()\n",
        "a = b.c()\nb = a.d()\na.e()\n",
        "a = A()\na = a.b()\na = a.c()\na = a.d()\na.e()\na.f()\n",
    ],
)
def test_name_made_from_itself_is_no_crash(
    repo: Repo, capsys: pytest.CaptureFixture[str], new: str
) -> None:
    _repo(repo, {})
    repo.write("train.py", new)
    repo.commit("feature")
    _, findings, doc = _check(repo, capsys)
    assert doc["errors"] == [] and findings == []


def test_sink_through_a_remade_instance_is_still_found(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # the attacker's shape: the instance re-made from itself before the call
    _repo(repo, {"lib.py": CLS})
    repo.write("train.py", "from lib import M\nm = M()\nm = m.to(1)\nm.run(b'x')\n")
    repo.commit("feature")
    code, findings, _ = _check(repo, capsys)
    assert code == 1
    assert _rules(findings) == [("reach-dangerous-call", "train.py", 4)]
