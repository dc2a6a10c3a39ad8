"""Policy loading: validation errors at file:line:column, layering, schema, explain."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from traingate.cli import main
from traingate.errors import PolicyError
from traingate.policy.load import load_builtin, load_file, load_text


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / ".traingate.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def error_of(text: str) -> str:
    with pytest.raises(PolicyError) as exc:
        load_text(text, ".traingate.yaml")
    return exc.value.render()


def test_builtin_default_is_valid_and_protects_itself() -> None:
    loaded = load_builtin()
    gate = next(s for s in loaded.policy.sensitive_paths if s.name == "gate-configuration")
    for needed in (
        "/.traingate.yaml",
        "/policy/",
        "/.github/workflows/",
        "/.gitlab-ci.yml",
        "/.pre-commit-config.yaml",
        "CODEOWNERS",
        ".semgrepignore",
    ):
        assert needed in gate.paths
    assert loaded.policy.security_group == "security"


def test_approvals_below_one_points_at_the_value() -> None:
    text = """\
version: 1
groups:
  leads: [alice]
sensitive_paths:
  - name: a
    paths: [train.py]
    approvers: [leads]
  - name: b
    paths: [data/]
    approvals: 0
    approvers: [leads]
"""
    assert error_of(text) == (
        "error: .traingate.yaml:10:16: sensitive_paths[1].approvals: "
        "Input should be greater than or equal to 1\n  help: see https://github.com/traingate/traingate/blob/main/docs/policy.md for the schema"
    )


def test_unknown_key_points_at_the_key() -> None:
    text = "version: 1\nsensitive_paths:\n  - name: a\n    paths: [x]\n    approvers: [u]\n    aprovals: 2\n"
    assert ".traingate.yaml:6:5: sensitive_paths[0].aprovals: unknown key" in error_of(text)


def test_duplicate_keys_are_an_error() -> None:
    text = "version: 1\ngroups:\n  a: [x]\n  a: [y]\n"
    assert (
        error_of(text) == "error: .traingate.yaml:4:3: duplicate key 'a' (first defined at line 3)"
    )


def test_wrong_version_and_missing_version() -> None:
    assert ".traingate.yaml:1:10: version: must be 1, not 2" in error_of("version: 2\n")
    assert "version: Field required" in error_of("groups: {}\n")


def test_invalid_yaml_has_a_position() -> None:
    assert error_of("version: 1\ngroups: [a\n").startswith(
        "error: .traingate.yaml:3:1: invalid YAML"
    )


def test_python_tags_are_refused() -> None:
    text = "version: 1\ngroups: !!python/object/apply:os.system ['touch /tmp/x']\n"
    assert "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed" in error_of(text)


def test_alias_bomb_is_an_error_not_a_hang() -> None:
    lines = ["version: 1", 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    assert "alias bomb" in error_of("\n".join(lines) + "\n")


def test_undefined_group_in_require_approval() -> None:
    text = """\
version: 1
checks:
  semgrep:
    actions:
      ERROR: {require_approval: secteam}
"""
    assert error_of(text) == (
        "error: .traingate.yaml:5:33: checks.semgrep.actions.ERROR.require_approval: "
        "require_approval names unknown group or user 'secteam'"
    )


def test_undefined_security_group() -> None:
    assert "security_group: group 'sec' is not defined" in error_of(
        "version: 1\nsecurity_group: sec\n"
    )


def test_exemption_needs_expiry_and_known_check() -> None:
    base = "version: 1\nexemptions:\n  - check: {check}\n    rule: x\n    paths: [a.py]\n    reason: r\n    approved_by: sam\n"
    assert "exemptions[0].expires: Field required" in error_of(base.format(check="semgrep"))
    assert "unknown check 'nope'" in error_of(
        base.format(check="nope") + "    expires: 2030-01-01\n"
    )


def test_several_problems_are_all_reported() -> None:
    text = "version: 1\ngroups: 3\nsensitive_paths: x\n"
    rendered = error_of(text)
    assert "2 problems" in rendered
    assert ".traingate.yaml:2:9: groups" in rendered
    assert ".traingate.yaml:3:18: sensitive_paths" in rendered


def test_extends_layers_over_the_default() -> None:
    text = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
sensitive_paths:
  - name: training-code
    paths: [src/train/]
    approvals: 2
    approvers: [security, alice]
"""
    loaded = load_text(text, ".traingate.yaml")
    names = [s.name for s in loaded.policy.sensitive_paths]
    assert names.count("training-code") == 1 and "gate-configuration" in names
    tc = next(s for s in loaded.policy.sensitive_paths if s.name == "training-code")
    assert tc.paths == ["src/train/"] and tc.approvals == 2
    assert loaded.policy.groups["security"] == ["sam"]
    assert loaded.layers == ("builtin:default", ".traingate.yaml")


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "version: 1\nextends: builtin:default\ngroups:\n  security: [sam]\n")
    assert main(["policy", "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "ml-reviewers" in out  # warns: empty group can never approve
    bad = write(
        tmp_path,
        "version: 1\nsensitive_paths:\n  - name: a\n    paths: [x]\n    approvals: -1\n    approvers: [u]\n",
    )
    assert main(["policy", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{bad}:5:16: sensitive_paths[0].approvals: Input should be greater than or equal to 1"
        in err
    )


def test_schema_command_is_a_json_schema_that_accepts_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import yaml

    assert main(["policy", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    from traingate.policy.load import builtin_text

    jsonschema.validate(yaml.safe_load(builtin_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "bogus": True}, schema)


def test_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(
        tmp_path,
        "version: 1\nextends: builtin:default\ngroups:\n  security: [sam]\n  ml-reviewers: [alice]\n"
        "exemptions:\n  - {check: semgrep, rule: exec-dynamic-code, paths: [tools/], reason: codegen,"
        " expires: 2030-01-01, approved_by: sam}\n",
    )
    assert (
        main(
            ["policy", "explain", "--policy", str(p), "train.py", "tools/gen.py", ".traingate.yaml"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "train.py:\n  sensitive: training-code: needs 1 approval(s) from ml-reviewers, security [alice, sam]; matched by train*.py"
        in out
    )
    assert "tools/gen.py:\n  sensitive: no" in out
    assert (
        "exemption (active until 2030-01-01): semgrep/exec-dynamic-code: codegen (approved by sam)"
        in out
    )
    assert "sensitive: gate-configuration" in out


def test_load_file_missing(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_file(tmp_path / "nope.yaml")
