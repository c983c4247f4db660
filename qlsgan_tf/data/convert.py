"""Writing a SAT-4 cache (:mod:`qlsgan_tf.data.cache` has the layout and reads it).

``convert_to_cache`` streams the source chunk by chunk into ``np.lib.format.open_memmap`` files,
so converting the 400,000-image CSV needs memory for one chunk, not for the data set. The
directory is written under a temporary name beside ``out_dir`` and renamed into place when
complete, so an interrupted conversion never leaves a half-written cache. Free space is
checked and every ``.npy`` is preallocated before a byte is written: a full disk is an
``OSError`` naming the file (a sparse memory map would die with SIGBUS instead).
"""
from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Optional, Union

import numpy as np

from qlsgan_tf.data import core, sources
from qlsgan_tf.data.cache import (
    DEFAULT_CHUNK_SIZE,
    FORMAT,
    MANIFEST,
    VERSION,
    is_cache,
)
from qlsgan_tf.fsutil import chmod_umask, process_gone
from qlsgan_tf.validation import check_int


def _check_replaceable(out_dir):
    """Refuses to delete a directory that is neither empty nor a cache."""
    if not os.path.isdir(out_dir):
        raise core.Sat4FormatError(f"{out_dir}: exists and is not a directory; refusing to "
                                   f"overwrite it")
    if os.listdir(out_dir) and not is_cache(out_dir):
        raise core.Sat4FormatError(f"{out_dir}: exists and is not a SAT-4 cache (no "
                                   f"{MANIFEST}); refusing to overwrite it")


def convert_to_cache(src: Union[str, os.PathLike], out_dir: Union[str, os.PathLike],
                     chunk_size: int = DEFAULT_CHUNK_SIZE,
                     overwrite: bool = False, progress: Optional[bool] = False) -> Dict[str, Any]:
    """Converts SAT-4 (``.mat``, Kaggle CSV, a directory, or a cache) into a cache directory.

    Every split found in ``src`` is converted. Memory use is one chunk of images.

    Args:
      src: any path ``load_sat4`` accepts.
      out_dir: the cache directory to create.
      chunk_size: images per chunk read and written.
      overwrite: replace an existing cache at ``out_dir``; without it an existing non-empty
        ``out_dir`` is an error.
      progress: tqdm progress bar on stderr: True always, None only on a terminal, False never.

    Returns:
      The manifest written to ``out_dir/manifest.json``.
    """
    chunk_size = check_int("chunk_size", chunk_size, 1)
    out_dir = os.path.abspath(os.fspath(out_dir))
    src_abs = os.path.abspath(os.fspath(src))
    exists = os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir))
    if exists and not overwrite:
        raise FileExistsError(f"{out_dir}: already exists; pass overwrite=True (--overwrite) "
                              f"to replace it")
    if exists:
        _check_replaceable(out_dir)
    splits = sources.available_splits(src)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    _remove_stale_partials(out_dir)
    tmp_dir = tempfile.mkdtemp(prefix=f"{_partial_prefix(out_dir)}{os.getpid()}-", dir=parent)
    try:
        chmod_umask(tmp_dir, directory=True)
        manifest: Dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "source": src_abs,
            "source_layout": None,
            "class_names": list(core.CLASS_NAMES),
            "image_shape": list(core.IMAGE_SHAPE),
            "splits": {},
        }
        for split in splits:
            reader = sources.open_split(src, split, verify=True)  # never re-sign bad data
            try:
                manifest["source_layout"] = reader.layout
                manifest["splits"][split] = _write_split(reader, tmp_dir, split, chunk_size,
                                                         progress)
            finally:
                reader.close()
        with open(os.path.join(tmp_dir, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        _move_into_place(tmp_dir, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return manifest


def _partial_prefix(out_dir):
    return f".{os.path.basename(out_dir)}.partial-"


def _remove_stale_partials(out_dir):
    """Removes partial caches left by killed conversions (their pid is no longer running)."""
    prefix = _partial_prefix(out_dir)
    parent = os.path.dirname(out_dir)
    for name in os.listdir(parent):
        pid = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
        if pid.isdigit() and process_gone(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _write_split(reader, tmp_dir, split, chunk_size, progress):
    n = len(reader)
    images_name, labels_name = f"{split}_images.npy", f"{split}_labels.npy"
    images_path = os.path.join(tmp_dir, images_name)
    _check_free_space(images_path, n * (int(np.prod(core.IMAGE_SHAPE)) + 8) + 2 * 4096)
    images = np.lib.format.open_memmap(images_path, mode="w+",
                                       dtype=np.uint8, shape=(n,) + core.IMAGE_SHAPE)
    _preallocate(images_path)
    digest = hashlib.sha256()
    bar = None
    if progress is not False:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc=f"convert {split}", unit_scale=True,
                   disable=None if progress is None else False)
    try:
        for start, chunk in reader.iter_chunks(n, chunk_size):
            images[start:start + chunk.shape[0]] = chunk
            digest.update(np.ascontiguousarray(chunk).data.cast("B"))
            if bar is not None:
                bar.update(chunk.shape[0])
        images.flush()
    finally:
        if bar is not None:
            bar.close()
        del images
    labels = np.ascontiguousarray(reader.labels, dtype=np.int64)
    np.save(os.path.join(tmp_dir, labels_name), labels, allow_pickle=False)
    counts = np.bincount(labels, minlength=len(core.CLASS_NAMES))
    return {
        "count": int(n),
        "class_counts": {name: int(c) for name, c in zip(core.CLASS_NAMES, counts)},
        "images": images_name,
        "labels": labels_name,
        "sha256": {"images": digest.hexdigest(),
                   "labels": hashlib.sha256(labels.data.cast("B")).hexdigest()},
    }


def _check_free_space(path, nbytes):
    """Raises ENOSPC (naming ``path``) when its file system has less than ``nbytes`` free."""
    free = shutil.disk_usage(os.path.dirname(path)).free
    if free < nbytes:
        raise OSError(errno.ENOSPC, f"not enough free space to write {path}: "
                                    f"{nbytes / 2**20:.1f} MiB needed, {free / 2**20:.1f} MiB "
                                    "free; free some space or convert elsewhere")


def _preallocate(path):
    """Reserves every block of ``path`` now, so writing through the memory map cannot fail."""
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"no space left on the device to write {path} "
                                        f"({size / 2**20:.1f} MiB); free some space or convert "
                                        "elsewhere") from None
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    finally:
        os.close(fd)


def _move_into_place(tmp_dir, out_dir, overwrite):
    """Renames the finished ``tmp_dir`` to ``out_dir``, replacing an old cache if allowed."""
    if os.path.isdir(out_dir) and not os.listdir(out_dir):
        os.rmdir(out_dir)
    if not os.path.exists(out_dir):
        os.rename(tmp_dir, out_dir)
        return
    if not overwrite:  # appeared while converting
        raise FileExistsError(f"{out_dir}: already exists; pass overwrite=True (--overwrite) to "
                              f"replace it")
    _check_replaceable(out_dir)
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-",
                           dir=os.path.dirname(out_dir))
    os.rename(out_dir, os.path.join(old, "cache"))
    os.rename(tmp_dir, out_dir)
    shutil.rmtree(old, ignore_errors=True)
