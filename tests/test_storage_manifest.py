"""Locations, manifests and checksums: what a push records and what a pull trusts (no server needed)."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib

import pytest

from tunebench.errors import StorageError
from tunebench.storage.checksums import crc32c_b64, file_digest
from tunebench.storage.location import GcsLocation
from tunebench.storage.manifest import Manifest, ManifestFile
from tunebench.storage.transfer import TransferSettings, format_size

GOOD_FILE = ManifestFile(
    name="model-00001-of-00006.safetensors",
    object="objects/p1/model-00001-of-00006.safetensors",
    size=3,
    crc32c="AAAAAA==",
    sha256="0" * 64,
    generation=17,
)


def _manifest(**changes) -> Manifest:
    return Manifest(
        **{
            "name": "base-14b",
            "version": 1,
            "push_id": "p1",
            "created_at": "2026-01-14T00:00:00Z",
            "files": (GOOD_FILE,),
            "status": "production",
            **changes,
        }
    )


@pytest.mark.parametrize(
    "uri, bucket, prefix",
    [
        (
            "gs://elson-33a95-elson-models/elson-finance-trading-14b-final/",
            "elson-33a95-elson-models",
            "elson-finance-trading-14b-final",
        ),
        ("gs://bkt", "bkt", ""),
        ("gs://bkt//a///b/", "bkt", "a/b"),
    ],
)
def test_gs_uri_parses_to_bucket_and_prefix(uri, bucket, prefix):
    location = GcsLocation.parse(uri)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert GcsLocation.parse(location.uri) == location


@pytest.mark.parametrize(
    "uri, message",
    [
        ("s3://bucket/x", "expected a gs://bucket/prefix URI"),
        ("gs://Bad_Bucket/x", "bucket name 'Bad_Bucket' is not valid"),
        ("gs://bk/x", "bucket name 'bk' is not valid"),
        ("gs://bucket/a/../b", "'.' and '..' are not allowed"),
    ],
)
def test_malformed_gs_uri_is_refused_with_the_reason(uri, message):
    with pytest.raises(StorageError, match=message):
        GcsLocation.parse(uri)


def test_manifest_round_trips_through_its_json():
    manifest = _manifest(previous_generation=5, notes="n")
    raw = manifest.to_json()
    data = json.loads(raw)
    assert data["format"] == "tunebench-manifest/1" and data["total_size"] == 3
    assert Manifest.from_json(raw, "gs://b/m/MANIFEST.json", generation=9) == manifest


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("files"), "key <top level>: 'files' is a required property"),
        (lambda d: d["files"][0].update(size=-1), "key files.0.size: -1 is less than the minimum of 0"),
        (lambda d: d["files"][0].update(crc32c="nope"), "key files.0.crc32c: 'nope' does not match"),
        (lambda d: d.update(format="other/9"), "key format: 'tunebench-manifest/1' was expected"),
        (
            lambda d: d["files"][0].update(name="../../.bashrc"),
            "file name '../../.bashrc' is not a plain relative path",
        ),
        (lambda d: d["files"].append(dict(d["files"][0])), "a file name appears twice"),
    ],
)
def test_malformed_manifest_names_the_uri_and_key(edit, message):
    data = json.loads(_manifest().to_json())
    edit(data)
    with pytest.raises(StorageError, match=message) as caught:
        Manifest.from_json(json.dumps(data).encode(), "gs://b/m/MANIFEST.json")
    assert str(caught.value).startswith("gs://b/m/MANIFEST.json: ")


def test_manifest_that_is_not_json_is_refused():
    with pytest.raises(StorageError, match="gs://b/m/MANIFEST.json: not a valid JSON manifest"):
        Manifest.from_json(b'{"format": ', "gs://b/m/MANIFEST.json")


def test_crc32c_is_encoded_as_gcs_reports_it():
    # GCS's documented example: crc32c of "hello" is base64 "mnG7TA==" (big-endian 0x9a71bb4c).
    assert crc32c_b64(b"hello") == "mnG7TA=="
    assert base64.b64decode(crc32c_b64(b"hello")) != zlib.crc32(b"hello").to_bytes(4, "big")


def test_file_digest_matches_hashlib_and_counts_every_byte(tmp_path):
    path = tmp_path / "shard.bin"
    data = bytes(range(256)) * 9000
    path.write_bytes(data)
    seen = []
    digest = file_digest(path, seen.append)
    assert digest.size == len(data) == sum(seen)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.crc32c == crc32c_b64(data)


def test_transfer_settings_refuse_a_chunk_gcs_would_reject():
    with pytest.raises(ValueError, match="multiple of 256 KiB"):
        TransferSettings(chunk_size=1000)


def test_sizes_show_in_decimal_units_like_the_bucket_table():
    assert format_size(27_520_000_000) == "27.52 GB"
    assert format_size(96_000_000) == "96.00 MB"
    assert format_size(512) == "512 B"
