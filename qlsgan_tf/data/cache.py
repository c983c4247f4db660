"""A memory-mappable SAT-4 cache: convert once, then open any split instantly.

Layout of a cache directory::

    manifest.json          format, version, source, counts per split and class, sha256
    train_images.npy       uint8 [N, 28, 28, 4]   (opened with np.load(mmap_mode="r"))
    train_labels.npy       int64 [N]
    test_images.npy ...

This module reads caches (the manifest, ``CacheReader``); ``data.convert`` writes them.

Opening a cache checks each file's size against the manifest and, for caches up to
``AUTO_VERIFY_BYTES``, the sha256 checksums (``verify=None``, the default); ``verify=True``
checks them whatever the size. The manifest may name files inside the cache directory only.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Optional, Union

import numpy as np

from qlsgan_tf.data import core

FORMAT = "qlsgan_tf.sat4-cache"
VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_CHUNK_SIZE = 8192
# verify=None checks the sha256 of caches up to this size on open (~0.3 s at 1 GB/s).
AUTO_VERIFY_BYTES = 256 * 2**20


def is_cache(path: Union[str, os.PathLike]) -> bool:
    """True when ``path`` is a directory holding a cache manifest."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def read_manifest(cache_dir: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The parsed, checked ``manifest.json`` of a cache directory."""
    path = os.path.join(os.fspath(cache_dir), MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise core.Sat4FileNotFoundError(f"{path}: cache manifest not found") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise core.Sat4FormatError(f"{path}: corrupt cache manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise core.Sat4FormatError(f"{path}: not a qlsgan_tf SAT-4 cache manifest "
                                   f"(format {FORMAT!r} expected)")
    if manifest.get("version") != VERSION:
        raise core.Sat4FormatError(f"{path}: cache format version {manifest.get('version')!r} "
                                   f"not supported (expected {VERSION}); convert the data again")
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or not splits or not all(
            isinstance(v, dict) and isinstance(v.get("count"), int) for v in splits.values()):
        raise core.Sat4FormatError(f"{path}: corrupt cache manifest (no split counts)")
    return manifest


def _sha256_update(digest, array, chunk_size):
    for start in range(0, array.shape[0], chunk_size):
        digest.update(np.ascontiguousarray(array[start:start + chunk_size]).data.cast("B"))


class CacheReader(core.RandomAccessReader):
    """One split of a cache; images stay a read-only memory map."""

    layout = "cache"

    def __init__(self, cache_dir: Union[str, os.PathLike], split: str,
                 verify: Optional[bool] = None) -> None:
        self.path = os.fspath(cache_dir)
        self.split = split
        self.manifest = read_manifest(self.path)
        entry = self.manifest["splits"].get(split)
        if entry is None:
            raise core.Sat4FormatError(f"{self.path}: the cache has no {split!r} split (it holds "
                                       f"{', '.join(self.manifest['splits'])})")
        count = entry["count"]
        images_path = _member(self.path, entry.get("images", f"{split}_images.npy"))
        labels_path = _member(self.path, entry.get("labels", f"{split}_labels.npy"))
        self.images = _load_npy(images_path, (count,) + core.IMAGE_SHAPE, np.uint8, mmap=True)
        self.labels = _load_npy(labels_path, (count,), np.int64, mmap=False)
        n_classes = len(core.CLASS_NAMES)
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= n_classes):
            raise core.Sat4FormatError(f"{labels_path}: corrupt cache: label values outside "
                                       f"0..{len(core.CLASS_NAMES) - 1}")
        expected = entry.get("class_counts")
        if isinstance(expected, dict):
            counts = np.bincount(self.labels, minlength=len(core.CLASS_NAMES))
            actual = {name: int(c) for name, c in zip(core.CLASS_NAMES, counts)}
            if actual != expected:
                raise core.Sat4FormatError(f"{labels_path}: corrupt cache: class counts {actual} "
                                           f"differ from the manifest's {expected}")
        if verify is None:
            verify = self.images.nbytes <= AUTO_VERIFY_BYTES
        if verify:
            self.verify(entry.get("sha256", {}), images_path, labels_path)

    def verify(self, checksums: Dict[str, str], images_path: str, labels_path: str) -> None:
        """Compares the sha256 of images and labels with the manifest (reads everything)."""
        for name, array, path in (("images", self.images, images_path),
                                  ("labels", self.labels, labels_path)):
            expected = checksums.get(name)
            if not expected:
                raise core.Sat4FormatError(f"{path}: the cache manifest has no sha256 for {name}")
            digest = hashlib.sha256()
            _sha256_update(digest, array, DEFAULT_CHUNK_SIZE)
            if digest.hexdigest() != expected:
                raise core.Sat4FormatError(f"{path}: corrupt cache: sha256 checksum mismatch "
                                           f"(convert the data again)")

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.images[start:stop]


def _member(cache_dir, name):
    """``cache_dir/name`` for a manifest entry; a path leading elsewhere is refused."""
    if not isinstance(name, str) or not name or os.path.basename(name) != name \
            or name in (".", ".."):
        raise core.Sat4FormatError(f"{os.path.join(cache_dir, MANIFEST)}: corrupt cache "
                                   f"manifest: file entry {name!r} is not a file name inside "
                                   "the cache directory")
    path = os.path.join(cache_dir, name)
    real_dir = os.path.realpath(cache_dir)
    if os.path.commonpath([real_dir, os.path.realpath(path)]) != real_dir:
        raise core.Sat4FormatError(f"{path}: a link leading outside the cache directory; "
                                   "a cache's files must lie inside it")
    return path


def _load_npy(path, shape, dtype, mmap):
    core.check_regular_file(path, what="cache file")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise core.Sat4FileNotFoundError(f"{path}: cache file missing") from None
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (unreadable cache file)") from None
    except (ValueError, OSError, EOFError) as err:
        # A truncated .npy: "mmap length is greater than file size", "cannot reshape", ...
        raise core.Sat4FormatError(f"{path}: corrupt or truncated cache file ({err})") from None
    if array.shape != shape or array.dtype != dtype:
        raise core.Sat4FormatError(f"{path}: corrupt cache file: {array.dtype} {array.shape}, "
                                   f"expected {np.dtype(dtype)} {shape} from the manifest")
    if mmap and array.offset + array.nbytes != os.path.getsize(path):
        raise core.Sat4FormatError(f"{path}: corrupt cache file: {os.path.getsize(path)} bytes, "
                                   f"expected {array.offset + array.nbytes} from the manifest")
    return array
