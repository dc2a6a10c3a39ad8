#!/usr/bin/env python3
"""Re-run the traingate job of merge requests whose approvals changed (issue #19).

GitLab starts no pipeline when a merge request is approved or unapproved, so the
gate's verdict would stay what it was at the last push. Run this from a
*scheduled* pipeline on the protected default branch (every few minutes): for
each open merge request it finds the latest merge request pipeline's traingate
job and retries it (``POST /projects/:id/jobs/:job_id/retry``) when an
"approved this merge request" / "unapproved this merge request" system note is
newer than the job's start. Retrying in place keeps the pipeline the MR's
"Pipelines must succeed" setting looks at.

Works on every tier: scheduled pipelines, the notes, pipelines and jobs APIs and
job retry are all in GitLab Free.

Environment: CI_API_V4_URL and CI_PROJECT_ID (set in any pipeline), and
TRAINGATE_RETRY_TOKEN: a project access token with the ``api`` scope and the
Developer role (retrying a job needs both). Store it as a masked, *protected*
variable: schedules on a protected branch see it, merge request pipelines never do.

    python scripts/gitlab_retry_on_approval.py [--job traingate] [--dry-run]

Exit codes: 0 done (also when nothing needed a retry), 2 usage, 3 API error.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from datetime import datetime
from typing import Any

from traingate.approvals.gitlab import _when
from traingate.approvals.http import ApiError, get_all_pages, send_json

APPROVAL_NOTES = ("approved this merge request", "unapproved this merge request")


def _stale(notes: list[Any], since: datetime) -> bool:
    """Whether an approval or unapproval happened after ``since``."""
    for note in notes:
        if not isinstance(note, dict) or note.get("system") is not True:
            continue
        body = str(note.get("body") or "").strip().lower()
        when = _when(note.get("created_at"))
        if body in APPROVAL_NOTES and when is not None and when > since:
            return True
    return False


def retry_stale_jobs(
    api: str, project: str, token: str, job_name: str = "traingate", dry_run: bool = False
) -> list[tuple[int, int]]:
    """(MR iid, job id) of every traingate job retried."""
    auth = ("PRIVATE-TOKEN", token)
    root = f"{api.rstrip('/')}/projects/{urllib.parse.quote(project, safe='')}"
    retried: list[tuple[int, int]] = []
    mrs = get_all_pages(f"{root}/merge_requests?state=opened&per_page=100", token_header=auth)
    for mr in mrs:
        iid = mr.get("iid") if isinstance(mr, dict) else None
        if not isinstance(iid, int):
            continue
        pipelines = get_all_pages(f"{root}/merge_requests/{iid}/pipelines", token_header=auth)
        latest = pipelines[0] if pipelines and isinstance(pipelines[0], dict) else None
        if latest is None or not isinstance(latest.get("id"), int):
            continue
        jobs = get_all_pages(
            f"{root}/pipelines/{latest['id']}/jobs?per_page=100", token_header=auth
        )
        mine = [
            j
            for j in jobs
            if isinstance(j, dict)
            and j.get("name") == job_name
            and j.get("status") in ("success", "failed", "canceled")
        ]
        if not mine:
            continue  # running or pending: it reads the approvals as they are now
        job = max(mine, key=lambda j: int(j.get("id") or 0))
        started = _when(job.get("started_at")) or _when(job.get("created_at"))
        if started is None:
            continue
        notes = get_all_pages(
            f"{root}/merge_requests/{iid}/notes?sort=desc&order_by=created_at&per_page=100",
            token_header=auth,
        )
        if _stale(notes, started):
            if not dry_run:
                send_json("POST", f"{root}/jobs/{job['id']}/retry", {}, token_header=auth)
            retried.append((iid, int(job["id"])))
    return retried


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", default="traingate", help="the gate job's name")
    parser.add_argument("--dry-run", action="store_true", help="list, do not retry")
    args = parser.parse_args(argv)
    api, project = os.environ.get("CI_API_V4_URL"), os.environ.get("CI_PROJECT_ID")
    token = os.environ.get("TRAINGATE_RETRY_TOKEN")
    if not api or not project or not token:
        print(
            "error: CI_API_V4_URL, CI_PROJECT_ID and TRAINGATE_RETRY_TOKEN are required",
            file=sys.stderr,
        )
        return 2
    try:
        done = retry_stale_jobs(api, project, token, args.job, args.dry_run)
    except ApiError as exc:
        print(exc.render(), file=sys.stderr)
        return 3
    verb = "would retry" if args.dry_run else "retried"
    for iid, job in done:
        print(f"{verb} job {job} of merge request !{iid} (its approvals changed)")
    if not done:
        print("no traingate job needed a retry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
