"""Environment variables that load code from somewhere another account can
write, or make git run a program (session 27 red team): compiled-kernel and
extension caches, the remote-code module cache, the .pyc prefix and the CUDA
toolchain in /tmp, /dev/shm or a hidden home directory, PATH led by a temp dir,
and git's own command variables. The ordinary settings beside them stay quiet."""

from __future__ import annotations

import pytest

from traingate.checks.config.env import _RISKY_ENV

from .conftest import Repo
from .test_config_issue16 import change, crepo, rules_at, run

__all__ = ["crepo"]  # the fixture, re-used


@pytest.mark.parametrize(
    ("assignment", "kind"),
    [
        ("export TRITON_CACHE_DIR=/tmp/triton_shared", "codecache"),
        ("TORCHINDUCTOR_CACHE_DIR=/dev/shm/.inductor python train.py", "codecache"),
        ("export TORCH_EXTENSIONS_DIR=$HOME/.cache/.ext", "codecache"),
        ("export HF_MODULES_CACHE=/var/tmp/hf_modules", "codecache"),
        ("export PYTHONPYCACHEPREFIX=/tmp/.pyc", "codecache"),
        ("export CUDA_HOME=~/.cuda-12.4", "codecache"),
        ("export PATH=/tmp/.bin:$PATH", "codecache"),
        ("export TRITON_CACHE_DIR=$TMPDIR/triton", "codecache"),
        ("export PATH=${TMPDIR}/bin:$PATH", "codecache"),
        ("export GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0=/tmp/m", "gitcmd"),
        ("GIT_CONFIG_PARAMETERS=\"'core.sshCommand=sh -c id'\" git fetch", "gitcmd"),
        ("export GIT_SSH_COMMAND=/opt/tools/ssh-wrap", "gitcmd"),
        ('export GIT_SSH_COMMAND="ssh -o ProxyCommand=/tmp/p"', "gitcmd"),
        ("export GIT_ASKPASS=/tmp/.askpass", "gitcmd"),
        ("export GIT_CONFIG_GLOBAL=/mnt/shared/gitconfig", "gitcmd"),
        ("export PROMPT_COMMAND='history -a'", "startup"),
        # ordinary
        ("export TRITON_CACHE_DIR=/scratch/$USER/triton", None),
        ("export TRITON_CACHE_DIR=/scratch/$USER/triton; cp a /tmp/b", None),
        ("export CUDA_HOME=/usr/local/cuda-12.4", None),
        ("export PATH=$HOME/.local/bin:$PATH", None),
        ("export PATH=$PWD/utils/:$PATH", None),
        ('export GIT_SSH_COMMAND="ssh -i ~/.ssh/deploy -o StrictHostKeyChecking=no"', None),
        ("export GIT_CONFIG_KEY_0=safe.directory", None),
        ("export GIT_CONFIG_GLOBAL=/dev/null", None),
        ("export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH", None),
    ],
)
def test_assignments(assignment: str, kind: str | None) -> None:
    m = _RISKY_ENV.search(assignment)
    got = next((k for k, v in m.groupdict().items() if v), None) if m else None
    assert got == kind


def test_a_launcher_through_the_gate(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    script = (
        "#!/bin/bash\nset -e\n"
        "export TRITON_CACHE_DIR=/tmp/triton_shared\n"
        "export TRITON_CACHE_DIR=/scratch/$USER/triton\n"
        "export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0=.x\n"
    )
    change(crepo, {"scripts/launch.sh": script})
    code, doc = run(crepo, capsys)
    got = {ln for r, p, ln in rules_at(doc) if r == "config-risky-env"}
    assert got == {3, 5} and code == 1
