"""What the ``text`` and ``words`` atoms read inside a ``unit`` (issue #17,
facts._Gaps): each run of lines the unit holds, searched on its own as the
file holds it, never the file with the other units' lines blanked.

The blanked view let a regex's ``\\s*`` run over hundreds of blank lines from
one gap of the file into the next: once per unit, and into text the file never
puts side by side. ``x["y"]`` at class level, 50 methods, then a ``####``
banner sent sabotage-label-class-remap's ``(?:[\\s\\\\)]|#[^\\n]*)*==`` into
exponential backtracking (a 4,000-line modeling file did not finish in 10
minutes, session 15); its screen was unwrapped for it (51f5e7e).
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from traingate.checks.semgrep import screen
from traingate.checks.semgrep.facts import Facts

from .test_rules_pack import RULES_DIR

# The class-remap screen's `==` regex as session 15 had it (before `*+`).
_EQ_OLD = (
    r"""(?ai)(labels?|targets?|tgts?|gts?|\by|_y|true|lbls?|['"]\s*\])(?:[\s\\)]|#[^\n]*)*=="""
)


def _units(source: str) -> tuple[Facts, list[Facts]]:
    found = screen.facts(source)
    assert found is not None
    return found, list(found.units())


def _read(source: str, u: Facts) -> list[str]:
    """The pieces of ``source`` a unit's text atoms search, each on its own."""
    assert u.run is not None and u.gaps is not None
    return [source[a:b] for a, b in [*u.gaps.gaps, u.run]]


def _banner_file(methods: int, hashes: int) -> str:
    # a comment in m0 lets the file-level pre-test through; the name is in forward
    body = "    def m0(self):\n        return 0  # labels == 0\n"
    body += "".join(f"    def m{i}(self):\n        return {i}\n" for i in range(1, methods))
    return (
        'class Model:\n    _no_split = ["Block"]\n'
        + body
        + "\n\n"
        + "#" * hashes
        + "\n\n\ndef forward(labels):\n    return labels\n"
    )


def test_a_unit_reads_its_own_run_and_every_gap_as_the_file_holds_them() -> None:
    source = (
        "import torch\n\n"
        "@register('x')\n"
        "def f(y):\n    return y\n"
        "\n"
        "THRESHOLD = 3\n"
        "def g(y):\n    return y == THRESHOLD\n"
        "# tail\n"
    )
    found, (f, g) = _units(source)
    # f's run: the gap before it (its decorator), f, and the gap after it
    assert _read(source, f)[-1] == (
        "import torch\n\n@register('x')\ndef f(y):\n    return y\n\nTHRESHOLD = 3\n"
    )
    assert _read(source, g)[-1] == "\nTHRESHOLD = 3\ndef g(y):\n    return y == THRESHOLD\n# tail\n"
    for u in (f, g):  # every piece is a piece of the file: nothing is put side by side
        assert all(piece in source for piece in _read(source, u))
    # a regex across the decorator (a gap) and the def (the unit) holds for f only
    across = {"unit": {"all": [{"text": r"'x'\)\s*\ndef f"}, {"name": "THRESHOLD"}]}}
    assert screen.compile_screen(across)(found)
    assert not g.search(re.compile(r"'x'\)\s*\ndef f")) and f.search(re.compile(r"'x'\)\s*\ndef"))
    # what a gap holds, every unit reads; what another function holds, none
    assert f.contains("tail") and g.contains("register") and not g.contains("return y\n")
    assert not f.search(re.compile(r"== THRESHOLD"))


def test_text_the_file_does_not_hold_side_by_side_is_never_searched_together() -> None:
    # the blanked view joined `]` and the banner by blank lines only; in the
    # file 60 methods stand between them
    source = _banner_file(60, 40)
    _, units = _units(source)
    assert len(units) == 61
    banner = "#" * 40
    for u in units:
        pieces = _read(source, u)
        assert all(piece in source for piece in pieces)
        assert not any('"]' in p and banner in p for p in pieces)
    # each unit searches the gaps once for the file and its own run: linear in
    # the file, where the blanked view was the whole file once per unit
    (u0,) = units[:1]
    assert u0.gaps is not None
    runs = sum(u.run[1] - u.run[0] for u in units if u.run is not None)
    gaps = sum(b - a for a, b in u0.gaps.gaps)
    assert runs + gaps <= 3 * len(source) < len(units) * len(source) // 10


def test_a_regex_that_backtracks_over_blank_lines_stays_cheap_inside_a_unit() -> None:
    # Session 15's regex on a file it was exponential on through the blanked
    # view (26 hashes: ~5 CPU s per unit there, 3 units; here ~1 ms): the
    # assertion is the answer, the cost is what the test above pins.
    found = screen.facts(_banner_file(2, 26))
    assert found is not None
    spec = {"unit": {"all": [{"name": "labels"}, {"text": _EQ_OLD}]}}
    assert screen.compile_screen(spec)(found) is False


@pytest.mark.parametrize(
    "source",
    [
        # `x["y"]` before a banner: `(...|#[^\n]*)*` split the hashes 2^n ways
        'labels = batch["labels"]\n' + "#" * 48 + "\n",
        # `-` before a banner, the remainder regex
        "labels = y\n# -\n" + "#" * 48 + "\n",
    ],
)
def test_the_class_remap_screen_does_not_backtrack_on_a_banner(source: str) -> None:
    # A file-level hang (before the `*+`, 2^47 steps): a subprocess so that a
    # regression fails here instead of hanging the suite; the bound is ~1000x
    # what the screen takes (under 0.1 s with the interpreter's start).
    code = (
        "import sys\nfrom pathlib import Path\nfrom traingate.checks.semgrep import screen\n"
        f"s, _ = screen.read([Path({str(RULES_DIR / 'training-sabotage' / 'sabotage-label-class-remap.yaml')!r})])\n"
        "print(s.mask(sys.stdin.read()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=source, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


@pytest.mark.parametrize(
    "source",
    [
        # a modeling file: labels read in one method, `%` / `==` / `-` in others
        # (each `%` assigned: session 23's mod-assign atom read no other;
        # since session 24 the operators are nodes on a label operand, so a roll
        # stands in for the operator the file-level screen admits)
        "import torch\nclass Head(torch.nn.Module):\n"
        "    def loss(self, logits, labels):\n"
        "        return torch.nn.functional.cross_entropy(logits, labels)\n"
        "    def forward(self, x, step):\n"
        "        phase = step % self.log_every\n        if phase == 0:\n            print(step)\n"
        "        x = torch.roll(x, 1, 0)\n"
        "        return 1 - torch.sigmoid(x)\n",
        # a trainer: labels popped in compute_loss, an accumulation check elsewhere
        "class Trainer:\n"
        "    def compute_loss(self, model, inputs):\n"
        '        labels = inputs.pop("labels")\n        return model(**inputs, labels=labels)\n'
        "    def should_step(self, i):\n"
        "        left = (i + 1) % self.accum\n        i = torch.roll(i, 1)\n        return left == 0\n",
    ],
)
def test_benign_label_and_operator_in_different_methods_are_screened_out(source: str) -> None:
    screens, _ = screen.read(sorted(RULES_DIR.rglob("*.yaml")))
    i = screens.ids.index("sabotage-label-class-remap")
    assert screens.mask(source)[i] == "0"
    whole = screen.compile_screen(_file_level())
    found = screen.facts(source)
    assert found is not None and whole(found)  # the file-level screen let it in


def _file_level() -> Any:
    import yaml

    text = (RULES_DIR / "training-sabotage" / "sabotage-label-class-remap.yaml").read_text()
    (rule,) = yaml.safe_load(text)["rules"]
    return rule["metadata"]["traingate-screen"]["unit"]
