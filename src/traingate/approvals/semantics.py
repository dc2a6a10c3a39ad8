"""Who counts as an approver: strict semantics, the same for every source.

See docs/approvals.md. In short: only each user's latest review state counts;
the change's author, every author and committer of merge-base..head, the last
pusher, bots and the policy's excluded users never count; an approval counts
only on the current head, or on an earlier commit whose change is identical
(same ``git patch-id --stable`` of merge-base..commit AND the same merge base).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from traingate import git
from traingate.approvals import Review, ReviewData, content
from traingate.approvals.content import Coverage
from traingate.policy.model import Policy

BOT_SUFFIXES = ("[bot]",)


@dataclass(frozen=True)
class Verdict:
    """The judged approvals of one change (engine.requirements consumes it)."""

    approved: tuple[str, ...] = ()  # persons whose approval covers the whole change
    changes_requested: tuple[str, ...] = ()  # persons whose latest state requests changes
    excluded: tuple[tuple[str, str], ...] = ()  # (person, why they can never count)
    rejected: tuple[tuple[str, str], ...] = ()  # (account or person, why it did not count)
    source: str = "none"
    notes: tuple[str, ...] = ()
    # (person, residual paths, why): an approval of an earlier version that covers
    # the change except where the version about to land differs (content.py). It
    # counts only for requirements whose paths the residual does not touch.
    partial: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    # Facts that make approvals unjudgeable; each blocks every requirement.
    blockers: tuple[str, ...] = ()

    def approvers_for(self, paths: Iterable[str]) -> tuple[str, ...]:
        """Persons whose approval covers exactly the content of ``paths``."""
        wanted = set(paths)
        extra = [p for p, residual, _ in self.partial if not wanted.intersection(residual)]
        return tuple(dict.fromkeys((*self.approved, *extra)))

    def stale_for(self, paths: Iterable[str]) -> list[tuple[str, str]]:
        wanted = set(paths)
        return [(p, why) for p, residual, why in self.partial if wanted.intersection(residual)]


# The platform itself, not a person: GitHub's web-flow commits (UI edits,
# "Update branch", merge-queue candidates) carry this committer.
PLATFORM_COMMITTERS = frozenset({"noreply@github.com"})


class Identities:
    """Maps accounts (platform logins and numeric ids, SSH principals, git emails)
    to the persons of the policy's ``users:``.

    With a ``users:`` map the mapping is strict: an account that maps to no
    person is nobody (its review counts for no one; as an author, committer,
    co-author, pusher or signer of the change it blocks). Without one, accounts
    are taken as persons, as before the map existed (docs/approvals.md).
    """

    def __init__(self, policy: Policy) -> None:
        self.strict = bool(policy.users)
        self._accounts: dict[tuple[str, str], str] = {}
        self._ids: dict[tuple[str, int], str] = {}
        self._emails: dict[str, str] = {}
        for user, ident in policy.users.items():
            for platform in ("github", "gitlab", "ssh"):
                for account in ident.accounts(platform):
                    self._accounts.setdefault((platform, account.casefold()), user)
                for num in ident.account_ids(platform):
                    self._ids.setdefault((platform, num), user)
            for email in ident.emails:
                self._emails.setdefault(email.casefold(), user)
        self._users = {u: ident for u, ident in policy.users.items()}

    def person(
        self, platform: str | None, account: str, account_id: int | None = None
    ) -> str | None:
        """The person behind ``account`` in ``platform``'s namespace, or None."""
        if not self.strict:
            return account
        if platform in ("github", "gitlab") and account_id is not None:
            by_id = self._ids.get((platform, account_id))
            if by_id is not None:
                return by_id
        if platform in ("github", "gitlab", "ssh"):
            found = self._accounts.get((platform, account.casefold()))
            if found is not None or platform != "ssh":
                return found
        # An SSH principal, or a JSON file without a platform, names the person
        # directly, unless that person lists other principals/accounts.
        ident = self._users.get(account)
        if ident is None or (platform == "ssh" and ident.accounts("ssh")):
            return None
        return account

    def email(self, email: str | None) -> str | None:
        if not email:
            return None
        return self._emails.get(email.casefold())

    def login(self, login: str, platform: str | None = None) -> str:
        """Legacy helper: the person, or the account itself when unmapped."""
        return self.person(platform, login) or login


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
            platform_made=merged.platform_made | other.platform_made,
            base_changed_at=max(
                (t for t in (merged.base_changed_at, other.base_changed_at) if t), default=None
            ),
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
    """The one approval judge: ``check``, ``ci``, ``audit history`` and ``policy test``
    all call it, with the same evidence rules (docs/approvals.md)."""
    ids = Identities(policy)
    platform = data.platform or platform_of(data.source)
    notes = list(data.notes)
    blockers = list(data.blockers)
    excluded: dict[str, str] = {}
    bots = {b.casefold() for b in (*data.bots, *policy.approvals.bots)}

    def is_bot(account: str) -> bool:
        return account.casefold() in bots or account.endswith(BOT_SUFFIXES)

    def exclude(user: str | None, why: str) -> None:
        if user and user not in excluded:
            excluded[user] = why

    def participant(plat: str | None, account: str, num: int | None, role: str) -> None:
        """A person who took part in the change: never an approver; unknown blocks."""
        if is_bot(account):
            exclude(ids.person(plat, account, num) or account, "is a bot")
            return
        user = ids.person(plat, account, num)
        if user is None:
            blockers.append(
                f"{account!r} ({plat or 'policy user'}) {role} but maps to no person in the "
                "policy's users: (add the account to its owner, so that its owner cannot "
                "also approve)"
            )
        exclude(user, role)

    if data.author:
        participant(platform, data.author, data.author_id, "is the change's author")
    for pusher in sorted(data.pushers | ({data.pusher} if data.pusher else set())):
        participant(platform, pusher, None, "pushed to the change")
    for principal, sha in data.signers:
        participant("ssh", principal, None, f"signed commit {sha[:12]}")
    for who, why in _commit_people(data, ids, platform, root, merge_base, head):
        if who[0] == "email":
            user = ids.email(who[1])
            if user is None:
                (blockers if ids.strict else notes).append(
                    f"identity <{who[1]}> ({why}) maps to no person in the policy's users:"
                )
            exclude(user, why)
        else:
            participant(platform, who[1], None, why)
    for bot in sorted(data.bots | set(policy.approvals.bots)):
        exclude(ids.person(platform, bot) or bot, "is a bot")
    for user in policy.excluded_approvers:
        exclude(user, "is excluded by the policy")

    latest, unreadable = latest_by_person(data.reviews, ids, platform)
    blockers.extend(unreadable)
    approved: list[str] = []
    partial: list[tuple[str, tuple[str, ...], str]] = []
    requested: list[str] = []
    rejected: list[tuple[str, str]] = []
    cache: dict[tuple[str, str], Coverage | str] = {}
    for user, review in sorted(latest.items()):
        if review.is_bot or is_bot(review.user):
            exclude(user, "is a bot")
        if review.state == "changes_requested":
            requested.append(user)
            continue
        if review.state != "approved":
            continue
        if user in excluded:
            rejected.append((user, excluded[user]))
            continue
        if _before_retarget(review, data):
            rejected.append((user, "stale: given before the pull request's base branch changed"))
            continue
        cov = _coverage(root, review, merge_base, head, base, cache)
        if isinstance(cov, str):
            rejected.append((user, cov))
        elif cov.covered:
            approved.append(user)
        else:
            partial.append((user, cov.residual, cov.why))
    rejected.extend(
        (r.user, f"account {r.user!r} maps to no person in the policy's users:")
        for r in _unmapped(data.reviews, ids, platform)
    )
    return Verdict(
        approved=tuple(approved),
        changes_requested=tuple(requested),
        excluded=tuple(sorted(excluded.items())),
        rejected=tuple(rejected),
        source=data.source,
        notes=tuple(dict.fromkeys(notes)),
        partial=tuple(partial),
        blockers=tuple(dict.fromkeys(blockers)),
    )


_STATE_RANK = {"commented": 0, "approved": 1, "dismissed": 2, "changes_requested": 3}


def instant(stamp: str) -> dt.datetime | None:
    """An RFC 3339 timestamp as an aware instant; None when it is not one."""
    try:
        when = dt.datetime.fromisoformat(
            stamp.strip().replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def latest_by_person(
    reviews: Iterable[Review], ids: Identities, platform: str | None
) -> tuple[dict[str, Review], list[str]]:
    """Each person's latest decisive review, ordered by instant (issue #14 class 10:
    never as strings). A later comment keeps an approval; a later dismissal or
    "changes requested" cancels it; on a tie the stricter state wins."""
    keyed: list[tuple[dt.datetime, int, str, Review]] = []
    unreadable: list[str] = []
    for r in reviews:
        person = ids.person(r.platform or platform, r.user, r.user_id)
        if person is None:
            continue
        when = instant(r.submitted_at)
        if when is None:
            unreadable.append(
                f"the review by {r.user} has no RFC 3339 time ({r.submitted_at!r}); "
                "its order among the reviews cannot be told"
            )
            continue
        keyed.append((when, _STATE_RANK.get(r.state, 0), person, r))
    latest: dict[str, Review] = {}
    for _when, _rank, person, r in sorted(keyed, key=lambda k: (k[0], k[1])):
        if r.state == "commented" and person in latest:
            continue
        latest[person] = r
    return latest, unreadable


def latest_reviews(reviews: Iterable[Review]) -> dict[str, Review]:
    """Each account's latest decisive review (accounts taken as persons)."""
    return latest_by_person(reviews, _AccountsArePersons(), None)[0]


class _AccountsArePersons(Identities):
    def __init__(self) -> None:
        self.strict = False


def _before_retarget(review: Review, data: ReviewData) -> bool:
    if data.base_changed_at is None or (review.platform or data.platform) == "ssh":
        return False  # signed statements name their own merge base
    changed, given = instant(data.base_changed_at), instant(review.submitted_at)
    return changed is None or given is None or given < changed


def _unmapped(reviews: Iterable[Review], ids: Identities, platform: str | None) -> list[Review]:
    return [
        r
        for r in reviews
        if r.state == "approved" and ids.person(r.platform or platform, r.user, r.user_id) is None
    ]


def _commit_people(
    data: ReviewData,
    ids: Identities,
    platform: str | None,
    root: Path,
    merge_base: str | None,
    head: str | None,
) -> list[tuple[tuple[str, str], str]]:
    """((kind, account), role) for every author, committer and co-author of the change:
    kind is "login" (a platform account) or "email" (a git identity)."""
    out: list[tuple[tuple[str, str], str]] = []
    for c in data.commits or ():
        for login, email, role in (
            (c.author, c.author_email, "authored"),
            (c.committer, c.committer_email, "committed"),
        ):
            if role == "committed" and email and email.casefold() in PLATFORM_COMMITTERS:
                continue
            if login:
                out.append((("login", login), f"{role} commit {c.sha[:12]}"))
            elif email:
                out.append((("email", email), f"{role} commit {c.sha[:12]}"))
    # Local history too: the platform's list may be capped or rewritten.
    if merge_base is None or head is None:
        return out
    rng = f"{merge_base}..{head}"
    for sha, _an, ae, _cn, ce in git.commit_identities(root, rng):
        if sha in data.platform_made:
            continue
        out.append((("email", ae), f"authored commit {sha[:12]}"))
        if ce.casefold() not in PLATFORM_COMMITTERS:
            out.append((("email", ce), f"committed commit {sha[:12]}"))
    for sha, _name, email in git.coauthors(root, rng):
        out.append((("email", email), f"co-authored commit {sha[:12]}"))
    return out


def _coverage(
    root: Path,
    review: Review,
    merge_base: str | None,
    head: str | None,
    base: str | None,
    cache: dict[tuple[str, str], Coverage | str],
) -> Coverage | str:
    """How far an approval covers the change, or why it cannot count at all."""
    if head is None or merge_base is None:
        return "no head commit to compare the approval against"
    commit = review.commit
    if commit is None:
        return "the approval names no commit"
    sha = git.resolve_commit(root, commit)
    if sha is None:
        return f"stale: approved {commit[:12]}, which is not in the local history"
    if review.merge_base:
        reviewed_mb = git.resolve_commit(root, review.merge_base)
        if reviewed_mb is None:
            return f"stale: the merge base {review.merge_base[:12]} it approved is not in the local history"
    else:
        reviewed_mb = git.merge_base(root, base, sha) if base else merge_base
    key = (reviewed_mb, sha)
    if key not in cache:
        cache[key] = content.coverage(root, reviewed_mb, sha, merge_base, head)
    return cache[key]
