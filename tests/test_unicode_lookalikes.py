"""Look-alike names and escaped letters (issue #16, red-team pass of session
24): a mixed-script identifier that is a module name in an import or reads as
another name of the file blocks; a letter written as an escape in a str
literal is judged as the letter Python builds. Benign look-alikes beside each."""

from __future__ import annotations

import pytest

from traingate.checks.unicode.scan import scan_text

CYR_O = "\u043e"
CYR_ES = "\u0441"


def rules(text: str) -> list[tuple[str, int, str | None]]:
    return [(i.rule_id, i.line, i.severity) for i in scan_text(text, python=True)]


@pytest.mark.parametrize(
    "code",
    [
        f"from t{CYR_O}rchmetrics.functional import accuracy\n",
        f"import os, t{CYR_O}rch as T\n",
        f"import t{CYR_O}rch.nn\n",
        f"from .t{CYR_O}ols import load\n",
    ],
)
def test_look_alike_module_name_in_an_import_blocks(code: str) -> None:
    assert rules(code) == [("unicode-mixed-script-identifier", 1, "ERROR")]


def test_name_that_reads_as_another_name_of_the_file_blocks() -> None:
    code = (
        "def verify_checksum(p):\n    return True\n\n\n"
        f"def verify_{CYR_ES}hecksum(p):\n    return True\n"
    )
    assert rules(code) == [("unicode-mixed-script-identifier", 5, "ERROR")]


def test_lone_mixed_word_stays_a_warning() -> None:
    # a keyboard-layout slip: no other name of the file reads the same
    code = "b\u0430tch_size = 4\nprint(batch)\n"
    assert rules(code) == [("unicode-mixed-script-identifier", 1, None)]


@pytest.mark.parametrize(
    "code",
    [
        'REPO = "met\\u0430-llama/Meta-Llama-3-8B"\n',
        'HOST = "https://huggingf\\N{CYRILLIC SMALL LETTER A}ce.co"\n',
        'PKG = "t\\U0000043erch==2.3"\n',
        'if user == "\\u0430dmin":\n    pass\n',
    ],
)
def test_escaped_look_alike_letter_blocks(code: str) -> None:
    assert rules(code) == [("unicode-confusable-string", 1, None)]


@pytest.mark.parametrize(
    "code",
    [
        # raw and bytes literals have no such escapes
        'PATTERN = r"met\\u0430-llama/x"\n',
        'DATA = b"met\\u0430-llama/x"\n',
        # an escaped backslash: the text is a backslash and "u0430"
        'DOC = "met\\\\u0430-llama/x"\n',
        # a whole word in one script, and escapes that are no letters
        'GREETING = "\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442 world"\n',
        'SEP = "\\u2014".join(["a", "b"])\n',
        'BPE = "\\u0120the"\n',
    ],
)
def test_benign_escapes_pass(code: str) -> None:
    assert rules(code) == []
