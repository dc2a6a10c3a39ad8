"""Start-up and install hooks declared in config files (session 26 red team).

Two places name code that runs without anyone calling it, in a file that is
not itself Python:

- VS Code's Jupyter extension runs ``jupyter.runStartupCommands`` in every
  kernel it starts for the workspace (``.vscode/settings.json``, or a
  ``*.code-workspace`` file's ``settings``): IPython's ``exec_lines`` without
  an IPython config.
- hatch installs a repository file under another name (``force-include``,
  ``shared-data``): a ``notes.txt`` installed as ``x.pth`` at the wheel's root
  lands in site-packages, and site.py runs its ``import`` lines at every
  interpreter start; a directory installed as ``sitecustomize`` is the site
  hook. A ``[tool.hatch...hooks.custom]`` table runs the repository's build
  hook (``hatch_build.py`` by default) at every ``pip install``, as a setup.py
  ``cmdclass`` does.
- a console script named like a command the jobs call (``torchrun``, ``pip``,
  ``python``...): once the project is installed, the launch scripts' reviewed
  ``torchrun`` line runs the repository's function instead (pyproject
  ``[project.scripts]``, Poetry's ``scripts``, hatch's ``shared-scripts``,
  setup.cfg's ``[options.entry_points]``, setup.py's ``entry_points``).

Each yields ``(rule id, line, message)`` for the autorun check to report. The
files are read with the config check's parsers (positions on git's lines); one
that does not parse is ``autorun-unreadable``, whatever the config check's
settings.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from traingate.checks.config.decode import config_text
from traingate.checks.config.doc import ConfigDoc, ConfigError, KeyPath
from traingate.checks.config.parse import parse_config
from traingate.checks.config.pytest_ini import ini_values

Hit = tuple[str, int, str]

# `.vscode/settings.json` of any folder (a multi-root workspace opens each), and
# a workspace file, whose "settings" object holds the same keys.
VSCODE_SETTINGS = re.compile(r"(?:^|/)(?:\.vscode/settings\.json|[^/]*\.code-workspace)$", re.I)
# Matched on a key's last dotted part, any case: `"jupyter.runStartupCommands"`
# and an object form `"jupyter": {"runStartupCommands": ...}` alike.
_STARTUP_KEY = re.compile(r"(?:^|\.)runstartupcommands$", re.I)
# Where hatch's wheel builder installs a file under the name the table gives.
_RENAMING_TABLES = frozenset({"force-include", "shared-data"})
_SITE_HOOK_NAME = re.compile(
    r"^(?:site|user)customize(?:\.pyw?|(?:\.[\w.-]+)?\.(?:so|pyd))?$", re.I
)


def parse(fmt: str, data: bytes) -> ConfigDoc | ConfigError:
    """The parsed file, or the error to report at its line."""
    try:
        return parse_config(fmt, config_text(fmt, data).text)
    except ConfigError as exc:
        return exc


def vscode_startup(doc: ConfigDoc, added: set[int]) -> Iterator[Hit]:
    """An added line of a ``runStartupCommands`` value."""
    for path, leaf in doc.leaves.items():
        if leaf.line in added and any(_startup_key(seg) for seg in path):
            yield (
                "autorun-ipython-startup",
                leaf.line,
                "VS Code's Jupyter extension runs jupyter.runStartupCommands in every kernel "
                "it starts for this workspace, before the first cell (IPython's exec_lines "
                "without an IPython config)",
            )
            return


def _startup_key(seg: str | int) -> bool:
    return isinstance(seg, str) and _STARTUP_KEY.search(seg) is not None


def hatch_hooks(doc: ConfigDoc, added: set[int]) -> Iterator[Hit]:
    """Added lines of pyproject tables that install a start-up hook, run a build
    hook or install a command under a name the jobs call."""
    for path, leaf in doc.leaves.items():
        if leaf.line not in added or path[:1] not in (("tool",), ("project",)):
            continue
        hit = _renamed_hook(path, leaf.value) or _custom_hook(path) or _script_table(path)
        if hit is not None:
            yield hit[0], leaf.line, hit[1]


def _renamed_hook(path: KeyPath, dest: object) -> tuple[str, str] | None:
    # `"src/x.txt" = "x.pth"`: the key is the source, the value where it lands.
    if len(path) < 2 or path[-2] not in _RENAMING_TABLES | {"shared-scripts"}:
        return None
    if not isinstance(dest, str):
        return None
    name = dest.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if path[-2] == "shared-scripts":  # installed into bin/ under that name
        return _shadow(name)
    if name.lower().endswith(".pth"):
        rule, why = "autorun-pth-import", "site.py runs its `import` lines at interpreter start"
    elif _SITE_HOOK_NAME.match(name):
        rule, why = "autorun-site-hook", "site.py imports it at every interpreter start"
    else:
        return None
    return rule, (
        f"hatch installs {path[-1]!r} as {dest!r} ({path[-2]}): in site-packages, {why}; "
        "the file's own name hides it from the .pth and sitecustomize rules"
    )


def _custom_hook(path: KeyPath) -> tuple[str, str] | None:
    # [tool.hatch.build.hooks.custom], [tool.hatch.build.targets.wheel.hooks.custom],
    # [tool.hatch.metadata.hooks.custom]: hatch imports the hook file and runs it.
    at = next((i for i in range(len(path) - 1) if path[i : i + 2] == ("hooks", "custom")), None)
    if at is None:
        return None
    return "autorun-setup-cmdclass", (
        "a hatch custom build hook (" + ".".join(str(s) for s in path[: at + 2]) + "): "
        "hatch runs the repository's hook module (hatch_build.py by default) when anyone "
        "pip-installs or builds the project"
    )


# Commands a training repository's launch scripts, CI and notebooks call by
# name: a console script of the project with one of these names is found on
# PATH (the venv's bin/) before the real one once the project is installed.
SHADOWED = frozenset(
    [
        "python",
        "python3",
        "pip",
        "pip3",
        "uv",
        "conda",
        "mamba",
        "micromamba",
        "pipx",
        "pytest",
        "ipython",
        "jupyter",
        "torchrun",
        "accelerate",
        "deepspeed",
        "huggingface-cli",
        "hf",
        "wandb",
        "tensorboard",
        "mlflow",
        "ray",
        "git",
        "git-lfs",
        "bash",
        "sh",
        "zsh",
        "env",
        "ssh",
        "scp",
        "rsync",
        "curl",
        "wget",
        "sudo",
        "nvidia-smi",
        "nvcc",
        "srun",
        "sbatch",
        "salloc",
        "mpirun",
        "mpiexec",
        "horovodrun",
        "docker",
        "kubectl",
        "gsutil",
        "aws",
    ]
)
_VERSIONED = re.compile(r"^(?:python|pip)[0-9][0-9.]*$")
# [project.scripts], [project.gui-scripts], [project.entry-points.console_scripts],
# [tool.poetry.scripts]: the key is the command's name.
_SCRIPT_TABLES = (
    ("project", "scripts"),
    ("project", "gui-scripts"),
    ("project", "entry-points", "console_scripts"),
    ("project", "entry-points", "gui_scripts"),
    ("tool", "poetry", "scripts"),
)
# A setup.cfg / setup.py entry point: `name = module:function [extras]`.
_ENTRY = re.compile(r"^\s*([^=\s][^=]*?)\s*=")


def _script_table(path: KeyPath) -> tuple[str, str] | None:
    for table in _SCRIPT_TABLES:
        n = len(table)
        name = path[n] if path[:n] == table and len(path) > n else None
        if isinstance(name, str):
            return _shadow(name)
    return None


def _shadow(name: str) -> tuple[str, str] | None:
    # Windows and pip strip no suffix from a console script's name; PATH
    # lookup is by the exact name, so compare it as written, lower-cased.
    if name.lower() not in SHADOWED and not _VERSIONED.match(name.lower()):
        return None
    return "autorun-command-shadow", (
        f"the project installs a command named {name!r}: once it is installed, every "
        f"launch script, CI job or notebook that runs `{name}` runs this project's code "
        "instead"
    )


def setup_cfg_scripts(text: str, added: set[int]) -> Iterator[Hit]:
    """setup.cfg ``[options.entry_points]`` console_scripts / gui_scripts lines."""
    for key in ("console_scripts", "gui_scripts"):
        for n, value in ini_values(text, "options.entry_points", key):
            m = _ENTRY.match(value)
            hit = _shadow(m.group(1)) if m and n in added else None
            if hit is not None:
                yield hit[0], n, hit[1]
                return


def setup_py_scripts(tree: ast.Module) -> Iterator[tuple[int, int, str]]:
    """(first line, last line, message) of each string of a setup.py
    ``console_scripts``/``gui_scripts`` entry that names a shadowed command:
    ``{"console_scripts": [...]}`` or ``dict(console_scripts=[...])``."""
    for value in _script_values(tree):
        for item in ast.walk(value):
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                continue
            m = _ENTRY.match(item.value)
            hit = _shadow(m.group(1)) if m else None
            if hit is not None:
                yield item.lineno, item.end_lineno or item.lineno, hit[1]


def _script_values(tree: ast.Module) -> Iterator[ast.expr]:
    kinds = ("console_scripts", "gui_scripts")
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in kinds:
                    yield value
        elif isinstance(node, ast.keyword) and node.arg in kinds:
            yield node.value
