"""What a training run ran on: the device, its GPUs, the CPU and memory, the process count and the machine's name."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from tunebench.history.training_parts import Hardware

__all__ = ["describe_hardware", "vm_name", "vm_identity", "GCE_METADATA"]


def describe_hardware(device: str) -> Hardware:
    """Return what the run trained on: GPU name, count and memory, or the CPU; the process count; the machine."""
    import psutil
    import torch

    info: dict[str, Any] = {
        "device": device,
        "gpu_name": None,
        "gpu_count": 0,
        "gpu_memory_bytes": None,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
    info["vm"], info["vm_source"] = vm_identity()  # the source: the log says "(hostname)" for a machine's own name
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu_name=props.name, gpu_count=torch.cuda.device_count(), gpu_memory_bytes=props.total_memory)
    return Hardware.from_dict(info)


# GCE's metadata server; TUNEBENCH_GCE_METADATA replaces the address ("" turns the lookup off).
GCE_METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/name"


def vm_name() -> str:
    """The machine's name for the log's VM column: $TUNEBENCH_VM, else the GCE instance name, else the hostname."""
    return vm_identity()[0]


def vm_identity() -> tuple[str, str]:
    """The machine's name and where it came from: ($TUNEBENCH_VM, "TUNEBENCH_VM"), (the GCE instance name, "gce")
    or (the hostname, "hostname").

    The metadata server is asked only on a GCE machine (its DMI product name says so) or when
    $TUNEBENCH_GCE_METADATA names an address, with a 1-second timeout.
    """
    if os.environ.get("TUNEBENCH_VM"):
        return os.environ["TUNEBENCH_VM"], "TUNEBENCH_VM"
    address = os.environ.get("TUNEBENCH_GCE_METADATA")
    if address is None and _on_gce():
        address = GCE_METADATA
    if address:
        import urllib.request

        request = urllib.request.Request(address, headers={"Metadata-Flavor": "Google"})
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:
                name = response.read(256).decode("utf-8", "replace").strip()
            if name:
                return name, "gce"
        except OSError:
            pass  # not answering: the hostname will do
    return platform.node() or "unknown", "hostname"


def _on_gce() -> bool:
    try:
        return "Google" in Path("/sys/class/dmi/id/product_name").read_text(encoding="utf-8")
    except OSError:
        return False
