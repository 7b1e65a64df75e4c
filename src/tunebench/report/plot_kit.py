"""How every plot of the log is drawn: the Agg figure, literal text, colours, legend, and PNG bytes from data alone."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeAlias

from tunebench.storage.local import write_atomic

# matplotlib's own objects: matplotlib is not type-checked here (pyproject.toml's third-party list).
Figure: TypeAlias = Any
Axes: TypeAlias = Any

MAX_SERIES = 6  # more bars or lines per group than this stop being readable
MAX_POINTS = 24  # runs or sessions along one axis: the newest ones are drawn, the title says how many


def warn(message: str) -> None:
    """Print a warning on stderr (a plot or record left out)."""
    print(f"tunebench: warning: {message}", file=sys.stderr)


def plain_text() -> AbstractContextManager[Any]:
    """A context in which matplotlib draws every string literally: no `$...$` mathtext."""
    import matplotlib

    context: AbstractContextManager[Any] = matplotlib.rc_context({"text.parse_math": False})
    return context


def save_png(figure: Figure, target: Path) -> None:
    """Write the figure as a PNG whose bytes depend on the drawing alone (no date or software metadata)."""
    import io

    import matplotlib.pyplot as plt

    lay_out(figure)
    buffer = io.BytesIO()
    # No software/date metadata: the same history draws the same bytes.
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    write_atomic(target, buffer.getvalue())


def lay_out(figure: Figure) -> None:
    """Place the figure's parts as saved: widened by the legend beside its axes (the axes keep their width), tight."""
    renderer = figure.canvas.get_renderer()
    extra = [axes.get_legend().get_window_extent(renderer).width for axes in figure.axes if axes.get_legend()]
    if extra:
        figure.set_figwidth(figure.get_figwidth() + max(extra) / figure.dpi + 0.1)
    figure.tight_layout()


def new_figure(width: float = 9.0, height: float = 4.8) -> tuple[Figure, Axes]:
    """Return a new Agg figure and its axes in the log's style."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)  # files only: never open a window, work without a display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height))
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def short_label(domain: str) -> str:
    """Return a domain name as an axis label."""
    return domain.replace("_", " ")


def newest_note(shown: int, total: int) -> str:
    """Return the title's note when only the newest of the points are drawn."""
    return "" if shown == total else f"\nnewest {shown} of {total}"


def series_colours(count: int) -> list[Any]:
    """Return `count` distinct colours."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


def draw_legend(axes: Axes) -> None:
    """Draw the axes' legend, one entry per label, to the right of the axes.

    Outside the axes, never over a bar, a point or their value labels: loc="best" only avoids the data, so
    with bars of even height it covered their labels. `save_png`'s tight_layout makes room for it.
    """
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        axes.legend(
            unique.values(),
            unique.keys(),
            fontsize=8,
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
        )
