"""Pull throughput and bytes moved, against a plain `blob.download_to_filename` of the same objects.

Six 8 MiB shards (a small copy of the 6-shard base model) are pushed once to a fake-gcs-server. Each
round of the baseline downloads them one by one with the plain client into a fresh folder (the client
checks each object's crc32c); each round of the cold pull runs `pull_folder` into an empty cache
(manifest read, parallel generation-pinned downloads, crc32c + sha256 checks, rename). The warm pull is
a second pull into a full cache: it should move only the manifest. Bytes on the wire are counted by the
loopback proxy of the tests.

Two goals. `pull`: the cold pull against the plain client alone, <= 1x. `pull-verified`: against the
plain client plus what it leaves out and a pull does, the sha256 of each file against the manifest
(`hashlib.file_digest` of the downloaded file: what a user would add for the same guarantee), <= 1x.
The first is out of reach whenever the machine's cores are busy: a pull hashes every byte with sha256
as well (about 35 ms of CPU per 48 MiB here, ~25% of the plain download's time), and hides that only
where a spare core runs it beside the download. Both cold rows are interleaved with their baseline.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path

import pytest

from tunebench.storage import TransferSettings, pull_folder, push_folder

pytest_plugins = ["tests.gcs_server"]

SHARDS, SHARD_MIB = 6, 8
SETTINGS = TransferSettings(progress=False)


@pytest.fixture(scope="module")
def published(gcs_emulator, tmp_path_factory):
    """(uri, bucket, object names, total bytes) of the pushed shards; env points at the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
        client = storage.Client(project="bench", credentials=AnonymousCredentials())
        bucket = client.create_bucket(f"bench-{uuid.uuid4().hex[:12]}")
        folder = tmp_path_factory.mktemp("shards")
        for i in range(SHARDS):
            (folder / f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors").write_bytes(os.urandom(SHARD_MIB << 20))
        (folder / "config.json").write_text('{"model_type": "qwen2"}')
        report = push_folder(folder, f"gs://{bucket.name}/base", name="bench", settings=SETTINGS)
        objects = [f"base/{f.object}" for f in report.manifest.files]
        yield f"gs://{bucket.name}/base", bucket, objects, report.manifest.total_size


def _fresh(root: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=root))


def _plain_download(bucket, objects: list[str], root: Path) -> None:
    dest = _fresh(root)
    for name in objects:
        bucket.blob(name).download_to_filename(str(dest / name.rsplit("/", 1)[-1]))


def _plain_download_and_sha256(bucket, objects: list[str], root: Path) -> None:
    """The plain client, then each file's sha256 read back (the check a pull does that the client does not)."""
    dest = _fresh(root)
    for name in objects:
        path = dest / name.rsplit("/", 1)[-1]
        bucket.blob(name).download_to_filename(str(path))
        with open(path, "rb") as handle:
            hashlib.file_digest(handle, "sha256").hexdigest()


def _bytes_moved(url: str, action) -> int:
    """Run `action` with the client talking through a counting proxy; return the body bytes it received."""
    from tests.gcs_server import FaultProxy

    proxy = FaultProxy(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
            action()
        return proxy.body_bytes
    finally:
        proxy.stop()


def test_pull_baseline_plain_download_to_filename(
    paired_benchmark, benchmark, published, gcs_emulator, tmp_path, monkeypatch
):
    uri, bucket, objects, total = published
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    paired_benchmark(_plain_download, bucket, objects, tmp_path, side="baseline", group="pull", rounds=5)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    def plain_through_proxy() -> None:
        client = storage.Client(project="bench", credentials=AnonymousCredentials())
        _plain_download(client.bucket(bucket.name), objects, tmp_path)

    moved = _bytes_moved(gcs_emulator.url, plain_through_proxy)
    _record_bytes(benchmark, moved, total)


def test_pull_cold_cache(paired_benchmark, benchmark, published, gcs_emulator, tmp_path, monkeypatch):
    uri, bucket, objects, total = published
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    paired_benchmark(
        lambda: pull_folder(uri, settings=SETTINGS, cache_root=_fresh(tmp_path)),
        side="tunebench",
        group="pull",
        goal="<= 1.0",
        goal_note="pull throughput >= the plain client's",
        rounds=7,
        interleave=lambda: _plain_download(bucket, objects, tmp_path),
    )
    moved = _bytes_moved(gcs_emulator.url, lambda: pull_folder(uri, settings=SETTINGS, cache_root=_fresh(tmp_path)))
    _record_bytes(benchmark, moved, total)
    assert moved >= total  # every byte arrived (the manifest comes on top)


def test_pull_verified_baseline_plain_download_and_sha256(
    paired_benchmark, published, gcs_emulator, tmp_path, monkeypatch
):
    _, bucket, objects, _ = published
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    paired_benchmark(
        _plain_download_and_sha256, bucket, objects, tmp_path, side="baseline", group="pull-verified", rounds=5
    )


def test_pull_cold_cache_vs_verified(paired_benchmark, published, gcs_emulator, tmp_path, monkeypatch):
    uri, bucket, objects, _ = published
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    paired_benchmark(
        lambda: pull_folder(uri, settings=SETTINGS, cache_root=_fresh(tmp_path)),
        side="tunebench",
        group="pull-verified",
        goal="<= 1.0",
        goal_note="pull vs plain client + sha256 of each file",
        rounds=7,
        interleave=lambda: _plain_download_and_sha256(bucket, objects, tmp_path),
    )


def test_pull_warm_cache(paired_benchmark, benchmark, published, gcs_emulator, tmp_path, monkeypatch):
    uri, _, _, total = published
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    pull_folder(uri, settings=SETTINGS, cache_root=tmp_path)
    report = paired_benchmark(pull_folder, uri, settings=SETTINGS, cache_root=tmp_path, side="tunebench", group="pull")
    assert report.downloaded == []
    moved = _bytes_moved(gcs_emulator.url, lambda: pull_folder(uri, settings=SETTINGS, cache_root=tmp_path))
    _record_bytes(benchmark, moved, total)
    assert moved < 4096  # the manifest only


def _record_bytes(benchmark, moved: int, total: int) -> None:
    benchmark.extra_info["bytes_moved"] = moved
    benchmark.extra_info["bytes_moved_per_payload_byte"] = round(moved / total, 4)
