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
    user: str  # the account as the source names it (login, ssh principal, user id)
    state: str  # one of REVIEW_STATES
    commit: str | None  # the head commit the review was given on
    submitted_at: str  # RFC 3339; orders a user's reviews (parsed as an instant)
    is_bot: bool = False
    # Which account namespace ``user`` is in ("github", "gitlab", "ssh"; None: the
    # data's own platform), so reviews merged from several sources map per source.
    platform: str | None = None
    user_id: int | None = None  # the platform's immutable numeric account id
    # The merge base the reviewer saw, where the source records it (signed
    # statements do); otherwise merge-base(base, commit).
    merge_base: str | None = None


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
    # Every account that pushed a head of this change (issue #14 class 2): all
    # of them are excluded from approving, on every event, not only the last.
    pushers: frozenset[str] = field(default_factory=frozenset)
    # SSH principals that signed a commit of the change (verified against the
    # base's allowed signers): (principal, commit sha). Excluded like authors.
    signers: tuple[tuple[str, str], ...] = ()
    # Facts that make the approvals of this change unjudgeable (a pusher that
    # cannot be determined, an unsigned commit where signatures are required):
    # each blocks every approval requirement, with this text as the reason.
    blockers: tuple[str, ...] = ()
    platform: str | None = None  # account namespace of author/pusher/reviews
    # Commits the platform itself made (a GitHub merge-queue candidate): their git
    # identities are the platform's, not a person's; their content is still held
    # to the replay rule like every other commit's.
    platform_made: frozenset[str] = field(default_factory=frozenset)
    # When the change's base branch last changed (a retargeted pull request):
    # reviews submitted before it were of another change.
    base_changed_at: str | None = None
    author_id: int | None = None  # the author's immutable numeric account id
