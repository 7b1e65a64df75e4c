"""`tunebench train` in the team's habits: experiment trackers, --set overrides, reruns, the session record.

The trackers are read back with their own libraries (TensorBoard's EventAccumulator, the MLflow client over
the local file store); one three-phase run on `tiny` (two steps a phase) is shared by the tracker tests.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from training_support import make_project, phase, write_recipe
from transformers import TrainerCallback

from tunebench.errors import RecipeError
from tunebench.history.store import open_store
from tunebench.registry import Registry
from tunebench.training.recipe import load_recipe
from tunebench.training.record import vm_name
from tunebench.training.run import train
from tunebench.units import format_bytes

TRACKERS = 'report_to=["tensorboard","mlflow"]'


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracked")
    config = make_project(folder / "project")
    recipe = write_recipe(
        folder / "r.toml",
        [phase("A", "domain_blocks", 4), phase("B", "mixed", 4), phase("C", "stress", 4)],
        output="tiny-tracked",
    )
    return train(recipe, config=config, overrides=[TRACKERS, "learning_rate=5e-3"]), config


def test_tensorboard_event_files_hold_every_step_loss_of_every_phase(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record, _ = tracked
    folder = record.data["tracking"]["tensorboard_dir"]
    for p in record.phases:
        events = EventAccumulator(f"{folder}/{p['name']}")
        events.Reload()
        losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
        assert [s for s, _ in losses] == list(range(1, p["steps"] + 1))
        assert [v for _, v in losses] == pytest.approx(p["losses"], rel=1e-6)
        # The first phase's run also holds the untrained base's validation loss, at step 0 (issue 26).
        before = [record.data["base_validation_loss"]] if p["name"] == record.phases[0]["name"] else []
        evaluated = [(e.step, e.value) for e in events.Scalars("eval/loss")]
        assert [v for _, v in evaluated] == pytest.approx([*before, p["validation_loss"]], rel=1e-6)
        assert [s for s, _ in evaluated] == [0] * len(before) + [p["steps"]]


def test_mlflow_has_a_run_tagged_with_the_run_id_and_a_nested_run_per_phase_with_its_step_losses(tracked, monkeypatch):
    import mlflow

    record, _ = tracked
    tracking = record.data["tracking"]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking["mlflow_uri"])
    experiment = client.get_experiment_by_name("tunebench")
    runs = client.search_runs([experiment.experiment_id], f"tags.`tunebench.run_id` = '{record.run_id}'")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.run_id == tracking["mlflow_run_id"] and parent.info.run_name == "tiny-tracked"
    assert parent.info.status == "FINISHED"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert sorted(children) == ["A", "B", "C"]
    for p in record.phases:
        child = children[p["name"]]
        assert child.data.tags["tunebench.phase"] == p["name"] and child.info.status == "FINISHED"
        history = client.get_metric_history(child.info.run_id, "loss")
        assert [(m.step, m.value) for m in history] == [
            (step, pytest.approx(loss, rel=1e-6)) for step, loss in enumerate(p["losses"], start=1)
        ]
        assert child.data.metrics["eval_loss"] == pytest.approx(p["validation_loss"], rel=1e-6)
        assert child.data.params["learning_rate"] == "0.005"  # the --set override reached the trainer


def test_the_overrides_and_the_effective_recipe_are_recorded(tracked):
    record, _ = tracked
    assert record.data["recipe"]["overrides"] == [TRACKERS, "learning_rate=5e-3"]
    assert record.data["recipe"]["effective"]["learning_rate"] == 0.005
    assert record.data["recipe"]["effective"]["report_to"] == ["tensorboard", "mlflow"]
    assert record.data["hyperparameters"]["learning_rate"] == 0.005


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("learning_rate=fast", r"\(--set learning_rate=fast\): key learning_rate: expected a number, found 'fast'"),
        ("phases.B.size=0", r"\(--set phases.B.size=0\): key phases\[1\].size: expected > 0, found 0"),
        ("phases.Z.size=3", r"key phases.Z.size: expected a phase name or index, found 'Z' \(phases: A, B\)"),
        ("ranks=8", r"\(--set ranks=8\): unknown key ranks: expected one of .*rank,"),
        ('report_to=["neptune"]', r"key report_to: expected a list of trackers \(tensorboard, mlflow, wandb\)"),
        ("rank", r"\(--set rank\): expected key=value"),
    ],
)
def test_a_bad_override_is_refused_like_the_same_key_in_the_file(tmp_path, override, message):
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 2), phase("B", "stress", 2)])
    with pytest.raises(RecipeError, match=message):
        load_recipe(recipe, [override])
    overridden = load_recipe(recipe, ["phases.B.size=3", "rank=8", "model=tiny", "report_to=[tensorboard,mlflow]"])
    assert [p.size for p in overridden.phases] == [2, 3] and overridden.rank == 8
    assert overridden.report_to == ("tensorboard", "mlflow")  # as the shell leaves report_to=["tensorboard",...]
    assert overridden.sha256 != load_recipe(recipe).sha256  # --resume of another override set is refused


def test_new_version_then_overwrite_archives_and_never_loses_the_old_adapter(tmp_path):
    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 2)], output="tiny-again")
    first = train(recipe, config=config)
    with pytest.raises(
        RecipeError, match=r"already holds a completed run .*--new-version .*'tiny-again-v2'.*--overwrite"
    ):
        train(recipe, config=config)
    second = train(recipe, config=config, new_version=True)
    assert second.model_name == "tiny-again-v2" and "tiny-again-v2" in Registry(config)
    assert train(recipe, config=config, new_version=True).model_name == "tiny-again-v3"

    old_adapter = (
        tmp_path / "p" / ".tb" / "models" / "tiny-again" / "adapter" / "adapter_model.safetensors"
    ).read_bytes()
    third = train(recipe, config=config, overwrite=True)
    archive = third.data["output"]["archived_previous"]
    assert third.model_name == "tiny-again" and archive
    assert (Path(archive) / "output" / "adapter" / "adapter_model.safetensors").read_bytes() == old_adapter
    archived_entry = json.loads((Path(archive) / "registry" / "tiny-again.json").read_text())
    assert archived_entry["adapter"] == f"{archive}/output/adapter"
    assert Registry(config).get("tiny-again").adapter == third.data["output"]["adapter"]
    runs = {r["run_id"] for r in open_store(config.history_uri).read_all().of_kind("training")}
    assert {first.run_id, second.run_id, third.run_id} <= runs  # the history keeps every run


def test_vm_name_prefers_tunebench_vm_then_the_metadata_server_then_the_hostname(monkeypatch):
    import platform

    class Metadata(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = b"tb-train-h100-1" if self.headers.get("Metadata-Flavor") == "Google" else b""
            self.send_response(200 if name else 403)
            self.end_headers()
            self.wfile.write(name)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("TUNEBENCH_VM", raising=False)
        monkeypatch.setenv("TUNEBENCH_GCE_METADATA", f"http://127.0.0.1:{server.server_port}/instance/name")
        assert vm_name() == "tb-train-h100-1"
        monkeypatch.setenv("TUNEBENCH_VM", "my-vm")
        assert vm_name() == "my-vm"
    finally:
        server.shutdown()
    monkeypatch.delenv("TUNEBENCH_VM")
    monkeypatch.setenv("TUNEBENCH_GCE_METADATA", f"http://127.0.0.1:{server.server_port}/gone")
    assert vm_name() == platform.node()  # not answering: the hostname
    monkeypatch.setenv("TUNEBENCH_GCE_METADATA", "")
    assert vm_name() == platform.node()  # lookup off


def test_the_record_holds_the_vm_data_file_counts_and_the_adapter_size_on_disk(tracked):
    record, _ = tracked
    data = record.data
    assert data["hardware"]["vm"] == vm_name()
    counts = data["data"]["file_examples"]
    assert set(counts) == set(data["data"]["files"]) | set(data["data"]["validation"]["files"])
    for path, count in counts.items():
        assert count == sum(1 for line in open(path, encoding="utf-8") if line.strip())
    sizes = sum(p.stat().st_size for p in Path(data["output"]["adapter"]).rglob("*") if p.is_file())
    assert data["output"]["adapter_bytes"] == sizes > 0


class InjectOOM(TrainerCallback):
    """Raise torch's real OutOfMemoryError from the forward pass above batch `limit` (a CPU never raises it)."""

    def __init__(self, limit: int):
        self.limit = limit

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        def hook(module, positional, keywords):
            if module.training and keywords["input_ids"].shape[0] > self.limit:
                raise torch.OutOfMemoryError("CUDA out of memory (injected)")

        model.register_forward_pre_hook(hook, with_kwargs=True)


def test_the_rendered_session_shows_vm_data_files_adapter_size_and_the_difficulties_of_an_oom_run(
    tmp_path, monkeypatch
):
    from tunebench.errors import PreflightError
    from tunebench.report.markdown import render_log

    monkeypatch.setenv("TUNEBENCH_VM", "tb-train-l4-2")
    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], batch_size=4, output="tiny-oom")
    with pytest.raises(PreflightError):
        train(recipe, config=config, free_disk_bytes=4096)
    record = train(recipe, config=config, callbacks=[InjectOOM(limit=2)])
    session = render_log([record.data]).split("### Session 1:")[1].split("\n---\n")[0]

    assert "| **VM** | tb-train-l4-2 |" in session
    assert f"| **Adapter Size** | {format_bytes(record.data['output']['adapter_bytes'])} |" in session
    assert "| `finance_train.jsonl` | 80 |" in session and "| `finance_validation.jsonl` | 20 |" in session
    difficulties = session.split("**Difficulties Encountered:**")[1].split("\n\n")[0]
    assert "- out of memory in phase A at step 0: batch 4 x 1 -> 2 x 2, phase restarted" in difficulties
    assert "- preflight refused the run (" in difficulties and "disk: need" in difficulties


def _contaminated_suite(tmp_path):
    """A suite (`<tmp>/leaky/questions.jsonl`) whose one question is the first training example's prompt."""
    from training_support import TRAIN_DATA

    from tunebench.data import load_examples

    first = load_examples(TRAIN_DATA)[0]
    suite = tmp_path / "leaky" / "questions.jsonl"
    suite.parent.mkdir()
    suite.write_text(json.dumps({"id": "leak-1", "question": first.prompt_text}) + "\n", encoding="utf-8")
    return suite, first.id


def test_allow_contamination_trains_records_the_overlap_and_every_evaluation_is_marked(tmp_path, capsys):
    from record_factory import random_eval

    from tunebench.contamination import describe, eval_mark, label
    from tunebench.errors import DataError
    from tunebench.report.markdown import render_log
    from tunebench.storage.checksums import file_sha256

    config = make_project(tmp_path / "p")
    suite, example_id = _contaminated_suite(tmp_path)
    recipe = write_recipe(
        tmp_path / "r.toml", [phase("A", "mixed", 2)], output="tiny-leaky", contamination_suites=[str(suite)]
    )
    with pytest.raises(DataError, match=r"(?s)overlap the evaluation suites.*pass --allow-contamination"):
        train(recipe, config=config)
    record = train(recipe, config=config, allow_contamination=True)

    check = record.data["data"]["contamination"]
    assert check["status"] == "overlapping" and check["allowed"] is True and check["overlapping_examples"] == 1
    assert check["overlaps"][0] == {"example": example_id, "suite_item": "leak-1", "suite": "leaky", "how": "exact"}
    assert "OVERLAP" in describe(check)
    assert [d["kind"] for d in record.data["difficulties"]] == ["contamination"]

    evaluated = [{"name": "leaky", "file": str(suite), "sha256": file_sha256(suite)}]
    mark = eval_mark(record.data["output"]["adapter"], evaluated)
    assert mark["status"] == "overlapping" and label(mark) == "trained on data overlapping leaky"
    # The shipped benchmark was never checked (the recipe narrowed the suites): unchecked, not clean.
    benchmark = Path(__file__).resolve().parents[1] / "eval_suites" / "benchmark_100" / "questions.jsonl"
    other = [{"name": "benchmark_100", "file": str(benchmark), "sha256": file_sha256(benchmark)}]
    assert label(eval_mark(record.data["output"]["adapter"], other)) == (
        "training data not checked against benchmark_100"
    )

    evaluation = random_eval("ev1", "tiny-leaky", seed=1)
    evaluation["model"]["training_data"] = mark
    log = render_log([record.data, evaluation])
    row = next(line for line in log.split("## Benchmark Evaluation Results")[1].splitlines() if "`ev1`" in line)
    assert "⚠️ trained on data overlapping leaky" in row
    assert "| **Contamination Check** | 1 training example(s) OVERLAP the suites (leaky)" in log

    from tunebench.cli import main

    capsys.readouterr()
    assert main(["history", "show", record.run_id, "--history", str(config.history_uri)]) == 0
    shown = capsys.readouterr().out
    assert "contamination check: 1 training example(s) OVERLAP the suites (leaky)" in shown
    assert "difficulty: 1 training example(s) overlap the evaluation suites" in shown


def test_the_summary_line_marks_a_model_trained_on_overlapping_or_unchecked_data():
    from record_factory import random_eval

    from tunebench_pytest.finish import RunOutcome
    from tunebench_pytest.summary import one_line

    record = random_eval("ev2", "tiny-leaky", seed=2)
    assert "WARNING" not in one_line(RunOutcome(record))
    record["model"]["training_data"] = {"status": "unchecked", "unchecked_suites": ["benchmark_100"]}
    assert "WARNING training data not checked against benchmark_100" in one_line(RunOutcome(record))
    record["model"]["training_data"] = {"status": "overlapping", "overlapping_suites": ["benchmark_100"]}
    assert "WARNING trained on data overlapping benchmark_100" in one_line(RunOutcome(record))
    record["model"]["training_data"] = {"status": "clean"}
    assert "WARNING" not in one_line(RunOutcome(record))


def test_the_price_is_a_recipe_key_and_defaults_to_the_spot_price_the_table_lists(tmp_path):
    from tunebench.training.cost import hardware_key

    prices = {"h100": 9.80, "h100-spot": 2.50, "l4": 0.71, "cpu": 0.10}
    h100 = {"gpu_name": "NVIDIA H100 80GB HBM3"}
    assert hardware_key(h100, prices) == "h100-spot"  # preemptible training pays the spot price when listed
    assert hardware_key({"gpu_name": "NVIDIA L4"}, prices) == "l4"  # no spot entry: on-demand
    assert hardware_key(h100, prices, "h100") == "h100"  # the recipe's `price` wins
    assert hardware_key({"gpu_name": None}, prices) == "cpu"

    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 2)], output="tiny-priced", price="cpu")
    cost = train(recipe, config=config).data["cost"]
    assert cost["hardware"] == "cpu" and cost["price_from"] == "recipe" and cost["usd_per_hour"] == 0.10
    assert load_recipe(recipe, ["price=h100-spot"]).price == "h100-spot"


def test_the_html_report_of_a_model_trained_on_overlapping_data_says_so_in_its_header():
    from report_support import shipped_record

    from tunebench.report.html import render_report

    record = shipped_record("r-leaky", model="tiny-leaky")
    assert "trained on data overlapping" not in render_report(record)
    record["model"]["training_data"] = {
        "run_id": "t1",
        "status": "overlapping",
        "overlapping_suites": ["benchmark_100"],
    }
    html = render_report(record)
    assert "WARNING" in html and "trained on data overlapping benchmark_100 (training run t1)" in html


class StopInPhase(TrainerCallback):
    """Stop phase `name` after its first step with a checkpoint, as a SIGTERM does (PreemptionCallback's way)."""

    def __init__(self, name: str):
        self.name, self.armed, self.current = name, True, ""

    def on_train_begin(self, args, state, control, **kwargs):
        self.current = args.run_name.rsplit("-", 1)[-1]

    def on_step_end(self, args, state, control, **kwargs):
        if self.armed and self.current == self.name:
            self.armed = False
            control.should_save = True
            control.should_training_stop = True
        return control


def test_a_preempted_then_resumed_run_keeps_one_mlflow_parent_run_and_continues_the_phase_steps(tmp_path, monkeypatch):
    import mlflow

    from tunebench.errors import TrainingPreempted

    config = make_project(tmp_path / "p")
    recipe = write_recipe(
        tmp_path / "r.toml",
        [phase("A", "mixed", 2), phase("B", "stress", 6)],
        output="tiny-resumed",
        save_steps=1,
        report_to=["mlflow"],
    )
    with pytest.raises(TrainingPreempted):
        train(recipe, config=config, callbacks=[StopInPhase("B")])
    record = train(recipe, config=config, resume=True)

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(record.data["tracking"]["mlflow_uri"])
    runs = client.search_runs([client.get_experiment_by_name("tunebench").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [record.data["tracking"]["mlflow_run_id"]]
    assert parents[0].info.status == "FINISHED"
    b_runs = sorted((r for r in runs if r.info.run_name == "B"), key=lambda r: r.info.start_time)
    assert [r.info.status for r in b_runs] == ["KILLED", "FINISHED"]
    steps = [[m.step for m in client.get_metric_history(r.info.run_id, "loss")] for r in b_runs]
    assert steps == [[1], [2, 3]]  # the resumed attempt continues from the checkpoint at step 1


def test_tunebench_train_prints_the_contamination_check_and_refuses_a_bad_set_without_a_traceback(
    tmp_path, monkeypatch, capsys
):
    from tunebench.cli import main

    make_project(tmp_path / "p")
    monkeypatch.chdir(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 2)], output="tiny-cli")
    assert main(["train", str(recipe), "--set", "phases.A.size=zero"]) == 2
    err = capsys.readouterr().err
    assert "(--set phases.A.size=zero): key phases[0].size: expected an integer, found 'zero'" in err
    assert "Traceback" not in err
    assert main(["train", str(recipe), "--set", "report_to=[tensorboard]"]) == 0
    out = capsys.readouterr().out
    # Run from a project without eval suites: nothing to check against, and train says so.
    assert "contamination check: NOT CHECKED: no evaluation suite files found" in out
    assert "tracked in tensorboard: " in out
