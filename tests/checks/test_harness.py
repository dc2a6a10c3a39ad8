"""The harness itself: it reads markers as documented and fails loudly on a
wrong one (a harness that passes everything would make every fixture moot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import harness


@pytest.fixture
def fixtures_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "fixtures"
    (root / "suppression").mkdir(parents=True)
    monkeypatch.setattr(harness, "FIXTURES", root)
    return root / "suppression"


def test_markers_sidecars_and_pass(fixtures_dir: Path) -> None:
    (fixtures_dir / "a.py").write_text("x = 1  # BLOCK: r-one, r-two\ny = 2  // WARN: r-three\n")
    (fixtures_dir / "b.sh").write_text("# PASS\necho hi\n")
    (fixtures_dir / "c.bin.gen.py").write_text("def generate():\n    return b'\\0'\n")
    (fixtures_dir / "c.bin.expect").write_text("# why\nfile: BLOCK: r-four\n3: INFO: r-five\n")
    (fixtures_dir / ".gitattributes.fixture").write_text("*.bin -diff\n")
    (fixtures_dir / ".gitattributes.fixture.expect").write_text("1: BLOCK: r-six\n")
    got = {fx.path: harness.expected(fx) for fx in harness.fixtures("suppression")}
    E = harness.Expected
    assert got == {
        "a.py": (
            {
                E("a.py", 1, "r-one", "ERROR"),
                E("a.py", 1, "r-two", "ERROR"),
                E("a.py", 2, "r-three", "WARNING"),
            },
            False,
        ),
        "b.sh": (set(), True),
        "c.bin": ({E("c.bin", None, "r-four", "ERROR"), E("c.bin", 3, "r-five", "INFO")}, False),
        ".gitattributes": ({E(".gitattributes", 1, "r-six", "ERROR")}, False),
    }


def test_orphan_sidecar_and_pass_with_markers_are_errors(fixtures_dir: Path) -> None:
    (fixtures_dir / "gone.py.expect").write_text("1: BLOCK: r\n")
    with pytest.raises(AssertionError, match="orphan sidecar"):
        harness.fixtures("suppression")
    (fixtures_dir / "gone.py.expect").unlink()
    (fixtures_dir / "x.py").write_text("# PASS\nv = 1  # BLOCK: r\n")
    with pytest.raises(AssertionError, match="PASS fixture carries markers"):
        harness.expected(harness.fixtures("suppression")[0])


def test_a_wrong_level_a_quiet_pass_and_a_silent_file_all_fail(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    # The real gate fires suppress-nosemgrep at ERROR: a WARN marker is wrong,
    # and the PASS file below fires too. Both must be named in the failure.
    (fixtures_dir / "a.py").write_text("v = 1  # nosemgrep  # WARN: suppress-nosemgrep\n")
    (fixtures_dir / "b.py").write_text("# PASS\nw = 2  # nosem\n")
    with pytest.raises(AssertionError) as err:
        harness.run("suppression", tmp_path)
    text = str(err.value)
    assert "missing:    a.py:1: WARNING suppress-nosemgrep" in text
    assert "unexpected: a.py:1: ERROR suppress-nosemgrep" in text
    assert "unexpected: b.py:2: ERROR suppress-nosemgrep" in text
    (fixtures_dir / "c.py").write_text("z = 3\n")
    with pytest.raises(AssertionError, match="neither markers nor PASS"):
        harness.run("suppression", tmp_path / "again")
