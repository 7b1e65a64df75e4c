"""Before any weights load: where the outputs go, `--new-version`/`--overwrite`, the run's state, preflight, and
the data checked (held-out validation, contamination against the eval suites)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from tunebench.config import Config
from tunebench.data import Example, load_examples, normalize
from tunebench.errors import RecipeError
from tunebench.history.records import utc_now
from tunebench.registry import Registry
from tunebench.training import reruns, resilience
from tunebench.training.contamination import check_training_data
from tunebench.training.preflight import raise_on_failures, run_preflight
from tunebench.training.recipe import Recipe

# The suites a training set is checked against unless the recipe names its own (relative to the config root).
DEFAULT_SUITES = ("eval_suites/benchmark_100/questions.jsonl", "eval_suites/domain_probes/probes.jsonl")


def output_dir_for(recipe: Recipe, config: Config) -> Path:
    """Return where a recipe's outputs go: its `output_dir`, else `<home>/models/<output>`."""
    return recipe.output_dir or config.home / "models" / recipe.output


def apply_rerun(
    recipe: Recipe, config: Config, resume: bool, new_version: bool, overwrite: bool
) -> tuple[Recipe, Path | None]:
    """Apply `--new-version` (rename the output when taken) or `--overwrite` (archive the old output first)."""
    if not (new_version or overwrite):
        return recipe, None
    if (new_version and overwrite) or resume:
        raise RecipeError(f"{recipe.path}: --new-version, --overwrite and --resume exclude each other")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return _rerun_decided_by_rank_0(recipe, config, new_version)
    return _rerun(recipe, config, new_version)


# How long the other ranks wait for rank 0's choice of name (it reads the registry and output folders only).
RERUN_DECISION_WAIT_S = 300.0


def _rerun_decided_by_rank_0(recipe: Recipe, config: Config, new_version: bool) -> tuple[Recipe, Path | None]:
    """Under torchrun/accelerate, rank 0 alone renames or archives and writes its choice where the other ranks of
    the same launch (TORCHELASTIC_RUN_ID) read it, so every rank trains the same output."""
    launch = os.environ.get("TORCHELASTIC_RUN_ID")
    if not launch:
        raise RecipeError(
            f"{recipe.path}: --new-version/--overwrite with several processes need torchrun or accelerate launch "
            "(TORCHELASTIC_RUN_ID names the launch all ranks share); name the output with --set output=NAME instead"
        )
    decision = config.home / "reruns" / f"{launch}.json"
    if int(os.environ.get("RANK", "0")) == 0:
        chosen, archive = _rerun(recipe, config, new_version)
        from tunebench.storage.local import write_atomic

        decision.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(decision, json.dumps({"output": chosen.output}).encode())
        return chosen, archive
    return _wait_for_decision(recipe, decision), None


def _wait_for_decision(recipe: Recipe, decision: Path) -> Recipe:
    import time

    deadline = time.monotonic() + RERUN_DECISION_WAIT_S
    while not decision.is_file():
        if time.monotonic() > deadline:
            raise RecipeError(
                f"{recipe.path}: rank 0's choice of output name did not appear in {decision} within "
                f"{RERUN_DECISION_WAIT_S:.0f} s (is <home> on a folder every node shares?)"
            )
        time.sleep(0.2)
    output = json.loads(decision.read_text(encoding="utf-8"))["output"]
    return reruns.renamed(recipe, output) if output != recipe.output else recipe


def _rerun(recipe: Recipe, config: Config, new_version: bool) -> tuple[Recipe, Path | None]:
    if not reruns.is_taken(recipe.output, output_dir_for(recipe, config), config):
        return recipe, None
    if new_version:
        renamed = reruns.new_version(recipe, config, output_dir_for)
        print(f"tunebench: {recipe.output!r} is taken; training a new version {renamed.output!r}", flush=True)
        return renamed, None
    archive = reruns.archive_output(recipe, config, output_dir_for(recipe, config))
    print(f"tunebench: the previous {recipe.output!r} (output and registry entry) is archived in {archive}", flush=True)
    return recipe, archive


def preflight_or_refuse(
    recipe: Recipe, config: Config, output_dir: Path, state: resilience.RunState, free_disk_bytes: int | None
) -> None:
    """Refuse a run that would die later. Refusals are kept in `<home>/preflight/<output>.json` (not the output
    folder: nothing is written there before a run may start) and become the eventual run's difficulties."""
    checks = run_preflight(recipe, config, output_dir, free_disk_bytes)
    journal = config.home / "preflight" / f"{recipe.output}.json"
    earlier = json.loads(journal.read_text(encoding="utf-8")) if journal.is_file() else []
    refused = [f"{c.name}: {c.detail}" for c in checks if c.ok is False]
    if int(os.environ.get("RANK", "0")) != 0:
        raise_on_failures(checks, f"recipe {recipe.path}")
        return
    for check in (c for c in checks if c.slow):
        print(f"tunebench: {check.name}: {check.detail}; {check.fix}", flush=True)
    if refused:
        with contextlib.suppress(OSError):  # a full disk may refuse this too; the refusal itself still stands
            journal.parent.mkdir(parents=True, exist_ok=True)
            journal.write_text(json.dumps([*earlier, {"at": utc_now(), "checks": refused}]), encoding="utf-8")
        raise_on_failures(checks, f"recipe {recipe.path}")
    if earlier:
        state.data.setdefault("preflight_refusals", []).extend(earlier)
        journal.unlink()


def open_state(recipe: Recipe, config: Config, output_dir: Path, resume: bool) -> resilience.RunState:
    """Return the run's state; RecipeError when its folder holds a run this one may not continue."""
    state = resilience.RunState.open(output_dir / "run.json", recipe.sha256)
    if int(os.environ.get("RANK", "0")) != 0:
        return state  # rank 0 judges the output folder; the others may already see the state it is writing
    if state.status == "running" and state.process_gone():
        state.data["status"] = "crashed"  # its process died without a word (kill -9, power cut, OOM killer)
    if state.status in ("crashed", "failed") and not state.trained_anything(output_dir) and not resume:
        return resilience.RunState.fresh(state.path, recipe.sha256)  # nothing trained: nothing to resume
    if state.status == "completed":
        raise RecipeError(
            f"{recipe.path}: key output: {output_dir} already holds a completed run of "
            f"{recipe.output!r}; " + reruns.RERUN_HINT.format(next=reruns.next_name(recipe, config, output_dir_for))
        )
    if state.status != "new" and not resume:
        raise RecipeError(
            f"{recipe.path}: a run of {recipe.output!r} was started in {output_dir} and is "
            f"{state.describe_status()}; continue it with --resume (resume=True) or remove that folder"
        )
    if resume and state.status != "new" and state.data["recipe_sha256"] != recipe.sha256:
        raise RecipeError(
            f"{recipe.path}: the recipe changed since the run in {output_dir} started "
            f"({state.data['recipe_sha256']} then, {recipe.sha256} now); resume needs the same recipe"
        )
    if state.status == "new" and recipe.output in Registry(config):
        raise RecipeError(
            f"{recipe.path}: key output: {recipe.output!r} is already a registry model; "
            + reruns.RERUN_HINT.format(next=reruns.next_name(recipe, config, output_dir_for))
        )
    return state


def load_and_check_data(
    recipe: Recipe, config: Config, allow_contamination: bool
) -> tuple[dict[str, list[Example]], list[Example], dict[str, int], dict[str, Any]]:
    """Load every data file; refuse validation examples that are also training data; check for contamination."""
    paths = dict.fromkeys([*(p for ph in recipe.phases for p in ph.data), *recipe.validation])
    files = {path: load_examples(path) for path in paths}
    validation = [e for path in recipe.validation for e in files[path]]
    if recipe.validation_size:
        validation = validation[: recipe.validation_size]
    # Compared by normalized text, not id: a held-out example copied under another id is still a leak.
    held_out = {normalize(e.full_text) for e in validation}
    pool = {}
    for phase in recipe.phases:
        examples = [e for path in phase.data for e in files[path]]
        leaked = [e.id for e in examples if normalize(e.full_text) in held_out]
        if leaked:
            raise RecipeError(
                f"{recipe.path}: phase {phase.name}: {len(leaked)} validation example(s) are also "
                f"training data ({', '.join(leaked[:10])}); the validation split must be held out"
            )
        pool[phase.name] = examples
    everything = [e for path, examples in files.items() if path not in recipe.validation for e in examples]
    contamination = check_training_data(everything + validation, suite_paths(recipe, config), allow_contamination)
    return pool, validation, {str(p): len(examples) for p, examples in files.items()}, contamination


def suite_paths(recipe: Recipe, config: Config) -> list[Path]:
    """The suite files to check against: the recipe's, else the config's plus the shipped ones wherever found."""
    if recipe.contamination_suites:
        return list(recipe.contamination_suites)
    # The shipped suites live beside the config, the working directory, or the recipes/ folder's parent.
    shipped = [base / p for base in (config.root, Path.cwd(), recipe.path.parent.parent) for p in DEFAULT_SUITES]
    found = [*config.eval.suites, *config.eval.probes, *(p for p in shipped if p.is_file())]
    return list(dict.fromkeys(p.resolve() for p in found))
