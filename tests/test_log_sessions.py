"""The log's Training Sessions section (report/log_sessions.py): what each measured session's rows say."""

from __future__ import annotations

import platform

import pytest
from record_factory import training_record

from tunebench.history.records import validate
from tunebench.report.markdown import render_log
from tunebench.training.hardware import describe_hardware


def _vm_row(record) -> str:
    return next(line for line in render_log([record]).splitlines() if line.startswith("| **VM** |"))


@pytest.mark.parametrize(
    ("env", "row"),
    [
        # A machine named "vm" read "| **VM** | vm |": the hostname under the VM label, like a placeholder.
        ({}, f"| **VM** | {platform.node()} (hostname) |"),
        ({"TUNEBENCH_VM": "elson-h100-spot"}, "| **VM** | elson-h100-spot |"),
    ],
)
def test_the_vm_row_says_when_the_name_is_only_the_hostname(monkeypatch, env, row):
    monkeypatch.delenv("TUNEBENCH_VM", raising=False)
    monkeypatch.setenv("TUNEBENCH_GCE_METADATA", "")  # no metadata server lookup
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    record = training_record("run-train-vm", "tiny-dora")
    record["hardware"] = describe_hardware("cpu").to_dict()
    validate(record)
    assert record["hardware"]["vm_source"] == ("TUNEBENCH_VM" if env else "hostname")
    assert _vm_row(record) == row


def test_an_older_record_without_the_vm_source_shows_its_vm_as_written():
    record = training_record("run-train-old", "tiny-dora")
    record["hardware"] = {**record.get("hardware", {}), "vm": "elson-h100-spot"}
    record["hardware"].pop("vm_source", None)
    assert _vm_row(record) == "| **VM** | elson-h100-spot |"
