"""`auto_map` pointing at another hub repository (session 27 red team): the key
was already in the base, the change edits one value to `repo--module.Class`,
and transformers then downloads and runs that repository's code. Real git and
the real CLI; the ordinary edits beside it stay quiet."""

from __future__ import annotations

import json

import pytest

from .conftest import Repo
from .test_config_issue16 import change, crepo, on_main, rules_at, run

__all__ = ["crepo"]  # the fixture, re-used

BASE = {
    "architectures": ["AcmeForCausalLM"],
    "auto_map": {
        "AutoConfig": "configuration_acme.AcmeConfig",
        "AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM",
    },
    "hidden_size": 2048,
}


def _doc(**auto_map: object) -> str:
    doc = json.loads(json.dumps(BASE))
    doc["auto_map"].update(auto_map)
    return json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize(
    ("name", "value", "flagged"),
    [
        ("config.json", "acme-labs/acme-1b--modeling_acme.AcmeForCausalLM", True),
        ("tokenizer_config.json", ["acme-labs/tok--tokenization_acme.Tok", None], True),
        ("processor_config.json", "x/y--processing_acme.Proc", True),
        # a local module renamed: the module is a file of this repository
        ("config.json", "modeling_acme_v2.AcmeForCausalLM", False),
    ],
)
def test_a_changed_value_that_fetches_another_repositorys_code(
    crepo: Repo, capsys: pytest.CaptureFixture[str], name: str, value: object, flagged: bool
) -> None:
    on_main(crepo, {f"models/acme/{name}": _doc()})
    change(crepo, {f"models/acme/{name}": _doc(AutoModelForCausalLM=value)})
    _, doc = run(crepo, capsys)
    hits = {r for r, p, _ in rules_at(doc) if p == f"models/acme/{name}"}
    assert ("config-auto-map" in hits) is flagged


def test_an_unchanged_remote_reference_is_not_reported_again(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = _doc(AutoModelForCausalLM="acme-labs/acme-1b--modeling_acme.AcmeForCausalLM")
    on_main(crepo, {"models/acme/config.json": remote})
    change(crepo, {"models/acme/config.json": remote.replace("2048", "4096")})
    _, doc = run(crepo, capsys)
    assert "config-auto-map" not in {r for r, _, _ in rules_at(doc)}


def test_custom_pipelines_added_to_a_model_config(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    on_main(crepo, {"models/acme/config.json": json.dumps({"hidden_size": 8}) + "\n"})
    pipelines = {"custom_pipelines": {"acme-chat": {"impl": "pipeline_acme.ChatPipeline"}}}
    change(crepo, {"models/acme/config.json": json.dumps({"hidden_size": 8, **pipelines}) + "\n"})
    _, doc = run(crepo, capsys)
    assert "config-auto-map" in {r for r, _, _ in rules_at(doc)}
