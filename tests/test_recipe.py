"""Recipes: every shipped recipe loads; a bad recipe is refused naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_support import REPO, phase, write_recipe

from tunebench.errors import RecipeError
from tunebench.training.recipe import QWEN2_PROJECTIONS, load_recipe

SHIPPED = sorted((REPO / "recipes").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_recipe_loads_with_its_phases(path: Path):
    recipe = load_recipe(path)
    assert recipe.phases and recipe.output
    assert all(f.is_file() for p in recipe.phases for f in p.data)


def test_seed_session_recipes_carry_the_logged_hyperparameters():
    v3 = load_recipe(REPO / "recipes" / "dora-v3-curriculum.toml")
    assert (v3.method, v3.rank, v3.alpha, v3.batch_size, v3.grad_accum, v3.epochs) == ("dora", 128, 256, 4, 16, 2)
    assert [(p.name, p.kind, p.size) for p in v3.phases] == [
        ("A", "domain_blocks", 389),
        ("B", "mixed", 4809),
        ("C", "stress", 2000),
    ]
    assert v3.phases[0].mix == {"easy": 0.35, "medium": 0.35, "hard": 0.25, "extreme": 0.05}
    assert load_recipe(REPO / "recipes" / "lora-l4.toml").quantized
    tiny = load_recipe(REPO / "recipes" / "tiny-dora-curriculum.toml")
    assert [p.mix for p in tiny.phases] == [p.mix for p in v3.phases]


def test_target_modules_default_to_all_seven_qwen2_projections(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)]))
    assert recipe.target_modules == QWEN2_PROJECTIONS and len(QWEN2_PROJECTIONS) == 7


def test_unknown_key_is_refused_with_file_line_and_key(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], learning_rat=1e-4)
    line = path.read_text().splitlines().index("learning_rat = 0.0001") + 1
    with pytest.raises(
        RecipeError, match=rf"r\.toml:{line}: unknown key learning_rat: expected one of .*learning_rate"
    ):
        load_recipe(path)


def test_wrong_type_names_the_key_what_was_expected_and_found(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], rank="sixteen")
    with pytest.raises(RecipeError, match=r"r\.toml:\d+: key rank: expected an integer, found 'sixteen' \(str\)"):
        load_recipe(path)


def test_boolean_is_not_accepted_as_a_number(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], batch_size=True)
    with pytest.raises(RecipeError, match="key batch_size: expected an integer, found True"):
        load_recipe(path)


def test_unknown_method_lists_the_methods(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], method="ia3")
    with pytest.raises(RecipeError, match="key method: expected one of lora, dora, qlora, qdora, found 'ia3'"):
        load_recipe(path)


def test_mix_not_summing_to_one_is_refused_naming_the_phase(tmp_path):
    bad = {"easy": 0.5, "medium": 0.4, "hard": 0.2, "extreme": 0.0}
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4), phase("B", "stress", 4, mix=bad)])
    with pytest.raises(RecipeError, match=r"key phases\[1\]\.mix: expected fractions summing to 1, found 1\.1"):
        load_recipe(path)


def test_mix_with_an_unknown_difficulty_is_refused(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4, mix={"easy": 0.5, "brutal": 0.5})])
    with pytest.raises(RecipeError, match=r"key phases\[0\]\.mix\.brutal: expected a difficulty"):
        load_recipe(path)


def test_missing_data_file_names_the_phase_key_and_the_path(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4, data=tmp_path / "nope.jsonl")])
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("data = "))
    with pytest.raises(
        RecipeError,
        match=rf"r\.toml:{line}: key phases\[0\]\.data: expected an existing data file, "
        rf"found '.*nope\.jsonl'",
    ):
        load_recipe(path)


def test_missing_validation_file_is_refused(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], validation=["held_out.jsonl"])
    with pytest.raises(RecipeError, match="key validation: expected an existing data file, found 'held_out.jsonl'"):
        load_recipe(path)


def test_missing_required_key_is_named(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], output=None)
    with pytest.raises(RecipeError, match="key output: expected it to be present"):
        load_recipe(path)


def test_unknown_phase_kind_and_duplicate_phase_names_are_refused(tmp_path):
    path = write_recipe(tmp_path / "r.toml", [phase("A", "warmup", 4)])
    with pytest.raises(RecipeError, match=r"key phases\[0\]\.kind: expected one of domain_blocks, mixed, stress"):
        load_recipe(path)
    path = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4), phase("A", "stress", 4)])
    with pytest.raises(RecipeError, match="expected distinct phase names, found 'A' twice"):
        load_recipe(path)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("model = \n")
    with pytest.raises(RecipeError, match=r"r\.toml: not valid TOML"):
        load_recipe(path)


def test_recipe_hash_follows_its_bytes(tmp_path):
    first = load_recipe(write_recipe(tmp_path / "a.toml", [phase("A", "mixed", 4)]))
    second = load_recipe(write_recipe(tmp_path / "b.toml", [phase("A", "mixed", 4)], seed=8))
    assert first.sha256 != second.sha256 and first.sha256.startswith("sha256:")
