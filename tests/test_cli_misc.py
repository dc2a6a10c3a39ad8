"""The demo, `rules test`, and the console script end to end (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from traingate.cli import main


def test_demo_blocks_the_sabotaged_change(tmp_path: Path) -> None:
    env = {**os.environ, "TRAINGATE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "traingate", "demo"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "$ traingate check --base main --head speedup" in proc.stdout
    assert (
        "[MISSING] training-code: needs 1 approval from ml-reviewers, security (0/1)" in proc.stdout
    )
    assert "train.py:15:17: error[trigger-rank-conditional-sabotage]" in proc.stdout
    assert "15 |                 p.grad.mul_(-1.0)" in proc.stdout  # the source line (issue #18)
    assert "BLOCKED: 2 approvals missing (exit 1)" in proc.stdout
    # One line per finding: the rules' paragraphs only with --explain.
    assert "Normal idioms" not in proc.stdout
    assert "The gate blocked the sabotaged change" in proc.stdout


RULE = """\
rules:
  - id: t-sys
    languages: [python]
    severity: ERROR
    message: sys
    metadata: {category: code-execution}
    pattern: os.system(...)
"""


def test_rules_test_passes_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "t-sys.yaml").write_text(RULE)
    (d / "t-sys.py").write_text("import os\n# ruleid: t-sys\nos.system(x)\n# ok: t-sys\nprint(1)\n")
    assert main(["rules", "test", "--no-builtin", str(d)]) == 0
    assert "test: 1 rules passed" in capsys.readouterr().out
    (d / "t-sys.py").write_text("import os\n# ruleid: t-sys\nprint(2)\n")
    assert main(["rules", "test", "--no-builtin", str(d)]) == 1
    out = capsys.readouterr().out
    assert '"expected_lines": [3], "reported_lines": []' in out
    (d / "t-sys.yaml").write_text("rules:\n  - id: broken\n    pattern: [\n")
    assert main(["rules", "test", "--no-builtin", str(d)]) == 1
    assert "validate: [" in capsys.readouterr().out
