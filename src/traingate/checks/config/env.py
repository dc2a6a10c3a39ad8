"""Risky environment variables and dependency sources, in configs, launchers and requirement files."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from traingate.change import ChangedFile
from traingate.checks.config.doc import ConfigDoc, KeyChange
from traingate.checks.config.effective import _Eff
from traingate.checks.config.keypath import format_path
from traingate.checks.config.rules import _finding
from traingate.findings import Finding

# Issue #16: every file that sets a process environment the way a shell, make or
# docker does: ksh and scheduler job scripts, included makefiles, Dockerfile
# variants, Jinja-templated launchers and templated configs and manifests too
# (their Jinja does not parse as YAML, so the config reader never sees them).
_ENV_FILES = re.compile(
    r"(^|/)(\.env(\..*)?|.*\.env|\.envrc|.*\.(sh|bash|zsh|ksh|slurm|sbatch|pbs|lsf|qsub|mk)"
    r"|[Mm]akefile|GNUmakefile|Dockerfile(\.[^/]*)?|[^/]*\.Dockerfile|Containerfile"
    # Issue #16: templates by every suffix the semgrep check reads them by.
    r"|(?:.*\.(?:sh|bash|zsh|ksh|slurm|sbatch|pbs|lsf|qsub|mk|ya?ml|json|env|cfg|conf|ini|toml)"
    r"|[Mm]akefile|GNUmakefile)\.(j2|jinja|jinja2|tmpl|tpl|template))$"
)
# Notebook and IPython script (.ipy) lines that set the kernel's environment
# (`%env NAME=value`, `%set_env`): nothing else in a notebook's JSON sets one
# (issue #16); a shell escape's `export` is the bash rules' (semgrep check).
_NOTEBOOK_ENV = re.compile(r"%(?:set_)?env\s")
_RISKY_ENV = re.compile(
    r"""(?x)\b(?:
        (?P<weights>TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD|TORCH_FORCE_WEIGHTS_ONLY_LOAD\s*=\s*["']?0)
      | (?P<preload>LD_PRELOAD|LD_AUDIT|LD_LIBRARY_PATH\s*=\s*["']?/(?:tmp|dev/shm|var/tmp)|NCCL_(?:NET|TUNER|PROFILER)_PLUGIN)
      | (?P<pythonpath>PYTHONPATH(?:\s*[:?+]?=|\s)\s*["']?[^\n]*(?:/tmp|/dev/shm|/var/tmp|\$HOME/\.|~/\.|\$\{HOME\}/\.))
      | (?P<libpath>LD_LIBRARY_PATH(?:\s*[:?+]?=|\s)\s*["']?[^\n]*(?:\$HOME/\.|~/\.|\$\{HOME\}/\.))
      | (?P<startup>PYTHONSTARTUP|PYTHONINSPECT|PYTHONHOME|PYTHONUSERBASE|PYTHONBREAKPOINT|BASH_ENV)
      # Issue #16 (red-team pass): a warnings filter whose category is dotted
      # (`ignore::pkg.SomeWarning`): Python imports `pkg` at start to resolve it,
      # from PYTHONPATH, i.e. the repository. A category of a published library
      # the job installs (`ignore::torch.jit.TracerWarning`) imports that library.
      | (?P<warnimport>PYTHONWARNINGS(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?(?:[^\s"',]*,)*
            [^\s"',:]*:[^\s"',:]*:(?!(?:torch|torchvision|torchaudio|numpy|scipy|sklearn|pandas
            |transformers|datasets|accelerate|huggingface_hub|lightning|pytorch_lightning|jax
            |tensorflow|keras|urllib3|requests|setuptools|pkg_resources|numba|matplotlib|PIL
            |pydantic|deepspeed|triton|wandb|mlflow|omegaconf|hydra|timm|peft|trl|google)\.)
            [A-Za-z_]\w*\.[\w.]*)
      | (?P<index>(?:PIP_(?:EXTRA_)?INDEX_URL|PIP_FIND_LINKS|UV_(?:EXTRA_)?INDEX_URL)(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?
            (?!https://(?:download\.pytorch\.org|pypi\.org|pypi\.nvidia\.com)/)[^\s"']
          | PIP_TRUSTED_HOST|HF_ENDPOINT(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?(?!https://huggingface\.co/?(?:["'\s]|$))[^\s"'])
      | (?P<remote>HF_DATASETS_TRUST_REMOTE_CODE(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?(?i:1|true|yes|on)\b)
      | (?P<nccl>(?:TORCH_)?NCCL_[A-Z_]*TIMEOUT[A-Z_]*\s*=\s*["']?\d|NCCL_BLOCKING_WAIT\s*=\s*["']?0|NCCL_ASYNC_ERROR_HANDLING\s*=\s*["']?0)
    )"""
)
_REQUIREMENTS = re.compile(r"(^|/)(requirements[^/]*\.(txt|in)|constraints[^/]*\.txt)$")
_DEP_URL = re.compile(
    r"(--(extra-)?index-url|(^|\s)-i\s|--find-links|(^|\s)-f\s|--trusted-host|\bgit\+|https?://|file:|\s@\s)"
)


# An env var name, and the assignments in a command string or an env list item.
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SHELL_ASSIGNMENT = re.compile(
    r"(?:^|(?<=[\s;&|(`'\",]))(?:export\s+|env\s+)?([A-Z_][A-Z0-9_]*=[^\s;&|]*)"
)


# Keys whose string values are shell commands (Kubernetes command/args and
# lifecycle hooks, CI script lines, launcher configs, devcontainer hooks). The
# semgrep check runs its bash rules over them too (checks/semgrep/commands.py).
COMMAND_KEYS = frozenset(
    [
        "command",
        "commands",
        "cmd",
        "args",
        "arguments",
        "script",
        "scripts",
        "run",
        "entrypoint",
        "setup",
        "pre_run",
        "before_script",
        "after_script",
        "exec",
        "shell",
        "launcher",
        "srun",
        "prefix",
        "lifecycle",
        "initializecommand",
        "oncreatecommand",
        "updatecontentcommand",
        "postcreatecommand",
        "poststartcommand",
        "postattachcommand",
        # Session 25 red team: Taskfile `cmds`, a pre-commit local hook's `entry`
        # (run on every commit of everyone who installed the hooks), Travis.
        "cmds",
        "entry",
        "before_install",
    ]
)
# ... and environment entries (docker-compose environment, env lists).
_COMMAND_KEYS = COMMAND_KEYS | {"environment", "env", "envs", "env_vars"}


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


def _pieces(text: str) -> Iterator[tuple[int, str]]:
    """(git line, text) for each line a reader may see: git's lines split on
    \\n, each split again as str.splitlines splits (pip does; \\r, \\f, U+2028),
    so a separator in an old line cannot shift the added ones (issue #16)."""
    for n, line in enumerate(text.split("\n"), 1):
        for piece in line.splitlines() or [""]:
            yield n, piece


def _env_lines(
    f: ChangedFile, text: str, added: Collection[int], *, notebook: bool = False
) -> Iterator[Finding]:
    for n, line in _pieces(text):
        if notebook and not _NOTEBOOK_ENV.search(line):
            continue  # a notebook's prose or code that only mentions a variable
        # Scheduler directives are comments to the shell but set the job's
        # environment (#SBATCH --export=LD_PRELOAD=..., issue #16).
        stripped = line.lstrip()
        if n not in added or (
            stripped.startswith("#") and not stripped.startswith(("#SBATCH", "#PBS", "#$"))
        ):
            continue
        m = next(
            (
                m
                for m in _RISKY_ENV.finditer(line)
                if not _not_set(line, m.start()) and not _self_set(line, m.start(), text)
            ),
            None,
        )
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


# Issue #16 (espnet's tools/setup_python.sh, skypilot's Kubernetes template):
# a line that only reads the variable (`mkdir -p "${PYTHONUSERBASE}"`,
# `export PATH="${PYTHONUSERBASE}/bin:$PATH"`), removes it from a command's
# environment (`env -u LD_PRELOAD`, `unset LD_PRELOAD`) or prints its name
# (`echo "Setting PYTHONUSERBASE"`) sets nothing. `${NAME:=v}`/`${NAME=v}`
# assign, and a printed `NAME=value` may be written into a script: both count.
_READ = re.compile(r"\$\{?$")
_UNSET = re.compile(r"(?:\benv\b[^\n]*\s(?:-u\s*|--unset[=\s])|\bunset\s+(?:-v\s+)?(?:\w+\s+)*)$")
_PRINT = re.compile(r"^\s*(?:echo|printf)\s[^|;&<>`$()]*$")


def _not_set(line: str, at: int) -> bool:
    """The risky name at ``at`` in a shell line is read, unset or printed."""
    before, after = line[:at], line[at:]
    name = _ENV_NAME.match(after)
    rest = after[name.end() :] if name else after
    if rest.startswith(("=", ":=", "+=", "?=")) or (
        before.endswith("${") and rest.startswith((":=", "="))
    ):
        return False
    if _READ.search(before) or _UNSET.search(before):
        return True
    end = re.search(r"[|;&<>`]|\$\(", after)
    return _PRINT.match(before) is not None and end is None


# Issue #16 (espnet's tools/setup_python.sh): `PYTHONUSERBASE="$(cd
# ${PYTHONUSERBASE}; pwd)"` and, in the activate script it writes, `export
# PYTHONUSERBASE="${PYTHONUSERBASE}"` give the variable the value it already
# has (made absolute, or exported): the setting is the line that chose that
# value. So such a line passes only when the same file sets the name to
# something else too: that line is the finding when it is added (and was
# reviewed when it is not). A file whose only setting is `X="${X}"` still
# reports it: it hands on a value from outside the file.
_SELF_VALUE = (
    r"""(?P<q>["']?)(?:{ref}|\$\(\s*cd\s+(?P<c>["']?){ref}(?P=c)\s*(?:;|&&)\s*pwd(?:\s+-[LP])?\s*\)"""
    r"""|\$\(\s*(?:realpath|readlink\s+-[fem])\s+(?P<r>["']?){ref}(?P=r)\s*\))(?P=q)(?=[ \t]*(?:$|[;&|#]))"""
)


def _self_set(line: str, at: int, text: str) -> bool:
    """The risky name at ``at`` is set to its own value, and ``text`` sets it
    to another value elsewhere."""
    name = _ENV_NAME.match(line, at)
    if name is None or not line.startswith("=", name.end()):
        return False
    n = re.escape(name.group(0))
    value = re.compile(_SELF_VALUE.format(ref=rf"\$(?:{n}\b|\{{{n}\}})"), re.M)
    if not value.match(line, name.end() + 1):
        return False
    for other in re.finditer(rf"(?m)^(?![ \t]*#).*?(?<![\w$]){n}\+?=", text):
        if not value.match(text, other.end()):
            return True
    return False


_ENV_WHY = {
    "weights": "disables torch.load's weights-only protection: pickles run code again",
    "preload": "loads a shared library into every process",
    "pythonpath": "puts a temporary or hidden directory ahead of installed packages",
    "libpath": "puts a hidden directory ahead of the system's shared libraries",
    "startup": "runs or redirects code at interpreter or shell start",
    "warnimport": "names a warning category in a module, which Python imports at interpreter start",
    "index": "installs packages or downloads models from another server than the approved one",
    "remote": "lets datasets run the loading script shipped with a dataset repository",
    "nccl": "changes collective timeouts or error handling: hangs and silent failures",
}


def _dependency_lines(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    for n, line in _pieces(text):
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
