"""``LatentStyleGAN``: trained latent generator + VAE decoder as one Keras model, noise -> image.

``HybridLSGAN`` is its former name, kept (deprecated) so that models saved under it load.
"""
import warnings
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf

from qlsgan_tf.compat import renamed_noise_dim
from qlsgan_tf.training.latent_gan import NOISES, sample_noise
from qlsgan_tf.validation import check_choice, check_int


def _input_width(generator: Any) -> int:
    """The generator's input width, or an error asking for ``noise_dim``."""
    try:
        width = generator.input_shape[-1]
    except (AttributeError, RuntimeError, ValueError, TypeError):
        width = getattr(generator, "noise_dim", None)
    if width is None:
        raise ValueError("noise_dim was not given and the generator has no known input width; "
                         "pass noise_dim (the noise dimension).")
    return int(width)


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class LatentStyleGAN(tf.keras.Model):
    """The hybrid latent style-based GAN at inference: ``decoder(generator(noise))``.

    Args:
        generator: Keras model, noise ``[batch, noise_dim]`` -> VAE latents (the trained
            ``StyleQuantumGenerator`` model or an ``MLPGenerator``).
        decoder: Keras model, VAE latents -> images ``[batch, 28, 28, 4]`` in [-1, 1]
            (``SatVAE.decoder``).
        noise_dim: noise dimension; default: the generator's input width (a model built
            with ``tf.keras.Input`` or an ``MLPGenerator`` with ``noise_dim``).
        noise: ``"uniform"`` in [-1, 1) or ``"normal"``; the noise the generator was trained on.

    Saved with ``model.save("hybrid.keras")`` and reloaded with
    ``tf.keras.models.load_model`` (both parts serialize with their configs and weights).

    >>> hybrid = LatentStyleGAN(gan.generator, vae.decoder, noise_dim=5)
    >>> images = hybrid.sample(64, seed=0)          # float32 [64, 28, 28, 4] in [-1, 1]
    """

    def __init__(self, generator: tf.keras.Model, decoder: tf.keras.Model,
                 noise_dim: Optional[int] = None, noise: str = "uniform", **kwargs: Any):
        super().__init__(**kwargs)
        for name, model in (("generator", generator), ("decoder", decoder)):
            if not isinstance(model, tf.keras.layers.Layer):
                raise TypeError(
                    f"{name} must be a Keras model or layer, got {type(model).__name__}.")
        if noise_dim is None:
            noise_dim = _input_width(generator)
        noise_dim = check_int("noise_dim", noise_dim, 1)
        check_choice("noise", noise, NOISES)
        self.generator = generator
        self.decoder = decoder
        self.noise_dim = int(noise_dim)
        self.noise = noise
        self.build()

    def build(self, input_shape: Any = None) -> None:
        """Builds both parts from the noise shape ``[batch, noise_dim]``."""
        self.decoder(self.generator(tf.zeros([1, self.noise_dim])))
        super().build(tf.TensorShape([None, self.noise_dim]))

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)
        if not inputs.dtype.is_floating:
            raise TypeError(f"noise must be float, got dtype {inputs.dtype.name}.")
        if inputs.shape.rank != 2 or (inputs.shape[-1] is not None
                                      and inputs.shape[-1] != self.noise_dim):
            raise ValueError(f"noise must have shape [batch, {self.noise_dim}], "
                             f"got {inputs.shape.as_list()}.")
        latents = self.generator(tf.cast(inputs, tf.float32), training=training)
        return self.decoder(latents, training=training)

    def sample_noise(self, n: int, seed: Optional[int] = None) -> tf.Tensor:
        """Noise ``[n, noise_dim]`` of the kind the generator was trained on."""
        return sample_noise(n, self.noise_dim, self.noise, seed=seed)

    def sample(self, n: int, seed: Optional[int] = None, batch_size: int = 256) -> np.ndarray:
        """``n`` generated images, float32 ``[n, 28, 28, 4]`` in [-1, 1]."""
        n = check_int("n", n, 1)
        noise = self.sample_noise(int(n), seed=seed)
        parts = [self(noise[i:i + batch_size], training=False).numpy()
                 for i in range(0, int(n), batch_size)]
        return np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32)

    def get_config(self) -> Dict[str, Any]:
        return {
            **super().get_config(),
            "generator": tf.keras.saving.serialize_keras_object(self.generator),
            "decoder": tf.keras.saving.serialize_keras_object(self.decoder),
            "noise_dim": self.noise_dim,
            "noise": self.noise,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LatentStyleGAN":
        config = renamed_noise_dim(config)
        config["generator"] = tf.keras.saving.deserialize_keras_object(config["generator"])
        config["decoder"] = tf.keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class HybridLSGAN(LatentStyleGAN):
    """Deprecated name of :class:`LatentStyleGAN` (it read as "least-squares GAN"); registered so
    that ``.keras`` files saved under it still load."""

    def __init__(self, *args: Any, **kwargs: Any):
        warnings.warn("HybridLSGAN is deprecated; use LatentStyleGAN.", DeprecationWarning,
                      stacklevel=2)
        super().__init__(*args, **kwargs)
