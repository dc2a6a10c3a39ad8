"""The diff engine against real git: statuses, modes, paths and line numbers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from traingate import change as changes
from traingate.change import Status
from traingate.errors import UsageError

from .conftest import Repo


def by_path(ch: changes.Change) -> dict[str, changes.ChangedFile]:
    return {f.path: f for f in ch.files}


def test_range_statuses_modes_and_lines(repo: Repo) -> None:
    repo.write("keep.py", "a\nb\nc\n")
    repo.write("gone.py", "x = 1\n")
    repo.write("moved.py", "".join(f"line {i}\n" for i in range(30)))
    repo.write("run.sh", "echo hi\n")
    repo.write("link_target.txt", "t\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("keep.py", "a\nB\nc\nd\n")
    (repo.path / "gone.py").unlink()
    (repo.path / "sub dir").mkdir()
    repo.git("mv", "moved.py", "sub dir/renamed ü.py")
    (repo.path / "run.sh").chmod(0o755)
    repo.write("new file.py", "print(1)\nprint(2)\n")
    os.symlink("link_target.txt", repo.path / "a_link")
    repo.commit("feature")
    ch = changes.revision_range(repo.path, "main", "feature")
    files = by_path(ch)
    assert set(files) == {
        "keep.py",
        "gone.py",
        "sub dir/renamed ü.py",
        "run.sh",
        "new file.py",
        "a_link",
    }
    keep = files["keep.py"]
    assert (keep.status, keep.added_lines, keep.removed_lines) == (Status.MODIFIED, (2, 4), (2,))
    gone = files["gone.py"]
    assert (gone.status, gone.old_path, gone.new_path, gone.new_oid) == (
        Status.DELETED,
        "gone.py",
        None,
        None,
    )
    ren = files["sub dir/renamed ü.py"]
    assert ren.status is Status.RENAMED and ren.paths == ("moved.py", "sub dir/renamed ü.py")
    assert ren.added_lines == () and ren.similarity == 100
    sh = files["run.sh"]
    assert (sh.old_mode, sh.new_mode, sh.mode_changed) == ("100644", "100755", True)
    new = files["new file.py"]
    assert (new.status, new.added_lines) == (Status.ADDED, (1, 2))
    assert files["a_link"].is_symlink
    assert ch.read(files["a_link"].new_oid) == b"link_target.txt"
    assert ch.merge_base == ch.base == repo.git("rev-parse", "main").strip()


def test_range_uses_merge_base(repo: Repo) -> None:
    repo.write("a.py", "a\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("b.py", "b\n")
    repo.commit("feature work")
    repo.checkout("main")
    repo.write("c.py", "moved on\n")
    main_tip = repo.commit("main moved on")
    ch = changes.revision_range(repo.path, "main", "feature")
    assert [f.path for f in ch.files] == ["b.py"]  # c.py is the base's, not the change's
    assert ch.base == main_tip and ch.merge_base != main_tip


def test_staged_and_worktree(repo: Repo) -> None:
    repo.write("a.py", "one\n")
    repo.commit("base")
    repo.write("a.py", "one\ntwo\n")
    repo.git("add", "a.py")
    repo.write("a.py", "one\ntwo\nthree\n")  # unstaged on top
    repo.write("untracked.py", "u\n")
    staged = changes.staged(repo.path)
    assert [(f.path, f.added_lines) for f in staged.files] == [("a.py", (2,))]
    assert staged.new_text(staged.files[0]) == "one\ntwo\n"
    wt = changes.worktree(repo.path)
    files = by_path(wt)
    assert files["a.py"].added_lines == (2, 3)
    assert wt.new_text(files["a.py"]) == "one\ntwo\nthree\n"
    assert files["untracked.py"].status is Status.ADDED and files["untracked.py"].added_lines == (
        1,
    )


def test_staged_initial_commit(repo: Repo) -> None:
    repo.write("a.py", "x\n")
    repo.git("add", "a.py")
    ch = changes.staged(repo.path)
    assert [(f.path, f.status) for f in ch.files] == [("a.py", Status.ADDED)]
    assert ch.base is None


def test_gitattributes_cannot_hide_text(repo: Repo) -> None:
    repo.write("train.py", "a = 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write(".gitattributes", "*.py binary\n")
    repo.write("train.py", "a = 1\nimport os; os.system('x')\n")
    repo.commit("hide")
    files = by_path(changes.revision_range(repo.path, "main", "feature"))
    assert files["train.py"].added_lines == (2,)


def test_submodule_and_weird_paths(repo: Repo, tmp_path: Path) -> None:
    repo.write("a.py", "x\n")
    base = repo.commit("base")
    repo.branch("feature")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{base},vendor/lib")
    weird = '-rf "quoted"\nnewline.py'
    repo.write(weird, "y\n")
    repo.git("add", "--", weird)
    repo.git("commit", "-q", "-m", "sub")
    files = by_path(changes.revision_range(repo.path, "main", "feature"))
    assert files["vendor/lib"].is_gitlink and files["vendor/lib"].new_oid == base
    assert files[weird].added_lines == (1,)


def test_inherited_git_env_cannot_redirect(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write("a.py", "x\n")
    repo.commit("base")
    repo.write("a.py", "x\ny\n")
    repo.git("add", "a.py")
    other = Repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other.path / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "bogus-index"))
    ch = changes.staged(repo.path)
    assert [f.path for f in ch.files] == ["a.py"]


def test_unknown_revision_is_a_usage_error(repo: Repo) -> None:
    repo.write("a.py", "x\n")
    repo.commit("base")
    with pytest.raises(UsageError, match="base revision 'nope' does not exist"):
        changes.revision_range(repo.path, "nope")


def test_scan_paths(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "tests").mkdir(parents=True)
    (tmp_path / "pkg" / "tests" / "t.py").write_text("a\nb\n")
    (tmp_path / "pkg" / "blob.bin").write_bytes(b"\0\1\2")
    ch = changes.scan_paths([tmp_path / "pkg"], root=tmp_path)
    files = by_path(ch)
    assert files["pkg/tests/t.py"].added_lines == (1, 2)
    assert files["pkg/blob.bin"].added_lines == ()


def test_a_scan_holds_a_whole_file_s_lines_as_a_range(tmp_path: Path) -> None:
    """Issue #17: a scan adds every line of every file; a tuple of n ints per
    file was 44 MB over a 1.66 M-line corpus. The range equals the tuple."""
    import sys

    n = 100_000
    (tmp_path / "big.py").write_text("x = 1\n" * n)
    (tmp_path / "empty.py").write_text("")
    files = {f.path: f for f in changes.scan_paths([tmp_path], tmp_path).files}
    big = files["big.py"].added_lines
    assert big == tuple(range(1, n + 1)) and tuple(range(1, n + 1)) == big
    assert hash(big) == hash(tuple(range(1, n + 1)))
    assert len(big) == n and n in big and n + 1 not in big and 0 not in big
    assert big[0] == 1 and big[-1] == n and big[1:3] == (2, 3)
    assert sys.getsizeof(big) < 200
    assert files["empty.py"].added_lines == () and not files["empty.py"].added_lines
