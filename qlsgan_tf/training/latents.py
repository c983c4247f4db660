"""The latent GAN's real data: SAT-4 images encoded once by a trained VAE, as ``tf.data``."""
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from qlsgan_tf.data.core import as_images
from qlsgan_tf.validation import check_int


def encode_latents(vae: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The VAE's bounded mean latent of every image, as float32 ``[N, latent_dim]``.

    Args:
        vae: a trained ``SatVAE`` (anything with ``encode(images) -> mean latents``).
        images: ``[N, 28, 28, 4]``, uint8 (scaled to [-1, 1] here) or float in [-1, 1].
        batch_size: images per ``encode`` call.
    """
    if not callable(getattr(vae, "encode", None)):
        raise TypeError(f"vae must have an encode(images) method, got {type(vae).__name__}.")
    batch_size = check_int("batch_size", batch_size, 1)
    images = as_images(images, input_range="uint8_or_tanh")
    parts = []
    for start in range(0, len(images), batch_size):
        out = vae.encode(images[start:start + batch_size])
        parts.append(np.asarray(out.numpy() if hasattr(out, "numpy") else out, np.float32))
    latents = np.concatenate(parts)
    if latents.ndim != 2 or latents.shape[0] != len(images):
        raise ValueError(f"vae.encode returned shape {list(latents.shape)} for {len(images)} "
                         "images; expected [N, latent_dim].")
    if not np.all(np.isfinite(latents)):
        raise ValueError("the VAE encoded some images to NaN or infinite latents.")
    return latents


def latent_dataset(latents: np.ndarray, batch_size: int, seed: Optional[int] = None,
                   shuffle: bool = True, repeat: bool = False, drop_remainder: bool = False
                   ) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of float32 latent batches ``[batch, latent_dim]``.

    The last, smaller batch is kept by default: the bundled sample has fewer latents than
    one batch of 64. ``seed`` fixes the shuffling order (reshuffled each epoch).
    """
    latents = np.asarray(latents)
    if latents.ndim != 2 or latents.shape[0] == 0:
        raise ValueError(f"latents must have shape [N, latent_dim] with N >= 1, "
                         f"got {list(latents.shape)}.")
    if not np.issubdtype(latents.dtype, np.floating):
        raise TypeError(f"latents must be floating point, got dtype {latents.dtype}.")
    latents = latents.astype(np.float32)
    if not np.all(np.isfinite(latents)):
        raise ValueError("latents contain NaN or infinite values.")
    batch_size = check_int("batch_size", batch_size, 1)
    ds = tf.data.Dataset.from_tensor_slices(latents)
    if shuffle:
        ds = ds.shuffle(len(latents), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
