"""A project's own restricted unpickler, in the shapes real code writes (issue #16).

timm 1.0.28 fixed GHSA-pqww-w348-m542 with two restricted unpicklers: one whose
``find_class`` refuses every global, one with a class-attribute allow list. The
replay of that release blocked both as unsafe deserialization. Here both, copied
verbatim, must pass the semgrep rule (docs/rules/deser-pickle-load.md) and the
reach check (docs/checks/reach.md), while a look-alike whose ``find_class``
lets everything through must still block. Every run is the real CLI on a real
repo; the rule's own fixture holds the attacker's variants.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

NO_SEMGREP = POLICY + "checks:\n  semgrep: {enabled: false}\n"

# timm/data/readers/class_map.py and reader_image_in_tar.py at v1.0.28 (the
# classes verbatim, the rest cut down to how they are used).
CLASS_MAP = '''\
import os
import pickle


class _ClassMapUnpickler(pickle.Unpickler):
    """Restricted unpickler for `.pkl` class map files.

    A class map is a plain ``{class_name: index}`` dict of built-in types, which never
    triggers ``find_class``. Disallowing all globals therefore blocks arbitrary code
    execution from a crafted class map file (CWE-502) without affecting valid files.
    """

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f'Global {module}.{name} is not permitted in a class map file.')


def load_class_map(class_map_path):
    with open(class_map_path, 'rb') as f:
        class_to_idx = _ClassMapUnpickler(f).load()
    if not isinstance(class_to_idx, dict):
        raise ValueError(f'Invalid class map file, expected a dict ({class_map_path}).')
    return class_to_idx
'''

TAR_INFO = '''\
import os
import pickle
import tarfile


class _TarInfoUnpickler(pickle.Unpickler):
    """Restricted unpickler for the tarinfo cache file.

    The cache only ever contains plain containers (dict/list/str/int/None) plus
    ``tarfile.TarInfo`` instances. Built-in containers are handled by pickle opcodes
    and never reach ``find_class``, so allowing only ``tarfile.TarInfo`` is sufficient
    to load valid caches while blocking arbitrary code execution from a crafted cache
    file (CWE-502, GHSA-pqww-w348-m542).
    """
    _allowed_globals = {('tarfile', 'TarInfo')}

    def find_class(self, module: str, name: str):
        if (module, name) in self._allowed_globals:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'Global {module}.{name} is not permitted in a tar info cache file.')


def load_tarinfos(cache_path):
    if os.path.exists(cache_path):
        with open(cache_path, 'rb') as pf:
            return _TarInfoUnpickler(pf).load()
    return None
'''

LOADERS = """\
from readers.class_map import load_class_map
from readers.tar import _TarInfoUnpickler, load_tarinfos


def main(path):
    classes = load_class_map(path + '/classes.pkl')
    infos = load_tarinfos(path + '/infos.pickle')
    with open(path + '/more.pickle', 'rb') as f:
        more = _TarInfoUnpickler(f).load()
    return classes, infos, more
"""

# The same class whose find_class loads before it refuses: not restricted.
LOOSE_TAR_INFO = TAR_INFO.replace(
    "        if (module, name) in self._allowed_globals:\n"
    "            return super().find_class(module, name)\n"
    "        raise pickle.UnpicklingError(",
    "        found = super().find_class(module, name)\n"
    "        if (module, name) in self._allowed_globals:\n"
    "            return found\n"
    "        raise pickle.UnpicklingError(",
)


def _repo(repo: Repo, policy: str, readers: dict[str, str]) -> Repo:
    """timm's readers arrive in the change, with the data code calling them (not a
    sensitive path: only findings can block)."""
    repo.write(".traingate.yaml", policy)
    repo.write("loaders.py", "def main(path):\n    return path\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("readers/__init__.py", "")
    for name, text in readers.items():
        repo.write(f"readers/{name}.py", text)
    repo.write("loaders.py", LOADERS)
    repo.commit("feature")
    return repo


def _check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
        + ["--format", "json"]
    )
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, doc


def _found(doc: dict[str, Any], *rules: str) -> list[tuple[str, str, int | None]]:
    return sorted(
        (f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["rule_id"] in rules
    )


def test_timm_unpicklers_pass_the_rule_and_reach(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, POLICY, {"class_map": CLASS_MAP, "tar": TAR_INFO})
    code, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert _found(doc, "deser-pickle-load", "reach-dangerous-call") == []
    assert code == 0, doc["findings"]


def test_loading_before_refusing_still_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, POLICY, {"class_map": CLASS_MAP, "tar": LOOSE_TAR_INFO})
    code, doc = _check(repo, capsys)
    assert _found(doc, "deser-pickle-load") == [("deser-pickle-load", "readers/tar.py", 6)]
    assert code == 1


def test_reach_sees_both_timm_shapes_as_restricted(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """facts.py records whether find_class can raise; graph.py's _unpickler then
    treats the class as restricted, so calling it is not a dangerous chain."""
    _repo(repo, NO_SEMGREP, {"class_map": CLASS_MAP, "tar": TAR_INFO})
    _, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert [f for f in doc["findings"] if f["check"] == "reach"] == []


def test_reach_flags_a_find_class_that_never_raises(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control for the test above: without the refusal the class is a sink."""
    open_tar = TAR_INFO.replace(
        "        raise pickle.UnpicklingError(f'Global {module}.{name} is not permitted in a"
        " tar info cache file.')\n",
        "        return super().find_class(module, name)\n",
    )
    assert open_tar != TAR_INFO
    _repo(repo, NO_SEMGREP, {"class_map": CLASS_MAP, "tar": open_tar})
    _, doc = _check(repo, capsys)
    reach = sorted(
        (f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["check"] == "reach"
    )
    # the loader's own added line, the call to it and the direct use
    assert reach == [
        ("reach-dangerous-call", "loaders.py", 7),
        ("reach-dangerous-call", "loaders.py", 9),
        ("reach-dangerous-call", "readers/tar.py", 26),
    ]


REFUSES_SOME = (
    "    def find_class(self, module: str, name: str):\n"
    "        if module in ('os', 'subprocess'):\n"
    "            raise pickle.UnpicklingError(f'Global {module}.{name} is not permitted.')\n"
    "        return super().find_class(module, name)\n"
)
LOADS_THEN_CHECKS = (
    "    def find_class(self, module: str, name: str):\n"
    "        found = super().find_class(module, name)\n"
    "        if (module, name) not in self._allowed_globals:\n"
    "            raise pickle.UnpicklingError('no')\n"
    "        return found\n"
)


@pytest.mark.parametrize("find_class", [REFUSES_SOME, LOADS_THEN_CHECKS], ids=["some", "late"])
def test_reach_flags_a_find_class_that_raises_but_does_not_refuse(
    repo: Repo, capsys: pytest.CaptureFixture[str], find_class: str
) -> None:
    """The attacker's side of the refusal test: a raise somewhere in find_class
    is not a restriction (a deny list of two modules, or a check after the
    load). Any raise passed as restricted before, so calls through the class
    from other files were not chains."""
    start = TAR_INFO.index("    def find_class")
    end = TAR_INFO.index("\n\n", start)
    loose = TAR_INFO[:start] + find_class.rstrip("\n") + TAR_INFO[end:]
    assert loose != TAR_INFO
    _repo(repo, NO_SEMGREP, {"class_map": CLASS_MAP, "tar": loose})
    _, doc = _check(repo, capsys)
    assert doc["errors"] == []
    paths = {f["path"] for f in doc["findings"] if f["rule_id"] == "reach-dangerous-call"}
    assert "loaders.py" in paths, doc["findings"]
