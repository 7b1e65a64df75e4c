"""A team's own domains train end to end: tiny learns from crypto/defi examples that declare their domains."""

from __future__ import annotations

import json

from training_support import make_project, phase, write_recipe

from tunebench.training.run import train

DECLARED = ["defi", "crypto"]


def _rows(prefix: str, topic: str) -> str:
    return "".join(
        json.dumps(
            {
                "id": f"{prefix}-{domain}-{level}",
                "domain": domain,
                "difficulty": level,
                "prompt": f"Question ({domain}, {level}): what is a {topic}?\nAnswer:",
                "completion": f" A {topic} explained for {domain}.",
            }
        )
        + "\n"
        for domain in ("crypto", "defi")
        for level in ("easy", "hard")
    )


def test_a_crypto_data_set_trains_in_the_order_its_suite_toml_declares(tmp_path):
    (tmp_path / "suite.toml").write_text(f"domains = {json.dumps(DECLARED)}\n", encoding="utf-8")
    (tmp_path / "train.jsonl").write_text(_rows("t", "stablecoin"), encoding="utf-8")
    (tmp_path / "held_out.jsonl").write_text(_rows("v", "liquidity pool"), encoding="utf-8")
    recipe = write_recipe(
        tmp_path / "r.toml",
        [phase("A", "domain_blocks", 4, {"easy": 0.5, "hard": 0.5}, data=tmp_path / "train.jsonl")],
        validation=[str(tmp_path / "held_out.jsonl")],
        batch_size=4,
        output="tiny-crypto",
    )
    record = train(recipe, config=make_project(tmp_path / "p"), callbacks=[])
    seen = (tmp_path / "p").glob("**/phases/A/examples.jsonl")
    order = [json.loads(line) for line in next(seen).read_text(encoding="utf-8").splitlines()]
    assert [(e["domain"], e["difficulty"]) for e in order] == [
        ("defi", "easy"),
        ("defi", "hard"),
        ("crypto", "easy"),
        ("crypto", "hard"),
    ]
    assert record.phases[0]["steps"] == 1 and record.phases[0]["validation_loss"] is not None
