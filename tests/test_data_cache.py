"""convert_to_cache: memory-mapped, checksummed, atomic; corrupt caches get clear errors."""
import hashlib
import json
import os

import numpy as np
import pytest

from qlsgan_tf.data import (
    Sat4FormatError,
    cache,
    convert_to_cache,
    describe,
    load_sat4,
    read_manifest,
)

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture()
def cache_dir(sat4_sample_dir, tmp_path):
    out = tmp_path / "cache"
    convert_to_cache(sat4_sample_dir, out, chunk_size=16)
    return out


@pytest.mark.parametrize("src", ["sat-4-sample.mat", "X_train_sat4.csv", "."])
def test_cache_equals_source(sat4_sample_dir, tmp_path, src):
    manifest = convert_to_cache(sat4_sample_dir / src, tmp_path / "c", chunk_size=7)
    splits = ["train"] if src.endswith(".csv") else ["train", "test"]
    assert list(manifest["splits"]) == splits
    for split in splits:
        want = load_sat4(sat4_sample_dir / "sat-4-sample.mat", split)
        got = load_sat4(tmp_path / "c", split, verify=True)
        assert isinstance(got.images, np.memmap) and got.images.dtype == np.uint8
        assert not got.images.flags.writeable
        np.testing.assert_array_equal(got.images, want.images)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.labels.dtype == np.int64


def test_manifest_contents(sat4_sample_dir, cache_dir):
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    assert manifest == read_manifest(cache_dir)
    assert manifest["format"] == "qlsgan_tf.sat4-cache" and manifest["version"] == 1
    assert manifest["source"] == str(sat4_sample_dir.resolve())
    assert manifest["source_layout"] == "mat-v5"
    train = manifest["splits"]["train"]
    assert train["count"] == 50
    assert train["class_counts"] == {"barren land": 16, "trees": 9, "grassland": 7, "none": 18}
    assert manifest["splits"]["test"]["class_counts"] == {
        "barren land": 3, "trees": 4, "grassland": 5, "none": 8}
    # The checksum is the sha256 of the C-ordered array bytes, recomputed here independently.
    images = np.load(cache_dir / "train_images.npy")
    assert train["sha256"]["images"] == hashlib.sha256(images.tobytes()).hexdigest()
    labels = np.load(cache_dir / "train_labels.npy")
    assert train["sha256"]["labels"] == hashlib.sha256(labels.tobytes()).hexdigest()
    assert sorted(os.listdir(cache_dir)) == ["manifest.json", "test_images.npy",
                                             "test_labels.npy", "train_images.npy",
                                             "train_labels.npy"]


def test_cache_slicing_stays_mapped(sat4_sample_dir, cache_dir):
    full = load_sat4(sat4_sample_dir, "train")
    head = load_sat4(cache_dir, "train", max_images=9)
    assert isinstance(head.images, np.memmap)
    np.testing.assert_array_equal(head.images, full.images[:9])
    trees = load_sat4(cache_dir, "train", classes=["trees"])
    np.testing.assert_array_equal(trees.images, full.images[full.labels == 1])
    assert trees.labels.tolist() == [1] * 9


def test_existing_cache_not_overwritten(sat4_sample_dir, cache_dir):
    before = (cache_dir / "manifest.json").read_text()
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        convert_to_cache(sat4_sample_dir / "X_test_sat4.csv", cache_dir)
    assert (cache_dir / "manifest.json").read_text() == before
    manifest = convert_to_cache(sat4_sample_dir / "X_test_sat4.csv", cache_dir, overwrite=True)
    assert list(manifest["splits"]) == ["test"]
    assert list(read_manifest(cache_dir)["splits"]) == ["test"]
    leftovers = [p for p in os.listdir(cache_dir.parent) if p.startswith(".cache")]
    assert not leftovers


def test_overwrite_refuses_a_foreign_directory(sat4_sample_dir, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(Sat4FormatError, match="not a SAT-4 cache .* refusing to overwrite"):
        convert_to_cache(sat4_sample_dir, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_empty_existing_directory_is_used(sat4_sample_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    convert_to_cache(sat4_sample_dir / "X_test_sat4.csv", tmp_path / "empty")
    assert len(load_sat4(tmp_path / "empty", "test")) == 20


def test_failed_conversion_leaves_nothing(sat4_sample_dir, tmp_path):
    bad = tmp_path / "src"
    bad.mkdir()
    lines = (sat4_sample_dir / "X_test_sat4.csv").read_bytes().splitlines(keepends=True)
    (bad / "X_test_sat4.csv").write_bytes(b"".join(lines[:15]) + b"1,2,3\n" + b"".join(lines[16:]))
    (bad / "y_test_sat4.csv").write_bytes((sat4_sample_dir / "y_test_sat4.csv").read_bytes())
    with pytest.raises(Sat4FormatError, match="line 16"):
        convert_to_cache(bad, tmp_path / "out", chunk_size=4)
    assert sorted(os.listdir(tmp_path)) == ["src"]  # no out/, no partial temp dir


def test_truncated_cache(cache_dir):
    path = cache_dir / "train_images.npy"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(Sat4FormatError, match="train_images.npy: corrupt or truncated cache"):
        load_sat4(cache_dir, "train")
    assert len(load_sat4(cache_dir, "test")) == 20  # the other split is intact


def test_missing_cache_file(cache_dir):
    (cache_dir / "test_labels.npy").unlink()
    with pytest.raises(Sat4FormatError, match="test_labels.npy: cache file missing"):
        load_sat4(cache_dir, "test")


def test_checksum_mismatch_found_on_open_and_on_request(cache_dir, monkeypatch):
    path = cache_dir / "test_images.npy"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # flip one pixel: shape and counts stay valid
    path.write_bytes(bytes(raw))
    # A small cache is verified on every open; a large one (simulated) only on request.
    with pytest.raises(Sat4FormatError, match="test_images.npy: corrupt cache: sha256"):
        load_sat4(cache_dir, "test")
    monkeypatch.setattr(cache, "AUTO_VERIFY_BYTES", 0)
    assert len(load_sat4(cache_dir, "test")) == 20
    with pytest.raises(Sat4FormatError, match="test_images.npy: corrupt cache: sha256"):
        load_sat4(cache_dir, "test", verify=True)


def test_manifest_count_mismatch(cache_dir):
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    manifest["splits"]["train"]["count"] = 51
    (cache_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Sat4FormatError, match=r"train_images.npy: corrupt cache file: .*\(51, 28"):
        load_sat4(cache_dir, "train")


def test_manifest_class_counts_mismatch(cache_dir):
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    manifest["splits"]["test"]["class_counts"]["none"] = 7
    (cache_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Sat4FormatError, match="test_labels.npy: corrupt cache: class counts"):
        load_sat4(cache_dir, "test")


def test_corrupt_manifest(cache_dir):
    (cache_dir / "manifest.json").write_text('{"format": "qlsgan_tf.sat4-cache", "vers')
    with pytest.raises(Sat4FormatError, match="manifest.json: corrupt cache manifest"):
        load_sat4(cache_dir, "train")


def test_cache_without_split(sat4_sample_dir, tmp_path):
    convert_to_cache(sat4_sample_dir / "X_test_sat4.csv", tmp_path / "c")
    with pytest.raises(Sat4FormatError, match="has no 'train' split"):
        load_sat4(tmp_path / "c", "train")


def test_describe_streams_exact_statistics(sat4_sample_dir, cache_dir):
    for path in (sat4_sample_dir, cache_dir, sat4_sample_dir / "X_train_sat4.csv"):
        info = describe(path, chunk_size=3)
        for split, stats in info["splits"].items():
            images = load_sat4(sat4_sample_dir, split).images.astype(np.float64)
            np.testing.assert_allclose(stats["band_mean"], images.mean(axis=(0, 1, 2)),
                                       rtol=1e-12)
            np.testing.assert_allclose(stats["band_std"], images.std(axis=(0, 1, 2)), rtol=1e-9)
    assert describe(cache_dir)["layout"] == "cache"
    assert list(describe(sat4_sample_dir / "X_train_sat4.csv")["splits"]) == ["train"]
