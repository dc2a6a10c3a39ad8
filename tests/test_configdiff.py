"""Config parsing with positions, duplicate keys, unsafe tags and key-path diffs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traingate.checks.config.diff import diff_configs
from traingate.checks.config.doc import ConfigDoc, ConfigError, ConfigValue, KeyChange
from traingate.checks.config.keypath import format_path, match_key_pattern
from traingate.checks.config.parse import config_format, parse_config

from .fuzz import fuzz

OLD_YAML = """\
model:
  name: llama
optimizer:
  name: adamw
  lr: 3e-4
  betas: [0.9, 0.999]
layers:
  - size: 1024
  - size: 2048
seed: 42
"""

NEW_YAML = """\
model:
  name: llama
optimizer:
  name: adamw
  lr: 3e-2
  betas: [0.9, 0.95]
layers:
  - size: 1024
  - size: 4096
data:
  train_path: s3://bucket/train
"""


def changes(old: ConfigDoc | None, new: ConfigDoc) -> list[tuple[str, str, object, object]]:
    return [(format_path(c.path), c.kind, c.old, c.new) for c in diff_configs(old, new)]


# --- diffs ---------------------------------------------------------------------


def test_yaml_diff() -> None:
    diff = diff_configs(parse_config("yaml", OLD_YAML), parse_config("yaml", NEW_YAML))
    assert diff == [
        # yaml.safe_load reads 3e-4 (no dot) as a string: values are what it sees.
        KeyChange(("optimizer", "lr"), "changed", "3e-4", "3e-2", 5, 7),
        KeyChange(("optimizer", "betas", 1), "changed", 0.999, 0.95, 6, 16),
        KeyChange(("layers", 1, "size"), "changed", 2048, 4096, 9, 11),
        KeyChange(("data", "train_path"), "added", None, "s3://bucket/train", 11, 15),
        KeyChange(("seed",), "removed", 42, None, 10, 7),  # position in the old doc
    ]


def test_json_diff_numbers_and_list_items_by_index() -> None:
    old = parse_config("json", '{"optimizer": {"lr": 3e-4}, "layers": [1, 2, 3]}')
    new = parse_config("json", '{"optimizer": {"lr": 3e-2}, "layers": [1, 5]}')
    assert changes(old, new) == [
        ("optimizer.lr", "changed", 3e-4, 3e-2),
        ("layers[1]", "changed", 2, 5),
        ("layers[2]", "removed", 3, None),
    ]


def test_diff_of_new_file_is_all_added() -> None:
    new = parse_config("toml", 'a = 1\n[b]\nc = "x"\n')
    assert changes(None, new) == [("a", "added", None, 1), ("b.c", "added", None, "x")]


def test_diff_is_type_strict_and_nan_stable() -> None:
    old = parse_config("json", '{"a": 1, "b": NaN, "c": 1.0, "d": []}')
    new = parse_config("json", '{"a": true, "b": NaN, "c": 1.0, "d": {}}')
    assert changes(old, new) == [("a", "changed", 1, True), ("d", "changed", [], {})]


def test_value_becoming_a_mapping() -> None:
    old = parse_config("yaml", "scheduler: cosine\n")
    new = parse_config("yaml", "scheduler:\n  name: cosine\n")
    assert changes(old, new) == [
        ("scheduler.name", "added", None, "cosine"),
        ("scheduler", "removed", "cosine", None),
    ]


def test_identical_docs_have_no_diff() -> None:
    assert diff_configs(parse_config("yaml", OLD_YAML), parse_config("yaml", OLD_YAML)) == []


# --- positions and leaves ------------------------------------------------------


def test_yaml_leaves_have_one_based_positions() -> None:
    doc = parse_config("yaml", OLD_YAML)
    assert doc.fmt == "yaml"
    assert doc.leaves[("model", "name")] == ConfigValue(("model", "name"), "llama", 2, 9)
    assert doc.leaves[("layers", 0, "size")] == ConfigValue(("layers", 0, "size"), 1024, 8, 11)
    assert list(doc.leaves) == [
        ("model", "name"),
        ("optimizer", "name"),
        ("optimizer", "lr"),
        ("optimizer", "betas", 0),
        ("optimizer", "betas", 1),
        ("layers", 0, "size"),
        ("layers", 1, "size"),
        ("seed",),
    ]


def test_empty_containers_are_leaves() -> None:
    doc = parse_config("yaml", "callbacks: []\nextra: {}\n")
    assert doc.leaves[("callbacks",)] == ConfigValue(("callbacks",), [], 1, 12)
    assert doc.leaves[("extra",)] == ConfigValue(("extra",), {}, 2, 8)


def test_yaml_1_1_values_as_safe_load_sees_them() -> None:
    doc = parse_config("yaml", "trust_remote_code: yes\nyes: 1\nn: ~\nt: 2024-01-02\n")
    assert doc.leaves[("trust_remote_code",)].value is True
    assert ("true",) in doc.leaves  # a `yes` key is True to safe_load
    assert doc.leaves[("n",)].value is None
    assert str(doc.leaves[("t",)].value) == "2024-01-02"


def test_yaml_multi_document_paths_start_with_the_index() -> None:
    doc = parse_config("yaml", "a: 1\n---\na: 2\n")
    assert doc.leaves[(0, "a")].value == 1
    assert doc.leaves[(1, "a")] == ConfigValue((1, "a"), 2, 3, 4)


def test_yaml_scalar_document_and_empty_stream() -> None:
    assert parse_config("yaml", "42\n").leaves == {(): ConfigValue((), 42, 1, 1)}
    assert parse_config("yaml", "# only a comment\n").leaves == {}


def test_json_positions() -> None:
    doc = parse_config("json", '{\n  "optimizer": {"lr": 0.001},\n  "tags": ["a", "b"]\n}\n')
    assert doc.leaves[("optimizer", "lr")] == ConfigValue(("optimizer", "lr"), 0.001, 2, 23)
    assert doc.leaves[("tags", 1)] == ConfigValue(("tags", 1), "b", 3, 17)


def test_json_with_byte_order_mark() -> None:
    doc = parse_config("json", '\ufeff{"a": 1}')
    assert doc.leaves == {("a",): ConfigValue(("a",), 1, 1, 8)}


def test_toml_positions_are_approximate_but_useful() -> None:
    text = (
        "title = 'run'\n"  # 1
        "[optimizer]\n"  # 2
        "lr = 3e-4\n"  # 3
        'notes = """\n'  # 4
        "[not_a_table]\n"  # 5
        '"""\n'  # 6
        "betas = [\n"  # 7
        "  0.9,\n"  # 8
        "  0.95]\n"  # 9
        "[[layers]]\n"  # 10
        "size = 1\n"  # 11
        "[[layers]]\n"  # 12
        "  size = 2\n"  # 13
        '"quoted.key" = {a = 1}\n'  # 14
    )
    doc = parse_config("toml", text)
    assert doc.leaves[("optimizer", "lr")] == ConfigValue(("optimizer", "lr"), 3e-4, 3, 1)
    assert doc.leaves[("optimizer", "notes")].value == "[not_a_table]\n"
    # List items and inline tables get the position of their key.
    assert doc.leaves[("optimizer", "betas", 1)] == ConfigValue(
        ("optimizer", "betas", 1), 0.95, 7, 1
    )
    assert doc.leaves[("layers", 0, "size")].line == 11
    assert doc.leaves[("layers", 1, "size")][2:] == (13, 3)
    assert doc.leaves[("layers", 1, "quoted.key", "a")][2:] == (14, 1)


# --- duplicate keys ------------------------------------------------------------


def test_yaml_duplicate_keys_report_every_occurrence() -> None:
    text = "training:\n  trust_remote_code: false\n  epochs: 3\n  trust_remote_code: true\n"
    doc = parse_config("yaml", text)
    path = ("training", "trust_remote_code")
    assert doc.duplicate_keys == [
        ConfigValue(path, False, 2, 3),
        ConfigValue(path, True, 4, 3),
    ]
    assert doc.leaves[path] == ConfigValue(path, True, 4, 22)  # the later one wins


def test_yaml_duplicate_keys_spelled_differently() -> None:
    doc = parse_config("yaml", "on: 1\ntrue: 2\n")  # both are the key True
    assert [(d.path, d.line) for d in doc.duplicate_keys] == [(("true",), 1), (("true",), 2)]


def test_yaml_duplicate_mapping_value_drops_the_earlier_leaves() -> None:
    doc = parse_config("yaml", "opt:\n  lr: 1\n  wd: 2\nopt:\n  lr: 3\n")
    assert set(doc.leaves) == {("opt", "lr")}
    assert doc.leaves[("opt", "lr")].value == 3
    assert [d.value for d in doc.duplicate_keys] == [{"lr": 1, "wd": 2}, {"lr": 3}]


def test_json_duplicate_keys_with_positions() -> None:
    text = '{\n  "lr": 0.1,\n  "model": {"name": "a", "name": "b"},\n  "lr": 0.2\n}'
    doc = parse_config("json", text)
    assert doc.duplicate_keys == [
        ConfigValue(("lr",), 0.1, 2, 3),
        ConfigValue(("model", "name"), "a", 3, 13),
        ConfigValue(("model", "name"), "b", 3, 26),
        ConfigValue(("lr",), 0.2, 4, 3),
    ]
    assert doc.leaves[("lr",)].value == 0.2
    assert doc.leaves[("model", "name")].value == "b"


def test_toml_duplicate_key_is_a_parse_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("toml", '[model]\nname = "x"\nname = "y"\n')
    assert err.value.line == 3


# --- unsafe tags -----------------------------------------------------------------


def test_python_object_apply_is_recorded_not_executed(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    text = f'model:\n  name: llama\n  init: !!python/object/apply:os.system ["touch {target}"]\n'
    doc = parse_config("yaml", text)
    assert not target.exists()
    assert doc.python_tags == [
        ConfigValue(("model", "init"), "!!python/object/apply:os.system", 3, 9)
    ]
    # The leaf is the source text, so a diff shows what was added.
    leaf = doc.leaves[("model", "init")]
    assert leaf.value == f'!!python/object/apply:os.system ["touch {target}"]'
    assert (leaf.line, leaf.column) == (3, 9)


def test_other_python_and_custom_tags(tmp_path: Path) -> None:
    text = (
        "a: !!python/name:os.system\n"
        "b: !!python/object:collections.OrderedDict {x: 1}\n"
        "c: !custom 12\n"
        "d: !!str 12\n"  # core schema: fine
        "e: !!python/object/new:tuple [[!!python/name:os.system ]]\n"
    )
    doc = parse_config("yaml", text)
    assert [(t.path, t.value, t.line) for t in doc.python_tags] == [
        (("a",), "!!python/name:os.system", 1),
        (("b",), "!!python/object:collections.OrderedDict", 2),
        (("c",), "!custom", 3),
        (("e",), "!!python/object/new:tuple", 5),
        (("e",), "!!python/name:os.system", 5),  # nested tags are found too
    ]
    assert doc.leaves[("d",)].value == "12"


def test_tags_are_reported_under_an_overridden_duplicate_key() -> None:
    # An unsafe loader constructs the first value before the second replaces it.
    doc = parse_config("yaml", "x: !!python/object/apply:os.system [id]\nx: 1\n")
    assert [t.line for t in doc.python_tags] == [1]
    assert doc.leaves[("x",)].value == 1


def test_plain_equals_key_is_a_string() -> None:
    assert parse_config("yaml", "=: 1\n").leaves == {("=",): ConfigValue(("=",), 1, 1, 4)}


def test_tagged_key() -> None:
    doc = parse_config("yaml", "? !!python/name:os.system\n: 1\n")
    assert [t.value for t in doc.python_tags] == ["!!python/name:os.system"]


# --- aliases and merge keys ------------------------------------------------------


def test_alias_bomb_raises() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in range(1, 10):
        prev, cur = chr(ord("a") + k - 1), chr(ord("a") + k)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(ConfigError, match="more than 100000 nodes"):
        parse_config("yaml", "\n".join(lines) + "\n")


def test_merge_key_bomb_raises() -> None:
    lines = ["m0: &m0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8}"]
    for k in range(1, 10):
        refs = ", ".join([f"*m{k - 1}"] * 8)
        lines.append(f"m{k}: &m{k} {{<<: [{refs}], own{k}: 1}}")
    with pytest.raises(ConfigError, match="nodes"):
        parse_config("yaml", "\n".join(lines) + "\n", max_nodes=10_000)


def test_recursive_alias_raises() -> None:
    with pytest.raises(ConfigError, match="recursive"):
        parse_config("yaml", "a: &a\n  - *a\n")
    with pytest.raises(ConfigError, match="recursive"):
        parse_config("yaml", "a: &a {<<: *a}\n")


def test_aliases_are_expanded_at_the_alias_position() -> None:
    text = "defaults: &d\n  lr: 0.1\n  wd: 0.01\nrun:\n  opt: *d\n"
    doc = parse_config("yaml", text)
    assert doc.leaves[("run", "opt", "lr")] == ConfigValue(("run", "opt", "lr"), 0.1, 5, 8)
    assert doc.leaves[("defaults", "lr")][2:] == (2, 7)


def test_merge_keys() -> None:
    text = (
        "base: &base\n"  # 1
        "  lr: 0.1\n"  # 2
        "  wd: 0.01\n"  # 3
        "extra: &extra\n"  # 4
        "  wd: 0.5\n"  # 5
        "  warmup: 10\n"  # 6
        "run:\n"  # 7
        "  <<: [*base, *extra]\n"  # 8
        "  lr: 0.2\n"  # 9
    )
    doc = parse_config("yaml", text)
    run = {k[1]: (v.value, v.line, v.column) for k, v in doc.leaves.items() if k[0] == "run"}
    # Explicit keys beat merged ones; the earlier merged mapping beats the later.
    assert run == {"lr": (0.2, 9, 7), "wd": (0.01, 8, 8), "warmup": (10, 8, 15)}
    assert doc.duplicate_keys == []


def test_inline_merge_and_bad_merge() -> None:
    doc = parse_config("yaml", "a:\n  <<: {x: 1}\n  y: 2\n")
    assert doc.leaves[("a", "x")] == ConfigValue(("a", "x"), 1, 2, 11)
    with pytest.raises(ConfigError, match="merge key") as err:
        parse_config("yaml", "a:\n  <<: 5\n")
    assert (err.value.line, err.value.column) == (2, 7)


# --- parse errors ----------------------------------------------------------------


def test_yaml_parse_error_position() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("yaml", "model:\n  name: x\n   bad: 1\n")
    assert (err.value.line, err.value.column) == (3, 7)
    assert "mapping values are not allowed" in err.value.message
    assert str(err.value).startswith("3:7: ")


def test_yaml_errors_beyond_the_parser() -> None:
    cases = {
        "a: *nope\n": (1, 4),  # undefined alias
        "a: \x07\n": (1, 4),  # control character
        "a: !!int abc\n": (1, 4),  # core tag, bad value
        "a: =\n": (1, 4),  # safe_load has no constructor for the value tag
        "a: <<\n": (1, 4),  # nor for a merge tag outside a key
        "? [1, 2]\n: x\n": (1, 3),  # complex key
    }
    for text, pos in cases.items():
        with pytest.raises(ConfigError) as err:
            parse_config("yaml", text)
        assert (err.value.line, err.value.column) == pos, text


def test_yaml_deep_nesting_is_a_located_error() -> None:
    # Either our own depth bound or the parser's (PyYAML >= 6.0.2 has one, at a
    # position of its own choosing) may stop it first: the behaviour that matters
    # is a blocking error on line 1, inside the text, that says why.
    for text in ["[" * 2000, "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 400))]:
        with pytest.raises(ConfigError) as err:
            parse_config("yaml", text)
        assert "nested too deeply" in err.value.message
        lines = text.splitlines() or [""]
        assert 1 <= err.value.line <= len(lines)
        assert 1 <= err.value.column <= len(lines[err.value.line - 1]) + 1


def test_json_parse_error_position() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("json", '{\n  "a": 1,\n  "b": ,\n}')
    assert (err.value.line, err.value.column, err.value.message) == (3, 8, "Expecting value")
    with pytest.raises(ConfigError) as err:
        parse_config("json", '{"a": 1,}')
    assert (err.value.line, err.value.column) == (1, 9)


def test_toml_parse_error_position() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("toml", 'a = 1\nb = "unterminated\n')
    assert (err.value.line, err.value.column) == (2, 18)
    assert err.value.message and "(at line" not in err.value.message


def test_deep_nesting_is_a_config_error() -> None:
    for fmt, text in [("json", "[" * 300 + "]" * 300), ("toml", "a = " + "[" * 3000)]:
        with pytest.raises(ConfigError, match="nest"):
            parse_config(fmt, text)


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_config("ini", "a=1")


# --- paths and patterns ----------------------------------------------------------


def test_config_format() -> None:
    assert config_format("configs/train.yaml") == "yaml"
    assert config_format("a.YML") == "yaml"
    assert config_format("x/params.json") == "json"
    assert config_format("pyproject.toml") == "toml"
    assert config_format("train.py") is None
    assert config_format("configs.yaml/README") is None
    assert config_format("Makefile") is None


def test_format_path() -> None:
    assert format_path(("optimizer", "lr")) == "optimizer.lr"
    assert format_path(("layers", 2, "size")) == "layers[2].size"
    assert format_path((0, "kind")) == "[0].kind"
    assert format_path(("model", "a.b", "c d")) == 'model["a.b"]["c d"]'
    assert format_path(("x", "\u202e")) == 'x["\\u202e"]'  # no raw bidi in output
    assert format_path(()) == "(root)"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**.trust_remote_code", ("trust_remote_code",), True),
        ("**.trust_remote_code", ("model", "kwargs", "trust_remote_code"), True),
        ("**.trust_remote_code", ("model", "trust_remote_code_x"), False),
        ("optimizer.**", ("optimizer",), True),
        ("optimizer.**", ("optimizer", "lr"), True),
        ("optimizer.**", ("optimizer", "param_groups", 0, "lr"), True),
        ("optimizer.**", ("optimizers", "lr"), False),
        ("data.*", ("data", "train_path"), True),
        ("data.*", ("data",), False),
        ("data.*", ("data", "train", "path"), False),
        ("data.*_path", ("data", "train_path"), True),
        ("resume_from_checkpoint", ("resume_from_checkpoint",), True),
        ("resume_from_checkpoint", ("trainer", "resume_from_checkpoint"), False),
        ("layers.*.size", ("layers", 3, "size"), True),
        ("layers[*].size", ("layers", 3, "size"), True),
        ("layers[2].size", ("layers", 2, "size"), True),
        ("layers.2.size", ("layers", 2, "size"), True),
        ("layers[2].size", ("layers", 3, "size"), False),
        ('model["a.b"]', ("model", "a.b"), True),
        ("**", (), True),
        ("**.a.**.b", ("x", "a", "y", "z", "b"), True),
        ("**.a.**.b", ("x", "a", "y", "z", "c"), False),
        ("a.**.b", ("a", "b"), True),
        ("Model.lr", ("model", "lr"), False),  # case-sensitive
    ],
)
def test_match_key_pattern(pattern: str, path: tuple[str | int, ...], expected: bool) -> None:
    assert match_key_pattern(pattern, path) is expected


def test_format_path_output_is_an_exact_pattern() -> None:
    paths: list[tuple[str | int, ...]] = [("a", 1, "b"), ("x", "a.b", "*"), ("q", 'say "hi"')]
    for path in paths:
        assert match_key_pattern(format_path(path), path)


@pytest.mark.parametrize("pattern", ["a..b", ".a", "a.", "a[1", "a[1]b", 'a["x]'])
def test_malformed_patterns_raise(pattern: str) -> None:
    with pytest.raises(ValueError):
        match_key_pattern(pattern, ("a",))


# --- robustness ------------------------------------------------------------------

_CONFIG_CHARS = st.sampled_from(
    list("ab01 :-,.[]{}\"'#&*!<>|=\n\t\\?~%@`")
    + ["<<", "!!python/name:os.system", "---", "\ufeff", "\x00", "é", "\r", "true", "1e5"]
)
_CONFIG_TEXT = st.one_of(st.text(max_size=80), st.lists(_CONFIG_CHARS, max_size=60).map("".join))


@fuzz(400)
@given(fmt=st.sampled_from(["yaml", "json", "toml"]), text=_CONFIG_TEXT)
def test_parse_config_returns_or_raises_config_error(fmt: str, text: str) -> None:
    try:
        doc = parse_config(fmt, text, max_nodes=2_000)
    except ConfigError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    assert doc.fmt == fmt
    for path, leaf in doc.leaves.items():
        assert leaf.path == path and leaf.line >= 1 and leaf.column >= 1
    assert all(d.line >= 1 for d in doc.duplicate_keys)
    assert diff_configs(doc, doc) == []  # any parsed value compares equal to itself


def test_nan_values_do_not_show_as_changes() -> None:
    doc = parse_config("yaml", "a: .nan\n")
    value = doc.leaves[("a",)].value
    assert isinstance(value, float) and math.isnan(value)
    assert diff_configs(doc, doc) == []
