"""``SatVAE``: convolutional VAE for SAT-4 patches (28x28; R, G, B, NIR) with a bounded latent.

The latent GAN works in this VAE's latent space, and the quantum generator emits expectation
values in [-1, 1]; so the latent that the GAN sees (``encode``: the posterior mean, squashed)
must live in [-1, 1] too.

Latent model (what the KL term is about):

- The encoder gives a diagonal Gaussian posterior ``q(u | x) = N(mu(x), diag(sigma(x)^2))`` over
  an *unbounded* variable ``u``; the prior is ``p(u) = N(0, I)``. The KL term is the closed form
  ``KL(q(u|x) || N(0, I))``, summed over latent dimensions (nats per image).
- The decoder sees the bounded latent ``z = squash(u)``: ``"tanh"``: ``z = tanh(latent_scale*u)``
  (default ``latent_scale=1``); ``"linear"``: ``z = latent_scale * u`` (default
  ``latent_scale=1/3``, so the prior's +-3 sigma range maps onto [-1, 1]).
  ``squash`` is a fixed, deterministic map, i.e. part of the decoder ``p(x | squash(u))``, so the
  ELBO over ``u`` is exact and the KL needs no Jacobian correction.
- ``encode(x)`` returns ``squash(mu(x))`` (for ``"linear"`` clipped to [-1, 1], which only
  touches means beyond 3 prior standard deviations).

Loss (all per image, averaged over the batch; D = 28*28*4 = 3136 values per image):
``reconstruction_loss`` = mean squared error per pixel and band, ``kl_loss`` = the KL above,
``loss = reconstruction_loss + beta * kl_loss / D``, which is ``(SSE + beta*KL) / D``: the
negative ELBO of a Gaussian likelihood with variance 1/2, scaled by 1/D, when ``beta = 1``.
Training reconstructs from a sampled ``u`` (reparameterization); ``test_step`` (validation,
``evaluate``) reconstructs from the mean latent, so ``val_reconstruction_loss`` is exactly the
error of ``decode(encode(x))`` that the GAN pipeline will see.
"""
import numbers
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf

from qlsgan_tf.models.capacity import count_trainable
from qlsgan_tf.validation import check_choice, check_finite_float, check_int

__all__ = ["SatVAE", "IMAGE_SHAPE", "LATENT_ACTIVATIONS"]

IMAGE_SHAPE = (28, 28, 4)
N_VALUES = int(np.prod(IMAGE_SHAPE))
LATENT_ACTIVATIONS = ("tanh", "linear")
_DEFAULT_SCALE = {"tanh": 1.0, "linear": 1.0 / 3.0}
_LOG_VAR_RANGE = (-10.0, 10.0)  # keeps exp(log_var) finite early in training


def _check_image_tensor(x, where):
    """Static checks of an image batch inside the graph (train/test/call)."""
    if not x.dtype.is_floating:
        raise TypeError(
            f"SatVAE.{where}: images must be float in [-1, 1], got dtype {x.dtype.name}; "
            "scale uint8 pixels with qlsgan_tf.data.normalize.")
    if x.shape.rank != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(
            f"SatVAE.{where}: images must have shape [batch, 28, 28, 4] (R, G, B, NIR), "
            f"got {x.shape}.")


def _as_float_array(values, name, trailing, where):
    """NumPy float32 from an array or tensor, with shape/dtype/finiteness checks."""
    if hasattr(values, "numpy"):
        values = values.numpy()
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        hint = "; scale uint8 pixels with qlsgan_tf.data.normalize" if name == "images" else ""
        raise TypeError(f"SatVAE.{where}: {name} must be float, got dtype {values.dtype}{hint}.")
    if values.ndim != 1 + len(trailing) or tuple(values.shape[1:]) != tuple(trailing):
        want = ", ".join(["N"] + [str(d) for d in trailing])
        raise ValueError(
            f"SatVAE.{where}: {name} must have shape [{want}], got {list(values.shape)}.")
    values = values.astype(np.float32, copy=False)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"SatVAE.{where}: {name} contain NaN or infinite values.")
    return values


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class SatVAE(tf.keras.Model):
    """Convolutional VAE for SAT-4 images in [-1, 1] with a latent bounded to [-1, 1].

    Encoder: one stride-2 ``Conv2D`` (3x3, LeakyReLU) per entry of ``filters`` (28 -> 14 -> 7),
    ``Dense(dense_units)``, then the posterior mean and log-variance. Decoder: the mirror image
    with ``Conv2DTranspose`` and a final 3x3 ``Conv2D`` to 4 bands with tanh. See the module
    docstring for the latent model and the loss.

    Args:
        latent_dim: latent size (10 = 2x5 qubits with XZ readout, or n qubits with Z readout).
        beta: KL weight (>= 0).
        filters: conv filters per down-sampling stage, one or two entries.
        dense_units: width of the dense layer on each side of the latent.
        latent_activation: ``"tanh"`` or ``"linear"`` (see module docstring).
        latent_scale: scale applied to ``u`` before the activation; None = 1 for tanh, 1/3 for
            linear.

    Metrics: ``loss``, ``reconstruction_loss``, ``kl_loss``.

    >>> vae = SatVAE(latent_dim=10)
    >>> vae.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    >>> vae.fit(images, epochs=10, batch_size=32)      # images float32 [N, 28, 28, 4]
    >>> latents = vae.encode(images)                   # [N, 10] in [-1, 1]
    >>> recon = vae.decode(latents)                    # [N, 28, 28, 4] in [-1, 1]
    """

    def __init__(self, latent_dim: int = 10, beta: float = 1.0,
                 filters: Any = (32, 64), dense_units: int = 128,
                 latent_activation: str = "tanh", latent_scale: Optional[float] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)

        self.beta = check_finite_float("beta", beta, 0.0)

        if isinstance(filters, numbers.Integral) and not isinstance(filters, bool):
            filters = (filters,)
        try:
            filters = tuple(filters)
        except TypeError:
            raise TypeError(f"filters must be a sequence of positive ints, got {filters!r}.") \
                from None
        if not 1 <= len(filters) <= 2:
            raise ValueError(
                f"filters must have 1 or 2 entries (28 halves exactly twice: 28 -> 14 -> 7), "
                f"got {filters!r}.")
        self.filters = tuple(check_int("filters entry", f, 1) for f in filters)
        self.dense_units = check_int("dense_units", dense_units, 1)

        self.latent_activation = check_choice("latent_activation", latent_activation,
                                              LATENT_ACTIVATIONS)
        if latent_scale is None:
            latent_scale = _DEFAULT_SCALE[latent_activation]
        self.latent_scale = check_finite_float("latent_scale", latent_scale, 0.0,
                                               exclusive_minimum=True)

        self.encoder = self._build_encoder()
        self.decoder = self._build_decoder()
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = tf.keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = tf.keras.metrics.Mean(name="kl_loss")
        self.built = True

    # -- networks ---------------------------------------------------------------------------

    def _build_encoder(self):
        images = tf.keras.Input(IMAGE_SHAPE, name="images")
        x = images
        for i, f in enumerate(self.filters):
            x = tf.keras.layers.Conv2D(f, 3, strides=2, padding="same",
                                       activation="leaky_relu", name=f"conv_{i}")(x)
        x = tf.keras.layers.Flatten(name="flatten")(x)
        x = tf.keras.layers.Dense(self.dense_units, activation="leaky_relu", name="dense")(x)
        mean = tf.keras.layers.Dense(self.latent_dim, name="u_mean")(x)
        log_var = tf.keras.layers.Dense(self.latent_dim, name="u_log_var")(x)
        return tf.keras.Model(images, [mean, log_var], name="encoder")

    def _build_decoder(self):
        side = IMAGE_SHAPE[0] // 2 ** len(self.filters)
        latents = tf.keras.Input((self.latent_dim,), name="latents")
        x = tf.keras.layers.Dense(self.dense_units, activation="leaky_relu", name="dense")(latents)
        x = tf.keras.layers.Dense(side * side * self.filters[-1], activation="leaky_relu",
                                  name="expand")(x)
        x = tf.keras.layers.Reshape((side, side, self.filters[-1]), name="reshape")(x)
        for i, f in enumerate(reversed(self.filters)):
            x = tf.keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same",
                                                activation="leaky_relu", name=f"deconv_{i}")(x)
        images = tf.keras.layers.Conv2D(IMAGE_SHAPE[-1], 3, padding="same", activation="tanh",
                                        name="images")(x)
        return tf.keras.Model(latents, images, name="decoder")

    def squash(self, u: tf.Tensor) -> tf.Tensor:
        """Maps the unbounded posterior variable ``u`` to the bounded latent the decoder sees."""
        u = self.latent_scale * u
        return tf.tanh(u) if self.latent_activation == "tanh" else u

    # -- Keras model API --------------------------------------------------------------------

    def call(self, inputs: Any, training: Optional[bool] = None) -> tf.Tensor:
        """Deterministic reconstruction from the mean latent."""
        x = tf.convert_to_tensor(inputs)
        _check_image_tensor(x, "call")
        mean, _ = self.encoder(x, training=training)
        return self.decoder(self.squash(mean), training=training)

    @property
    def metrics(self) -> List[tf.keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def _compute_losses(self, x, training):
        mean, log_var = self.encoder(x, training=training)
        log_var = tf.clip_by_value(log_var, *_LOG_VAR_RANGE)
        if training:
            u = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
        else:
            u = mean
        recon = self.decoder(self.squash(u), training=training)
        reconstruction = tf.reduce_mean(tf.square(x - recon))
        kl = tf.reduce_mean(tf.reduce_sum(
            0.5 * (tf.square(mean) + tf.exp(log_var) - 1.0 - log_var), axis=1))
        loss = reconstruction + self.beta * kl / N_VALUES
        return loss, reconstruction, kl

    def _update(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    @staticmethod
    def _images_of(data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return tf.convert_to_tensor(x)

    def train_step(self, data: Any) -> Dict[str, tf.Tensor]:
        x = self._images_of(data)
        _check_image_tensor(x, "fit")
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self._compute_losses(x, training=True)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update(loss, reconstruction, kl)

    def test_step(self, data: Any) -> Dict[str, tf.Tensor]:
        x = self._images_of(data)
        _check_image_tensor(x, "evaluate")
        return self._update(*self._compute_losses(x, training=False))

    # -- NumPy-facing helpers ---------------------------------------------------------------

    def _batched(self, fn, values, batch_size):
        batch_size = check_int("batch_size", batch_size, 1)
        if len(values) == 0:
            return None
        return np.concatenate([np.asarray(fn(tf.constant(values[i:i + batch_size])))
                               for i in range(0, len(values), batch_size)])

    def _check_images(self, images, where):
        images = _as_float_array(images, "images", IMAGE_SHAPE, where)
        if images.size and (images.min() < -1.0 - 1e-6 or images.max() > 1.0 + 1e-6):
            raise ValueError(
                f"SatVAE.{where}: images must be in [-1, 1], got values in "
                f"[{images.min():.3g}, {images.max():.3g}]; scale uint8 pixels with "
                "qlsgan_tf.data.normalize.")
        return images

    def encode(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """Bounded mean latents ``squash(mu(x))`` in [-1, 1]: float32 ``[N, latent_dim]``."""
        images = self._check_images(images, "encode")

        def fn(x):
            z = self.squash(self.encoder(x, training=False)[0])
            return tf.clip_by_value(z, -1.0, 1.0)

        out = self._batched(fn, images, batch_size)
        return np.zeros((0, self.latent_dim), np.float32) if out is None else out

    def decode(self, latents: Any, batch_size: int = 256) -> np.ndarray:
        """Images float32 ``[N, 28, 28, 4]`` in [-1, 1] from latents ``[N, latent_dim]``."""
        latents = _as_float_array(latents, "latents", (self.latent_dim,), "decode")
        out = self._batched(lambda z: self.decoder(z, training=False), latents, batch_size)
        return np.zeros((0,) + IMAGE_SHAPE, np.float32) if out is None else out

    def reconstruct(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """``decode(encode(images))``: float32 ``[N, 28, 28, 4]``."""
        return self.decode(self.encode(images, batch_size=batch_size), batch_size=batch_size)

    @property
    def capacity(self) -> int:
        """Trainable parameters of encoder and decoder together."""
        return count_trainable(self)

    def get_config(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "latent_dim": self.latent_dim,
            "beta": self.beta,
            "filters": list(self.filters),
            "dense_units": self.dense_units,
            "latent_activation": self.latent_activation,
            "latent_scale": self.latent_scale,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "SatVAE":
        return cls(**config)
