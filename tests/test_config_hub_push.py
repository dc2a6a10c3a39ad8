"""`config-model-upload` (session 28 red team): a config or launch line that
makes training upload the model to a hub repository the change chooses.
Real git and the real CLI; each attempt an insider would make, and the edits
to a pushing recipe that move nothing."""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_config_issue16 import change, crepo, on_main, rules_at, run

__all__ = ["crepo"]  # the fixture, re-used

RECIPE = """\
model_name_or_path: Qwen/Qwen2.5-7B
learning_rate: 2.0e-5
output_dir: data/qwen-sft
push_to_hub: true
hub_model_id: acme/qwen-sft
hub_private_repo: true
"""
RULE = "config-model-upload"


def _hits(crepo: Repo, capsys: pytest.CaptureFixture[str], path: str) -> set[int | None]:
    _, doc = run(crepo, capsys)
    return {ln for r, p, ln in rules_at(doc) if r == RULE and p == path}


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        # where it goes: another repository, another organisation, made public
        (("hub_model_id: acme/qwen-sft", "hub_model_id: ml-contrib-tools/qwen-sft"), 5),
        (("hub_private_repo: true", "hub_private_repo: false"), 6),
        (("hub_private_repo: true", "hub_private_repo: true\npush_to_hub_organization: x"), 7),
        # ordinary edits of a recipe that already pushes: nothing moves
        (("learning_rate: 2.0e-5", "learning_rate: 1.0e-5"), None),
        (("hub_private_repo: true", "hub_private_repo: true\nhub_strategy: every_save"), None),
        (("push_to_hub: true", "push_to_hub: false"), None),
    ],
)
def test_edits_of_a_pushing_recipe(
    crepo: Repo, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], line: int | None
) -> None:
    on_main(crepo, {"recipes/sft.yaml": RECIPE})
    change(crepo, {"recipes/sft.yaml": RECIPE.replace(*edit)})
    assert _hits(crepo, capsys, "recipes/sft.yaml") == ({line} if line else set())


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("output_dir: out\npush_to_hub: true\nhub_model_id: x/y\n", 2),
        ("output_dir: out\npush-to-hub: yes\n", 2),
        ('{"output_dir": "out", "pushToHub": "false"}\n', 1),  # a non-empty string is true
        ("training:\n  push_to_hub: ${oc.env:PUSH}\n", 2),  # chosen when the job runs
        ("output_dir: out\npush_to_hub: false\nhub_model_id: x/y\n", None),
        ("output_dir: out\nhub_strategy: every_save\n", None),
    ],
)
def test_added_recipes(
    crepo: Repo, capsys: pytest.CaptureFixture[str], text: str, line: int | None
) -> None:
    path = "recipes/sft.json" if text.startswith("{") else "recipes/sft.yaml"
    change(crepo, {path: text})
    assert _hits(crepo, capsys, path) == ({line} if line else set())


def test_launch_lines(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    script = (
        "#!/bin/bash\n"
        "accelerate launch sft.py --push_to_hub True --hub_model_id x/y\n"
        "python sft.py --push-to-hub\n"
        "python sft.py --push_to_hub=false\n"
        'echo "use --push_to_hub to upload"\n'
        "# python sft.py --push_to_hub\n"
    )
    change(crepo, {"scripts/run.sh": script})
    assert _hits(crepo, capsys, "scripts/run.sh") == {2, 3}
