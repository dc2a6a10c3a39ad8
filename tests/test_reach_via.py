"""Exemptions keyed by the reach chain: ``via:`` (issue #16, docs/policy.md).

A security team that reviewed one helper says "a call that reaches a sink
only through this helper is fine", and nothing else. Each test is an insider
trying to ride on such an exemption: a new call in the same file to another
helper, a route around the reviewed helper (beside it, or longer than the
chain the message prints), an exemption added by the change itself, an
expired one. Real repos, the real CLI, as tests/test_reach.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import Repo
from .test_reach import NO_SEMGREP

REVIEWED = "utils.safeio.reviewed_load"

HELPERS = {
    "utils/__init__.py": "",
    # The helper the security team reviewed (say: it checks a signature first).
    "utils/safeio.py": "import pickle\n\n\n"
    "def reviewed_load(path):\n    with open(path, 'rb') as fh:\n"
    "        return pickle.loads(fh.read())\n",
    # Reaches the sink only through it.
    "utils/ckpt.py": "from .safeio import reviewed_load\n\n\n"
    "def restore(run):\n    return reviewed_load(f'/runs/{run}/state.bin')\n",
    # Another helper, never reviewed.
    "utils/net.py": "import pickle\n\n\n"
    "def recv_obj(sock):\n    return pickle.loads(sock.recv(1 << 20))\n",
    # The reviewed helper and a sink of its own, side by side.
    "utils/mixed.py": "import pickle\n\nfrom .safeio import reviewed_load\n\n\n"
    "def both(path, sock):\n    x = reviewed_load(path)\n"
    "    return x, pickle.loads(sock.recv(10))\n",
    # The reviewed helper on the shortest chain, the socket one hop further.
    "utils/around.py": "from .net import recv_obj\nfrom .safeio import reviewed_load\n\n\n"
    "def longer(path, sock):\n    reviewed_load(path)\n    return _inner(sock)\n\n\n"
    "def _inner(sock):\n    return recv_obj(sock)\n",
    # timm's shape: a torch.load whose weights_only is a True-default
    # parameter, and a wrapper forwarding its own (conditional, graph.py).
    "utils/wload.py": "import torch\n\n\n"
    "def _torch_load(path, weights_only=True):\n"
    "    return torch.load(path, weights_only=weights_only)\n\n\n"
    "def load_state_dict(path, weights_only=True):\n"
    "    return _torch_load(path, weights_only=weights_only)\n",
    # torchtune's shape: a lookup returned, called by the caller (its label
    # names the helper: `utils.hooks.locate -> builtins.dynattr`).
    "utils/hooks.py": "import importlib\n\n\ndef locate(spec):\n"
    "    module_name, _, attr = spec.partition(':')\n"
    "    return getattr(importlib.import_module(module_name), attr)\n",
    "utils/setup.py": "import importlib\n\nfrom .hooks import locate\n\n\n"
    "def build(cfg, state):\n    return locate(cfg.hook)(state)\n\n\n"
    "def own(cfg, state):\n    locate(cfg.hook)(state)\n"
    "    return getattr(importlib.import_module(cfg.mod), cfg.name)(state)\n",
    # The reviewed helper for pickle, a shell command beside it: two kinds.
    "utils/multi.py": "import os\n\nfrom .safeio import reviewed_load\n\n\n"
    "def sync(path, cmd):\n    os.system(cmd)\n    return reviewed_load(path)\n",
}


def exemption(
    via: str = f"[{REVIEWED}]", paths: str = '["train.py"]', expires: str = "2099-01-01"
) -> str:
    return (
        "exemptions:\n"
        "  - check: reach\n"
        "    rule: reach-dangerous-call\n"
        f"    paths: {paths}\n"
        f"    via: {via}\n"
        "    reason: reviewed_load checks the signature first (SEC-7)\n"
        f"    expires: {expires}\n"
        "    approved_by: sam\n"
    )


def _change(
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    calls: list[str],
    *,
    base_policy: str,
    head_policy: str | None = None,
    head_files: dict[str, str] | None = None,
) -> tuple[int, str]:
    """A base tree with the helpers; the change (by mallory) adds ``calls`` to train.py."""
    repo.write(".traingate.yaml", base_policy)
    repo.write("train.py", "import socket\n\n\ndef main(sock):\n    pass\n")
    for path, text in HELPERS.items():
        repo.write(path, text)
    repo.commit("base")
    repo.branch("feature")
    imports = (
        "from utils.around import longer\nfrom utils.ckpt import restore\n"
        "from utils.mixed import both\nfrom utils.multi import sync\n"
        "from utils.net import recv_obj\nfrom utils.safeio import reviewed_load\n"
        "from utils.wload import load_state_dict\n"
        "from utils.hooks import locate\nfrom utils.setup import build, own\n"
    )
    body = "".join(f"    {c}\n" for c in calls)
    repo.write("train.py", f"import socket\n\n{imports}\n\ndef main(sock):\n{body}")
    if head_policy is not None:
        repo.write(".traingate.yaml", head_policy)
    for path, text in (head_files or {}).items():
        repo.write(path, text)
    repo.commit("feature", who="mallory")
    capsys.readouterr()
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
        + ["--format", "json"]
    )
    return code, capsys.readouterr().out


def _reach(out: str) -> tuple[list[tuple[int, bool, bool, str]], dict[str, Any]]:
    """(line, exempted, blocking, message) of each reach finding, and the report."""
    doc = json.loads(out)
    assert doc["errors"] == []
    found = [
        (f["line"], f["exempted"], f["blocking"], f["message"])
        for f in doc["findings"]
        if f["check"] == "reach"
    ]
    return sorted(found), doc


# train.py's first added call is on line 15 (the nine imports come first).
FIRST = 15


def test_a_call_reaching_the_sink_only_through_the_reviewed_helper_is_exempt(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out = _change(
        repo,
        capsys,
        ["restore('last')", "reviewed_load('x')"],
        base_policy=NO_SEMGREP + exemption(),
    )
    found, doc = _reach(out)
    assert [(line, exempt, blocks) for line, exempt, blocks, _m in found] == [
        (FIRST, True, False),
        (FIRST + 1, True, False),
    ]
    assert "utils.ckpt.restore -> utils.safeio.reviewed_load -> pickle.loads" in found[0][3]
    (use,) = doc["exemptions"]
    assert (use["via"], use["matched"], use["expired"]) == ([REVIEWED], 2, False)


def test_a_conditional_load_forwarded_to_the_reviewed_helper_is_exempt(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """timm's pretrained-weights chain: the wrapper forwards its own True-default
    ``weights_only`` to the reviewed helper; the only load is inside it. Two
    names in one list: each route passes one of them."""
    _code, out = _change(
        repo,
        capsys,
        ["load_state_dict('x', weights_only=False)", "restore('last')"],
        base_policy=NO_SEMGREP + exemption(via=f"[utils.wload._torch_load, {REVIEWED}]"),
    )
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [(FIRST, True), (FIRST + 1, True)]
    assert "utils.wload.load_state_dict -> utils.wload._torch_load -> torch.load" in found[0][3]
    assert doc["exemptions"][0]["matched"] == 2


def test_a_returned_lookup_through_the_reviewed_resolver_is_exempt(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """torchtune's `_component_` resolver: the sink is the call of what the
    reviewed function returns, in the caller (here, or in a helper); a helper
    with a lookup of its own beside it still blocks, though reach keeps one
    sink per kind for it and that one is the reviewed lookup."""
    _code, out = _change(
        repo,
        capsys,
        ["locate(sock.spec)(sock)", "build(sock, 1)", "own(sock, 1)"],
        base_policy=NO_SEMGREP + exemption(via="[utils.hooks.locate]"),
    )
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [
        (FIRST, True),
        (FIRST + 1, True),
        (FIRST + 2, False),
    ]
    assert "utils.hooks.locate -> builtins.dynattr" in found[0][3]
    assert "utils.setup.own -> utils.hooks.locate -> builtins.dynattr" in found[2][3]
    assert doc["exemptions"][0]["matched"] == 2


def test_a_new_call_to_another_helper_in_the_same_file_still_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a `paths:` exemption of train.py would have hidden."""
    _code, out = _change(
        repo,
        capsys,
        ["restore('last')", "recv_obj(sock)"],
        base_policy=NO_SEMGREP + exemption(),
    )
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [(FIRST, True), (FIRST + 1, False)]
    assert "utils.net.recv_obj -> pickle.loads" in found[1][3]
    assert doc["exemptions"][0]["matched"] == 1


@pytest.mark.parametrize(
    ("call", "printed"),
    [
        # the helper calls the reviewed one and a sink of its own
        ("both('x', sock)", "utils.mixed.both -> pickle.loads"),
        # the printed (shortest) chain passes the reviewed helper; a longer
        # route to the socket does not: every route must
        ("longer('x', sock)", "utils.around.longer -> utils.safeio.reviewed_load -> pickle.loads"),
        # two kinds: the printed one (pickle) through the reviewed helper, the
        # other (a shell command) not: each chain must pass it
        (
            "sync('x', 'id')",
            "reviewed_load -> pickle.loads (utils/safeio.py:6): unpickling one "
            "or more calls away; it also reaches a shell command",
        ),
    ],
)
def test_a_route_around_the_reviewed_helper_still_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str], call: str, printed: str
) -> None:
    _code, out = _change(repo, capsys, [call], base_policy=NO_SEMGREP + exemption())
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [(FIRST, False)]
    assert printed in found[0][3]
    assert doc["exemptions"][0]["matched"] == 0


TWIN = "from utils.net import recv_obj\n\n\ndef reviewed_load(sock):\n    return recv_obj(sock)\n"


@pytest.mark.parametrize("twin", ["src/utils/safeio.py", "utils/safeio/__init__.py"])
def test_a_twin_of_the_reviewed_helper_added_by_the_change_still_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str], twin: str
) -> None:
    """Names are module paths: `src/utils/safeio.py` is `utils.safeio` too. The
    change adds such a twin whose `reviewed_load` hands a socket to the
    unreviewed helper: its own call is judged like any added call, so the
    change blocks whichever file the exempted call in train.py resolves to."""
    _code, out = _change(
        repo,
        capsys,
        ["reviewed_load(sock)"],
        base_policy=NO_SEMGREP + exemption(paths='["**"]'),
        head_files={twin: TWIN},
    )
    doc = json.loads(out)
    found = sorted(
        (f["path"], f["line"], f["exempted"]) for f in doc["findings"] if f["check"] == "reach"
    )
    assert (twin, 5, False) in found, found
    assert any(f["blocking"] and f["path"] == twin for f in doc["findings"])


def test_paths_still_narrows_a_via_exemption(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out = _change(
        repo, capsys, ["restore('last')"], base_policy=NO_SEMGREP + exemption(paths='["tools/**"]')
    )
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [(FIRST, False)]
    assert doc["exemptions"][0]["matched"] == 0


def test_a_via_exemption_the_change_adds_is_not_applied(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The change is judged by the base's policy (as
    test_check.test_policy_comes_from_the_base_not_the_change)."""
    _code, out = _change(
        repo,
        capsys,
        ["restore('last')"],
        base_policy=NO_SEMGREP,
        head_policy=NO_SEMGREP + exemption(),
    )
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [(FIRST, False)]
    assert doc["exemptions"] == []


def test_an_expired_via_exemption_is_reported_and_not_applied(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out = _change(
        repo, capsys, ["restore('last')"], base_policy=NO_SEMGREP + exemption(expires="2001-01-01")
    )
    found, doc = _reach(out)
    assert [(line, exempt) for line, exempt, _b, _m in found] == [(FIRST, False)]
    (use,) = doc["exemptions"]
    assert (use["via"], use["matched"], use["expired"]) == ([REVIEWED], 1, True)
    capsys.readouterr()
    main(["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"])
    assert (
        "exemption for reach/reach-dangerous-call on train.py via utils.safeio.reviewed_load "
        "expired 2001-01-01"
    ) in capsys.readouterr().out


def test_scan_applies_a_via_exemption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`scan` streams the tree file by file and drops the edges; with a `via:`
    exemption it keeps the whole graph, so the routes can be followed. (Run
    from the root: chains name modules by their path from there.)"""
    root = tmp_path / "proj"
    for path, text in HELPERS.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "train.py").write_text(
        "from utils.ckpt import restore\nfrom utils.net import recv_obj\n\n"
        "restore('x')\nrecv_obj(None)\n"
    )
    (root / ".traingate.yaml").write_text(
        NO_SEMGREP + exemption(paths='["**/train.py"]'), encoding="utf-8"
    )
    monkeypatch.chdir(root)
    capsys.readouterr()
    main(["scan", ".", "--format", "json", "--policy", ".traingate.yaml"])
    doc = json.loads(capsys.readouterr().out)
    got = sorted(
        (f["path"].rpartition("/")[2], f["line"], f["exempted"])
        for f in doc["findings"]
        if f["check"] == "reach" and f["path"].endswith("train.py")
    )
    assert got == [("train.py", 4, True), ("train.py", 5, False)]


# --------------------------------------------------------------------------
# the policy: where `via:` may stand, and what it may name
# --------------------------------------------------------------------------

BAD = {
    "another check": (
        "  - check: semgrep\n    rule: exec-os-command\n    paths: [a.py]\n"
        "    via: [utils.run.go]\n",
        "6:10: exemptions[0].via: Value error, via: applies only to checks whose findings "
        "name a call chain (reach), not 'semgrep'",
    ),
    "a reach rule with no chain": (
        "  - check: reach\n    rule: reach-incomplete\n    paths: [a.py]\n"
        "    via: [utils.run.go]\n",
        "6:10: exemptions[0].via: Value error, via: applies only to the rules of 'reach' that "
        "name a call chain (reach-dangerous-call or '*'), not 'reach-incomplete'",
    ),
    "an empty list": (
        "  - check: reach\n    rule: '*'\n    paths: [a.py]\n    via: []\n",
        "6:10: exemptions[0].via: List should have at least 1 item after validation, not 0",
    ),
    "a glob": (
        "  - check: reach\n    rule: '*'\n    paths: [a.py]\n    via: [utils.run.*]\n",
        "6:11: exemptions[0].via[0]: Value error, 'utils.run.*' is not a qualified function name",
    ),
    "a bare name": (
        "  - check: reach\n    rule: '*'\n    paths: [a.py]\n    via: [go]\n",
        "6:11: exemptions[0].via[0]: Value error, 'go' is not a qualified function name",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_misplaced_or_malformed_via_is_a_policy_error_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    entry, message = BAD[case]
    p = tmp_path / ".traingate.yaml"
    p.write_text(
        "version: 1\nexemptions:\n" + entry + "    reason: r\n    expires: 2099-01-01\n"
        "    approved_by: sam\n"
    )
    assert main(["policy", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p.name}:{message}" in err, err


def test_explain_and_the_schema_show_via(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / ".traingate.yaml"
    p.write_text(NO_SEMGREP + exemption())
    assert main(["policy", "validate", str(p)]) == 0
    capsys.readouterr()
    assert main(["policy", "explain", "--policy", str(p), "train.py"]) == 0
    assert (
        "exemption (active until 2099-01-01): reach/reach-dangerous-call via "
        f"{REVIEWED}: reviewed_load checks the signature first (SEC-7) (approved by sam)"
    ) in capsys.readouterr().out
    assert main(["policy", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    via = schema["$defs"]["Exemption"]["properties"]["via"]
    assert "every route" in via["description"]
