"""A config's bytes as its readers decode them (issue #16: fail closed).

A UTF-16 or UTF-32 file has NUL bytes, so git and ``Change.new_text`` call it
binary, yet ``yaml.safe_load`` (a UTF-16 byte order mark) and ``json.loads``
(a byte order mark, or the NUL pattern of the first bytes) read it: a
``_target_: os.system`` in it passed unseen. The gate decodes the way the most
permissive of those readers does, and a file none of them can decode is an
error that blocks, not a file that is skipped. pip reads requirement files its
own way (``pip._internal.utils.encoding.auto_decode``: byte order marks, then a
``coding:`` comment), so ``# coding: utf-7`` is honoured there.
"""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple

from traingate.change import is_binary
from traingate.checks.config.doc import ConfigError

# YAML 1.2 section 5.2 and json.detect_encoding: a byte order mark decides,
# UTF-32's before UTF-16's (FF FE 00 00 starts with FF FE).
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)
# pip's order (UTF-16 before UTF-32) and codec names, copied so the gate reads
# what pip reads, a UTF-32-LE file included (pip takes it for UTF-16).
_PIP_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF32, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
)
_PIP_CODING = re.compile(rb"coding[:=]\s*([-\w.]+)")


class Decoded(NamedTuple):
    text: str
    plain: bool  # UTF-8 text git diffs as text: git's added lines are the text's


def sniff(data: bytes) -> str:
    """The encoding a YAML 1.2 or JSON reader infers from the first bytes."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    head = data[:4]
    if len(head) >= 2 and not head[0]:
        return "utf-32-be" if len(head) == 4 and not head[1] else "utf-16-be"
    if len(head) >= 2 and not head[1]:
        return "utf-32-le" if len(head) == 4 and not (head[2] or head[3]) else "utf-16-le"
    return "utf-8"


def config_text(fmt: str, data: bytes) -> Decoded:
    """``data`` of a ``fmt`` config ("yaml", "json", "jsonc", "toml") as text;
    :class:`ConfigError` when its readers cannot decode it. TOML is UTF-8 only
    (tomllib), so a byte order mark stays and fails to parse, as pip's does."""
    codec = "utf-8" if fmt == "toml" else sniff(data)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise _undecodable(data, codec, exc) from None
    return Decoded(text, codec in ("utf-8", "utf-8-sig") and not is_binary(data))


def requirements_text(data: bytes) -> Decoded:
    """A requirements file as pip decodes it (auto_decode); :class:`ConfigError`
    when pip cannot. Without a mark or cookie pip uses the locale's encoding:
    read as UTF-8, undecodable bytes replaced, as before."""
    for bom, codec in _PIP_BOMS:
        if data.startswith(bom):
            return _strict(data, codec, len(bom))
    for line in data.split(b"\n")[:2]:
        m = _PIP_CODING.search(line)
        if line[:1] == b"#" and m is not None:
            return _strict(data, m.group(1).decode("ascii"), 0)
    return Decoded(data.decode("utf-8", "replace"), not is_binary(data))


def _strict(data: bytes, codec: str, skip: int) -> Decoded:
    try:
        text = data[skip:].decode(codec)
    except UnicodeDecodeError as exc:
        raise _undecodable(data[skip:], codec, exc) from None
    except (LookupError, ValueError, TypeError) as exc:  # no such codec, or not a text one
        raise ConfigError(1, 1, f"pip cannot decode it as {codec!r} ({exc})") from None
    return Decoded(text, codec in ("utf-8", "ascii") and not is_binary(data))


def _undecodable(data: bytes, codec: str, exc: UnicodeDecodeError) -> ConfigError:
    before = data[: exc.start].decode(codec, "replace")
    line = before.count("\n") + 1
    column = len(before) - before.rfind("\n")
    return ConfigError(
        line,
        column,
        f"not valid {codec} text (byte {exc.start}: {exc.reason}); its readers refuse it",
    )
