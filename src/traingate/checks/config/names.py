"""A dangerous callable named as a plain value (issue #16, session 26 red team).

Projects look callables up by name outside ``_target_``: torchtune's recipes
run ``_get_component_from_path(cfg.get("collate_fn", ...))``, and a plugin
hook is an ``importlib.import_module`` plus ``getattr`` of a config string.
Once such a lookup is merged, a config change alone chooses what runs
(``collate_fn: subprocess.getoutput``, ``on_epoch_end: os.system``), and a
config path needs only its ordinary reviewers. So any value that is the
dotted name of something the target check calls dangerous is reported,
whatever its key: of the 142,419 string values of 16,065 real config files
none is one
(docs/security/false-positives.md, session 26).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from traingate.change import ChangedFile
from traingate.checks.config.effective import _Eff, _via
from traingate.checks.config.keypath import format_path
from traingate.checks.config.rules import _finding
from traingate.checks.config.targets import (
    _DANGEROUS_ATTRIBUTE_MODULES,
    _DANGEROUS_LAST,
    _TARGET_KEYS,
    _dangerous_target,
    _logging_section,
)
from traingate.findings import Finding

_TAG = re.compile(r"^!\S*\s+")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
# Data, not code: a constant (`socket.AF_INET`, `subprocess.PIPE`), path
# helpers and the standard streams (`sys.stdout` for a log handler's stream).
_CONSTANT = re.compile(r"_*[A-Z][A-Z0-9_]*")
_DATA = (
    "os.path",
    "os.environ",
    "os.sep",
    "os.linesep",
    "os.devnull",
    "sys.stdout",
    "sys.stderr",
    "sys.stdin",
)


def names_code(text: str) -> bool:
    """``text`` is a dotted name that would run a command, code or an unpickler."""
    # A tagged scalar reads as its tag and text: `!function os.system` (lm-eval's
    # function lookup) names os.system too.
    t = _TAG.sub("", text.strip(), count=1)
    if not _DOTTED.fullmatch(t) or data_name(t):
        return False
    return _dangerous_target(t)


def data_name(t: str) -> bool:
    """A dotted name of data in a dangerous module: a constant
    (`subprocess.PIPE`), a path helper, a standard stream (session 28: also
    read by python_targets.py, where `target="os.path:join"` is a registry's
    lazy path helper)."""
    if _CONSTANT.fullmatch(t.rsplit(".", 1)[-1]):
        return True
    for d in _DATA:
        if t == d:
            return True
        if t.startswith(d + "."):
            # `os.path.os.system` is os.system: posixpath imports os.
            rest = t[len(d) + 1 :].split(".")
            return not (
                _DANGEROUS_ATTRIBUTE_MODULES.intersection(rest) or rest[-1] in _DANGEROUS_LAST
            )
    return False


def dangerous_names(f: ChangedFile, effs: list[_Eff]) -> Iterator[Finding]:
    for e in effs:
        c = e.change
        if e.unknown or not isinstance(e.value, str) or not c.path:
            continue
        if str(c.path[-1]) in _TARGET_KEYS or _logging_section(c.path):
            continue  # the target and logging checks judge these keys
        if not names_code(e.text):
            continue
        yield _finding(
            f,
            "config-dangerous-name",
            c.line,
            c.column,
            f"{format_path(c.path)} = {e.text.strip()!r}{_via(e)} names a callable that "
            "runs a command, evaluates code or unpickles: code that looks this key up by "
            "name (importlib and getattr, hydra.utils.get_method, torchtune's "
            "_get_component_from_path) calls it",
            "name your own function; a value that must name such a callable needs the "
            "security group's review",
        )
