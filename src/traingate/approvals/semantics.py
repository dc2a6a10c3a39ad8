"""Who counts as an approver: strict semantics, the same for every source.

See docs/approvals.md. In short: only each user's latest review state counts;
the change's author, every author and committer of merge-base..head, the last
pusher, bots and the policy's excluded users never count; an approval counts
only on the current head, or on an earlier commit whose change is identical
(same ``git patch-id --stable`` of merge-base..commit AND the same merge base).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from traingate import git
from traingate.approvals import Review, ReviewData
from traingate.policy.model import Policy

BOT_SUFFIXES = ("[bot]",)


@dataclass(frozen=True)
class Verdict:
    """The judged approvals of one change (engine.requirements consumes it)."""

    approved: tuple[str, ...] = ()  # latest state approved, on this change
    changes_requested: tuple[str, ...] = ()  # latest state changes_requested
    excluded: tuple[tuple[str, str], ...] = ()  # (user, why they can never count)
    rejected: tuple[tuple[str, str], ...] = ()  # (user, why their approval did not count)
    source: str = "none"
    notes: tuple[str, ...] = ()


class Identities:
    """Maps platform logins and git emails to the policy's user ids."""

    def __init__(self, policy: Policy, platform: str | None) -> None:
        self._by_login: dict[str, str] = {}
        self._by_email: dict[str, str] = {}
        for user, ident in policy.users.items():
            login = (
                getattr(ident, platform, None) if platform in ("github", "gitlab", "ssh") else None
            )
            if login:
                self._by_login[login.casefold()] = user
            for email in ident.emails:
                self._by_email[email.casefold()] = user
        self.known = set(policy.users)

    def login(self, login: str) -> str:
        return self._by_login.get(login.casefold(), login)

    def email(self, email: str | None) -> str | None:
        return self._by_email.get(email.casefold()) if email else None


def platform_of(source: str) -> str | None:
    head = source.split(":", 1)[0]
    return head if head in ("github", "gitlab", "ssh") else None


def merge(sources: Sequence[ReviewData]) -> ReviewData:
    """Several sources as one, each review stamped with its own account namespace
    so that a person is counted once across sources (issue #14 class 5)."""
    stamped = [
        replace(
            d,
            platform=d.platform or platform_of(d.source),
            reviews=tuple(
                r if r.platform else replace(r, platform=d.platform or platform_of(d.source))
                for r in d.reviews
            ),
        )
        for d in sources
    ]
    merged = stamped[0]
    for other in stamped[1:]:
        merged = replace(
            merged,
            source=f"{merged.source}+{other.source}",
            author=merged.author or other.author,
            author_id=merged.author_id if merged.author_id is not None else other.author_id,
            commits=merged.commits if merged.commits is not None else other.commits,
            reviews=merged.reviews + other.reviews,
            bots=merged.bots | other.bots,
            notes=merged.notes + other.notes,
            pushers=merged.pushers | other.pushers,
            signers=merged.signers + other.signers,
            blockers=merged.blockers + other.blockers,
        )
    return merged


def judge(
    data: ReviewData,
    policy: Policy,
    root: Path,
    *,
    merge_base: str | None,
    head: str | None,
    base: str | None,
) -> Verdict:
    ids = Identities(policy, platform_of(data.source))
    notes = list(data.notes)
    excluded: dict[str, str] = {}

    def exclude(user: str | None, why: str) -> None:
        if user and user not in excluded:
            excluded[user] = why

    if data.author:
        exclude(ids.login(data.author), "is the change's author")
    for who, why in _commit_people(data, ids, root, merge_base, head, notes):
        exclude(who, why)
    if data.pusher:
        exclude(ids.login(data.pusher), "pushed to the change")
    for bot in sorted(data.bots | set(policy.approvals.bots)):
        exclude(ids.login(bot), "is a bot")
    for user in policy.excluded_approvers:
        exclude(user, "is excluded by the policy")

    latest = latest_reviews(data.reviews)
    approved: list[str] = []
    requested: list[str] = []
    rejected: list[tuple[str, str]] = []
    patch_cache: dict[str, str | None] = {}
    for login, review in sorted(latest.items()):
        user = ids.login(login)
        if review.is_bot or login.endswith(BOT_SUFFIXES):
            exclude(user, "is a bot")
        if review.state == "changes_requested":
            requested.append(user)
            continue
        if review.state != "approved":
            continue
        if user in excluded:
            rejected.append((user, excluded[user]))
            continue
        stale = _staleness(root, review.commit, merge_base, head, base, patch_cache)
        if stale:
            rejected.append((user, stale))
            continue
        approved.append(user)
    return Verdict(
        approved=tuple(approved),
        changes_requested=tuple(requested),
        excluded=tuple(sorted(excluded.items())),
        rejected=tuple(rejected),
        source=data.source,
        notes=tuple(notes),
    )


def latest_reviews(reviews: Iterable[Review]) -> dict[str, Review]:
    """Each user's latest decisive review; a later comment keeps an approval,
    a later dismissal cancels it."""
    latest: dict[str, Review] = {}
    for r in sorted(reviews, key=lambda r: r.submitted_at):
        if r.state == "commented" and r.user in latest:
            continue
        latest[r.user] = r
    return latest


def _commit_people(
    data: ReviewData,
    ids: Identities,
    root: Path,
    merge_base: str | None,
    head: str | None,
    notes: list[str],
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if data.commits is not None:
        for c in data.commits:
            for login, email, role in (
                (c.author, c.author_email, "authored"),
                (c.committer, c.committer_email, "committed"),
            ):
                user = ids.login(login) if login else ids.email(email)
                if user:
                    out.append((user, f"{role} commit {c.sha[:12]}"))
                elif email:
                    notes.append(
                        f"identity <{email}> ({role} {c.sha[:12]}) maps to no user in the policy"
                    )
    # Local history too: the platform's list may be capped or rewritten.
    if merge_base is None or head is None:
        return out
    for sha, _an, ae, _cn, ce in git.commit_identities(root, f"{merge_base}..{head}"):
        for email, role in ((ae, "authored"), (ce, "committed")):
            user = ids.email(email)
            if user:
                out.append((user, f"{role} commit {sha[:12]}"))
            else:
                notes.append(
                    f"identity <{email}> ({role} {sha[:12]}) maps to no user in the policy"
                )
    return out


def _staleness(
    root: Path,
    commit: str | None,
    merge_base: str | None,
    head: str | None,
    base: str | None,
    cache: dict[str, str | None],
) -> str | None:
    """None when an approval on ``commit`` covers the current change, else why not.

    Choice (documented in docs/approvals.md): an earlier commit counts only when
    merge-base(base, commit) equals the change's merge base AND its patch-id
    equals the head's. A rebase onto a new base is a new change: the same patch
    on a different base can behave differently, so it needs a fresh approval.
    """
    if head is None or merge_base is None:
        return "no head commit to compare the approval against"
    if commit is None:
        return "the approval names no commit"
    if commit == head:
        return None
    sha = git.resolve_commit(root, commit)
    if sha is None:
        return f"stale: approved {commit[:12]}, which is not in the local history"
    if sha == head:
        return None
    if base is None or git.merge_base(root, base, sha) != merge_base:
        return f"stale: approved {commit[:12]} on a different merge base"
    if head not in cache:
        cache[head] = git.patch_id(root, merge_base, head)
    if git.patch_id(root, merge_base, sha) != cache[head] or cache[head] is None:
        return f"stale: approved {commit[:12]}; the change has changed since"
    return None
