"""Preflight: refuse a run that would fail hours later, before any weights load.

Checks free disk against the sizes the recipe implies (adapter, optimizer state per checkpoint, merged
copy, estimated from the base model's config.json), package versions known to conflict (the seed hit
autoawq against transformers, a torchvision built for another torch, and trl's argument renames), GPU
presence and memory, and bitsandbytes when a 4-bit method is asked for. Each failure says what to do.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tunebench.config import Config
from tunebench.errors import PreflightError, TunebenchError
from tunebench.memory.estimate import AdapterShape, ModelShape, estimate_recipe_phase
from tunebench.memory.targets import recipe_on_gpu
from tunebench.training.recipe import Recipe
from tunebench.units import format_bytes

__all__ = [
    "Check",
    "SizeEstimate",
    "estimate_sizes",
    "check_packages",
    "check_apis",
    "check_disk",
    "check_disk_free",
    "check_hardware",
    "check_price",
    "check_dora_dropout",
    "check_throughput",
    "run_preflight",
    "raise_on_failures",
]


@dataclass(frozen=True)
class Check:
    """One preflight check: `ok` True (pass), False (refuse) or None (could not check; not a refusal).

    `slow`: the run may start, but a setting costs time the detail quantifies (doctor marks it "slow").
    """

    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    slow: bool = False


@dataclass(frozen=True)
class SizeEstimate:
    """Bytes a run writes or holds, estimated from the base model's config."""

    base_params: int
    adapter_params: int
    adapter_bytes: int
    checkpoint_bytes: int
    merged_bytes: int
    disk_bytes: int
    gpu_bytes: int


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _major_minor(text: str) -> tuple[int, int]:
    parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in text.split("+")[0].split(".")[:2]]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def check_packages(recipe: Recipe | None = None) -> list[Check]:
    """Return the package checks: known conflicts and versions too old for what the recipe uses."""
    checks = []
    transformers, trl, peft = _version("transformers"), _version("trl"), _version("peft")
    awq = _version("autoawq")
    if awq and transformers and _major_minor(transformers) >= (4, 57):
        checks.append(
            Check(
                "autoawq",
                False,
                f"autoawq {awq} imports PytorchGELUTanh, removed in transformers 4.57 "
                f"(installed: {transformers}); importing peft/trl fails",
                "pip uninstall -y autoawq",
            )
        )
    else:
        checks.append(
            Check("autoawq", True, f"autoawq {awq}: no conflict" if awq else "not installed (nothing to conflict)")
        )
    torch, vision = _version("torch"), _version("torchvision")
    if vision and torch:
        t_major, t_minor = _major_minor(torch)
        want = (0, t_minor + 15) if t_major == 2 else None  # torch 2.N pairs with torchvision 0.(N+15)
        ok = want is None or _major_minor(vision) == want
        checks.append(
            Check(
                "torchvision",
                ok,
                f"torchvision {vision} with torch {torch}",
                "" if ok or want is None else f"pip install 'torchvision=={want[0]}.{want[1]}.*' (or uninstall it)",
            )
        )
    if trl is None or _major_minor(trl) < (1, 0):
        checks.append(
            Check(
                "trl",
                False,
                f"trl {trl or 'not installed'}: tunebench uses the trl 1.x API "
                "(processing_class, max_length; tokenizer and max_seq_length were renamed)",
                "pip install 'trl>=1.0'",
            )
        )
    else:
        checks.append(Check("trl", True, f"trl {trl}"))
    if recipe is None and transformers is not None:
        # Importing TrainingArguments imports torch and peft (seconds): probed only for a recipe, with its APIs.
        checks.append(Check("transformers", True, f"transformers {transformers}; APIs probed by doctor --recipe R"))
    elif transformers is None or not _has_sequential_sampler():
        checks.append(
            Check(
                "transformers",
                False,
                f"transformers {transformers}: no "
                "train_sampling_strategy='sequential' (needed to keep the curriculum's order)",
                "pip install 'transformers>=5.2'",
            )
        )
    else:
        checks.append(Check("transformers", True, f"transformers {transformers}"))
    if recipe is not None and (peft is None or _major_minor(peft) < (0, 18)):
        checks.append(
            Check(
                "peft",
                False,
                f"peft {peft}: tunebench needs peft >= 0.18 (0.17 cannot import with transformers 5)",
                "pip install 'peft>=0.18'",
            )
        )
    else:
        checks.append(Check("peft", True, f"peft {peft}"))
    if recipe is not None and trl is not None and peft is not None:
        checks.extend(check_apis(recipe))
    if recipe is None:  # what a 4-bit (qlora) recipe would need; checked against the recipe with --recipe
        bnb = _version("bitsandbytes")
        checks.append(
            Check("bitsandbytes", None, f"{bnb or 'not installed'}: only 4-bit recipes need it (doctor --recipe R)")
        )
    elif recipe.quantized:
        found = _importable("bitsandbytes")
        checks.append(
            Check(
                "bitsandbytes",
                found,
                f"{recipe.method} loads the base in 4 bits: bitsandbytes {_version('bitsandbytes') or 'not installed'}",
                "" if found else 'pip install bitsandbytes (or use method = "lora"/"dora")',
            )
        )
    return checks


def check_apis(recipe: Recipe) -> list[Check]:
    """Return one check per name the recipe's training passes that trl/transformers/peft lack (none: one ok line).

    The SFTConfig fields, LoraConfig options and SFTTrainer keywords are the ones training/trainer.py builds for
    this recipe, probed against the installed classes (tunebench.compat): imports, no weights.
    """
    from tunebench import compat
    from tunebench.training.trainer import probe_apis

    try:
        problems = probe_apis(recipe)
    except ImportError as exc:
        return [Check("api", False, f"importing trl, peft or transformers failed: {exc}", "pip install -e . again")]
    if problems:
        return [
            Check(f"api {p.package}", False, p.describe(), f"pip install '{p.works}'" if " " not in p.works else "")
            for p in problems
        ]
    versions = ", ".join(f"{name} {_version(name)}" for name in ("trl", "transformers", "peft"))
    return [
        Check(
            "api",
            True,
            f"{versions}: every SFTConfig field, LoraConfig option and SFTTrainer keyword the recipe passes exists "
            f"(checkpointing as {compat.checkpointing_arg()})",
        )
    ]


def _importable(name: str) -> bool:
    # A None in sys.modules is Python's own "this import fails" marker; honour it like a missing package.
    if name in sys.modules:
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def _has_sequential_sampler() -> bool:
    from transformers import TrainingArguments

    field = TrainingArguments.__dataclass_fields__.get("train_sampling_strategy")
    return field is not None and "sequential" in (field.metadata or {}).get("choices", ["sequential"])


def read_base_config(recipe: Recipe, config: Config) -> dict[str, Any]:
    """Return the recipe's base model config.json (a pulled copy or the published object for gs://, no weights).

    LoadError says why it cannot be read.
    """
    from tunebench.loading import base_location, read_location_config
    from tunebench.registry import Registry

    registry = Registry(config)
    return read_location_config(base_location(recipe.model, registry), registry)


def estimate_sizes(recipe: Recipe, model_config: dict[str, Any]) -> SizeEstimate:
    """Return the adapter, checkpoint, merged, disk and GPU sizes a recipe implies for this base model."""
    shape = ModelShape.from_config(model_config)
    base = shape.parameter_count()
    adapter = AdapterShape(recipe.rank, tuple(recipe.target_modules), recipe.use_dora).parameter_count(shape)
    adapter_bytes = adapter * 4  # PEFT keeps adapter weights in fp32
    checkpoint = adapter_bytes * 3 + (1 << 20)  # weights + two AdamW moments + trainer/rng/scheduler state
    # A q-method never writes a merged copy (nothing is merged into a 4-bit base): no bytes for it.
    merged = base * (2 if recipe.bf16 else 4) if recipe.merge and not recipe.quantized else 0
    disk = len(recipe.phases) * (recipe.save_total_limit * checkpoint + adapter_bytes) + adapter_bytes + merged
    # The peak is `tunebench doctor`'s estimate of one phase (tunebench.memory), so on a GPU both agree.
    gpu = int(estimate_recipe_phase(recipe, model_config, on_gpu=recipe_on_gpu(recipe)).total_bytes)
    return SizeEstimate(base, adapter, adapter_bytes, checkpoint, merged, int(disk * 1.1), gpu)


def check_disk(recipe: Recipe, output_dir: Path, sizes: SizeEstimate | None, free_bytes: int | None = None) -> Check:
    """Return the disk check: free space at `output_dir` against the run's estimated writes (None: cannot say)."""
    where = output_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free if free_bytes is None else free_bytes
    if sizes is None:
        return Check(
            "disk", None, f"{format_bytes(free)} free at {where}; sizes not estimated (base config.json not readable)"
        )
    need = sizes.disk_bytes
    detail = (
        f"need ~{format_bytes(need)} at {output_dir} ({len(recipe.phases)} phases x {recipe.save_total_limit} "
        f"checkpoints of {format_bytes(sizes.checkpoint_bytes)}, adapter {format_bytes(sizes.adapter_bytes)}"
        f"{f', merged {format_bytes(sizes.merged_bytes)}' if sizes.merged_bytes else ''}); {format_bytes(free)} free"
    )
    return Check(
        "disk",
        free >= need,
        detail,
        ""
        if free >= need
        else "free disk space (old merged models, checkpoints), lower save_total_limit, "
        "set output_dir on a larger disk, or set merge = false",
    )


def check_disk_free(folder: Path) -> Check:
    """Return the free disk at `folder` (or its nearest existing parent), without a recipe to compare it to."""
    where = folder
    while not where.exists() and where != where.parent:
        where = where.parent
    free = format_bytes(shutil.disk_usage(where).free)
    return Check("disk", None, f"{free} free at {where}; enough? doctor --recipe R compares it with R's need")


def check_hardware(recipe: Recipe | None, sizes: SizeEstimate | None) -> list[Check]:
    """Return GPU checks: presence when the recipe asks for CUDA, and memory against its estimate (None: cannot say)."""
    import torch

    has_gpu = torch.cuda.is_available()
    if not has_gpu:
        wants_gpu = recipe is not None and recipe.device == "cuda"
        return [
            Check(
                "gpu",
                not wants_gpu,
                "no CUDA GPU" + (' but the recipe sets device = "cuda"' if wants_gpu else "; training runs on the CPU"),
                'run on a GPU machine, or set device = "cpu" for a small model' if wants_gpu else "",
            )
        ]
    name = torch.cuda.get_device_name(0)
    total = torch.cuda.get_device_properties(0).total_memory
    checks = [Check("gpu", True, f"{name}, {format_bytes(total)}")]
    if sizes is None and recipe is not None:
        checks.append(Check("gpu memory", None, "peak not estimated (base config.json not readable)"))
    if sizes is not None:
        fits = sizes.gpu_bytes <= total
        checks.append(
            Check(
                "gpu memory",
                fits,
                f"estimated peak ~{format_bytes(sizes.gpu_bytes)} of {format_bytes(total)}",
                ""
                if fits
                else "lower batch_size (raise grad_accum), max_length, enable "
                "gradient_checkpointing, or use qlora/qdora",
            )
        )
    return checks


def run_preflight(recipe: Recipe, config: Config, output_dir: Path, free_disk_bytes: int | None = None) -> list[Check]:
    """Return every check for this recipe; nothing is loaded but the base model's config.json."""
    checks = check_packages(recipe)
    model_config: dict[str, Any] | None = None
    try:
        model_config = read_base_config(recipe, config)
        sizes = estimate_sizes(recipe, model_config)
    except TunebenchError:  # the base config cannot be read: sizes unknown, not a refusal (doctor says why)
        sizes = None
    if recipe.use_dora and recipe.dropout > 0:
        checks.append(check_dora_dropout(recipe, model_config))
    checks.append(check_disk(recipe, output_dir, sizes, free_disk_bytes))
    checks.extend(check_hardware(recipe, sizes))
    checks.append(check_price(recipe, config))
    checks.append(check_throughput(recipe))
    return checks


def check_throughput(recipe: Recipe) -> Check:
    """Return what the steps will run (attention, padding-free, fused loss), or a refusal of an impossible setting."""
    from tunebench.training.throughput import resolve

    try:
        speed = resolve(recipe, on_cuda=recipe_on_gpu(recipe))
    except TunebenchError as refused:
        return Check("throughput", False, str(refused), 'set the key to "auto"')
    loss = "trl's fused LM head" if speed.fused_lm_head else "full logits"
    detail = (
        f"{speed.attn_implementation} attention, {'padding-free' if speed.padding_free else 'padded'} batches, "
        f"loss through {loss}{', Liger kernels' if speed.liger_kernel else ''}"
    )
    if speed.attn_implementation != "flash_attention_2" and recipe_on_gpu(recipe):
        detail += " (pip install flash-attn: flash_attention_2 and padding-free batches, recipe keys on auto)"
    return Check("throughput", True, detail)


def check_price(recipe: Recipe, config: Config) -> Check:
    """Return the price check: the hourly price the run's cost will use (None: no price, so no cost; not a refusal)."""
    import torch

    from tunebench.training.cost import hardware_key, missing_price

    on_gpu = recipe.device != "cpu" and torch.cuda.is_available()
    hardware = {"gpu_name": torch.cuda.get_device_name(0) if on_gpu else None}
    key = hardware_key(hardware, config.prices, recipe.price or recipe.hardware)
    price = config.prices.get(key)
    if price is None:
        return Check("price", None, missing_price(key))
    from tunebench.units import dollars  # as every cost is written: a cheap hour is not "$0.00"

    return Check("price", True, f"{key}: {dollars(price)} an hour" + (" a GPU" if on_gpu else ""))


# A DoRA step with dropout 0.05 and one with dropout 0, each over a LoRA step (rank 16, batch 4 x 256 tokens,
# the CPU bench model, interleaved medians on a loaded 2-core machine): benchmarks/test_bench_dora.py.
DORA_DROPOUT_MEASURED = (
    "1.78x a LoRA step (1.07x with dropout 0) on the CPU bench model (benchmarks/test_bench_dora.py)"
)


def check_dora_dropout(recipe: Recipe, model_config: dict[str, Any] | None) -> Check:
    """Return the DoRA-dropout check: what dropout > 0 costs a DoRA step (slow, never a refusal)."""
    from tunebench.efficiency import dora_dropout_flops_ratio

    arithmetic = ""
    if model_config is not None:
        try:
            ratio = dora_dropout_flops_ratio(ModelShape.from_config(model_config), recipe.target_modules)
            arithmetic = f" ~{ratio:.2f}x the matmul FLOPs by arithmetic (adapted weights / all matmul weights),"
        except TunebenchError:
            pass  # a config without a decoder's keys: the measured figure alone
    detail = (
        f"DoRA with dropout {recipe.dropout:g} runs every adapted base matmul twice (forward and backward):"
        f"{arithmetic} measured {DORA_DROPOUT_MEASURED}; 6.6x a LoRA step on an H200 at 14B (issue 24)"
    )
    fix = "dropout = 0 keeps PEFT's DoRA fast path (the base layer's output is reused)"
    return Check("dora speed", True, detail, fix, slow=True)


def raise_on_failures(checks: list[Check], what: str) -> None:
    """Raise PreflightError listing each failed check and what to do about it."""
    failed = [c for c in checks if c.ok is False]
    if failed:
        lines = [f"  {c.name}: {c.detail}" + (f"\n    fix: {c.fix}" if c.fix else "") for c in failed]
        raise PreflightError(f"preflight refused {what}; nothing was loaded:\n" + "\n".join(lines))
