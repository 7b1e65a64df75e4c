"""Preemption and OOM: a real SIGTERM to a real training process, resume, and an injected OOM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from training_support import make_project, phase, write_recipe
from transformers import TrainerCallback

from tunebench.errors import RecipeError
from tunebench.history.store import open_store
from tunebench.registry import Registry
from tunebench.training.resilience import PREEMPTED_EXIT, RunState, halve_batch, last_complete_checkpoint
from tunebench.training.run import train

# The interrupted process sleeps after printing each step so the test's SIGTERM lands mid-phase.
SLOW_TRAIN = textwrap.dedent("""
    import sys, time
    from transformers import TrainerCallback
    from tunebench.training.resilience import TrainingPreempted
    from tunebench.training.run import train

    class Slow(TrainerCallback):
        steps = 0  # counted across phases

        def on_step_end(self, args, state, control, **kwargs):
            Slow.steps += 1
            print(f"step {Slow.steps}", flush=True)
            time.sleep(0.5)

    try:
        train(sys.argv[1], callbacks=[Slow()])
    except TrainingPreempted as stop:
        print(stop, flush=True)
        sys.exit(75)
""")


def test_halving_keeps_the_effective_batch():
    assert halve_batch(8, 2) == (4, 4)
    assert halve_batch(3, 2) == (1, 6)
    with pytest.raises(Exception, match="per-device batch of 1"):
        halve_batch(1, 64)


def test_last_complete_checkpoint_skips_half_written_ones(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text("{}")
        if not complete:
            (folder / "checkpoint-is-incomplete.txt").write_text("saving")
    (tmp_path / "checkpoint-8").mkdir()  # no trainer_state.json: the process died while writing it
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-4"
    assert last_complete_checkpoint(tmp_path / "missing") is None


@pytest.mark.slow
def test_sigterm_mid_phase_then_resume_gives_a_bit_identical_adapter(tmp_path):
    # Dropout on, so the resumed run must also restore the RNG state to match. A: 2 steps, B: 6 steps.
    recipe = write_recipe(
        tmp_path / "r.toml",
        [phase("A", "domain_blocks", 4), phase("B", "stress", 12)],
        output="tiny-preempt",
        dropout=0.1,
    )
    reference = make_project(tmp_path / "reference")
    expected = train(recipe, config=reference)

    project = make_project(tmp_path / "preempted")
    env = dict(os.environ)  # the recipe pins cpu_threads, so all three runs sum floats the same way
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAIN, str(recipe)],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.strip() == "step 3":  # phase B's first step: the signal lands during its second
            process.send_signal(signal.SIGTERM)
            break
    lines += process.stdout.readlines()
    assert process.wait(timeout=120) == PREEMPTED_EXIT, "".join(lines)
    # The signal lands during B's second step, or a later one on a loaded machine; never at its end.
    stopped = re.search(r"preempted \(SIGTERM\) in phase B at step (\d+)", "".join(lines))
    assert stopped and 2 <= int(stopped.group(1)) < 6, "".join(lines)
    step = int(stopped.group(1))

    output = project.home / "models" / "tiny-preempt"
    state = RunState.open(output / "run.json", "")
    assert state.status == "preempted" and state.data["phases"]["A"]["status"] == "done"
    assert state.data["phases"]["B"]["status"] == "preempted"
    assert last_complete_checkpoint(output / "phases" / "B" / "checkpoints").name == f"checkpoint-{step}"
    assert open_store(project.history_uri).read_all().records == []  # a cut phase is never recorded as done
    assert "tiny-preempt" not in Registry(project)
    with pytest.raises(RecipeError, match="is preempted; continue it with --resume"):
        train(recipe, config=project)

    tunebench = shutil.which("tunebench", path=os.path.dirname(sys.executable))
    done = subprocess.run(
        [tunebench, "train", str(recipe), "--resume"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    resumed = open_store(project.history_uri).read_all(strict=True).records
    assert len(resumed) == 1
    record = resumed[0]
    assert [a["outcome"] for a in record["attempts"]] == ["preempted", "completed"]
    # Phase A was finished and skipped; phase B continued from its checkpoint.
    assert record["phases"][0]["resumed_from_step"] is None and record["phases"][1]["resumed_from_step"] == step
    assert "phase A" not in done.stderr and "phase B" in done.stderr  # only B's progress bar ran again
    assert [p["losses"] for p in record["phases"]] == [p["losses"] for p in expected.phases]
    adapter = "adapter/adapter_model.safetensors"
    assert (output / adapter).read_bytes() == (reference.home / "models" / "tiny-preempt" / adapter).read_bytes()


def test_resume_refuses_a_recipe_that_changed_since_the_run_started(tmp_path):
    project = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    state = RunState.open(project.home / "models" / "tiny-test" / "run.json", "sha256:" + "0" * 64)
    state.data["status"] = "preempted"
    state.save()
    with pytest.raises(RecipeError, match="the recipe changed since the run in .* started"):
        train(recipe, config=project, resume=True)


class InjectOOM(TrainerCallback):
    """Raise a real torch.OutOfMemoryError from the forward pass when the per-device batch exceeds `limit`.

    A CPU cannot be made to run out of memory on purpose: its allocator never raises OutOfMemoryError,
    and Linux overcommits and then kills the process. So the error CUDA's allocator raises is raised here,
    from the same place (the forward pass), once the weights have already taken an optimizer step.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.attempts: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.at_oom: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.attempts.append((args.per_device_train_batch_size, _adapter_weights(model)))

        def hook(module, positional, keywords):
            if module.training and keywords["input_ids"].shape[0] > self.limit and state.global_step >= 1:
                self.at_oom = _adapter_weights(module)
                raise torch.OutOfMemoryError(f"CUDA out of memory (injected at batch {keywords['input_ids'].shape[0]})")

        model.register_forward_pre_hook(hook, with_kwargs=True)


def _adapter_weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def test_oom_halves_the_batch_doubles_accumulation_and_restarts_the_phase_from_its_starting_adapter(tmp_path):
    project = make_project(tmp_path / "p")
    recipe = write_recipe(
        tmp_path / "r.toml", [phase("A", "mixed", 4), phase("B", "stress", 8)], batch_size=4, save_steps=1
    )
    oom = InjectOOM(limit=2)
    record = train(recipe, config=project, callbacks=[oom])

    event = record.data["oom_events"][0]
    assert record.data["oom_events"] == [
        {
            "phase": "B",
            "at": event["at"],
            "step": 1,
            "batch_size_before": 4,
            "grad_accum_before": 1,
            "batch_size_after": 2,
            "grad_accum_after": 2,
            "lost_s": event["lost_s"],
            "message": "CUDA out of memory (injected at batch 4)",
        }
    ]
    assert event["lost_s"] > 0
    # A ran at batch 4; B failed at 4 and was restarted at 2.
    assert [batch for batch, _ in oom.attempts] == [4, 4, 2]
    b_first, b_restart = oom.attempts[1][1], oom.attempts[2][1]
    assert all(torch.equal(b_first[k], b_restart[k]) for k in b_first)  # the phase's starting adapter
    assert any(not torch.equal(b_first[k], oom.at_oom[k]) for k in b_first)  # not the weights the OOM left
    assert [(p["batch_size"], p["grad_accum"], p["steps"]) for p in record.phases] == [(4, 1, 1), (2, 2, 2)]
    assert record.phases[1]["resumed_from_step"] is None  # the failed attempt's checkpoints were dropped
    assert record.data["hyperparameters"]["effective_batch"] == 4
    assert record.data["notes"] == ["out of memory in phase B: batch 4 x 1 -> 2 x 2"]


def test_a_recipe_naming_an_unknown_model_is_refused_before_any_work_with_the_closest_names(tmp_path, monkeypatch):
    from tunebench.errors import RegistryError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], model="tinyy")
    with pytest.raises(RegistryError, match=r"key model: 'tinyy' is neither a registry name nor a local folder") as e:
        train(recipe, config=project)
    assert "Closest registry names: tiny." in str(e.value)
    assert not (project.home / "models" / "tiny-test").exists()  # no state, no output: nothing started
    hub = write_recipe(tmp_path / "h.toml", [phase("A", "mixed", 4)], model="NoSuchOrg/no-such-model")
    with pytest.raises(RegistryError, match=r"neither a registry name nor a local folder \(not in the local hub cache"):
        train(hub, config=project)


def test_a_run_that_fails_is_marked_failed_and_a_rerun_is_not_refused_when_nothing_trained(tmp_path):
    project = make_project(tmp_path / "p")
    broken = tmp_path / "broken-model"
    broken.mkdir()  # a folder with a config.json, so the recipe passes the name check, but no model: loading fails
    (broken / "config.json").write_text("{}", encoding="utf-8")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], model=str(broken))
    with pytest.raises((OSError, ValueError)) as first:  # what transformers raises for a folder without a model
        train(recipe, config=project)
    state = RunState.open(project.home / "models" / "tiny-test" / "run.json", "")
    assert state.status == "failed" and state.data["error"].startswith(type(first.value).__name__)
    with pytest.raises((OSError, ValueError)):  # the same load error again, not "a run was started ... and is running"
        train(recipe, config=project)


def test_a_running_state_whose_process_is_gone_is_called_crashed(tmp_path):
    project = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = RunState.open(project.home / "models" / "tiny-test" / "run.json", "sha256:" + "0" * 64)
    state.data.update(status="running", process={"pid": gone.pid, "host": os.uname().nodename})
    state.phase("A")["status"] = "done"  # something trained: resuming is the way on
    state.save()
    with pytest.raises(RecipeError, match=rf"is crashed \(its process {gone.pid} is gone\); continue it with --resume"):
        train(recipe, config=project)
