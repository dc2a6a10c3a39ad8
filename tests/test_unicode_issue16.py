"""Unicode checks of issue #16: confusable words in strings, raw terminal colour
escapes, and variation selectors that belong to real emoji. Scanner-level cases,
then the real gate on a real repository."""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.checks.unicode.scan import scan_text
from traingate.cli import main

from .conftest import POLICY, Repo

ESC = "\x1b"


def rules(text: str, python: bool = True) -> list[tuple[str, int, int, str | None]]:
    return [(i.rule_id, i.line, i.column, i.severity) for i in scan_text(text, python=python)]


# --- confusable words in strings: attacker variants --------------------------------


@pytest.mark.parametrize(
    ("code", "column"),
    [
        # a Cyrillic "а" in the hub host
        ('MIRROR = "https://huggingfаce.co/meta-llama/Llama-3.2-1B"\n', 27),
        # a Cyrillic "о" in a bucket host
        ('CKPT = "s3://lab-checkpоints.s3.amazonaws.com/run7/last.pt"\n', 24),
        # a look-alike package pinned for install
        ('subprocess.check_call([sys.executable, "-m", "pip", "install", "tоrch==2.3.1"])\n', 66),
        # a data path that reads like the real one
        ('DATA = Path("/datasets/imagеnet/train")\n', 28),
        # one-word literals are names: users, keys, ranks
        ('if os.environ.get("USER") == "rооt":\n    lr *= 10\n', 32),
        ('state["optimizеr"] = opt.state_dict()\n', 15),
        # Greek omicron in a module path
        ('module = importlib.import_module("trainer.lοss")\n', 44),
    ],
)
def test_confusable_locators_and_names_are_errors(code: str, column: int) -> None:
    got = rules(code)
    assert got == [("unicode-confusable-string", 1, column, None)], got


def test_confusable_host_in_yaml_and_requirements() -> None:
    assert rules("model:\n  url: https://huggingfаce.co/x\n", python=False) == [
        ("unicode-confusable-string", 2, 24, None)
    ]
    assert rules("numpy==1.26\ntоrch==2.3.1\n", python=False) == [
        ("unicode-confusable-string", 2, 2, None)
    ]


def test_whole_script_lookalike_host_is_an_error() -> None:
    # "аррӏе" is written only in Cyrillic letters that look Latin; ".com" is Latin.
    assert rules('HOST = "аррӏе.com"\n')[0][:2] == ("unicode-confusable-string", 1)


def test_mixed_word_in_prose_is_a_warning() -> None:
    # A keyboard-layout slip in a translated message: shown, does not block.
    assert rules('raise ValueError("Неверный пaроль для пользователя")\n') == [
        ("unicode-confusable-string", 1, 28, "WARNING")
    ]


# --- confusable words in strings: benign look-alikes --------------------------------

BENIGN_TEXT = '''\
"""Обучение модели: загрузка чекпойнта с huggingface.co и запуск."""
LABELS = {"ru": "Загрузка модели", "zh": "加载模型 checkpoint", "ja": "モデルを読み込む"}
MSG = f"Эпоха {epoch}: loss={loss:.3f}, шаг {step}"
GREEK = "σ_max = 3σ, Δt = 0.1"
PATH = "/datasets/данные/train.jsonl"
URL = "https://ru.wikipedia.org/wiki/Нейронная_сеть"
NAME = "café-crème"
# комментарий: скорость обучения (learning rate) для AdamW
'''


def test_translated_strings_docstrings_and_comments_stay_quiet() -> None:
    assert rules(BENIGN_TEXT) == []
    assert rules(BENIGN_TEXT.replace('"""', "#", 2), python=False) == []


def test_markdown_in_other_languages_stays_quiet() -> None:
    doc = "# Обучение\n\nЗапустите `python train.py` — см. [документацию](https://example.com/docs).\n"
    assert rules(doc, python=False) == []


# --- raw ESC --------------------------------------------------------------------------


def test_raw_colour_escape_in_a_string_is_a_warning() -> None:
    code = f'RED, RESET = "{ESC}[1;31m", "{ESC}[0m"\nprint(f"{ESC}[38;5;208mwarn{ESC}[m")\n'
    got = rules(code)
    assert {r for r, *_ in got} == {"unicode-terminal-escape"}
    assert [(ln, col) for _, ln, col, _ in got] == [(1, 15), (1, 26), (2, 9), (2, 24)]


def test_escape_in_shell_echo_is_a_warning() -> None:
    assert rules(f'echo -e "{ESC}[32mOK{ESC}[0m"\n', python=False) == [
        ("unicode-terminal-escape", 1, 10, None),
        ("unicode-terminal-escape", 1, 17, None),
    ]


@pytest.mark.parametrize(
    "code",
    [
        f'BANNER = "{ESC}[8mhidden"\n',  # SGR conceal hides text
        f'BANNER = "{ESC}[1;8;31m"\n',
        f'CLEAR = "{ESC}[1A{ESC}[2K"\n',  # cursor up + erase line: rewrites what is shown
        f'TITLE = "{ESC}]0;train{ESC}\\\\"\n',  # OSC
        f"lr = 0.1  # {ESC}[31m\n",  # outside a string literal
        f"lr = 0.1; {ESC}[30m\n",
    ],
)
def test_other_raw_escapes_stay_invisible_errors(code: str) -> None:
    got = rules(code)
    assert got and got[0][0] == "unicode-invisible", got
    assert "raw terminal escape" in scan_text(code, python=True)[0].message


def test_escaped_colour_codes_are_not_reported() -> None:
    assert rules('RED = "\\x1b[31m"\nGREEN = "\\033[32m"\n') == []


# --- variation selectors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "> ℹ️ **Note**: run `make setup` first.\n",
        "ℹ︎ text-style information sign\n",
        "〰️ wavy dash\n",
        "⚠️ ✅ ❤️ ☑️ 1️⃣ #️⃣ 🏳️‍🌈\n",
        "姓名：葛\U000e0100飾区 辻\U000e0101\n",  # ideographic variation sequences
        "神\ufe00 compatibility variant\n",
    ],
)
def test_real_variation_sequences_pass(text: str) -> None:
    assert rules(text, python=False) == []


@pytest.mark.parametrize(
    "text",
    [
        "ad\ufe0fmin = 1\n",  # after an ASCII letter
        "x = 'ℹ\ufe0f\ufe0f\ufe0f'\n",  # a run after a valid first one hides bytes
        "ℹ\ufe00 not a sequence of U+2139\n",
        "葛\ufe0f\ufe0e\n",
    ],
)
def test_stray_and_smuggling_selectors_are_reported(text: str) -> None:
    assert "unicode-invisible" in {r for r, *_ in rules(text)}


def test_zero_width_in_identifiers_stays_strict() -> None:
    assert rules("lr\u200b = 0.1\n") == [("unicode-invisible", 1, 3, None)]
    assert rules("def step\u2060(model):\n    pass\n")[0][0] == "unicode-invisible"


# --- the real gate -----------------------------------------------------------------------


def _check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return code, [f for f in doc["findings"] if f["check"] == "unicode"]


@pytest.fixture
def urepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("docs/usage.md", "# Usage\n")
    repo.write("mylab/log.py", "import logging\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def test_gate_passes_docs_emoji_and_warns_on_colour_escapes(
    urepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    urepo.write("docs/usage.md", "# Usage\n\n> ℹ️ Run on one GPU first. ⚠️ Not on login nodes.\n")
    urepo.write(
        "mylab/log.py",
        f'import logging\n\nRED, RESET = "{ESC}[31m", "{ESC}[0m"\n'
        'HELP = "Запуск обучения на одном GPU"\n',
    )
    urepo.commit("docs and colours", who="mallory")
    code, found = _check(urepo, capsys)
    assert code == 0
    assert {(f["rule_id"], f["severity"], f["outcome"]) for f in found} == {
        ("unicode-terminal-escape", "WARNING", "warn")
    }


def test_gate_blocks_confusable_host_in_code_and_config(
    urepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    urepo.write(
        "mylab/log.py",
        'import logging\n\nHUB = "https://huggingfаce.co"\n',
    )
    urepo.write("configs/data.yaml", "dataset:\n  url: https://datasets.lab-mirrоr.org/c4\n")
    # A vocabulary's pieces are data, not locators: not judged by the string rule.
    urepo.write("tok/tokenizer.json", '{"model": {"vocab": {"\u2581www.mоscow": 5}}}\n')
    urepo.commit("mirror", who="mallory")
    code, found = _check(urepo, capsys)
    assert code == 1
    # The default policy routes this rule to the security group (a homograph can
    # be a documented example); without that approval the change blocks.
    assert {(f["path"], f["line"], f["outcome"]) for f in found} == {
        ("mylab/log.py", 3, "require_approval"),
        ("configs/data.yaml", 2, "require_approval"),
    }


def test_a_small_pickle_is_not_read_as_text(
    urepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # Protocol-2 pickle of an OrderedDict: no NUL byte, so it "decodes" as text,
    # but its opcodes (\x02 ...) are no characters anyone reads. The artifacts
    # check judges it; the unicode check must not call its bytes invisible.
    import pickle
    import pickletools
    from collections import OrderedDict

    data = pickletools.optimize(pickle.dumps(OrderedDict(), protocol=2))
    assert b"\0" not in data and b"\x02" in data
    (urepo.path / "models").mkdir()
    (urepo.path / "models" / "odict.pt").write_bytes(data)
    urepo.commit("weights", who="mallory")
    _code, found = _check(urepo, capsys)  # blocks anyway: models/ needs approvals
    assert [f for f in found if f["path"] == "models/odict.pt"] == []


# --- notation in prose (issue #16: four approvals on eight real libraries) -----------


@pytest.mark.parametrize(
    "text",
    [
        # transformers' ESMFold2 docstrings: the alpha carbon of a residue
        '"""Index of the representative atom (Cβ, or Cα for glycine) of each token."""\n',
        # trl's BEMA callback: a subscript index and a superscript exponent
        '"""Compute the BEMA scaling factor αₜ = (ρ + γ·t)⁻ᵉᵗᵃ."""\n',
        'LOG = "x̄ᵢ and Hβ emission"\n',
    ],
)
def test_greek_notation_in_prose_is_quiet(text: str) -> None:
    assert rules(text) == []


@pytest.mark.parametrize(
    ("code", "severity"),
    [
        # a Greek letter inside a Latin word is still a slip (or a disguise)
        ('MSG = "enter the pαssword to continue"\n', "WARNING"),
        # two Latin letters beside a Greek one: a word, not a symbol
        ('MSG = "the dαta is ready"\n', "WARNING"),
        # the notation pass is for prose only: a one-word literal and a locator
        # keep their ERROR, subscripts and short words included
        ('if user == "Cαt":\n    pass\n', None),
        ('URL = "https://Cα.example.com/x"\n', None),
        ('state["αₜ-decay"] = 0.9\n', None),
        # Cyrillic is never notation
        ('MSG = "атом Cа и Cβ"\n', "WARNING"),
    ],
)
def test_notation_pass_does_not_cover_words_names_or_locators(
    code: str, severity: str | None
) -> None:
    got = rules(code)
    assert [(r, s) for r, _l, _c, s in got] == [("unicode-confusable-string", severity)], got


def test_an_escape_letter_is_not_a_letter_of_the_word() -> None:
    """lm-eval's Arabic prompt `"...\\nالجواب:"` read as Latin "n" + Arabic (57
    approvals on its task configs); the mix of real letters is still judged."""
    assert rules('doc_to_text: "السؤال: {{query}}\\nالجواب:"\n', python=False) == []
    assert rules('PROMPT = "\\tОтвет:\\u0410"\n') == []
    for code in ('u = "\\tаdmin"\n', 'p = r"C:\\new\\fіle.txt"\n', 'h = "https://\\x41pple.cоm"\n'):
        assert [r[0] for r in rules(code)] == ["unicode-confusable-string"], code
