"""Reader for the Kaggle CSV layout of SAT-4: ``X_{split}_sat4.csv`` and ``y_{split}_sat4.csv``.

No header; one image per row of 3136 integers, ``row.reshape(28, 28, 4)`` in C order (band
fastest); the ``y_`` file beside it holds one-hot rows of 4. The images file is read in chunks of
rows, so the 400,000-row file (about 4.5 GB of text) never sits in memory as text, and only the
rows asked for are read.

Parsing uses ``np.fromstring(..., sep=",")`` into int32 (about 150 MB/s of text on one core),
then checks range and row lengths; a chunk that fails the fast path is parsed again line by line
to name the line and value at fault.
"""
from __future__ import annotations

import itertools
import os
import re
import warnings
from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from qlsgan_tf.data import core

# Rows parsed at a time: ~12 MB of text; larger chunks parse no faster (cache effects) and
# only cost memory.
_MAX_ROWS = 1024
_X_NAME = re.compile(r"^X_(?P<split>[A-Za-z0-9]+)_sat4\.csv$")


def labels_path_for(x_path: Union[str, os.PathLike]) -> str:
    """The ``y_`` file beside an ``X_`` images file: X_train_sat4.csv -> y_train_sat4.csv."""
    head, name = os.path.split(os.fspath(x_path))
    if not name.startswith(("X", "x")):
        raise core.Sat4FormatError(
            f"{x_path}: cannot find the labels file: Kaggle SAT-4 image files are named "
            f"X_{{split}}_sat4.csv with the labels in y_{{split}}_sat4.csv beside them")
    y_path = os.path.join(head, "y" + name[1:])
    if not os.path.exists(y_path):
        raise core.Sat4FileNotFoundError(f"{x_path}: labels file {y_path} not found (the Kaggle "
                                         f"layout keeps y_{{split}}_sat4.csv beside the X_ file)")
    return y_path


def split_of(x_path: Union[str, os.PathLike]) -> Optional[str]:
    """The split named by a Kaggle file name, or None for another name."""
    match = _X_NAME.match(os.path.basename(os.fspath(x_path)))
    return match.group("split") if match else None


def _diagnose(lines, ncols, first_line, path):
    """Finds and reports the first bad line of a chunk that failed the fast parse."""
    for offset, line in enumerate(lines):
        lineno = first_line + offset
        tokens = line.strip().split(b",")
        for col, token in enumerate(tokens, 1):
            text = token.strip().decode("utf-8", "replace")
            try:
                value = float(text)
            except ValueError:  # (a non-numeric line 1 was already reported as a header)
                what = "an empty value" if not text else f"non-numeric value {text!r}"
                raise core.Sat4FormatError(f"{path}: line {lineno}, column {col}: {what}"
                                           ) from None
            if np.isnan(value):
                raise core.Sat4FormatError(f"{path}: line {lineno}, column {col}: NaN value")
            if not np.isfinite(value) or value != int(value):
                raise core.Sat4FormatError(f"{path}: line {lineno}, column {col}: non-integer "
                                           f"value {text!r}; expected integers 0-255")
        if len(tokens) != ncols:
            raise core.Sat4FormatError(f"{path}: ragged rows: line {lineno} has {len(tokens)} "
                                       f"values, expected {ncols}")
    raise core.Sat4FormatError(f"{path}: cannot parse lines {first_line}.."
                               f"{first_line + len(lines) - 1}")


def _check_header(line, path):
    """Rejects a first line holding a non-numeric token (a header row)."""
    for col, token in enumerate(line.strip().split(b","), 1):
        text = token.strip().decode("utf-8", "replace")
        try:
            float(text or "0")  # an empty value is reported as such later
        except ValueError:
            raise core.Sat4FormatError(
                f"{path}: line 1 looks like a header row ({text!r} in column {col} is not a "
                f"number); SAT-4 CSV files have no header, remove that line") from None


def parse_rows(lines: Sequence[bytes], ncols: int, first_line: int,
               path: Union[str, os.PathLike]) -> np.ndarray:
    """Parses CSV lines (bytes) into an int32 array ``[len(lines), ncols]``.

    Args:
      lines: the lines, each a bytes object with or without its line ending.
      ncols: values per row.
      first_line: 1-based line number of ``lines[0]`` in the file, for messages.
      path: the file, for messages.
    """
    if first_line == 1 and lines:
        _check_header(lines[0], path)
    expected_commas = ncols - 1
    for offset, line in enumerate(lines):
        if line.count(b",") != expected_commas:
            n_values = line.count(b",") + 1 if line.strip() else 0
            raise core.Sat4FormatError(f"{path}: ragged rows: line {first_line + offset} has "
                                       f"{n_values} values, expected {ncols}"
                                       + (" (28x28x4 = 3136 for an image row)"
                                          if ncols == core.PIXELS_PER_IMAGE else ""))
    # fromstring skips whitespace around separators, so line endings need no replacing.
    blob = b",".join(lines)
    with warnings.catch_warnings():
        # fromstring warns (DeprecationWarning) and stops at the first token it cannot read.
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(blob, dtype=np.int32, sep=",")
    if values.size != len(lines) * ncols:
        # Non-integers, NaN, a header or empty values: integral floats such as "12.0" are fine.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            floats = np.fromstring(blob, dtype=np.float64, sep=",")
        if (floats.size != len(lines) * ncols or not np.isfinite(floats).all()
                or (floats != np.round(floats)).any()):
            _diagnose(lines, ncols, first_line, path)
        values = np.clip(floats, -2**31, 2**31 - 1).astype(np.int32)
    return values.reshape(len(lines), ncols)


def _check_pixels(values, first_line, path):
    bad = (values < 0) | (values > 255)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        if first_line == 1 and row == 0 and values.shape[1] == core.PIXELS_PER_IMAGE and (
                np.array_equal(values[0], np.arange(values.shape[1]))
                or np.array_equal(values[0], np.arange(1, values.shape[1] + 1))):
            raise core.Sat4FormatError(f"{path}: line 1 looks like a header row (column numbers); "
                                       f"SAT-4 CSV files have no header, remove that line")
        raise core.Sat4FormatError(f"{path}: line {first_line + row}, column {col + 1}: value "
                                   f"{int(values[row, col])} outside 0-255")


def _nonblank_lines(f, path):
    """Yields ``(line_number, line)`` of a binary file; blank lines are allowed only at the end."""
    blank_at = None
    for lineno, line in enumerate(f, 1):
        if len(line) <= 2 and not line.strip():
            blank_at = blank_at or lineno
            continue
        if blank_at is not None:
            raise core.Sat4FormatError(f"{path}: ragged rows: line {blank_at} is empty")
        yield lineno, line


def read_labels(y_path: Union[str, os.PathLike]) -> np.ndarray:
    """Labels int64 ``[N]`` from a ``y_{split}_sat4.csv`` file (one-hot rows of 4)."""
    y_path = os.fspath(y_path)
    core.check_regular_file(y_path, what="labels file")
    with open(y_path, "rb") as f:
        numbered = list(_nonblank_lines(f, y_path))
    if not numbered:
        raise core.Sat4FormatError(f"{y_path}: empty labels file")
    lines = [line for _, line in numbered]
    onehot = parse_rows(lines, len(core.CLASS_NAMES), numbered[0][0], y_path)
    return core.onehot_to_labels(onehot, y_path)


class CsvReader:
    """One split in the Kaggle CSV layout; images are streamed in chunks of rows."""

    layout = "kaggle-csv"

    def __init__(self, x_path: Union[str, os.PathLike], split: str) -> None:
        self.path = os.fspath(x_path)
        self.split = split
        self.labels_path = labels_path_for(self.path)
        self.labels = read_labels(self.labels_path)

    def __len__(self):
        return self.labels.shape[0]

    def iter_chunks(self, stop: int, chunk_size: int) -> Iterator[Tuple[int, np.ndarray]]:
        """Yields ``(start, images uint8 [n, 28, 28, 4])`` for rows ``0..stop`` in order.

        Reading stops after row ``stop``; when the whole file is read, its row count is checked
        against the labels.
        """
        n_labels = self.labels.shape[0]
        start = 0
        with open(self.path, "rb") as f:
            rows = _nonblank_lines(f, self.path)
            while start < stop:
                batch = list(itertools.islice(rows, min(chunk_size, _MAX_ROWS, stop - start)))
                if not batch:
                    break
                first_line = batch[0][0]
                values = parse_rows([line for _, line in batch], core.PIXELS_PER_IMAGE,
                                    first_line, self.path)
                _check_pixels(values, first_line, self.path)
                yield start, values.astype(np.uint8).reshape((-1,) + core.IMAGE_SHAPE)
                start += len(batch)
            extra = start >= n_labels and next(rows, None) is not None
        if start < stop or extra:
            n_images = start if not extra else f"more than {n_labels}"
            raise core.Sat4FormatError(f"{self.path}: {n_images} image rows but "
                                       f"{self.labels_path} has {n_labels} labels")

    def close(self) -> None:
        pass
