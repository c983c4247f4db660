"""The SAT-4 vocabulary shared by every reader: class order, the result type, the error type.

Validation helpers live here too, so the ``.mat``, HDF5, CSV and cache readers reject a bad
file with the same words.
"""
from __future__ import annotations

import dataclasses
import os
import stat
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from qlsgan_tf.validation import check_choice, check_optional_int

# Class order of the one-hot columns in every SAT-4 distribution.
CLASS_NAMES = ("barren land", "trees", "grassland", "none")
BAND_NAMES = ("R", "G", "B", "NIR")
SPLITS = ("train", "test")
IMAGE_SHAPE = (28, 28, 4)
PIXELS_PER_IMAGE = 28 * 28 * 4  # 3136 values per CSV row


INPUT_RANGES = ("tanh", "uint8", "uint8_or_tanh")
_RANGE_TOL = 1e-3


def as_images(images: Any, *, input_range: str, name: str = "images") -> np.ndarray:
    """The one image contract: a non-empty batch ``[N, 28, 28, 4]`` (R, G, B, NIR) as float32
    in [-1, 1].

    Args:
        images: array-like.
        input_range: what the caller accepts: ``"tanh"`` (float in [-1, 1] only; integer
            pixels are refused, so that un-normalized data cannot slip in), ``"uint8"`` (uint8
            pixels 0..255 only, scaled as :func:`qlsgan_tf.data.normalize`) or
            ``"uint8_or_tanh"`` (either, told apart by dtype).
        name: how error messages call the argument.

    Raises:
        TypeError: a dtype ``input_range`` does not accept.
        ValueError: wrong rank, patch size or band count, no images, NaN/inf, or float values
            outside [-1, 1].
    """
    check_choice("input_range", input_range, INPUT_RANGES)
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"{name} must have shape [N, 28, 28, 4]; got shape {arr.shape} "
                         f"(rank {arr.ndim})")
    if arr.shape[-1] != IMAGE_SHAPE[-1]:
        raise ValueError(f"{name} must have 4 bands (R, G, B, NIR) in the last axis; got "
                         f"{arr.shape[-1]} (shape {arr.shape})")
    if arr.shape[1:3] != IMAGE_SHAPE[:2]:
        raise ValueError(f"{name} must be 28x28 patches [N, 28, 28, 4]; got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): at least one image is needed")
    if arr.dtype == np.uint8 and input_range != "tanh":
        return arr.astype(np.float32) / 127.5 - 1.0
    if input_range == "uint8" or not np.issubdtype(arr.dtype, np.floating):
        wanted = {"tanh": "float in [-1, 1] (normalize uint8 patches with "
                          "qlsgan_tf.data.normalize first)",
                  "uint8": "uint8 pixels 0..255",
                  "uint8_or_tanh": "uint8 pixels or float in [-1, 1]"}[input_range]
        raise TypeError(f"{name} must be {wanted}; got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1.0 - _RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        raise ValueError(f"{name} must lie in [-1, 1] (the tanh range); got values in "
                         f"[{lo:.4g}, {hi:.4g}]")
    return arr.astype(np.float32, copy=False)


def check_regular_file(path: Union[str, os.PathLike], what: str = "file") -> None:
    """Refuses a FIFO, device or socket (reading one may hang) and an unreadable file.

    A missing ``path`` passes (the caller reports it in its own words).
    """
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (cannot reach the {what})") from None
    if stat.S_ISDIR(mode):
        return
    if not stat.S_ISREG(mode):
        raise Sat4FormatError(f"{path}: not a regular file (a FIFO, device or socket); "
                              f"expected a {what}")
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (unreadable {what})") from None


class Sat4FormatError(ValueError):
    """Bad SAT-4 input; the message names the file and the problem."""


class Sat4FileNotFoundError(Sat4FormatError, FileNotFoundError):
    """A SAT-4 file or directory that does not exist (also a ``FileNotFoundError``)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Sat4Data:
    """One split of SAT-4.

    Attributes:
      images: uint8 ``[N, 28, 28, 4]`` (bands R, G, B, NIR). A read-only memory map when
        loaded from a cache made by ``convert_to_cache``.
      labels: int64 ``[N]``, indices into ``class_names`` (always the full ``CLASS_NAMES``, also
        when a ``classes`` filter was applied, so labels keep their meaning).
      class_names: the class names in label order.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple = CLASS_NAMES

    def __len__(self):
        return int(self.labels.shape[0])

    def class_counts(self) -> np.ndarray:
        """Number of images per class, in ``class_names`` order."""
        return np.bincount(self.labels, minlength=len(self.class_names)).astype(np.int64)


def check_split(split: str) -> str:
    """Returns ``split`` if it names a SAT-4 split, else a ValueError naming the value."""
    check_choice("split", split, SPLITS)
    return split


def class_indices(classes: Optional[Sequence[Union[int, str]]]) -> Optional[np.ndarray]:
    """Turns a ``classes`` filter (names and/or indices) into a sorted int64 index array."""
    if classes is None:
        return None
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    indices = []
    for cls in classes:
        if isinstance(cls, str):
            if cls not in CLASS_NAMES:
                raise ValueError(f"classes: unknown class name {cls!r}; expected one of "
                                 f"{CLASS_NAMES}")
            indices.append(CLASS_NAMES.index(cls))
        elif isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
            if not 0 <= cls < len(CLASS_NAMES):
                raise ValueError(f"classes: class index {cls} out of range "
                                 f"0..{len(CLASS_NAMES) - 1}")
            indices.append(int(cls))
        else:
            raise TypeError(f"classes: expected class names or indices, got {cls!r}")
    if not indices:
        raise ValueError("classes: empty selection")
    return np.unique(np.asarray(indices, dtype=np.int64))


def check_max_images(max_images: Optional[int]) -> Optional[int]:
    """Returns ``max_images`` as an int (or None), rejecting negative or non-integer values."""
    return check_optional_int("max_images", max_images, 0)


def onehot_to_labels(onehot: np.ndarray, where: str) -> np.ndarray:
    """Validates one-hot rows ``[N, 4]`` and returns int64 class indices.

    Args:
      onehot: array ``[N, 4]`` (any numeric dtype).
      where: text naming the file/variable, used in error messages.
    """
    onehot = np.asarray(onehot)
    if onehot.ndim != 2 or onehot.shape[1] != len(CLASS_NAMES):
        raise Sat4FormatError(f"{where}: labels must be one-hot rows of {len(CLASS_NAMES)} "
                              f"classes {CLASS_NAMES}, got shape {onehot.shape}")
    if onehot.dtype.kind == "f" and np.isnan(onehot).any():
        row = int(np.flatnonzero(np.isnan(onehot).any(axis=1))[0])
        raise Sat4FormatError(f"{where}: labels contain NaN (image {row})")
    ok = ((onehot == 0) | (onehot == 1)).all(axis=1) & (onehot.sum(axis=1) == 1)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise Sat4FormatError(f"{where}: labels are not one-hot: image {row} has "
                              f"{onehot[row].tolist()} ({int((~ok).sum())} bad rows)")
    return np.argmax(onehot, axis=1).astype(np.int64)


def to_uint8_pixels(values: np.ndarray, where: str) -> np.ndarray:
    """Checks pixel values (NaN, integers, range 0..255) and returns them as uint8.

    uint8 input is returned unchanged (no copy); other dtypes are checked and cast.
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    if values.dtype.kind not in "fiub":
        raise Sat4FormatError(f"{where}: pixel values must be numbers, got dtype {values.dtype}")
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            raise Sat4FormatError(f"{where}: pixel values contain NaN")
        if np.isinf(values).any():
            raise Sat4FormatError(f"{where}: pixel values contain infinity")
        if values.size and (values != np.round(values)).any():
            bad = values[values != np.round(values)].ravel()[0]
            hint = (" (values look scaled to [0, 1]; SAT-4 pixels are integers 0-255)"
                    if values.max() <= 1.0 else "")
            raise Sat4FormatError(f"{where}: pixel values must be integers 0-255, found "
                                  f"{bad!r}{hint}")
    if values.size:
        lo, hi = values.min(), values.max()
        if lo < 0 or hi > 255:
            bad = lo if lo < 0 else hi
            raise Sat4FormatError(f"{where}: pixel value {bad} outside 0-255")
    return values.astype(np.uint8)


def check_image_dims(shape: Tuple[int, ...], where: str, layout: str) -> None:
    """Checks the per-image dims ``(rows, cols, bands)`` of an images array.

    Args:
      shape: the (rows, cols, bands) part of the shape.
      where: text naming the file/variable.
      layout: the full expected layout for the message, e.g. ``"(28, 28, 4, N)"``.
    """
    rows, cols, bands = shape
    if bands != IMAGE_SHAPE[2]:
        raise Sat4FormatError(f"{where}: images have {bands} bands, expected 4 (R, G, B, NIR); "
                              f"expected layout {layout}")
    if (rows, cols) != IMAGE_SHAPE[:2]:
        raise Sat4FormatError(f"{where}: images are {rows}x{cols} pixels, expected 28x28; "
                              f"expected layout {layout}")


def check_counts(n_images: int, n_labels: int, where: str) -> None:
    """Refuses a file whose image and label counts differ."""
    if n_images != n_labels:
        raise Sat4FormatError(f"{where}: {n_images} images but {n_labels} labels")


def selection(labels: np.ndarray, classes: Optional[np.ndarray],
              max_images: Optional[int]) -> Optional[np.ndarray]:
    """Row indices of ``labels`` kept by a ``classes`` filter and ``max_images``.

    Returns None when every row is kept, so readers can take a fast path.
    """
    n = labels.shape[0]
    if classes is None:
        if max_images is None or max_images >= n:
            return None
        return np.arange(max_images, dtype=np.int64)
    rows = np.flatnonzero(np.isin(labels, classes)).astype(np.int64)
    if max_images is not None:
        rows = rows[:max_images]
    return rows


class RandomAccessReader:
    """Base of the readers that can read any range of images (``.mat``, cache).

    Subclasses set ``path``, ``split``, ``layout``, ``labels`` and implement ``read(start, stop)``.
    """

    path: str
    split: str
    layout: str
    labels: np.ndarray

    def read(self, start: int, stop: int) -> np.ndarray:
        """Images ``start..stop`` as uint8 ``[n, 28, 28, 4]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement read(start, stop)")

    def __len__(self):
        return int(self.labels.shape[0])

    def iter_chunks(self, stop: int, chunk_size: int) -> Iterator[Tuple[int, np.ndarray]]:
        """Yields ``(start, images uint8 [n, 28, 28, 4])`` for images ``0..stop`` in order."""
        for start in range(0, stop, chunk_size):
            yield start, self.read(start, min(stop, start + chunk_size))

    def close(self) -> None:
        pass
