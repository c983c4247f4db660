"""The latent GAN's real data: SAT-4 images encoded once by a trained VAE, as ``tf.data``."""
import numpy as np
import tensorflow as tf


def _as_images(images):
    """Checks ``[N, 28, 28, 4]`` images; uint8 is scaled to [-1, 1], floats are kept."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (28, 28, 4):
        raise ValueError(
            f"images must have shape [N, 28, 28, 4] (R, G, B, NIR), got {list(images.shape)}.")
    if images.shape[0] == 0:
        raise ValueError("images is empty: at least one image is needed to encode.")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must be uint8 or float in [-1, 1], got dtype {images.dtype}.")
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinite values.")
    return images


def encode_latents(vae, images, batch_size=256):
    """The VAE's bounded mean latent of every image, as float32 ``[N, latent_dim]``.

    Args:
        vae: a trained ``SatVAE`` (anything with ``encode(images) -> mean latents``).
        images: ``[N, 28, 28, 4]``, uint8 (scaled to [-1, 1] here) or float in [-1, 1].
        batch_size: images per ``encode`` call.
    """
    if not callable(getattr(vae, "encode", None)):
        raise TypeError(f"vae must have an encode(images) method, got {type(vae).__name__}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    images = _as_images(images)
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


def latent_dataset(latents, batch_size, seed=None, shuffle=True, repeat=False,
                   drop_remainder=False):
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
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    ds = tf.data.Dataset.from_tensor_slices(latents)
    if shuffle:
        ds = ds.shuffle(len(latents), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
