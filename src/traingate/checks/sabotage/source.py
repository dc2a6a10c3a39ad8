"""What the sabotage check reads of a changed file, and who blocks what it cannot read.

The text is the one CPython runs (issue #16): a UTF-8 BOM is dropped and a
PEP 263 cookie decodes the bytes, mapped back to git's lines, so a utf-7
"comment" that is code is judged as code. A file the check cannot judge (NUL
bytes, too large, a notebook it cannot read, a parse error) used to be left to
the semgrep check; a policy that narrows that check (``exclude: [train/**]``,
``enabled: false``, its scanner findings set to ``warn``, an exemption) left it
judged by nobody. ``semgrep_blocks`` says whether the semgrep check blocks the
file itself, so the sabotage check reports it otherwise, and only then.
"""

from __future__ import annotations

import bisect
import codecs
import datetime as dt
import itertools
import json
import posixpath
import re
from typing import Literal, NamedTuple

from traingate import paths
from traingate.change import ChangedFile, is_binary
from traingate.checks.base import Context
from traingate.checks.semgrep.targets import _SHEBANG, PY_EXT, _surface_kind
from traingate.checks.unicode.cookie import source_encoding
from traingate.findings import Finding
from traingate.notebook import ipython_source, notebook_source
from traingate.policy.base import Severity

NOTEBOOK = ".ipynb"
Kind = Literal["python", "notebook", "ipython", "shebang"]
_BOM = "\ufeff"
_CELLS = ("cells", "worksheets")  # nbformat 4 and 1; 2 and 3
_EOL = re.compile(r"\r\n|\r|\n")


class Source(NamedTuple):
    text: str  # what CPython compiles (a notebook's code cells as one module)
    line_map: list[int] | None  # the git line of each line of ``text``; None: the same


class Unjudged(NamedTuple):
    why: str  # shown in the finding: "(it contains NUL bytes)"
    rule: str  # the semgrep check's finding for the same file, when it covers it


def kind(path: str) -> Kind | None:
    """What the semgrep check scans as Python (issue #16): ``.py``, ``.pyi``,
    ``.pyw``, ``.ipynb`` and ``.ipy`` in any case (``python train/Train.PY`` runs it),
    and a file without an extension ("shebang": Python if its #! line says so,
    see ``read``); None for the rest, ``.pth`` and templates included."""
    ext = posixpath.splitext(path)[1].lower()
    if ext in PY_EXT:
        return "python"
    if ext == NOTEBOOK:
        return "notebook"
    if ext == ".ipy":
        return "ipython"  # issue #16: an IPython script, read as one notebook cell
    if ext == "" and _surface_kind(path) is None:  # not a Makefile or Dockerfile
        return "shebang"
    return None


def read(ctx: Context, f: ChangedFile, limit: int) -> Source | Unjudged | None:
    """The changed file's source, why it cannot be judged, or None (no blob:
    a deletion, a symlink, a submodule; no Python: see ``kind``)."""
    path = f.new_path or ""
    what = kind(path)
    if what is None:
        return None
    if f.new_oid is None or f.new_mode is None or not f.new_mode.startswith("100"):
        return None
    data = ctx.change.read(f.new_oid)
    if data is None:
        return None
    if what == "shebang":
        # The semgrep check's test, on the bytes it tests (NUL bytes dropped).
        m = _SHEBANG.match(data.replace(b"\0", b""))
        if m is None or not m.group(1).startswith(b"python"):
            return None
    # Issue #16: a notebook's limit is on its code, not its outputs (as the
    # semgrep check's); its JSON is read up to 16 times the limit.
    if len(data) > limit and not (what == "notebook" and len(data) <= limit * 16):
        # An ast of a file this size can take gigabytes (a 50 MB literal list did).
        return Unjudged(
            f"it is {len(data):,} bytes, more than checks.semgrep.max_file_bytes ({limit:,})",
            "source-unreadable",
        )
    if b"\0" in data:
        # No interpreter runs it as is (CPython < 3.12 cut lines at a NUL). The
        # semgrep check reports a file without an extension as unreadable.
        unreadable = is_binary(data) or what == "shebang"
        return Unjudged(
            "it contains NUL bytes", "source-unreadable" if unreadable else "python-syntax-error"
        )
    if what == "notebook":
        got = _notebook(data.decode("utf-8", "replace"))
        if isinstance(got, Source) and len(got.text) > limit:
            return Unjudged(
                f"its code cells are {len(got.text):,} bytes, more than "
                f"checks.semgrep.max_file_bytes ({limit:,})",
                "source-unreadable",
            )
        return got
    if what == "ipython":
        return Source(*ipython_source(data.decode("utf-8", "replace")))
    return _python(data)


def _python(data: bytes) -> Source:
    got = _by_cookie(data)
    if got is not None:
        return got
    # Not UTF-8 and no cookie: CPython refuses to run it; judged as far as it reads.
    return Source(data.decode("utf-8", "replace").removeprefix(_BOM), None)


def _by_cookie(data: bytes) -> Source | None:
    """The text a PEP 263 cookie makes CPython compile, with the git line each
    of its lines starts on. Lines as ``ast`` counts them (\\n, \\r\\n, \\r),
    not str.splitlines (which also breaks at \\x0c and U+2028): a form feed
    must not shift a payload off the added line it sits on."""
    cookie = source_encoding(data)
    if cookie is None or cookie.codec is None or cookie.codec in ("utf-8", "ascii"):
        return None
    try:
        decoder = codecs.getincrementaldecoder(cookie.codec)("replace")
        chunks = data.split(b"\n")
        parts = [decoder.decode(c + b"\n", final=False) for c in chunks[:-1]]
        parts.append(decoder.decode(chunks[-1], final=True))
    except (UnicodeError, ValueError, TypeError, LookupError):
        return None  # CPython cannot decode it either: judged as UTF-8
    starts = list(itertools.accumulate((len(p) for p in parts[:-1]), initial=0))
    text = "".join(parts)
    lines = [0, *(m.end() for m in _EOL.finditer(text))]
    # A stateful codec may emit a line's text with a later git line: the later one.
    line_map = [bisect.bisect_right(starts, pos) for pos in lines]
    if text.startswith(_BOM):
        text = text[1:]
    return Source(text, line_map)


def _notebook(raw: str) -> Source | Unjudged | None:
    try:
        nb = json.loads(raw)
    except ValueError:
        return None  # no Jupyter opens it: nothing of it runs
    if not isinstance(nb, dict) or not any(isinstance(nb.get(k), list) for k in _CELLS):
        return Unjudged("JSON that is no notebook Jupyter reads", "source-unreadable")
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(_in_source(c) for c in cells):
        # Jupyter still opens nbformat 1-3 (``worksheets``, code in ``input`` or
        # ``code``); the semgrep check scans those cells, but judges no sabotage.
        return Unjudged("a notebook whose code is not in nbformat 4 cells' `source`", "")
    got = notebook_source(raw)
    return Unjudged("a notebook it cannot read", "") if got is None else Source(*got)


def _in_source(cell: object) -> bool:
    """A cell whose code, if any, is where notebook_source reads it."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return True
    src = cell.get("source", "")
    text = isinstance(src, str) or (isinstance(src, list) and all(isinstance(x, str) for x in src))
    return text and "input" not in cell and "code" not in cell


def semgrep_blocks(ctx: Context, path: str, rule: str) -> bool:
    """Whether the semgrep check reports ``rule`` on ``path`` and the policy
    lets that finding stop the merge (block or an approval, not exempted)."""
    if not rule:
        return False
    policy = ctx.policy.policy
    settings = policy.checks.semgrep
    fold = policy.case_insensitive_paths
    if not settings.enabled or not paths.covered(settings.paths, settings.exclude, path, fold=fold):
        return False
    from traingate.engine import resolve_action

    probe = Finding(path, 1, 1, "semgrep", rule, Severity.ERROR, "", category="scanner")
    if resolve_action(policy, settings, probe) in ("warn", "ignore"):
        return False
    today = dt.date.today()
    return not any(
        ex.check == "semgrep"
        and ex.rule in ("*", rule)
        and ex.expires >= today
        and paths.matches(ex.paths, path, fold=fold)
        for ex in policy.exemptions
    )
