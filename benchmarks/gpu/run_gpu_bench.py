"""GPU benchmark on Qwen2.5-14B's exact shape with random bf16 weights: run by hand, never by CI.

    python benchmarks/gpu/run_gpu_bench.py                  # on a GPU machine; writes benchmarks/RESULTS.md
    python benchmarks/gpu/run_gpu_bench.py --tiny --output /tmp/RESULTS.md   # a few seconds on a CPU

Nothing is downloaded: the model is built from `QWEN2_5_14B` (Qwen2.5-14B-Instruct's config.json) with
random weights, and tokenized with tunebench's built-in tiny tokenizer (its ids fit the 152k vocab; its
512-token vocabulary makes prompts about 2-3x longer than Qwen's own tokenizer would, so TTFT and scoring
times here are pessimistic). Reported, each with its peak memory and tunebench's estimate of it:

- decode ms/token of the base model, the DoRA adapter merged, and unmerged, against the bandwidth floor
  (weight bytes / the GPU's memory bandwidth: every decoded token reads every weight once);
- TTFT of each probe prompt (median and max), and the time to score the 100 benchmark questions;
- training tokens/s and MFU of LoRA and DoRA at ranks 16 and 64 with gradient checkpointing. MFU counts
  model FLOPs as 6 x parameters x tokens (the PaLM convention; recomputation is not credited).

The output format (headings, tables, row labels) is fixed: tests/test_gpu_script.py runs `--tiny` and
checks it against the committed benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_STARTED = time.perf_counter()

# Qwen2.5-14B-Instruct's config.json (architecture keys only).
QWEN2_5_14B = {
    "hidden_size": 5120,
    "intermediate_size": 13824,
    "num_hidden_layers": 48,
    "num_attention_heads": 40,
    "num_key_value_heads": 8,
    "vocab_size": 152064,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "use_sliding_window": False,
    "sliding_window": 131072,
    "max_window_layers": 70,
    "hidden_act": "silu",
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}
TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 2048,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "use_sliding_window": False,
}
# Memory bandwidth (GB/s) and dense bf16 peak (TFLOPS) by device-name fragment, most specific first.
DEVICES = [
    ("H100 PCIe", 2000, 756),
    ("H100 NVL", 3900, 835),
    ("H100", 3350, 989),
    ("H200", 4800, 989),
    ("A100-SXM4-80GB", 2039, 312),
    ("A100", 1555, 312),
    ("L40S", 864, 362),
    ("L4", 300, 121),
    ("A10G", 600, 125),
]
PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "tunebench")
INFERENCE_HEADERS = ("measurement", "value", "floor", "x floor", "peak memory", "estimate")
TRAINING_HEADERS = ("method", "rank", "tokens/s", "MFU", "peak memory", "estimate")


@dataclass
class Results:
    """Everything the report shows; rows are lists of cells in the header order."""

    device: dict[str, str]
    model: dict[str, str]
    settings: dict[str, str]
    inference: list[list[str]] = field(default_factory=list)
    training: list[list[str]] = field(default_factory=list)
    caveat: str = ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny shape (CPU, seconds): checks the script runs")
    parser.add_argument("--config", type=Path, help="a JSON file of Qwen2 config keys to use instead of 14B's")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--new-tokens", type=int, default=64, help="decoded tokens per base/merged run")
    parser.add_argument("--unmerged-new-tokens", type=int, default=16, help="decoded tokens per unmerged run")
    parser.add_argument("--dora-rank", type=int, default=128, help="rank of the inference DoRA adapter (dora-v3)")
    parser.add_argument("--train-batch", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--train-steps", type=int, default=5, help="timed steps per config, after one warm-up")
    parser.add_argument("--repeats", type=int, default=3, help="timed generations per decode figure (median)")
    parser.add_argument("--questions", type=Path, default=REPO / "eval_suites" / "benchmark_100" / "questions.jsonl")
    parser.add_argument("--probes", type=Path, default=REPO / "eval_suites" / "domain_probes" / "probes.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N questions and probes")
    parser.add_argument(
        "--served-vllm",
        action="store_true",
        help="also serve the shape with vLLM (dummy weights) and add decode ms/token and TTFT at concurrency "
        "1/8/32 as a 'Served vLLM' section (needs vllm; see served_vllm.py)",
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.new_tokens, args.unmerged_new_tokens, args.dora_rank = 16, 8, 8
        args.seq_len, args.train_steps, args.repeats = 32, 1, 1
    return args


def gpu_missing() -> str | None:
    """Return why there is no NVIDIA GPU here (None: there is one); checked from the driver's files, in milliseconds.

    Importing torch to ask would take seconds, and building the 14B shape on a CPU is what the kernel's
    out-of-memory killer stops after a minute and a half.
    """
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return None
    if Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists():
        return None
    return "no NVIDIA GPU here (no /proc/driver/nvidia/gpus, no /dev/nvidia0)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.tiny and args.device != "cpu" and args.config is None and (why := gpu_missing()):
        print(f"run_gpu_bench.py: {why}; it needs one for the 14B shape (--tiny runs a tiny one on the CPU)")
        return 4
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" and args.tiny:
        torch.set_num_threads(1)  # a tiny model gains nothing from threads that wait on each other
    shape = json.loads(args.config.read_text()) if args.config else (TINY_SHAPE if args.tiny else QWEN2_5_14B)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    bench = Bench(shape, device, dtype, args)
    results = bench.run()
    text = render(results)
    if args.served_vllm:
        from served_vllm import render_section, served_rows

        from tunebench.suites import load_probes

        prompts = [p.prompt for p in load_probes(args.probes)][: args.limit]
        text += "\n" + render_section(served_rows(shape, prompts, args.new_tokens, log=bench._log))
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
    return 0


class Bench:
    """Builds the model once and runs each measurement on it in an order that needs one copy of weights."""

    def __init__(self, shape: dict[str, Any], device: str, dtype: Any, args: argparse.Namespace):
        from tunebench.memory import ModelShape

        self.shape, self.device, self.dtype, self.args = shape, device, dtype, args
        self.model_shape = ModelShape.from_config(shape)
        self.bandwidth, self.peak_tflops = _device_figures(device)

    def run(self) -> Results:
        import torch

        self._log("building the model")
        model, tokenizer = build_model(self.shape, self.device, self.dtype)
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        results = Results(device=self._device_info(), model=self._model_info(model, weights), settings=self._settings())
        if self.device != "cuda" or self.shape is TINY_SHAPE:
            results.caveat = (
                "These figures come from a CPU or tiny-shape run, which checks that the script works; "
                "they say nothing about GPU speed. Run the script on a GPU to replace them."
            )
        decode_rows, model = self._decode_rows(model, tokenizer, weights)  # now the DoRA-merged model
        results.inference += decode_rows
        results.inference += self._probe_and_scoring_rows(model, tokenizer)
        results.training += self._training_rows(model)
        del model
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
        return results

    # -- inference ---------------------------------------------------------------------------------

    def _decode_rows(self, model: Any, tokenizer: Any, weights: int) -> tuple[list[list[str]], Any]:
        """Decode base, then with a DoRA adapter unmerged, then merged; return the rows and the merged model."""
        from peft import LoraConfig, get_peft_model

        from tunebench import compat
        from tunebench.memory import AdapterShape, estimate_eval

        rows = []
        self._log("decode: base")
        ms, peak = self._decode_ms(model, tokenizer, self.args.new_tokens)
        base_estimate = estimate_eval(
            self.model_shape,
            dtype=self._dtype_name,
            batch_size=1,
            score_tokens=1,
            probe_tokens=32,
            max_new_tokens=self.args.new_tokens,
            device=self.device,
        )
        rows.append(self._decode_row("decode base (ms/token)", ms, weights, peak, base_estimate.total_bytes))
        rank = self.args.dora_rank
        adapter = AdapterShape(rank, use_dora=True)
        with compat.library_renames_quiet():  # peft reads transformers' renamed is_gradient_checkpointing
            peft_model = get_peft_model(
                model,
                LoraConfig(r=rank, lora_alpha=2 * rank, use_dora=True, lora_dropout=0.0, target_modules="all-linear"),
            )
        _randomize_lora_b(peft_model)
        peft_model.eval()
        adapter_bytes = adapter.parameter_count(self.model_shape) * 4
        self._log(f"decode: DoRA r={rank} unmerged")
        ms, peak = self._decode_ms(peft_model, tokenizer, self.args.unmerged_new_tokens)
        unmerged_estimate = estimate_eval(
            self.model_shape,
            dtype=self._dtype_name,
            adapter=adapter,
            merged=False,
            batch_size=1,
            score_tokens=1,
            probe_tokens=32,
            max_new_tokens=self.args.unmerged_new_tokens,
            device=self.device,
        )
        rows.append(
            self._decode_row(
                "decode unmerged DoRA (ms/token)", ms, weights + adapter_bytes, peak, unmerged_estimate.total_bytes
            )
        )
        self._log(f"decode: DoRA r={rank} merged")
        merged = peft_model.merge_and_unload()
        ms, peak = self._decode_ms(merged, tokenizer, self.args.new_tokens)
        rows.append(self._decode_row("decode merged DoRA (ms/token)", ms, weights, peak, base_estimate.total_bytes))
        return rows, merged

    def _decode_ms(self, model: Any, tokenizer: Any, new_tokens: int) -> tuple[float, Any]:
        from tunebench.engines.hf_generation import timed_generate
        from tunebench.memory import PeakMemory

        messages = [{"role": "user", "content": "What is the 2024 Roth IRA contribution limit?"}]
        with PeakMemory(self.device) as peak:
            result = timed_generate(
                model, tokenizer, messages, new_tokens, repeats=self.args.repeats, warmup=1, min_new_tokens=new_tokens
            )
        return result.decode_s / max(result.new_tokens - 1, 1) * 1e3, peak

    def _decode_row(self, label: str, ms: float, read_bytes: int, peak: Any, estimate: float) -> list[str]:
        floor = read_bytes / (self.bandwidth * 1e9) * 1e3 if self.bandwidth else None
        return [
            label,
            f"{ms:.2f}",
            "-" if floor is None else f"{floor:.2f}",
            "-" if floor is None else f"{ms / floor:.1f}x",
            _gb(peak.peak_bytes),
            _gb(estimate),
        ]

    def _probe_and_scoring_rows(self, model: Any, tokenizer: Any) -> list[list[str]]:
        from tunebench.engines.hf_choice import score_questions
        from tunebench.engines.hf_generation import timed_generate
        from tunebench.memory import AdapterShape, PeakMemory, estimate_eval
        from tunebench.suites import load_probes, load_questions

        probes = load_probes(self.args.probes)[: self.args.limit]
        self._log(f"TTFT: {len(probes)} probes")
        with PeakMemory(self.device) as peak:
            ttfts = [
                timed_generate(model, tokenizer, [{"role": "user", "content": p.prompt}], 4, repeats=1, warmup=0).ttft_s
                for p in probes
            ]
        prompt_tokens = max(
            len(tokenizer.apply_chat_template([{"role": "user", "content": p.prompt}], add_generation_prompt=True))
            for p in probes
        )
        adapter = AdapterShape(self.args.dora_rank, use_dora=True)
        probe_estimate = estimate_eval(
            self.model_shape,
            dtype=self._dtype_name,
            adapter=adapter,
            batch_size=1,
            score_tokens=1,
            probe_tokens=prompt_tokens,
            max_new_tokens=4,
            device=self.device,
        )
        rows = [
            [
                "TTFT probes, median (s)",
                f"{statistics.median(ttfts):.3f}",
                "-",
                "-",
                _gb(peak.peak_bytes),
                _gb(probe_estimate.total_bytes),
            ],
            [
                "TTFT probes, max (s)",
                f"{max(ttfts):.3f}",
                "-",
                "-",
                _gb(peak.peak_bytes),
                _gb(probe_estimate.total_bytes),
            ],
        ]
        questions = load_questions(self.args.questions)[: self.args.limit]
        self._log(f"scoring {len(questions)} questions")
        with PeakMemory(self.device) as peak:
            start = time.perf_counter()
            score_questions(model, tokenizer, questions, batch_size=16)
            _sync(self.device)
            seconds = time.perf_counter() - start
        from tunebench.scoring.choice import format_prompt

        longest = max(len(tokenizer.encode(format_prompt(q))) + 1 for q in questions)
        scoring_estimate = estimate_eval(
            self.model_shape,
            dtype=self._dtype_name,
            adapter=adapter,
            batch_size=16,
            score_tokens=longest,
            probe_tokens=1,
            max_new_tokens=1,
            device=self.device,
        )
        rows.append(
            [
                "score the questions (s)",
                f"{seconds:.2f}",
                "-",
                "-",
                _gb(peak.peak_bytes),
                _gb(scoring_estimate.total_bytes),
            ]
        )
        return rows

    # -- training ----------------------------------------------------------------------------------

    def _training_rows(self, model: Any) -> list[list[str]]:
        rows = []
        for method in ("lora", "dora"):
            for rank in (16, 64):
                self._log(f"training: {method} r={rank}")
                rows.append(self._train_row(model, method, rank))
        return rows

    def _train_row(self, model: Any, method: str, rank: int) -> list[str]:
        import torch
        from peft import LoraConfig, get_peft_model

        from tunebench import compat
        from tunebench.memory import AdapterShape, PeakMemory, estimate_training

        args = self.args
        compat.enable_checkpointing(model, {"use_reentrant": False})
        model.enable_input_require_grads()
        with compat.library_renames_quiet():  # peft reads transformers' renamed is_gradient_checkpointing
            peft_model = get_peft_model(
                model,
                LoraConfig(
                    r=rank,
                    lora_alpha=2 * rank,
                    use_dora=method == "dora",
                    lora_dropout=0.05,
                    target_modules="all-linear",
                ),
            )
        peft_model.train()
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4)
        ids = torch.randint(0, 512, (args.train_batch, args.seq_len), device=self.device)
        with PeakMemory(self.device) as peak:
            _train_step(peft_model, optimizer, ids)  # warm-up: kernels, optimizer states
            _sync(self.device)
            start = time.perf_counter()
            for _ in range(args.train_steps):
                _train_step(peft_model, optimizer, ids)
            _sync(self.device)
            seconds = time.perf_counter() - start
        tokens_per_s = args.train_batch * args.seq_len * args.train_steps / seconds
        flops = 6 * self.model_shape.parameter_count() * tokens_per_s
        mfu = f"{flops / (self.peak_tflops * 1e12):.1%}" if self.peak_tflops else "-"
        estimate = estimate_training(
            self.model_shape,
            AdapterShape(rank, use_dora=method == "dora", dropout=0.05),
            dtype=self._dtype_name,
            batch_size=args.train_batch,
            seq_len=args.seq_len,
            gradient_checkpointing=True,
        )
        del optimizer, params
        peft_model.unload()  # the base model without adapter layers, for the next configuration
        compat.disable_checkpointing(model)
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
        return [method, str(rank), f"{tokens_per_s:.1f}", mfu, _gb(peak.peak_bytes), _gb(estimate.total_bytes)]

    # -- descriptions ------------------------------------------------------------------------------

    @property
    def _dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def _device_info(self) -> dict[str, str]:
        import torch

        name = torch.cuda.get_device_name() if self.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        info = {
            "device": name,
            "memory bandwidth": f"{self.bandwidth} GB/s" if self.bandwidth else "unknown (no floor computed)",
            "peak dense bf16": f"{self.peak_tflops} TFLOPS" if self.peak_tflops else "unknown (no MFU computed)",
            "python": platform.python_version(),
        }
        info.update({name: _version(name) for name in PACKAGES})
        if self.device == "cuda":
            info["cuda"] = str(torch.version.cuda)
        return info

    def _model_info(self, model: Any, weights: int) -> dict[str, str]:
        s = self.model_shape
        return {
            "shape": "Qwen2.5-14B"
            if self.shape is QWEN2_5_14B
            else ("tiny (--tiny)" if self.shape is TINY_SHAPE else "custom (--config)"),
            "parameters": _count(s.parameter_count()),
            "layers / hidden / intermediate": f"{s.layers} / {s.hidden} / {s.intermediate}",
            "heads / KV heads / vocab": f"{s.heads} / {s.kv_heads} / {s.vocab}",
            "dtype": self._dtype_name,
            "weight bytes": _gb(weights),
        }

    def _settings(self) -> dict[str, str]:
        a = self.args
        return {
            "decode tokens (base, merged / unmerged)": f"{a.new_tokens} / {a.unmerged_new_tokens}",
            "inference DoRA rank": str(a.dora_rank),
            "questions scored / probes": f"{a.limit or 'all'} / {a.limit or 'all'}",
            "training batch x sequence": f"{a.train_batch} x {a.seq_len}",
            "training steps timed": f"{a.train_steps} (after 1 warm-up)",
            "training": "AdamW, all 7 projections, dropout 0.05, gradient checkpointing",
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }

    def _log(self, text: str) -> None:
        print(f"[gpu-bench {time.perf_counter() - _STARTED:7.1f}s] {text}", file=sys.stderr, flush=True)


def build_model(shape: dict[str, Any], device: str, dtype: Any) -> tuple[Any, Any]:
    """Return (a Qwen2 of `shape` with random weights on `device` in `dtype`, tiny's tokenizer)."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from tunebench.tiny import tiny_path

    tokenizer = AutoTokenizer.from_pretrained(tiny_path())
    config = Qwen2Config(**{**shape, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id})
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # initialise in place: no CPU copy of 30 GB
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig.from_pretrained(tiny_path())
    return model.eval(), tokenizer


def _randomize_lora_b(model: Any) -> None:
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)  # a trained adapter is not the identity peft starts from


def _train_step(model: Any, optimizer: Any, ids: Any) -> None:
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _device_figures(device: str) -> tuple[int | None, int | None]:
    if device != "cuda":
        return None, None
    import torch

    name = torch.cuda.get_device_name()
    for fragment, bandwidth, tflops in DEVICES:
        if fragment in name:
            return bandwidth, tflops
    return None, None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _count(value: int) -> str:
    return f"{value / 1e9:.3f} B" if value >= 1e9 else f"{value / 1e6:.3f} M"


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f} GB" if value >= 1e8 else f"{value / 1e6:.1f} MB"


def _table(headers: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(results: Results) -> str:
    """Return RESULTS.md: device, model, settings, inference table, training table."""
    return "\n".join(
        [
            "# GPU benchmark results",
            "",
            *([f"**{results.caveat}**", ""] if results.caveat else []),
            "Written by `python benchmarks/gpu/run_gpu_bench.py` (see its docstring for what each figure means). "
            "Peak memory is CUDA peak allocated on a GPU, the process's peak RSS on a CPU; the estimate is "
            "`tunebench.memory`'s, from the config alone.",
            "",
            "## Device",
            "",
            _table(("field", "value"), [[k, v] for k, v in results.device.items()]),
            "",
            "## Model",
            "",
            _table(("field", "value"), [[k, v] for k, v in results.model.items()]),
            "",
            "## Settings",
            "",
            _table(("field", "value"), [[k, v] for k, v in results.settings.items()]),
            "",
            "## Inference",
            "",
            _table(INFERENCE_HEADERS, results.inference),
            "",
            "## Training",
            "",
            _table(TRAINING_HEADERS, results.training),
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
