"""`qlsgan data-info` and `qlsgan convert-data`, run as a user runs them (subprocess)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from qlsgan_tf.data import load_sat4


def qlsgan(*args):
    return subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=120)


def test_data_info_sample(sat4_sample_dir):
    out = qlsgan("data-info", sat4_sample_dir)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"SAT-4 data: {sat4_sample_dir} (layout: mat-v5)"
    assert lines[2].split() == ["split", "images", "barren", "land", "trees", "grassland", "none"]
    assert lines[3].split() == ["train", "50", "16", "9", "7", "18"]
    assert lines[4].split() == ["test", "20", "3", "4", "5", "8"]
    # Per-band mean/std against numpy on the CSV layout.
    images = load_sat4(sat4_sample_dir / "X_test_sat4.csv", "test").images.astype(np.float64)
    nir = next(line.split() for line in lines if line.startswith("test   NIR"))
    assert float(nir[2]) == pytest.approx(images[..., 3].mean(), abs=0.005)
    assert float(nir[3]) == pytest.approx(images[..., 3].std(), abs=0.005)


def test_data_info_json_one_split(sat4_sample_dir):
    out = qlsgan("data-info", sat4_sample_dir / "X_train_sat4.csv", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["layout"] == "kaggle-csv" and list(info["splits"]) == ["train"]
    assert info["splits"]["train"]["class_counts"] == {
        "barren land": 16, "trees": 9, "grassland": 7, "none": 18}


def test_convert_data_then_load(sat4_sample_dir, tmp_path):
    out = qlsgan("convert-data", sat4_sample_dir, tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    assert "train 50, test 20" in out.stdout and "checksums verified" in out.stdout
    for split in ("train", "test"):
        got = load_sat4(tmp_path / "cache", split)
        np.testing.assert_array_equal(got.images, load_sat4(sat4_sample_dir, split).images)

    again = qlsgan("convert-data", sat4_sample_dir / "X_test_sat4.csv", tmp_path / "cache")
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0
    assert "already exists" in again.stderr and "--overwrite" in again.stderr

    forced = qlsgan("convert-data", sat4_sample_dir / "X_test_sat4.csv", tmp_path / "cache",
                    "--overwrite")
    assert forced.returncode == 0, forced.stderr
    info = json.loads(qlsgan("data-info", tmp_path / "cache", "--json").stdout)
    assert info["layout"] == "cache" and list(info["splits"]) == ["test"]


@pytest.mark.parametrize("command", ["data-info", "convert-data"])
def test_bad_input_is_one_line(sat4_sample_dir, tmp_path, command):
    lines = (sat4_sample_dir / "X_test_sat4.csv").read_bytes().splitlines(keepends=True)
    lines[2] = b"nan" + lines[2][lines[2].index(b","):]  # first pixel of image 3 is NaN
    bad = tmp_path / "X_test_sat4.csv"
    bad.write_bytes(b"".join(lines))
    (tmp_path / "y_test_sat4.csv").write_bytes((sat4_sample_dir / "y_test_sat4.csv").read_bytes())
    args = [bad] if command == "data-info" else [bad, tmp_path / "out"]
    out = qlsgan(command, *args)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"qlsgan {command}: error: {bad}: ")
    assert "line 3, column 1: NaN" in out.stderr and "Traceback" not in out.stderr


def test_usage_errors(tmp_path):
    out = qlsgan("data-info")
    assert out.returncode == 2 and "expected one PATH" in out.stderr
    out = qlsgan("convert-data", tmp_path)
    assert out.returncode == 2 and "expected SRC and OUT" in out.stderr
    out = qlsgan("data-info", tmp_path / "missing.mat")
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "missing.mat: no such file or directory" in out.stderr
