"""How close a run ran to the hardware: MFU for training, decode ms/token against the bandwidth floor.

A device's peak comes from a table of known GPUs (dense bf16 TFLOP/s and HBM bandwidth, the vendors' data
sheets) or, on a CPU or an unknown GPU, from a measurement in the same process: a float32 matmul for FLOP/s
and a large tensor copy for bandwidth. Model FLOPs per trained token follow the PaLM appendix B convention,
6N + 12·L·H·T (N the matmul parameters, L layers, H the attention width, T the sequence length), so MFU
is comparable with published figures; it counts no recomputation (gradient checkpointing lowers MFU).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunebench.memory.estimate import ModelShape
from tunebench.units import DASH, format_ms, format_percent

if TYPE_CHECKING:
    from tunebench.history.typed import EvalRecordData

__all__ = [
    "DevicePeak",
    "GPU_PEAKS",
    "device_peak",
    "matmul_parameters",
    "train_flops_per_token",
    "mfu",
    "decode_floor_ms",
    "dora_dropout_flops_ratio",
    "format_mfu",
    "decode_floor",
    "weights_decode_floor",
    "describe_decode",
    "decode_line",
]

# name fragment (lower case, as torch.cuda.get_device_name reports it) -> (dense bf16 TFLOP/s, HBM TB/s).
# More specific fragments first: "h100 nvl" before "h100".
GPU_PEAKS: dict[str, tuple[float, float]] = {
    "h200": (989.0, 4.8),
    "h100 nvl": (835.0, 3.9),
    "h100 pcie": (756.0, 2.0),
    "h100": (989.0, 3.35),
    "a100-sxm4-80gb": (312.0, 2.039),
    "a100 80gb pcie": (312.0, 1.935),
    "a100": (312.0, 1.555),
    "l40s": (362.0, 0.864),
    "l4": (121.0, 0.3),
}


@dataclass(frozen=True)
class DevicePeak:
    """A device's peak FLOP/s and memory bandwidth, and where the figures come from ("table" or "measured")."""

    name: str
    flops: float
    bandwidth: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        """Return the record's `peak` part."""
        return {"device": self.name, "flops": self.flops, "bandwidth_bytes_s": self.bandwidth, "source": self.source}


_MEASURED: dict[str, DevicePeak] = {}


def device_peak(device: str = "cpu", gpu_name: str | None = None) -> DevicePeak:
    """Return the peak of a GPU named in the table, else one measured here (cached for the process)."""
    if gpu_name:
        lowered = gpu_name.lower()
        for fragment, (tflops, tbs) in GPU_PEAKS.items():
            if fragment in lowered:
                return DevicePeak(gpu_name, tflops * 1e12, tbs * 1e12, "table")
    key = gpu_name or device
    if key not in _MEASURED:
        _MEASURED[key] = _measure(device, key)
    return _MEASURED[key]


def _measure(device: str, name: str) -> DevicePeak:
    """Measure matmul FLOP/s and copy bandwidth on `device` (best of a few short rounds: the least disturbed)."""
    import torch

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    n = 4096 if device.startswith("cuda") else 512
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    source = torch.empty(32 * 2**20 // 4, device=device)  # 32 MiB: beyond a CPU's last-level cache
    target = torch.empty_like(source)
    flops = 2 * n**3 / _best(lambda: torch.mm(a, b), device)
    # A copy reads and writes every byte once.
    bandwidth = 2 * source.numel() * 4 / _best(lambda: target.copy_(source), device)
    return DevicePeak(name, flops, bandwidth, "measured")


def _best(fn: Any, device: str, rounds: int = 5) -> float:
    import torch

    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_parameters(shape: ModelShape) -> int:
    """Return the weights a token's forward pass multiplies by: every layer's projections and the LM head."""
    per_layer = sum(fan_in * fan_out for fan_in, fan_out in shape.projections().values())
    return shape.layers * per_layer + shape.vocab * shape.hidden


def train_flops_per_token(shape: ModelShape, seq_len: float) -> float:
    """Return model FLOPs to train one token at this sequence length: 6N + 12·L·H·T (PaLM, appendix B)."""
    return 6 * matmul_parameters(shape) + 12 * shape.layers * shape.heads * shape.head_dim * seq_len


def mfu(shape: ModelShape, seq_len: float, tokens_per_s: float, peak: DevicePeak, devices: int = 1) -> float:
    """Return model FLOPs utilisation: achieved model FLOP/s over the devices' peak."""
    return train_flops_per_token(shape, seq_len) * tokens_per_s / (peak.flops * devices)


def decode_floor_ms(weight_bytes: float, peak: DevicePeak) -> float:
    """Return the memory-bandwidth floor of one decoded token: every weight read once, in milliseconds."""
    return weight_bytes / peak.bandwidth * 1e3


def dora_dropout_flops_ratio(shape: ModelShape, target_modules: tuple[str, ...] | list[str]) -> float:
    """Return a DoRA step's matmul FLOPs with dropout > 0 over those with dropout 0, attention left out.

    With dropout PEFT multiplies the dropped input by each adapted base weight again (forward, and its input
    gradient backward), so the extra work is the adapted projections' share of all the matmul weights.
    """
    adapted = sum(
        fan_in * fan_out for name, (fan_in, fan_out) in shape.projections().items() if name in set(target_modules)
    )
    return 1 + shape.layers * adapted / matmul_parameters(shape)


def format_mfu(efficiency: Any) -> str:
    """Return a phase's MFU for a table: "12.3% (table)" or "0.8% (measured)"; "—" when not recorded."""
    if not isinstance(efficiency, Mapping) or efficiency.get("mfu") is None:
        return DASH
    return f"{format_percent(efficiency['mfu'])} ({efficiency['peak']['source']})"


def decode_floor(model: Any, device: str) -> dict[str, Any]:
    """Return the eval record's `model.decode_floor`: the weights' bytes, the device peak, the floor in ms."""
    import torch

    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return weights_decode_floor(weight_bytes, device, gpu)


def weights_decode_floor(weight_bytes: int, device: str, gpu_name: str | None) -> dict[str, object]:
    """Return the record's `model.decode_floor` of `weight_bytes` decoded on `device` (`gpu_name`: its GPU): the
    one shape both writers give it (`decode_floor` in process, `engines.served_floor` for a server of ours)."""
    peak = device_peak(device, gpu_name)
    return {"weight_bytes": weight_bytes, "floor_ms": decode_floor_ms(weight_bytes, peak), "peak": peak.as_dict()}


def describe_decode(floor: Any, median_s: float | None) -> str | None:
    """Return "decode 12.3 ms/token (median), 2.0x the memory-bandwidth floor 6.2 ms (weights / table bandwidth)".

    A floor recorded as unknown (a served model whose server is not ours: `{"unknown": why}`) is said with its
    reason; None when neither a floor nor a reason was recorded, or a floor without a decode time.
    Times are written as every time per token is (tunebench.units.format_ms).
    """
    if isinstance(floor, Mapping) and floor.get("unknown"):
        decode = "decode" if median_s is None else f"decode {format_ms(median_s)}/token (median);"
        return f"{decode} memory-bandwidth floor unknown: {floor['unknown']}"
    if not isinstance(floor, Mapping) or median_s is None or not floor.get("floor_ms"):
        return None
    return (
        f"decode {format_ms(median_s)}/token (median), {median_s * 1000 / floor['floor_ms']:.1f}x the "
        f"memory-bandwidth floor {format_ms(floor['floor_ms'] / 1000)} (weights / {floor['peak']['source']} bandwidth)"
    )


def decode_line(run: EvalRecordData) -> str | None:
    """Return an eval record's decode-vs-floor line (median time per output token), or None if not recorded.

    `run` is typed (tunebench.history.typed, imported only for the annotation: history imports engines, which
    import this module); a part or key the record lacks reads as ABSENT, which is falsy."""
    floor = run.model.decode_floor if run.model else None
    tpot = run.aggregates.time_per_output_token_s if run.aggregates else None
    median = tpot.p50 if tpot else None
    return describe_decode(floor or None, median if isinstance(median, int | float) else None)
