"""load_sat4 on the real sample in every layout, checked against independent readers."""
import csv
import importlib.resources
import sys

import h5py
import numpy as np
import pytest
import scipy.io

from qlsgan_tf import data
from qlsgan_tf.data import CLASS_NAMES, load_sat4, sample_path


def _csv_rows(path):
    """The CSV read with the standard library: an independent reference."""
    with open(path, newline="") as f:
        return np.array([[int(v) for v in row] for row in csv.reader(f)], dtype=np.int64)


@pytest.mark.parametrize("split,count,class_counts", [
    ("train", 50, [16, 9, 7, 18]),
    ("test", 20, [3, 4, 5, 8]),
])
def test_sample_counts_and_first_pixels(sat4_sample_dir, split, count, class_counts):
    got = load_sat4(sat4_sample_dir / "sat-4-sample.mat", split)
    assert got.images.dtype == np.uint8 and got.images.shape == (count, 28, 28, 4)
    assert got.labels.dtype == np.int64 and got.labels.shape == (count,)
    assert got.class_names == CLASS_NAMES
    assert got.class_counts().tolist() == class_counts
    assert len(got) == count

    x_rows = _csv_rows(sat4_sample_dir / f"X_{split}_sat4.csv")
    y_rows = _csv_rows(sat4_sample_dir / f"y_{split}_sat4.csv")
    # First pixel (row 0, col 0) of the first image, all four bands, and the whole first row.
    np.testing.assert_array_equal(got.images[0, 0, 0], x_rows[0, :4])
    np.testing.assert_array_equal(got.images.reshape(count, -1), x_rows)
    np.testing.assert_array_equal(got.labels, y_rows.argmax(axis=1))


@pytest.mark.parametrize("split", ["train", "test"])
def test_both_layouts_identical(sat4_sample_dir, split):
    from_mat = load_sat4(sat4_sample_dir / "sat-4-sample.mat", split)
    from_csv = load_sat4(sat4_sample_dir / f"X_{split}_sat4.csv", split)
    from_dir = load_sat4(sat4_sample_dir, split)
    np.testing.assert_array_equal(from_mat.images, from_csv.images)
    np.testing.assert_array_equal(from_mat.labels, from_csv.labels)
    np.testing.assert_array_equal(from_dir.images, from_mat.images)

    # The documented layout (28, 28, 4, N), checked straight against scipy.
    raw = scipy.io.loadmat(sat4_sample_dir / "sat-4-sample.mat")
    np.testing.assert_array_equal(from_csv.images, np.moveaxis(raw[f"{split}_x"], 3, 0))


def test_csv_directory_without_mat(sat4_sample_dir, tmp_path):
    for name in ("X_train_sat4.csv", "y_train_sat4.csv"):
        (tmp_path / name).write_bytes((sat4_sample_dir / name).read_bytes())
    got = load_sat4(tmp_path, "train")
    np.testing.assert_array_equal(got.images, load_sat4(sat4_sample_dir, "train").images)
    assert data.layout_of(tmp_path) == "kaggle-csv"
    assert data.available_splits(tmp_path) == ["train"]


def write_v73(path, arrays):
    """Writes arrays as MATLAB v7.3 does: HDF5 with a 512-byte MAT header, axes reversed.

    MATLAB is column-major; HDF5 (row-major) stores its (28, 28, 4, N) array as (N, 4, 28, 28),
    which is the reverse of the axes, i.e. NumPy's ``.T`` of the MATLAB-ordered array.
    """
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in arrays.items():
            dset = f.create_dataset(name, data=np.asarray(value).T)
            dset.attrs["MATLAB_class"] = np.bytes_(value.dtype.name)
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Nov 25 12:00:00 2026 "
              b"HDF5 schema 1.00 .").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as f:
        f.write(header)


def test_mat_v73_hdf5(sat4_sample_dir, tmp_path):
    raw = scipy.io.loadmat(sat4_sample_dir / "sat-4-sample.mat")
    path = tmp_path / "sat-4-v73.mat"
    write_v73(path, {k: raw[k] for k in ("train_x", "train_y", "test_x", "test_y")})
    with h5py.File(path, "r") as f:  # the transposed layout MATLAB writes
        assert f["train_x"].shape == (50, 4, 28, 28) and f["train_y"].shape == (50, 4)
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    assert data.layout_of(path) == "mat-v7.3"
    for split in ("train", "test"):
        got = load_sat4(path, split)
        want = load_sat4(sat4_sample_dir / "sat-4-sample.mat", split)
        assert got.images.flags.c_contiguous
        np.testing.assert_array_equal(got.images, want.images)
        np.testing.assert_array_equal(got.labels, want.labels)
    part = load_sat4(path, "train", max_images=7, classes=["none"])
    np.testing.assert_array_equal(part.labels, [3] * 7)


def test_single_image_mat_drops_singleton_axis(sat4_sample_dir, tmp_path):
    raw = scipy.io.loadmat(sat4_sample_dir / "sat-4-sample.mat")
    # MATLAB drops trailing singleton axes: one image is saved as (28, 28, 4).
    one = {"train_x": raw["train_x"][..., 0], "train_y": raw["train_y"][:, :1]}
    scipy.io.savemat(tmp_path / "one.mat", one)
    got = load_sat4(tmp_path / "one.mat")
    np.testing.assert_array_equal(got.images[0], raw["train_x"][..., 0])
    write_v73(tmp_path / "one73.mat", {"train_x": raw["train_x"][..., 0],
                                       "train_y": raw["train_y"][:, :1]})
    np.testing.assert_array_equal(load_sat4(tmp_path / "one73.mat").images, got.images)


@pytest.mark.parametrize("layout", ["sat-4-sample.mat", "X_train_sat4.csv"])
def test_max_images_and_classes(sat4_sample_dir, layout):
    full = load_sat4(sat4_sample_dir / "sat-4-sample.mat", "train")
    path = sat4_sample_dir / layout
    first = load_sat4(path, max_images=5)
    np.testing.assert_array_equal(first.images, full.images[:5])
    np.testing.assert_array_equal(first.labels, full.labels[:5])
    assert load_sat4(path, max_images=0).images.shape == (0, 28, 28, 4)
    assert len(load_sat4(path, max_images=10_000)) == 50

    keep = np.isin(full.labels, [1, 3])
    both = load_sat4(path, classes=["trees", 3])
    np.testing.assert_array_equal(both.images, full.images[keep])
    np.testing.assert_array_equal(both.labels, full.labels[keep])
    assert both.class_names == CLASS_NAMES  # labels keep their meaning
    few = load_sat4(path, classes="grassland", max_images=3)
    np.testing.assert_array_equal(few.images, full.images[full.labels == 2][:3])


def test_csv_max_images_stops_reading(sat4_sample_dir, tmp_path):
    """Rows after the last one needed are never parsed: a bad row there goes unnoticed."""
    lines = (sat4_sample_dir / "X_train_sat4.csv").read_bytes().splitlines(keepends=True)
    lines[40] = b"not,an,image\n"
    (tmp_path / "X_train_sat4.csv").write_bytes(b"".join(lines))
    (tmp_path / "y_train_sat4.csv").write_bytes((sat4_sample_dir / "y_train_sat4.csv").read_bytes())
    got = load_sat4(tmp_path / "X_train_sat4.csv", max_images=40, chunk_size=7)
    np.testing.assert_array_equal(got.images, load_sat4(sat4_sample_dir, max_images=40).images)
    with pytest.raises(data.Sat4FormatError, match="line 41"):
        load_sat4(tmp_path / "X_train_sat4.csv", chunk_size=7)


def test_chunk_size_does_not_change_result(sat4_sample_dir):
    want = load_sat4(sat4_sample_dir / "X_train_sat4.csv")
    for chunk_size in (1, 3, 64):
        got = load_sat4(sat4_sample_dir / "X_train_sat4.csv", chunk_size=chunk_size,
                        classes=[0, 2])
        np.testing.assert_array_equal(got.images, want.images[np.isin(want.labels, [0, 2])])


def test_crlf_and_trailing_blank_line(sat4_sample_dir, tmp_path):
    for name in ("X_test_sat4.csv", "y_test_sat4.csv"):
        text = (sat4_sample_dir / name).read_bytes().replace(b"\n", b"\r\n") + b"\r\n"
        (tmp_path / name).write_bytes(text)
    got = load_sat4(tmp_path / "X_test_sat4.csv", "test")
    np.testing.assert_array_equal(got.images, load_sat4(sat4_sample_dir, "test").images)


def test_integral_float_text_accepted(sat4_sample_dir, tmp_path):
    """'130.0' is the integer 130 (some tools write floats); '130.5' is rejected elsewhere."""
    rows = _csv_rows(sat4_sample_dir / "X_test_sat4.csv")
    text = "\n".join(",".join(f"{v}.0" for v in row) for row in rows) + "\n"
    (tmp_path / "X_test_sat4.csv").write_text(text)
    (tmp_path / "y_test_sat4.csv").write_bytes((sat4_sample_dir / "y_test_sat4.csv").read_bytes())
    got = load_sat4(tmp_path / "X_test_sat4.csv", "test")
    np.testing.assert_array_equal(got.images.reshape(20, -1), rows)


def test_sample_path_is_the_bundled_copy():
    path = sample_path()
    assert path.is_dir()
    assert path == __import__("pathlib").Path(
        str(importlib.resources.files("qlsgan_tf.data") / "sample"))
    assert {p.name for p in path.iterdir()} >= {
        "README.md", "sat-4-sample.mat", "X_train_sat4.csv", "y_train_sat4.csv",
        "X_test_sat4.csv", "y_test_sat4.csv", "sat4annotations.csv"}
    assert load_sat4(path, "test").class_counts().tolist() == [3, 4, 5, 8]


def test_bundled_sample_matches_shared(sat4_sample_dir):
    for name in ("sat-4-sample.mat", "X_train_sat4.csv", "y_test_sat4.csv"):
        assert (sample_path() / name).read_bytes() == (sat4_sample_dir / name).read_bytes()


def test_annotations_agree_with_class_names(sat4_sample_dir):
    with open(sat4_sample_dir / "sat4annotations.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(row[0] for row in rows) == CLASS_NAMES
    np.testing.assert_array_equal(np.array([row[1:] for row in rows], dtype=int), np.eye(4))


def test_import_does_not_load_tensorflow():
    import subprocess

    code = "import sys, qlsgan_tf.data; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
