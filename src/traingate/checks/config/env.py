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
# Session 26 red team: Dockerfiles by any case, as the semgrep check names them
# (targets._surface_kind): espnet's `docker/runtime.dockerfile`, built with
# `docker build -f`, was read by no environment rule (_ENV_FILES is
# case-sensitive). Not a `Dockerfile.md` or `.dockerignore`.
DOCKERFILE = re.compile(
    r"(?i)(?:^|/)(?:[^/]*\.(?:dockerfile|containerfile)"
    r"|(?:dockerfile|containerfile)(?:\.(?!(?:md|txt|rst|dockerignore)$)[^/]*)?)$"
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
      | (?P<startup>PYTHONSTARTUP|PYTHONINSPECT|PYTHONHOME|PYTHONUSERBASE|PYTHONBREAKPOINT|BASH_ENV|PROMPT_COMMAND)
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
          # Session 26: pip's / uv's config file named by the environment (a
          # pip.conf under another name: its index lines are judged nowhere).
          | (?:PIP|UV)_CONFIG_FILE(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?(?!/dev/null(?:["'\s]|$))[^\s"']
          | PIP_TRUSTED_HOST|HF_ENDPOINT(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?(?!https://huggingface\.co/?(?:["'\s]|$))[^\s"'])
      # Session 26: the experiment tracker's server, a literal remote URL (not
      # this host): every logged config, metric and artifact goes there
      # (egress-tracker-redirect is the same in Python calls).
      | (?P<tracker>(?:WANDB_BASE_URL|MLFLOW_TRACKING_URI|MLFLOW_REGISTRY_URI|CLEARML_API_HOST
            |CLEARML_FILES_HOST|CLEARML_WEB_HOST|COMET_URL_OVERRIDE)(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?
            (?i:https?|grpc)://(?!(?:localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1\]
            |api\.wandb\.ai|(?:api|app|files)\.clear\.ml|www\.comet\.com)(?::\d+)?(?:[/"'\s]|$))[^\s"'])
      | (?P<remote>HF_DATASETS_TRUST_REMOTE_CODE(?:\s*[:?+]?=\s*|\s+(?![:?+]?=))["']?(?i:1|true|yes|on)\b)
      # Session 27 red team: caches of code the job loads (Triton's and
      # inductor's compiled kernels, torch's built extensions, transformers'
      # remote-code modules, Python's .pyc files) and the CUDA toolchain, moved
      # to a temporary, shared-memory or hidden home directory, where another
      # account can plant what the job then loads; and PATH led by a temp dir.
      | (?P<codecache>(?:TRITON_CACHE_DIR|TORCH_EXTENSIONS_DIR|TORCHINDUCTOR_CACHE_DIR|HF_MODULES_CACHE
            |PYTHONPYCACHEPREFIX|CUDA_HOME|CUDA_PATH)(?:\s*[:?+]?=|\s)\s*["']?[^\s;&|]*
            (?:/tmp|/dev/shm|/var/tmp|\$HOME/\.|~/\.|\$\{HOME\}/\.|\$\{?TMPDIR\b)
          | PATH(?:\s*[:?+]?=|\s)\s*["']?(?:/tmp|/dev/shm|/var/tmp|\$\{?TMPDIR\b)[/:"'\s}])
      # git's own variables that run a program: every `git` the job or a hook
      # calls (a checkout, `git rev-parse HEAD` for the run's metadata) runs it.
      | (?P<gitcmd>GIT_(?:ASKPASS|EXTERNAL_DIFF|EXEC_PATH|PROXY_COMMAND|SSH)\s*=
          | GIT_SSH_COMMAND\s*=\s*["']?(?:(?!(?:/usr/bin/)?ssh\s)[^\s"']|[^\n]*(?i:proxycommand|localcommand))
          | GIT_CONFIG_(?:GLOBAL|SYSTEM)\s*=\s*["']?(?!/dev/null)[^\s"']
          | GIT_CONFIG_(?:KEY_\d+|PARAMETERS)\s*=\s*["']?[^\n]*?(?i:core\.(?:sshcommand|fsmonitor
            |hookspath|pager|editor|gitproxy|askpass)|diff\.external|alias\.|filter\.|credential\.helper
            |gpg\.program|sequence\.editor|uploadpack\.packobjectshook))
      | (?P<nccl>(?:TORCH_)?NCCL_[A-Z_]*TIMEOUT[A-Z_]*\s*=\s*["']?\d|NCCL_BLOCKING_WAIT\s*=\s*["']?0|NCCL_ASYNC_ERROR_HANDLING\s*=\s*["']?0)
    )"""
)
# Session 26 red team: pip's own config (pip.conf, pip.ini) committed for a
# Dockerfile to `COPY` to /etc/pip.conf or for PIP_CONFIG_FILE: its
# index-url / extra-index-url / find-links / trusted-host lines are read as a
# requirements file's options are.
_REQUIREMENTS = re.compile(
    r"(^|/)(requirements[^/]*\.(txt|in)|constraints[^/]*\.txt|pip\.conf|pip\.ini)$"
)
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


# Session 26 red team: package sources declared as tables of their own, not on a
# dependency line: Poetry's `[[tool.poetry.source]]` (priority "primary" serves
# every package) and PDM's `[[tool.pdm.source]]`.
_SOURCE_TABLES = ("tool.poetry.source", "tool.pdm.source")
# Session 26: uv's own settings file, read from the project directory by every
# `uv sync` / `uv pip install`: its keys are [tool.uv]'s without the prefix.
# The indexes config-risky-env trusts for PIP_INDEX_URL (PyPI, the PyTorch and
# NVIDIA wheel indexes), whole: a host followed by `/` (not `pypi.org@evil` or
# `pypi.org.evil`), no space or `@` later. Only for the surfaces session 26
# added: dowhy's `[[tool.poetry.source]]` is the PyTorch wheel index.
_TRUSTED_INDEX = re.compile(
    r"https://(?:download\.pytorch\.org|pypi\.org|pypi\.nvidia\.com)/[^\s@]*$"
)
_UV_TOML = re.compile(r"(^|/)uv\.toml$")


def _pyproject(f: ChangedFile, changes: list[KeyChange], *, uv: bool = False) -> Iterator[Finding]:
    """pyproject.toml's dependency and index keys (``uv``: a uv.toml, whose
    every key is uv's) swapped for a URL, a path or another index."""
    for c in changes:
        if c.kind == "removed" or not isinstance(c.new, str):
            continue
        path = format_path(c.path)
        in_deps = (
            uv
            or "dependencies" in path
            or "requires" in path
            or path.startswith(("tool.uv",) + _SOURCE_TABLES)
            or "index" in path
        )
        if not in_deps or not _DEP_URL.search(c.new):
            continue
        if (uv or path.startswith(_SOURCE_TABLES)) and _TRUSTED_INDEX.match(c.new.strip()):
            continue  # session 26: a source on PyPI or the PyTorch/NVIDIA wheel index
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
    "tracker": "sends every logged config, metric and artifact to that tracking server",
    "nccl": "changes collective timeouts or error handling: hangs and silent failures",
    "codecache": "loads compiled code or programs from a directory other accounts can write",
    "gitcmd": "makes every git command run another program",
}


# pip.conf's keys are pip's long options without the dashes (`find-links =
# /mnt/wheels` has no URL to see); `;` starts an INI comment line too.
_PIP_CONF_KEY = re.compile(
    r"(?i)^(?:extra-index-url|index-url|index|find-links|trusted-host)\s*[=:]"
)


def _dependency_lines(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    pip_conf = (f.new_path or "").lower().endswith(("pip.conf", "pip.ini"))
    for n, line in _pieces(text):
        stripped = line.split(" #", 1)[0].strip()
        if n not in added or not stripped or stripped.startswith(("#", ";" if pip_conf else "#")):
            continue
        m = _DEP_URL.search(stripped) or (_PIP_CONF_KEY.match(stripped) if pip_conf else None)
        if m:
            yield _finding(
                f,
                "config-dependency-source",
                n,
                line.find(stripped) + 1,
                f"dependency source changed: {stripped!r}",
                "install packages by name from the approved index; pin with hashes",
            )


# Session 26 red team: a Dockerfile that installs a package-index config under
# another name (`COPY ci/pip-ci.conf /etc/pip.conf`): pip.conf files are judged
# by their name (_dependency_lines), this one is not. `COPY pip.conf ...` is.

_INDEX_CONFIGS = frozenset({"pip.conf", "pip.ini", "uv.toml", ".condarc"})
_COPY = re.compile(r"^\s*(?:ONBUILD\s+)?(?:COPY|ADD)\s+(.*)$", re.I)


def docker_index_copies(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    """Added COPY/ADD lines whose destination is pip's, uv's or conda's config
    and whose source is not a file of that name (a heredoc, another name)."""
    if not DOCKERFILE.search(f.new_path or ""):
        return
    for n, line in enumerate(text.split("\n"), 1):
        m = _COPY.match(line) if n in added else None
        words = _copy_words(m.group(1)) if m else []
        if len(words) < 2:
            continue
        dest = _base_name(words[-1])
        if dest in _INDEX_CONFIGS and not all(_same_repo_file(w, dest) for w in words[:-1]):
            yield _finding(
                f,
                "config-dependency-source",
                n,
                1,
                f"installs {words[-1]!r} from {' '.join(words[:-1])!r}: pip, uv or conda read "
                "their package index from it, and its content is judged under no config name",
                "commit it as pip.conf (or uv.toml, .condarc) so its index lines are checked",
            )


def _copy_words(args: str) -> list[str]:
    """Sources and destination of COPY/ADD, shell or JSON form, flags dropped
    (`--from=stage` too: its source is then an absolute path, never the same file)."""
    import json

    if args.lstrip().startswith("["):
        try:
            words = json.loads(args)
        except ValueError:
            return []
        return [w for w in words if isinstance(w, str)] if isinstance(words, list) else []
    return [w for w in args.split() if not w.startswith("--")]


def _base_name(word: str) -> str:
    return word.strip("\"'").rstrip("/").rsplit("/", 1)[-1].lower()


# Session 26 red team: shell lines (launchers, Dockerfile RUN, Makefile recipes)
# that point pip or conda at another index without any file named pip.conf:
# `pip config set global.extra-index-url URL`, `conda config --add channels URL`,
# and a copy or write of a differently named file onto pip's / uv's / conda's
# config (`cp ci/pip-ci.cfg /etc/pip.conf`, `... > ~/.condarc`).
_PIP_CONFIG_SET = re.compile(
    r"\bpip[0-9.]*\s+config\b[^;&|\n]*?\bset\s+[\w-]*\.?"
    r"(?P<key>extra-index-url|index-url|find-links|trusted-host)\b\s*=?\s*[\"']?(?P<value>[^\s\"';&|]*)"
)
_CONDA_CONFIG = re.compile(
    r"\bconda\s+config\b[^;&|\n]*?--(?:add|prepend|append|set)\s+"
    r"(?P<key>channels|channel_alias|default_channels|custom_channels)\s+[\"']?(?P<value>[^\s\"';&|]*)"
)
_COPY_CMD = re.compile(r"\b(?:cp|mv|install|ln)\s+([^;&|>\n]*)")
_REDIRECT = re.compile(r"(?:>>?|\btee\s+(?:-a\s+)?)\s*[\"']?([^\s\"';&|]+)")


def shell_index_config(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    """Added shell lines that set pip's or conda's index without a config file."""
    for n, line in enumerate(text.split("\n"), 1):
        if n not in added or line.lstrip().startswith("#"):
            continue
        why = _index_command(line)
        if why is not None:
            yield _finding(
                f,
                "config-dependency-source",
                n,
                1,
                f"{why}: later installs resolve packages from it",
                "install packages by name from the approved index; commit the index "
                "config as pip.conf (uv.toml, .condarc) so it is checked",
            )


def _index_command(line: str) -> str | None:
    m = _PIP_CONFIG_SET.search(line)
    if m and not _TRUSTED_INDEX.match(m.group("value")):
        return f"`pip config set` sets {m.group('key')} to {m.group('value')!r}"
    m = _CONDA_CONFIG.search(line)
    if m and ("://" in m.group("value") or m.group("key") != "channels"):
        return f"`conda config` sets {m.group('key')} to {m.group('value')!r}"
    dest = _config_write(line)
    if dest is not None:
        return f"writes {dest!r}, which pip, uv or conda reads as its config"
    return None


def _config_write(line: str) -> str | None:
    """The pip/uv/conda config a cp/mv/install/ln or a redirect writes, unless
    it is copied from a repository file of the same name (judged by it)."""
    for m in _COPY_CMD.finditer(line):
        words = [w.strip("\"'") for w in m.group(1).split() if not w.startswith("-")]
        dest = words[-1] if len(words) >= 2 else ""
        if _base_name(dest) in _INDEX_CONFIGS and not all(
            _same_repo_file(w, dest) for w in words[:-1]
        ):
            return dest
    for m in _REDIRECT.finditer(line):
        if _base_name(m.group(1)) in _INDEX_CONFIGS:
            return m.group(1)
    return None


def _same_repo_file(source: str, dest: str) -> bool:
    """``source`` is a repository file named like ``dest`` (`ci/pip.conf`): not
    an absolute path, a home, a variable, a URL or another stage's file."""
    outside = source.startswith(("/", "~", "..")) or "$" in source or "://" in source
    return not outside and _base_name(source) == _base_name(dest)
