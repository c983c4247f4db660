"""A memory-mappable SAT-4 cache: convert once, then open any split instantly.

Layout of a cache directory::

    manifest.json          format, version, source, counts per split and class, sha256
    train_images.npy       uint8 [N, 28, 28, 4]   (opened with np.load(mmap_mode="r"))
    train_labels.npy       int64 [N]
    test_images.npy ...

``convert_to_cache`` streams the source chunk by chunk into ``np.lib.format.open_memmap`` files,
so converting the 400,000-image CSV needs memory for one chunk, not for the data set. The
directory is written under a temporary name beside ``out_dir`` and renamed into place when
complete, so an interrupted conversion never leaves a half-written cache. Free space is
checked and every ``.npy`` is preallocated before a byte is written: a full disk is an
``OSError`` naming the file (a sparse memory map would die with SIGBUS instead).

Opening a cache checks each file's size against the manifest and, for caches up to
``AUTO_VERIFY_BYTES``, the sha256 checksums (``verify=None``, the default); ``verify=True``
checks them whatever the size. The manifest may name files inside the cache directory only.
"""
from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

from qlsgan_tf.data import core
from qlsgan_tf.fsutil import chmod_umask
from qlsgan_tf.validation import check_int

FORMAT = "qlsgan_tf.sat4-cache"
VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_CHUNK_SIZE = 8192
# verify=None checks the sha256 of caches up to this size on open (~0.3 s at 1 GB/s).
AUTO_VERIFY_BYTES = 256 * 2**20


def is_cache(path):
    """True when ``path`` is a directory holding a cache manifest."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def read_manifest(cache_dir):
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
        digest.update(memoryview(np.ascontiguousarray(array[start:start + chunk_size])).cast("B"))


class CacheReader(core.RandomAccessReader):
    """One split of a cache; images stay a read-only memory map."""

    layout = "cache"

    def __init__(self, cache_dir, split, verify=None):
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

    def verify(self, checksums, images_path, labels_path):
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

    def read(self, start, stop):
        return self.images[start:stop]


def _member(cache_dir, name):
    """``cache_dir/name`` for a manifest entry; a path leading elsewhere is refused."""
    if not isinstance(name, str) or not name or os.path.basename(name) != name \
            or name in (".", ".."):
        raise core.Sat4FormatError(f"{os.path.join(cache_dir, MANIFEST)}: corrupt cache "
                                   f"manifest: file entry {name!r} is not a file name inside "
                                   "the cache directory")
    return os.path.join(cache_dir, name)


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


def _check_replaceable(out_dir):
    """Refuses to delete a directory that is neither empty nor a cache."""
    if not os.path.isdir(out_dir):
        raise core.Sat4FormatError(f"{out_dir}: exists and is not a directory; refusing to "
                                   f"overwrite it")
    if os.listdir(out_dir) and not is_cache(out_dir):
        raise core.Sat4FormatError(f"{out_dir}: exists and is not a SAT-4 cache (no "
                                   f"{MANIFEST}); refusing to overwrite it")


def convert_to_cache(src, out_dir, chunk_size=DEFAULT_CHUNK_SIZE, overwrite=False,
                     progress=False):
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
    from qlsgan_tf.data import sources  # pylint: disable=import-outside-toplevel

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
        manifest = {
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
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


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
        from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel

        bar = tqdm(total=n, unit="img", desc=f"convert {split}", unit_scale=True,
                   disable=None if progress is None else False)
    try:
        for start, chunk in reader.iter_chunks(n, chunk_size):
            images[start:start + chunk.shape[0]] = chunk
            digest.update(memoryview(np.ascontiguousarray(chunk)).cast("B"))
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
                   "labels": hashlib.sha256(memoryview(labels).cast("B")).hexdigest()},
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
