"""The curriculum sampler: exact difficulty counts, deterministic from the seed, ordered by phase kind."""

from __future__ import annotations

import random

import pytest
from training_support import TRAIN_DATA

from tunebench.data import load_examples
from tunebench.errors import DataError
from tunebench.training.curriculum import difficulty_counts, order_phase, sample_phase
from tunebench.training.recipe import Phase
from tunebench.vocabulary import SEED_DOMAINS as DOMAINS

POOL = load_examples(TRAIN_DATA)  # 80 examples: 4 per domain and difficulty
SEED_MIXES = {
    "A": {"easy": 0.35, "medium": 0.35, "hard": 0.25, "extreme": 0.05},
    "B": {"easy": 0.20, "medium": 0.40, "hard": 0.30, "extreme": 0.10},
    "C": {"easy": 0.10, "medium": 0.25, "hard": 0.35, "extreme": 0.30},
}


def _phase(kind="mixed", size=20, mix=None, name="A") -> Phase:
    return Phase(name=name, kind=kind, data=(TRAIN_DATA,), size=size, mix=mix or SEED_MIXES["A"])


@pytest.mark.parametrize(
    ("mix", "size", "expected"),
    [
        (SEED_MIXES["A"], 389, {"easy": 136, "medium": 136, "hard": 97, "extreme": 20}),
        (SEED_MIXES["B"], 4809, {"easy": 962, "medium": 1923, "hard": 1443, "extreme": 481}),
        (SEED_MIXES["C"], 2000, {"easy": 200, "medium": 500, "hard": 700, "extreme": 600}),
        (SEED_MIXES["A"], 20, {"easy": 7, "medium": 7, "hard": 5, "extreme": 1}),
    ],
)
def test_difficulty_counts_follow_the_mix_and_sum_exactly_to_the_size(mix, size, expected):
    counts = difficulty_counts(mix, size)
    assert counts == expected and sum(counts.values()) == size


def test_sampled_phase_has_exactly_the_mixed_counts_and_no_repeats():
    chosen = sample_phase(POOL, _phase(size=20), seed=1)
    assert {d: sum(e.difficulty == d for e in chosen) for d in SEED_MIXES["A"]} == difficulty_counts(
        SEED_MIXES["A"], 20
    )
    assert len({e.id for e in chosen}) == 20


def test_same_seed_gives_the_same_examples_in_the_same_order_and_another_seed_does_not():
    first = [e.id for e in sample_phase(POOL, _phase(kind="stress"), seed=5)]
    assert first == [e.id for e in sample_phase(list(reversed(POOL))[::-1], _phase(kind="stress"), seed=5)]
    assert first != [e.id for e in sample_phase(POOL, _phase(kind="stress"), seed=6)]


def test_asking_for_more_of_a_difficulty_than_exists_is_an_error_not_a_shortfall():
    greedy = _phase(size=40, mix={"easy": 0.0, "medium": 0.0, "hard": 0.0, "extreme": 1.0}, name="C")
    with pytest.raises(
        DataError,
        match=r"phase C: the mix asks for 40 extreme examples \(100% of 40\), the data "
        r"has 20 \(.*finance_train\.jsonl\)",
    ):
        sample_phase(POOL, greedy, seed=0)


def test_domain_blocks_run_one_domain_after_another_easy_first():
    chosen = sample_phase(POOL, _phase(kind="domain_blocks", size=40, mix=SEED_MIXES["B"]), seed=2)
    domains = [e.domain for e in chosen]
    blocks = [d for i, d in enumerate(domains) if i == 0 or domains[i - 1] != d]
    assert blocks == [d for d in DOMAINS if d in domains]  # each domain is one contiguous block, in order
    for domain in blocks:
        levels = [("easy", "medium", "hard", "extreme").index(e.difficulty) for e in chosen if e.domain == domain]
        assert levels == sorted(levels)


def test_mixed_phase_goes_easy_to_extreme_with_domains_taking_turns():
    chosen = sample_phase(POOL, _phase(kind="mixed", size=40, mix=SEED_MIXES["B"]), seed=3)
    levels = [("easy", "medium", "hard", "extreme").index(e.difficulty) for e in chosen]
    assert levels == sorted(levels)
    easy = [e.domain for e in chosen if e.difficulty == "easy"]
    turn = len(set(easy))
    assert turn > 1 and len(set(easy[:turn])) == turn  # the first round visits every domain once


def test_stress_phase_is_a_seeded_shuffle_not_sorted():
    examples = sample_phase(POOL, _phase(kind="stress", size=20, mix=SEED_MIXES["C"]), seed=4)
    levels = [e.difficulty for e in examples]
    assert levels != sorted(levels, key=("easy", "medium", "hard", "extreme").index)
    again = order_phase(sorted(examples, key=lambda e: e.id), "stress", random.Random("4:A:order"))
    assert [e.id for e in again] == [
        e.id for e in order_phase(sorted(examples, key=lambda e: e.id), "stress", random.Random("4:A:order"))
    ]


def _crypto_pool(folder, declared=None):
    """Four examples per difficulty in each of crypto, defi and payments, written beside an optional suite.toml."""
    import json

    if declared:
        (folder / "suite.toml").write_text(f"domains = {json.dumps(declared)}\n", encoding="utf-8")
    rows = [
        {"id": f"{d}-{level}-{i}", "domain": d, "difficulty": level, "prompt": f"{d} {level} {i}?", "completion": "!"}
        for d in ("crypto", "defi", "payments")
        for level in ("easy", "medium", "hard", "extreme")
        for i in range(4)
    ]
    path = folder / "crypto.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return load_examples(path), path


def _blocks(examples):
    return [e.domain for i, e in enumerate(examples) if i == 0 or examples[i - 1].domain != e.domain]


def test_domain_blocks_follow_the_domains_the_data_declares(tmp_path):
    pool, path = _crypto_pool(tmp_path, declared=["payments", "defi", "crypto"])
    blocks = Phase(name="A", kind="domain_blocks", data=(path,), size=24, mix=SEED_MIXES["A"])
    assert _blocks(sample_phase(pool, blocks, seed=3)) == ["payments", "defi", "crypto"]
    mixed = sample_phase(pool, Phase(name="B", kind="mixed", data=(path,), size=24, mix=SEED_MIXES["B"]), seed=3)
    assert [e.domain for e in mixed if e.difficulty == "medium"][:3] == ["payments", "defi", "crypto"]


def test_undeclared_domains_take_turns_alphabetically_after_the_seed_five(tmp_path):
    pool, path = _crypto_pool(tmp_path)
    chosen = sample_phase(
        pool + POOL,
        Phase(name="A", kind="domain_blocks", data=(path, TRAIN_DATA), size=60, mix=SEED_MIXES["A"]),
        seed=3,
    )
    assert _blocks(chosen) == [*DOMAINS, "crypto", "defi", "payments"]
