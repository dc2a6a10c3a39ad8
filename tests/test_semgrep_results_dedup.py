"""One finding per rule and span (session 25): two branches of one rule that
match the same code gave two findings, one with its message's metavariable
left unfilled. Real semgrep output, parsed as the check parses it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from traingate.checks.semgrep.results import parse
from traingate.checks.semgrep.targets import Target

RULE = """\
rules:
  - id: twice
    languages: [python]
    severity: ERROR
    message: seed reads the rank ($S)
    pattern-either:
      - pattern: sampler(seed=$S)
      - pattern: sampler(seed=rank)
"""


def test_two_branches_on_one_span_are_one_hit_with_the_filled_message(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULE, encoding="utf-8")
    (tmp_path / "a.py").write_text("sampler(seed=rank)\nsampler(seed=7)\n", encoding="utf-8")
    proc = subprocess.run(
        ["semgrep", "scan", "--metrics=off", "--disable-version-check", "--json", "--quiet"]
        + ["--config", "r.yaml", "a.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    data = json.loads(proc.stdout)
    target = Target("0" * 40, "a.py", ".py", "")
    hits = parse(data, {"a.py": target}, tmp_path)[target.key]
    assert [(h.rule, h.line) for h in hits] == [("twice", 1), ("twice", 2)]
    assert hits[0].message == "seed reads the rank (rank)"
