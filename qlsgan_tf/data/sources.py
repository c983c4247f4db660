"""Which SAT-4 layout a path holds, and a reader for one of its splits.

Accepted paths: a ``.mat`` file (v5 or v7.3), a Kaggle ``X_{split}_sat4.csv``, a cache directory
made by ``convert_to_cache`` (or its ``manifest.json``), or a directory holding one of these. A
directory holding several layouts is read in the order cache, ``.mat``, CSV.
"""
from __future__ import annotations

import glob
import os
from typing import Any, List, Optional, Union

from qlsgan_tf.data import cache, core, kaggle_csv, mat

_ACCEPTED = ("a .mat file (MATLAB v5 or v7.3), a Kaggle X_{split}_sat4.csv file, a cache "
             "directory made by `qlsgan convert-data`, or a directory holding one of these")


def _resolve(path):
    """Returns ``(kind, path)`` with kind in {"cache", "mat", "csv", "csv-dir"}."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise core.Sat4FileNotFoundError(f"{path}: no such file or directory (expected "
                                         f"{_ACCEPTED})")
    core.check_regular_file(path, what="SAT-4 data file")
    if os.path.isdir(path):
        try:
            os.listdir(path)
        except PermissionError:
            raise PermissionError(f"{path}: permission denied (unreadable directory)") from None
        if cache.is_cache(path):
            return "cache", path
        mats = sorted(glob.glob(os.path.join(glob.escape(path), "*.mat")))
        if len(mats) > 1:
            preferred = [m for m in mats if os.path.basename(m) == "sat-4-full.mat"]
            if not preferred:
                raise core.Sat4FormatError(
                    f"{path}: several .mat files ({', '.join(os.path.basename(m) for m in mats)});"
                    f" pass the one to read")
            mats = preferred
        if mats:
            return "mat", mats[0]
        if glob.glob(os.path.join(glob.escape(path), "X_*_sat4.csv")):
            return "csv-dir", path
        raise core.Sat4FormatError(f"{path}: no SAT-4 data in this directory (expected "
                                   f"{_ACCEPTED})")
    name = os.path.basename(path)
    ext = os.path.splitext(name)[1].lower()
    if name == cache.MANIFEST:
        return "cache", os.path.dirname(path) or "."
    if ext == ".mat":
        return "mat", path
    if ext == ".csv":
        if name.lower().startswith("y_"):
            raise core.Sat4FormatError(f"{path}: this is a labels file; pass the images file "
                                       f"X_{name[2:]} (its labels are found beside it)")
        return "csv", path
    if ext == ".npy":
        raise core.Sat4FormatError(f"{path}: pass the cache directory, not one of its .npy files")
    raise core.Sat4FormatError(f"{path}: unknown extension {ext!r} (expected {_ACCEPTED})")


def layout_of(path: Union[str, os.PathLike]) -> str:
    """A short name of the layout at ``path``: cache, mat-v5, mat-v7.3 or kaggle-csv."""
    kind, resolved = _resolve(path)
    if kind == "mat":
        return "mat-v7.3" if mat.is_hdf5(resolved) else "mat-v5"
    return {"cache": "cache", "csv": "kaggle-csv", "csv-dir": "kaggle-csv"}[kind]


def available_splits(path: Union[str, os.PathLike]) -> List[str]:
    """The SAT-4 splits ``path`` holds, in ``core.SPLITS`` order."""
    kind, resolved = _resolve(path)
    if kind == "cache":
        return [s for s in core.SPLITS if s in cache.read_manifest(resolved)["splits"]]
    if kind == "mat":
        return mat.splits_in(resolved)
    if kind == "csv":
        split = kaggle_csv.split_of(resolved)
        return [split if split in core.SPLITS else "train"]
    return [s for s in core.SPLITS
            if os.path.exists(os.path.join(resolved, f"X_{s}_sat4.csv"))]


def open_split(path: Union[str, os.PathLike], split: str, verify: Optional[bool] = None) -> Any:
    """A reader for ``split`` of the data at ``path`` (see ``_ACCEPTED``).

    Readers have ``path``, ``split``, ``layout``, ``labels`` (int64), ``len()``,
    ``iter_chunks(stop, chunk_size)`` and ``close()``.
    """
    core.check_split(split)
    kind, resolved = _resolve(path)
    if kind == "cache":
        return cache.CacheReader(resolved, split, verify=verify)
    if kind == "mat":
        return mat.open_mat(resolved, split)
    if kind == "csv-dir":
        x_path = os.path.join(resolved, f"X_{split}_sat4.csv")
        if not os.path.exists(x_path):
            raise core.Sat4FileNotFoundError(f"{resolved}: no X_{split}_sat4.csv for the "
                                             f"{split!r} split in this directory")
        return kaggle_csv.CsvReader(x_path, split)
    named = kaggle_csv.split_of(resolved)
    if named is not None and named != split:
        raise core.Sat4FormatError(f"{resolved}: this file holds the {named!r} split but "
                                   f"split={split!r} was asked; pass split={named!r} or the "
                                   f"directory")
    return kaggle_csv.CsvReader(resolved, split)
