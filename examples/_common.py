"""What the examples share: the bundled SAT-4 sample encoded by a small VAE."""
import numpy as np
import tensorflow as tf


def sample_latents(latent_dim, vae_epochs=3, seed=0):
    """Real latents ``[N, latent_dim]`` of the bundled 50 training patches under a small VAE.

    A real study tunes its VAE (``qlsgan train-vae --tune``); a few epochs of a small one are
    enough to give the examples real, bounded latents to learn from.
    """
    from qlsgan_tf.data import load_sat4, normalize, sample_path
    from qlsgan_tf.models import SatVAE
    from qlsgan_tf.training import encode_latents

    images = normalize(load_sat4(sample_path(), split="train").images)
    tf.keras.utils.set_random_seed(seed)
    vae = SatVAE(latent_dim=latent_dim, filters=(8, 16), dense_units=32)
    vae.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    vae.fit(images, epochs=vae_epochs, batch_size=16, verbose=0)
    return np.asarray(encode_latents(vae, images, batch_size=64), np.float32)
