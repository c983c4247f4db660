"""The one GAN step: ``n_critic`` critic updates, then one generator update, over ``K`` runs.

Every latent GAN of the project trains with :func:`train_step`: ``LatentGAN`` (one run, any
Keras generator and critic, ``K = 1``) and ``PackedLatentGAN`` (``K`` runs with stacked
weights). The step is written against forward callables, so both fit:

- ``generate(noise [K, n, noise_dim]) -> latents [K, n, D]``,
- ``critic(latents [K, n, D]) -> scores [K, n, 1]`` (run k scored by its own critic),

and against update callables ``apply_critic(grads)`` / ``apply_generator(grads)`` (Keras'
``apply_gradients``, or ``optim.RunAdam``). The losses come from the registry of
``training.losses`` (per-run ``[K]``); the noise and penalty weights from the counter-based
streams of (run seed, generator step) (``training.streams``), so that a run gives the same
numbers alone and in any pack.

:func:`finite_runs` tells which runs' losses are finite after a step: the part of the study's
one NaN rule (``tuning.packs.diverged``) that is checked in the compiled step, where a
diverged run is frozen at once.
"""
import dataclasses
from typing import Any, Callable, Sequence, Tuple

import tensorflow as tf

from qlsgan_tf.training import losses as gan_losses
from qlsgan_tf.training import streams

LOSS_NAMES = ("c_loss", "g_loss", "gp", "w_dist")
"""The per-run values a step returns, in this order."""


@dataclasses.dataclass(frozen=True)
class GANParts:
    """What one step of ``K`` runs updates and how (see the module docstring).

    ``loss`` is a ``losses.GANLoss`` (its two functions may be the user's own);
    ``gp_weight`` weighs its penalty when ``loss.penalized``.
    """

    generate: Callable[[tf.Tensor], tf.Tensor]
    critic: Callable[[tf.Tensor], tf.Tensor]
    generator_variables: Sequence[Any]
    critic_variables: Sequence[Any]
    apply_generator: Callable[[list[Any]], Any]
    apply_critic: Callable[[list[Any]], Any]
    loss: gan_losses.GANLoss
    gp_weight: float
    n_critic: int
    n_runs: int


def _per_run(value: Any, n_runs: int) -> tf.Tensor:
    """A loss as ``[K]`` (a user's loss function may return the scalar of one run)."""
    return tf.reshape(tf.cast(value, tf.float32), [n_runs])


def critic_losses(parts: GANParts, real: Any, fake: Any,
                  alpha: Any) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-run critic loss (with the weighted penalty when the loss has one), penalty and
    score gap ``mean D(real) - mean D(fake)``, each ``[K]``."""
    real_scores = parts.critic(real)
    fake_scores = parts.critic(fake)
    w_dist = gan_losses.score_mean(real_scores) - gan_losses.score_mean(fake_scores)
    c_loss = _per_run(parts.loss.critic(real_scores, fake_scores), parts.n_runs)
    if not parts.loss.penalized:
        return c_loss, tf.zeros([parts.n_runs]), w_dist
    gp = gan_losses.run_gradient_penalty(parts.critic, real, fake, alpha)
    return c_loss + parts.gp_weight * gp, gp, w_dist


def generator_loss(parts: GANParts, noise: Any) -> tf.Tensor:
    """Per-run generator loss ``[K]`` of fresh samples from ``noise``."""
    return _per_run(parts.loss.generator(parts.critic(parts.generate(noise))), parts.n_runs)


def train_step(parts: GANParts, real: Any, seeds: Any, step: Any, noise_dim: int,
               noise: str = "uniform") -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """One generator step of ``K`` runs: ``n_critic`` critic updates on the real batch, each
    with fresh noise and penalty weights, then one generator update.

    Args:
        parts: a :class:`GANParts`.
        real: real latents ``[K, batch, D]``.
        seeds: ``[K]`` int64, the runs' stream seeds.
        step: the generator step (scalar int64) the draws are counted from.
        noise_dim, noise: the generator's noise width and kind (``"uniform"``/``"normal"``).

    Returns:
        ``(c_loss, g_loss, gp, w_dist)``, each ``[K]`` (the critic's values are those of its
        last update). The caller advances ``step``.

    The critic updates run in a ``tf.while_loop``, not an unrolled Python loop: the step is
    traced once instead of ``n_critic`` times.
    """
    batch = tf.shape(real)[1]

    def draw_noise(index: Any) -> tf.Tensor:
        counter = streams.step_counter(step, index, parts.n_critic)
        return streams.stream_noise(seeds, counter, batch, noise_dim, noise)

    def critic_update(i: Any, c_loss: Any, gp: Any,
                      w_dist: Any) -> Tuple[Any, Any, Any, Any]:
        fake = parts.generate(draw_noise(2 * i))
        alpha = streams.stream_uniform(
            seeds, streams.step_counter(step, 2 * i + 1, parts.n_critic), [batch, 1])
        with tf.GradientTape() as tape:
            c_loss, gp, w_dist = critic_losses(parts, real, fake, alpha)
        # A vector target: the gradient of the sum over runs, i.e. each run's own.
        parts.apply_critic(tape.gradient(c_loss, parts.critic_variables))
        return i + 1, c_loss, gp, w_dist

    zero = tf.zeros([parts.n_runs])
    _, c_loss, gp, w_dist = tf.while_loop(
        lambda i, *_: i < parts.n_critic, critic_update, (tf.constant(0), zero, zero, zero))
    noise_g = draw_noise(2 * parts.n_critic)
    with tf.GradientTape() as tape:
        g_loss = generator_loss(parts, noise_g)
    parts.apply_generator(tape.gradient(g_loss, parts.generator_variables))
    return c_loss, g_loss, gp, w_dist


def finite_runs(*values: Any) -> tf.Tensor:
    """``[K]`` bool, true for the runs whose every value (``[K]`` each) is finite; a run that
    is not has diverged (``tuning.packs.diverged``)."""
    finite = tf.ones_like(values[0], tf.bool)
    for value in values:
        finite &= tf.math.is_finite(value)
    return finite
