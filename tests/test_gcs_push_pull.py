"""Push and pull against a real fake-gcs-server with the real google-cloud-storage client."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from gcs_server import FAST_TRANSFERS as FAST
from gcs_server import files_in

from tunebench.errors import ConflictError, StorageError
from tunebench.storage import pull_folder, push_folder, read_manifest
from tunebench.storage.location import GcsLocation

pytest_plugins = ["gcs_server"]


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, tiny_dir) -> Path:
    """A LoRA adapter for tiny, saved by peft (non-zero B, so merging changes the weights)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(out)
    return out


def test_push_then_pull_of_tiny_is_byte_identical(gcs, tiny_dir, tmp_path):
    report = push_folder(tiny_dir, gcs.uri("models/tiny"), name="tiny", settings=FAST)
    pulled = pull_folder(gcs.uri("models/tiny"), settings=FAST, cache_root=tmp_path)
    assert files_in(pulled.path) == files_in(tiny_dir)
    assert sorted(pulled.downloaded) == sorted(files_in(tiny_dir)) and pulled.reused == []
    assert report.manifest.version == 1 and pulled.manifest.push_id == report.manifest.push_id


def test_push_then_pull_of_an_adapter_is_byte_identical(gcs, adapter_dir, tmp_path):
    push_folder(adapter_dir, gcs.uri("adapters/a1/"), name="a1", settings=FAST)
    pulled = pull_folder(gcs.uri("adapters/a1"), settings=FAST, cache_root=tmp_path)
    assert files_in(pulled.path) == files_in(adapter_dir)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(files_in(pulled.path))


def test_manifest_is_the_commit_point_and_names_every_staged_object(gcs, tiny_dir):
    push_folder(tiny_dir, gcs.uri("m"), name="tiny", settings=FAST)
    manifest = read_manifest(gcs.bucket, GcsLocation.parse(gcs.uri("m")))
    stored = {b.name: b for b in gcs.client.list_blobs(gcs.bucket_name, prefix="m/")}
    assert set(stored) == {"m/MANIFEST.json"} | {f"m/{f.object}" for f in manifest.files}
    for item in manifest.files:
        blob = stored[f"m/{item.object}"]
        assert item.object.startswith(f"objects/{manifest.push_id}/")
        assert (blob.size, blob.crc32c, blob.generation) == (item.size, item.crc32c, item.generation)
        assert item.sha256 == __import__("hashlib").sha256((tiny_dir / item.name).read_bytes()).hexdigest()


def test_second_push_to_the_same_place_is_refused_unless_new_version(gcs, tiny_dir, adapter_dir, tmp_path):
    first = push_folder(tiny_dir, gcs.uri("x"), name="tiny", settings=FAST)
    with pytest.raises(ConflictError, match="version 1 is already published.*--new-version"):
        push_folder(adapter_dir, gcs.uri("x"), name="a", settings=FAST)
    assert pull_folder(gcs.uri("x"), settings=FAST, cache_root=tmp_path).manifest.push_id == first.manifest.push_id
    second = push_folder(adapter_dir, gcs.uri("x"), name="a", new_version=True, settings=FAST)
    assert second.manifest.version == 2 and second.manifest.previous_generation == first.manifest.generation
    pulled = pull_folder(gcs.uri("x"), settings=FAST, cache_root=tmp_path)
    # The cache now holds exactly version 2: version 1's files are gone, so no loader can mix them.
    assert files_in(pulled.path) == files_in(adapter_dir)


def test_new_version_gets_its_own_folder_and_links_unchanged_files_instead_of_downloading(gcs, tiny_dir, tmp_path):
    source = tmp_path / "model"
    shutil.copytree(tiny_dir, source)
    push_folder(source, gcs.uri("v"), name="tiny", settings=FAST)
    first = pull_folder(gcs.uri("v"), settings=FAST, cache_root=tmp_path / "cache")
    (source / "config.json").write_text((source / "config.json").read_text().replace("64", "65"))
    push_folder(source, gcs.uri("v"), name="tiny", new_version=True, settings=FAST)
    second = pull_folder(gcs.uri("v"), settings=FAST, cache_root=tmp_path / "cache")
    assert second.path != first.path and second.path.name.startswith("v2-")
    assert second.downloaded == ["config.json"] and len(second.reused) == len(files_in(source)) - 1
    assert (second.path / "model.safetensors").stat().st_ino == (first.path / "model.safetensors").stat().st_ino
    # A process still loading version 1 finds it whole and unchanged.
    assert files_in(first.path) == files_in(tiny_dir) and files_in(second.path) == files_in(source)
    (source / "config.json").write_text("{}")
    push_folder(source, gcs.uri("v"), name="tiny", new_version=True, settings=FAST)
    third = pull_folder(gcs.uri("v"), settings=FAST, cache_root=tmp_path / "cache")
    assert sorted(p.name for p in third.path.parent.iterdir() if p.is_dir()) == [second.path.name, third.path.name]


def test_cached_copy_with_matching_checksums_is_reused_without_download(gcs, tiny_dir, tmp_path, fault_proxy):
    push_folder(tiny_dir, gcs.uri("c"), name="tiny", settings=FAST)
    pull_folder(gcs.uri("c"), settings=FAST, cache_root=tmp_path)
    before = len([entry for entry in fault_proxy.log if "alt=media" in entry[1]])
    again = pull_folder(gcs.uri("c"), settings=FAST, cache_root=tmp_path)
    media = [entry[1] for entry in fault_proxy.log if "alt=media" in entry[1]][before:]
    assert again.downloaded == [] and again.bytes_downloaded == 0
    assert media == [f"/download/storage/v1/b/{gcs.bucket_name}/o/c%2FMANIFEST.json?alt=media"]


def test_tampered_cached_file_is_downloaded_again(gcs, tiny_dir, tmp_path):
    push_folder(tiny_dir, gcs.uri("t"), name="tiny", settings=FAST)
    pulled = pull_folder(gcs.uri("t"), settings=FAST, cache_root=tmp_path)
    config = pulled.path / "config.json"
    config.write_text(config.read_text().replace("64", "65"))
    again = pull_folder(gcs.uri("t"), settings=FAST, cache_root=tmp_path)
    assert again.downloaded == ["config.json"]
    assert files_in(again.path) == files_in(tiny_dir)


def test_cache_entry_from_before_a_crash_is_checked_again(gcs, tiny_dir, tmp_path):
    # Pulled files are not fsynced; a kernel crash could leave a damaged file with the recorded size and
    # mtime. Entries recorded under another boot are therefore re-hashed, and the damage is repaired.
    push_folder(tiny_dir, gcs.uri("boot"), name="tiny", settings=FAST)
    pulled = pull_folder(gcs.uri("boot"), settings=FAST, cache_root=tmp_path)
    weights = pulled.path / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(bytes(stat.st_size))  # zeros, as a lost page cache would leave
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    state_path = pulled.path / ".tunebench-cache.json"
    state = json.loads(state_path.read_text())
    state["model.safetensors"]["boot"] = "an-earlier-boot"
    state_path.write_text(json.dumps(state))
    again = pull_folder(gcs.uri("boot"), settings=FAST, cache_root=tmp_path)
    assert again.downloaded == ["model.safetensors"]
    assert files_in(again.path) == files_in(tiny_dir)


def test_folder_without_manifest_is_pulled_from_its_listing(gcs, tiny_dir, tmp_path, caplog):
    for name, data in files_in(tiny_dir).items():
        gcs.bucket.blob(f"handmade/{name}").upload_from_string(data)
    pulled = pull_folder(gcs.uri("handmade"), settings=FAST, cache_root=tmp_path)
    assert files_in(pulled.path) == files_in(tiny_dir)
    assert "has no MANIFEST.json" in caplog.text


def test_location_with_only_uncommitted_push_objects_is_refused(gcs, tmp_path):
    gcs.bucket.blob("half/objects/20260101T000000Z-abc/config.json").upload_from_string(b"{}")
    with pytest.raises(StorageError, match="no push has committed there yet"):
        pull_folder(gcs.uri("half"), settings=FAST, cache_root=tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("config.json"))


def test_registry_entry_with_gs_locations_loads_through_load_model(gcs, tiny_dir, adapter_dir, project):
    from tunebench.config import load_config
    from tunebench.loading import content_hash, load_model

    push_folder(tiny_dir, gcs.uri("base/tiny"), name="tiny", settings=FAST)
    push_folder(adapter_dir, gcs.uri("adapters/lora"), name="lora", settings=FAST)
    project.write(
        f'[tool.tunebench.models.gs-lora]\nbase = "{gcs.uri("base/tiny/")}"\n'
        f'adapter = "{gcs.uri("adapters/lora/")}"\nstatus = "experimental"\n'
    )
    loaded = load_model("gs-lora", load_config(), with_hashes=True)
    assert loaded.merged and loaded.adapter_path != str(adapter_dir)
    assert loaded.hashes == {"base": content_hash(tiny_dir), "adapter": content_hash(adapter_dir)}
    assert loaded.model.config.hidden_size == 64


def test_cli_push_register_pull_and_list_remote(gcs, tiny_dir, project, capsys):
    from tunebench.cli import main

    project.write('[tool.tunebench]\nhome = ".tb"\n')
    assert main(["models", "push", "tiny", gcs.uri("reg/tiny"), "--register", "tiny-gs", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "version 1 (6 files" in out and "registered 'tiny-gs'" in out
    assert main(["models", "push", "tiny", gcs.uri("reg/tiny"), "--no-progress"]) == 2
    assert "--new-version" in capsys.readouterr().err
    assert main(["models", "pull", "tiny-gs", "--no-progress"]) == 0
    assert "6 downloaded" in capsys.readouterr().out
    assert main(["models", "list", "--remote", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["part"], r["version"], r["files"]) for r in rows] == [("tiny-gs", "base", 1, 6)]
    assert rows[0]["size"] == sum(len(b) for b in files_in(tiny_dir).values())
    assert main(["models", "list", "--remote"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["model", "part", "status", "location", "size", "files", "version"]
    assert table[2].split()[:3] == ["tiny-gs", "base", "experimental"] and " kB " in table[2]


def test_list_remote_reports_an_unreadable_location_and_exits_1(gcs, project, capsys):
    from tunebench.cli import main

    project.write(f'[tool.tunebench.models.ghost]\nbase = "{gcs.uri("nothing-here/")}"\n')
    assert main(["models", "list", "--remote"]) == 1
    captured = capsys.readouterr()
    assert "unreadable" in captured.out and "nothing there" in captured.err
