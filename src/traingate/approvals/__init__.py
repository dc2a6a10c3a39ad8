"""Approval sources (one module each) and the strict semantics that judge them.

A source only reports raw facts (:class:`ReviewData`); the verdict — who counts,
who is excluded, which approvals are stale — is computed by
:mod:`traingate.approvals.semantics`, identically for every platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REVIEW_STATES = ("approved", "changes_requested", "commented", "dismissed")


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str | None  # a platform login / user id, or None when unknown
    committer: str | None
    author_email: str | None = None
    committer_email: str | None = None


@dataclass(frozen=True)
class Review:
    user: str
    state: str  # one of REVIEW_STATES
    commit: str | None  # the head commit the review was given on
    submitted_at: str  # ISO 8601; orders a user's reviews
    is_bot: bool = False


@dataclass(frozen=True)
class ReviewData:
    """What a platform (or a JSON file, or signed notes) says about a change."""

    source: str  # "json:FILE", "github:owner/repo#12", "gitlab:...", "signed"
    author: str | None
    commits: tuple[Commit, ...] | None = None  # None: take them from local git
    reviews: tuple[Review, ...] = ()
    pusher: str | None = None  # the last pusher, where the platform tells us
    bots: frozenset[str] = field(default_factory=frozenset)  # users known to be bots
    notes: tuple[str, ...] = ()  # e.g. "approval rules overwritten by the MR"
