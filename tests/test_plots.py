"""`render_plots`: PNGs beside the log for what the history holds, never a missing value drawn as zero."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from record_factory import random_eval, training_record

from tunebench.history.importer import parse_log
from tunebench.report import plots
from tunebench.report.history_view import History

SEED = Path(__file__).parent / "data" / "seed_log.md"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def seed_records():
    return parse_log(SEED.read_text(encoding="utf-8")).records


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_full_history_draws_all_five_plots_identically_twice(seed_records, tmp_path):
    records = [
        *seed_records,
        training_record("run-train-1", "tiny-dora"),
        random_eval("run-eval-1", "tiny", 1),
        random_eval("run-eval-2", "tiny-dora", 2, started_at="2026-02-02T00:00:00Z"),
    ]
    first = plots.render_plots(records, tmp_path / "a" / "LOG_plots", relative_to=tmp_path / "a")
    assert list(first.values()) == [f"LOG_plots/{name}" for name in plots.PLOTS]
    for name in plots.PLOTS:
        width, height = _png_size(tmp_path / "a" / "LOG_plots" / name)
        assert width >= 600 and height >= 400
    plots.render_plots(records, tmp_path / "b")
    for name in plots.PLOTS:
        assert (tmp_path / "a" / "LOG_plots" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_imported_only_history_draws_what_it_has_and_removes_stale_plots(seed_records, tmp_path):
    (tmp_path / "loss.png").write_bytes(b"stale")
    written = plots.render_plots(seed_records, tmp_path)
    assert sorted(written.values()) == ["accuracy.png", "cost.png", "latency.png"]
    assert not (tmp_path / "loss.png").exists()


def test_tbd_accuracy_is_left_out_and_approximate_values_are_drawn_as_written(seed_records):
    figure = plots._accuracy(History.of(seed_records))
    axes = figure.axes[0]
    drawn = [float(y) for line in axes.get_lines() for y in line.get_ydata()]
    # Oldest first (the seed's table lists the newest first); wealth-dora-v3-curriculum is TBD: not drawn, never 0.
    assert drawn == [75.0, 80.0]
    assert [t.get_text() for t in axes.texts] == ["~75%", "~80%"]


def test_loss_plot_follows_every_step_of_every_phase_in_order():
    run = training_record("run-train-1", "tiny-dora", steps=5)
    axes = plots._loss(History.of([run])).axes[0]
    steps = [
        (float(x), float(y))
        for line in axes.get_lines()
        if line.get_label() != "_nolegend_"
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
        if line.get_linestyle() == "-"
    ]
    expected = [loss for phase in run["phases"] for loss in phase["losses"]]
    assert [y for _, y in steps] == pytest.approx(expected)
    assert [x for x, _ in steps] == list(range(1, 16))
    assert [t.get_text().strip() for t in axes.texts] == ["phase A", "phase B", "phase C"]


def test_cost_plot_marks_approximate_costs_and_totals_them(seed_records):
    measured = training_record("run-train-1", "tiny-dora", usd=0.5)
    axes = plots._cost(History.of([*seed_records, measured])).axes[0]
    assert [round(p.get_height(), 2) for p in axes.patches] == [0.28, 0.30, 0.25, 1.75, 0.5]
    assert [p.get_hatch() for p in axes.patches] == ["//"] * 4 + [None]
    assert "total ~$3.08" in axes.get_title()
    assert axes.get_xticklabels()[-1].get_text() == "Session 6\n(tiny-dora)"


def _tampered(run_id: str) -> dict:
    """An eval record whose accuracy value was changed (0.35 for 25/100): above its own interval."""
    record = random_eval(run_id, "flipped", 9)
    accuracy = record["aggregates"]["accuracy"]
    accuracy["value"] = round(accuracy["high"] + 0.1, 6)
    return record


def test_a_record_whose_numbers_disagree_is_skipped_with_a_warning_and_the_rest_is_drawn(tmp_path, capsys):
    records = [random_eval("run-good-0001", "tiny", 1), _tampered("run-flip-0001")]
    written = plots.render_plots(records, tmp_path)
    assert "accuracy.png" in written.values() and (tmp_path / "accuracy.png").is_file()
    err = capsys.readouterr().err
    assert "tunebench: warning: skipped in the plots: record run-flip-0001: key aggregates.accuracy.value" in err


@pytest.mark.parametrize("name", ["evil $\\undefinedcommand$", "$$"])  # both crashed savefig as mathtext
def test_model_names_with_mathtext_are_drawn_literally(tmp_path, capsys, name):
    records = [random_eval("run-math-0001", name, 1), training_record("run-train-1", name)]
    written = plots.render_plots(records, tmp_path)
    assert {"accuracy.png", "domain_accuracy.png", "loss.png"} <= set(written.values())
    assert "not drawn" not in capsys.readouterr().err


def _labels(figure) -> list[str]:
    return [t.get_text() for t in figure.axes[0].get_xticklabels()]


def test_accuracy_labels_are_unique_and_subsets_and_incomplete_runs_are_not_drawn():
    same_day = "2026-02-01T10:00:00Z"
    records = [random_eval("run-aaaa1111", "tiny", 1, started_at=same_day), random_eval("run-bbbb2222", "tiny", 2)]
    subset = random_eval("run-subset00", "tiny", 3, started_at="2026-02-03T10:00:00Z")
    subset["status"], subset["selection"] = "subset", {"selected": 100, "total": 110}
    crashed = random_eval("run-crash000", "tiny", 4, started_at="2026-02-04T10:00:00Z")
    crashed["status"] = "crashed"
    labels = _labels(plots._accuracy(History.of([*records, subset, crashed])))
    assert labels == ["tiny\n2026-02-01 run-aaaa", "tiny\n2026-02-01 run-bbbb"]


def test_imported_rows_sit_at_their_models_session_dates_among_measured_runs(seed_records):
    from test_importer import _seed_registry

    from tunebench.history.aliases import ModelLinker, link_records

    records = [dict(r) for r in seed_records]
    link_records(records, ModelLinker(_seed_registry()))
    measured = random_eval("run-between0", "tiny", 1, started_at="2026-01-16T12:00:00Z")
    labels = _labels(plots._accuracy(History.of([*records, measured])))
    # lora-vm1 trained 2026-01-15, dora-v2 2026-01-17: the measured run of 2026-01-16 goes between them.
    assert labels == [
        "wealth-lora-vm1\n2026-01-15 (imported)",
        "tiny\n2026-01-16 run-betw",
        "wealth-dora-v2\n2026-01-17 (imported)",
    ]


def test_loss_plot_says_newest_n_of_m_when_it_clips():
    runs = [
        training_record(f"run-train-{i}", f"tiny-dora-{i}", steps=3, started_at=f"2026-02-0{i + 1}T00:00:00Z")
        for i in range(6)
    ]
    title = plots._loss(History.of(runs)).axes[0].get_title()
    assert title.endswith("newest 4 of 6")
    assert "newest" not in plots._loss(History.of(runs[:3])).axes[0].get_title()


def test_latency_plot_names_the_hardware_of_each_series(seed_records):
    run = random_eval("run-latency0", "tiny", 1)
    run["model"]["device"] = "cpu"
    run["provenance"] = {**run["provenance"], "hardware": {"cpu_count": 2, "gpus": []}}
    legend = [t.get_text() for t in plots._latency(History.of([*seed_records, run])).axes[0].get_legend().get_texts()]
    assert "tiny (2026-02-01, cpu, 2 CPUs)" in legend
    assert any(text.startswith("Session 5 (imported, H100") for text in legend)
    ticks = [t.get_text() for t in plots._latency(History.of([*seed_records, run])).axes[0].get_yticklabels()]
    assert "10" in ticks and not any("$" in tick for tick in ticks)  # log axis: plain numbers, not raw mathtext


def _overlaps(figure, drawn, texts) -> list[str]:
    """The texts whose box (in the figure laid out as it is saved) overlaps `drawn`'s box."""
    from tunebench.report.plot_kit import lay_out

    lay_out(figure)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    box = drawn.get_window_extent(renderer)
    return [t.get_text() for t in texts if t.get_text() and box.overlaps(t.get_window_extent(renderer))]


def test_latency_legend_never_covers_a_bar_label_or_a_bar():
    # Two runs whose probes took about as long in every domain: no corner of the axes is free, and matplotlib's
    # loc="best" (which avoids the bars, not their labels) put the legend over the "2.1s" labels.
    runs = []
    for i in range(2):
        run = random_eval(f"run-flat-{i}", f"tiny-dora-curriculum-v{i}", i, started_at=f"2026-12-0{i + 1}T00:00:00Z")
        for figures in run["aggregates"]["latency_by_domain_s"].values():
            figures["p50"] = 2.0 + 0.1 * i
        runs.append(run)
    with plots.plain_text():
        figure = plots._latency(History.of(runs))
        axes = figure.axes[0]
        legend = axes.get_legend()
        assert len(legend.get_texts()) == 2 and len(axes.texts) == 10
        assert _overlaps(figure, legend, axes.texts) == []  # bar_label's texts
        renderer = figure.canvas.get_renderer()
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(bar.get_window_extent(renderer)) for bar in axes.patches)
        # and the legend is inside the saved figure, not cut off at its edge
        assert figure.bbox.contains(box.x0, box.y0) and figure.bbox.contains(box.x1, box.y1)


@pytest.mark.parametrize("name", ["accuracy.png", "domain_accuracy.png", "loss.png"])
def test_every_legend_stays_clear_of_the_data_labels(seed_records, name):
    records = [
        *seed_records,
        *(training_record(f"run-train-{i}", f"tiny-dora-{i}") for i in range(3)),
        *(random_eval(f"run-eval-{i}", f"model-{i}", i, started_at=f"2026-02-0{i + 1}T00:00:00Z") for i in range(6)),
    ]
    drawer = {"accuracy.png": plots._accuracy, "domain_accuracy.png": plots._domain_accuracy, "loss.png": plots._loss}
    with plots.plain_text():
        figure = drawer[name](History.of(records))
        axes = figure.axes[0]
        assert _overlaps(figure, axes.get_legend(), axes.texts) == []
