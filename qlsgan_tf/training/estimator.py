"""The TF-GAN adapter: the latent WGAN-GP as a ``tfgan.estimator.GANEstimator``.

TF-GAN's estimator builds a fresh graph for every ``train``/``evaluate``/``predict`` call and
calls ``generator_fn``/``discriminator_fn`` inside its variable scopes ("Generator",
"Discriminator"). A Keras model therefore cannot be passed in as an object with eager
variables: here each Keras network is *rebuilt* once per estimator graph (from a factory or
from the given model's config) inside ``generator_fn``/``discriminator_fn``, so that its
variables live in that graph, in TF-GAN's scopes, and are saved to and restored from the
estimator's checkpoints. The critic is built once per graph and reused for the real batch,
the generated batch and the gradient-penalty interpolates, as TF-GAN expects.

Losses are TF-GAN's own: ``tfgan.losses.wasserstein_generator_loss``,
``wasserstein_discriminator_loss`` and ``wasserstein_gradient_penalty`` (added by
``tfgan.gan_loss`` with ``gradient_penalty_weight``).
"""
import weakref
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from qlsgan_tf.compat import import_tfgan
from qlsgan_tf.fsutil import StrPath
from qlsgan_tf.training.latent_gan import NOISES
from qlsgan_tf.validation import check_choice, check_finite_float, check_int

#: A Keras model or layer used as a template, or a zero-argument function returning a fresh one.
ModelSource = Union[tf.keras.layers.Layer, Callable[[], Any]]
#: An estimator ``input_fn``: a zero-argument function returning a ``tf.data.Dataset``.
InputFn = Callable[[], tf.data.Dataset]


def _model_factory(name: str, model_or_fn: ModelSource) -> Callable[[], Any]:
    """A zero-argument function returning a fresh, unbuilt-in-this-graph Keras model."""
    if isinstance(model_or_fn, tf.keras.Model):
        config = tf.keras.saving.serialize_keras_object(model_or_fn)
        return lambda: tf.keras.saving.deserialize_keras_object(config)
    if isinstance(model_or_fn, tf.keras.layers.Layer):
        config = tf.keras.saving.serialize_keras_object(model_or_fn)
        return lambda: tf.keras.Sequential([tf.keras.saving.deserialize_keras_object(config)])
    if callable(model_or_fn):
        return model_or_fn
    raise TypeError(f"{name} must be a Keras model or layer, or a function returning a fresh "
                    f"Keras model, got {type(model_or_fn).__name__}.")


class _PerGraph:
    """One Keras model per TF graph, built on first use inside the estimator's scope."""

    def __init__(self, name: str, factory: Callable[[], Any]):
        self.name = name
        self.factory = factory
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, inputs: Any, mode: str) -> Any:
        graph = tf.compat.v1.get_default_graph()
        model = self._models.get(graph)
        if model is None:
            model = self.factory()
            if not isinstance(model, tf.keras.layers.Layer):
                raise TypeError(f"the {self.name} factory must return a Keras model, got "
                                f"{type(model).__name__}.")
            self._models[graph] = model
        return model(inputs, training=mode == tf.estimator.ModeKeys.TRAIN)


def make_gan_estimator(generator: ModelSource, critic: ModelSource, noise_dim: int,
                       model_dir: StrPath, gp_weight: float = 10.0,
                       g_lr: float = 2e-4, c_lr: float = 2e-4, beta_1: float = 0.5,
                       beta_2: float = 0.9, n_critic: int = 5, config: Any = None,
                       add_summaries: Any = None) -> Any:
    """A ``tfgan.estimator.GANEstimator`` training ``generator`` against ``critic`` (WGAN-GP).

    Args:
        generator: noise ``[batch, noise_dim]`` -> latents; a Keras model (e.g.
            ``Sequential([Input((n,)), StyleQuantumGenerator(n, L)])``) used as an
            architecture template, or a zero-argument function returning a fresh one. The
            estimator owns the weights: they start from the layers' initializers and then
            live in ``model_dir``'s checkpoints (the template's current weights are not used).
        critic: latents -> one score; same forms as ``generator``.
        noise_dim: noise dimension (checked against the input_fn's noise at graph build).
        model_dir: checkpoint and summary directory; a second ``train`` resumes from it.
        gp_weight: λ of ``tfgan.losses.wasserstein_gradient_penalty``.
        g_lr, c_lr, beta_1, beta_2: Adam (``tf.compat.v1.train.AdamOptimizer``) settings.
        n_critic: critic updates per generator update (``tfgan.GANTrainSteps(1, n_critic)``);
            one estimator step = ``n_critic`` critic updates + one generator update.
        config: optional ``tf.estimator.RunConfig``.
        add_summaries: TF-GAN summary types (e.g. ``tfgan.estimator.SummaryType.VARIABLES``).

    Returns:
        the estimator; feed it ``latent_input_fn(...)`` to train and ``noise_input_fn(...)``
        to predict (each prediction is one generated latent vector).
    """
    tfgan = import_tfgan()
    gen_factory = _model_factory("generator", generator)
    critic_factory = _model_factory("critic", critic)
    noise_dim = check_int("noise_dim", noise_dim, 1)
    n_critic = check_int("n_critic", n_critic, 1)
    for name, value in (("gp_weight", gp_weight), ("g_lr", g_lr), ("c_lr", c_lr)):
        check_finite_float(name, value, 0.0)
    if not model_dir:
        raise ValueError("model_dir must name a directory for the checkpoints.")

    generator_net = _PerGraph("generator", gen_factory)
    critic_net = _PerGraph("critic", critic_factory)
    noise_dim = int(noise_dim)

    def generator_fn(noise, mode):
        noise.shape.assert_is_compatible_with([None, noise_dim])
        return generator_net(noise, mode)

    def discriminator_fn(latents, unused_conditioning, mode):
        return critic_net(latents, mode)

    params = {"gradient_penalty_weight": float(gp_weight)} if gp_weight else {}
    return tfgan.estimator.GANEstimator(
        model_dir=str(model_dir),
        generator_fn=generator_fn,
        discriminator_fn=discriminator_fn,
        generator_loss_fn=tfgan.losses.wasserstein_generator_loss,
        discriminator_loss_fn=tfgan.losses.wasserstein_discriminator_loss,
        generator_optimizer=lambda: tf.compat.v1.train.AdamOptimizer(g_lr, beta_1, beta_2),
        discriminator_optimizer=lambda: tf.compat.v1.train.AdamOptimizer(c_lr, beta_1, beta_2),
        get_hooks_fn=tfgan.get_sequential_train_hooks(tfgan.GANTrainSteps(1, int(n_critic))),
        add_summaries=add_summaries,
        config=config,
        params=params,
    )


def _noise(shape: Sequence[int], noise: str, seed: Optional[int]) -> tf.Tensor:
    if noise == "uniform":
        return tf.random.uniform(shape, -1.0, 1.0, seed=seed)
    return tf.random.normal(shape, seed=seed)


def _check_noise_args(batch_size: int, noise_dim: int, noise: str) -> None:
    batch_size = check_int("batch_size", batch_size, 1)
    noise_dim = check_int("noise_dim", noise_dim, 1)
    check_choice("noise", noise, NOISES)


def latent_input_fn(latents: np.ndarray, batch_size: int, noise_dim: int,
                    noise: str = "uniform", seed: Optional[int] = None,
                    shuffle: bool = True) -> InputFn:
    """An estimator ``input_fn`` yielding ``(noise, real_latents)`` batches, repeated forever.

    ``noise`` is ``[batch, noise_dim]`` (uniform in [-1, 1) or standard normal) and
    ``real_latents`` the VAE-encoded latents; batches are full (the data repeats before
    batching), so every step sees ``batch_size`` examples. Bound the run with ``steps``.
    """
    _check_noise_args(batch_size, noise_dim, noise)
    latents = np.asarray(latents)
    if latents.ndim != 2 or latents.shape[0] == 0:
        raise ValueError(f"latents must have shape [N, D] with N >= 1, got {list(latents.shape)}.")
    if not np.issubdtype(latents.dtype, np.floating) or not np.all(np.isfinite(latents)):
        raise ValueError("latents must be finite floating-point values.")
    latents = latents.astype(np.float32)

    def input_fn() -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices(latents)
        if shuffle:
            ds = ds.shuffle(len(latents), seed=seed, reshuffle_each_iteration=True)
        ds = ds.repeat().batch(int(batch_size), drop_remainder=True)
        return ds.map(lambda real: (_noise([int(batch_size), int(noise_dim)], noise, seed),
                                    real))

    return input_fn


def noise_input_fn(n: int, noise_dim: int, batch_size: int = 64, noise: str = "uniform",
                   seed: Optional[int] = None) -> InputFn:
    """An estimator ``input_fn`` for ``predict``: ``n`` noise vectors, then the end."""
    _check_noise_args(batch_size, noise_dim, noise)
    n = check_int("n", n, 1)
    rng = np.random.default_rng(seed)
    values = (rng.uniform(-1.0, 1.0, (int(n), int(noise_dim))) if noise == "uniform"
              else rng.standard_normal((int(n), int(noise_dim)))).astype(np.float32)

    def input_fn() -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(values).batch(int(batch_size))

    return input_fn
