"""``--approvals FILE``: a neutral JSON format for any platform and for tests.

Documented in docs/approvals.md::

    {"author": "bob",
     "commits": [{"sha": "...", "author": "bob", "committer": "bob"}],   # optional
     "reviews": [{"user": "carol", "state": "approved", "commit": "<sha>",
                  "submitted_at": "2026-11-20T10:00:00Z"}],
     "pusher": "bob", "pushers": ["bob"], "bots": ["ci-bot"],           # optional
     "platform": "github", "author_id": 1}                                # optional

Without ``commits``, authors and committers come from local git, mapped to
users through the policy's ``users:`` emails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from traingate.approvals import Commit, Review, ReviewData
from traingate.errors import UsageError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Commit(_Strict):
    sha: str = Field(min_length=4)
    author: str | None = None
    committer: str | None = None
    author_email: str | None = None
    committer_email: str | None = None


class _Review(_Strict):
    user: str = Field(min_length=1)
    state: Literal["approved", "changes_requested", "commented", "dismissed"]
    commit: str | None = None
    submitted_at: str = Field(min_length=1)
    is_bot: bool = False
    user_id: int | None = None


class _File(_Strict):
    author: str | None = None
    commits: list[_Commit] | None = None
    reviews: list[_Review] = Field(default_factory=list)
    pusher: str | None = None
    pushers: list[str] = Field(default_factory=list)
    bots: list[str] = Field(default_factory=list)
    platform: Literal["github", "gitlab", "ssh"] | None = None
    author_id: int | None = None


def load(path: str | Path) -> ReviewData:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read approvals file {p}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{p}: not valid JSON: {exc}") from None
    try:
        data = _File.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise UsageError(
            f"{p}: {loc}: {first['msg']}",
            help="see docs/approvals.md for the approvals JSON format",
        ) from None
    prefix = f"{data.platform}:" if data.platform else "json:"
    return ReviewData(
        source=f"{prefix}{p.name}",
        author=data.author,
        commits=None
        if data.commits is None
        else tuple(
            Commit(c.sha, c.author, c.committer, c.author_email, c.committer_email)
            for c in data.commits
        ),
        reviews=tuple(
            Review(r.user, r.state, r.commit, r.submitted_at, r.is_bot, user_id=r.user_id)
            for r in data.reviews
        ),
        pusher=data.pusher,
        pushers=frozenset(data.pushers),
        bots=frozenset(data.bots),
        platform=data.platform,
        author_id=data.author_id,
    )
