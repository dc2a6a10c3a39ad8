"""The config check's policy settings: the top-level ``config_rules`` list.

(``checks.config`` itself takes the common settings; key-level rules are a
list of their own because they are matched by path, one rule per recipe family.)
"""

from __future__ import annotations

from pydantic import Field

from traingate.policy.base import NonEmptyStr, Pattern, Strict, empty_dict, empty_list


class ConfigForbid(Strict):
    key: NonEmptyStr = Field(description="Key-path glob, e.g. '**.trust_remote_code'.")
    value: bool | int | float | str | None = Field(
        default=None, description="Forbidden value; omitted: any value of that key is forbidden."
    )
    any_value: bool = Field(default=False, description="Forbid the key whatever its value.")


class ConfigBound(Strict):
    min: float | None = Field(default=None, strict=False)
    max: float | None = Field(default=None, strict=False)


class ConfigRule(Strict):
    """Key-level rules for training configs (YAML, JSON, TOML) matched by path."""

    name: NonEmptyStr
    paths: list[Pattern] = Field(min_length=1)
    forbid: list[ConfigForbid] = Field(default_factory=empty_list)
    approval_keys: list[NonEmptyStr] = Field(
        default_factory=empty_list, description="Key-path globs whose change needs approval_group."
    )
    approval_group: str | None = Field(
        default=None, description="Who approves approval_keys changes (default: security_group)."
    )
    target_allow: list[NonEmptyStr] | None = Field(
        default=None, description="Allowed module prefixes for Hydra/OmegaConf _target_ values."
    )
    url_hosts: list[NonEmptyStr] | None = Field(
        default=None, description="Allowed hosts for any string value that is a URL."
    )
    bounds: dict[NonEmptyStr, ConfigBound] = Field(
        default_factory=empty_dict, description="Numeric bounds per key-path glob."
    )
    path_allow: list[NonEmptyStr] | None = Field(
        default=None,
        description="Allowed location prefixes (paths or URLs) for data and checkpoint keys "
        "(path_keys), judged after interpolation; a value from the environment is outside.",
    )
    path_keys: list[NonEmptyStr] | None = Field(
        default=None,
        description="Key-path globs judged by path_allow (default: common data and "
        "checkpoint keys, docs/checks/config.md).",
    )
