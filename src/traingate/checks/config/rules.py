"""The config check's rule catalog, and the one way its findings are made."""

from __future__ import annotations

from traingate.catalog import Rule, declare
from traingate.change import ChangedFile
from traingate.findings import Finding
from traingate.policy.base import Severity

ID = "config"
DESCRIPTION = "Key-level policy for training configs; risky env, launcher and dependency changes."

RULES = declare(
    ID,
    [
        Rule(
            "config-trust-remote-code",
            Severity.ERROR,
            "any …trust_remote_code key becomes true",
            category="config",
        ),
        Rule(
            "config-dangerous-target",
            Severity.ERROR,
            "a Hydra/OmegaConf _target_ (or class_path) resolves into os, subprocess, builtins, importlib, pickle, runpy, ctypes, eval/exec, torch.load…",
            category="config",
        ),
        Rule(
            "config-auto-map",
            Severity.ERROR,
            "auto_map is added to a model config.json / tokenizer_config.json (transformers imports code from the repo), or a value is set to another hub repository's code (repo--module.Class)",
            category="config",
        ),
        Rule(
            "config-duplicate-key",
            Severity.ERROR,
            "a YAML or JSON key is repeated: the later value silently wins",
            category="config",
        ),
        Rule(
            "config-python-tag",
            Severity.ERROR,
            "a custom YAML tag (!!python/object/apply:...) that constructs objects when loaded unsafely",
            category="config",
        ),
        Rule(
            "config-parse-error",
            Severity.ERROR,
            "a config in a checked path does not parse (the parser's line and column)",
            category="config",
        ),
        Rule(
            "config-risky-env",
            Severity.ERROR,
            "a launcher script or env file sets a risky variable (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, LD_PRELOAD, PYTHONPATH to a temp dir, PYTHONSTARTUP, NCCL_* error handling)",
            category="config",
        ),
        Rule(
            "config-dependency-source",
            Severity.ERROR,
            "a dependency is swapped for a URL, git+, a local path, or an extra index (requirements, environment.yml, pip.conf, pyproject incl. Poetry/PDM sources, uv.toml)",
            category="config",
        ),
        Rule(
            "config-key-change",
            Severity.WARNING,
            "a key matching approval_keys is added, changed or removed",
            category="config",
        ),
        Rule(
            "config-forbidden",
            Severity.ERROR,
            "a key (and value) matching forbid",
            category="config",
        ),
        Rule(
            "config-target-not-allowed",
            Severity.ERROR,
            "a _target_ outside target_allow module prefixes",
            category="config",
        ),
        Rule(
            "config-url-host",
            Severity.ERROR,
            "a URL value whose host is not in url_hosts",
            category="config",
        ),
        Rule(
            "config-out-of-bounds",
            Severity.ERROR,
            "a numeric key outside bounds",
            category="config",
        ),
        Rule(
            "config-untrusted-target",
            Severity.ERROR,
            "a _target_ / _component_ / class_path built from an environment variable, a custom resolver or a missing key: what it instantiates is decided when the job runs",
            help="write the target as a literal dotted path to your own class",
            category="config",
            since="0.2.0",
        ),
        Rule(
            "config-resolver-code",
            Severity.ERROR,
            "a value calls an OmegaConf resolver that evaluates code (eval-like, or registered with eval/exec in the change) with more than arithmetic, or passes code to any custom resolver",
            help="compute the value in code, or keep resolver arguments to plain arithmetic",
            category="config",
            since="0.2.0",
        ),
        Rule(
            "config-log-egress",
            Severity.ERROR,
            "a logging config (dictConfig `class`, or a _target_) adds a handler that sends records to another host: HTTPHandler, SocketHandler, DatagramHandler, SMTPHandler",
            help="log to files or the console and let the cluster's log shipping collect them",
            category="config",
            since="0.2.0",
        ),
        Rule(
            "config-model-upload",
            Severity.ERROR,
            "a config or launch line turns on push_to_hub, or changes where it uploads the trained model (hub_model_id, push_to_hub_organization, hub_private_repo made false): the weights go to a hub repository the change chooses",
            help="push from a reviewed release job, to a repository of your organisation; or approve the destination",
            category="config",
            since="0.2.0",
        ),
        Rule(
            "config-external-source",
            Severity.ERROR,
            "hydra.searchpath adds a config directory, or pytest's pythonpath a module directory, outside the repository (an absolute path, a `..` out of it, or a value read from the environment)",
            help="keep config directories and test helpers in the repository, or add them from a reviewed dependency (pkg:// for Hydra)",
            category="config",
            since="0.2.0",
        ),
        Rule(
            "config-dangerous-name",
            Severity.ERROR,
            "a value under any key is the dotted name of a callable that runs a command, evaluates code or unpickles (`collate_fn: subprocess.getoutput`): code that looks the key up by name calls it",
            help="name your own function; a value that must name such a callable needs the security group's review",
            category="config",
            since="0.2.0",
        ),
        Rule(
            "config-target-in-code",
            Severity.ERROR,
            "a Python file writes a config node whose _target_, _component_ or class_path the target check calls dangerous (a dict for instantiate, a YAML string for OmegaConf.create, a Hydra override), or hands such a name to a resolver (hydra.utils.get_method, pydoc.locate)",
            help="point the target at your own classes; a node that must name such a callable needs the security group's review",
            category="config",
            since="0.3.0",
        ),
        Rule(
            "config-path-not-allowed",
            Severity.ERROR,
            "a data or checkpoint path key (path_keys) resolves outside the rule's path_allow prefixes, or to a value decided when the job runs",
            help="keep data and checkpoints under the allowed locations; see path_allow",
            category="config",
            since="0.2.0",
        ),
    ],
)


def _finding(
    f: ChangedFile,
    rule: str,
    line: int | None,
    col: int | None,
    msg: str,
    help: str | None = None,
    group: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    return RULES.finding(
        rule,
        path=f.path,
        line=line,
        column=col,
        severity=severity,
        message=msg,
        help=help or "see docs/checks/config.md",
        approval_group=group,
    )
