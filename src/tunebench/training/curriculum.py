"""Draw each phase's examples by its difficulty mix, deterministically from the seed, and fix their order.

The counts per difficulty are the mix times the phase size, rounded by largest remainder so they add up
to the size exactly. A difficulty with fewer examples than asked is an error, never a silent shortfall.
The order chosen here is the order the model sees: training uses a sequential sampler and no packing.
Per-domain orders (blocks, turns) follow the domains the phase's data declares (`data.declared_domains`),
else the seed's five first, then any other alphabetically (`vocabulary.order_domains`).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence

from tunebench.data import Example, declared_domains
from tunebench.errors import DataError
from tunebench.training.recipe import Phase
from tunebench.vocabulary import DIFFICULTIES, SEED_DOMAINS, order_domains

__all__ = ["difficulty_counts", "sample_phase", "order_phase"]


def difficulty_counts(mix: dict[str, float], size: int) -> dict[str, int]:
    """Return how many examples of each difficulty a phase of `size` takes (largest remainder, exact sum)."""
    exact = {d: mix.get(d, 0.0) * size for d in DIFFICULTIES}
    counts = {d: math.floor(v) for d, v in exact.items()}
    short = size - sum(counts.values())
    # Ties go to the earlier difficulty, so the rounding is the same on every machine.
    by_remainder = sorted(DIFFICULTIES, key=lambda d: (-(exact[d] - counts[d]), DIFFICULTIES.index(d)))
    for difficulty in by_remainder[:short]:
        counts[difficulty] += 1
    return counts


def sample_phase(pool: Sequence[Example], phase: Phase, seed: int) -> list[Example]:
    """Return the phase's examples, drawn by its mix from `pool` with `seed`, in training order."""
    by_difficulty: dict[str, list[Example]] = defaultdict(list)
    for example in pool:
        by_difficulty[example.difficulty].append(example)
    chosen: list[Example] = []
    for difficulty, count in difficulty_counts(phase.mix, phase.size).items():
        available = by_difficulty[difficulty]
        if count > len(available):
            files = ", ".join(str(p) for p in phase.data)
            raise DataError(
                f"phase {phase.name}: the mix asks for {count} {difficulty} examples "
                f"({phase.mix[difficulty]:.0%} of {phase.size}), the data has {len(available)} "
                f"({files}); lower the size or the {difficulty} share, or add data"
            )
        rng = random.Random(f"{seed}:{phase.name}:{difficulty}")
        chosen.extend(rng.sample(available, count))
    rng = random.Random(f"{seed}:{phase.name}:order")
    return order_phase(chosen, phase.kind, rng, declared_domains(phase.data) or SEED_DOMAINS)


def order_phase(
    examples: list[Example], kind: str, rng: random.Random, domains: Sequence[str] = SEED_DOMAINS
) -> list[Example]:
    """Return `examples` in the order the phase kind prescribes; `domains`: the order domains take."""
    level = {d: i for i, d in enumerate(DIFFICULTIES)}
    rank = {d: i for i, d in enumerate(order_domains((e.domain for e in examples), domains))}
    if kind == "domain_blocks":
        # One domain after another, each block from easy to extreme.
        return sorted(examples, key=lambda e: (rank[e.domain], level[e.difficulty]))
    if kind == "mixed":
        # Easy to extreme; within a difficulty, the domains take turns.
        ordered: list[Example] = []
        for difficulty in DIFFICULTIES:
            ordered.extend(_round_robin([e for e in examples if e.difficulty == difficulty], rank))
        return ordered
    if kind in ("stress", "flat"):
        shuffled = list(examples)
        rng.shuffle(shuffled)
        return shuffled
    raise DataError(f"unknown phase kind {kind!r}")


def _round_robin(examples: list[Example], rank: dict[str, int]) -> list[Example]:
    queues: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        queues[example.domain].append(example)
    ordered: list[Example] = []
    domains = sorted(queues, key=rank.__getitem__)
    while any(queues.values()):
        for domain in domains:
            if queues[domain]:
                ordered.append(queues[domain].pop(0))
    return ordered
