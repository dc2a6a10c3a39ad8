"""The workflows check (docs/checks/workflows.md): real git, the real zizmor.

The marker fixtures (tests/fixtures/checks/workflows/) pin what each audit maps
to; these tests pin what the fixtures cannot: fail-closed paths (zizmor
missing, crashing, hanging), what zizmor is given (offline, no token, no
configuration or ignore comment from the change) and the attacker's attempts
to hide an injection from it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import pytest

from traingate.checks.workflows import zizmor
from traingate.cli import main
from traingate.gate import CheckRequest, check

from .conftest import Repo

POLICY = "version: 1\nextends: builtin:default\n"
PR = """name: ci
on:
  pull_request:
permissions:
  contents: read
jobs:
  label:
    runs-on: ubuntu-latest
    steps:
      - run: python -m train --max-steps 20
"""
INJECT = '      - run: echo "run for ${{ github.event.pull_request.title }}"\n'
VIA_ENV = (
    "      - env:\n"
    "          TITLE: ${{ github.event.pull_request.title }}\n"
    '        run: echo "run for $TITLE"\n'
)
WF = ".github/workflows/ci.yml"


def _judge(
    repo: Repo, head: dict[str, str], base: dict[str, str] | None = None, policy: str = POLICY
) -> set[tuple[str, int | None, str, str]]:
    repo.write(".traingate.yaml", policy)
    for rel, text in (base or {}).items():
        repo.write(rel, text)
    repo.commit("base")
    repo.branch("feature")
    for rel, text in head.items():
        repo.write(rel, text)
    repo.commit("workflow", who="mallory")
    report = check(CheckRequest(repo=repo.path, base="main", head="feature"))
    assert report.errors == []
    return {
        (f.path, f.line, f.rule_id, f.severity.value)
        for f in report.findings
        if f.check == "workflows"
    }


def test_the_injection_fires_and_the_env_form_is_quiet(repo: Repo) -> None:
    got = _judge(repo, {WF: PR + INJECT + VIA_ENV})
    assert got == {(WF, 11, "workflow-template-injection", "ERROR")}


def test_an_untouched_old_injection_is_not_this_changes(repo: Repo) -> None:
    got = _judge(repo, {WF: PR + INJECT + "      - run: pytest -q\n"}, {WF: PR + INJECT})
    assert got == set()


def test_scan_reports_every_line(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo.write(WF, PR + INJECT)
    repo.commit("base")
    monkeypatch.chdir(repo.path)
    out = tmp_path / "scan.json"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["scan", ".", "--format", "json", "--output", str(out)])
    found = json.loads(out.read_text(encoding="utf-8"))["findings"]
    assert {(f["path"], f["line"], f["rule_id"]) for f in found if f["check"] == "workflows"} == {
        (WF, 11, "workflow-template-injection")
    }


def test_broken_yaml_blocks_with_its_location(repo: Repo) -> None:
    got = _judge(repo, {WF: "name: ci\non: [push\njobs: {\n", "README.md": "# x\n"})
    assert (WF, 3, "workflow-parse-error", "ERROR") in got


def test_a_schema_error_blocks_and_the_other_files_are_still_judged(repo: Repo) -> None:
    # GitHub refuses `steps: 3`; zizmor with --strict-collection refuses to load it.
    got = _judge(
        repo,
        {
            ".github/workflows/a.yml": "name: a\non: push\njobs:\n  a:\n    steps: 3\n",
            WF: PR + INJECT,
        },
    )
    assert got == {
        (".github/workflows/a.yml", None, "workflow-parse-error", "ERROR"),
        (WF, 11, "workflow-template-injection", "ERROR"),
    }


def _no_zizmor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_bin = tmp_path / "emptybin"
    fake_bin.mkdir()
    monkeypatch.setattr(sys, "executable", str(fake_bin / "python"))
    monkeypatch.setenv("PATH", str(fake_bin) + os.pathsep + "/usr/bin:/bin")


def test_zizmor_unavailable_blocks(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_zizmor(monkeypatch, tmp_path)
    assert zizmor.find_zizmor() is None
    # semgrep is found the same way: off here, so only zizmor is missing.
    got = _judge(repo, {WF: PR}, policy=POLICY + "checks:\n  semgrep:\n    enabled: false\n")
    assert got == {(WF, None, "workflow-scan-error", "ERROR")}


def _fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A zizmor stand-in beside a fake interpreter (found first)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "zizmor"
    exe.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    return exe


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("echo 'thread main panicked' >&2\nexit 101\n", "zizmor exited 101"),
        ("echo 'not json'\n", "not JSON"),
        ("echo '{\"ident\": 1}'\n", "not a list"),
        (
            'echo \'[{"ident": "x", "locations": [{"symbolic": {"kind": "Primary"}}]}]\'\n',
            "v1 shape",
        ),
        ("sleep 30\n", "timed out"),
    ],
)
def test_zizmor_failing_blocks(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str, why: str
) -> None:
    _fake(tmp_path, monkeypatch, body)
    repo.write(".traingate.yaml", POLICY + "checks:\n  workflows:\n    timeout: 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write(WF, PR)
    repo.commit("workflow", who="mallory")
    report = check(CheckRequest(repo=repo.path, base="main", head="feature"))
    found = [f for f in report.findings if f.check == "workflows"]
    assert [(f.rule_id, f.severity.value) for f in found] == [("workflow-scan-error", "ERROR")]
    assert why in found[0].message


def test_zizmor_runs_offline_without_a_token_or_the_changes_config(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "seen"
    _fake(tmp_path, monkeypatch, f'env > "{out}.env"\necho "$@" > "{out}.args"\necho "[]"\n')
    for var in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "ZIZMOR_CONFIG"):
        monkeypatch.setenv(var, "secret-value")
    _judge(repo, {WF: PR})
    args = (tmp_path / "seen.args").read_text().split()
    assert {"--offline", "--no-config", "--no-ignores", "--strict-collection"} <= set(args)
    assert "secret-value" not in (tmp_path / "seen.env").read_text()


# ------------------------------------------------------------------ the attacker's side


def test_an_ignore_comment_or_a_zizmor_config_in_the_change_hides_nothing(repo: Repo) -> None:
    hidden = INJECT.rstrip("\n") + "  # zizmor: ignore[template-injection]\n"
    config = "rules:\n  template-injection:\n    disable: true\n"
    got = _judge(repo, {WF: PR + hidden, "zizmor.yml": config, ".github/zizmor.yml": config})
    assert got == {(WF, 11, "workflow-template-injection", "ERROR")}


def test_a_composite_action_input_is_caught(repo: Repo) -> None:
    action = (
        "name: notify\ndescription: d\ninputs:\n  msg:\n    description: m\n"
        "runs:\n  using: composite\n  steps:\n"
        '    - run: echo "notice ${{ inputs.msg }}"\n      shell: bash\n'
    )
    got = _judge(repo, {".github/actions/x/action.yml": action, "tools/ci/action.yaml": action})
    assert got == {
        (".github/actions/x/action.yml", 9, "workflow-template-injection", "ERROR"),
        ("tools/ci/action.yaml", 9, "workflow-template-injection", "ERROR"),
    }


def test_yaml_extension_and_a_nested_github_dir_are_covered(repo: Repo) -> None:
    got = _judge(
        repo,
        {".github/workflows/ci.yaml": PR + INJECT, "sub/.github/workflows/x.yml": PR + INJECT},
    )
    assert {p for p, *_ in got} == {".github/workflows/ci.yaml", "sub/.github/workflows/x.yml"}


def test_pull_request_target_with_a_head_checkout_blocks(repo: Repo) -> None:
    wf = PR.replace("pull_request:", "pull_request_target:").replace(
        "      - run: python -m train --max-steps 20\n",
        "      - uses: actions/checkout@0123456789abcdef0123456789abcdef01234567\n"
        "        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "          persist-credentials: false\n"
        "      - run: pip install -e . && pytest\n",
    )
    got = _judge(repo, {WF: wf})
    assert (WF, 3, "workflow-dangerous-triggers", "ERROR") in got


def test_turning_an_old_workflow_into_pull_request_target_is_new(repo: Repo) -> None:
    """Only `on:` changes; the trigger finding spans the added line."""
    before = PR
    after = PR.replace("pull_request:", "pull_request_target:")
    got = _judge(repo, {WF: after}, {WF: before})
    assert (WF, 3, "workflow-dangerous-triggers", "ERROR") in got


def test_a_login_name_warns_but_does_not_excuse_what_rides_with_it(repo: Repo) -> None:
    """github.actor is [A-Za-z0-9-] (an app: slug[bot]): not injectable, so a
    warning; an `||` with a PR title beside it is still the title's injection."""
    steps = (
        '      - run: docker login ghcr.io -u "${{ github.actor }}" --password-stdin\n'
        '      - run: echo "${{ github.actor || github.event.pull_request.title }}"\n'
    )
    got = _judge(repo, {WF: PR + steps})
    assert got == {
        (WF, 11, "workflow-template-injection", "WARNING"),
        (WF, 12, "workflow-template-injection", "WARNING"),
        (WF, 12, "workflow-template-injection", "ERROR"),
    }


def test_laundering_is_followed_through_several_hops(repo: Repo) -> None:
    """A PR title through a step output, another step's env and output, a job
    output and a matrix: each hop is followed; a number or a sha is not data."""
    wf = """name: hops
on:
  pull_request:
permissions:
  contents: read
jobs:
  meta:
    runs-on: ubuntu-latest
    outputs:
      name: ${{ steps.b.outputs.name }}
      pr: ${{ steps.n.outputs.pr }}
    steps:
      - id: a
        env:
          T: ${{ github['event']['pull_request']['title'] }}
        run: echo "t=$T" >> "$GITHUB_OUTPUT"
      - id: b
        env:
          V: ${{ steps.a.outputs.t }}
        run: echo "name=$V" >> "$GITHUB_OUTPUT"
      - id: n
        env:
          N: ${{ github.event.pull_request.number }}
          SHA: ${{ github.event.pull_request.head.sha }}
        run: echo "pr=$N-$SHA" >> "$GITHUB_OUTPUT"
  use:
    needs: meta
    runs-on: ubuntu-latest
    strategy:
      matrix:
        name: ["${{ needs.meta.outputs.name }}"]
    steps:
      - run: echo "${{ matrix.name }}"
      - run: echo "${{ needs.meta.outputs.pr }}"
"""
    got = _judge(repo, {WF: wf})
    assert got == {
        (WF, 33, "workflow-template-injection", "ERROR"),
        (WF, 34, "workflow-template-injection", "WARNING"),  # zizmor's own rating
    }


def test_a_workflow_renamed_into_place_is_judged_whole(repo: Repo) -> None:
    """Planted as an example where nothing runs it, then moved: the move is the change."""
    repo.write(".traingate.yaml", POLICY)
    repo.write("docs/examples/ci.yml", PR + INJECT)
    repo.commit("base")
    repo.branch("feature")
    (repo.path / ".github" / "workflows").mkdir(parents=True)
    repo.git("mv", "docs/examples/ci.yml", WF)
    repo.commit("enable the example workflow", who="mallory")
    report = check(CheckRequest(repo=repo.path, base="main", head="feature"))
    got = {(f.path, f.line, f.rule_id) for f in report.findings if f.check == "workflows"}
    assert got == {(WF, 11, "workflow-template-injection")}


def test_a_symlinked_workflow_blocks(repo: Repo) -> None:
    repo.write(".traingate.yaml", POLICY)
    repo.write("ci/real.yml", PR + INJECT)
    repo.commit("base")
    repo.branch("feature")
    (repo.path / ".github" / "workflows").mkdir(parents=True)
    os.symlink("../../ci/real.yml", repo.path / WF)
    repo.commit("link", who="mallory")
    report = check(CheckRequest(repo=repo.path, base="main", head="feature"))
    got = {(f.path, f.rule_id) for f in report.findings if f.check == "workflows"}
    assert got == {(WF, "workflow-scan-error")}


# ------------------------------------------------------------------ the two-step plant
# Step one (in the base): a local callee that expands its input. Step two (the
# change): a caller passing it outsider data. zizmor reads one file at a time.

NOTIFY = ".github/actions/notify/action.yml"
ACTION = (
    "name: notify\ndescription: post a training-run note\ninputs:\n"
    "  message:\n    description: the note\n    required: true\n"
    "runs:\n  using: composite\n  steps:\n"
)
EXPANDS = ACTION + '    - run: echo "::notice::${{ inputs.message }}"\n      shell: bash\n'
ENV_FORM = ACTION + (
    "    - env:\n        MESSAGE: ${{ inputs.message }}\n"
    '      run: echo "::notice::$MESSAGE"\n      shell: bash\n'
)
CALL = (
    "      - uses: ./.github/actions/notify\n"
    "        with:\n"
    "          message: ${{ github.event.pull_request.title }}\n"
)


def test_a_pr_title_passed_to_an_old_action_that_expands_it_blocks(repo: Repo) -> None:
    got = _judge(repo, {WF: PR + CALL}, {NOTIFY: EXPANDS, WF: PR})
    assert got == {(WF, 13, "workflow-template-injection", "ERROR")}


def test_the_callee_env_form_and_a_constant_are_quiet(repo: Repo) -> None:
    const = CALL.replace("${{ github.event.pull_request.title }}", "nightly eval done")
    number = CALL.replace("pull_request.title", "pull_request.number")
    got = _judge(repo, {WF: PR + CALL + const + number}, {NOTIFY: ENV_FORM, WF: PR})
    assert got == set()
    # ... and the constant and the number stay quiet against the expanding callee
    other = _judge(Repo(repo.path.parent / "r2"), {WF: PR + const + number}, {NOTIFY: EXPANDS})
    assert other == set()


def test_env_reexpanded_in_the_callee_blocks(repo: Repo) -> None:
    """The env: form is safe only read as "$X": `${{ env.X }}` expands it again."""
    callee = ENV_FORM.replace('"::notice::$MESSAGE"', '"::notice::${{ env.MESSAGE }}"')
    got = _judge(repo, {WF: PR + CALL}, {NOTIFY: callee})
    assert got == {(WF, 13, "workflow-template-injection", "ERROR")}


def test_a_reusable_workflow_and_github_script_and_a_laundered_caller(repo: Repo) -> None:
    reusable = """name: r
on:
  workflow_call:
    inputs:
      run-name:
        type: string
permissions: {}
jobs:
  post:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/github-script@60a0d83039c74a4aee543508d2ffcb1c3799cdea
        with:
          script: core.notice("${{ inputs.run-name }}")
"""
    caller = (
        PR + "      - id: meta\n"
        "        env:\n"
        "          BRANCH: ${{ github.head_ref }}\n"
        '        run: echo "slug=${BRANCH//\\//-}" >> "$GITHUB_OUTPUT"\n'
        "  report:\n"
        "    uses: ./.github/workflows/r.yml\n"
        "    with:\n"
        "      run-name: ${{ needs.label.outputs.slug }}\n"
    ).replace("  label:\n", "  label:\n    outputs:\n      slug: ${{ steps.meta.outputs.slug }}\n")
    got = _judge(repo, {WF: caller}, {".github/workflows/r.yml": reusable})
    assert (WF, 20, "workflow-template-injection", "ERROR") in got


def test_a_chain_of_local_actions_is_followed_and_a_cycle_ends(repo: Repo) -> None:
    relay = (
        "name: relay\ndescription: d\ninputs:\n  text:\n    description: t\n"
        "runs:\n  using: composite\n  steps:\n"
        "    - uses: ./.github/actions/relay\n      with:\n        text: ${{ inputs.text }}\n"
        "    - uses: ./.github/actions/notify\n      with:\n        message: ${{ inputs.text }}\n"
    )
    call = CALL.replace("notify", "relay").replace("message:", "text:")
    got = _judge(
        repo, {WF: PR + call}, {".github/actions/relay/action.yml": relay, NOTIFY: EXPANDS}
    )
    assert got == {(WF, 13, "workflow-template-injection", "ERROR")}


@pytest.mark.parametrize("how", ["missing", "symlink", "broken", "outside"])
def test_a_callee_the_gate_cannot_read_blocks(repo: Repo, how: str) -> None:
    base: dict[str, str] = {"ci/notify.yml": EXPANDS}
    call = CALL
    if how == "broken":
        base[NOTIFY] = "runs: [unclosed\n"
    elif how == "outside":
        call = CALL.replace("./.github/actions/notify", "./../notify")
    if how == "symlink":
        repo.write("ci/notify.yml", EXPANDS)
        (repo.path / ".github/actions/notify").mkdir(parents=True)
        os.symlink("../../../ci/notify.yml", repo.path / NOTIFY)
    got = _judge(repo, {WF: PR + call}, base)
    assert got == {(WF, 13, "workflow-callee-unjudged", "ERROR")}


def test_an_unchanged_call_is_not_this_changes(repo: Repo) -> None:
    got = _judge(
        repo, {WF: PR + CALL + "      - run: pytest -q\n"}, {NOTIFY: EXPANDS, WF: PR + CALL}
    )
    assert got == set()


def test_repointing_only_uses_at_an_expanding_action_is_new(repo: Repo) -> None:
    """The attacker's edit to an old quiet call: only the `uses:` line changes."""
    quiet = ".github/actions/quiet/action.yml"
    before = CALL.replace("notify", "quiet")
    got = _judge(repo, {WF: PR + CALL}, {NOTIFY: EXPANDS, quiet: ENV_FORM, WF: PR + before})
    assert got == {(WF, 13, "workflow-template-injection", "ERROR")}


def test_env_reexpanded_in_the_same_workflow_blocks(repo: Repo) -> None:
    """zizmor rates `${{ env.X }}` Informational; X set from the title makes it the title."""
    wf = PR.replace("jobs:\n", "env:\n  TITLE: ${{ github.event.pull_request.title }}\njobs:\n")
    steps = '      - run: echo "${{ env.TITLE }}"\n      - run: echo "$TITLE"\n'
    got = _judge(repo, {WF: wf + steps})
    assert got == {(WF, 13, "workflow-template-injection", "ERROR")}


def test_context_names_in_any_case_are_the_same_context(repo: Repo) -> None:
    """GitHub reads `GitHub.Event.Pull_Request.Title` and `Inputs.MESSAGE` as
    the lowercase names: spelling them otherwise hides nothing."""
    callee = EXPANDS.replace("inputs.message", "Inputs.MESSAGE")
    call = CALL.replace("github.event.pull_request.title", "GitHub.Event.Pull_Request.Title")
    wf = PR.replace("jobs:\n", "env:\n  Title: ${{ github.event.pull_request.title }}\njobs:\n")
    got = _judge(repo, {WF: wf + call + '      - run: echo "${{ ENV.TITLE }}"\n'}, {NOTIFY: callee})
    assert got == {
        (WF, 15, "workflow-template-injection", "ERROR"),
        (WF, 16, "workflow-template-injection", "ERROR"),
    }


def test_the_whole_context_or_a_computed_name_is_followed(repo: Repo) -> None:
    """`toJSON(inputs)` in the callee expands every input; `toJSON(github)` in
    the caller passes the event (and head_ref) whole."""
    callee = EXPANDS.replace("${{ inputs.message }}", "${{ toJSON(inputs) }}")
    call = CALL.replace("github.event.pull_request.title", "toJSON(github)")
    got = _judge(repo, {WF: PR + call}, {NOTIFY: callee})
    assert got == {(WF, 13, "workflow-template-injection", "ERROR")}


def test_a_chain_deeper_than_the_limit_blocks(repo: Repo) -> None:
    def relay(i: int) -> str:
        return (
            f"name: r{i}\ndescription: d\ninputs:\n  text:\n    description: t\n"
            "runs:\n  using: composite\n  steps:\n"
            f"    - uses: ./.github/actions/r{i + 1}\n      with:\n        text: ${{{{ inputs.text }}}}\n"
        )

    base = {f".github/actions/r{i}/action.yml": relay(i) for i in range(9)}
    call = CALL.replace("notify", "r0").replace("message:", "text:")
    got = _judge(repo, {WF: PR + call}, base)
    assert got == {(WF, 13, "workflow-callee-unjudged", "ERROR")}


def test_an_alias_bomb_in_a_caller_blocks_without_hanging(repo: Repo) -> None:
    bomb = "x-a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"x-{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    wf = bomb + PR + "      - uses: ./.github/actions/notify\n        with:\n          m: *i\n"
    base: dict[str, str] = {NOTIFY: EXPANDS}
    got = _judge(repo, {WF: wf}, base)
    assert (WF, None, "workflow-callee-unjudged", "ERROR") in got


def test_tainting_an_old_calls_source_lines_away_is_new(repo: Repo) -> None:
    """The call is old and unchanged; the step output it passes is changed to
    carry the PR title: the change made the injection."""
    meta = (
        '      - id: meta\n{env}        run: echo "note=${{NOTE:-nightly}}" >> "$GITHUB_OUTPUT"\n'
    )
    call = CALL.replace("${{ github.event.pull_request.title }}", "${{ steps.meta.outputs.note }}")
    before = PR + meta.format(env="") + call
    after = (
        PR
        + meta.format(env="        env:\n          NOTE: ${{ github.event.pull_request.title }}\n")
        + call
    )
    got = _judge(repo, {WF: after}, {NOTIFY: EXPANDS, WF: before})
    assert got == {(WF, 17, "workflow-template-injection", "ERROR")}
