"""Outsider data laundered through a matrix, an env:, a step's or a job's outputs.

zizmor rates ``${{ matrix.cfg }}``, ``${{ steps.meta.outputs.title }}`` and
``${{ needs.meta.outputs.title }}`` in a script Medium or Informational: it
does not follow where they were set. An insider who wants the PR title in a
script without a High finding sets a matrix from ``fromJSON(github.event...)``
or an output from the title and expands that instead. This module follows one
step back, in the same workflow: a matrix whose definition, or a step whose
``env:``/``with:``/``run:``, or a job output whose value, or an ``env:`` entry
re-expanded as ``${{ env.X }}`` (zizmor: Informational), names event data
(``github.event.*``, ``github.head_ref``) makes the expansion as dangerous as
the event data itself. Over-approximate on purpose: a step that reads the
event at all taints all its outputs (its shell can write anything there).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

# A context path: `github.event.x.y`, also in the index form `github['event']['x']`.
# GitHub reads context and property names case-insensitively (`GitHub.Event`
# is `github.event`), so every name here is matched and compared that way.
CONTEXT = re.compile(r"""\bgithub(?:\s*\.\s*[\w-]+|\s*\[\s*['"][^'"]*['"]\s*\])*""", re.I)
# Leaves GitHub fills with a number, a hex sha or a boolean: no outsider can put
# shell in them (a PR number is an int). Only as the last name: `...head.repo.name`
# is a string the fork's owner chooses.
_SCALAR_LEAVES = frozenset(
    {"number", "id", "sha", "head_sha", "draft", "merged", "run_id", "run_number", "run_attempt"}
)
# Values defined elsewhere in the workflow that an expression can expand.
_REFS = re.compile(
    r"\bmatrix\.[\w-]+|\bsteps\.[\w-]+\.outputs\.[\w-]+|\bneeds\.[\w-]+\.outputs\.[\w-]+"
    r"|\benv\.[\w-]+",
    re.I,
)
_ENV = re.compile(r"^env\.([\w-]+)$", re.I)
_STEP = re.compile(r"^steps\.([A-Za-z0-9_-]+)\.outputs\.", re.I)
_NEEDS = re.compile(r"^needs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$", re.I)


def carries_event_data(text: str, fragment: str) -> bool:
    """Whether ``fragment`` (zizmor's expression) was set from event data in
    the workflow ``text``; False when the text is not a workflow mapping."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False  # zizmor loaded it; a parser disagreement is not evidence
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, dict):
        return False
    return _Flow(jobs, doc.get("env")).tainted(fragment, None)


class _Flow:
    """Follows matrix values, step outputs and job outputs back to their
    definitions, through any number of hops (a step whose env reads another
    step's output), each definition once."""

    def __init__(self, jobs: dict[Any, Any], env: Any = None) -> None:
        self.jobs = jobs
        self.env = env  # the workflow's own env:
        self.seen: set[str] = set()

    def tainted(self, ref: str, job: Any) -> bool:
        key = f"{id(job)}:{ref}"
        if key in self.seen:
            return False  # a cycle, or already answered False on this path
        self.seen.add(key)
        jobs = [job] if job is not None else list(self.jobs.values())
        if ref.lower().startswith("matrix."):
            return any(self.node(_get(j, "strategy", "matrix"), j) for j in jobs)
        step = _STEP.match(ref)
        if step:
            return any(self.node(_step(j, step.group(1)), j) for j in jobs)
        env = _ENV.match(ref)
        if env:
            return any(self.node(_iget(e, env.group(1)), j) for j, e in self._envs(jobs))
        need = _NEEDS.match(ref)
        if need:
            target = _iget(self.jobs, need.group(1))
            return self.node(_iget(_get(target, "outputs"), need.group(2)), target)
        return False

    def _envs(self, jobs: list[Any]) -> list[tuple[Any, Any]]:
        """(job, env mapping) of the workflow, the jobs and their steps: an
        `${{ env.X }}` re-expands whichever of them defines X (any of them,
        over-approximate: the env: form is safe only when read as "$X")."""
        out: list[tuple[Any, Any]] = [(None, self.env)]
        for j in jobs:
            out.append((j, _get(j, "env")))
            steps = _get(j, "steps")
            out += [(j, _get(s, "env")) for s in (steps if isinstance(steps, list) else ())]
        return out

    def node(self, node: Any, job: Any) -> bool:
        """Event data in ``node`` itself or in a value it expands."""
        if node is None:
            return False
        text = node if isinstance(node, str) else json.dumps(node, default=str)
        if any(untrusted(m.group(0)) for m in CONTEXT.finditer(text)):
            return True
        return any(self.tainted(m.group(0), job) for m in _REFS.finditer(text))


def _step(job: Any, step_id: str) -> Any:
    """What a step reads: its env:, with: and run: (its shell can write any of
    it to $GITHUB_OUTPUT, so every output of a step that reads event data is)."""
    steps = _get(job, "steps")
    for step in steps if isinstance(steps, list) else ():
        if isinstance(step, dict) and str(step.get("id")).lower() == step_id.lower():
            return [step.get(k) for k in ("env", "with", "run")]
    return None


def _iget(node: Any, name: str) -> Any:
    """The value of the key ``name`` in any case (env names, job, step and
    output ids: GitHub's expressions find them case-insensitively)."""
    if not isinstance(node, dict):
        return None
    return next((v for k, v in node.items() if str(k).lower() == name.lower()), None)


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def untrusted(ref: str) -> bool:
    """`github.event...` (not a number/sha/boolean leaf) or `github.head_ref`."""
    names = re.findall(r"""[\w-]+""", ref.lower())[1:]  # dots and ['...'] alike; drop "github"
    if names[:1] == ["head_ref"]:
        return True
    return names[:1] == ["event"] and (len(names) == 1 or names[-1] not in _SCALAR_LEAVES)
