"""DoRA vs LoRA: one training step (forward, backward, optimizer step) at the same rank, fast path on and off.

PEFT's DoRA layer reuses the base layer's output only when the adapter's dropout is an identity (dropout 0)
or the module is in eval mode (peft/tuners/lora/variants.py, DoraLinearVariant.forward); with dropout > 0 it
runs the base matmul a second time on the dropped input, forward and backward. The shipped DoRA recipes
therefore train with dropout 0 (the fast path) and `tunebench doctor` says what dropout > 0 costs, citing
the slow row's figure. Baseline: a LoRA step (dropout 0.05, the LoRA recipes' setting) on the same model,
batch and rank. Goals: the fast DoRA step <= 1.3x the LoRA step (issue 24); the slow one is informational.
"""

from __future__ import annotations

import pytest

RANK = 16
BATCH, LENGTH = 4, 256  # tiny-dora-curriculum's batch and max_length
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
VARIANTS = {  # side, use_dora, dropout, goal
    "lora": ("baseline", False, 0.05, None),
    "dora-fast": ("tunebench", True, 0.0, "<= 1.3"),
    "dora-dropout": ("tunebench", True, 0.05, None),
}


def _step_fn(model_dir, use_dora: bool, dropout: float):
    """Return a function running one training step of a fresh adapter on `model_dir` (built once, untimed)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(
        r=RANK,
        lora_alpha=2 * RANK,
        lora_dropout=dropout,
        use_dora=use_dora,
        target_modules=TARGETS,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, base.config.vocab_size, (BATCH, LENGTH), generator=torch.Generator().manual_seed(0))

    def step() -> float:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    return step


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dora_step(paired_benchmark, cpu_model_dir, model_size, variant):
    side, use_dora, dropout, goal = VARIANTS[variant]
    step = _step_fn(cpu_model_dir, use_dora, dropout)
    if side == "baseline":
        paired_benchmark(step, side=side, group=f"dora-step-{model_size}", rounds=5, warmup_rounds=1)
        return
    lora = _step_fn(cpu_model_dir, False, 0.05)
    lora()  # its first step allocates the optimizer state: untimed, like the tunebench side's warm-up
    loss = paired_benchmark(
        step,
        side=side,
        group=f"dora-step-{model_size}",
        goal=goal,
        goal_note=f"DoRA r{RANK} dropout {dropout} step / LoRA r{RANK} step",
        rounds=5,
        warmup_rounds=1,
        label=f"{variant} r{RANK} (dropout {dropout})",
        interleave=lora,
    )
    assert loss == loss  # a NaN loss would make the timing meaningless
