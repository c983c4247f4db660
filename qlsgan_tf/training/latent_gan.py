"""``LatentGAN``: a GAN on VAE latents as one ``keras.Model`` (WGAN-GP or non-saturating BCE).

The shape follows the Keras WGAN-GP example (keras-io ``generative/wgan_gp.py``): the model
holds a ``generator`` and a ``critic``, ``compile`` takes one optimizer for each,
``gradient_penalty`` is a method, and ``train_step`` runs ``n_critic`` critic updates and then
one generator update, so that plain ``fit`` with standard callbacks trains it. The generator
is any Keras model mapping noise ``[batch, noise_dim]`` to latents — a model around
``StyleQuantumGenerator`` or an ``MLPGenerator`` — so the same class trains the hybrid and
the classical baseline.
"""
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np
import tensorflow as tf

from qlsgan_tf.compat import renamed_noise_dim
from qlsgan_tf.constants import LOSSES, NOISES
from qlsgan_tf.training import gan_step, optim
from qlsgan_tf.training import losses as gan_losses
from qlsgan_tf.validation import check_choice, check_finite_float, check_int, check_optional_int


def sample_noise(n: Any, noise_dim: int, noise: str = "uniform", seed: Optional[int] = None,
                 rng: Optional[tf.random.Generator] = None) -> tf.Tensor:
    """Noise ``[n, noise_dim]`` float32: uniform in [-1, 1) or standard normal.

    ``seed`` (int) gives reproducible stateless draws; otherwise ``rng`` (a
    ``tf.random.Generator``) or TF's global generator is used.
    """
    shape = tf.stack([tf.cast(n, tf.int32), noise_dim])
    if seed is not None:
        seed = tf.constant([int(seed), 0], dtype=tf.int64)
        if noise == "uniform":
            return tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0)
        return tf.random.stateless_normal(shape, seed)
    if rng is not None:
        if noise == "uniform":
            return rng.uniform(shape, minval=-1.0, maxval=1.0)
        return rng.normal(shape)
    if noise == "uniform":
        return tf.random.uniform(shape, minval=-1.0, maxval=1.0)
    return tf.random.normal(shape)


def _capacity(model: Any) -> int:
    """Trainable parameter count (a model's own ``capacity`` when it defines one)."""
    cap = getattr(model, "capacity", None)
    if isinstance(cap, (int, np.integer)):
        return int(cap)
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


class _StreamState:
    """The training streams' seed and generator-step counter. A plain holder, so that Keras
    does not track the counter as a model weight (saved weights keep their layout)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="stream_step")


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class LatentGAN(tf.keras.Model):
    """A GAN whose real data are VAE latents: critic ``n_critic`` times, then generator once.

    Args:
        generator: Keras model, noise ``[batch, noise_dim]`` -> latents ``[batch, D]``.
        critic: Keras model, latents ``[batch, D]`` -> one score (logit) ``[batch, 1]``.
        noise_dim: noise dimension, i.e. the generator's input width (for the
            ``StyleQuantumGenerator`` this is its ``noise_dim``, by default ``n_qubits``).
        loss: ``"wgan-gp"`` (Wasserstein loss with gradient penalty, Gulrajani et al. 2017)
            or ``"bce"`` (the non-saturating GAN loss of Goodfellow et al. 2014; the critic
            output is a logit and no gradient penalty is applied).
        gp_weight: weight λ of the gradient penalty (``"wgan-gp"`` only), default 10.
        n_critic: critic updates per generator update, default 5. All ``n_critic`` critic
            updates of one ``train_step`` see the same real batch (as in the Keras WGAN-GP
            example), each with freshly drawn noise; an "epoch" therefore has as many
            generator updates as batches.
        noise: ``"uniform"`` (default: uniform in [-1, 1), which keeps the style angles
            ``w*z + b`` bounded) or ``"normal"`` (standard normal, as qibo's StyleQGAN draws).
        seed: optional int seeding the training noise (``None``: a seed drawn from NumPy's
            global generator). Training noise and penalty weights are counter-based streams
            of (seed, generator step) (:mod:`qlsgan_tf.training.streams`), the same a
            :class:`PackedLatentGAN` run with this seed draws.

    Metrics (per ``fit`` epoch, averaged over its batches): ``c_loss`` (critic loss, including
    the penalty), ``g_loss``, ``gp`` (the penalty before weighting, ``"wgan-gp"`` only) and
    ``w_dist`` (``mean D(real) - mean D(fake)``: the Wasserstein estimate for ``"wgan-gp"``,
    the logit gap for ``"bce"``).

    >>> gan = LatentGAN(generator, critic, noise_dim=5)
    >>> gan.compile()                      # Adam(2e-4, beta_1=0.5, beta_2=0.9) for both
    >>> gan.fit(latent_dataset(latents, 64), epochs=10)
    >>> fake_latents = gan.generate(64)
    """

    def __init__(self, generator: tf.keras.Model, critic: tf.keras.Model, noise_dim: int,
                 loss: Union[str, gan_losses.GANLoss] = "wgan-gp", gp_weight: float = 10.0,
                 n_critic: int = 5, noise: str = "uniform", seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Ingest generator and critic.
        for name, model in (("generator", generator), ("critic", critic)):
            if not isinstance(model, tf.keras.layers.Layer):
                raise TypeError(
                    f"{name} must be a Keras model or layer, got {type(model).__name__}.")
        if generator is critic:
            raise ValueError("generator and critic must be different models.")
        self.generator = generator
        self.critic = critic
        self.noise_dim = check_int("noise_dim", noise_dim, 1)
        self.loss_name = check_choice("loss", loss, LOSSES)
        self.gp_weight = check_finite_float("gp_weight", gp_weight, 0.0)
        self.n_critic = check_int("n_critic", n_critic, 1)
        self.noise = check_choice("noise", noise, NOISES)
        self.seed = check_optional_int("seed", seed)
        # The losses of `loss`; compile() may replace the two functions (not the penalty).
        self._loss = gan_losses.get(loss)
        self.c_loss_fn = self._loss.critic
        self.g_loss_fn = self._loss.generator
        self._rng = (tf.random.Generator.from_seed(self.seed) if self.seed is not None
                     else tf.random.Generator.from_non_deterministic_state())
        self._stream = _StreamState(
            self.seed if self.seed is not None else int(np.random.randint(0, 2**31 - 1)))
        self.c_loss_tracker = tf.keras.metrics.Mean(name="c_loss")
        self.g_loss_tracker = tf.keras.metrics.Mean(name="g_loss")
        self.gp_tracker = tf.keras.metrics.Mean(name="gp")
        self.w_dist_tracker = tf.keras.metrics.Mean(name="w_dist")

    # ----------------------------------------------------------------------- Keras plumbing
    def compile(self, g_optimizer: Optional[tf.keras.optimizers.Optimizer] = None,
                c_optimizer: Optional[tf.keras.optimizers.Optimizer] = None,
                c_loss_fn: Union[None, str, gan_losses.CriticLossFn] = None,
                g_loss_fn: Union[None, str, gan_losses.GeneratorLossFn] = None,
                **kwargs: Any) -> None:
        """Sets one optimizer and one loss function per network.

        Args:
            g_optimizer, c_optimizer: default ``training.optim.adam()`` each (Adam(2e-4,
                beta_1=0.5, beta_2=0.9)).
            c_loss_fn: critic loss ``fn(real_scores, fake_scores) -> scalar``, e.g.
                :func:`qlsgan_tf.training.losses.wgan_critic_loss`, or a loss name of
                ``LOSSES``; default: that of the constructor's ``loss``.
            g_loss_fn: generator loss ``fn(fake_scores) -> scalar`` or a loss name; default as
                above. The gradient penalty follows the constructor's ``loss`` and
                ``gp_weight``.
            **kwargs: passed to ``keras.Model.compile``.
        """
        super().compile(**kwargs)
        self.c_loss_fn = (self._loss.critic if c_loss_fn is None
                          else gan_losses.critic_loss_fn(c_loss_fn))
        self.g_loss_fn = (self._loss.generator if g_loss_fn is None
                          else gan_losses.generator_loss_fn(g_loss_fn))
        self.g_optimizer = g_optimizer or optim.adam()
        self.c_optimizer = c_optimizer or optim.adam()
        if self.g_optimizer is self.c_optimizer:
            raise ValueError("g_optimizer and c_optimizer must be different optimizer instances.")
        if not self.built:
            self.build()

    @property
    def metrics(self) -> List[tf.keras.metrics.Metric]:
        trackers = [self.c_loss_tracker, self.g_loss_tracker]
        if self._loss.penalized:
            trackers.append(self.gp_tracker)
        return trackers + [self.w_dist_tracker]

    def build(self, input_shape: Any = None) -> None:
        """Builds generator and critic from the noise shape ``[batch, noise_dim]``."""
        noise = tf.zeros([1, self.noise_dim])
        self.critic(self.generator(noise))
        super().build(tf.TensorShape([None, self.noise_dim]))

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        """Noise -> generated latents (the generator alone)."""
        return self.generator(inputs, training=training)

    def get_config(self) -> Dict[str, Any]:
        return {
            **super().get_config(),
            "generator": tf.keras.saving.serialize_keras_object(self.generator),
            "critic": tf.keras.saving.serialize_keras_object(self.critic),
            "noise_dim": self.noise_dim,
            "loss": self.loss_name,
            "gp_weight": self.gp_weight,
            "n_critic": self.n_critic,
            "noise": self.noise,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LatentGAN":
        config = renamed_noise_dim(config)
        config["generator"] = tf.keras.saving.deserialize_keras_object(config["generator"])
        config["critic"] = tf.keras.saving.deserialize_keras_object(config["critic"])
        gan = cls(**config)
        gan.build()
        return gan

    @property
    def generator_capacity(self) -> int:
        """Trainable parameters of the generator."""
        return _capacity(self.generator)

    @property
    def critic_params(self) -> int:
        """Trainable parameters of the critic (the realised count, whatever budget sized it)."""
        return _capacity(self.critic)

    # --------------------------------------------------------------------------- the losses
    def sample_noise(self, n: Any, seed: Optional[int] = None) -> tf.Tensor:
        """Noise ``[n, noise_dim]`` of this model's kind; ``seed`` makes it reproducible."""
        return sample_noise(n, self.noise_dim, self.noise, seed=seed,
                            rng=None if seed is not None else self._rng)

    def generate(self, n: int, seed: Optional[int] = None, batch_size: int = 256) -> np.ndarray:
        """``n`` generated latents as a float32 ``np.ndarray`` (inference mode)."""
        n = check_int("n", n, 1)
        noise = self.sample_noise(n, seed=seed)
        parts = [self.generator(noise[i:i + batch_size], training=False).numpy()
                 for i in range(0, n, batch_size)]
        return np.concatenate(parts).astype(np.float32)

    def gradient_penalty(self, real: Any, fake: Any, alpha: Optional[Any] = None) -> tf.Tensor:
        """:func:`qlsgan_tf.training.losses.gradient_penalty` of this critic; ``alpha``
        (``[batch, 1]``) defaults to uniform draws of this model's generator."""
        if alpha is None:
            alpha = self._rng.uniform(tf.stack([tf.shape(real)[0], 1]))
        return gan_losses.gradient_penalty(self.critic, real, fake, alpha=alpha)

    def _parts(self, training: bool) -> gan_step.GANParts:
        """This model as one run of ``training.gan_step``: its networks with a run axis of 1,
        its optimizers (``compile``) and losses."""
        def apply(optimizer: Any, variables: Any) -> Callable[[list], Any]:
            return lambda grads: optimizer.apply_gradients(zip(grads, variables))

        return gan_step.GANParts(
            generate=lambda noise: self.generator(noise[0], training=training)[None],
            critic=lambda x: self.critic(x[0], training=training)[None],
            generator_variables=self.generator.trainable_variables,
            critic_variables=self.critic.trainable_variables,
            apply_generator=apply(getattr(self, "g_optimizer", None),
                                  self.generator.trainable_variables),
            apply_critic=apply(getattr(self, "c_optimizer", None),
                               self.critic.trainable_variables),
            loss=gan_losses.GANLoss(self.c_loss_fn, self.g_loss_fn, self._loss.penalized),
            gp_weight=self.gp_weight, n_critic=self.n_critic, n_runs=1)

    # --------------------------------------------------------------------------- training
    def train_step(self, data: Any) -> Dict[str, tf.Tensor]:
        """``training.gan_step.train_step`` of this one run on the real batch ``data``."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = tf.cast(real, tf.float32)
        if not self.critic.built:
            self.critic(real)
        # The critic updates run in a tf.while_loop: its optimizer's slots must exist first.
        self.c_optimizer.build(self.critic.trainable_variables)
        seeds = tf.constant([self._stream.seed], tf.int64)
        values = gan_step.train_step(self._parts(training=True), real[None], seeds,
                                     self._stream.step, self.noise_dim, self.noise)
        self._stream.step.assign_add(1)
        return self._update_metrics(*(v[0] for v in values))

    def test_step(self, data: Any) -> Dict[str, tf.Tensor]:
        """Losses on held-out latents, without updates (for ``validation_data``)."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = tf.cast(real, tf.float32)
        noise = self.sample_noise(tf.shape(real)[0])
        fake = self.generator(noise, training=False)
        alpha = self._rng.uniform(tf.stack([tf.shape(real)[0], 1]))
        c_loss, gp, w_dist = gan_step.critic_losses(self._parts(training=False), real[None],
                                                    fake[None], alpha[None])
        g_loss = self.g_loss_fn(self.critic(fake, training=False))
        return self._update_metrics(c_loss[0], g_loss, gp[0], w_dist[0])

    def _update_metrics(self, c_loss: Any, g_loss: Any, gp: Any,
                        w_dist: Any) -> Dict[str, tf.Tensor]:
        self.c_loss_tracker.update_state(c_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.w_dist_tracker.update_state(w_dist)
        if self._loss.penalized:
            self.gp_tracker.update_state(gp)
        return {m.name: m.result() for m in self.metrics}
