"""Training cost: the shipped list prices for the GPUs teams rent, and one clear line when a price is missing."""

from __future__ import annotations

from training_support import phase, write_recipe

from tunebench.config import DEFAULT_PRICES as LIST_PRICES
from tunebench.training.cost import hardware_key, missing_price, training_cost


def test_a_project_without_a_price_table_prices_the_gpus_teams_rent_on_demand_and_spot(project):
    from tunebench.config import load_config

    project.write('[tool.tunebench]\nhome = ".tb"\n')
    prices = load_config().prices
    for gpu in ("h100", "h200", "a100", "l4", "l40s"):
        assert prices[gpu] > prices[f"{gpu}-spot"] > 0, gpu
    # The H200 of issue 23's GPU run: a cost, not null.
    key = hardware_key({"gpu_name": "NVIDIA H200"}, prices)
    assert training_cost(3600, key, prices)["usd"] == LIST_PRICES["h200-spot"]


def test_a_project_price_overrides_the_shipped_one(project):
    from tunebench.config import load_config

    project.write('[tool.tunebench]\nhome = ".tb"\n\n[tool.tunebench.prices]\nh200 = 4.0\n')
    assert load_config().prices["h200"] == 4.0 and load_config().prices["l4"] == LIST_PRICES["l4"]


def test_the_missing_price_line_names_the_key_to_add_and_where():
    line = missing_price("rtx-pro-6000")
    assert "`rtx-pro-6000 = USD_PER_HOUR`" in line and "[tool.tunebench.prices]" in line


def test_doctor_names_the_price_key_a_recipe_lacks(project, capsys):
    from tunebench.cli import main

    project.write('[tool.tunebench]\nhome = ".tb"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], price="rtx-pro-6000")
    assert main(["doctor", "--recipe", str(recipe)]) == 0  # no price is no cost, not a refusal
    out = capsys.readouterr().out
    assert "no price for 'rtx-pro-6000'" in out and "`rtx-pro-6000 = USD_PER_HOUR`" in out


def test_train_prints_the_key_to_add_instead_of_a_silent_null_cost(project, capsys):
    from tunebench.cli import main

    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], price="rtx-pro-6000", merge=False)
    assert main(["train", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "cost unknown" in out
    assert "no price for 'rtx-pro-6000', so no cost: add `rtx-pro-6000 = USD_PER_HOUR`" in out
