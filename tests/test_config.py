import pytest

from tunebench.config import load_config
from tunebench.errors import ConfigError


def test_defaults_without_any_config_file(project):
    config = load_config()
    assert config.source is None and config.default_model == "tiny"
    assert config.history_uri == str(project.root / ".tunebench" / "history")


def test_unknown_key_names_file_key_and_allowed_keys(project):
    path = project.write('[tool.tunebench]\nhistroy = "h"\n')
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert str(path) in message and "unknown key tool.tunebench.histroy" in message and "history" in message


def test_unknown_nested_key_is_named_with_its_table(project):
    project.write("[tool.tunebench.gate]\nmin_acuracy = 0.5\n")
    with pytest.raises(ConfigError, match=r"unknown key tool.tunebench.gate.min_acuracy: expected one of"):
        load_config()


def test_wrong_type_says_what_was_expected_and_found(project):
    project.write('[tool.tunebench.eval]\nmax_new_tokens = "many"\n')
    with pytest.raises(ConfigError, match=r"key tool.tunebench.eval.max_new_tokens: expected an integer.*'many'"):
        load_config()


def test_out_of_range_value_is_refused(project):
    project.write("[tool.tunebench.gate]\nmin_accuracy = 80\n")
    with pytest.raises(ConfigError, match=r"min_accuracy: expected a number \(>= 0, <= 1\), found 80"):
        load_config()


def test_tunebench_toml_wins_over_pyproject_and_paths_are_relative_to_it(project):
    project.write('[tool.tunebench]\ndefault_model = "from-pyproject"\n')
    project.write('default_model = "tiny"\nhistory = "hist"\nlog = "out/LOG.md"\n', name="tunebench.toml")
    config = load_config()
    assert config.source.name == "tunebench.toml"
    assert config.history_uri == str(project.root / "hist")
    assert config.log == project.root / "out" / "LOG.md"


def test_config_is_found_from_a_subfolder(project):
    project.write('[tool.tunebench]\ndefault_model = "tiny"\nhistory = "gs://bucket/hist"\n')
    sub = project.root / "a" / "b"
    sub.mkdir(parents=True)
    config = load_config(sub)
    assert config.root == project.root and config.history_uri == "gs://bucket/hist"


def test_invalid_toml_names_the_file(project):
    path = project.write("[tool.tunebench\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML"):
        load_config()


def test_repo_config_registers_the_seed_models():
    from pathlib import Path

    from tunebench.registry import Registry

    config = load_config(Path(__file__).parent)
    registry = Registry(config)
    assert registry.get("dora-v3").adapter.endswith("wealth-dora-elson14b-h100-v3-curriculum/")
    assert registry.get("dora-v2").status == "production"
    assert registry.get("lora-vm1").status == "archive" and registry.get("lora-vm2").status == "archive"
    assert registry.get("elson-finance-trading-14b").base.startswith("gs://elson-33a95-elson-models/")


def test_a_history_given_on_the_command_line_is_read_from_where_the_command_runs(project, monkeypatch):
    project.write('[tool.tunebench]\nhistory = "configured"\n')
    config = load_config()
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert config.history_at(None) == config.history_uri == str(project.root / "configured")
    assert config.history_at("here") == str(elsewhere / "here")  # not beside the config
    assert config.history_at("gs://bucket/prefix") == "gs://bucket/prefix"
    monkeypatch.setenv("HOME", str(project.root / "home"))
    assert config.history_at("~/h") == str(project.root / "home" / "h")  # as the plugin's --history reads it
