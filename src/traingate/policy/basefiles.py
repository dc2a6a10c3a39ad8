"""The files a policy at a revision names, read from that same revision.

CODEOWNERS text is attached to the loaded policy; a semgrep rule directory is
only checked to be there (the semgrep check reads the rules). A file the policy
names but the revision lacks is a policy error (exit 2), located at the policy,
whichever file it is (issue #15: one condition, one exit code).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from traingate import git
from traingate.errors import PolicyError
from traingate.policy.load import POLICY_FILE, LoadedPolicy, decode


def with_base_files(
    loaded: LoadedPolicy, root: Path, rev: str, reader: git.BlobReader | None = None
) -> LoadedPolicy:
    if loaded.policy.codeowners:
        owners = git.tree_entry(root, rev, loaded.policy.codeowners)
        if owners is None or owners.kind != "blob":
            raise PolicyError(
                f"codeowners: {loaded.policy.codeowners} does not exist at {rev[:12]}",
                location=POLICY_FILE,
                help="commit the CODEOWNERS file to the protected branch or drop `codeowners:`",
            )
        data = (reader or git.BlobReader(root)).read(owners.oid)
        text = decode(data, loaded.policy.codeowners)
        loaded = replace(loaded, codeowners_text=text)
    for rel in loaded.policy.checks.semgrep.rule_dirs:
        # Like CODEOWNERS: a directory the policy names must be at the base, or
        # the policy is wrong (exit 2), not the check (issue #15: one condition,
        # one exit code). The semgrep check reads the rules themselves.
        listing = git.run(
            root, "--literal-pathspecs", "ls-tree", "-r", "--name-only", "-z", rev, "--", rel
        )
        if not any(n.endswith((b".yaml", b".yml")) for n in listing.split(b"\0")):
            raise PolicyError(
                f"checks.semgrep.rule_dirs: {rel} has no rules (.yaml) at {rev[:12]}",
                location=POLICY_FILE,
                help="commit the rule directory to the protected branch or drop it from rule_dirs",
            )
    return loaded
