"""config-risky-env on ``os.environ`` writes whose key comes from iterating a
mapping of literal keys (session 25, python_env_maps.py). The marker fixture
tests/fixtures/checks/config/scripts/env_table.py runs the same through the
whole gate; these pin the cases one by one."""

from __future__ import annotations

import textwrap

import pytest

from traingate.change import ChangedFile, Status
from traingate.checks.config.python_env import python_environ

EVIL = "https://pypi.ml-mirror.example.net/simple"


def _found(src: str, added: set[int] | None = None) -> list[tuple[int, str]]:
    text = textwrap.dedent(src)
    lines = set(range(1, text.count("\n") + 2)) if added is None else added
    f = ChangedFile(Status.ADDED, None, "train/env.py", None, "100644", None, "0" * 40)
    return [(x.line or 0, x.message.split("'")[1]) for x in python_environ(f, text, lines)]


CAUGHT = {
    "items_loop_module_table": f"""
        import os
        _SETTINGS = {{"OMP_NUM_THREADS": "8", "PIP_INDEX_URL": "{EVIL}"}}
        def apply():
            for key, value in _SETTINGS.items():
                os.environ[key] = value
        """,
    "keys_loop_subscript": """
        import os
        def apply():
            table = {"HF_ENDPOINT": "https://hf.mirror.example", "OMP_NUM_THREADS": "4"}
            for name in table:
                os.environ[name] = table[name]
        """,
    "literal_in_header_setdefault": f"""
        import os
        for k, v in {{"PIP_EXTRA_INDEX_URL": "{EVIL}"}}.items():
            os.environ.setdefault(k, str(v))
        """,
    "update_by_name": f"""
        import os
        ENV = dict(OMP_NUM_THREADS="8", PIP_INDEX_URL="{EVIL}")
        os.environ.update(ENV)
        """,
    "update_star_star": f"""
        import os
        ENV = {{"UV_INDEX_URL": "{EVIL}"}}
        os.environ.update(**ENV)
        """,
    "pairs_and_sorted": f"""
        from os import environ
        PAIRS = [("TOKENIZERS_PARALLELISM", "false"), ("PIP_INDEX_URL", "{EVIL}")]
        for k, v in sorted(PAIRS):
            environ[k] = v
        """,
    "comprehension_setitem": """
        import os
        FLAGS = {"PYTHONBREAKPOINT": "tools.trace.hook"}
        [os.environ.__setitem__(k, v) for k, v in FLAGS.items()]
        """,
    # the key made from the loop's name: a lower-case table, a prefix
    "key_upper_cased": f"""
        import os
        _MIRRORS = {{"pip_index_url": "{EVIL}", "omp_num_threads": "8"}}
        for name, url in _MIRRORS.items():
            os.environ[name.upper()] = url
        """,
    "key_with_prefix": """
        import os
        for suffix in ("INDEX_URL",):
            os.environ[f"PIP_EXTRA_{suffix}"] = "http://198.51.100.7/simple"
        """,
    # an insider's excuse: the table looks benign where it is bound, the key
    # is added on another line or another branch
    "key_added_later": f"""
        import os
        RUN_ENV = {{"OMP_NUM_THREADS": "8"}}
        RUN_ENV["PIP_INDEX_URL"] = "{EVIL}"
        def apply():
            for k, v in RUN_ENV.items():
                os.environ[k] = v
        """,
    "rebound_on_a_branch": """
        import os, sys
        RUN_ENV = {"OMP_NUM_THREADS": "8"}
        if sys.platform == "linux":
            RUN_ENV = {"OMP_NUM_THREADS": "8", "HF_ENDPOINT": "http://198.51.100.7"}
        for k, v in RUN_ENV.items():
            os.environ[k] = v
        """,
    "update_method_adds_key": """
        import os
        RUN_ENV = {}
        RUN_ENV.update(PIP_TRUSTED_HOST="pypi.ml-mirror.example.net")
        os.environ.update(RUN_ENV)
        """,
    "copy_of_environ_plus_table": f"""
        import os
        env = dict(os.environ)
        env |= {{"PIP_INDEX_URL": "{EVIL}"}}
        for k, v in env.items():
            os.environ[k] = v
        """,
}


@pytest.mark.parametrize("src", CAUGHT.values(), ids=list(CAUGHT))
def test_key_from_a_literal_mapping_is_judged(src: str) -> None:
    found = _found(src)
    assert len(found) == 1, found
    assert found[0][1] in {
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "UV_INDEX_URL",
        "HF_ENDPOINT",
        "PYTHONBREAKPOINT",
        "PIP_TRUSTED_HOST",
    }


def test_finding_is_at_the_write_and_names_the_keys_line() -> None:
    src = textwrap.dedent(CAUGHT["items_loop_module_table"])
    f = ChangedFile(Status.ADDED, None, "train/env.py", None, "100644", None, "0" * 40)
    (x,) = python_environ(f, src, set(range(1, 8)))
    assert x.line == 6 and "the key on line 3" in x.message


def test_adding_the_entry_to_an_old_loops_table_is_judged() -> None:
    src = f"""
        import os
        SETTINGS = {{
            "OMP_NUM_THREADS": "8",
            "PIP_INDEX_URL": "{EVIL}",
        }}
        for k, v in SETTINGS.items():
            os.environ[k] = v
        """
    assert _found(src, {5}) == [(8, "PIP_INDEX_URL")]
    assert _found(src, {4}) == []  # only the harmless entry changed


def test_a_local_table_shadows_the_modules() -> None:
    src = f"""
        import os
        ENV = {{"PIP_INDEX_URL": "{EVIL}"}}
        def apply(ENV):
            for k, v in ENV.items():
                os.environ[k] = v
        def threads():
            ENV = {{"OMP_NUM_THREADS": "8"}}
            for k, v in ENV.items():
                os.environ[k] = v
        """
    assert _found(src) == []


def test_another_functions_mapping_of_the_same_name_is_not_this_one() -> None:
    src = f"""
        import os, subprocess
        def install(cmd):
            env = os.environ.copy()
            env["PIP_INDEX_URL"] = "{EVIL}"
            subprocess.run(cmd, env=env, check=True)
        def threads():
            env = {{"OMP_NUM_THREADS": "8"}}
            os.environ.update(env)
        """
    assert _found(src) == []


def test_a_key_added_to_the_modules_table_inside_a_function_counts() -> None:
    src = f"""
        import os
        RUN_ENV = {{"OMP_NUM_THREADS": "8"}}
        def configure():
            RUN_ENV.setdefault("PIP_INDEX_URL", "{EVIL}")
        def apply():
            os.environ.update(RUN_ENV)
        """
    assert _found(src) == [(7, "PIP_INDEX_URL")]


PASSES = {
    "thread_settings_only": """
        import os
        _THREADS = {"OMP_NUM_THREADS": "8", "TOKENIZERS_PARALLELISM": "false"}
        def set_threads():
            for key, value in _THREADS.items():
                os.environ[key] = value
            os.environ.update(_THREADS)
        """,
    "approved_index": """
        import os
        INDEXES = {
            "PIP_INDEX_URL": "https://pypi.org/simple",
            "PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cu121",
        }
        for k, v in INDEXES.items():
            os.environ.setdefault(k, v)
        """,
    # copying the environment for a child process: no write of os.environ
    "copy_environ_for_child": """
        import os, subprocess
        def launch(cmd):
            env = {}
            for key, value in os.environ.items():
                if key.startswith(("CUDA_", "NCCL_")):
                    env[key] = value
            for key, value in os.environ.items():
                os.environ[key] = value.strip()
            subprocess.run(cmd, env=env, check=True)
        """,
    "run_time_table": """
        import os, json
        def apply(path):
            for k, v in json.load(open(path)).items():
                os.environ[k] = str(v)
        """,
    # the key is not the loop's: the mapping's keys are not written
    "key_not_from_the_table": """
        import os
        MIRRORS = {"PIP_INDEX_URL": "x", "HF_ENDPOINT": "y"}
        for name in MIRRORS:
            os.environ["TG_SEEN_" + "FLAG"] = "1"
        """,
}


@pytest.mark.parametrize("src", PASSES.values(), ids=list(PASSES))
def test_harmless_tables_pass(src: str) -> None:
    assert _found(src) == []
