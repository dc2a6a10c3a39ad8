"""The shipped rule pack written for one run with its screens applied (issue #17).

Each screened rule (screen.py) gets an include glob on the targets' masks, so
semgrep runs a rule only on the files its screen admits. Split from screen.py,
which says what a screen is; this module says how semgrep is told.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from traingate.checks.semgrep.screen import _ID, read
from traingate.checks.semgrep.targets import Target, is_python
from traingate.errors import CheckError

_PATHS = re.compile(r"^    paths:\n((?:      [^\n]*\n)+)", re.M)
_INCLUDE_ITEM = re.compile(r'^(        - )"(\*[^"/]*)"$', re.M)


def with_include(text: str, rule_id: str, glob: str) -> str:
    """A shipped rule file's text with its rule limited to names matching ``glob``
    (``*-<mask prefix>1*``); a rule's own include globs (``"*.py"``) are
    narrowed to the same mask."""
    paths = _PATHS.search(text)
    if paths is None:
        head = _ID.search(text)
        assert head is not None  # read() found exactly one
        return text[: head.end()] + f'\n    paths:\n      include: ["{glob}"]' + text[head.end() :]
    block = paths.group(1)
    if not block.startswith("      include:\n"):
        raise CheckError(f"screened rule {rule_id}: its paths must start with include:")
    items = _INCLUDE_ITEM.findall(block)
    listed = [ln for ln in block.splitlines()[1:] if ln.startswith("        ")]
    if not items or len(items) != len(listed):
        raise CheckError(f"screened rule {rule_id}: each include must be a quoted *-glob")
    narrowed = _INCLUDE_ITEM.sub(lambda m: f'{m.group(1)}"{glob[:-1]}{m.group(2)}"', block)
    return text[: paths.start(1)] + narrowed + text[paths.end(1) :]


class ScreenedPack:
    """The shipped pack with its rules screened (screen.py): each screened
    rule written with an include glob on the targets' masks."""

    def __init__(self, builtin: Path, work_dir: Path | None) -> None:
        files = sorted(builtin.rglob("*.yaml"))
        self.screens, sources = read(files)
        self.sources = sources  # each screened rule's file and text (unitcut.py reads them)
        # Under the run's own temp dir when it has one: removed with it.
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="traingate-rules-")
            into = Path(self._tmp.name)
        else:
            into = Path(tempfile.mkdtemp(prefix="rules-", dir=work_dir))
        self._files: dict[str, Path] = {}
        # Rules no screen covers that may run on a Python file: while there is
        # one, a Python target is given to semgrep even with an all-zero mask.
        self._open_python: set[str] = set()
        for path in files:
            text = path.read_text(encoding="utf-8")
            rule_id = path.stem
            if rule_id in sources:
                text = with_include(text, rule_id, self.screens.include(rule_id))
            elif _LANGUAGES.search(text) is None or _PYTHONISH.search(text) is not None:
                self._open_python.add(rule_id)
            dest = into / path.relative_to(builtin)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
            self._files[rule_id] = dest
        self._root = into
        # Keys of targets Python parsed while masking: their syntax check is done.
        self.parsed: set[str] = set()

    def files(self, rules: set[str] | None) -> list[Path]:
        if rules is None:
            return [self._root]
        return [p for r, p in sorted(self._files.items()) if r in rules]

    def name(self, t: Target, i: int, rules: set[str] | None) -> str | None:
        ids = self.screens.ids
        text = t.content() if is_python(t) else ""
        if not is_python(t) or _SHELL_SHEBANG.match(text[:200]):
            return f"t{i}-{'1' * len(ids)}{t.ext}"  # every rule, as without screens
        mask, parsed = self.screens.mask_parsed(text)
        if parsed:
            self.parsed.add(t.key)
        if rules is not None:
            mask = "".join(m if r in rules else "0" for m, r in zip(mask, ids, strict=True))
        open_rules = self._open_python if rules is None else self._open_python & rules
        if "1" not in mask and not open_rules:
            return None
        return f"t{i}-{mask}{t.ext}"


_LANGUAGES = re.compile(r"^    languages: *\[([^\]]*)\]", re.M)
_PYTHONISH = re.compile(r"^    languages: *\[[^\]]*\b(python|generic|regex|none)\b", re.M)
# A .py file that a shell shebang names as a script: the shell rules run on it too.
_SHELL_SHEBANG = re.compile(r"#![^\n]*\b(bash|sh|zsh|ksh|mksh|dash|ash)\b")
