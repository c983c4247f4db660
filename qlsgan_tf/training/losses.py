"""GAN losses as pure functions, in the manner of TF-GAN's ``tfgan.losses`` and the Keras
WGAN-GP example.

One signature per role, so that the Wasserstein and the non-saturating losses are
interchangeable:

- critic losses ``fn(real_scores, fake_scores) -> scalar`` (the critic minimises it),
- generator losses ``fn(fake_scores) -> scalar`` (the generator minimises it),

where the scores are the critic's outputs (logits) ``[batch, 1]``. The gradient penalty needs
the critic itself and stands apart: ``gradient_penalty(critic, real, fake, alpha=None)``.

``LOSSES`` maps the names used in configurations (``"wgan-gp"``, ``"bce"``) to a
:class:`GANLoss`: the two functions and whether the critic loss carries the penalty.
"""
import dataclasses
from typing import Callable, Union

import tensorflow as tf

from qlsgan_tf.constants import LOSSES as LOSS_NAMES

CriticLossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
GeneratorLossFn = Callable[[tf.Tensor], tf.Tensor]


def wgan_critic_loss(real_scores, fake_scores):
    """Wasserstein critic loss ``mean D(fake) - mean D(real)`` (Arjovsky et al. 2017)."""
    return tf.reduce_mean(fake_scores) - tf.reduce_mean(real_scores)


def wgan_generator_loss(fake_scores):
    """Wasserstein generator loss ``-mean D(fake)``."""
    return -tf.reduce_mean(fake_scores)


def bce_critic_loss(real_scores, fake_scores):
    """Binary cross-entropy on logits: ``-mean log σ(D(real)) - mean log(1 - σ(D(fake)))``."""
    return (tf.reduce_mean(tf.nn.softplus(-real_scores))
            + tf.reduce_mean(tf.nn.softplus(fake_scores)))


def bce_generator_loss(fake_scores):
    """The non-saturating generator loss ``-mean log σ(D(fake))`` (Goodfellow et al. 2014)."""
    return tf.reduce_mean(tf.nn.softplus(-fake_scores))


def gradient_penalty(critic, real, fake, alpha=None, training=True):
    """Mean of ``(||∇_x D(x)||_2 - 1)^2`` over interpolates of real and fake (Gulrajani 2017).

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
    batch = tf.shape(real)[0]
    if alpha is None:
        alpha = tf.random.uniform(tf.stack([batch, 1]))
    alpha = tf.reshape(tf.cast(alpha, tf.float32),
                       tf.concat([[batch], tf.ones([tf.rank(real) - 1], tf.int32)], 0))
    interpolates = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = critic(interpolates, training=training)
    grads = tape.gradient(scores, interpolates)
    axes = tf.range(1, tf.rank(grads))
    # The tiny offset keeps the gradient of the norm finite where ∇D = 0.
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A named pair of losses: ``critic(real_scores, fake_scores)``, ``generator(fake_scores)``;
    ``penalized``: the critic loss adds ``gp_weight * gradient_penalty``."""

    critic: CriticLossFn
    generator: GeneratorLossFn
    penalized: bool


LOSSES = {
    "wgan-gp": GANLoss(wgan_critic_loss, wgan_generator_loss, penalized=True),
    "bce": GANLoss(bce_critic_loss, bce_generator_loss, penalized=False),
}
assert tuple(LOSSES) == LOSS_NAMES


def get(loss: Union[str, GANLoss]) -> GANLoss:
    """The :class:`GANLoss` named by ``loss`` (a name of ``LOSSES``), or ``loss`` itself."""
    if isinstance(loss, GANLoss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {loss!r}.")
    return LOSSES[loss]


def critic_loss_fn(loss) -> CriticLossFn:
    """A critic loss given as a callable or by its configuration name."""
    return loss if callable(loss) else get(loss).critic


def generator_loss_fn(loss) -> GeneratorLossFn:
    """A generator loss given as a callable or by its configuration name."""
    return loss if callable(loss) else get(loss).generator
