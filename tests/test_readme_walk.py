"""A new user's walk through the README on a fresh clone (issue 26): what a command did that the README does not say."""

from __future__ import annotations

import pytest
from training_support import phase, write_recipe

from tunebench.cli import main


def test_train_refuses_a_history_that_is_a_file_before_any_phase_trains(project, capsys):
    # `tunebench train RECIPE --history FILE` trained every phase, saved the adapter, and only then said
    # "history FILE: is a file", leaving an unregistered output folder that took the next version name.
    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], merge=False)
    taken = project.root / "not-a-history"
    taken.write_text("a file\n", encoding="utf-8")
    assert main(["train", str(recipe), "--history", str(taken)]) == 2
    captured = capsys.readouterr()
    assert f"history {taken}: is a file" in captured.err, captured
    assert "phase" not in captured.out, captured.out  # no table: nothing trained
    models = project.root / ".tb" / "models"
    assert not models.exists() or not any(models.iterdir()), list(models.iterdir())
    assert taken.read_text(encoding="utf-8") == "a file\n"


@pytest.mark.parametrize("where", ["--history", "config"])
def test_train_refuses_a_history_of_an_unknown_scheme_before_any_phase_trains(project, capsys, where):
    # `--history s3://bucket/history` (or history = "s3://..." in the config) trained, then wrote the record into a
    # local folder named 's3:': only gs:// was taken as a URI, anything else as a path.
    history = "s3://bucket/history"
    config = '[tool.tunebench]\nhome = ".tb"\n' + (f'history = "{history}"\n' if where == "config" else "")
    project.write(config)
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], merge=False)
    assert main(["train", str(recipe), *(["--history", history] if where == "--history" else [])]) == 2
    captured = capsys.readouterr()
    assert f"history {history}: unknown scheme s3://" in captured.err, captured
    assert "phase" not in captured.out and not (project.root / "s3:").exists()
    models = project.root / ".tb" / "models"
    assert not models.exists() or not any(models.iterdir()), list(models.iterdir())


def test_top_level_help_names_every_history_subcommand(capsys):
    # "history  import, list, show, compare and annotate history records": `history seal` was not named.
    with pytest.raises(SystemExit):
        main(["--help"])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("history "))
    with pytest.raises(SystemExit):
        main(["history", "--help"])
    listed = capsys.readouterr().out
    for verb in ("import", "list", "show", "compare", "seal", "note"):
        assert f"    {verb}" in listed, listed
    for word in ("import", "list", "show", "compare", "seal", "annotate"):
        assert word in line, line


def test_train_with_mlflow_tracking_prints_no_mlflow_info_line(project, capfd):
    # README's `--set 'report_to=["tensorboard","mlflow"]'` printed, above the phase table:
    # "2026/12/05 00:58:46 INFO mlflow.tracking.fluent: Experiment with name 'tunebench' does not exist. ..."
    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], merge=False)
    assert main(["train", str(recipe), "--set", 'report_to=["mlflow"]']) == 0
    captured = capfd.readouterr()
    assert "tracked in mlflow" in captured.out, captured.out
    assert "INFO mlflow" not in captured.out + captured.err, captured
    assert "does not exist. Creating" not in captured.out + captured.err, captured


def test_the_gpu_bench_s_tiny_run_raises_no_library_deprecation_warning(tmp_path):
    # `python benchmarks/gpu/acceptance.py --dry-run`'s bench stage printed transformers' "FutureWarning:
    # `is_gradient_checkpointing` is deprecated ..." (peft's get_peft_model reading the renamed property).
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "run_gpu_bench.py"
    command = [
        sys.executable,
        "-W",
        "default",
        str(script),
        "--tiny",
        "--limit",
        "3",
        "--output",
        str(tmp_path / "r.md"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "is deprecated" not in done.stdout + done.stderr, done.stderr[-2000:]
