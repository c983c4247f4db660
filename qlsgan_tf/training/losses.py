"""GAN losses as pure functions, in the manner of TF-GAN's ``tfgan.losses`` and compare_gan's
``loss_lib``: the one registry of the project's losses.

One signature per role, so that the Wasserstein and the non-saturating losses are
interchangeable:

- critic losses ``fn(real_scores, fake_scores)`` (the critic minimises it),
- generator losses ``fn(fake_scores)`` (the generator minimises it),

where the scores are the critic's outputs (logits): ``[batch, 1]`` for one run, giving a
scalar, or ``[K, batch, 1]`` for ``K`` runs at once (a pack), giving the per-run losses
``[K]``. Every loss reduces its scores with :func:`score_mean`, the one shape check. The
gradient penalty needs the critic itself and stands apart: ``gradient_penalty(critic, real,
fake, alpha=None)`` for one run, :func:`run_gradient_penalty` over a run axis.

``LOSSES`` maps the names used in configurations (``"wgan-gp"``, ``"bce"``) to a
:class:`GANLoss`: the two functions and whether the critic loss carries the penalty, built
from the one registry ``constants.LOSSES`` (TensorFlow-free, so the settings and flags offer
its names). A new loss is its functions here and one entry there; the training step
(``training.gan_step``) reads nothing else.
"""
import dataclasses
from typing import Any, Callable, Optional, Union

import tensorflow as tf

from qlsgan_tf import constants

CriticLossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
GeneratorLossFn = Callable[[tf.Tensor], tf.Tensor]


def score_mean(scores: Any) -> tf.Tensor:
    """Mean of critic scores per run: ``[batch, 1]`` (or ``[batch]``) -> scalar, ``[K, batch,
    1]`` -> ``[K]``. Any other rank is refused (a ``ValueError`` naming the shape)."""
    scores = tf.convert_to_tensor(scores)
    rank = scores.shape.rank
    if rank == 3:
        return tf.reduce_mean(scores, axis=[1, 2])
    if rank in (1, 2):
        return tf.reduce_mean(scores)
    raise ValueError(f"critic scores must be [batch, 1] or [runs, batch, 1], got shape "
                     f"{scores.shape}.")


def wgan_critic_loss(real_scores: Any, fake_scores: Any) -> tf.Tensor:
    """Wasserstein critic loss ``mean D(fake) - mean D(real)`` (Arjovsky et al. 2017)."""
    return score_mean(fake_scores) - score_mean(real_scores)


def wgan_generator_loss(fake_scores: Any) -> tf.Tensor:
    """Wasserstein generator loss ``-mean D(fake)``."""
    return -score_mean(fake_scores)


def bce_critic_loss(real_scores: Any, fake_scores: Any) -> tf.Tensor:
    """Binary cross-entropy on logits: ``-mean log σ(D(real)) - mean log(1 - σ(D(fake)))``."""
    return (score_mean(tf.nn.softplus(-tf.convert_to_tensor(real_scores)))
            + score_mean(tf.nn.softplus(tf.convert_to_tensor(fake_scores))))


def bce_generator_loss(fake_scores: Any) -> tf.Tensor:
    """The non-saturating generator loss ``-mean log σ(D(fake))`` (Goodfellow et al. 2014)."""
    return score_mean(tf.nn.softplus(-tf.convert_to_tensor(fake_scores)))


def run_gradient_penalty(critic: Callable[[tf.Tensor], tf.Tensor], real: Any, fake: Any,
                         alpha: Any) -> tf.Tensor:
    """Per-run mean of ``(||∇_x D(x)||_2 - 1)^2`` over interpolates of real and fake
    (Gulrajani et al. 2017), for ``K`` runs at once.

    Args:
        critic: callable, ``x [K, batch, ...] -> scores [K, batch, ...]``, run k scored by its
            own critic (runs must not mix: the gradient of the sum is each run's own).
        real, fake: ``[K, batch, ...]``.
        alpha: ``[K, batch, 1]`` interpolation weights: ``x = real + alpha * (fake - real)``.

    Returns:
        The penalties ``[K]``; the norm runs over all axes after the batch axis.
    """
    real = tf.convert_to_tensor(real, tf.float32)
    fake = tf.convert_to_tensor(fake, tf.float32)
    shape = tf.shape(real)
    alpha = tf.reshape(tf.cast(alpha, tf.float32),
                       tf.concat([shape[:2], tf.ones([tf.rank(real) - 2], tf.int32)], 0))
    interpolates = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = critic(interpolates)
    grads = tape.gradient(scores, interpolates)
    axes = tf.range(2, tf.rank(grads))
    # The tiny offset keeps the gradient of the norm finite where ∇D = 0.
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0), axis=1)


def gradient_penalty(critic: Callable[..., tf.Tensor], real: Any, fake: Any,
                     alpha: Optional[Any] = None, training: bool = True) -> tf.Tensor:
    """Mean of ``(||∇_x D(x)||_2 - 1)^2`` over interpolates of real and fake (Gulrajani 2017):
    :func:`run_gradient_penalty` of one run.

    Args:
        critic: callable (a Keras model), ``x -> scores``.
        real, fake: tensors of the same shape ``[batch, ...]``.
        alpha: ``[batch, 1]`` (or ``[batch]``) interpolation weights placing each interpolate at
            ``x = real + alpha * (fake - real)``; default uniform in [0, 1) from TF's global
            generator.
        training: passed to ``critic``.

    Returns:
        The scalar penalty; the norm runs over all non-batch axes.
    """
    real = tf.convert_to_tensor(real, tf.float32)
    fake = tf.convert_to_tensor(fake, tf.float32)
    if alpha is None:
        alpha = tf.random.uniform(tf.stack([tf.shape(real)[0], 1]))
    penalty = run_gradient_penalty(lambda x: critic(x[0], training=training)[None],
                                   real[None], fake[None], tf.convert_to_tensor(alpha)[None])
    return penalty[0]


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A named pair of losses: ``critic(real_scores, fake_scores)``, ``generator(fake_scores)``;
    ``penalized``: the critic loss adds ``gp_weight * gradient_penalty``."""

    critic: CriticLossFn
    generator: GeneratorLossFn
    penalized: bool


LOSSES: dict[str, GANLoss] = {
    name: GANLoss(*entry.functions(), penalized=entry.penalized)
    for name, entry in constants.LOSSES.items()}
"""The registry's losses (``constants.LOSSES``) as functions."""


def get(loss: Union[str, GANLoss]) -> GANLoss:
    """The :class:`GANLoss` named by ``loss`` (a name of ``LOSSES``), or ``loss`` itself."""
    return constants.registered(LOSSES, loss, GANLoss, "loss")


def critic_loss_fn(loss: Union[str, GANLoss, CriticLossFn]) -> CriticLossFn:
    """A critic loss given as a callable or by its configuration name."""
    return loss if callable(loss) else get(loss).critic


def generator_loss_fn(loss: Union[str, GANLoss, GeneratorLossFn]) -> GeneratorLossFn:
    """A generator loss given as a callable or by its configuration name."""
    return loss if callable(loss) else get(loss).generator
