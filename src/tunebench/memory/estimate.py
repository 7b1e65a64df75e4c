"""Estimate a model's peak memory from its config alone: pure arithmetic, nothing loads or is read.

The estimate adds up what a run holds at its peak: weights, the adapter, the optimizer states and
gradients of a training phase, saved activations (or one layer's transient ones at inference), the
logits, and the KV cache at the probe lengths. Each part is kept by name so a reader sees where the
memory goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunebench import compat
from tunebench.memory.measure import MiB
from tunebench.units import format_bytes

if TYPE_CHECKING:
    from tunebench.training.recipe import Recipe

__all__ = [
    "ModelShape",
    "AdapterShape",
    "MemoryEstimate",
    "estimate_eval",
    "estimate_training",
    "estimate_recipe_phase",
]

DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "int8": 1, "4bit": 0.5}
LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# TRL's chunked log-prob tiles (trl/kernels/chunked_logprob.py: tokens per tile; trainer/utils.py: vocab per tile).
TRL_TOKEN_TILE, TRL_VOCAB_TILE = 4096, 32768
# fp32 tiles alive at once in that loss: on CUDA a Triton kernel folds each tile in place (a few); elsewhere
# TRL folds it in torch ops, whose temporaries (exp, probabilities, their gradient) hold about eight (measured
# on the CPU with trl 1.16, tests/test_memory.py).
TRL_TILES_TRITON, TRL_TILES_TORCH = 3, 8


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Qwen2/Llama-style decoder that its memory depends on (from its config.json)."""

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool = False
    qkv_bias: bool = True

    @classmethod
    def from_config(cls, cfg: Any, where: str = "config.json") -> ModelShape:
        """Return the shape of a config (a dict or a transformers config); LoadError names a missing key."""
        from tunebench.errors import LoadError

        def get(key: str, default: Any = None) -> Any:
            return cfg.get(key, default) if isinstance(cfg, dict) else getattr(cfg, key, default)

        missing = [
            k
            for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
            if get(k) is None
        ]
        if missing:
            raise LoadError(f"{where}: key {missing[0]}: expected an integer (a decoder config), found nothing")
        heads = int(get("num_attention_heads"))
        hidden = int(get("hidden_size"))
        return cls(
            vocab=int(get("vocab_size")),
            hidden=hidden,
            intermediate=int(get("intermediate_size")),
            layers=int(get("num_hidden_layers")),
            heads=heads,
            kv_heads=int(get("num_key_value_heads") or heads),
            head_dim=int(get("head_dim") or hidden // heads),
            tied=bool(get("tie_word_embeddings", False)),
            qkv_bias=get("model_type", "qwen2") == "qwen2" or bool(get("attention_bias", False)),
        )

    def projections(self) -> dict[str, tuple[int, int]]:
        """Return (in_features, out_features) of each linear projection in one decoder layer."""
        q, kv, h, i = self.heads * self.head_dim, self.kv_heads * self.head_dim, self.hidden, self.intermediate
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def parameter_count(self) -> int:
        """Return the number of parameters (embeddings, layers, final norm, untied head)."""
        linear = sum(fan_in * fan_out for fan_in, fan_out in self.projections().values())
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.qkv_bias else 0
        per_layer = linear + bias + 2 * self.hidden
        head = 0 if self.tied else self.vocab * self.hidden
        return self.vocab * self.hidden + self.layers * per_layer + self.hidden + head

    def kv_bytes_per_token(self, dtype_bytes: float) -> float:
        """Return the KV-cache bytes one token takes across all layers."""
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


@dataclass(frozen=True)
class AdapterShape:
    """A LoRA or DoRA adapter: rank, target projections, and whether it carries DoRA magnitudes."""

    rank: int
    target_modules: tuple[str, ...] = LINEAR_MODULES
    use_dora: bool = False
    dropout: float = 0.0

    @classmethod
    def from_adapter_config(cls, cfg: dict[str, Any]) -> AdapterShape:
        """Return the shape described by a PEFT adapter_config.json."""
        targets = cfg.get("target_modules") or LINEAR_MODULES
        if isinstance(targets, str):  # a regex in PEFT: count the projections it names
            targets = [m for m in LINEAR_MODULES if m in targets]
        return cls(
            rank=int(cfg.get("r", 8)),
            target_modules=tuple(targets),
            use_dora=bool(cfg.get("use_dora")),
            dropout=float(cfg.get("lora_dropout") or 0.0),
        )

    def _modules(self, shape: ModelShape) -> list[tuple[int, int]]:
        return [dims for name, dims in shape.projections().items() if name in self.target_modules]

    def parameter_count(self, shape: ModelShape) -> int:
        """Return the adapter's trainable parameters on `shape`."""
        per_layer = sum(
            self.rank * (fan_in + fan_out) + (fan_out if self.use_dora else 0)
            for fan_in, fan_out in self._modules(shape)
        )
        return shape.layers * per_layer


@dataclass
class MemoryEstimate:
    """An estimated peak, as named additive parts in bytes; `assumptions` says what it was computed for."""

    kind: str
    parts: dict[str, float]
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> float:
        return sum(self.parts.values())

    def describe(self) -> str:
        """Return one line: the total, then each non-zero part (and for training, which loss it assumed)."""
        parts = ", ".join(f"{name} {format_bytes(value)}" for name, value in self.parts.items() if value)
        losses: dict[object, str] = {True: "; loss through trl's chunked LM head", False: "; loss over the full logits"}
        loss = losses.get(self.assumptions.get("fused_loss"), "")  # eval estimates have no loss
        return f"{self.kind}: ~{format_bytes(self.total_bytes)} peak ({parts}{loss})"

    def as_dict(self) -> dict[str, Any]:
        """Return the estimate as JSON-ready values (MiB)."""
        return {
            "kind": self.kind,
            "total_mb": round(self.total_bytes / MiB, 1),
            "parts_mb": {k: round(v / MiB, 1) for k, v in self.parts.items()},
            "assumptions": self.assumptions,
        }


def _bytes_of(dtype: str | float) -> float:
    if isinstance(dtype, (int, float)):
        return float(dtype)
    return DTYPE_BYTES[str(dtype).removeprefix("torch.")]


# Per token and layer, the elements a forward pass without gradients holds at once: the MLP's gate, up,
# activation and product (4 x intermediate) and about four hidden-sized tensors around attention (SDPA's
# fused kernels never hold the seq x seq scores). Measured on CPU within ~10%.
def _inference_layer_elements(shape: ModelShape) -> int:
    return 4 * shape.intermediate + 4 * shape.hidden


def estimate_eval(
    shape: ModelShape,
    *,
    dtype: str | float = "float32",
    adapter: AdapterShape | None = None,
    merged: bool = True,
    batch_size: int = 16,
    score_tokens: int = 256,
    probe_tokens: int = 128,
    max_new_tokens: int = 64,
    scored_positions: int = 1,
    device: str = "cpu",
) -> MemoryEstimate:
    """Return the estimated peak of an eval run: load, batched multiple-choice scoring, probe generation.

    `scored_positions` is how many positions per row the scorer keeps logits for (tunebench's scorer asks
    the model for the continuation's positions only: 1 for a one-letter answer). On the CPU the weights
    stay memory-mapped from the safetensors file, so merging an adapter adds a copy of every adapted layer.
    """
    width = _bytes_of(dtype)
    weights = shape.parameter_count() * width
    adapter_bytes = 0.0 if adapter is None or merged else adapter.parameter_count(shape) * 4  # PEFT upcasts
    tokens = batch_size * score_tokens
    # Scoring: one layer's transients, the kept logits and their fp32 log-softmax.
    scoring = tokens * _inference_layer_elements(shape) * width + batch_size * scored_positions * shape.vocab * (
        width + 4
    )
    length = probe_tokens + max_new_tokens
    generation = (
        shape.kv_bytes_per_token(width) * length
        + probe_tokens * _inference_layer_elements(shape) * width
        + shape.vocab * 4
    )
    merged_copies = 0.0
    if adapter is not None and merged and not device.startswith("cuda"):
        adapted = sum(fan_in * fan_out for fan_in, fan_out in adapter._modules(shape))
        merged_copies = shape.layers * adapted * width
    parts = {"weights": weights, "adapter (unmerged)": adapter_bytes, "merged layers (CPU copy)": merged_copies}
    if scoring >= generation:
        parts[f"scoring activations ({batch_size}x{score_tokens} tokens)"] = scoring
    else:
        parts[f"KV cache + prefill ({length} tokens)"] = generation
    assumptions = {
        "dtype": str(dtype),
        "merged": merged,
        "batch_size": batch_size,
        "score_tokens": score_tokens,
        "probe_tokens": probe_tokens,
        "max_new_tokens": max_new_tokens,
        "kv_cache_mb": round(shape.kv_bytes_per_token(width) * length / MiB, 1),
    }
    return MemoryEstimate("eval", parts, assumptions)


def _training_layer_elements(shape: ModelShape, adapter: AdapterShape) -> tuple[float, float]:
    """Return (float elements, mask bytes) saved for backward per token in one layer."""
    modules = adapter._modules(shape)
    # Two RMSNorms (input and normalised output: 2h each), attention's q, k, v and output (4h), the MLP's
    # gate, up, activation and product (4i), and each LoRA A output (r). Measured on CPU within ~10%.
    elements = 4 * shape.hidden + 4 * shape.hidden + 4 * shape.intermediate + adapter.rank * len(modules)
    masks = 0.0
    if adapter.dropout > 0:
        # PEFT applies dropout per module: each keeps its dropped input and a one-byte mask.
        elements += sum(fan_in for fan_in, _ in modules)
        masks = sum(fan_in for fan_in, _ in modules)
    if adapter.use_dora:
        # DoRA keeps the base output and the LoRA output of every module for the magnitude's gradient.
        elements += 2 * sum(fan_out for _, fan_out in modules)
    return elements, masks


def estimate_training(
    shape: ModelShape,
    adapter: AdapterShape,
    *,
    dtype: str | float = "float32",
    batch_size: int = 4,
    seq_len: int = 512,
    gradient_checkpointing: bool = False,
    optimizer_states: int = 2,
    compute_dtype: str | float | None = None,
    fused_loss: bool = False,
    device: str = "cuda",
) -> MemoryEstimate:
    """Return the estimated peak of one training phase (AdamW: two fp32 states per trainable parameter).

    `dtype` is the stored weights' ("4bit" for QLoRA); `compute_dtype` the activations' (default: `dtype`).
    `fused_loss`: the loss is computed through TRL's chunked LM head (SFTTrainer's way: the full logits
    never exist); otherwise through the model's own loss, which holds batch x seq x vocab logits. `device`
    is where it runs (the fused loss holds more tiles off CUDA).
    """
    weight_width = _bytes_of(dtype)
    width = _bytes_of(compute_dtype or dtype)
    trainable = adapter.parameter_count(shape)
    tokens = batch_size * seq_len
    elements, masks = _training_layer_elements(shape, adapter)
    per_layer = tokens * (elements * width + masks)
    if gradient_checkpointing:
        # Each layer keeps only its input; one layer at a time is recomputed in full during backward.
        activations = shape.layers * tokens * shape.hidden * width + per_layer
    else:
        activations = shape.layers * per_layer
    if fused_loss:
        # A few fp32 tiles of TRL's chunked log-prob, and the final hidden states upcast to fp32.
        tiles = TRL_TILES_TRITON if device.startswith("cuda") else TRL_TILES_TORCH
        tile = min(tokens, TRL_TOKEN_TILE) * min(shape.vocab, TRL_VOCAB_TILE) * 4
        logits: float = tile * tiles + tokens * shape.hidden * 4
    else:
        # The loss upcasts logits to fp32 and keeps log-probabilities; backward holds their gradient too.
        logits = tokens * shape.vocab * (width + 3 * 4)
    parts = {
        "weights": shape.parameter_count() * weight_width,
        "adapter": trainable * 4,
        "gradients": trainable * 4,
        "optimizer states": trainable * 4 * optimizer_states,
        "activations": activations,
        "logits + loss": logits,
    }
    assumptions = {
        "dtype": str(dtype),
        "batch_size": batch_size,
        "seq_len": seq_len,
        "rank": adapter.rank,
        "use_dora": adapter.use_dora,
        "gradient_checkpointing": gradient_checkpointing,
        "fused_loss": fused_loss,
        "device": device,
        "trainable_params": trainable,
    }
    return MemoryEstimate("training", parts, assumptions)


def estimate_recipe_phase(recipe: Recipe, model_config: dict[str, Any], *, on_gpu: bool) -> MemoryEstimate:
    """Return the estimated peak of one of `recipe`'s phases on the base model described by `model_config`."""
    compute = "bfloat16" if on_gpu and recipe.bf16 else "float32"
    adapter = AdapterShape(recipe.rank, tuple(recipe.target_modules), recipe.use_dora, recipe.dropout)
    # tunebench trains with TRL's SFTTrainer: trl 1.16 scores tokens through its chunked LM head, older trl in
    # the declared range hold the full logits, so the estimate asks the installed trl (a run is about to import it).
    return estimate_training(
        ModelShape.from_config(model_config),
        adapter,
        dtype="4bit" if recipe.quantized else compute,
        compute_dtype=compute,
        batch_size=recipe.batch_size,
        seq_len=recipe.max_length,
        gradient_checkpointing=recipe.gradient_checkpointing,
        fused_loss=compat.trl_fuses_lm_head(),
        device="cuda" if on_gpu else "cpu",
    )
