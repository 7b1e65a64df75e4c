"""Child process for tests/test_memory.py: measure the peak memory of an eval run and of training steps.

Run in a fresh interpreter so the test process's own memory cannot pollute the figures. It warms up on
`tiny` first (library imports, kernels, allocator pools), then measures each workload as the peak RSS
above the level just before it (`tunebench.memory.PeakMemory`). The parent sets MALLOC_MMAP_THRESHOLD_
so that freed tensors go back to the OS at once and RSS follows live memory, as CUDA's peak allocated
does. Prints one JSON line: {"eval_mb": ..., "training_mb": ...}; with "trl" in the arguments, only
{"training_trl_mb": ...}: training steps the way TRL's SFTTrainer takes them (its chunked LM head,
`trl.trainer.utils.add_fused_lm_head` and `model(..., fused_lm_head=True)`).
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from tunebench.config import Config
from tunebench.engines.hf_choice import score_questions
from tunebench.engines.hf_generation import timed_generate
from tunebench.loading import load_model
from tunebench.memory import MiB, PeakMemory
from tunebench.registry import ModelEntry
from tunebench.suites import load_probes, load_questions
from tunebench.tiny import tiny_path


def eval_run(entry: ModelEntry, root: Path, args: dict) -> None:
    """Load with the adapter merged, score a batch of questions, answer the probes: what an eval run does."""
    loaded = load_model(entry, Config(root=root))
    questions = load_questions(args["questions"])[: args["questions_n"]]
    score_questions(loaded.model, loaded.tokenizer, questions, batch_size=args["batch_size"])
    for probe in load_probes(args["probes"])[: args["probes_n"]]:
        timed_generate(
            loaded.model,
            loaded.tokenizer,
            [{"role": "user", "content": probe.prompt}],
            args["max_new_tokens"],
            repeats=1,
            warmup=0,
        )


def training_steps(model_dir: Path, args: dict, fused: bool = False) -> None:
    """Two AdamW steps of a LoRA/DoRA adapter; `fused`: the loss through TRL's chunked LM head, as SFTTrainer does."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if fused:
        from trl.trainer.utils import add_fused_lm_head

        # SFTTrainer's own call (trl/trainer/sft_trainer.py), before PEFT wraps the model.
        add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    if args["gradient_checkpointing"]:
        from tunebench import compat

        compat.enable_checkpointing(model, {"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(
        model,
        LoraConfig(
            r=args["rank"],
            lora_alpha=2 * args["rank"],
            use_dora=args["dora"],
            lora_dropout=args["dropout"],
            target_modules="all-linear",
        ),
    )
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(
        0, model.config.vocab_size, (args["train_batch"], args["seq_len"]), generator=torch.Generator().manual_seed(0)
    )
    for _ in range(2):
        outputs = model(input_ids=ids, labels=ids, fused_lm_head=True) if fused else model(input_ids=ids, labels=ids)
        outputs.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def measure(fn, *fn_args) -> float:
    gc.collect()
    with PeakMemory(device="cpu") as peak:
        fn(*fn_args)
    gc.collect()
    return peak.delta_bytes / MiB


def main() -> None:
    args = json.loads(sys.argv[1])
    root = Path(args["root"])
    warm = dict(args, questions_n=2, probes_n=1, train_batch=1, seq_len=32)
    if args.get("trl"):  # only the TRL-way training step, on the wide-vocabulary model
        training_steps(tiny_path(), warm, fused=True)
        print(json.dumps({"training_trl_mb": measure(training_steps, Path(args["model"]), args, True)}))
        return
    eval_run(ModelEntry("warm", base=str(tiny_path())), root, warm)
    training_steps(tiny_path(), warm)
    entry = ModelEntry("probe", base=args["model"], adapter=args["adapter"])
    result = {
        "eval_mb": measure(eval_run, entry, root, args),
        "training_mb": measure(training_steps, Path(args["model"]), args),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
