"""lm-eval tasks for the tests: YAMLs over local JSON data (`dataset_path: json`), nothing from a hub.

`write_tasks(folder, model, tokenizer)` writes a `multiple_choice` task and a `generate_until` task with an
`exact_match` metric behind a regex filter. Their answer keys are set from what lm-eval's own
`simple_evaluate` gives the unchanged `tiny` on them: 3 in 4 documents are keyed to tiny's answer and the
rest to another, so tiny scores 75% on each and a model changed on purpose scores far below.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

MC_TASK, GEN_TASK = "tb_test_mc", "tb_test_gen"
MC_DOCS, GEN_DOCS = 80, 16
WORDS = "the cat dog sun moon tree river stone bird fish rain snow hill road".split()

MC_YAML = """
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Q: {{{{question}}}}\\nA:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
"""

GEN_YAML = """
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Q: {{{{question}}}}\\nA:"
doc_to_target: answer
generation_kwargs:
  until: ["\\n", "."]
  max_gen_toks: 12
  do_sample: false
filter_list:
  - name: first_word
    filter:
      - function: regex
        regex_pattern: "^\\\\s*(\\\\S+)"
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def _documents(seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)

    def phrase(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    mc = [{"question": phrase(6), "choices": rng.sample(WORDS, 4), "label": 0} for _ in range(MC_DOCS)]
    gen = [{"question": phrase(5), "answer": "?"} for _ in range(GEN_DOCS)]
    return mc, gen


def _write(folder: Path, mc: list[dict[str, Any]], gen: list[dict[str, Any]]) -> None:
    for name, docs in (("mc.jsonl", mc), ("gen.jsonl", gen)):
        (folder / name).write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (folder / f"{MC_TASK}.yaml").write_text(MC_YAML.format(task=MC_TASK, data=folder / "mc.jsonl"), encoding="utf-8")
    (folder / f"{GEN_TASK}.yaml").write_text(
        GEN_YAML.format(task=GEN_TASK, data=folder / "gen.jsonl"), encoding="utf-8"
    )


def simple_evaluate_samples(folder: Path, model: Any, tokenizer: Any, batch_size: int = 8) -> dict[str, list[dict]]:
    """Return lm-eval's own per-document samples (`simple_evaluate(..., log_samples=True)`) on both tasks."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    results = simple_evaluate(
        model=lm, tasks=[MC_TASK, GEN_TASK], task_manager=manager, log_samples=True, bootstrap_iters=0
    )
    return {name: sorted(samples, key=lambda s: s["doc_id"]) for name, samples in results["samples"].items()}


def write_tasks(folder: Path, model: Any, tokenizer: Any) -> Path:
    """Write both tasks into `folder`, keyed to the unchanged model's answers (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    mc, gen = _documents()
    _write(folder, mc, gen)
    samples = simple_evaluate_samples(folder, model, tokenizer)
    for doc, sample in zip(mc, samples[MC_TASK], strict=True):
        lls = [resp[0][0] for resp in sample["resps"]]
        pick = max(range(len(lls)), key=lambda i: (lls[i], -i))
        doc["label"] = pick if sample["doc_id"] % 4 else (pick + 1) % len(lls)
    for doc, sample in zip(gen, samples[GEN_TASK], strict=True):
        doc["answer"] = sample["filtered_resps"][0] if sample["doc_id"] % 4 else "never-generated"
    _write(folder, mc, gen)
    return folder


def sabotage(source: Path, target: Path) -> Path:
    """Save a copy of the model at `source` whose output head is scrambled: it predicts the wrong tokens.

    (Re-drawn weights are not enough on tiny: with tied embeddings any small model mostly repeats the
    prompt's last token, so its answers would not change. Untied and row-permuted, the head cannot.)
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source)
    embeddings = model.get_input_embeddings().weight
    permutation = torch.randperm(embeddings.shape[0], generator=torch.Generator().manual_seed(0))
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(embeddings.detach()[permutation].clone())
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target
