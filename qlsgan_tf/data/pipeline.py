"""From uint8 SAT-4 arrays to training batches: scaling, ``tf.data`` pipelines, augmentation.

TensorFlow is imported inside ``make_dataset`` only, so ``import qlsgan_tf.data`` stays fast.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

from qlsgan_tf.data import core
from qlsgan_tf.validation import check_choice, check_int

_SCALINGS = ("tanh", "unit", None)


def _check_scaling(normalize):
    check_choice("normalize", normalize, _SCALINGS)
    return normalize


def normalize(images: Any, scaling: str = "tanh") -> np.ndarray:
    """uint8 pixels -> float32: ``(x - 127.5) / 127.5`` in [-1, 1] ("tanh") or ``x / 255`` ("unit").

    The usual GAN preprocessing; ``denormalize`` inverts it exactly on uint8 values.
    """
    _check_scaling(scaling)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"normalize expects uint8 pixels, got dtype {images.dtype}")
    if scaling is None:
        return images
    x = images.astype(np.float32)
    if scaling == "unit":
        return x / np.float32(255.0)
    return (x - np.float32(127.5)) / np.float32(127.5)


def denormalize(images: Any, scaling: str = "tanh") -> np.ndarray:
    """float images in [-1, 1] ("tanh") or [0, 1] ("unit") -> uint8, rounded and clipped.

    Accepts NumPy arrays or eager tensors (e.g. generator output).
    """
    _check_scaling(scaling)
    x = np.asarray(images, dtype=np.float32)
    if scaling is None:
        return np.clip(np.round(x), 0, 255).astype(np.uint8)
    if np.isnan(x).any():
        raise ValueError("denormalize: images contain NaN")
    pixels = x * 255.0 if scaling == "unit" else x * 127.5 + 127.5
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def _unpack(arrays):
    """(images, labels or None) from a Sat4Data, a uint8 array, or an (images, labels) pair."""
    if isinstance(arrays, core.Sat4Data):
        return arrays.images, arrays.labels
    if isinstance(arrays, (tuple, list)):
        if len(arrays) != 2:
            raise ValueError(f"arrays: expected (images, labels), got a sequence of {len(arrays)}")
        images, labels = arrays
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"arrays: labels must be 1-D, got shape {labels.shape}")
        return images, labels
    if isinstance(arrays, np.ndarray):
        return arrays, None
    raise TypeError(f"arrays must be a Sat4Data, a uint8 array or (images, labels), got "
                    f"{type(arrays).__name__}")


def _checked_arrays(arrays, batch_size, normalize, with_labels):
    """(uint8 images [N, 28, 28, 4], int64 labels or None when not wanted), checked."""
    images, labels = _unpack(arrays)
    images = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if images.dtype != np.uint8:
        raise TypeError(f"make_dataset expects uint8 images, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[1:] != core.IMAGE_SHAPE:
        raise ValueError(f"make_dataset expects images [N, 28, 28, 4], got shape {images.shape}")
    check_int("batch_size", batch_size, 1)
    _check_scaling(normalize)
    if with_labels is None:
        with_labels = labels is not None
    if with_labels and labels is None:
        raise ValueError("with_labels=True but no labels were given")
    if labels is not None and labels.shape[0] != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    return images, (np.ascontiguousarray(labels, dtype=np.int64) if with_labels else None)


def _batch_loader(images, labels, normalize):
    """Batch of indices -> images (and labels), gathered from NumPy and scaled in TF."""
    import tensorflow as tf

    def gather(idx):
        out = images[idx]  # fancy indexing copies only this batch (also from a memory map)
        return (out, labels[idx]) if labels is not None else out

    out_types = (tf.uint8, tf.int64) if labels is not None else tf.uint8

    def load(idx):
        result = tf.numpy_function(gather, [idx], out_types, stateful=False)
        if labels is not None:
            batch, batch_labels = result
            batch_labels = tf.ensure_shape(batch_labels, [None])
        else:
            batch = result
        batch = tf.ensure_shape(batch, [None, *core.IMAGE_SHAPE])
        if normalize == "tanh":
            batch = (tf.cast(batch, tf.float32) - 127.5) / 127.5
        elif normalize == "unit":
            batch = tf.cast(batch, tf.float32) / 255.0
        return (batch, batch_labels) if labels is not None else batch

    return load


def make_dataset(arrays: Any, batch_size: int, shuffle: bool = True, seed: Optional[int] = None,
                 normalize: Optional[str] = "tanh", with_labels: Optional[bool] = None,
                 drop_remainder: bool = False) -> Any:
    """A ``tf.data.Dataset`` of SAT-4 batches, gathered lazily from NumPy (memory maps stay lazy).

    The pipeline shuffles indices, not images, and gathers each batch from the array, so a
    memory-mapped cache of the full data set is never copied whole into TensorFlow.

    Args:
      arrays: a ``Sat4Data``, a uint8 array ``[N, 28, 28, 4]``, or ``(images, labels)``.
      batch_size: images per batch.
      shuffle: reshuffle the order each epoch.
      seed: makes the order deterministic: two datasets with the same seed yield identical
        batches, epoch after epoch.
      normalize: "tanh" (float32 in [-1, 1]), "unit" (float32 in [0, 1]) or None (uint8).
      with_labels: yield ``(images, labels)``; default: when labels were given.
      drop_remainder: drop a last, smaller batch.

    Returns:
      A dataset of images ``[b, 28, 28, 4]`` or ``(images, labels int64 [b])`` pairs.
    """
    import tensorflow as tf

    images, labels = _checked_arrays(arrays, batch_size, normalize, with_labels)
    n = images.shape[0]
    load = _batch_loader(images, labels, normalize)
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


# The 8 symmetries of the square (dihedral group D4) as (quarter turns, flip first).
DIHEDRAL_TRANSFORMS = tuple((k, flip) for flip in (False, True) for k in range(4))


def dihedral_transform(images: np.ndarray, index: int, inverse: bool = False) -> np.ndarray:
    """Applies (or undoes) symmetry ``index`` of ``DIHEDRAL_TRANSFORMS`` to ``[N, H, W, C]``."""
    if not 0 <= index < len(DIHEDRAL_TRANSFORMS):
        raise ValueError(f"index must be in 0..7, got {index!r}")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    turns, flip = DIHEDRAL_TRANSFORMS[index]
    if not inverse:
        out = images[:, :, ::-1] if flip else images
        return np.rot90(out, k=turns, axes=(1, 2))
    out = np.rot90(images, k=-turns, axes=(1, 2))
    return out[:, :, ::-1] if flip else out


def dihedral_augment(images: np.ndarray, labels: Optional[np.ndarray] = None
                     ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """The 8 flips/rotations of every image: ``[8N, H, W, C]`` (transform-major order).

    Block ``k`` (images ``k*N .. (k+1)*N``) is ``dihedral_transform(images, k)``; with
    ``labels`` the labels are tiled to match and ``(images, labels)`` is returned.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"dihedral_augment needs square images, got {images.shape[1:3]}")
    out = np.concatenate([dihedral_transform(images, k) for k in range(8)], axis=0)
    if labels is None:
        return out
    labels = np.asarray(labels)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    return out, np.tile(labels, 8)
