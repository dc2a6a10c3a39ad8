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
from collections.abc import Iterable, Iterator
from typing import NamedTuple
from urllib.parse import urlsplit

from traingate import configdiff, paths
from traingate.catalog import Rule, declare
from traingate.change import ChangedFile, Status
from traingate.checks.base import Context
from traingate.configdiff import ConfigDoc, KeyChange, Resolved, format_path, match_key_pattern
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
            "config-path-not-allowed",
            Severity.ERROR,
            "a data or checkpoint path key (path_keys) resolves outside the rule's path_allow prefixes, or to a value decided when the job runs",
            help="keep data and checkpoints under the allowed locations; see path_allow",
            category="config",
            since="0.2.0",
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


# Modules that, reached as an attribute anywhere in a dotted path, still run code:
# Hydra's _locate imports the first segment and getattr()s the rest, so
# ``logging.os.system`` is os.system (issue #16).
_DANGEROUS_ATTRIBUTE_MODULES = frozenset(
    [
        "os",
        "posix",
        "nt",
        "subprocess",
        "builtins",
        "__builtins__",
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
        "sys",
    ]
)
# Last segments that run code or load pickles whatever module they are found in.
_DANGEROUS_LAST = frozenset(
    ["system", "popen", "eval", "exec", "execfile", "__import__", "import_module", "run_path"]
)
# Loaders that unpickle, and Hydra/OmegaConf entry points that turn a string into a
# call: a target naming them runs whatever its arguments name.
_DANGEROUS_PREFIXES = (
    "torch.serialization.load",
    "torch.serialization._load",
    "torch.serialization.pickle",
    "torch.jit.load",
    "torch.package",
    "torch.hub",
    "numpy.lib.npyio.load",
    "numpy.load",
    "joblib.numpy_pickle.load",
    "joblib.load",
    "pandas.io.pickle",
    "hydra.utils.instantiate",
    "hydra.utils.call",
    "hydra.utils.get_method",
    "hydra.utils.get_class",
    "hydra.utils.get_object",
    "hydra.utils.get_static_method",
    "hydra._internal.utils._locate",
    "omegaconf.OmegaConf.register_new_resolver",
    "operator.attrgetter",
    "operator.methodcaller",
    "types.FunctionType",
    "types.CodeType",
    "code.InteractiveInterpreter",
)


def _dangerous_target(target: str) -> bool:
    t = target.strip()
    if t in _DANGEROUS_CALLABLES or t in _DANGEROUS_MODULES:
        return True
    if t.split(".", 1)[0] in _DANGEROUS_MODULES or any(
        t.startswith(c + ".") for c in _DANGEROUS_CALLABLES
    ):
        return True
    segments = [seg.strip() for seg in t.split(".")]
    if any(seg in _DANGEROUS_ATTRIBUTE_MODULES for seg in segments[1:]):
        return True
    if len(segments) > 1 and segments[-1] in _DANGEROUS_LAST:
        return True
    return any(t == p or t.startswith(p + ".") for p in _DANGEROUS_PREFIXES)


_ENV_FILES = re.compile(
    r"(^|/)(\.env(\..*)?|.*\.env|\.envrc|.*\.(sh|bash|zsh)|Makefile|Dockerfile|.*\.slurm|.*\.sbatch)$"
)
_RISKY_ENV = re.compile(
    r"""(?x)\b(?:
        (?P<weights>TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD|TORCH_FORCE_WEIGHTS_ONLY_LOAD\s*=\s*["']?0)
      | (?P<preload>LD_PRELOAD|LD_AUDIT|LD_LIBRARY_PATH\s*=\s*["']?/(?:tmp|dev/shm|var/tmp)|NCCL_(?:NET|TUNER|PROFILER)_PLUGIN)
      | (?P<pythonpath>PYTHONPATH\s*=\s*["']?[^\n]*(?:/tmp|/dev/shm|/var/tmp|\$HOME/\.|~/\.))
      | (?P<startup>PYTHONSTARTUP|PYTHONINSPECT|PYTHONHOME|PYTHONUSERBASE)
      | (?P<nccl>(?:TORCH_)?NCCL_[A-Z_]*TIMEOUT[A-Z_]*\s*=\s*["']?\d|NCCL_BLOCKING_WAIT\s*=\s*["']?0|NCCL_ASYNC_ERROR_HANDLING\s*=\s*["']?0)
    )"""
)
_REQUIREMENTS = re.compile(r"(^|/)(requirements[^/]*\.(txt|in)|constraints[^/]*\.txt)$")
_DEP_URL = re.compile(
    r"(--(extra-)?index-url|(^|\s)-i\s|--find-links|(^|\s)-f\s|--trusted-host|\bgit\+|https?://|file:|\s@\s)"
)
_CONFIG_FORMATS = ("yaml", "json", "jsonc", "toml")
# Keys whose value names a class or function that instantiating the config calls:
# Hydra/OmegaConf, torchtune's _component_ (issue #16), LightningCLI class_path.
_TARGET_KEYS = ("_target_", "_partial_target_", "_component_", "target", "class_path")
# Resolver names that evaluate their argument as code in the projects that register
# them (``OmegaConf.register_new_resolver("eval", eval)`` is a common idiom).
_CODE_RESOLVERS = frozenset(
    ["eval", "exec", "python", "py", "pyeval", "lambda", "sh", "shell", "cmd", "system"]
)
# What an eval resolver may compute without a finding: arithmetic on numbers and
# interpolations, and a few pure builtins (``${eval:'max(1, ${n} // 2)'}``).
_ARITH = re.compile(r"[\s\d.+\-*/%(),<>=!]*")
_ARITH_NAMES = frozenset(
    ["int", "float", "round", "min", "max", "abs", "sum", "len", "str", "bool", "pow"]
    + ["True", "False", "None", "and", "or", "not", "if", "else", "e"]
)
_CODE_IN_ARG = re.compile(
    r"__\w+__|\b(?:eval|exec|compile|getattr|setattr|open|import_module|system|popen|"
    r"subprocess|os\.|sys\.|builtins|pickle|marshal|lambda)\b"
)
# A resolver registered in the change whose function evaluates or calls out.
_REGISTER_RESOLVER = re.compile(
    r"register_new_resolver\(\s*(?:name\s*=\s*)?[rbu]?[\"']([^\"']+)[\"']\s*,\s*([^\n]{0,300})"
)
_RESOLVER_BODY_CODE = re.compile(
    r"\b(?:eval|exec|compile|__import__|getattr|import_module|system|popen|subprocess|"
    r"run_path|_locate|get_method|get_class|instantiate|literal_eval)\b"
)
# Keys judged by path_allow unless a rule names its own path_keys (issue #16).
DEFAULT_PATH_KEYS = (
    "**.data_dir",
    "**.data_path",
    "**.data_root",
    "**.dataset_path",
    "**.data_files",
    "**.data_files.**",
    "**.train_file",
    "**.validation_file",
    "**.test_file",
    "**.train_path",
    "**.val_path",
    "**.test_path",
    "**.checkpoint_dir",
    "**.checkpoint_path",
    "**.ckpt_path",
    "**.resume_from_checkpoint",
    "**.load_from_checkpoint",
    "**.pretrained_path",
    "**.output_dir",
    "**.save_dir",
    "**.cache_dir",
)


class _Eff(NamedTuple):
    """A key as the job will see it: the raw change, and its value after
    OmegaConf interpolation (issue #16). ``through``: only the resolved value
    changed, because a key it interpolates did."""

    change: KeyChange
    value: object
    text: str
    unknown: tuple[str, ...]
    resolvers: tuple[tuple[str, str], ...]
    through: bool


def _effective(changes: list[KeyChange], new: ConfigDoc, old: ConfigDoc | None) -> list[_Eff]:
    res_new = configdiff.resolve_interpolations(new)
    res_old = configdiff.resolve_interpolations(old) if old is not None else {}
    by_path = {c.path: c for c in changes if c.kind != "removed"}
    out: list[_Eff] = []
    for path, leaf in new.leaves.items():
        c = by_path.get(path)
        r: Resolved | None = res_new.get(path)
        through = False
        if c is None:
            before = res_old.get(path)
            if r is None or before is None or (before.text, before.unknown) == (r.text, r.unknown):
                continue
            c = KeyChange(path, "changed", before.value, leaf.value, leaf.line, leaf.column)
            through = True
        if r is None:
            text = "" if c.new is None else str(c.new)
            out.append(_Eff(c, c.new, text, (), (), through))
        else:
            out.append(_Eff(c, r.value, r.text, r.unknown, r.resolvers, through))
    out.sort(key=lambda e: (e.change.line, e.change.column))
    return out


def _via(e: _Eff) -> str:
    """How a value was reached, for messages: nothing for a literal."""
    if isinstance(e.change.new, str) and "${" in e.change.new:
        return f" (written {e.change.new!r})"
    return ""


def _code_resolvers(ctx: Context) -> frozenset[str]:
    """Resolver names the change registers with a function that evaluates or calls
    out (``register_new_resolver("calc", lambda s: eval(s))``)."""
    names = set(_CODE_RESOLVERS)
    for f in ctx.files:
        if f.new_path is None or not f.new_path.endswith((".py", ".pyw", ".ipynb")):
            continue
        text = ctx.change.new_text(f)
        if not text or "register_new_resolver" not in text:
            continue
        for m in _REGISTER_RESOLVER.finditer(text):
            if _RESOLVER_BODY_CODE.search(m.group(2)):
                names.add(m.group(1))
    return frozenset(names)


def _arithmetic(arg: str) -> bool:
    body = arg.strip().strip("'\"")
    while "${" in body:  # interpolations are values, judged on their own keys
        start = body.find("${")
        end = configdiff.interpolation_end(body, start)
        if end == -1:
            return False
        body = body[:start] + "0" + body[end:]
    words = re.findall(r"[A-Za-z_]\w*", body)
    rest = re.sub(r"[A-Za-z_]\w*", "", body)
    return all(w in _ARITH_NAMES for w in words) and _ARITH.fullmatch(rest) is not None


def run(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    policy = ctx.policy.policy
    code_resolvers = _code_resolvers(ctx)
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
        if ctx.scan_all:
            old = None
        changes = configdiff.diff_configs(old, new)
        effs = _effective(changes, new, old)
        out.extend(_structural(f, new))
        out.extend(_builtin_keys(f, name, effs))
        out.extend(_resolver_code(f, effs, code_resolvers))
        out.extend(_config_env(f, new, effs))
        if name.endswith("pyproject.toml"):
            out.extend(_pyproject(f, changes))
        # What approval_keys mean (issue #16): a change to a key of an existing
        # file. A whole-file scan has no base, so nothing "changed" and none is
        # reported; an added file is one new config, reported once per rule.
        mode = "none" if ctx.scan_all else "summary" if f.status is Status.ADDED else "each"
        seen: set[tuple[str, int | None, int | None, str | None]] = set()
        for rule in policy.config_rules:
            if not paths.matches(rule.paths, name, fold=policy.case_insensitive_paths):
                continue
            for hit in _policy_rule(f, rule, changes, effs, policy, mode):
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


def _builtin_keys(f: ChangedFile, name: str, effs: list[_Eff]) -> Iterator[Finding]:
    auto_map_seen = False
    for e in effs:
        c = e.change
        if not c.path:
            continue
        key = str(c.path[-1])
        where = format_path(c.path)
        if key == "trust_remote_code" and (e.value in (True, "true", "True", 1) or e.unknown):
            maybe = f" may be true: {e.unknown[0]}" if e.unknown else ": true"
            yield _finding(
                f,
                "config-trust-remote-code",
                c.line,
                c.column,
                f"{where}{maybe}{_via(e)}; it runs Python code shipped with the model repository",
                "keep trust_remote_code false; vendor and review the model code instead",
            )
        elif key in _TARGET_KEYS and isinstance(c.new, str):
            if key not in ("_target_", "_component_") and "." not in e.text and not e.unknown:
                continue
            if e.unknown:
                yield _finding(
                    f,
                    "config-untrusted-target",
                    c.line,
                    c.column,
                    f"{where} = {c.new!r}: {e.unknown[0]}, so what instantiating this config "
                    "calls is not in the change under review",
                    "write the target as a literal dotted path to your own class",
                )
            elif _dangerous_target(e.text):
                yield _finding(
                    f,
                    "config-dangerous-target",
                    c.line,
                    c.column,
                    f"{where} = {e.text!r}{_via(e)} makes instantiating this config run "
                    "arbitrary code",
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


def _resolver_code(
    f: ChangedFile, effs: list[_Eff], code_resolvers: frozenset[str]
) -> Iterator[Finding]:
    """Resolvers that run code: an eval-like one with more than arithmetic, or
    code handed to any custom resolver (issue #16)."""
    for e in effs:
        for name, arg in e.resolvers:
            if name.startswith("oc.") or name in ("hydra", "now"):
                continue
            evaluates = name in code_resolvers and not _arithmetic(arg)
            if not evaluates and not _CODE_IN_ARG.search(arg):
                continue
            how = (
                "a resolver that evaluates its argument"
                if name in code_resolvers
                else "code passed to a custom resolver"
            )
            yield _finding(
                f,
                "config-resolver-code",
                e.change.line,
                e.change.column,
                f"{format_path(e.change.path)}: ${{{name}:{arg[:80]}}} is {how}; "
                "resolving this config runs it",
                "compute the value in code, or keep resolver arguments to plain arithmetic",
            )
            break


# An env var name, and the assignments in a command string or an env list item.
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SHELL_ASSIGNMENT = re.compile(
    r"(?:^|(?<=[\s;&|(`'\",]))(?:export\s+|env\s+)?([A-Z_][A-Z0-9_]*=[^\s;&|]*)"
)


# Keys whose string values are commands or environment entries (Kubernetes
# command/args, docker-compose environment, CI script lines, launcher configs).
_COMMAND_KEYS = frozenset(
    [
        "command",
        "cmd",
        "args",
        "arguments",
        "script",
        "scripts",
        "run",
        "entrypoint",
        "environment",
        "env",
        "envs",
        "env_vars",
        "setup",
        "pre_run",
        "before_script",
        "after_script",
        "exec",
        "shell",
        "launcher",
        "srun",
        "prefix",
    ]
)


def _commandish(path: tuple[str | int, ...], text: str) -> bool:
    if _SHELL_ASSIGNMENT.match(text.strip()):
        return True  # the whole value is NAME=value (an env list item)
    return any(isinstance(seg, str) and seg.lower() in _COMMAND_KEYS for seg in path)


def _config_env(f: ChangedFile, doc: ConfigDoc, effs: list[_Eff]) -> Iterator[Finding]:
    """Risky environment set from a config (issue #16): a mapping key
    (``env_set: {LD_PRELOAD: ...}``, docker-compose ``environment:``), a Kubernetes
    ``env: [{name, value}]`` item, a ``NAME=value`` list item or a command string."""
    changed = {e.change.path: e for e in effs}
    done: set[tuple[str | int, ...]] = set()

    def judge(e: _Eff, assignment: str) -> Iterator[Finding]:
        m = _RISKY_ENV.search(assignment)
        if m is None or e.change.path in done:
            return
        done.add(e.change.path)
        kind = next(k for k, v in m.groupdict().items() if v)
        yield _finding(
            f,
            "config-risky-env",
            e.change.line,
            e.change.column,
            f"{format_path(e.change.path)} sets {m.group(0).split('=')[0].strip()!r} "
            f"({_ENV_WHY[kind]})",
            "remove it from the config, or get it approved",
        )

    for path, leaf in doc.leaves.items():
        if not path:
            continue
        key = path[-1]
        if key == "name" and isinstance(leaf.value, str) and _ENV_NAME.fullmatch(leaf.value):
            value_path = (*path[:-1], "value")
            e = changed.get(value_path) or changed.get(path)
            if e is not None and value_path in doc.leaves:
                value = (
                    changed[value_path].text
                    if value_path in changed
                    else doc.leaves[value_path].value
                )
                yield from judge(e, f"{leaf.value}={value}")
            continue
        e = changed.get(path)
        if e is None:
            continue
        if isinstance(key, str) and _ENV_NAME.fullmatch(key):
            yield from judge(e, f"{key}={e.text}")
        elif isinstance(e.value, str) and "=" in e.text and _commandish(path, e.text):
            # Only shell-style assignments in a command or env value count: a rule
            # pattern or a docs string that *mentions* a variable sets nothing.
            for m in _SHELL_ASSIGNMENT.finditer(e.text):
                yield from judge(e, m.group(1))


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
        # Scheduler directives are comments to the shell but set the job's
        # environment (#SBATCH --export=LD_PRELOAD=..., issue #16).
        stripped = line.lstrip()
        if n not in added or (
            stripped.startswith("#") and not stripped.startswith(("#SBATCH", "#PBS", "#$"))
        ):
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


def _approval_keys(
    f: ChangedFile,
    rule: ConfigRule,
    changes: list[KeyChange],
    effs: list[_Eff],
    group: str | None,
    mode: str,
) -> Iterator[Finding]:
    """config-key-change. ``mode`` "each": every added, changed or removed key of
    an existing file, and every key whose *resolved* value changed because a key
    it interpolates did; "summary": an added file, one finding naming its keys;
    "none": a whole-file scan (issue #16: 1,049 findings on ordinary recipes)."""
    if mode == "none" or not rule.approval_keys:
        return

    def wanted(path: tuple[str | int, ...]) -> bool:
        return any(match_key_pattern(k, path) for k in rule.approval_keys)

    if mode == "summary":
        keys = [e.change for e in effs if wanted(e.change.path)]
        if keys:
            first = keys[0]
            shown = ", ".join(format_path(c.path) for c in keys[:5])
            more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
            yield _finding(
                f,
                "config-key-change",
                first.line,
                first.column,
                f"new config file sets {len(keys)} key(s) matching approval_keys "
                f"({shown}{more}): the new file needs approval (rule {rule.name!r})",
                group=group,
            )
        return
    through = {e.change.path: e for e in effs if e.through}
    for c in changes:
        if wanted(c.path):
            yield _finding(
                f,
                "config-key-change",
                c.line,
                c.column,
                f"{format_path(c.path)}: {c.kind} ({_show(c.old)} -> {_show(c.new)}) "
                f"needs approval (rule {rule.name!r})",
                group=group,
            )
    for path, e in through.items():
        if wanted(path):
            yield _finding(
                f,
                "config-key-change",
                e.change.line,
                e.change.column,
                f"{format_path(path)} = {e.change.new!r} now resolves to {e.text!r}: "
                f"a key it interpolates changed; needs approval (rule {rule.name!r})",
                group=group,
            )


def _policy_rule(
    f: ChangedFile,
    rule: ConfigRule,
    changes: list[KeyChange],
    effs: list[_Eff],
    policy: Policy,
    mode: str = "each",
) -> Iterator[Finding]:
    group = rule.approval_group or policy.security_group
    yield from _approval_keys(f, rule, changes, effs, group, mode)
    path_keys = rule.path_keys if rule.path_keys is not None else DEFAULT_PATH_KEYS
    for e in effs:
        c = e.change
        where = format_path(c.path)
        value = e.value
        for fb in rule.forbid:
            if match_key_pattern(fb.key, c.path) and (
                fb.any_value or fb.value is None or value == fb.value or e.unknown
            ):
                why = f": {e.unknown[0]}" if e.unknown else ""
                yield _finding(
                    f,
                    "config-forbidden",
                    c.line,
                    c.column,
                    f"{where} = {_shown(e)}{_via(e)} is forbidden by config rule "
                    f"{rule.name!r}{why}",
                )
        is_target = bool(c.path) and c.path[-1] in ("_target_", "_component_")
        if (
            rule.target_allow is not None
            and is_target
            and isinstance(c.new, str)
            and (
                e.unknown
                or not any(
                    e.text == p or e.text.startswith(p.rstrip(".") + ".") for p in rule.target_allow
                )
            )
        ):
            yield _finding(
                f,
                "config-target-not-allowed",
                c.line,
                c.column,
                f"{where} = {e.text!r}{_via(e)} is outside the allowed modules of rule "
                f"{rule.name!r}",
            )
        if (
            rule.url_hosts is not None
            and isinstance(c.new, str)
            and re.match(r"^[a-z][a-z0-9+.-]*://", e.text)
        ):
            host = (urlsplit(e.text).hostname or "").lower()
            if e.unknown or not any(host == h or host.endswith("." + h) for h in rule.url_hosts):
                yield _finding(
                    f,
                    "config-url-host",
                    c.line,
                    c.column,
                    f"{where} points at host {host!r}{_via(e)}, not in the allowed "
                    f"hosts of rule {rule.name!r}",
                )
        if (
            rule.path_allow is not None
            and isinstance(c.new, str)
            and any(match_key_pattern(k, c.path) for k in path_keys)
            and not _path_allowed(e, rule.path_allow)
        ):
            why = f": {e.unknown[0]}" if e.unknown else ""
            yield _finding(
                f,
                "config-path-not-allowed",
                c.line,
                c.column,
                f"{where} = {e.text!r}{_via(e)} is outside the allowed locations of rule "
                f"{rule.name!r}{why}",
            )
        for pattern, bound in rule.bounds.items():
            if (
                match_key_pattern(pattern, c.path)
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ) and (
                (bound.min is not None and value < bound.min)
                or (bound.max is not None and value > bound.max)
            ):
                yield _finding(
                    f,
                    "config-out-of-bounds",
                    c.line,
                    c.column,
                    f"{where} = {value}{_via(e)} is outside [{bound.min}, {bound.max}] "
                    f"(rule {rule.name!r})",
                )


def _path_allowed(e: _Eff, allow: Iterable[str]) -> bool:
    """A path value under one of the allowed prefixes, after resolving
    interpolation and ``..``; a value decided at run time is never allowed."""
    if e.unknown:
        return False
    text = e.text.strip()
    if not text:
        return True
    if "://" not in text:
        text = posixpath.normpath(text)
    for prefix in allow:
        p = prefix if "://" in prefix else posixpath.normpath(prefix)
        p = p.rstrip("/")
        if text == p or text.startswith(p + "/") or not p:
            return True
    return False


def _shown(e: _Eff) -> str:
    return repr(e.text) if e.unknown or isinstance(e.value, str) else repr(e.value)


def _show(v: object) -> str:
    return "∅" if v is None else repr(v)
