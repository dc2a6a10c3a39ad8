"""`traingate rules test` says what it is doing on long runs (issue #18), on
stderr only, so its stdout stays the results."""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.cli import main

RULE = """\
rules:
  - id: no-eval
    languages: [python]
    severity: ERROR
    message: eval of dynamic text
    pattern: eval(...)
"""


def _pack(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "no-eval.yaml").write_text(RULE)
    (d / "no-eval.py").write_text("# ruleid: no-eval\neval(x)\n# ok: no-eval\nprint(x)\n")
    return d


@pytest.mark.parametrize(("flag", "shown"), [("1", True), ("0", False), ("", False)])
def test_progress_goes_to_stderr_when_asked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    shown: bool,
) -> None:
    monkeypatch.setenv("TRAINGATE_PROGRESS", flag)
    d = _pack(tmp_path)
    assert main(["rules", "test", "--no-builtin", str(d)]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"{d}: validate: ok", f"{d}: test: 1 rules passed"]
    progress = [ln for ln in out.err.splitlines() if "running semgrep on 1 rule files" in ln]
    assert bool(progress) is shown
