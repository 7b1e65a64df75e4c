"""Dependency APIs that differ inside the declared ranges: each detected by feature, here and nowhere else.

pyproject.toml declares a range per library and `nox -s compat` tests its lower bounds and the GPU image's set.
Where a name changed inside a range, the installed library is asked whether it has the new name (a dataclass
field, a method), never its version string. `probe_training_apis` checks every name a training run will pass to
trl, transformers and peft before any weight loads (doctor and preflight call it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires, version
from typing import Any

__all__ = [
    "Rename",
    "RENAMES",
    "ApiProblem",
    "checkpointing_arg",
    "enable_checkpointing",
    "disable_checkpointing",
    "is_checkpointing",
    "library_renames_quiet",
    "loss_tokens",
    "sft_config_fields",
    "probe_sft_config",
    "probe_lora_config",
    "probe_training_apis",
    "flash_attention_2_available",
    "liger_kernel_available",
    "trl_fuses_lm_head",
]


@dataclass(frozen=True)
class Rename:
    """A name a library renamed inside tunebench's declared range: `new` first released in `package` `since`."""

    package: str
    owner: str
    old: str
    new: str
    since: str


# transformers 5.23.0 renamed gradient checkpointing to activation checkpointing (the old names stay as deprecated
# aliases that warn); transformers 5.2.0-5.22.x know only the old names. The GPU image ships 5.17.0.
CHECKPOINTING_ARG = Rename(
    "transformers", "TrainingArguments", "gradient_checkpointing", "activation_checkpointing", "5.23.0"
)
CHECKPOINTING_ENABLE = Rename(
    "transformers", "PreTrainedModel", "gradient_checkpointing_enable", "activation_checkpointing_enable", "5.23.0"
)
CHECKPOINTING_DISABLE = Rename(
    "transformers", "PreTrainedModel", "gradient_checkpointing_disable", "activation_checkpointing_disable", "5.23.0"
)
IS_CHECKPOINTING = Rename(
    "transformers", "PreTrainedModel", "is_gradient_checkpointing", "is_activation_checkpointing", "5.23.0"
)
RENAMES = (CHECKPOINTING_ARG, CHECKPOINTING_ENABLE, CHECKPOINTING_DISABLE, IS_CHECKPOINTING)

# SFTConfig fields whose first release is later than the oldest release a user could have: the versions that work.
# Every other field tunebench passes exists across the whole declared range (nox -s compat tests both ends).
FIELD_SINCE: dict[str, tuple[str, str]] = {
    "train_sampling_strategy": ("transformers", "5.2.0"),
    CHECKPOINTING_ARG.new: (CHECKPOINTING_ARG.package, CHECKPOINTING_ARG.since),
}


@dataclass(frozen=True)
class ApiProblem:
    """One name tunebench will use that the installed library lacks: which package, which version, what works."""

    package: str
    version: str
    missing: str
    works: str

    def describe(self) -> str:
        """Return the one-line error: package, version, the missing name and the versions that work."""
        return f"{self.package} {self.version} has no {self.missing}; versions that work: {self.works}"


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _declared(package: str) -> str:
    """Return tunebench's declared requirement on `package` (e.g. 'transformers>=5.2'), or the bare name."""
    try:
        for line in requires("tunebench") or []:
            name = line.split(";")[0].strip()
            base = name.split("[")[0]
            for op in ("==", ">=", "<=", "~=", "!=", ">", "<"):
                base = base.split(op)[0]
            if base.strip().lower() == package and "extra ==" not in line:
                return name.replace(" ", "")
    except PackageNotFoundError:
        pass
    return package


# --- gradient / activation checkpointing ------------------------------------------------------------------


def sft_config_fields() -> frozenset[str]:
    """Return the names `trl.SFTConfig(...)` accepts (its dataclass init fields, TrainingArguments' included)."""
    from trl import SFTConfig

    return frozenset(f.name for f in dataclasses.fields(SFTConfig) if f.init)


def checkpointing_arg() -> str:
    """Return the SFTConfig/TrainingArguments keyword that turns checkpointing on, as the installed version names it."""
    return CHECKPOINTING_ARG.new if CHECKPOINTING_ARG.new in sft_config_fields() else CHECKPOINTING_ARG.old


def _method(model: Any, rename: Rename) -> Any:
    return getattr(model, rename.new) if hasattr(type(model), rename.new) else getattr(model, rename.old)


def enable_checkpointing(model: Any, kwargs: Mapping[str, Any] | None = None) -> None:
    """Turn activation (gradient) checkpointing on with the installed transformers' own method name."""
    _method(model, CHECKPOINTING_ENABLE)(dict(kwargs) if kwargs is not None else None)


def disable_checkpointing(model: Any) -> None:
    """Turn activation (gradient) checkpointing off with the installed transformers' own method name."""
    _method(model, CHECKPOINTING_DISABLE)()


def is_checkpointing(model: Any) -> bool:
    """Return whether checkpointing is on, read through the installed transformers' own property name."""
    return bool(_method(model, IS_CHECKPOINTING))


@contextlib.contextmanager
def library_renames_quiet() -> Iterator[None]:
    """Silence the FutureWarnings transformers raises when peft or trl (not tunebench) use a renamed name.

    tunebench itself calls the installed names (above); peft's PeftModel and trl's trainer still read
    `is_gradient_checkpointing` and call `gradient_checkpointing_enable`, which a user cannot act on.
    Only these exact messages are silenced, only while the block runs.
    """
    with warnings.catch_warnings():
        for rename in RENAMES:
            warnings.filterwarnings("ignore", message=f"`{rename.old}` is deprecated", category=FutureWarning)
        yield


# --- trl's tokenized dataset ----------------------------------------------------------------------------------


def loss_tokens(dataset: Any, max_length: int) -> int:
    """Return the tokens the loss is computed on in trl's tokenized train dataset, whichever column trl keeps.

    trl 1.16 stores `labels` (-100 outside the completion); trl 1.0 stores `completion_mask` (1 on the completion)
    and builds the labels in its collator.
    """
    columns = dataset.column_names
    if "labels" in columns:
        return sum(sum(1 for x in labels[:max_length] if x != -100) for labels in dataset["labels"])
    if "completion_mask" in columns:
        return sum(sum(mask[:max_length]) for mask in dataset["completion_mask"])
    return 0


# --- probes: every name a training run passes, checked before any weight loads -------------------------------


def probe_sft_config(kwargs: Mapping[str, Any]) -> list[ApiProblem]:
    """Return a problem per keyword `trl.SFTConfig` would refuse, and per value it does not offer."""
    fields = sft_config_fields()
    problems = []
    for name in kwargs:
        if name in fields:
            continue
        package, since = FIELD_SINCE.get(name, ("trl", ""))
        works = f"{package}>={since}" if since else ""
        problems.append(
            ApiProblem(
                package,
                _installed(package),
                f"SFTConfig/TrainingArguments field '{name}' (trl {_installed('trl')})",
                works or f"{_declared('trl')} with {_declared('transformers')}, as `nox -s compat` tests",
            )
        )
    strategy = kwargs.get("train_sampling_strategy")
    if strategy is not None and "train_sampling_strategy" in fields:
        from trl import SFTConfig

        field = {f.name: f for f in dataclasses.fields(SFTConfig)}["train_sampling_strategy"]
        choices = field.metadata.get("choices")  # a mapping, empty where the field has none
        if choices is not None and strategy not in choices:
            problems.append(
                ApiProblem(
                    "transformers",
                    _installed("transformers"),
                    f"train_sampling_strategy={strategy!r} (offers {', '.join(map(repr, choices))})",
                    "transformers>=5.2.0",
                )
            )
    return problems


def probe_lora_config(kwargs: Mapping[str, Any]) -> list[ApiProblem]:
    """Return a problem per keyword `peft.LoraConfig` would refuse (use_dora, task_type, ...)."""
    from peft import LoraConfig

    fields = {f.name for f in dataclasses.fields(LoraConfig) if f.init}
    return [
        ApiProblem("peft", _installed("peft"), f"LoraConfig field '{name}'", _declared("peft"))
        for name in kwargs
        if name not in fields
    ]


def _probe_parameters(package: str, what: str, function: Any, names: tuple[str, ...]) -> list[ApiProblem]:
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []  # **kwargs takes any name: nothing to probe by signature
    return [
        ApiProblem(package, _installed(package), f"{what} parameter '{name}'", _declared(package))
        for name in names
        if name not in params
    ]


def probe_training_apis(
    sft_kwargs: Mapping[str, Any],
    lora_kwargs: Mapping[str, Any],
    trainer_kwargs: tuple[str, ...],
    quantized: bool = False,
) -> list[ApiProblem]:
    """Return every API problem a training run would meet; imports trl, peft and transformers, loads no weights."""
    from peft import PeftModel, prepare_model_for_kbit_training
    from transformers import PreTrainedModel
    from trl import SFTTrainer

    problems = [*probe_sft_config(sft_kwargs), *probe_lora_config(lora_kwargs)]
    problems += _probe_parameters("trl", "SFTTrainer", SFTTrainer.__init__, trainer_kwargs)
    problems += _probe_parameters("peft", "PeftModel.from_pretrained", PeftModel.from_pretrained, ("is_trainable",))
    if quantized:
        problems += _probe_parameters(
            "peft", "prepare_model_for_kbit_training", prepare_model_for_kbit_training, ("use_gradient_checkpointing",)
        )
    for rename in (CHECKPOINTING_ENABLE, CHECKPOINTING_DISABLE):
        if not (hasattr(PreTrainedModel, rename.new) or hasattr(PreTrainedModel, rename.old)):
            problems.append(
                ApiProblem(
                    "transformers",
                    _installed("transformers"),
                    f"PreTrainedModel.{rename.new} (or {rename.old})",
                    _declared("transformers"),
                )
            )
    return problems


# --- what makes a training step fast, where it is installed ---------------------------------------------------


def flash_attention_2_available() -> bool:
    """Return whether transformers can run `attn_implementation="flash_attention_2"` here (flash-attn and CUDA)."""
    from transformers.utils import is_flash_attn_2_available

    return bool(is_flash_attn_2_available())


def liger_kernel_available() -> bool:
    """Return whether liger-kernel can run here: the package and Triton installed, and a CUDA device to run on."""
    import importlib.util

    if importlib.util.find_spec("liger_kernel") is None or importlib.util.find_spec("triton") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def trl_fuses_lm_head() -> bool:
    """Return whether the installed trl computes the SFT loss through its own fused LM head.

    trl 1.16's SFTTrainer patches the model (`trl.trainer.utils.add_fused_lm_head`) so that only the positions
    with a label go through the LM head, in tiles, never materializing the (batch, length, vocab) logits;
    trl 1.0-1.9 compute the full logits and the model's own cross-entropy.
    """
    try:
        from trl.trainer import utils
    except ImportError:
        return False
    return hasattr(utils, "add_fused_lm_head")
