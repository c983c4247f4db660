"""The one Adam of the latent GANs: its constants, the Keras optimizer, and Adam over runs.

The betas and epsilon of every GAN optimizer of the project are defined here once (those of
the Keras WGAN-GP example, beta_1 = 0.5, beta_2 = 0.9). ``adam(learning_rate)`` is the Keras
optimizer ``LatentGAN.compile`` gives each network by default; :class:`RunAdam` is the same
update over weights stacked on a leading run axis ``K`` (``PackedLatentGAN``): each run its
own learning rate, step count and moments, gradients masked per run (padding stays zero),
and frozen runs keep weights and state. Keras' Adam and ``RunAdam`` perform the same
arithmetic (``tests/test_packed.py`` checks a run of a pack against ``LatentGAN``).
"""
from typing import Any, Optional, Sequence

import tensorflow as tf

BETA_1 = 0.5
BETA_2 = 0.9
EPSILON = 1e-7
DEFAULT_LEARNING_RATE = 2e-4


def adam(learning_rate: Any = DEFAULT_LEARNING_RATE) -> tf.keras.optimizers.Optimizer:
    """Keras' Adam with this module's betas and epsilon (one per network)."""
    return tf.keras.optimizers.Adam(learning_rate, beta_1=BETA_1, beta_2=BETA_2,
                                    epsilon=EPSILON)


class RunAdam(tf.Module):
    """Adam over variables ``[K, ...]`` whose leading axis indexes independent runs.

    Args:
        variables: the stacked trainable variables (all with the same leading size ``K``).
        name: the module's name (its slot variables are named after it).

    Keras' Adam update, run by run: ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 -
    beta_2)``, ``w -= lr_t m / (sqrt(v) + epsilon)`` with ``lr_t = lr sqrt(1 - beta_2^t) /
    (1 - beta_1^t)`` and ``t`` the run's own update count.

    >>> opt = RunAdam(stacked_vars, name="critic_adam")
    >>> opt.apply(grads, learning_rate=lr_per_run, active=active_mask)
    """

    def __init__(self, variables: Sequence[tf.Variable], name: str = "run_adam") -> None:
        super().__init__(name=name)
        self.variables_ = list(variables)
        if not self.variables_:
            raise ValueError("variables is empty: RunAdam needs at least one variable.")
        sizes = {int(v.shape[0]) for v in self.variables_}
        if len(sizes) != 1:
            raise ValueError(f"variables must share their leading run axis, got sizes "
                             f"{sorted(sizes)}.")
        self.n_runs = sizes.pop()
        with self.name_scope:
            self.m = [tf.Variable(tf.zeros(v.shape), trainable=False, name=f"m{i}")
                      for i, v in enumerate(self.variables_)]
            self.v = [tf.Variable(tf.zeros(v.shape), trainable=False, name=f"v{i}")
                      for i, v in enumerate(self.variables_)]
            self.t = tf.Variable(tf.zeros([self.n_runs]), trainable=False, name="t")

    def apply(self, grads: Sequence[Any], learning_rate: Any, active: Any,
              masks: Optional[Sequence[Any]] = None) -> None:
        """One update of the active runs.

        Args:
            grads: one gradient per variable, stacked like it.
            learning_rate: ``[K]`` per-run learning rates.
            active: ``[K]`` bool; inactive runs keep weights, moments and step count.
            masks: optional per-variable 0/1 tensors multiplying the gradients.
        """
        t_new = self.t + tf.cast(active, tf.float32)
        local = tf.maximum(t_new, 1.0)
        alpha = learning_rate * tf.sqrt(1 - tf.pow(BETA_2, local)) / (1 - tf.pow(BETA_1, local))
        for i, (var, grad) in enumerate(zip(self.variables_, grads)):
            shape = [self.n_runs] + [1] * (var.shape.rank - 1)
            if masks is not None:
                grad = grad * masks[i]
            m, v = self.m[i], self.v[i]
            m_new = m + (grad - m) * (1 - BETA_1)
            v_new = v + (tf.square(grad) - v) * (1 - BETA_2)
            var_new = var - (m_new * tf.reshape(alpha, shape)) / (tf.sqrt(v_new) + EPSILON)
            keep = tf.reshape(active, shape)
            m.assign(tf.where(keep, m_new, m))
            v.assign(tf.where(keep, v_new, v))
            var.assign(tf.where(keep, var_new, var))
        self.t.assign(t_new)

    def reset(self, run: Optional[int] = None) -> None:
        """Zeroes the state of every run (``run`` None) or of run ``run`` alone."""
        for var in (*self.m, *self.v, self.t):
            if run is None:
                var.assign(tf.zeros_like(var))
            else:
                var[int(run)].assign(tf.zeros(var.shape[1:], var.dtype))
