"""Issue #17: reach's listing of the head tree, kept in the signed cache.

``git ls-tree -r -l`` reads every blob's header (~90 ms for 5,900 files on
every hook run), so the listing is kept by commit id. It decides which files
the summary holds and where a registry's decorator is searched: an entry that
dropped a helper would hide the sink the helper reaches. Every attacker case
(an entry hand-edited to drop the helper, one copied from another cache, one
signed but of the wrong shape) must end exactly as a run without any cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from traingate import cache

from .conftest import Repo
from .test_hook_fast_path import entries, hook, remac, rewrite, stage

NAMESPACE = "reach-tree-v1"
HELPER = "utils/io.py"
FINDING = ("reach", "reach-dangerous-call", "train.py", 5)


@pytest.fixture
def reach_repo(repo: Repo) -> Repo:
    repo.write(
        HELPER,
        "import pickle\n\n\ndef load_state(path):\n"
        '    with open(path, "rb") as fh:\n        return pickle.load(fh)\n',
    )
    repo.write("train.py", "def main():\n    pass\n")
    repo.commit("base")
    stage(
        repo,
        "train.py",
        "from utils.io import load_state\n\n\ndef main(args):\n    return load_state(args.ckpt)\n",
    )
    return repo


def reach_findings(doc: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return sorted(
        (f["check"], f["rule_id"], f["path"], f["line"])
        for f in doc["findings"]
        if f["check"] == "reach"
    )


def drop_helper(value: Any) -> Any:
    return {**value, "py": {p: e for p, e in value["py"].items() if p != HELPER}}


def test_a_warm_run_reads_the_listing_from_the_cache_and_decides_the_same(
    reach_repo: Repo, tmp_path: Path
) -> None:
    cold = hook(reach_repo, None)
    first = hook(reach_repo, tmp_path / "c")
    (entry,) = entries(tmp_path / "c", NAMESPACE)
    assert HELPER in json.loads(json.loads(entry.read_text())["payload"])["py"]
    second = hook(reach_repo, tmp_path / "c")
    assert cold == first == second
    assert reach_findings(cold[1]) == [FINDING]


def test_a_listing_edited_to_drop_the_helper_still_finds_its_sink(
    reach_repo: Repo, tmp_path: Path
) -> None:
    hook(reach_repo, tmp_path / "c")
    (entry,) = entries(tmp_path / "c", NAMESPACE)
    rewrite(entry, drop_helper)  # the old MAC: it no longer verifies
    assert reach_findings(hook(reach_repo, tmp_path / "c")[1]) == [FINDING]


def test_a_listing_copied_from_another_cache_is_a_miss(reach_repo: Repo, tmp_path: Path) -> None:
    hook(reach_repo, tmp_path / "other")
    (theirs,) = entries(tmp_path / "other", NAMESPACE)
    rewrite(theirs, drop_helper, remac_with(tmp_path / "other", theirs, drop_helper))
    hook(reach_repo, tmp_path / "c")  # this cache's own secret
    (mine,) = entries(tmp_path / "c", NAMESPACE)
    shutil.copyfile(theirs, mine)
    assert reach_findings(hook(reach_repo, tmp_path / "c")[1]) == [FINDING]


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: {**v, "py": {p: [e[0], str(e[1])] for p, e in v["py"].items()}},
        lambda v: {**v, "py": {p: [e[0]] for p, e in v["py"].items()}},
        lambda v: {**v, "py": {p: ["HEAD", e[1]] for p, e in v["py"].items()}},
        lambda v: {"py": v["py"]},
        lambda v: [v],
    ],
    ids=["size-text", "no-size", "oid-not-hex", "no-other", "not-a-dict"],
)
def test_a_signed_listing_of_the_wrong_shape_is_a_miss(
    reach_repo: Repo, tmp_path: Path, damage: Any
) -> None:
    """Signed with the cache's own secret (as a bug of ours could write it):
    the shape is still checked, and a miss lists the tree again."""
    hook(reach_repo, tmp_path / "c")
    (entry,) = entries(tmp_path / "c", NAMESPACE)

    def worse(value: Any) -> Any:
        return damage(drop_helper(value))

    rewrite(entry, worse, remac_with(tmp_path / "c", entry, worse))
    assert reach_findings(hook(reach_repo, tmp_path / "c")[1]) == [FINDING]


def remac_with(cache_dir: Path, entry: Path, edit: Any) -> str:
    """The MAC ``rewrite(entry, edit)`` would need under the cache's secret."""
    secret = (cache_dir / "secret").read_bytes()
    payload = json.dumps(edit(json.loads(json.loads(entry.read_text())["payload"])), sort_keys=True)
    return remac(secret, NAMESPACE, entry.stem, payload)


def test_the_key_is_the_commit_and_the_installation(reach_repo: Repo, tmp_path: Path) -> None:
    hook(reach_repo, tmp_path / "c")
    (entry,) = entries(tmp_path / "c", NAMESPACE)
    head = reach_repo.git("rev-parse", "HEAD").strip()
    assert entry.stem == cache.key(NAMESPACE, cache.installation(), head)
