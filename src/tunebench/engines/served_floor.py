"""A served model's decode floor: what can be known of the weights a server decodes with, and of its hardware.

In process, the floor is the loaded weights' bytes over the device's bandwidth (`tunebench.efficiency`).
A server only says what it serves (`/v1/models`: the `root` it loaded, and where it says so its dtype). The
floor is recorded only when the server is ours: the endpoint is this machine (loopback) and the root is a
folder here with safetensors weights. The weights' bytes are then read from the safetensors headers (the
tensors' shapes, at the dtype the server computes in, else as stored), and the hardware is this machine's:
its GPU from the table when it has one, else the CPU's bandwidth measured in this process. Otherwise the
record says in words why the floor is unknown (`{"unknown": "..."}`), never a guess.
"""

from __future__ import annotations

import ipaddress
import json
import math
import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["served_decode_floor", "safetensors_weight_bytes"]

# safetensors dtype names and torch dtype names (as a server reports them) -> bytes per element.
_ITEMSIZE = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "F8_E4M3": 1, "F8_E5M2": 1,
    "float64": 8, "float32": 4, "float16": 2, "half": 2, "bfloat16": 2, "float": 4,
}  # fmt: skip
_MAX_HEADER = 100 * 2**20  # a safetensors header is JSON of names and shapes: far smaller than this


def served_decode_floor(
    endpoint: str, root: str | None, dtype: str | None, adapter: str | None = None
) -> dict[str, object]:
    """Return the record's `model.decode_floor` for a served model: the floor, or `{"unknown": why}`.

    An adapter served unmerged (vLLM's LoRA) is read at every step too: its folder's weights count when it is here.
    """
    if not _is_loopback(endpoint):
        return {"unknown": f"served at {endpoint}, not on this machine: its weights and hardware are not known here"}
    folder = Path(root) if root else None
    if folder is None or not folder.is_dir():
        return {"unknown": f"the server's weights ({root or 'no root given'}) are not a folder on this machine"}
    weight_bytes = safetensors_weight_bytes(folder, dtype)
    if weight_bytes is None:
        return {"unknown": f"the server's weights folder {folder} holds no readable safetensors files"}
    if adapter:
        extra = safetensors_weight_bytes(Path(adapter), dtype) if Path(adapter).is_dir() else None
        if extra is None:
            return {"unknown": f"the served adapter's weights ({adapter}) are not a safetensors folder on this machine"}
        weight_bytes += extra
    from tunebench.efficiency import weights_decode_floor

    return weights_decode_floor(weight_bytes, *_this_machine())


def safetensors_weight_bytes(folder: Path, dtype: str | None = None) -> int | None:
    """Return the bytes of the weights in `folder`'s *.safetensors at `dtype` (else as stored); None if none.

    Only the headers are read (the tensors' dtypes and shapes), never the weights themselves.
    """
    total, found = 0, False
    for path in sorted(folder.glob("*.safetensors")):
        header = _header(path)
        if header is None:
            return None
        try:
            for name, tensor in header.items():
                if name != "__metadata__":
                    size = _ITEMSIZE.get(dtype or "", 0) or _ITEMSIZE.get(tensor["dtype"], 0)
                    total += math.prod(int(n) for n in tensor["shape"]) * size
                    found = True
        except (KeyError, TypeError, ValueError):  # a header of another shape: not weights we can count
            return None
    return total if found else None


def _header(path: Path) -> dict[str, Any] | None:
    """The safetensors header of `path` (8 bytes of little-endian length, then JSON), or None if unreadable."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER:
                return None
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def _is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _this_machine() -> tuple[str, str | None]:
    """(device, GPU name) of this machine, as a server started here would use it: its first GPU, else the CPU."""
    try:
        import torch
    except ImportError:
        return "cpu", None
    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0)
    return "cpu", None
