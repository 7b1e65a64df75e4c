"""Non-UTF-8 user files (recipe, data, suite, config, registry entry): one error naming the file and byte offset."""

from __future__ import annotations

import json

import pytest

from tunebench.cli import main
from tunebench.config import load_config
from tunebench.data import load_examples
from tunebench.errors import ConfigError, DataError, RecipeError, RegistryError, SuiteFileError
from tunebench.suites import load_questions
from tunebench.textfile import decode_utf8
from tunebench.training.recipe import load_recipe

LATIN1_NOTE = "# caf\u00e9 costs \u20ac\n".encode("cp1252")  # 'é' is byte 0xe9 at offset 5


def test_decode_names_the_line_offset_and_byte_and_spots_utf16():
    with pytest.raises(DataError, match=r"^f.txt: line 2: byte offset 7: expected UTF-8 text, found byte 0xe9; save"):
        decode_utf8(b"ok\nabcd\xe9", "f.txt", DataError)
    with pytest.raises(DataError, match=r"found byte 0xff \(it looks like UTF-16\)"):
        decode_utf8("x = 1".encode("utf-16"), "f.txt", DataError)
    assert decode_utf8("\ufeffx = 1".encode(), "f.txt") == "x = 1"  # a BOM is not an error


def test_a_latin1_recipe_is_a_recipe_error_naming_the_file_and_offset(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_bytes(LATIN1_NOTE + b'model = "tiny"\n')
    with pytest.raises(RecipeError, match=rf"^{recipe}: line 1: byte offset 5: expected UTF-8 text, found byte 0xe9"):
        load_recipe(recipe)
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"tunebench: error: {recipe}: line 1: byte offset 5" in err and "Traceback" not in err


def test_a_latin1_config_is_a_config_error(project):
    (project.root / "pyproject.toml").write_bytes(b"[tool.tunebench]\n" + LATIN1_NOTE)
    with pytest.raises(
        ConfigError, match=r"pyproject.toml: line 2: byte offset 22: expected UTF-8 text, found byte 0xe9"
    ):
        load_config(project.root)


def test_latin1_training_data_and_suite_files_name_the_file(tmp_path):
    row = {"messages": [{"role": "user", "content": "x"}]}
    data = tmp_path / "train.jsonl"
    data.write_bytes(json.dumps(row).encode() + b"\n" + '{"caf\u00e9": 1}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=rf"^{data}: line 2: byte offset \d+: expected UTF-8 text, found byte 0xe9"):
        load_examples(data)
    suite = tmp_path / "questions.jsonl"
    suite.write_bytes('{"id": "q1", "question": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(
        SuiteFileError, match=rf"^{suite}: line 1: byte offset 29: expected UTF-8 text, found byte 0xe9"
    ):
        load_questions(suite)


def test_a_latin1_registry_entry_file_is_a_registry_error(project):
    from tunebench.registry import Registry

    project.write("[tool.tunebench]\n")
    config = load_config(project.root)
    (config.home / "registry").mkdir(parents=True)
    entry = config.home / "registry" / "m1.json"
    entry.write_bytes('{"base": "builtin:tiny", "notes": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(RegistryError, match=rf"^{entry}: line 1: byte offset 38: expected UTF-8 text, found byte 0xe9"):
        Registry(config)
