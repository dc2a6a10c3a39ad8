"""A full scan's temporary trees are removed beside reach, never left behind (issue #17)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from traingate import tmptrees


def _tree(tmp_path: Path) -> tempfile.TemporaryDirectory[str]:
    tree = tempfile.TemporaryDirectory(dir=tmp_path)
    (Path(tree.name) / "s0").write_text("x = 1\n")
    return tree


def test_a_tree_left_outside_a_full_scan_is_removed_at_once(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    tmptrees.leave(tree)
    assert not Path(tree.name).exists()


def test_a_tree_left_while_collecting_waits_for_the_scan_and_none_outlives_it(
    tmp_path: Path,
) -> None:
    kept, forgotten = _tree(tmp_path), _tree(tmp_path)
    with tmptrees.collect() as trees:
        tmptrees.leave(kept)
        tmptrees.leave(forgotten)
        assert Path(kept.name).exists() and Path(forgotten.name).exists()
        assert trees == [kept, forgotten]
        mine = [trees.pop(0)]
        tmptrees.remove(mine)
        assert mine == [] and not Path(kept.name).exists()
        assert Path(forgotten.name).exists()
    assert not Path(forgotten.name).exists()  # the scan ended without removing it
    later = _tree(tmp_path)
    tmptrees.leave(later)  # collecting has ended: at once again
    assert not Path(later.name).exists()


def test_removing_tries_every_tree_and_raises_the_first_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = _tree(tmp_path), _tree(tmp_path)

    def fail() -> None:
        raise OSError("device busy")

    monkeypatch.setattr(bad, "cleanup", fail)
    trees = [good, bad]  # removed from the end
    with pytest.raises(OSError, match="device busy"):
        tmptrees.remove(trees)
    assert trees == [] and not Path(good.name).exists()
