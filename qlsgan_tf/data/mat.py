"""Readers for the official ``sat-4-full.mat`` layout: MATLAB v5 (scipy) and v7.3 (HDF5, h5py).

The official file holds ``{split}_x`` uint8 ``(28, 28, 4, N)`` and ``{split}_y`` one-hot
``(4, N)``. MATLAB v7.3 files are HDF5, which stores MATLAB's column-major arrays with the axes
reversed: h5py sees ``{split}_x`` as ``(N, 4, 28, 28)`` (image, band, column, row) and
``{split}_y`` as ``(N, 4)``.

``scipy.io.loadmat`` has no partial read: a v5 file's split is read whole, and ``max_images``
only trims the result. A v7.3 file is read chunk by chunk. For the full data set, convert once
with ``qlsgan convert-data`` and load the memory-mapped cache instead.
"""
from __future__ import annotations

import os
from typing import List, Union

import numpy as np

from qlsgan_tf.data import core

_V5_LAYOUT = "(28, 28, 4, N) for {split}_x and (4, N) for {split}_y"
_V73_LAYOUT = "(N, 4, 28, 28) for {split}_x and (N, 4) for {split}_y as HDF5 (MATLAB v7.3)"


def _list_variables(path):
    import scipy.io

    try:
        return [name for name, _, _ in scipy.io.whosmat(path)]
    except Exception:  # noqa: BLE001  (only enriches an error message about this file)
        return []


class MatV5Reader(core.RandomAccessReader):
    """One split of a MATLAB v5 ``.mat`` file, held in memory as loaded by scipy."""

    layout = "mat-v5"

    def __init__(self, path: Union[str, os.PathLike], split: str) -> None:
        import scipy.io

        self.path = os.fspath(path)
        self.split = split
        xname, yname = f"{split}_x", f"{split}_y"
        try:
            contents = scipy.io.loadmat(self.path, variable_names=[xname, yname])
        except Exception as err:
            # scipy reports a damaged file as IndexError, OSError, ValueError, zlib.error, ...
            raise core.Sat4FormatError(
                f"{self.path}: corrupt or truncated .mat file (scipy.io.loadmat failed: "
                f"{type(err).__name__}: {err})") from err
        for name in (xname, yname):
            if name not in contents:
                found = _list_variables(self.path)
                raise core.Sat4FormatError(
                    f"{self.path}: no variable {name!r} in the .mat file (found: "
                    f"{', '.join(found) if found else 'none'}); expected the official SAT-4 "
                    f"layout with {xname}, {yname}")
        x, y = contents[xname], contents[yname]
        where = f"{self.path} ({xname})"
        layout = _V5_LAYOUT.format(split=split)
        if x.ndim == 3 and y.ndim == 2 and y.shape[1] == 1:
            x = x[..., np.newaxis]  # MATLAB drops the trailing singleton axis of one image
        if x.ndim != 4:
            raise core.Sat4FormatError(f"{where}: images have shape {x.shape}, expected {layout}")
        core.check_image_dims(x.shape[:3], where, layout)
        if y.ndim != 2:
            raise core.Sat4FormatError(f"{self.path} ({yname}): labels have shape {y.shape}, "
                                       f"expected {layout}")
        self.labels = core.onehot_to_labels(y.T, f"{self.path} ({yname})")
        core.check_counts(x.shape[3], self.labels.shape[0], self.path)
        self._x = x
        self._where = where

    def read(self, start: int, stop: int) -> np.ndarray:
        """Images ``[stop - start, 28, 28, 4]`` as a new C-contiguous uint8 array."""
        block = self._x[..., start:stop].transpose(3, 0, 1, 2)
        return np.ascontiguousarray(core.to_uint8_pixels(block, self._where))

    def close(self) -> None:
        self._x = None


class MatV73Reader(core.RandomAccessReader):
    """One split of a MATLAB v7.3 (HDF5) ``.mat`` file, read lazily with h5py."""

    layout = "mat-v7.3"

    def __init__(self, path: Union[str, os.PathLike], split: str) -> None:
        import h5py

        self.path = os.fspath(path)
        self.split = split
        xname, yname = f"{split}_x", f"{split}_y"
        layout = _V73_LAYOUT.format(split=split)
        try:
            self._file = h5py.File(self.path, "r")
        except Exception as err:
            raise core.Sat4FormatError(f"{self.path}: corrupt or truncated .mat (v7.3/HDF5) file "
                                       f"({type(err).__name__}: {err})") from err
        try:
            for name in (xname, yname):
                if name not in self._file or not isinstance(self._file[name], h5py.Dataset):
                    found = sorted(self._file.keys())
                    raise core.Sat4FormatError(
                        f"{self.path}: no variable {name!r} in the .mat (v7.3) file (found: "
                        f"{', '.join(found) if found else 'none'}); expected the official SAT-4 "
                        f"layout with {xname}, {yname}")
            x, y = self._file[xname], self._file[yname]
            where = f"{self.path} ({xname})"
            self._one_image = x.ndim == 3 and y.ndim == 2 and y.shape[0] == 1
            if self._one_image:  # MATLAB dropped the trailing singleton axis of one image
                n, (bands, cols, rows) = 1, x.shape
            elif x.ndim != 4:
                raise core.Sat4FormatError(f"{where}: images have shape {x.shape}, expected "
                                           f"{layout}")
            else:
                n, bands, cols, rows = x.shape
            core.check_image_dims((rows, cols, bands), where, layout)
            if y.ndim != 2:
                raise core.Sat4FormatError(f"{self.path} ({yname}): labels have shape {y.shape}, "
                                           f"expected {layout}")
            try:
                onehot = y[()]
            except Exception as err:
                raise core.Sat4FormatError(f"{self.path} ({yname}): cannot read labels, file "
                                           f"corrupt or truncated ({err})") from err
            self.labels = core.onehot_to_labels(onehot, f"{self.path} ({yname})")
            core.check_counts(n, self.labels.shape[0], self.path)
        except BaseException:
            self._file.close()
            raise
        self._x = x
        self._where = where

    def read(self, start: int, stop: int) -> np.ndarray:
        try:
            block = self._x[()][np.newaxis][start:stop] if self._one_image else self._x[start:stop]
        except Exception as err:
            raise core.Sat4FormatError(f"{self._where}: cannot read images {start}..{stop}, file "
                                       f"corrupt or truncated ({err})") from err
        block = block.transpose(0, 3, 2, 1)  # (n, band, col, row) -> (n, row, col, band)
        return np.ascontiguousarray(core.to_uint8_pixels(block, self._where))

    def close(self) -> None:
        self._file.close()


def is_hdf5(path: Union[str, os.PathLike]) -> bool:
    """True for an HDF5 file (MATLAB v7.3 ``.mat``), judged by its signature."""
    import h5py

    try:
        return bool(h5py.is_hdf5(os.fspath(path)))
    except OSError:
        return False


def open_mat(path: Union[str, os.PathLike], split: str) -> core.RandomAccessReader:
    """A reader for ``split`` of a ``.mat`` file, v5 or v7.3."""
    return MatV73Reader(path, split) if is_hdf5(path) else MatV5Reader(path, split)


def splits_in(path: Union[str, os.PathLike]) -> List[str]:
    """The SAT-4 splits whose ``{split}_x`` variable a ``.mat`` file holds."""
    if is_hdf5(path):
        import h5py

        try:
            with h5py.File(os.fspath(path), "r") as f:
                names = set(f.keys())
        except Exception as err:
            raise core.Sat4FormatError(f"{os.fspath(path)}: corrupt or truncated .mat (v7.3/HDF5) "
                                       f"file ({err})") from err
    else:
        import scipy.io

        try:
            names = {name for name, _, _ in scipy.io.whosmat(os.fspath(path))}
        except Exception as err:
            raise core.Sat4FormatError(f"{os.fspath(path)}: corrupt or truncated .mat file "
                                       f"({type(err).__name__}: {err})") from err
    found = [s for s in core.SPLITS if f"{s}_x" in names]
    if not found:
        raise core.Sat4FormatError(f"{os.fspath(path)}: no variable 'train_x' or 'test_x' in the "
                                   f".mat file (found: {', '.join(sorted(names)) or 'none'})")
    return found
