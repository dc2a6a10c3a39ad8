"""Shell completion (issue #18): generated from the real parser by shtab, so it
cannot name a command or flag that does not exist, nor miss a new one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from traingate.cli import build_parser, main


def _complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the last word of `traingate <words>` (real bash)."""
    arr = " ".join(f"'{w}'" for w in ("traingate", *words))
    code = (
        f"source {script}; COMP_WORDS=({arr}); COMP_CWORD={len(words)}; "
        'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; '
        '_shtab_traingate; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture
def bash_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "traingate.bash"
    script.write_text(capsys.readouterr().out)
    return script


def test_bash_completion_offers_the_real_commands_and_flags(bash_script: Path) -> None:
    subprocess.run(["bash", "-n", str(bash_script)], check=True)
    assert _complete(bash_script, "pol") == ["policy"]
    assert set(_complete(bash_script, "policy", "")) == {"validate", "schema", "test", "explain"}
    assert _complete(bash_script, "check", "--approvals-adv") == ["--approvals-advisory"]
    assert _complete(bash_script, "check", "--format", "sa") == ["sarif"]


def test_every_subcommand_is_offered(bash_script: Path) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices or ()) <= set(_complete(bash_script, ""))


def test_zsh_completion_is_a_compdef_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("#compdef traingate")
    assert "verify-source" in text and "--approvals-advisory" in text
    if shutil.which("zsh"):
        subprocess.run(["zsh", "-n", "-c", text], check=True)


def test_an_unknown_shell_is_a_usage_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "traingate", "completion", "fish"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "invalid choice" in out.stderr
