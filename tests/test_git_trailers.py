"""git.coauthors: every Co-authored-by trailer of a range, as git's trailer parser
reads it (issue #14, class 10), with real commits."""

from __future__ import annotations

import subprocess

import pytest

from traingate import git
from traingate.errors import GitError
from traingate.git import CoAuthor

from .conftest import Repo


def commit(repo: Repo, message: str) -> str:
    """A commit with exactly this message (no cleanup of '#' lines or blanks)."""
    repo.git("commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m", message)
    return repo.git("rev-parse", "HEAD").strip()


@pytest.fixture
def base(repo: Repo) -> str:
    repo.write("f", "1\n")
    return repo.commit("base")


def found(repo: Repo, base: str) -> list[tuple[str, str]]:
    """(name, email) per co-author, checked against git's own key filter, which
    is trustworthy in this repository: it has no trailer config."""
    got = [(c.name, c.email) for c in git.coauthors(repo.path, f"{base}..HEAD")]
    fmt = "--format=%(trailers:key=Co-authored-by,valueonly,unfold,separator=%x1f)%x00"
    gits = [
        v
        for rec in repo.git("log", fmt, f"{base}..HEAD").split("\0")
        for v in rec.strip("\n").split("\x1f")
        if rec.strip("\n")
    ]
    assert len(got) == len(gits), (got, gits)
    for (name, email), value in zip(got, gits, strict=True):
        assert name in value and email in value, (name, email, value)
    return got


def test_several_trailers_in_one_commit(repo: Repo, base: str) -> None:
    sha = commit(
        repo,
        "Speed up the loader\n\nLonger text.\n\n"
        "Co-authored-by: Bob Builder <bob@example.com>\n"
        "Signed-off-by: Alice <alice@example.com>\n"
        "Co-authored-by: Carol <carol@example.com>\n",
    )
    assert git.coauthors(repo.path, f"{base}..HEAD") == [
        CoAuthor(sha, "Bob Builder", "bob@example.com"),
        CoAuthor(sha, "Carol", "carol@example.com"),
    ]


def test_the_key_matches_in_any_case_as_in_git(repo: Repo, base: str) -> None:
    commit(
        repo,
        "x\n\nco-authored-by: Bob <bob@example.com>\nCO-AUTHORED-BY: Carol <carol@example.com>\n"
        "Co-Authored-By : Dan <dan@example.com>\n",
    )
    assert found(repo, base) == [
        ("Bob", "bob@example.com"),
        ("Carol", "carol@example.com"),
        ("Dan", "dan@example.com"),
    ]


def test_every_commit_of_the_range_in_log_order(repo: Repo, base: str) -> None:
    first = commit(repo, "one\n\nCo-authored-by: Bob <bob@example.com>\n")
    commit(repo, "two, no trailers")
    third = commit(repo, "three\n\nCo-authored-by: Carol <carol@example.com>\n")
    got = git.coauthors(repo.path, f"{base}..HEAD")
    assert [c.commit for c in got] == [third, first]
    assert git.coauthors(repo.path, f"{first}..{first}") == []


@pytest.mark.parametrize(
    "message",
    [
        # In the body, not the trailer block: a blank line follows it.
        "x\n\nCo-authored-by: Bob <bob@example.com>\n\nThe end of the story.\n",
        # The subject is never a trailer.
        "Co-authored-by: Bob <bob@example.com>",
        # A last paragraph of prose with one trailer-looking line: fewer than all
        # lines are trailers and none is git-generated, so it is no trailer block.
        "x\n\nWe paired on this; see\nCo-authored-by: Bob <bob@example.com>\nfor details.\n",
        # Indented: a continuation line, with nothing before it to continue.
        "x\n\n    Co-authored-by: Bob <bob@example.com>\n",
        # Quoted in the middle of a line.
        "x\n\nSay Co-authored-by: Bob <bob@example.com>\n",
        # A different key with the same prefix.
        "x\n\nCo-authored-by-bot: Bob <bob@example.com>\n",
    ],
)
def test_trailer_looking_text_outside_the_trailer_block_does_not_count(
    repo: Repo, base: str, message: str
) -> None:
    commit(repo, message)
    assert found(repo, base) == []


def test_a_git_generated_trailer_makes_a_mixed_block_count(repo: Repo, base: str) -> None:
    # git's rule: a block with a Signed-off-by needs only 25% trailer lines.
    commit(
        repo,
        "x\n\nSome words here\nCo-authored-by: Bob <bob@example.com>\n"
        "Signed-off-by: Alice <alice@example.com>\n",
    )
    assert found(repo, base) == [("Bob", "bob@example.com")]


def test_names_without_an_email_and_bare_emails(repo: Repo, base: str) -> None:
    commit(
        repo,
        "x\n\nCo-authored-by: Bob the Builder\nCo-authored-by: carol@example.com\n"
        "Co-authored-by: <dan@example.com>\nCo-authored-by:\n",
    )
    assert found(repo, base) == [
        ("Bob the Builder", ""),
        ("", "carol@example.com"),
        ("", "dan@example.com"),
        ("", ""),
    ]


def test_a_folded_value_is_unfolded_like_git(repo: Repo, base: str) -> None:
    commit(repo, "x\n\nCo-authored-by: Bob\n  Builder\n\t<bob@example.com>\n")
    assert found(repo, base) == [("Bob Builder", "bob@example.com")]
    # The same as git's own parser says.
    out = repo.git("log", "-1", "--format=%(trailers:key=Co-authored-by,valueonly,unfold)")
    assert out.strip() == "Bob Builder <bob@example.com>"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # git ignores comment lines after the block...
        (
            "x\n\nCo-authored-by: Bob <bob@example.com>\n# a comment line\n",
            [("Bob", "bob@example.com")],
        ),
        # ...but "---" is message text to `git log` (no patch divider), so it is a
        # non-trailer line that disqualifies the paragraph.
        ("x\n\nCo-authored-by: Bob <bob@example.com>\n---\nmore\n", []),
    ],
)
def test_comment_lines_and_dashes_as_git_log_reads_them(
    repo: Repo, base: str, message: str, expected: list[tuple[str, str]]
) -> None:
    commit(repo, message)
    assert found(repo, base) == expected


def test_non_ascii_names(repo: Repo, base: str) -> None:
    commit(repo, "x\n\nCo-authored-by: Zoë Ünal <zoe@example.com>\n")
    assert found(repo, base) == [("Zoë Ünal", "zoe@example.com")]


@pytest.mark.parametrize(
    "settings",
    [
        # git renames tokens through trailer.<name>.key before its key= filter;
        # a prefix name is consulted before any -c pin (why we split lines ourselves).
        {"trailer.co-authored-by.key": "Helped-by"},
        {"trailer.co-authored-by-x.key": "Helped-by"},
        {"trailer.co.key": "Co-authored-by"},
        # A comment char that makes the trailer lines "comments".
        {"core.commentChar": "C"},
        # Separators without ":" make no line a trailer.
        {"trailer.separators": "="},
        {"i18n.logOutputEncoding": "UTF-16"},
    ],
)
def test_config_cannot_hide_a_co_author(repo: Repo, base: str, settings: dict[str, str]) -> None:
    sha = commit(repo, "x\n\nCo-authored-by: Bob <bob@example.com>\n")
    assert found(repo, base) == [("Bob", "bob@example.com")]
    for key, value in settings.items():
        repo.git("config", key, value)
    assert git.coauthors(repo.path, f"{base}..HEAD") == [(sha, "Bob", "bob@example.com")]


def test_the_alias_attack_is_real_against_gits_key_filter(repo: Repo, base: str) -> None:
    """The reason coauthors does not use %(trailers:key=...): one config line empties it."""
    sha = commit(repo, "x\n\nCo-authored-by: Bob <bob@example.com>\n")
    fmt = "--format=%(trailers:key=Co-authored-by,valueonly)"
    assert repo.git("log", "-1", fmt).strip() == "Bob <bob@example.com>"
    repo.git("config", "trailer.co-authored-by-x.key", "Helped-by")
    pinned = subprocess.run(
        ["git", "-c", "trailer.co-authored-by.key=Co-authored-by", "log", "-1", fmt],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert pinned.stdout.strip() == ""
    assert git.coauthors(repo.path, f"{base}..HEAD") == [(sha, "Bob", "bob@example.com")]


def test_a_bad_range_is_an_error(repo: Repo, base: str) -> None:
    with pytest.raises(GitError):
        git.coauthors(repo.path, "no-such-branch..HEAD")
