"""Training configs, launcher env and dependency files: key-level policy (issue #6).

Much sabotage never looks like code: a seed changed in YAML, ``trust_remote_code:
true``, a Hydra ``_target_`` pointing at ``os.system``, a checkpoint URL swapped
for another host, ``--extra-index-url`` in requirements. Configs are parsed on
both sides of the diff with safe loaders (:mod:`traingate.configdiff`) and
compared key by key; findings point at the new value's line and column.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from traingate import configdiff, paths
from traingate.catalog import Rule, declare
from traingate.change import ChangedFile, Status
from traingate.checks.base import Context
from traingate.configdiff import ConfigDoc, KeyChange, format_path, match_key_pattern
from traingate.findings import Finding
from traingate.policy.model import ConfigRule, Policy, Severity

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
            "auto_map is added to a model config.json / tokenizer_config.json (transformers imports code from the repo)",
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
            "a dependency is swapped for a URL, git+, a local path, or an extra index",
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
    ],
)

# _target_ prefixes that turn a config into code execution.
_DANGEROUS_MODULES = (
    "os",
    "posix",
    "nt",
    "subprocess",
    "builtins",
    "__builtin__",
    "importlib",
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "marshal",
    "runpy",
    "shutil",
    "socket",
    "pty",
    "ctypes",
    "code",
    "codeop",
    "sys",
    "webbrowser",
    "pdb",
    "multiprocessing",
    "asyncio.subprocess",
)
_DANGEROUS_CALLABLES = (
    "eval",
    "exec",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "open",
    "input",
    "breakpoint",
    "torch.load",
    "numpy.load",
    "joblib.load",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "torch.hub.load",
    "pandas.read_pickle",
)


def _dangerous_target(target: str) -> bool:
    t = target.strip()
    if t in _DANGEROUS_CALLABLES or t in _DANGEROUS_MODULES:
        return True
    return t.split(".", 1)[0] in _DANGEROUS_MODULES or any(
        t.startswith(c + ".") for c in _DANGEROUS_CALLABLES
    )


_ENV_FILES = re.compile(
    r"(^|/)(\.env(\..*)?|.*\.env|\.envrc|.*\.(sh|bash|zsh)|Makefile|Dockerfile|.*\.slurm|.*\.sbatch)$"
)
_RISKY_ENV = re.compile(
    r"""(?x)\b(?:
        (?P<weights>TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD|TORCH_FORCE_WEIGHTS_ONLY_LOAD\s*=\s*["']?0)
      | (?P<preload>LD_PRELOAD|LD_LIBRARY_PATH\s*=\s*["']?/(?:tmp|dev/shm|var/tmp))
      | (?P<pythonpath>PYTHONPATH\s*=\s*["']?[^\n]*(?:/tmp|/dev/shm|/var/tmp|\$HOME/\.|~/\.))
      | (?P<startup>PYTHONSTARTUP|PYTHONINSPECT|PYTHONHOME|PYTHONUSERBASE)
      | (?P<nccl>(?:TORCH_)?NCCL_[A-Z_]*TIMEOUT[A-Z_]*\s*=\s*["']?\d|NCCL_BLOCKING_WAIT\s*=\s*["']?0|NCCL_ASYNC_ERROR_HANDLING\s*=\s*["']?0)
    )"""
)
_REQUIREMENTS = re.compile(r"(^|/)(requirements[^/]*\.(txt|in)|constraints[^/]*\.txt)$")
_DEP_URL = re.compile(
    r"(--(extra-)?index-url|(^|\s)-i\s|--find-links|(^|\s)-f\s|--trusted-host|\bgit\+|https?://|file:|\s@\s)"
)
_CONFIG_FORMATS = ("yaml", "json", "toml")


def run(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    policy = ctx.policy.policy
    for f in ctx.files:
        if f.status is Status.DELETED or f.new_path is None:
            continue
        new_text = ctx.change.new_text(f)
        if new_text is None:
            continue
        name = f.new_path
        if _ENV_FILES.search(name):
            out.extend(_env_lines(f, new_text))
        if _REQUIREMENTS.search(name) or posixpath.basename(name) in (
            "environment.yml",
            "environment.yaml",
        ):
            out.extend(_dependency_lines(f, new_text))
        fmt = configdiff.config_format(name)
        if fmt not in _CONFIG_FORMATS:
            continue
        try:
            new = configdiff.parse_config(fmt, new_text, max_nodes=_max_nodes(fmt))
        except configdiff.ConfigError as exc:
            out.append(
                _finding(
                    f,
                    "config-parse-error",
                    exc.line,
                    exc.column,
                    f"cannot parse {fmt.upper()}: {exc.message}; an unparseable config is blocked",
                )
            )
            continue
        old = None
        old_text = ctx.change.old_text(f) if f.status is not Status.ADDED else None
        if old_text is not None:
            try:
                old = configdiff.parse_config(fmt, old_text, max_nodes=_max_nodes(fmt))
            except configdiff.ConfigError:
                old = None  # the base was broken: judge every key as new
        changes = (
            configdiff.diff_configs(old, new)
            if not ctx.scan_all
            else configdiff.diff_configs(None, new)
        )
        out.extend(_structural(f, new))
        out.extend(_builtin_keys(f, name, changes))
        if name.endswith("pyproject.toml"):
            out.extend(_pyproject(f, changes))
        seen: set[tuple[str, int | None, int | None, str | None]] = set()
        for rule in policy.config_rules:
            if not paths.matches(rule.paths, name, fold=policy.case_insensitive_paths):
                continue
            for hit in _policy_rule(f, rule, changes, policy):
                # Two rules asking the same group about the same key: say it once.
                key = (hit.rule_id, hit.line, hit.column, hit.approval_group)
                if key not in seen:
                    seen.add(key)
                    out.append(hit)
    return out


def _max_nodes(fmt: str) -> int:
    # The node budget stops YAML alias bombs; JSON/TOML have no aliases, and
    # real files (tokenizer.json) are large.
    return 100_000 if fmt == "yaml" else 5_000_000


def _finding(
    f: ChangedFile,
    rule: str,
    line: int | None,
    col: int | None,
    msg: str,
    help: str | None = None,
    group: str | None = None,
) -> Finding:
    return RULES.finding(
        rule,
        path=f.path,
        line=line,
        column=col,
        message=msg,
        help=help or "see docs/checks/config.md",
        approval_group=group,
    )


def _structural(f: ChangedFile, doc: ConfigDoc) -> Iterator[Finding]:
    for v in doc.duplicate_keys:
        yield _finding(
            f,
            "config-duplicate-key",
            v.line,
            v.column,
            f"duplicate key {format_path(v.path)}: the later value silently wins",
            "keep one definition of the key",
        )
    for v in doc.python_tags:
        yield _finding(
            f,
            "config-python-tag",
            v.line,
            v.column,
            f"custom YAML tag at {format_path(v.path)} constructs Python objects when loaded unsafely",
            "use plain YAML values; never load configs with yaml.load/unsafe_load",
        )


def _builtin_keys(f: ChangedFile, name: str, changes: list[KeyChange]) -> Iterator[Finding]:
    auto_map_seen = False
    for c in changes:
        if c.kind == "removed" or not c.path:
            continue
        key = str(c.path[-1])
        where = format_path(c.path)
        if key == "trust_remote_code" and c.new in (True, "true", "True", 1):
            yield _finding(
                f,
                "config-trust-remote-code",
                c.line,
                c.column,
                f"{where}: true runs Python code shipped with the model repository",
                "keep trust_remote_code false; vendor and review the model code instead",
            )
        elif key in ("_target_", "_partial_target_", "target", "class_path") and isinstance(
            c.new, str
        ):
            if key != "_target_" and "." not in c.new:
                continue
            if _dangerous_target(c.new):
                yield _finding(
                    f,
                    "config-dangerous-target",
                    c.line,
                    c.column,
                    f"{where} = {c.new!r} makes instantiating this config run arbitrary code",
                    "point _target_ at your own classes; see checks.config target_allow",
                )
        elif (
            (key == "auto_map" or (c.path and c.path[0] == "auto_map"))
            and not auto_map_seen
            and (
                posixpath.basename(name) in ("config.json", "tokenizer_config.json")
                and c.kind == "added"
            )
        ):
            yield _finding(
                f,
                "config-auto-map",
                c.line,
                c.column,
                f"{where} added: transformers will import custom code from the repository",
                "remove auto_map, or review the referenced modules and approve",
            )
            auto_map_seen = True


def _pyproject(f: ChangedFile, changes: list[KeyChange]) -> Iterator[Finding]:
    for c in changes:
        if c.kind == "removed" or not isinstance(c.new, str):
            continue
        path = format_path(c.path)
        in_deps = (
            "dependencies" in path
            or "requires" in path
            or path.startswith("tool.uv")
            or "index" in path
        )
        if in_deps and _DEP_URL.search(c.new):
            yield _finding(
                f,
                "config-dependency-source",
                c.line,
                c.column,
                f"{path} = {c.new!r}: a dependency from a URL or another index",
                "install packages by name from the approved index only",
            )


def _env_lines(f: ChangedFile, text: str) -> Iterator[Finding]:
    added = set(f.added_lines)
    for n, line in enumerate(text.splitlines(), 1):
        if n not in added or line.lstrip().startswith("#"):
            continue
        m = _RISKY_ENV.search(line)
        if m:
            kind = next(k for k, v in m.groupdict().items() if v)
            yield _finding(
                f,
                "config-risky-env",
                n,
                m.start() + 1,
                f"sets {m.group(0).split('=')[0].strip()!r} ({_ENV_WHY[kind]})",
                "remove it from launcher scripts and env files, or get it approved",
            )


_ENV_WHY = {
    "weights": "disables torch.load's weights-only protection: pickles run code again",
    "preload": "loads a shared library into every process",
    "pythonpath": "puts a temporary or hidden directory ahead of installed packages",
    "startup": "runs or redirects code at interpreter start",
    "nccl": "changes collective timeouts or error handling: hangs and silent failures",
}


def _dependency_lines(f: ChangedFile, text: str) -> Iterator[Finding]:
    added = set(f.added_lines)
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.split(" #", 1)[0].strip()
        if n not in added or not stripped or stripped.startswith("#"):
            continue
        m = _DEP_URL.search(stripped)
        if m:
            yield _finding(
                f,
                "config-dependency-source",
                n,
                line.find(stripped) + 1,
                f"dependency source changed: {stripped!r}",
                "install packages by name from the approved index; pin with hashes",
            )


def _policy_rule(
    f: ChangedFile, rule: ConfigRule, changes: list[KeyChange], policy: Policy
) -> Iterator[Finding]:
    group = rule.approval_group or policy.security_group
    for c in changes:
        where = format_path(c.path)
        for fb in rule.forbid:
            if (
                c.kind != "removed"
                and match_key_pattern(fb.key, c.path)
                and (fb.any_value or fb.value is None or c.new == fb.value)
            ):
                yield _finding(
                    f,
                    "config-forbidden",
                    c.line,
                    c.column,
                    f"{where} = {c.new!r} is forbidden by config rule {rule.name!r}",
                )
        if any(match_key_pattern(k, c.path) for k in rule.approval_keys):
            yield _finding(
                f,
                "config-key-change",
                c.line,
                c.column,
                f"{where}: {c.kind} ({_show(c.old)} -> {_show(c.new)}) needs approval (rule {rule.name!r})",
                group=group,
            )
        if c.kind == "removed":
            continue
        is_target = bool(c.path) and c.path[-1] == "_target_" and isinstance(c.new, str)
        if (
            rule.target_allow is not None
            and is_target
            and not any(
                str(c.new) == p or str(c.new).startswith(p.rstrip(".") + ".")
                for p in rule.target_allow
            )
        ):
            yield _finding(
                f,
                "config-target-not-allowed",
                c.line,
                c.column,
                f"{where} = {c.new!r} is outside the allowed modules of rule {rule.name!r}",
            )
        if (
            rule.url_hosts is not None
            and isinstance(c.new, str)
            and re.match(r"^[a-z][a-z0-9+.-]*://", c.new)
        ):
            host = (urlsplit(c.new).hostname or "").lower()
            if not any(host == h or host.endswith("." + h) for h in rule.url_hosts):
                yield _finding(
                    f,
                    "config-url-host",
                    c.line,
                    c.column,
                    f"{where} points at host {host!r}, not in the allowed hosts of rule {rule.name!r}",
                )
        for pattern, bound in rule.bounds.items():
            if (
                match_key_pattern(pattern, c.path)
                and isinstance(c.new, (int, float))
                and not isinstance(c.new, bool)
            ) and (
                (bound.min is not None and c.new < bound.min)
                or (bound.max is not None and c.new > bound.max)
            ):
                yield _finding(
                    f,
                    "config-out-of-bounds",
                    c.line,
                    c.column,
                    f"{where} = {c.new} is outside [{bound.min}, {bound.max}] (rule {rule.name!r})",
                )


def _show(v: object) -> str:
    return "∅" if v is None else repr(v)
