"""Which head hits are new: present in the head version and not in the base.

In ``check`` a finding counts when it is new: no unpaired base hit of the same
rule is the same finding, wherever it sits. For Python the sameness is read
from the syntax tree (checks/semgrep/identity.py, issue #16); elsewhere, and
where a tree cannot be had, it is today's: the same whitespace-normalised code.
Which base versions are scanned at all is decided here too (issues #3 and #9).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

from traingate.change import ChangedFile
from traingate.checks.semgrep import identity
from traingate.checks.semgrep.hits import Hit
from traingate.checks.semgrep.runner import Engine
from traingate.checks.semgrep.targets import Target, is_python

# Base versions above this many (uncached) go to a second, small semgrep run
# with only the bases a head hit can be in and only those hits' rules. Measured
# on 2 cores with osemgrep (docs/performance.md): riding along costs ~0.03 s
# wall per base; a second start with a few rules ~0.2-0.3 s. On the bench's
# 20-file range the second run takes 1.5 s in all, riding along 2.0 s.
SECOND_RUN_FILES = 8


def scan_pairs(
    engine: Engine,
    pairs: list[tuple[Target, Target | None, ChangedFile]],
    heads_done: dict[str, list[Hit]] | None = None,
) -> dict[str, list[Hit]]:
    """Hits of every head version and of the base versions that can matter.

    Small changes: one semgrep process for head and base versions alike, as
    start-up and rule loading cost about as much as scanning SECOND_RUN_FILES
    files. Larger ones: heads first (``heads_done`` when they were scanned as
    they were cut, pipeline.py), then only the bases that can hold the same
    finding as a head hit (_shared_rules), with only those rules: a base whose
    text cannot have it is not needed to call the head hit new (issues #3, #9).
    """
    heads = [h for h, _, _ in pairs if not h.skip]
    bases = [b for _, b, _ in pairs if b is not None and not b.skip]
    missing = {b.key for b in engine.misses(bases)}
    if heads_done is None and len(missing) <= SECOND_RUN_FILES:
        return engine.scan(heads + bases)
    # Cached bases are answered with the heads (no semgrep work for them).
    cached = [b for b in bases if b.key not in missing]
    if heads_done is None:
        hits = engine.scan(heads + cached)
    else:
        hits = {**heads_done, **engine.scan(cached)}
    needed: list[Target] = []
    rules: set[str] = set()
    for h, b, _ in pairs:
        if b is None or b.key in hits:
            continue
        shared = _shared_rules(hits.get(h.key, ()), b)
        if shared:
            needed.append(b)
            rules |= shared
    # Only the rules of those head hits: a base hit of any other rule cannot
    # make a head hit old, and loading 3 rules instead of the pack is most of
    # what a second semgrep start costs.
    hits.update(engine.scan_with_rules(needed, rules))
    return hits


def _shared_rules(head_hits: Iterable[Hit], base: Target | None) -> set[str]:
    """Rules of the head hits the base text can hold a same finding of: its
    (normalized) code, or for Python every name in it but those a narrowing
    keyword may have added (a necessary condition: identity.py keeps the rest)."""
    if base is None or base.skip:
        return set()
    hits = [h for h in head_hits if not h.parse_error]
    if not hits:
        return set()
    text = " ".join(base.text.split())
    words = set(_WORD.findall(text)) if is_python(base) else None
    out = set()
    for h in hits:
        if h.norm in text or (
            words is not None and set(_WORD.findall(_STRING.sub(" ", h.norm))) - _FREE <= words
        ):
            out.add(h.rule)
    return out


_WORD = re.compile(r"[A-Za-z_]\w*")
# String literals of normalized code: their words need not be names in the base.
_STRING = re.compile(r"""[rRbBuUfF]{0,2}(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_FREE = set(identity.NARROWING) | {"True", "False", "None"}


def new_hits(
    head: list[Hit],
    base: list[Hit],
    added: set[int],
    scan_all: bool,
    texts: tuple[str, str] | None = None,
) -> list[Hit]:
    """Hits of the head version that the base version does not have.

    ``texts`` (head, base) are the scanned texts when both are Python: a hit is
    then paired with a base hit by its syntax (identity.py), first exactly, then
    by the narrowing rules; otherwise, and for a hit that cannot be placed on
    the tree, by its normalized code (the exact-text rule)."""
    if scan_all or not base:
        return head
    # Hits on unchanged lines pair first: a surplus copy is the one on added lines.
    order = sorted(head, key=lambda h: h.line in added)
    pairs = _Pairing([b for b in base if not b.parse_error], _Trees(texts))
    old: set[int] = set()
    pending: list[tuple[int, Hit, identity.Context]] = []
    for i, h in enumerate(order):
        if h.parse_error:
            continue
        c = pairs.trees.context(0, h)
        if pairs.exact(h, c):
            old.add(i)
        elif c is not None:
            pending.append((i, h, c))
    pairs.budget = RELAXED_PAIRS
    for i, h, c in pending:
        if pairs.derived(h, c):
            old.add(i)
    return [h for i, h in enumerate(order) if i not in old]


# Derivation checks per file, past which the remaining head hits are new: a
# change that rewrites thousands of matched calls at once must not make the
# gate quadratic (each check is a tree walk, ~10-50 us on typical matches).
RELAXED_PAIRS = 20_000

_Key = tuple[str, str]


class _Pairing:
    """The base hits of one file, each paired with at most one head hit.
    Candidates are queued per key and taken in order (amortised O(1))."""

    def __init__(self, base: list[Hit], trees: _Trees) -> None:
        self.base = base
        self.trees = trees
        self.ctx = [trees.context(1, b) for b in base]
        self.used: set[int] = set()
        self.budget = 0
        self.by_tree: dict[_Key, deque[int]] = {}  # (rule, syntax): base hits with a tree
        self.by_text: dict[_Key, deque[int]] = {}  # (rule, code): every base hit
        self.untreed: dict[_Key, deque[int]] = {}  # (rule, code): base hits without one
        self.by_rule: dict[str, list[int]] = {}  # base hits with a tree, for derivation
        for j, b in enumerate(base):
            c = self.ctx[j]
            self.by_text.setdefault((b.rule, b.norm), deque()).append(j)
            if c is None:
                self.untreed.setdefault((b.rule, b.norm), deque()).append(j)
            else:
                self.by_tree.setdefault((b.rule, identity.key(c)), deque()).append(j)
                self.by_rule.setdefault(b.rule, []).append(j)

    def exact(self, h: Hit, c: identity.Context | None) -> bool:
        """Pair ``h`` with an identical base hit: by syntax where both have a
        tree, else (the exact-text rule) by normalized code."""
        if c is None:
            return self._take(self.by_text.get((h.rule, h.norm)))
        return self._take(self.by_tree.get((h.rule, identity.key(c)))) or self._take(
            self.untreed.get((h.rule, h.norm))
        )

    def derived(self, h: Hit, c: identity.Context) -> bool:
        """Pair ``h`` with a base hit it derives from by the narrowing rules;
        once the budget is spent, nothing more is paired (fail closed)."""
        for j in self.by_rule.get(h.rule, ()):
            if j in self.used:
                continue
            self.budget -= 1
            if self.budget < 0:
                return False
            ctx = self.ctx[j]
            if ctx is not None and identity.same(ctx, c, relax=True):
                self.used.add(j)
                return True
        return False

    def _take(self, queue: deque[int] | None) -> bool:
        while queue:
            j = queue.popleft()
            if j not in self.used:
                self.used.add(j)
                return True
        return False


class _Trees:
    """Each version of the file parsed once, and only when a hit needs it."""

    def __init__(self, texts: tuple[str, str] | None) -> None:
        self.texts = texts
        self.sources: dict[int, identity.Source | None] = {}

    def context(self, side: int, hit: Hit) -> identity.Context | None:
        if self.texts is None:
            return None
        if side not in self.sources:
            self.sources[side] = identity.parse(self.texts[side])
        src = self.sources[side]
        return None if src is None else src.context(hit)
