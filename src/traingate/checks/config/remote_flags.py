"""``trust_remote_code`` as a launcher passes it and as a config spells it
(issue #16, session 27 red team).

``accelerate launch sft.py --trust_remote_code True`` turns on the same code
download as ``trust_remote_code=True`` in Python, from a shell line the
Python rules never read. In a config, a key spelled ``trust-remote-code`` or
``trustRemoteCode`` (jsonargparse and Lightning's CLI accept dashes) is the same
key, and a quoted ``"false"`` is a non-empty string: a config loaded as is
(``HfArgumentParser.parse_yaml_file``, a plain ``yaml.safe_load``) hands it to
``from_pretrained``, which only tests its truth."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from traingate.change import ChangedFile
from traingate.checks.config.rules import _finding
from traingate.findings import Finding

# The flag, then its value when one follows (`=v` or ` v` not starting a new
# option); a bare flag is argparse's store_true.
_FLAG = re.compile(
    r"""(?:^|[\s"'])--trust[-_]remote[-_]code\b(?:(?:=|[ \t]+)(?!-)["']?([^\s"';&|)]+))?"""
)
_QUIET = re.compile(r"\s*(?:#|(?:echo|printf)\s[^|;&<>`$()]*$)")
_FALSE = frozenset(["false", "0", "no", "off", "n", "f", "none"])
_FIX = "keep trust_remote_code false; vendor and review the model code instead"


def is_trust_key(key: str) -> bool:
    return re.sub(r"[-_]", "", key).lower() == "trustremotecode"


def truthy(value: object) -> bool:
    """What ``if trust_remote_code:`` decides for a value loaded as is."""
    return bool(value) and value != 0


def shell_trust_flags(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    for n, line in enumerate(text.split("\n"), 1):
        if n not in added or _QUIET.match(line):
            continue  # a comment, or a message that prints the flag's name
        for m in _FLAG.finditer(line):
            value = m.group(1)
            if value is not None and value.lower() in _FALSE:
                continue
            shown = "--trust_remote_code" + (f" {value}" if value else "")
            yield _finding(
                f,
                "config-trust-remote-code",
                n,
                m.start() + 1 + (m.group(0)[0] != "-"),
                f"a launch command passes {shown}; the job runs Python code shipped with "
                "the model repository",
                _FIX,
            )
            break
