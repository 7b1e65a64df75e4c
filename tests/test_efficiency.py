"""tunebench.efficiency: device peaks, model FLOPs, MFU, the decode floor and what DoRA dropout costs."""

from __future__ import annotations

import pytest

from tunebench.efficiency import (
    decode_floor_ms,
    device_peak,
    dora_dropout_flops_ratio,
    matmul_parameters,
    mfu,
    train_flops_per_token,
)
from tunebench.memory.estimate import ModelShape

QWEN2_5_14B = ModelShape(vocab=152064, hidden=5120, intermediate=13824, layers=48, heads=40, kv_heads=8, head_dim=128)
SEVEN = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_known_gpus_come_from_the_table_most_specific_name_first():
    h200 = device_peak("cuda", "NVIDIA H200")
    assert (h200.flops, h200.bandwidth, h200.source) == (989e12, 4.8e12, "table")
    assert device_peak("cuda", "NVIDIA H100 PCIe").flops == 756e12
    assert device_peak("cuda", "NVIDIA L4").flops == 121e12 and device_peak("cuda", "NVIDIA L40S").flops == 362e12


def test_a_cpu_peak_is_measured_in_this_process_and_kept():
    peak = device_peak("cpu")
    assert peak.source == "measured" and peak.flops > 1e8 and peak.bandwidth > 1e8
    assert device_peak("cpu") is peak


def test_mfu_reproduces_the_issue_24_h200_lora_figure():
    # issue 24: LoRA r16 at batch 1 x 2048 on one H200 trained 2,850 tokens/s, MFU 25.5%.
    value = mfu(QWEN2_5_14B, 2048, 2850, device_peak("cuda", "NVIDIA H200"))
    assert value == pytest.approx(0.255, abs=0.01)
    assert train_flops_per_token(QWEN2_5_14B, 0) == 6 * matmul_parameters(QWEN2_5_14B)


def test_decode_floor_is_weight_bytes_over_bandwidth():
    # issue 24: Qwen2.5-14B in bf16 on an H200 decodes no faster than 6.15 ms a token.
    weights = 2 * (matmul_parameters(QWEN2_5_14B) + QWEN2_5_14B.vocab * QWEN2_5_14B.hidden)
    assert decode_floor_ms(weights, device_peak("cuda", "NVIDIA H200")) == pytest.approx(6.15, rel=0.03)


def test_dora_dropout_doubles_the_adapted_matmuls_only():
    assert dora_dropout_flops_ratio(QWEN2_5_14B, SEVEN) == pytest.approx(1.94, abs=0.01)
    assert dora_dropout_flops_ratio(QWEN2_5_14B, ()) == 1
    assert 1.1 < dora_dropout_flops_ratio(QWEN2_5_14B, ("q_proj", "v_proj")) < 1.12  # 31M of 290M a layer


def test_decode_floor_of_a_loaded_model_counts_its_weight_bytes_and_the_line_says_how_far(tiny_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from tunebench.efficiency import decode_floor, decode_line
    from tunebench.history.typed import EvalRecordData
    from tunebench.units import format_ms

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.bfloat16)
    floor = decode_floor(model, "cpu")
    assert floor["weight_bytes"] == 2 * sum(p.numel() for p in model.parameters())

    def run(model, aggregates):  # the parts decode_line reads, typed as a record's are
        return EvalRecordData.from_dict({"kind": "eval", "model": model, "aggregates": aggregates}, partial=True)

    tpot = {"time_per_output_token_s": {"n": 3, "p50": 0.01}}
    ratio = 10 / floor["floor_ms"]
    assert decode_line(run({"decode_floor": floor}, tpot)) == (
        f"decode 10.0 ms/token (median), {ratio:.1f}x the memory-bandwidth floor {format_ms(floor['floor_ms'] / 1000)} "
        "(weights / measured bandwidth)"
    )
    assert decode_line(run({}, {})) is None  # a served model: no weights here, no floor
    assert decode_line(run({"decode_floor": floor}, {})) is None  # a floor without a decode time
