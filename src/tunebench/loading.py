"""Load a registry model once: base weights, tokenizer, and its adapter merged for inference.

Checks run before any weights load: the base and adapter folders exist and hold what they must, and the
adapter's LoRA matrices fit the base's layer shapes (an adapter trained for another base is refused).

`read_location_config` is the one way to read a model's (or adapter's) config without its weights; doctor,
the training preflight and the memory estimates all use it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench import compat
from tunebench.config import Config, load_config
from tunebench.errors import LoadError
from tunebench.registry import TINY_BASE, ModelEntry, Registry
from tunebench.storage.checksums import file_sha256
from tunebench.storage.local import write_atomic

__all__ = [
    "LoadedModel",
    "load_model",
    "resolve_location",
    "base_location",
    "read_location_config",
    "read_folder_config",
    "check_adapter_fits",
    "content_hash",
    "pick_device_and_dtype",
]


@dataclass
class LoadedModel:
    """A model ready for inference or training, with where it came from and how long loading took."""

    entry: ModelEntry
    model: Any
    tokenizer: Any
    base_path: str
    adapter_path: str | None
    merged: bool
    device: str
    dtype: str
    load_seconds: float
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.name


def pick_device_and_dtype() -> tuple[str, Any]:
    """Return (device, torch dtype): cuda with bf16 where supported, else fp32 on the CPU."""
    import torch

    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return "cuda", dtype
    return "cpu", torch.float32


def resolve_location(location: str, registry: Registry) -> str:
    """Return a local folder (or hub id) for a registry location, fetching `gs://` and building `tiny`."""
    if location == TINY_BASE:
        from tunebench.tiny import tiny_path

        return str(tiny_path())
    if location.startswith("gs://"):
        from tunebench.storage import fetch_model_folder

        return str(fetch_model_folder(location, registry.config))
    return registry.resolve_local(location)


def base_location(model: str, registry: Registry) -> str:
    """Return the base a recipe's `model` names: a registry model's base, else `model` itself (path, gs://, hub id)."""
    return registry.get(model).base if model in registry else model


def read_location_config(location: str, registry: Registry, file_name: str = "config.json") -> dict[str, Any]:
    """Return the JSON file `file_name` of the model or adapter at `location`; no weights are read or fetched.

    `tiny`: its built folder. A local folder: its file. `gs://`: the newest pulled copy in the cache, else
    the published object alone, checked against its manifest. A hub id: the local hub cache only (nothing
    is downloaded). LoadError names the location and what is missing.
    """
    if location == TINY_BASE:
        from tunebench.tiny import tiny_path

        return read_folder_config(tiny_path(), file_name)
    if location.startswith("gs://"):
        return _read_gcs_config(location, file_name, registry)
    local = registry.resolve_local(location)
    if Path(local).is_dir():
        return read_folder_config(local, file_name)
    from huggingface_hub import snapshot_download

    try:  # a hub id already in the local hub cache
        folder = snapshot_download(local, allow_patterns=["*.json"], local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises several unrelated types here
        raise LoadError(f"{location}: not a local folder and not in the hub cache ({exc})") from None
    return read_folder_config(folder, file_name)


def read_folder_config(folder: str | Path, file_name: str = "config.json") -> dict[str, Any]:
    """Return the JSON file `file_name` of a local model folder as a dict."""
    path = Path(folder) / file_name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError(f"{path}: cannot read the model config ({exc.strerror})") from None
    return _parse_config(text, str(path))


def _read_gcs_config(location: str, file_name: str, registry: Registry) -> dict[str, Any]:
    from tunebench.errors import StorageError
    from tunebench.storage.cache import cached_file
    from tunebench.storage.remote import read_published_file

    pulled = cached_file(location, file_name)
    if pulled is not None:
        return read_folder_config(pulled.parent, file_name)
    try:
        data = read_published_file(location, file_name)
    except StorageError as exc:
        raise LoadError(
            f"{location}: no pulled copy with {file_name} in the cache, and the published {file_name} "
            f"could not be read ({exc}); or pull the model once: tunebench models pull {_puller(location, registry)}"
        ) from None
    return _parse_config(data.decode("utf-8", errors="replace"), f"{location.rstrip('/')}/{file_name}")


def _puller(location: str, registry: Registry) -> str:
    """Return the registry model `models pull` fetches `location` with: the one whose adapter it is, else the base's
    own entry (a base shared by several adapters is pulled once), else NAME."""
    entries = registry.entries()
    for names in (
        [e.name for e in entries if e.adapter == location],
        [e.name for e in entries if e.base == location and not e.adapter],
    ):
        if len(names) == 1:
            return names[0]
    return "NAME"


def _parse_config(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"{where}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise LoadError(f"{where}: expected a JSON object, found {type(data).__name__}")
    return data


def load_model(
    model: str | ModelEntry,
    config: Config | None = None,
    *,
    merge: bool = True,
    device: str | None = None,
    dtype: Any = None,
    with_hashes: bool = False,
) -> LoadedModel:
    """Load a registry model (name or entry) with its tokenizer; merge its adapter unless `merge=False`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = config or load_config()
    registry = Registry(config)
    entry = model if isinstance(model, ModelEntry) else registry.get(model)
    start = time.perf_counter()
    base_path = resolve_location(entry.base, registry)
    _require_model_folder(base_path, entry)
    adapter_path = resolve_location(entry.adapter, registry) if entry.adapter else None
    base_config = AutoConfig.from_pretrained(base_path)
    if adapter_path:
        check_adapter_fits(base_config, Path(adapter_path), entry.name)
    auto_device, auto_dtype = pick_device_and_dtype()
    device, dtype = device or auto_device, dtype or auto_dtype
    tokenizer = AutoTokenizer.from_pretrained(adapter_path if _has_tokenizer(adapter_path) else base_path)
    weights = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype).to(device)
    merged = False
    if adapter_path:
        from peft import PeftModel

        with compat.library_renames_quiet():  # peft reads transformers' renamed is_gradient_checkpointing
            weights = PeftModel.from_pretrained(weights, adapter_path)
        if merge:
            # Unmerged DoRA recomputes weight norms every forward pass: tens of times slower to generate.
            weights = weights.merge_and_unload()
            merged = True
    weights.eval()
    load_seconds = time.perf_counter() - start  # hashing below is provenance, not loading
    hashes = {}
    if with_hashes:
        hashes = {"base": content_hash(base_path)}
        if adapter_path:
            hashes["adapter"] = content_hash(adapter_path)
    return LoadedModel(
        entry,
        weights,
        tokenizer,
        base_path,
        adapter_path,
        merged,
        str(device),
        str(dtype).removeprefix("torch."),
        load_seconds,
        hashes,
    )


def _has_tokenizer(folder: str | None) -> bool:
    if not folder:
        return False
    return Path(folder, "tokenizer_config.json").is_file()


def _require_model_folder(path: str, entry: ModelEntry) -> None:
    folder = Path(path)
    if folder.is_absolute() or folder.exists():
        if not (folder / "config.json").is_file():
            raise LoadError(
                f"model {entry.name!r}: base {entry.base!r} -> {folder}: no config.json there "
                "(expected a folder written by save_pretrained)"
            )


def check_adapter_fits(base_config: Any, adapter_dir: Path, name: str = "?") -> None:
    """Raise LoadError unless the adapter's LoRA matrices fit the base model's projection shapes."""
    adapter_config = adapter_dir / "adapter_config.json"
    if not adapter_config.is_file():
        raise LoadError(f"model {name!r}: adapter {adapter_dir}: no adapter_config.json (not a PEFT adapter)")
    weights = next(iter(sorted(adapter_dir.glob("adapter_model*.safetensors"))), None)
    if weights is None:
        raise LoadError(f"model {name!r}: adapter {adapter_dir}: no adapter_model.safetensors")
    expected = _projection_shapes(base_config)
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as tensors:
        for key in tensors.keys():
            problem = _shape_problem(key, tensors.get_slice(key).get_shape(), expected, base_config)
            if problem:
                raise LoadError(
                    f"model {name!r}: adapter {adapter_dir} does not fit base "
                    f"{getattr(base_config, '_name_or_path', '?')}: {problem}"
                )


def _projection_shapes(cfg: Any) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of each Qwen2/Llama-style projection."""
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv = cfg.num_key_value_heads * head_dim
    hidden, inter = cfg.hidden_size, cfg.intermediate_size
    return {
        "q_proj": (hidden, cfg.num_attention_heads * head_dim),
        "k_proj": (hidden, kv),
        "v_proj": (hidden, kv),
        "o_proj": (cfg.num_attention_heads * head_dim, hidden),
        "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
    }


def _shape_problem(key: str, shape: list[int], expected: dict[str, tuple[int, int]], cfg: Any) -> str | None:
    parts = key.split(".")
    if "layers" in parts:
        layer = int(parts[parts.index("layers") + 1])
        if layer >= cfg.num_hidden_layers:
            return f"{key} is for layer {layer}, the base has {cfg.num_hidden_layers} layers"
    module = next((p for p in parts if p in expected), None)
    if module is None:
        return None
    fan_in, fan_out = expected[module]
    if "lora_A" in parts and shape[-1] != fan_in:
        return f"{key} has in_features {shape[-1]}, the base's {module} has {fan_in}"
    if "lora_B" in parts and shape[0] != fan_out:
        return f"{key} has out_features {shape[0]}, the base's {module} has {fan_out}"
    return None


def content_hash(folder: str | Path) -> str:
    """Return a sha256 over the names and bytes of a model folder's files (config, weights, tokenizer)."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"unhashed:{folder}"  # a hub id served from the hub cache
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(_file_sha256(path).encode())
    return "sha256:" + digest.hexdigest()


def _file_sha256(path: Path) -> str:
    """sha256 of one file, remembered in the cache by (path, size, mtime, inode): a 28 GB base is read once."""
    from tunebench.tiny import cache_root

    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    memo = cache_root() / "file-hashes" / hashlib.sha256(key.encode()).hexdigest()
    if memo.is_file():
        return memo.read_text(encoding="ascii")
    digest = file_sha256(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(memo, digest)
    return digest
