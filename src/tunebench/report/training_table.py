"""A training run's phases as one table, the same in `tunebench train`'s summary and `tunebench history show`.

Each quantity as the log writes it (tunebench.units); the untrained base's validation loss, measured once before
the first phase, is the first row where the record has it ("did it fall?").
"""

from __future__ import annotations

from tunebench.efficiency import format_mfu
from tunebench.history.typed import TrainingRecordData, given
from tunebench.table import format_table
from tunebench.units import DASH, format_duration, format_loss, format_tokens_per_s

__all__ = ["PHASE_COLUMNS", "phase_table"]

PHASE_COLUMNS = (
    "phase", "kind", "examples", "steps", "final loss", "mean loss", "val loss", "wall", "tokens/s", "MFU",
)  # fmt: skip


def phase_table(run: TrainingRecordData) -> str:
    """Return the phases' table of a training record, the base's row first where it was measured."""
    rows: list[tuple[object, ...]] = [
        (
            p.name,
            p.kind,
            p.examples,
            p.steps,
            format_loss(p.final_loss),
            format_loss(p.mean_loss),
            format_loss(p.validation_loss),
            format_duration(p.wall_s),
            format_tokens_per_s(p.tokens_per_s),
            format_mfu(given(p.efficiency)),
        )
        for p in run.phases
    ]
    base_loss = given(run.base_validation_loss)
    if base_loss is not None and run.phases:
        rows.insert(0, ("base", f"before {run.phases[0].name}", *[DASH] * 4, format_loss(base_loss), *[DASH] * 3))
    return format_table(PHASE_COLUMNS, rows)
