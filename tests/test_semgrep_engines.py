"""osemgrep (the default front end) and pysemgrep find exactly the same things.

traingate runs `semgrep scan --experimental` because the OCaml CLI starts in
~0.2 s where the Python CLI spends ~6 s loading the pack (docs/performance.md).
Both hand the rules to the same semgrep-core matcher; this test holds them to
identical findings on every rule's own test file and every evasion and
injected-code fixture, with real semgrep and no cache in between.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main
from traingate.policy.load import data_dir

FIXTURES = Path(__file__).parent / "fixtures"


def _scan(engine: str, tmp: Path) -> dict[str, Any]:
    policy = tmp / f"{engine}.yaml"
    policy.write_text(
        f"version: 1\nextends: builtin:default\nchecks:\n  semgrep:\n    engine: {engine}\n"
    )
    out = tmp / f"{engine}.json"
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "scan",
                str(FIXTURES),
                str(data_dir() / "rules"),
                "--policy",
                str(policy),
                "--format",
                "json",
                "--output",
                str(out),
            ]
        )
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _semgrep_findings(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("rule_id", "path", "line", "column", "end_line", "blocking", "message")
    return sorted(tuple(f.get(k) for k in keys) for f in doc["findings"] if f["check"] == "semgrep")


def test_osemgrep_and_pysemgrep_agree_on_every_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAINGATE_CACHE_DIR", raising=False)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    ocaml, python = _scan("osemgrep", tmp_path), _scan("pysemgrep", tmp_path)
    assert ocaml["errors"] == [] and python["errors"] == []
    got = _semgrep_findings(ocaml)
    assert len(got) > 300  # every rule's test file has several hits
    assert got == _semgrep_findings(python)
