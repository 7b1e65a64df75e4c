"""Models for the benchmarks: `tiny` and a larger CPU-sized random Qwen2 (`bench`), plus DoRA adapters.

`bench` is built offline from `BENCH_CONFIG` with the tiny model's tokenizer (so its vocab is tiny's
512 tokens), a fixed seed and random weights, and cached beside `tiny` under a key of everything that
shapes it. At about 23M parameters (about 90 MB in fp32), a forward pass costs far more than Python's
per-step overhead, so ratios on it reflect model time; on `tiny` they reflect overhead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tunebench.tiny import TINY_CONFIG, cache_root, cached_model_folder, tiny_path

__all__ = ["BENCH_CONFIG", "MODEL_SIZES", "model_path", "bench_path", "build_random_qwen2", "make_dora_adapter"]

# Hidden 512, 8 layers, 8 heads / 2 KV heads (Qwen2.5-14B's 5:1 head ratio is 40:8), SwiGLU 1408.
BENCH_CONFIG = {
    **TINY_CONFIG,
    "hidden_size": 512,
    "intermediate_size": 1408,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
}
SEED = 0
BUILD_VERSION = 1
MODEL_SIZES = ("tiny", "bench")


def model_path(size: str) -> Path:
    """Return the folder of the benchmark model `size` ("tiny" or "bench"), building it on first use."""
    if size == "tiny":
        return tiny_path()
    if size == "bench":
        return bench_path()
    raise ValueError(f"unknown benchmark model size {size!r}: expected one of {', '.join(MODEL_SIZES)}")


def bench_path() -> Path:
    """Return the folder of the `bench` model, building it on first use."""
    tokenizer_dir = tiny_path()
    target = cache_root() / "models" / f"bench-{_build_key(tokenizer_dir)}"
    return cached_model_folder(target, lambda out: build_random_qwen2(out, BENCH_CONFIG, tokenizer_dir, seed=SEED))


def _build_key(tokenizer_dir: Path) -> str:
    import transformers

    digest = hashlib.sha256(
        json.dumps(
            {"config": BENCH_CONFIG, "seed": SEED, "version": BUILD_VERSION, "transformers": transformers.__version__},
            sort_keys=True,
        ).encode()
    )
    # tiny's folder name already hashes everything that shapes its tokenizer.
    digest.update(tokenizer_dir.name.encode())
    return digest.hexdigest()[:16]


def build_random_qwen2(out_dir: Path, shape: dict, tokenizer_dir: Path, *, seed: int = 0) -> Path:
    """Build a Qwen2 of `shape` with random weights and the tokenizer of `tokenizer_dir`; return `out_dir`."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    generation = GenerationConfig.from_pretrained(tokenizer_dir)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=generation.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=generation.pad_token_id,
        **shape,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = generation
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def make_dora_adapter(base_dir: Path, out_dir: Path, *, rank: int = 16, seed: int = 0) -> Path:
    """Write a DoRA adapter for `base_dir` with non-zero random B matrices (a trained-looking adapter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        use_dora=True,
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # peft initialises B to zero (the adapter starts as a no-op); a trained adapter is not.
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.01)
    model.save_pretrained(out_dir)
    return Path(out_dir)
