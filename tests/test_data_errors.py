"""Every bad input gets one clear Sat4FormatError naming the file and the problem.

The bad files are made from the real sample in tmp_path.
"""
import csv

import numpy as np
import pytest
import scipy.io

from qlsgan_tf.data import Sat4FormatError, load_sat4

pytestmark = pytest.mark.filterwarnings("error")  # no numpy/scipy warning may leak out


@pytest.fixture(scope="module")
def sample_mat(sat4_sample_dir):
    return scipy.io.loadmat(sat4_sample_dir / "sat-4-sample.mat")


@pytest.fixture()
def csv_pair(sat4_sample_dir, tmp_path):
    """Writes a Kaggle pair from edited rows; returns the X path."""
    def write(x_rows=None, y_rows=None, split="test", x_text=None):
        def rows(name):
            with open(sat4_sample_dir / name, newline="") as f:
                return [list(r) for r in csv.reader(f)]
        x_rows = rows(f"X_{split}_sat4.csv") if x_rows is None else x_rows
        y_rows = rows(f"y_{split}_sat4.csv") if y_rows is None else y_rows
        x_path = tmp_path / f"X_{split}_sat4.csv"
        x_path.write_text(x_text if x_text is not None
                          else "".join(",".join(map(str, r)) + "\n" for r in x_rows))
        (tmp_path / f"y_{split}_sat4.csv").write_text(
            "".join(",".join(map(str, r)) + "\n" for r in y_rows))
        return x_path

    def base(split="test"):
        with open(sat4_sample_dir / f"X_{split}_sat4.csv", newline="") as f:
            return [list(r) for r in csv.reader(f)]
    write.base = base
    return write


def _raises(path, *patterns, split="test", **kwargs):
    with pytest.raises(Sat4FormatError) as info:
        load_sat4(path, split, **kwargs)
    message = str(info.value)
    assert str(path) in message, message
    for pattern in patterns:
        assert pattern in message, message
    assert "\n" not in message
    return info.value


def test_missing_file(tmp_path):
    err = _raises(tmp_path / "sat-4-full.mat", "no such file")
    assert isinstance(err, FileNotFoundError) and isinstance(err, ValueError)


def test_missing_labels_file(sat4_sample_dir, tmp_path):
    (tmp_path / "X_test_sat4.csv").write_bytes((sat4_sample_dir / "X_test_sat4.csv").read_bytes())
    err = _raises(tmp_path / "X_test_sat4.csv", "y_test_sat4.csv", "not found")
    assert isinstance(err, FileNotFoundError)


def test_unknown_extension(tmp_path):
    (tmp_path / "sat4.txt").write_text("1,2,3\n")
    _raises(tmp_path / "sat4.txt", "unknown extension '.txt'")


def test_directory_without_data(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    _raises(tmp_path, "no SAT-4 data")


def test_corrupt_mat(tmp_path):
    path = tmp_path / "sat-4-full.mat"
    path.write_bytes(b"this is not a MATLAB file " * 40)
    _raises(path, "corrupt or truncated .mat")


def test_truncated_mat(sat4_sample_dir, tmp_path):
    path = tmp_path / "sat-4-full.mat"
    path.write_bytes((sat4_sample_dir / "sat-4-sample.mat").read_bytes()[:5000])
    _raises(path, "corrupt or truncated .mat", split="train")


def test_mat_without_train_x(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"images": np.zeros((28, 28, 4, 2), np.uint8)})
    _raises(path, "no variable 'train_x'", "found: images", split="train")


@pytest.mark.parametrize("shape,pattern", [
    ((28, 28, 3, 5), "3 bands, expected 4"),
    ((32, 32, 4, 5), "32x32 pixels, expected 28x28"),
    ((784, 4, 5, 1, 1), "images have shape"),
])
def test_mat_wrong_image_shape(tmp_path, shape, pattern):
    path = tmp_path / "bad.mat"
    n = shape[-1] if len(shape) == 4 else 5
    y = np.zeros((4, n), np.uint8)
    y[0] = 1
    scipy.io.savemat(path, {"test_x": np.zeros(shape, np.uint8), "test_y": y})
    _raises(path, pattern)


def test_mat_labels_not_one_hot(sample_mat, tmp_path):
    y = sample_mat["test_y"].copy()
    y[:, 3] = [1, 1, 0, 0]
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"test_x": sample_mat["test_x"], "test_y": y})
    _raises(path, "not one-hot", "image 3")


def test_mat_label_count_mismatch(sample_mat, tmp_path):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"test_x": sample_mat["test_x"], "test_y": sample_mat["test_y"][:, :19]})
    _raises(path, "20 images but 19 labels")


@pytest.mark.parametrize("value,pattern", [
    (np.nan, "NaN"),
    (300.0, "outside 0-255"),
    (-1.0, "outside 0-255"),
    (12.5, "must be integers"),
])
def test_mat_bad_pixel_values(sample_mat, tmp_path, value, pattern):
    x = sample_mat["test_x"].astype(np.float64)
    x[3, 4, 1, 7] = value
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"test_x": x, "test_y": sample_mat["test_y"]})
    _raises(path, pattern)


def test_mat_scaled_floats_hint(sample_mat, tmp_path):
    path = tmp_path / "scaled.mat"
    scipy.io.savemat(path, {"test_x": sample_mat["test_x"] / 255.0, "test_y": sample_mat["test_y"]})
    _raises(path, "scaled to [0, 1]")


def test_mat_integral_floats_accepted(sample_mat, tmp_path):
    path = tmp_path / "float.mat"
    scipy.io.savemat(path, {"test_x": sample_mat["test_x"].astype(np.float64),
                            "test_y": sample_mat["test_y"].astype(np.float64)})
    np.testing.assert_array_equal(load_sat4(path, "test").images,
                                  np.moveaxis(sample_mat["test_x"], 3, 0))


def test_csv_header_row(csv_pair):
    rows = csv_pair.base()
    header = [f"pixel{i}" for i in range(3136)]
    _raises(csv_pair(x_rows=[header] + rows), "line 1 looks like a header row")


def test_csv_numeric_header_row(csv_pair):
    """A header of column numbers (as pandas writes it) is recognised too."""
    rows = csv_pair.base()
    _raises(csv_pair(x_rows=[list(range(3136))] + rows[:19]), "header row")


def test_labels_csv_header_row(csv_pair):
    y = [["barren land", "trees", "grassland", "none"]] + [[1, 0, 0, 0]] * 20
    with pytest.raises(Sat4FormatError, match="y_test_sat4.csv: line 1 looks like a header"):
        load_sat4(csv_pair(y_rows=y), "test")


def test_csv_ragged_rows(csv_pair):
    rows = csv_pair.base()
    rows[6] = rows[6][:-1]
    _raises(csv_pair(x_rows=rows), "ragged rows: line 7 has 3135 values, expected 3136")


def test_csv_ragged_rows_that_compensate(csv_pair):
    rows = csv_pair.base()
    rows[2], rows[3] = rows[2][:-1], rows[3] + ["1"]
    _raises(csv_pair(x_rows=rows), "ragged rows: line 3")


def test_csv_three_band_rows(csv_pair):
    rows = [r[:2352] for r in csv_pair.base()]  # 28 x 28 x 3
    _raises(csv_pair(x_rows=rows), "2352 values, expected 3136")


def test_csv_empty_line_inside(csv_pair):
    rows = csv_pair.base()
    text = "".join(",".join(r) + "\n" for r in rows[:5]) + "\n" + "".join(
        ",".join(r) + "\n" for r in rows[5:])
    _raises(csv_pair(x_text=text), "line 6")


@pytest.mark.parametrize("value,pattern", [
    ("256", "line 5, column 11: value 256 outside 0-255"),
    ("-3", "line 5, column 11: value -3 outside 0-255"),
    ("12.5", "line 5, column 11: non-integer value '12.5'"),
    ("nan", "line 5, column 11: NaN"),
    ("abc", "line 5, column 11: non-numeric value 'abc'"),
    ("", "line 5, column 11: an empty value"),
])
def test_csv_bad_values(csv_pair, value, pattern):
    rows = csv_pair.base()
    rows[4][10] = value
    _raises(csv_pair(x_rows=rows), pattern)


def test_csv_labels_not_one_hot(csv_pair):
    y = [[1, 0, 0, 0]] * 20
    y[11] = [0, 1, 1, 0]
    path = csv_pair(y_rows=y)
    with pytest.raises(Sat4FormatError, match=r"y_test_sat4.csv: labels are not one-hot: image 11"):
        load_sat4(path, "test")


def test_csv_count_mismatch(csv_pair):
    _raises(csv_pair(x_rows=csv_pair.base()[:17]), "17 image rows", "20 labels")
    _raises(csv_pair(x_rows=csv_pair.base() + csv_pair.base()[:1]), "more than 20 image rows")


def test_csv_split_mismatch(sat4_sample_dir):
    with pytest.raises(Sat4FormatError, match="holds the 'test' split but split='train'"):
        load_sat4(sat4_sample_dir / "X_test_sat4.csv")


def test_labels_file_given_instead_of_images(sat4_sample_dir):
    with pytest.raises(Sat4FormatError, match="labels file; pass the images file X_test_sat4.csv"):
        load_sat4(sat4_sample_dir / "y_test_sat4.csv", "test")


def test_bad_split_name(sat4_sample_dir):
    with pytest.raises(ValueError, match="split must be one of .* got 'validation'"):
        load_sat4(sat4_sample_dir, "validation")


@pytest.mark.parametrize("kwargs,error,pattern", [
    ({"classes": ["forest"]}, ValueError, "unknown class name 'forest'"),
    ({"classes": [7]}, ValueError, "class index 7 out of range"),
    ({"max_images": -1}, ValueError, "max_images must be a non-negative int"),
    ({"max_images": 2.5}, TypeError, "max_images must be"),
    ({"chunk_size": 0}, ValueError, "chunk_size must be a positive int"),
])
def test_bad_arguments(sat4_sample_dir, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_sat4(sat4_sample_dir, **kwargs)
