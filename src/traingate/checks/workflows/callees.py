"""Outsider data passed to a local action or reusable workflow that expands it.

zizmor reads one file at a time. The two-step plant uses that: a composite
action ``./.github/actions/notify`` whose ``run:`` expands ``${{ inputs.message }}``
is merged first (or long ago), then a change adds a caller passing
``message: ${{ github.event.pull_request.title }}``. Neither file alone is an
injection zizmor reports in that change. This module follows the call: for
each ``uses: ./...`` step or job in a changed workflow or action whose
``with:`` (on a line the change added) carries outsider data, it reads the
callee from the head tree through git (an unchanged base file included) and
reports when that input reaches a ``run:`` script or ``actions/github-script``
code there: directly, through the callee's ``env:`` re-expanded as
``${{ env.X }}``, a step output, a job output or a matrix, or passed on to
another local callee (followed up to ``MAX_DEPTH`` hops). An input the callee
only reads as ``"$VAR"`` from ``env:`` is data, not code: quiet. A callee the
gate cannot read (missing, a symlink or submodule, not YAML, too deep) blocks
as ``workflow-callee-unjudged``: GitHub resolves a local ``uses:`` in the job's
workspace at run time, so what is not in the head tree is whatever the job
checked out. Remote actions (``owner/repo@sha``) are not followed.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from traingate import git
from traingate.change import Change, ChangedFile
from traingate.checks.base import Context
from traingate.checks.workflows import RULES, laundering
from traingate.errors import GitError
from traingate.findings import Finding

# GitHub nests reusable workflows 10 deep and composite actions 10 deep; a chain
# longer than this is not followed but blocks (an insider could otherwise add
# one more hop than the gate reads).
MAX_DEPTH = 8
# Characters one value may expand to (aliases included) before the file is
# not traced but blocks; real workflows are far below (espnet's largest: 30 kB).
MAX_TEXT = 1_000_000
# Actions whose `with: script:` is code (zizmor's list of code-running inputs
# is longer; this is the one training repositories use).
_SCRIPT_ACTIONS = re.compile(r"^actions/github-script@", re.I)  # names are case-insensitive
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
# Context and property names are case-insensitive in GitHub's expressions
# (`Inputs.Message` is `inputs.message`): bodies are lowercased before these
# match, and every name the trace records is lowercased.
_INPUT = re.compile(r"""\binputs\s*(?:\.\s*([\w-]+)|\[\s*['"]([\w-]+)['"]\s*\])""")
# `github` read whole or by a computed index (`toJSON(github)`,
# `github[format('ev{0}', 'ent')]`): it holds the event and head_ref.
_WHOLE_GITHUB = re.compile(r"""\bgithub\b(?!\s*(?:\.\s*[\w-]|\[\s*['"]))""")
# `inputs` read whole or by a computed name (`toJSON(inputs)`,
# `inputs[format('mes{0}', 'sage')]`): any input may be the one expanded.
_ANY_INPUT = re.compile(r"""\binputs\b(?!\s*(?:\.\s*[\w-]|\[\s*['"][\w-]+['"]\s*\]))""")
_ENV = re.compile(r"\benv\s*\.\s*([\w-]+)")
_STEP_OUT = re.compile(r"\bsteps\s*\.\s*([\w-]+)\s*\.\s*outputs\b")
_NEEDS_OUT = re.compile(r"\bneeds\s*\.\s*([\w-]+)\s*\.\s*outputs\s*\.\s*([\w-]+)")
_MATRIX = re.compile(r"\bmatrix\b")
_LINK_MODES = ("120000", "160000")

Node = yaml.Node
Source = Callable[[str], bool]  # whether one ${{ }} body names outsider data directly


class Unjudged(Exception):
    """A callee the trace cannot read; the message names its path."""


@dataclass(frozen=True)
class Sink:
    path: str  # the callee file holding the expansion
    line: int
    kind: str  # "run: script", "github-script code"


@dataclass
class _Doc:
    """A workflow or action file as YAML nodes, with what the trace needs."""

    path: str
    root: Node
    jobs: list[tuple[str, Node]] = field(default_factory=list)  # workflow jobs
    steps: list[tuple[str | None, Node]] = field(default_factory=list)  # (job, step)


def trace(ctx: Context) -> list[Finding]:
    """Findings for outsider data a changed file passes to a local callee."""
    out: list[Finding] = []
    for f in ctx.files:
        if f.new_path is None or f.new_mode is None or not f.new_mode.startswith("100"):
            continue  # a link or submodule is already blocked by the zizmor runner
        data = ctx.change.read(f.new_oid) or b""
        doc = _parse(f.path, data)
        if doc is None:
            continue
        added = _Every() if ctx.scan_all or _moved(f) else set(f.added_lines)
        try:
            old = _tainted_calls(_parse(f.path, ctx.change.read(f.old_oid) or b""))
            out.extend(list(_calls(ctx.change, doc, added, old)))
        except Unjudged as exc:  # the caller itself: an alias bomb
            why = f"the file's calls of local actions were not traced: {exc}"
            out.append(RULES.finding("workflow-callee-unjudged", path=f.path, message=why))
    return out


def _moved(f: ChangedFile) -> bool:
    return f.old_path is not None and f.old_path != f.new_path


class _Every:
    def __contains__(self, line: object) -> bool:
        return True


# --------------------------------------------------------------------------- callers


def _calls(
    change: Change, doc: _Doc, added: Container[int], old: set[tuple[str, str, str]]
) -> Iterator[Finding]:
    """One finding per `with:` entry whose outsider data a local callee
    expands (or cannot be judged), when the change made it: the entry or its
    `uses:` is on an added line, or the entry carried no outsider data in the
    base (``old``) and now does (a step output it reads was changed to read
    the PR title, lines away from the call)."""
    for uses, key, value, text in _tainted_entries(doc):
        target = str(uses.value)
        lines = {uses.start_mark.line + 1, key.start_mark.line + 1}
        lines |= set(range(value.start_mark.line + 1, value.end_mark.line + 2))
        if any(n in added for n in lines) or (target, str(key.value), text) not in old:
            at = (key.start_mark.line + 1, key.start_mark.column + 1)
            yield from _report(change, doc, target, str(key.value), text, at)


def _tainted_entries(doc: _Doc) -> Iterator[tuple[Node, Node, Node, str]]:
    """(uses, key, value, text) of each `with:` entry of a local call that
    carries outsider data."""
    taint = _Taint(doc, _caller_source(doc))
    for uses, with_ in _call_sites(doc):
        target = _scalar(uses)
        if target is None or not target.startswith("./") or with_ is None:
            continue
        for key, value in _pairs(with_):
            text = _flat(value)
            if taint.expr(text):
                yield uses, key, value, text


def _tainted_calls(doc: _Doc | None) -> set[tuple[str, str, str]]:
    """(target, input, value) of the base's tainted local calls."""
    if doc is None:
        return set()
    return {(str(u.value), str(k.value), t) for u, k, _, t in _tainted_entries(doc)}


def _report(
    change: Change, doc: _Doc, target: str, name: str, text: str, at: tuple[int, int]
) -> Iterator[Finding]:
    where = f"`{name}: {text.strip()}` passed to {target}"
    try:
        sinks = _follow(change, doc.path, target, {name}, 1, set())
    except Unjudged as exc:
        yield RULES.finding(
            "workflow-callee-unjudged",
            path=doc.path,
            line=at[0],
            column=at[1],
            message=f"{where}, which the gate cannot read: {exc}",
        )
        return
    for s in sorted(sinks, key=lambda s: (s.path, s.line)):
        yield RULES.finding(
            "workflow-template-injection",
            path=doc.path,
            line=at[0],
            column=at[1],
            message=f"{where}: expanded into a {s.kind} at {s.path}:{s.line} (outsider data "
            "reaches code across files; zizmor reads one file at a time)",
        )


def _caller_source(doc: _Doc) -> Source:
    """Event data; also the file's own inputs when it is an action or a
    reusable workflow (zizmor treats those inputs as outsider data too: a
    caller it does not see decides them)."""
    own = _is_action(doc.path) or _workflow_call(doc.root)

    def source(body: str) -> bool:
        if any(laundering.untrusted(m.group(0)) for m in laundering.CONTEXT.finditer(body)):
            return True
        if _WHOLE_GITHUB.search(body):
            return True
        return own and re.search(r"\binputs\b", body) is not None

    return source


def _call_sites(doc: _Doc) -> Iterator[tuple[Node, Node | None]]:
    """(uses, with) of every step and every job that calls something."""
    for _, job in doc.jobs:
        uses = _get(job, "uses")
        if uses is not None:
            yield uses, _get(job, "with")
    for _, step in doc.steps:
        uses = _get(step, "uses")
        if uses is not None:
            yield uses, _get(step, "with")


# --------------------------------------------------------------------------- callees


def _follow(
    change: Change, caller: str, target: str, names: set[str], depth: int, seen: set[str]
) -> set[Sink]:
    """Where inputs ``names`` of the local callee ``target`` reach code."""
    if depth > MAX_DEPTH:
        raise Unjudged(f"{target}: more than {MAX_DEPTH} nested local callees")
    path, data = _read_callee(change, caller, target)
    names = {n.lower() for n in names}
    key = f"{path}:{','.join(sorted(names))}"
    if key in seen:
        return set()  # a cycle (GitHub refuses it); nothing new on this path
    seen.add(key)
    doc = _parse(path, data)
    if doc is None:
        raise Unjudged(f"{path} is not a workflow or action YAML mapping")

    def source(body: str) -> bool:
        if _ANY_INPUT.search(body):
            return True
        return any((m.group(1) or m.group(2)) in names for m in _INPUT.finditer(body))

    taint = _Taint(doc, source)
    sinks = set(_sinks(doc, taint))
    for uses, with_ in _call_sites(doc):
        inner = _scalar(uses)
        if inner is None or not inner.startswith("./") or with_ is None:
            continue
        passed = {str(k.value).lower() for k, v in _pairs(with_) if taint.expr(_flat(v))}
        if passed:
            sinks |= _follow(change, path, inner, passed, depth + 1, seen)
    return sinks


def _sinks(doc: _Doc, taint: _Taint) -> Iterator[Sink]:
    for _, step in doc.steps:
        run = _get(step, "run")
        if run is not None and taint.expr(_flat(run)):
            yield Sink(doc.path, run.start_mark.line + 1, "run: script")
        uses = _scalar(_get(step, "uses"))
        script = _get(_get(step, "with"), "script")
        code = script is not None and uses is not None and _SCRIPT_ACTIONS.match(uses)
        if code and script is not None and taint.expr(_flat(script)):
            yield Sink(doc.path, script.start_mark.line + 1, "github-script code")


def _read_callee(change: Change, caller: str, target: str) -> tuple[str, bytes]:
    """The callee's path and head blob: a workflow file, else the directory's
    action.yml (GitHub's first choice) or action.yaml."""
    path = _resolve(caller, target)
    if path.endswith((".yml", ".yaml")):
        candidates = [path]
    else:
        candidates = [f"{path}/action.yml", f"{path}/action.yaml"]
    for cand in candidates:
        found = _blob_at(change, cand)
        if found is None:
            continue
        mode, data = found
        if mode in _LINK_MODES or not mode.startswith("100"):
            raise Unjudged(f"{cand} is not a regular file in the head tree (a symlink?)")
        return cand, data
    if len(candidates) == 1:
        raise Unjudged(f"{path} is not in the head tree")
    raise Unjudged(f"neither {' nor '.join(candidates)} is in the head tree")


def _resolve(caller: str, target: str) -> str:
    """``./x`` from the workspace root: the repository root, or for a file
    under a nested ``sub/.github/`` that directory (what a subtree split
    makes the root, as the check's paths assume)."""
    prefix = caller.split(".github/", 1)[0] if ".github/" in caller else ""
    if prefix and not prefix.endswith("/"):
        prefix = ""  # `x.github/...` is not a .github directory
    path = posixpath.normpath(prefix + target[2:])
    if path in (".", "") or path.startswith("../") or path == "..":
        raise Unjudged(f"{target} resolves outside the repository ({path})")
    return path


def _blob_at(change: Change, path: str) -> tuple[str, bytes] | None:
    """(mode, content) of ``path`` in the tree the change produces."""
    for f in change.files:
        if f.new_path == path:
            data = change.read(f.new_oid) if f.new_mode and f.new_mode.startswith("100") else b""
            return f.new_mode or "", data or b""
    if any(f.old_path == path for f in change.files):
        return None  # deleted or moved away by the change
    if change.mode == "scan":
        return _disk(change.root / path)
    rev = change.head if change.mode == "range" else (change.merge_base or change.base)
    if not rev:
        return None
    try:
        out = git.run(change.root, "ls-tree", "-z", "--full-tree", rev, "--", path)
    except GitError as exc:
        raise Unjudged(f"{path}: {exc}") from exc
    meta, _, _name = out.split(b"\0")[0].partition(b"\t")
    parts = meta.decode().split()
    if len(parts) != 3:
        return None
    mode, kind, oid = parts
    if kind != "blob":
        return mode, b""
    return mode, change.read(oid) or b""


def _disk(p: Path) -> tuple[str, bytes] | None:
    """`traingate scan` has no git tree: the file on disk, a link as a link."""
    if p.is_symlink():
        return "120000", b""
    if not p.is_file():
        return None
    return "100644", p.read_bytes()


# --------------------------------------------------------------------------- taint


class _Taint:
    """Which ``${{ }}`` bodies in one file carry data ``source`` names,
    directly or through the file's env:, step outputs, job outputs and
    matrices (over-approximate: a step that reads the data taints all its
    outputs; an env name tainted anywhere is tainted everywhere)."""

    def __init__(self, doc: _Doc, source: Source) -> None:
        self.source = source
        self.env: set[str] = set()
        self.steps: set[str] = set()
        self.outputs: set[tuple[str, str]] = set()
        self.matrix: set[str | None] = set()  # jobs whose matrix is tainted
        self._fixpoint(doc)

    def expr(self, text: str) -> bool:
        return any(self._body(m.group(1).lower()) for m in _EXPR.finditer(text))

    def _body(self, body: str) -> bool:
        if self.source(body):
            return True
        if any(m.group(1) in self.env for m in _ENV.finditer(body)):
            return True
        if any(m.group(1) in self.steps for m in _STEP_OUT.finditer(body)):
            return True
        if any((m.group(1), m.group(2)) in self.outputs for m in _NEEDS_OUT.finditer(body)):
            return True
        return bool(self.matrix) and _MATRIX.search(body) is not None

    def _fixpoint(self, doc: _Doc) -> None:
        before = -1
        while before != self._size():
            before = self._size()
            for node in _envs(doc):
                for k, v in _pairs(node):
                    if self.expr(_flat(v)):
                        self.env.add(str(k.value).lower())
            for _, step in doc.steps:
                sid = _scalar(_get(step, "id"))
                if sid and any(self.expr(_flat(_get(step, k))) for k in ("env", "with", "run")):
                    self.steps.add(sid.lower())
            for name, job in doc.jobs:
                for k, v in _pairs(_get(job, "outputs")):
                    if self.expr(_flat(v)):
                        self.outputs.add((name.lower(), str(k.value).lower()))
                if self.expr(_flat(_get(_get(job, "strategy"), "matrix"))):
                    self.matrix.add(name)

    def _size(self) -> int:
        return len(self.env) + len(self.steps) + len(self.outputs) + len(self.matrix)


def _envs(doc: _Doc) -> Iterator[Node]:
    """Every env: mapping: the file's, each job's, each step's."""
    for node in [doc.root, *(j for _, j in doc.jobs), *(s for _, s in doc.steps)]:
        env = _get(node, "env")
        if env is not None:
            yield env


# --------------------------------------------------------------------------- YAML


def _parse(path: str, data: bytes) -> _Doc | None:
    """The file as nodes, or None when it is not a mapping YAML can compose
    (zizmor reports the caller's own parse errors; a callee's block)."""
    try:
        root = yaml.compose(data.decode("utf-8", "replace"), Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    doc = _Doc(path, root)
    for k, job in _pairs(_get(root, "jobs")):
        doc.jobs.append((str(k.value), job))
        doc.steps.extend((str(k.value), s) for s in _items(_get(job, "steps")))
    doc.steps.extend((None, s) for s in _items(_get(_get(root, "runs"), "steps")))
    return doc


def _get(node: Node | None, key: str) -> Node | None:
    for k, v in _pairs(node):
        if k.value == key:
            return v
    return None


def _pairs(node: Node | None) -> list[tuple[Node, Node]]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _items(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar(node: Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _flat(node: Node | None) -> str:
    """Every scalar under ``node``, one per line (keys too: a matrix key can
    be an expression)."""
    return _Flat().text(node)


class _Flat:
    """:func:`_flat` with each node read once and a bound on the text: YAML
    aliases (GitHub reads anchors) can make a small file expand without end."""

    def __init__(self) -> None:
        self.memo: dict[int, str] = {}
        self.size = 0

    def text(self, node: Node | None) -> str:
        if node is None:
            return ""
        done = self.memo.get(id(node))
        if done is not None:
            self.size += len(done)
        else:
            done = self._build(node)
            self.memo[id(node)] = done
        if self.size > MAX_TEXT:
            raise Unjudged(f"a value expands past {MAX_TEXT} characters through YAML aliases")
        return done

    def _build(self, node: Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            out = str(node.value)
        elif isinstance(node, yaml.SequenceNode):
            out = "\n".join(self.text(n) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            out = "\n".join(f"{self.text(k)}\n{self.text(v)}" for k, v in node.value)
        else:
            out = ""
        self.size += len(out)
        return out


def _is_action(path: str) -> bool:
    return posixpath.basename(path) in ("action.yml", "action.yaml")


def _workflow_call(root: Node) -> bool:
    # PyYAML reads a bare `on` key as the boolean True; compose keeps the text.
    on = _get(root, "on")
    if isinstance(on, yaml.ScalarNode):
        return str(on.value) == "workflow_call"
    if isinstance(on, yaml.SequenceNode):
        return any(_scalar(n) == "workflow_call" for n in on.value)
    return _get(on, "workflow_call") is not None
