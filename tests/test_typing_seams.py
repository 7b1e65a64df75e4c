"""`Any` only at third-party seams (issue 25): a public function of `src/tunebench` whose signature says `Any`
(a bare `Any`, `dict[str, Any]`, ...) must be one this file names, so a new one fails here.

`ALLOWED` is the allow-list as it stands: third-party seams (torch, transformers, trl, JSON payloads at the
parse boundary, a record as the store reads it) and the project types not typed yet (each a record, recipe
or config still passed as a dict). A function typed since may be struck off; a new one is typed with the
project's classes (tunebench.history.typed, record_parts, training.recipe.Recipe, config.Config) instead of
added here. `python tests/test_typing_seams.py` prints what the source has now, one line per module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
_ANY = re.compile(r"\bAny\b")

# module -> its public functions (Class.method for methods) whose signature holds Any, space-separated.
ALLOWED: dict[str, str] = {
    "tunebench": "train",
    "tunebench.cli.doctor": "memory_lines",
    "tunebench.cli.gate": "GateReport.to_dict",
    "tunebench.cli.history_common": "find_record summarize",
    "tunebench.compat": (
        "disable_checkpointing enable_checkpointing is_checkpointing loss_tokens probe_lora_config "
        "probe_sft_config probe_training_apis"
    ),
    "tunebench.config": "find_config_file",
    "tunebench.contamination": "describe eval_mark label read_summary",
    "tunebench.data": "Example.for_trainer",
    "tunebench.efficiency": "DevicePeak.as_dict decode_floor describe_decode format_mfu",
    "tunebench.engines.base": "Engine.generate_until EngineInfo.from_dict EngineInfo.to_dict encode_pair until_request",
    "tunebench.engines.hf": "HFEngine.generate_until",
    "tunebench.engines.hf_choice": "model_max_length score_pairs score_questions",
    "tunebench.engines.hf_generation": "Decoding.settings Decoding.warmups eos_token_ids timed_generate",
    "tunebench.engines.hf_until": "generate_until",
    "tunebench.engines.load": "load_phase summarize",
    "tunebench.engines.openai_api": "OpenAIEngine.generate_until continuation_logprob",
    "tunebench.engines.openai_stream": "timed_stream",
    "tunebench.engines.vllm_inprocess": "VLLMEngine.generate_until",
    "tunebench.escaping": (
        "escape_cell markdown_code markdown_imported markdown_link markdown_prose markdown_text terminal_text"
    ),
    "tunebench.gate.baseline": "BaselineSearch.record",
    "tunebench.gate.judge": "judge_recorded judge_run rules_for",
    "tunebench.gate.rules": "GateRules.from_config",
    "tunebench.gate.verdict": "Verdict.to_dict",
    "tunebench.history.aliases": "ModelLinker.learn link_records",
    "tunebench.history.eval_aggregates": "aggregate",
    "tunebench.history.eval_record": "build_eval_record check_outcome comparable model_record",
    "tunebench.history.importer": "import_log",
    "tunebench.history.index": "summary_of",
    "tunebench.history.integrity": "check_consistency checksum seal unseal",
    "tunebench.history.json_object": "JsonObject.to_dict Part.from_dict plain_json typed_json",
    "tunebench.history.layout": "parse_record_bytes",
    "tunebench.history.record_parts": (
        "JsonObject.to_dict Part.from_dict Proportion.of SpeedReference.from_dict SpeedReference.to_dict "
        "plain_json typed_json"
    ),
    "tunebench.history.records": "schema_for to_json validate",
    "tunebench.history.reference": "newest resolve_pair resolve_run",
    "tunebench.history.seals": "seal_record sealed_on_purpose seals_by_target",
    "tunebench.history.store": (
        "HistoryStore.get HistoryStore.write ReadResult.of_kind is_future keep_unwritten record_name"
    ),
    "tunebench.history.typed": "Record.from_dict Record.get from_dict",
    "tunebench.lmeval.record": "check_doc_outcome doc_key doc_outcome lm_eval_section lm_eval_suites",
    "tunebench.lmeval.score": "score_documents",
    "tunebench.lmeval.tasks": "LoadedTask.info",
    "tunebench.loading": "check_adapter_fits load_model pick_device_and_dtype read_folder_config read_location_config",
    "tunebench.machine_speed": "generate_beside_reference",
    "tunebench.markdown_tables": "cell_sum parse_cell",
    "tunebench.memory.estimate": (
        "AdapterShape.from_adapter_config MemoryEstimate.as_dict ModelShape.from_config estimate_recipe_phase"
    ),
    "tunebench.memory.measure": "PeakMemory.as_dict",
    "tunebench.provenance": "collect hardware",
    "tunebench.report.compare": "Comparison.to_dict compare_runs latency_split",
    "tunebench.report.formatting": "cell_text escape_cell markdown_text note_text",
    "tunebench.report.html": "build_page render_report write_report",
    "tunebench.report.html_rows": "evidence_spans probe_row question_row",
    "tunebench.report.lm_eval_tasks": "compare_rows",
    "tunebench.report.markdown": "render_log",
    "tunebench.report.plot_kit": "plain_text series_colours",
    "tunebench.report.plots": "render_plots",
    "tunebench.report.publishing": "publish_remote_log",
    "tunebench.report.history_view": "History.of History.rows_of",
    "tunebench.report.views": "EvalView.gate EvalView.training_data PhaseView.get",
    "tunebench.scoring.calibration": "Calibration.figures Calibration.figures_by_split Calibration.to_dict",
    "tunebench.scoring.lm_eval_task": "run_lm_eval task_config",
    "tunebench.scoring.quality": "reason",
    "tunebench.storage.cache": "pull_folder",
    "tunebench.storage.gcs": (
        "StoredObject.of list_names make_client read_object retry_policy storage_module write_object"
    ),
    "tunebench.storage.gcs_history": "GCSHistoryBackend.bucket publish_text_replacing",
    "tunebench.storage.manifest": "read_manifest",
    "tunebench.storage.publish": "push_folder",
    "tunebench.storage.remote": "committed_manifest describe_remote read_published_file",
    "tunebench.suites": "json_lines schema suite_rows",
    "tunebench.tiny": "build_tiny",
    "tunebench.training.contamination": "check_training_data write_summary",
    "tunebench.training.cost": "hardware_key training_cost",
    "tunebench.training.preflight": "check_dora_dropout estimate_sizes read_base_config",
    "tunebench.training.prepare": "load_and_check_data",
    "tunebench.training.record": "build_record difficulties phase_figures write_record",
    "tunebench.training.resilience": "PreemptionCallback.on_step_end RunState.phase this_process",
    "tunebench.training.run": "train",
    "tunebench.training.throughput": "Throughput.as_dict",
    "tunebench.training.tracking": "describe",
    "tunebench.training.trainer": (
        "PhaseProgress.on_log PhaseProgress.on_step_end PhaseProgress.on_train_begin PhaseProgress.on_train_end "
        "attach_adapter load_base_model lora_config_kwargs phase_trainer sft_config sft_config_kwargs"
    ),
}


def _annotations(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    found = [a.annotation for a in every if a is not None and a.annotation is not None]
    return found + ([function.returns] if function.returns is not None else [])


def _says_any(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(_ANY.search(ast.unparse(annotation)) for annotation in _annotations(function))


def _public_functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    functions: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            functions.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            functions += [
                (f"{node.name}.{sub.name}", sub)
                for sub in node.body
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and not sub.name.startswith("_")
            ]
    return functions


def public_any_signatures(src: Path = SRC) -> dict[str, set[str]]:
    """Return {module: names of its public functions whose signature holds Any}, for every module under `src`."""
    found: dict[str, set[str]] = {}
    for path in sorted((src / "tunebench").rglob("*.py")):
        module = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {name for name, function in _public_functions(tree) if _says_any(function)}
        if names:
            found[module] = names
    return found


def test_no_public_function_says_any_unless_the_allow_list_names_it():
    new = {
        module: sorted(names - set(ALLOWED.get(module, "").split()))
        for module, names in public_any_signatures().items()
    }
    new = {module: names for module, names in new.items() if names}
    assert not new, (
        f"public functions that take or return Any, not in {Path(__file__).name}'s ALLOWED: {new}; give them "
        "the project's types (typed records, Recipe, Config), or, at a third-party seam only, add them there"
    )


def test_the_scan_sees_any_in_every_place_a_signature_can_hold_it(tmp_path):
    package = tmp_path / "tunebench"
    package.mkdir()
    (package / "sample.py").write_text(
        "from typing import Any\n"
        "def plain(x: int) -> int: ...\n"
        "def arg(x: dict[str, Any]) -> int: ...\n"
        "def star(*xs: Any) -> None: ...\n"
        "def keyword(*, x: 'list[Any] | None' = None) -> None: ...\n"
        "def returned() -> Any: ...\n"
        "def _private(x: Any) -> Any: ...\n"
        "class Thing:\n"
        "    def method(self, x: Any) -> None: ...\n"
        "    def _hidden(self) -> Any: ...\n"
        "    def Anything(self) -> int: ...\n",
        encoding="utf-8",
    )
    assert public_any_signatures(tmp_path) == {
        "tunebench.sample": {"arg", "star", "keyword", "returned", "Thing.method"}
    }


if __name__ == "__main__":
    for module, names in sorted(public_any_signatures().items()):
        print(f'    "{module}": "{" ".join(sorted(names))}",')
