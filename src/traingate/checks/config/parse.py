"""Parse training configs (YAML, JSON, JSONC, TOML) into positioned leaves.

A config is flattened to its *leaves*: scalar values and empty containers, keyed by
their path (mapping keys are ``str`` segments, list indexes ``int`` segments), each
with the 1-based line and column it came from, so a check can say "``optimizer.lr``
changed from 3e-4 to 3e-2 at line 7" and match keys with globs like
``**.trust_remote_code``.

Security properties, since the text under review is attacker-controlled:

* YAML is only *composed* (with a ``SafeLoader`` subclass) and walked here; nothing
  is constructed except core-schema scalars. Nodes with ``!!python/*`` or any other
  non-core tag are reported in ``python_tags`` and their leaf value is their source
  text. Aliases and merge keys are expanded by this module under a node budget
  (``max_nodes``), so an alias bomb ("billion laughs") raises :class:`ConfigError`
  after ``max_nodes`` steps instead of exhausting memory; recursive aliases raise too.
* Duplicate keys (legal in PyYAML and ``json``, where the later value silently wins)
  are reported with the position of every occurrence.
* Every failure, including pathological nesting, is a :class:`ConfigError`.

Values follow what training code would see from ``yaml.safe_load`` (YAML 1.1: ``on``
is ``True``, and ``3e-4`` without a dot is the *string* "3e-4"), ``json.loads`` and
``tomllib.loads``.

This module picks the parser (:func:`config_format`) and is the one entry point
to them (:func:`parse_config`); the diff is in ``diff``, key paths in ``keypath``.
"""

from __future__ import annotations

import re

from traingate.checks.config.doc import ConfigDoc, ConfigError, _Budget
from traingate.checks.config.parse_json import _parse_json, _parse_jsonc

_FORMATS = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".jsonc": "jsonc",
    ".json5": None,
    ".toml": "toml",
}
# JSON files whose readers accept comments and trailing commas (issue #16: a
# .devcontainer/devcontainer.json with comments failed as config-parse-error;
# and .devcontainer/<name>/devcontainer.json, the spec's one configuration per
# folder, as espnet ships four).
# Only these: a training config.json is read by json.loads, for which a comment
# is an error, and reading it as JSONC would make the gate see keys that its
# reader never does.
_JSONC_NAMES = re.compile(
    r"(?:^|/)(?:\.devcontainer/(?:[^/]+/)?[^/]*\.json|\.devcontainer\.json|\.vscode/[^/]*\.json"
    r"|[^/]*\.code-workspace|(?:ts|js)config(?:\.[^/]*)?\.json|\.eslintrc\.json"
    r"|\.babelrc(?:\.json)?|language-configuration\.json)$",
    re.IGNORECASE,
)


def config_format(path: str) -> str | None:
    """The format of a config file: "yaml", "json", "jsonc" (JSON with comments, by
    file name: devcontainer, VS Code, tsconfig...), "toml" or None."""
    if _JSONC_NAMES.search(path):
        return "jsonc"
    dot = path.rfind(".")
    return _FORMATS.get(path[dot:].lower()) if dot > path.rfind("/") else None


def parse_config(fmt: str, text: str, *, max_nodes: int = 100_000) -> ConfigDoc:
    """Parse ``text`` as ``fmt`` ("yaml", "json" or "toml"); raises :class:`ConfigError`.

    ``max_nodes`` bounds the work, counting every node visited after expanding YAML
    aliases and merges. An unknown ``fmt`` is a caller bug: :class:`ValueError`.
    """
    # YAML and TOML load with their first config: a hook run whose change holds
    # none (docs, code) never imports PyYAML or tomllib (issue #17).
    from traingate.checks.config.parse_toml import _parse_toml
    from traingate.checks.config.parse_yaml import _parse_yaml

    parser = {
        "yaml": _parse_yaml,
        "json": _parse_json,
        "jsonc": _parse_jsonc,
        "toml": _parse_toml,
    }.get(fmt)
    if parser is None:
        raise ValueError(f"unknown config format {fmt!r}")
    try:
        return parser(text, _Budget(max_nodes))
    except RecursionError:
        raise ConfigError(1, 1, "config is nested too deeply to check") from None
