"""``load_sat4``: one entry point for every layout SAT-4 is distributed in, plus the sample.

Memory: a Kaggle CSV or a v7.3 ``.mat`` is read chunk by chunk into one preallocated uint8
array, and ``max_images`` stops reading early. A v5 ``.mat`` is read whole by
``scipy.io.loadmat`` (one split: about 1.25 GB for the full train split, plus the transposed
copy). A cache made by ``convert_to_cache`` opens instantly as a read-only memory map. For the
full data set: ``qlsgan convert-data sat-4-full.mat cache/`` once, then ``load_sat4("cache/")``.
"""
from __future__ import annotations

import importlib.resources
import os
import pathlib
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from qlsgan_tf.data import cache, core, sources
from qlsgan_tf.validation import check_int

DEFAULT_CHUNK_SIZE = 8192
_VALUES = np.arange(256, dtype=np.int64)


def sample_path() -> pathlib.Path:
    """Directory of the bundled SAT-4 sample (70 real patches, both layouts; see its README)."""
    try:
        path = pathlib.Path(str(importlib.resources.files("qlsgan_tf.data") / "sample"))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - exotic loaders
        path = pathlib.Path(__file__).resolve().parent / "sample"
    if not path.is_dir():  # e.g. a zipped install: fall back to this file's directory
        path = pathlib.Path(__file__).resolve().parent / "sample"
    return path


def load_sat4(path: Union[str, os.PathLike], split: str = "train", max_images: Optional[int] = None,
              classes: Optional[Sequence[Union[int, str]]] = None,
              verify: Optional[bool] = None, chunk_size: int = DEFAULT_CHUNK_SIZE
              ) -> core.Sat4Data:
    """Loads one split of SAT-4.

    Args:
      path: a ``.mat`` file (MATLAB v5 or v7.3/HDF5), a Kaggle ``X_{split}_sat4.csv`` (its
        ``y_`` file is found beside it), a cache directory made by ``convert_to_cache``, or a
        directory holding one of these.
      split: ``"train"`` or ``"test"``.
      max_images: keep only the first ``max_images`` images (after the ``classes`` filter).
        CSV and v7.3 files stop reading there; a cache returns a slice of the memory map.
      classes: class names and/or indices to keep (labels keep their original indices).
      verify: for a cache, also check the sha256 checksums (reads every byte); None (the
        default) checks them for caches up to ``cache.AUTO_VERIFY_BYTES``.
      chunk_size: images per chunk when streaming.

    Returns:
      ``Sat4Data(images uint8 [N, 28, 28, 4], labels int64 [N], class_names)``.

    Raises:
      Sat4FormatError: bad or unreadable data; the message names the file and the problem.
      ValueError / TypeError: bad arguments.

    >>> data = load_sat4(sample_path(), split="test")
    >>> data.images.shape, data.class_counts().tolist()
    ((20, 28, 28, 4), [3, 4, 5, 8])
    """
    core.check_split(split)
    max_images = core.check_max_images(max_images)
    wanted = core.class_indices(classes)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    reader = sources.open_split(path, split, verify=verify)
    try:
        rows = core.selection(reader.labels, wanted, max_images)
        if isinstance(reader, cache.CacheReader):
            return _from_cache(reader, rows)
        return _stream(reader, rows, chunk_size)
    finally:
        reader.close()


def _from_cache(reader, rows):
    if rows is None:
        return core.Sat4Data(reader.images, np.array(reader.labels), core.CLASS_NAMES)
    if rows.size == 0 or rows[-1] == rows.size - 1:  # a prefix: keep the memory map
        return core.Sat4Data(reader.images[:rows.size], reader.labels[:rows.size].copy(),
                             core.CLASS_NAMES)
    return core.Sat4Data(reader.images[rows], reader.labels[rows], core.CLASS_NAMES)


def _stream(reader, rows, chunk_size):
    """Reads the selected rows chunk by chunk into one preallocated array."""
    n_total = len(reader)
    if rows is None:
        n, stop = n_total, n_total
    else:
        n, stop = rows.size, (int(rows[-1]) + 1 if rows.size else 0)
    images = np.empty((n,) + core.IMAGE_SHAPE, dtype=np.uint8)
    for start, chunk in reader.iter_chunks(stop, chunk_size):
        end = start + chunk.shape[0]
        if rows is None:
            images[start:end] = chunk
        else:
            lo, hi = np.searchsorted(rows, [start, end])
            images[lo:hi] = chunk[rows[lo:hi] - start]
    labels = reader.labels if rows is None else reader.labels[rows]
    return core.Sat4Data(images, np.ascontiguousarray(labels, dtype=np.int64), core.CLASS_NAMES)


def describe(path: Union[str, os.PathLike], splits: Optional[Sequence[str]] = None,
             chunk_size: int = DEFAULT_CHUNK_SIZE, progress: Optional[bool] = False,
             verify: Optional[bool] = None) -> Dict[str, Any]:
    """Counts per split and class, and per-band mean/std, computed in one streaming pass.

    ``progress``: tqdm bar on stderr: True always, None only on a terminal, False never.
    ``verify``: for a cache, check the sha256 checksums (None: small caches only).

    Per-band histograms give exact sums and sums of squares chunk by chunk, so the full data
    set needs memory for one chunk only (a v5 ``.mat`` split is still read whole by scipy).

    Returns:
      ``{"path", "layout", "splits": {split: {"count", "class_counts": {name: n},
      "band_mean": [4], "band_std": [4]}}}``.
    """
    info: Dict[str, Any] = {"path": os.fspath(path), "layout": sources.layout_of(path),
                            "splits": {}}
    for split in splits or sources.available_splits(path):
        reader = sources.open_split(path, split, verify=verify)
        try:
            n = len(reader)
            total = np.zeros(4, dtype=np.int64)
            total_sq = np.zeros(4, dtype=np.int64)
            bar = None
            if progress is not False:
                from tqdm.auto import tqdm

                bar = tqdm(total=n, unit="img", desc=f"scan {split}", unit_scale=True,
                           disable=None if progress is None else False)
            for _, chunk in reader.iter_chunks(n, chunk_size):
                # A 256-bin histogram per band gives exact sums and sums of squares, faster
                # than reducing the uint8 array over three axes (benchmarks/README.md).
                pixels = chunk.reshape(-1, 4)
                hist = np.stack([np.bincount(pixels[:, b], minlength=256) for b in range(4)])
                total += hist @ _VALUES
                total_sq += hist @ (_VALUES * _VALUES)
                if bar is not None:
                    bar.update(chunk.shape[0])
            if bar is not None:
                bar.close()
            count = n * 28 * 28
            mean = total / count if count else np.full(4, np.nan)
            var = total_sq / count - mean ** 2 if count else np.full(4, np.nan)
            counts = np.bincount(reader.labels, minlength=len(core.CLASS_NAMES))
            info["splits"][split] = {
                "count": int(n),
                "class_counts": {name: int(c) for name, c in zip(core.CLASS_NAMES, counts)},
                "band_mean": [float(v) for v in mean],
                "band_std": [float(v) for v in np.sqrt(np.maximum(var, 0.0))],
            }
        finally:
            reader.close()
    return info
