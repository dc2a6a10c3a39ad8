"""Template escapes outside Python code, lifted for exec-template-injection (session 27)."""

from __future__ import annotations

import pytest

from traingate.checks.semgrep import targets as sg
from traingate.checks.semgrep.templatecode import config_template_code, template_code


def _lifted(text: str | None) -> dict[int, str]:
    """1-based line -> lifted literal."""
    assert text is not None
    return {i: line for i, line in enumerate(text.split("\n"), 1) if line}


def test_prompt_file_tag_is_lifted_on_its_line() -> None:
    text = "### Q\n{{ self.__init__.__globals__.__builtins__ }}\n{{ question }}\n"
    out = template_code(text)
    assert out is not None and out.count("\n") == text.count("\n")
    assert list(_lifted(out)) == [2]


def test_escaped_letters_are_decoded_before_judging() -> None:
    # Jinja reads "\x67" in a string as "g": `__\x67lobals__` is __globals__
    assert _lifted(template_code("{{ x|attr('__\\x67lobals__') }}\n"))[1].startswith('_ = "{')
    assert template_code("{{ '\\x0a' }}\n{{ name }}\n") is None


@pytest.mark.parametrize(
    "text",
    [
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}\n",
        "{{ user|attr('display_name') }}\n",
        "run: {model}-{lr}\n",
        "__globals__ without any template\n",
        "",
    ],
)
def test_ordinary_templates_lift_nothing(text: str) -> None:
    assert template_code(text) is None
    assert config_template_code(text) is None


def test_yaml_comment_is_not_read_but_a_block_scalar_line_is() -> None:
    text = (
        "# {args.__init__.__globals__[os]}\n"
        "model: llama\n"
        "chat_template: |\n"
        "  # {{ cycler.__init__.__globals__.os }}\n"
    )
    assert list(_lifted(config_template_code(text))) == [3]


def test_json_string_is_judged_decoded() -> None:
    text = '{\n  "chat_template": "{{ joiner.__init__.__\\u0067lobals__.os }}"\n}\n'
    lifted = _lifted(config_template_code(text))
    assert list(lifted) == [2] and "__globals__" in lifted[2]


def test_config_that_does_not_compose_is_read_as_text() -> None:
    text = "a: [\nrun_name: '{a.__init__.__globals__[os]}'\n"
    assert list(_lifted(config_template_code(text))) == [2]


def test_template_targets_carry_the_lifted_tags() -> None:
    shell = "#!/bin/bash\necho {{ cycler.__init__.__globals__.os.popen('id').read() }}\n"
    found = sg._surface_target("oid", "run.sh.j2", "template:.sh", shell)
    assert found is not None and found.ext == ".j2.sh"
    assert found.companion is not None and found.companion.ext == ".tplcode.py"
    prompt = sg._surface_target("oid", "qa.jinja", "template:", "{{ lipsum.__globals__ }}\n")
    assert prompt is not None and prompt.ext == ".tplcode.py"
    assert sg._surface_target("oid", "qa.jinja", "template:", "{{ question }}\n") is None
