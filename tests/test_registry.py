import json

import pytest

from tunebench.config import load_config
from tunebench.errors import RegistryError
from tunebench.registry import ModelEntry, Registry


def test_tiny_is_always_present_even_without_config(project):
    registry = Registry(load_config())
    assert registry.names() == ["tiny"]
    assert registry.get("tiny").base == "builtin:tiny"


def test_unknown_name_lists_known_names_and_suggests_the_closest(project):
    project.write('[tool.tunebench.models.dora-v3]\nbase = "/m/base"\nadapter = "/m/v3"\nstatus = "production"\n')
    with pytest.raises(RegistryError) as info:
        Registry(load_config()).get("dora-3v")
    message = str(info.value)
    assert "unknown model 'dora-3v'" in message
    assert "Did you mean 'dora-v3'?" in message
    assert "Known models: dora-v3, tiny" in message


def test_bad_status_in_config_names_the_file_and_key(project):
    path = project.write('[tool.tunebench.models.x]\nbase = "/m"\nstatus = "prod"\n')
    with pytest.raises(Exception) as info:
        load_config()
    assert str(path) in str(info.value)
    assert "tool.tunebench.models.x.status" in str(info.value)
    assert "production, archive, experimental" in str(info.value)


def test_entry_without_base_is_an_error(project):
    project.write('[tool.tunebench.models.x]\nadapter = "/a"\n')
    with pytest.raises(Exception, match=r"tool.tunebench.models.x.*'base'"):
        load_config()


def test_added_entry_persists_and_is_listed(project):
    registry = Registry(load_config())
    path = registry.add(ModelEntry(name="run-1", base="builtin:tiny", adapter="/out/run-1", notes="trained"))
    assert json.loads(path.read_text()) == {
        "adapter": "/out/run-1",
        "base": "builtin:tiny",
        "notes": "trained",
        "status": "experimental",
    }
    again = Registry(load_config())
    assert "run-1" in again.names() and again.get("run-1").adapter == "/out/run-1"
    with pytest.raises(RegistryError, match="already exists"):
        again.add(ModelEntry(name="run-1", base="builtin:tiny"))


def test_cannot_shadow_a_configured_or_builtin_model(project):
    project.write('[tool.tunebench.models.prod]\nbase = "/m"\n')
    registry = Registry(load_config())
    for name in ("prod", "tiny"):
        with pytest.raises(RegistryError, match="choose another output name"):
            registry.add(ModelEntry(name=name, base="builtin:tiny"))


def test_corrupt_added_entry_names_its_file(project):
    folder = project.root / ".tunebench" / "registry"
    folder.mkdir(parents=True)
    (folder / "bad.json").write_text('{"base": "/m",\n "status": 3}')
    with pytest.raises(RegistryError, match=r"bad.json.*'bad'.*status"):
        Registry(load_config())


@pytest.mark.parametrize("name", ["../../../X", "../x", "a/b", ".hidden", "", "x" * 129, "a\\b"])
def test_a_registry_name_that_is_a_path_is_refused_and_nothing_is_written(project, name):
    registry = Registry(load_config())
    with pytest.raises(RegistryError, match="is not a valid model name"):
        registry.add(ModelEntry(name=name, base="builtin:tiny"))
    assert not any(project.root.rglob("*.json"))


def test_a_config_model_name_with_a_path_is_refused_naming_the_file_and_key(project):
    path = project.write('[tool.tunebench.models."../evil"]\nbase = "builtin:tiny"\n')
    with pytest.raises(RegistryError, match=rf"{path}: key tool.tunebench.models.../evil: '../evil' is not a valid"):
        Registry(load_config())


def test_models_push_register_with_a_path_is_refused_before_anything_is_pushed(project, capsys):
    from tunebench.cli import main

    assert main(["models", "push", "tiny", "gs://bucket/x", "--register", "../../../X", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--register: '../../../X' is not a valid model name" in err and "Traceback" not in err
    assert not any(project.root.parent.rglob("X.json"))
