"""tunebench.compat: renamed APIs used by the name the installed version has, and the probes doctor runs.

These run on whatever trl/transformers/peft are installed: the dev set here, and in `nox -s compat` the declared
lower bounds and the GPU image's set (transformers 5.17.0, where today's `activation_checkpointing` crashed).
Real classes throughout: the probes read the installed SFTConfig, LoraConfig and SFTTrainer.
"""

from __future__ import annotations

import dataclasses
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest
from training_support import REPO, make_project, phase, write_recipe

from tunebench import compat
from tunebench.training.recipe import load_recipe
from tunebench.training.trainer import TRAINER_KWARGS, lora_config_kwargs, probe_apis, sft_config_kwargs


def _kwargs(recipe, **changes):
    kwargs = sft_config_kwargs(recipe, recipe.phases[0], 2, 1, Path("out"), False, True, "probe")
    return {**kwargs, **changes}


@pytest.fixture
def recipe(tmp_path):
    return load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], gradient_checkpointing=True))


@pytest.mark.parametrize("on", [True, False])
def test_sft_config_takes_the_recipes_checkpointing_by_the_installed_name_without_a_warning(recipe, on):
    # transformers 5.2-5.22 (the GPU image has 5.17.0) have no `activation_checkpointing`: the old code's
    # TypeError. 5.23+ warn on the old name. Either way the setting must arrive, silently.
    from trl import SFTConfig

    recipe = dataclasses.replace(recipe, gradient_checkpointing=on)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        args = SFTConfig(**_kwargs(recipe))
    assert args.gradient_checkpointing is on  # the old attribute mirrors the new one where both exist


def test_the_shipped_recipes_pass_nothing_the_installed_libraries_lack():
    for name in ("tiny-dora-curriculum", "dora-v3-curriculum", "lora-l4"):
        recipe = load_recipe(REPO / "recipes" / f"{name}.toml")
        assert probe_apis(recipe) == [], name


def test_the_probe_catches_todays_activation_checkpointing_crash_on_transformers_before_5_23(recipe):
    if "activation_checkpointing" in compat.sft_config_fields():
        pytest.skip(
            f"transformers {version('transformers')} has activation_checkpointing; "
            "nox -s compat's gpu-image set (transformers 5.17.0) runs this test"
        )
    # The keywords the old trainer.py passed: the new name whatever the installed transformers.
    todays = _kwargs(recipe)
    todays["activation_checkpointing"] = todays.pop("gradient_checkpointing")
    problems = compat.probe_sft_config(todays)
    assert len(problems) == 1
    message = problems[0].describe()
    assert message.startswith(f"transformers {version('transformers')} has no ")
    assert "'activation_checkpointing'" in message and message.endswith("versions that work: transformers>=5.23.0")


def test_a_field_trl_lacks_is_one_error_naming_package_version_name_and_working_versions(recipe):
    # trl 1.x calls it max_length; max_seq_length is what the seed's scripts passed (trl 0.x).
    problems = compat.probe_sft_config(_kwargs(recipe, max_seq_length=2048))
    assert [p.package for p in problems] == ["trl"]
    message = problems[0].describe()
    assert f"trl {version('trl')} has no SFTConfig/TrainingArguments field 'max_seq_length'" in message
    assert "versions that work: trl>=" in message and "transformers>=" in message


def test_a_lora_option_peft_lacks_and_a_trainer_keyword_trl_lacks_are_reported(recipe):
    lora = {**lora_config_kwargs(recipe), "use_qdora_fast_path": True}
    problems = compat.probe_training_apis(_kwargs(recipe), lora, (*TRAINER_KWARGS, "tokenizer"))
    described = [p.describe() for p in problems]
    assert [p.package for p in problems] == ["peft", "trl"], described
    assert f"peft {version('peft')} has no LoraConfig field 'use_qdora_fast_path'" in described[0]
    assert f"trl {version('trl')} has no SFTTrainer parameter 'tokenizer'" in described[1]


def test_doctor_refuses_a_recipe_whose_names_the_installed_trl_lacks(recipe, monkeypatch, project, capsys):
    # A real probe of the installed SFTConfig against a keyword it lacks; doctor must name it, not say "ok".
    from tunebench.cli import main
    from tunebench.training import trainer

    real = trainer.sft_config_kwargs
    monkeypatch.setattr(trainer, "sft_config_kwargs", lambda *a: {**real(*a), "max_seq_length": 2048})
    assert main(["doctor", "--recipe", str(REPO / "recipes" / "tiny-dora-curriculum.toml")]) == 1
    out = capsys.readouterr().out
    assert "max_seq_length" in out and "would refuse a training run: api trl" in out


def test_doctor_passes_the_tiny_recipe_on_the_installed_versions(project, capsys):
    from tunebench.cli import main

    assert main(["doctor", "--recipe", str(REPO / "recipes" / "tiny-dora-curriculum.toml")]) == 0
    out = capsys.readouterr().out
    assert f"transformers {version('transformers')}" in out and f"checkpointing as {compat.checkpointing_arg()}" in out


def test_checkpointing_helpers_turn_it_on_and_off_by_the_installed_names_without_warnings(tiny_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        compat.enable_checkpointing(model, {"use_reentrant": False})
        assert compat.is_checkpointing(model)
        compat.disable_checkpointing(model)
        assert not compat.is_checkpointing(model)


def test_training_with_checkpointing_shows_no_checkpointing_future_warning(tmp_path):
    # peft and trl call transformers' old names themselves; a `tunebench train` user cannot act on those warnings.
    from tunebench.training.run import train

    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 2)], gradient_checkpointing=True, merge=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = train(recipe, config=config)
    assert record.data["phases"][0]["steps"] >= 1
    future = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not [m for m in future if "checkpointing" in m], future
