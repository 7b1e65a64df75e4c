"""Guarantees only real GCS can show: opt-in with TUNEBENCH_TEST_GCS_BUCKET=<a bucket you can write>.

fake-gcs-server ignores `ifGenerationMatch` on resumable uploads and never checks an uploaded crc32c, so
these run against a real bucket (default credentials, objects under `tunebench-tests/<random>/`,
deleted afterwards) and are skipped otherwise.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tunebench.errors import ConflictError, StorageError
from tunebench.storage import TransferSettings
from tunebench.storage.checksums import FileDigest, file_digest
from tunebench.storage.gcs import make_client, write_object

BUCKET = os.environ.get("TUNEBENCH_TEST_GCS_BUCKET")
pytestmark = [
    pytest.mark.skipif(
        not BUCKET,
        reason="needs real GCS (fake-gcs-server ignores create-only on resumable uploads and never "
        "rejects a bad crc32c): set TUNEBENCH_TEST_GCS_BUCKET to a writable bucket",
    ),
    pytest.mark.network,  # real GCS is off this machine: the session's network guard lets these out
]

SETTINGS = TransferSettings(chunk_size=4 * 1024 * 1024, progress=False)


@pytest.fixture
def real(monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    bucket = make_client().bucket(BUCKET)
    prefix = f"tunebench-tests/{uuid.uuid4().hex}"
    yield bucket, prefix
    for blob in bucket.list_blobs(prefix=prefix):
        blob.delete()


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "shard.bin"
    path.write_bytes(os.urandom(9 * 1024 * 1024))  # above the client's 8 MiB single-request limit
    return path


def test_resumable_upload_over_8_mib_is_create_only_on_real_gcs(real, big_file):
    bucket, prefix = real
    digest = file_digest(big_file)
    write_object(bucket, f"{prefix}/shard.bin", big_file, digest, SETTINGS, if_generation_match=0)
    other = big_file.with_name("other.bin")
    other.write_bytes(os.urandom(9 * 1024 * 1024))
    with pytest.raises(ConflictError):
        write_object(bucket, f"{prefix}/shard.bin", other, file_digest(other), SETTINGS, if_generation_match=0)
    assert bucket.get_blob(f"{prefix}/shard.bin").crc32c == digest.crc32c


def test_server_rejects_an_upload_whose_crc32c_does_not_match_on_real_gcs(real, big_file):
    bucket, prefix = real
    digest = file_digest(big_file)
    wrong = FileDigest(digest.size, "AAAAAA==", digest.sha256)
    with pytest.raises(StorageError):
        write_object(bucket, f"{prefix}/bad.bin", big_file, wrong, SETTINGS, if_generation_match=0)
    assert bucket.get_blob(f"{prefix}/bad.bin") is None
