"""Hostile recipe values and a refused record: refused before any work, and never a registered orphan adapter."""

from __future__ import annotations

import pytest
from hostile_support import snapshot
from training_support import make_project, phase, write_recipe

from tunebench.errors import RecipeError, RegistryError
from tunebench.registry import Registry
from tunebench.training.recipe import load_recipe
from tunebench.training.run import train


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("learning_rate=inf", r"\(--set learning_rate=inf\): key learning_rate: expected a finite number, found inf"),
        ("learning_rate=-inf", r"key learning_rate: expected a finite number"),
        ("learning_rate=nan", r"key learning_rate: expected a finite number, found nan"),
        ("weight_decay=inf", r"key weight_decay: expected a finite number"),
        ("seed=99999999999999999999", r"key seed: expected 0 to 4294967295, found 99999999999999999999"),
        ("seed=-1", r"key seed: expected 0 to 4294967295, found -1"),
        ("rank=99999999999999999999", r"key rank: expected an integer of at most 2147483647"),
        ("phases.A.size=10000000000000", r"key phases\[0\].size: expected an integer of at most"),
        ("phases.A.mix={easy=inf}", r"key phases\[0\].mix.easy: expected a fraction from 0 to 1, found inf"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused_naming_the_override(tmp_path, override, expected):
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    with pytest.raises(RecipeError, match=expected):
        load_recipe(recipe, [override])


def test_the_largest_seed_numpy_takes_is_accepted(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    assert load_recipe(recipe, ["seed=4294967295"]).seed == 4294967295


def test_a_folder_that_holds_no_model_is_refused_before_any_state(tmp_path):
    project = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    for folder in ("/etc", str(tmp_path)):
        with pytest.raises(RegistryError, match=r"is a folder with no config.json or adapter_config.json"):
            train(recipe, config=project, overrides=[f"model={folder}"])
    assert not (project.home / "models").exists()  # no run state: the next train is not blocked


def test_a_run_whose_record_is_refused_registers_no_adapter_and_changes_no_history(tmp_path):
    project = make_project(tmp_path / "p")
    history = project.home / "history"
    history.mkdir(parents=True)
    (history / "runs").write_text("not a folder", encoding="utf-8")  # the record's folder cannot be made
    before = snapshot(history)
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    with pytest.raises(Exception, match="runs"):
        train(recipe, config=project)
    assert "tiny-test" not in Registry(project)
    assert not (project.home / "registry" / "tiny-test.json").exists()
    assert snapshot(history) == before
