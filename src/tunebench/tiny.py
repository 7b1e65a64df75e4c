"""The built-in `tiny` model: a ~100k-parameter Qwen2 causal LM with a byte-level BPE tokenizer.

Built offline on first use from the corpus shipped in `assets/`, with Qwen2.5's special tokens, chat
template and two eos ids, and saved with `save_pretrained` so it loads like any hub model. The build is
deterministic (fixed seed, fixed corpus), so two builds on one machine give byte-identical weights. The
cache folder is keyed by a hash of everything that shapes the build, so a change to any of it builds anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

__all__ = [
    "TINY_CONFIG",
    "TINY_HD32_CONFIG",
    "QWEN2_5_SPECIAL_TOKENS",
    "cache_root",
    "tiny_path",
    "tiny_hd32_path",
    "build_tiny",
    "cached_model_folder",
]

# Hidden 64, 2 layers, 4 heads (2 KV heads), tied embeddings: about 100k parameters with a 512 vocab.
TINY_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "use_sliding_window": False,
}
# tiny's twin for the served-engine tests: vLLM's CPU attention refuses head_dim 16 (tiny's 64 / 4 heads),
# so 2 heads (1 KV head) of 32. Same tokenizer, corpus and seed; a separate cache folder, tiny unchanged.
TINY_HD32_CONFIG = {**TINY_CONFIG, "num_attention_heads": 2, "num_key_value_heads": 1}
VOCAB_SIZE = 512
SEED = 0
BUILD_VERSION = 1  # bump when the build procedure changes

# Qwen2.5's added tokens, in their order; <tool_call> and </tool_call> are not "special" in Qwen2.5.
QWEN2_5_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]
# Qwen2's pre-tokenizer split pattern (from its tokenizer.json).
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)


def cache_root() -> Path:
    """Return tunebench's cache folder: `$TUNEBENCH_CACHE`, else the platform's user cache dir."""
    override = os.environ.get("TUNEBENCH_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("tunebench"))


def _asset(name: str) -> bytes:
    return resources.files("tunebench").joinpath("assets", name).read_bytes()


def _build_key(config: dict[str, Any] = TINY_CONFIG) -> str:
    # The installed version from its metadata: importing transformers for it cost `tunebench doctor` seconds.
    from importlib.metadata import version

    digest = hashlib.sha256()
    spec = {
        "config": config,
        "vocab": VOCAB_SIZE,
        "seed": SEED,
        "version": BUILD_VERSION,
        "transformers": version("transformers"),
    }
    digest.update(json.dumps(spec, sort_keys=True).encode())
    digest.update(_asset("tiny_corpus.txt"))
    digest.update(_asset("qwen2_5_chat_template.jinja"))
    return digest.hexdigest()[:16]


def tiny_path() -> Path:
    """Return the folder of the tiny model, building it on first use."""
    return cached_model_folder(cache_root() / "models" / f"tiny-{_build_key()}", build_tiny)


def tiny_hd32_path() -> Path:
    """Return the folder of tiny's head_dim-32 twin (servable by vLLM on a CPU), building it on first use."""
    key = _build_key(TINY_HD32_CONFIG)
    return cached_model_folder(cache_root() / "models" / f"tiny-hd32-{key}", lambda d: build_tiny(d, TINY_HD32_CONFIG))


def cached_model_folder(target: Path, build: Callable[[Path], object]) -> Path:
    """Return `target`, first running `build(folder)` aside and renaming it into place if it isn't there.

    Build aside, then rename: concurrent first uses never see a half-written folder, and the loser of a
    race keeps the winner's copy.
    """
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    try:
        build(staging)
        os.rename(staging, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny(out_dir: Path, shape: dict[str, Any] | None = None) -> Path:
    """Build the tiny model (or, with `shape`, a model of that config) and tokenizer into `out_dir`."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = _build_tokenizer()
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in ("<|endoftext|>", "<|im_end|>")}
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        torch_dtype="float32",
        **(shape or TINY_CONFIG),
    )
    torch.manual_seed(SEED)
    model = Qwen2ForCausalLM(config)
    # Qwen2.5-Instruct stops on either <|im_end|> or <|endoftext|>: two eos ids, as in its generation config.
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _build_tokenizer() -> Any:  # a transformers PreTrainedTokenizerFast
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(QWEN2_5_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = _asset("tiny_corpus.txt").decode("utf-8").splitlines()
    tok.train_from_iterator(corpus, trainer=trainer)
    # Added after training, one at a time, so their ids follow the vocabulary in Qwen2.5's order.
    for token in QWEN2_5_SPECIAL_TOKENS:
        if token in ("<tool_call>", "</tool_call>"):
            tok.add_tokens([token])
        else:
            tok.add_special_tokens([token])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        chat_template=_asset("qwen2_5_chat_template.jinja").decode("utf-8"),
        model_max_length=TINY_CONFIG["max_position_embeddings"],
        clean_up_tokenization_spaces=False,
        errors="replace",
        split_special_tokens=False,
    )
