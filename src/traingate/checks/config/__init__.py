"""Training configs, launcher env and dependency files: key-level policy (issue #6).

Much sabotage never looks like code: a seed changed in YAML, ``trust_remote_code:
true``, a Hydra ``_target_`` pointing at ``os.system``, a checkpoint URL swapped
for another host, ``--extra-index-url`` in requirements. Configs are parsed on
both sides of the diff with safe loaders and compared key by key; findings point
at the new value's line and column.

The check is ``rules`` (the catalog) and ``check`` (``run``: which files, and the
judges): ``targets`` (what instantiating a config runs), ``env`` (risky variables
and dependency sources), ``policy_rules`` (the policy's ``config_rules``), with
``effective`` (a key's value after interpolation). The parsers are standard
library and PyYAML only: ``parse`` (the entry point), ``parse_yaml`` (over the
shared composer in :mod:`traingate.yamlsafe`), ``parse_json`` (and JSONC),
``parse_toml``; ``doc`` (what a parse returns), ``interpolation``, ``keypath``
and ``diff``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from traingate.checks.config.rules import DESCRIPTION, ID, RULES
from traingate.policy.base import CheckSettings

if TYPE_CHECKING:
    from traingate.checks.base import Context
    from traingate.findings import Finding

# `checks.config` in the policy (key-level rules are the top-level
# `config_rules`, see settings.py); traingate.policy.model assembles the policy.
Settings = CheckSettings

__all__ = ["DESCRIPTION", "ID", "RULES", "Settings", "run"]


def run(ctx: Context) -> list[Finding]:
    # The parsers and judges load only when a config file changed: the hook's
    # no-relevant-file path never pays for them.
    from traingate.checks.config.check import run as run_check

    return run_check(ctx)
