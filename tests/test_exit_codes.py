"""One condition, one exit code (issue #15): the same problem met by different
commands exits the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate import ci
from traingate.cli import main
from traingate.errors import ExitCode, GitError, PolicyError, TraingateError, UsageError

from .conftest import Repo


def unrelated(repo: Repo) -> tuple[str, str]:
    repo.write("a.py", "a = 1\n")
    a = repo.commit("a")
    repo.git("checkout", "-q", "--orphan", "other")
    repo.git("rm", "-rfq", ".")
    repo.write("b.py", "b = 1\n")
    b = repo.commit("b")
    return a, b


def test_no_merge_base_is_a_usage_error_for_check_and_ci(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = unrelated(repo)
    code = main(["check", "--repo", str(repo.path), "--base", a, "--head", b])
    assert code == ExitCode.USAGE and "no merge base" in capsys.readouterr().err
    ctx = ci.CiContext("github", a, b, 1, "o/r", None, None)
    with pytest.raises(UsageError, match="no merge base") as err:
        ci.ensure_history(repo.path, ctx)
    assert err.value.exit_code == ExitCode.USAGE


POLICY = "version: 1\nextends: builtin:default\n"


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("codeowners: CODEOWNERS\n", "codeowners: CODEOWNERS does not exist"),
        (
            "approvals:\n  signed:\n    allowed_signers: .traingate/allowed_signers\n",
            "approvals.signed: .traingate/allowed_signers does not exist",
        ),
        (
            "checks:\n  semgrep:\n    rule_dirs: [nope/]\n",
            "checks.semgrep.rule_dirs: nope/ has no rules (.yaml) at",
        ),
    ],
)
def test_a_file_the_policy_names_but_the_base_lacks_is_a_policy_error(
    repo: Repo, capsys: pytest.CaptureFixture[str], setting: str, needle: str
) -> None:
    repo.write(".traingate.yaml", POLICY + setting)
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train.py", "x = 2\n")
    repo.commit("change", who="mallory")
    code = main(["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"])
    assert code == ExitCode.USAGE
    assert needle in capsys.readouterr().err


def test_exit_codes_are_the_documented_contract() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert (
        "`0` pass, `1` blocked by policy, `2` usage or policy error, `3` internal error" in readme
    )


def _all_error_classes() -> set[type[TraingateError]]:
    # Import every module that defines an error so the walk below sees it.
    import traingate.approvals.http
    import traingate.attest
    import traingate.audit
    import traingate.env.core
    import traingate.sshsig  # noqa: F401

    seen: set[type[TraingateError]] = set()
    todo: list[type[TraingateError]] = [TraingateError]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo.extend(cls.__subclasses__())
    return seen


def test_every_error_class_maps_to_one_documented_exit_code() -> None:
    """The taxonomy: each class of error decides its exit code, once."""
    codes = {cls.__name__: int(cls.exit_code) for cls in _all_error_classes()}
    assert codes == {
        "TraingateError": 3,
        "UsageError": 2,
        "PolicyError": 2,
        "GitError": 3,
        "CheckError": 3,
        "SigningError": 3,
        "ApiError": 3,
        "AuditError": 3,
        "BaselineError": 1,
        "AttestError": 1,
    }


def test_the_remedy_travels_with_the_error() -> None:
    err = PolicyError("unknown key 'pths'", location="p.yaml:3:5", help="did you mean 'paths'?")
    assert err.diagnostics() == (
        "error: p.yaml:3:5: unknown key 'pths'\n  help: did you mean 'paths'?"
    )
    assert err.summary() == "p.yaml:3:5: unknown key 'pths' (help: did you mean 'paths'?)"
    bare = GitError("not a git repository: /x")
    assert bare.diagnostics() == "error: not a git repository: /x"
    assert bare.summary() == "not a git repository: /x"
