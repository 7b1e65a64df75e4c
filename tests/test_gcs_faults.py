"""Push and pull under injected faults: races, flipped bytes, lost responses, 503s, resets, bad credentials.

The real client talks to the real emulator through `FaultProxy` (tests/gcs_server.py), a loopback proxy
that changes what crosses the wire; nothing in the client is mocked.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from gcs_server import FAST_TRANSFERS as FAST
from gcs_server import files_in

from tunebench.errors import ChecksumError, ConflictError, StorageError
from tunebench.storage import pull_folder, push_folder, read_manifest
from tunebench.storage.checksums import Digest
from tunebench.storage.gcs import make_client, write_object
from tunebench.storage.location import GcsLocation

pytest_plugins = ["gcs_server"]


def _downloads(proxy, needle: str) -> list:
    return [outcome for _, path, outcome in proxy.log if needle in path and "alt=media" in path]


def test_eight_racing_publishers_leave_exactly_one_manifest(gcs, tmp_path):
    folders = []
    for i in range(8):
        folder = tmp_path / f"pub{i}"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(bytes([i]) * (50_000 + i))
        (folder / "config.json").write_text(f'{{"publisher": {i}}}')
        folders.append(folder)
    won, lost = [], []
    start = threading.Barrier(8)

    def publish(folder: Path) -> None:
        start.wait()
        try:
            won.append((folder, push_folder(folder, gcs.uri("race/"), name=folder.name, settings=FAST)))
        except ConflictError as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=publish, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == 7, lost
    # They raced to the commit point itself, not just to the "already published" check before it.
    assert any("another push committed version 1" in message for message in lost)
    folder, report = won[0]
    assert gcs.names("race/MANIFEST") == ["race/MANIFEST.json"]
    manifest = read_manifest(gcs.bucket, GcsLocation.parse(gcs.uri("race")))
    assert manifest.push_id == report.manifest.push_id and manifest.name == folder.name
    # The losers deleted what they staged: only the winner's objects remain.
    assert {n.split("/")[2] for n in gcs.names("race/objects/")} == {report.manifest.push_id}
    assert files_in(pull_folder(gcs.uri("race"), settings=FAST, cache_root=tmp_path / "cache").path) == files_in(folder)


def test_flipped_byte_on_download_raises_checksum_error_and_leaves_no_file_in_cache(
    gcs, tiny_dir, tmp_path, fault_proxy
):
    push_folder(tiny_dir, gcs.uri("flip"), name="tiny", settings=FAST)
    fault_proxy.add(lambda r: r.is_media_download and r.names("model.safetensors"), "flip", times=100)
    with pytest.raises(ChecksumError, match="model.safetensors"):
        pull_folder(gcs.uri("flip"), settings=FAST, cache_root=tmp_path)
    cached = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert "model.safetensors" not in cached
    assert not [name for name in cached if name.endswith(".partial")]


def test_one_flipped_byte_is_downloaded_again_and_the_pull_succeeds(gcs, tiny_dir, tmp_path, fault_proxy):
    push_folder(tiny_dir, gcs.uri("flip1"), name="tiny", settings=FAST)
    flip = fault_proxy.add(lambda r: r.is_media_download and r.names("model.safetensors"), "flip", times=1)
    pulled = pull_folder(gcs.uri("flip1"), settings=FAST, cache_root=tmp_path)
    assert flip.hits == 1 and _downloads(fault_proxy, "model.safetensors") == [200, 200]
    assert files_in(pulled.path) == files_in(tiny_dir)


def test_lost_response_after_manifest_commit_is_success_with_exactly_one_manifest(gcs, tiny_dir, tmp_path, fault_proxy):
    lost = fault_proxy.add(lambda r: r.is_upload and r.names("lost/MANIFEST.json"), "lose_response")
    report = push_folder(tiny_dir, gcs.uri("lost"), name="tiny", settings=FAST)
    assert lost.hits == 1
    commits = [outcome for method, path, outcome in fault_proxy.log if method == "POST" and "multipart" in path][-2:]
    assert commits == ["lost 200", 412]  # committed, response dropped; the retry found our own manifest
    assert gcs.names("lost/MANIFEST") == ["lost/MANIFEST.json"]
    assert read_manifest(gcs.bucket, GcsLocation.parse(gcs.uri("lost"))).push_id == report.manifest.push_id
    assert files_in(pull_folder(gcs.uri("lost"), settings=FAST, cache_root=tmp_path).path) == files_in(tiny_dir)


def test_lost_response_after_a_staged_create_is_success(gcs, tiny_dir, tmp_path, fault_proxy):
    lost = fault_proxy.add(lambda r: r.is_upload and r.names("config.json"), "lose_response")
    push_folder(tiny_dir, gcs.uri("lost-stage"), name="tiny", settings=FAST)
    assert lost.hits == 1 and 412 in [o for m, p, o in fault_proxy.log if m == "POST"]
    assert files_in(pull_folder(gcs.uri("lost-stage"), settings=FAST, cache_root=tmp_path).path) == files_in(tiny_dir)


def test_lost_response_to_the_last_chunk_of_a_resumable_upload_is_success(gcs, tiny_dir, tmp_path, fault_proxy):
    # The emulator answers a retried PUT on a finished session with 404 (GCS answers 200): either way the
    # object holds our bytes, which write_object checks before calling it a failure.
    def final_chunk(request) -> bool:
        content_range = request.headers.get("content-range", "")
        return request.method == "PUT" and "upload_id" in request.path and not content_range.endswith("/*")

    lost = fault_proxy.add(final_chunk, "lose_response")
    push_folder(tiny_dir, gcs.uri("lost-chunk"), name="tiny", settings=FAST)
    assert lost.hits == 1
    assert files_in(pull_folder(gcs.uri("lost-chunk"), settings=FAST, cache_root=tmp_path).path) == files_in(tiny_dir)


def test_412_for_someone_elses_object_is_a_conflict_and_overwrites_nothing(gcs):
    gcs.bucket.blob("taken/MANIFEST.json").upload_from_string(b"theirs")
    ours = Digest()
    ours.update(b"ours")
    with pytest.raises(ConflictError, match="changed by someone else"):
        write_object(gcs.bucket, "taken/MANIFEST.json", b"ours", ours.result(), FAST, if_generation_match=0)
    assert gcs.bucket.blob("taken/MANIFEST.json").download_as_bytes() == b"theirs"


def test_upload_damaged_on_the_way_fails_the_push_and_publishes_nothing(gcs, tiny_dir, fault_proxy):
    # The emulator stores what it receives without checking our crc32c; the check after upload catches it.
    fault_proxy.add(lambda r: r.method == "PUT" and r.names("model.safetensors"), "flip_request")
    with pytest.raises(StorageError, match="model.safetensors"):
        push_folder(tiny_dir, gcs.uri("damaged"), name="tiny", settings=FAST)
    assert gcs.names("damaged/") == []


def test_503s_and_resets_on_upload_are_retried(gcs, tiny_dir, tmp_path, fault_proxy):
    fault_proxy.add(lambda r: r.is_upload, "status", times=3, status=503)
    fault_proxy.add(lambda r: r.is_upload, "reset", times=3)
    # The tiny weights go up resumably in 256 KiB chunks: fail one chunk PUT in the middle too.
    fault_proxy.add(lambda r: r.method == "PUT" and "upload_id" in r.path, "reset", times=1)
    push_folder(tiny_dir, gcs.uri("flaky-up"), name="tiny", settings=FAST)
    outcomes = [o for _, _, o in fault_proxy.log]
    assert outcomes.count(503) == 3 and outcomes.count("reset") == 4
    assert files_in(pull_folder(gcs.uri("flaky-up"), settings=FAST, cache_root=tmp_path).path) == files_in(tiny_dir)


def test_503s_resets_and_a_truncated_body_on_download_are_retried(gcs, tiny_dir, tmp_path, fault_proxy):
    push_folder(tiny_dir, gcs.uri("flaky-down"), name="tiny", settings=FAST)
    fault_proxy.add(lambda r: r.is_media_download, "status", times=3, status=503)
    fault_proxy.add(lambda r: r.is_media_download, "reset", times=3)
    truncated = fault_proxy.add(lambda r: r.is_media_download and r.names("model.safetensors"), "truncate")
    pulled = pull_folder(gcs.uri("flaky-down"), settings=FAST, cache_root=tmp_path)
    assert truncated.hits == 1 and files_in(pulled.path) == files_in(tiny_dir)
    outcomes = [o for _, _, o in fault_proxy.log]
    assert outcomes.count(503) == 3 and outcomes.count("reset") == 3


def test_rejected_credentials_give_a_clear_error(gcs, tmp_path, fault_proxy):
    fault_proxy.add(lambda r: True, "status", times=1000, status=401)
    with pytest.raises(StorageError, match="credentials were refused.*gcloud auth application-default login"):
        pull_folder(gcs.uri("any"), settings=FAST, cache_root=tmp_path)


def test_missing_credentials_give_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    with pytest.raises(StorageError, match="no usable Google Cloud credentials.*GOOGLE_APPLICATION_CREDENTIALS"):
        make_client()


def test_missing_google_cloud_storage_tells_how_to_install_it(project):
    project.write('[tool.tunebench.models.remote]\nbase = "gs://some-bucket/model/"\n')
    code = (
        "import sys; sys.modules['google.cloud.storage'] = None\n"
        "from tunebench.cli import main; sys.exit(main(['models', 'pull', 'remote']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project.root)
    assert result.returncode == 2
    assert 'pip install "tunebench[gcs]"' in result.stderr
