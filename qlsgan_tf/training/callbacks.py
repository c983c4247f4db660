"""Keras callbacks that measure and watch a latent GAN in TensorBoard.

- :class:`FIDCallback` — every N epochs: generate latents, decode them to images, log FD-SAT4,
  KID and its std against cached real activations (scalars ``fd_sat4``, ``kid``, ``kid_std``);
  keeps ``history`` for the study's stability score.
- :class:`ImageGridCallback` — true-colour (R, G, B) and NIR false-colour (NIR, R, G) grids of
  generated and real patches (``tf.summary.image``, optionally PNG files).
- :class:`NaNGuard` — stops training on NaN/inf or diverging logged values and records why
  (``failed``, ``reason``), so a run is marked failed instead of crashing.
- :class:`StopOnRequest` — ends training after the current batch once a stop was requested
  (``qlsgan_tf.interrupts``: Ctrl-C or SIGTERM under ``handle_signals``).
- :func:`log_hparams` — the HParams plugin: generator and critic capacities (and any other
  hyperparameters) with the final FD-SAT4, so the HParams dashboard plots capacity vs FD-SAT4.

The callbacks work with any model: by default they call ``model.generate(n)`` (``LatentGAN``),
and a ``sample_fn(n) -> latents`` overrides it. Put :class:`FIDCallback` before
:class:`NaNGuard` in the callback list so that a NaN FD-SAT4 stops the run too.

Each callback writes into its own subdirectory of ``log_dir`` (``eval/``, ``images/``), beside
Keras' ``train/`` and ``validation/``; :func:`log_hparams` writes into ``log_dir`` itself.
"""
from __future__ import annotations

import math
import os
import pathlib
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
    cast,
)

import numpy as np
import tensorflow as tf

from qlsgan_tf import interrupts
from qlsgan_tf.data.core import as_images
from qlsgan_tf.fsutil import StrPath
from qlsgan_tf.metrics.distances import fd_sat4_from_activations
from qlsgan_tf.training.images import mosaic
from qlsgan_tf.validation import check_int

if TYPE_CHECKING:
    from qlsgan_tf.metrics.distances import FDResult

#: Latents ``[n, latent_dim]`` -> images ``[n, 28, 28, 4]`` in [-1, 1] (the VAE decoder).
Decoder = Callable[[Any], Any]
#: ``n -> latents [n, latent_dim]``.
SampleFn = Callable[[int], Any]

FD_TAG = "fd_sat4"
KID_TAG = "kid"
KID_STD_TAG = "kid_std"
FLOOR_TAG = "fd_sat4_floor"


def _check_every(every_n_epochs: int) -> int:
    every_n_epochs = check_int("every_n_epochs", every_n_epochs, 1)
    return int(every_n_epochs)


def _check_n(n: int, name: str) -> int:
    n = check_int(name, n, 1)
    return int(n)


def _to_numpy(x: Any) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


class _GeneratingCallback(tf.keras.callbacks.Callback):
    """Shared: latents from ``sample_fn`` or ``model.generate``, decoded in batches."""

    def __init__(self, decoder: Decoder, sample_fn: Optional[SampleFn], batch_size: int):
        super().__init__()
        if not callable(decoder):
            raise TypeError(f"decoder must be callable (latents -> images); got {decoder!r}")
        if sample_fn is not None and not callable(sample_fn):
            raise TypeError(f"sample_fn must be callable (n -> latents); got {sample_fn!r}")
        self.decoder = decoder
        self.sample_fn = sample_fn
        self.batch_size = _check_n(batch_size, "batch_size")

    def _latents(self, n: int) -> np.ndarray:
        if self.sample_fn is not None:
            latents = self.sample_fn(n)
        elif self.model is not None and hasattr(self.model, "generate"):
            latents = self.model.generate(n)
        else:
            raise TypeError(
                f"{type(self).__name__}: the model {type(self.model).__name__} has no "
                "generate(n); pass sample_fn=lambda n: latents")
        latents = _to_numpy(latents)
        if latents.ndim != 2 or latents.shape[0] != n:
            raise ValueError(
                f"{type(self).__name__}: expected latents of shape [{n}, latent_dim]; got "
                f"{latents.shape}")
        return latents.astype(np.float32)

    def _decode(self, latents: np.ndarray) -> np.ndarray:
        parts = [_to_numpy(self.decoder(latents[i:i + self.batch_size]))
                 for i in range(0, len(latents), self.batch_size)]
        images = np.concatenate(parts, axis=0).astype(np.float32)
        if images.shape != (len(latents), 28, 28, 4):
            raise ValueError(
                f"{type(self).__name__}: the decoder must map [n, latent_dim] latents to "
                f"[n, 28, 28, 4] images; got {images.shape}")
        return images


class FIDCallback(_GeneratingCallback):
    """Logs FD-SAT4, KID and KID std of decoded generated latents every ``every_n_epochs``.

    Args:
      decoder: callable latents ``[n, latent_dim]`` -> images ``[n, 28, 28, 4]`` in [-1, 1]
        (the VAE decoder).
      feature_net: a :class:`~qlsgan_tf.metrics.FeatureNet` (None: the bundled one).
      real_images: the real reference set ``[N, 28, 28, 4]`` in [-1, 1]; embedded once.
      real_activations: instead of ``real_images``, their cached activations
        ``feature_net.features(real_images)`` ``[N, feature_dim]`` (the study reuses them
        across runs).
      every_n_epochs: evaluation period.
      n_samples: generated images per evaluation (fixed, documented: FD depends on it).
      log_dir: TensorBoard root; scalars go to ``log_dir/eval`` (None: no logging).
      sample_fn: ``n -> latents`` instead of ``model.generate(n)``.
      floor: the real-vs-real floor (float or ``FDResult``), logged as ``fd_sat4_floor`` beside
        every FD-SAT4 so the dashboard shows both.
      evaluate_on_train_end: also evaluate after the last epoch when it was not an evaluation
        epoch, so a run always ends with a final FD-SAT4.
      max_block_size: KID block size (None: automatic, see ``distances.kid_block_size``).
      batch_size: decoding batch size.

    Attributes:
      history: list of ``(epoch, fd, kid)``; ``epoch`` is Keras' 0-based epoch index (the step
        of the TensorBoard scalars). A generation with NaN/inf gives ``fd = kid = nan``.
      results: the matching :class:`~qlsgan_tf.metrics.FDResult` (None for NaN generations).
    """

    def __init__(self, decoder: Decoder, feature_net: Any = None,
                 real_images: Optional[np.ndarray] = None, every_n_epochs: int = 1,
                 n_samples: int = 256, log_dir: Optional[StrPath] = None,
                 sample_fn: Optional[SampleFn] = None, floor: Union[float, FDResult, None] = None,
                 evaluate_on_train_end: bool = True, max_block_size: Optional[int] = None,
                 batch_size: int = 256, real_activations: Optional[np.ndarray] = None):
        super().__init__(decoder, sample_fn, batch_size)
        if (real_images is None) == (real_activations is None):
            raise ValueError("FIDCallback needs exactly one of real_images (the real reference "
                             "set) and real_activations (its cached features)")
        if feature_net is None:
            from qlsgan_tf.metrics.distances import default_feature_net

            feature_net = default_feature_net()
        self.feature_net = feature_net
        self.every_n_epochs = _check_every(every_n_epochs)
        self.n_samples = _check_n(n_samples, "n_samples")
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be >= 2 for FD-SAT4; got {self.n_samples}")
        if real_activations is None:
            real_activations = feature_net.features(
                as_images(real_images, input_range="tanh", name="real_images"))
        real_activations = np.asarray(real_activations, np.float64)
        dim = getattr(feature_net, "feature_dim", real_activations.shape[-1])
        if real_activations.ndim != 2 or real_activations.shape[1] != dim:
            raise ValueError(f"real_activations must have shape [N, {dim}] (the feature net's "
                             f"dimension); got {real_activations.shape}")
        if len(real_activations) < 2:
            raise ValueError("the real reference set must hold >= 2 images for FD-SAT4; got "
                             f"{len(real_activations)}")
        if not np.all(np.isfinite(real_activations)):
            raise ValueError("real_activations contain NaN or inf values")
        self.real_activations = real_activations
        self.floor = cast(Optional[float], getattr(floor, "fd", floor))  # float or FDResult.fd
        self.evaluate_on_train_end = bool(evaluate_on_train_end)
        self.max_block_size = max_block_size
        self.log_dir = None if log_dir is None else os.path.join(str(log_dir), "eval")
        self._writer: Any = None
        self._last_epoch: Optional[int] = None
        self.history: List[Tuple[int, float, float]] = []
        self.results: List[Optional[FDResult]] = []

    @property
    def writer(self) -> Any:
        if self._writer is None and self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if self.writer is not None and hasattr(self.feature_net, "summary"):
            with self.writer.as_default():
                tf.summary.text("fd_sat4/feature_net", self.feature_net.summary(), step=0)
            self.writer.flush()

    def evaluate(self, epoch: int, logs: Optional[Dict[str, Any]] = None
                 ) -> Optional[FDResult]:
        """Generates, decodes and measures now; logs and records under ``epoch``."""
        images = self._decode(self._latents(self.n_samples))
        if np.all(np.isfinite(images)):
            fake = self.feature_net.features(images)
            # The sample sizes are fixed by the caller; warn once, not every epoch.
            res = fd_sat4_from_activations(self.real_activations, fake, self.max_block_size,
                                           warn=not self.history)
            fd, kid, kid_std = res.fd, res.kid, res.kid_std
        else:
            res, fd, kid, kid_std = None, math.nan, math.nan, math.nan
        self.history.append((int(epoch), fd, kid))
        self.results.append(res)
        if logs is not None:
            logs.update({FD_TAG: fd, KID_TAG: kid, KID_STD_TAG: kid_std})
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.scalar(FD_TAG, fd, step=int(epoch),
                                  description="FD-SAT4: Fréchet distance in the SAT-4 feature "
                                              "network's embedding (see its manifest)")
                tf.summary.scalar(KID_TAG, kid, step=int(epoch))
                tf.summary.scalar(KID_STD_TAG, kid_std, step=int(epoch))
                if self.floor is not None:
                    tf.summary.scalar(FLOOR_TAG, float(self.floor), step=int(epoch))
            self.writer.flush()
        return res

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._last_epoch = int(epoch)
        if (epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(epoch, logs)

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if (self.evaluate_on_train_end and self._last_epoch is not None
                and (not self.history or self.history[-1][0] != self._last_epoch)):
            self.evaluate(self._last_epoch)
        if self._writer is not None:
            self._writer.flush()

    @property
    def fd_values(self) -> np.ndarray:
        """FD-SAT4 trajectory as an array (input to ``qlsgan_tf.metrics.stability``)."""
        return np.array([fd for _, fd, _ in self.history], np.float64)


def image_grid(images: np.ndarray, bands: str = "rgb", cols: Optional[int] = None
               ) -> np.ndarray:
    """Tiles patches into one picture: float ``[H, W, 3]`` in [0, 1].

    Args:
      images: ``[N, 28, 28, 4]`` in [-1, 1] (R, G, B, NIR).
      bands: ``"rgb"`` (true colour) or ``"nir"`` (false colour: NIR, R, G as red, green, blue —
        vegetation shows red).
      cols: grid columns (default ``ceil(sqrt(N))``); a one-pixel white border separates patches.
    """
    images = as_images(images, input_range="tanh", name="images")
    if bands not in ("rgb", "nir"):
        raise ValueError(f"bands must be 'rgb' or 'nir'; got {bands!r}")
    x = np.clip((images + 1.0) / 2.0, 0.0, 1.0)
    x = x[..., :3] if bands == "rgb" else x[..., [3, 0, 1]]
    cols = int(cols or math.ceil(math.sqrt(len(x))))
    canvas = mosaic(x, cols, gap=1)
    return np.pad(canvas, ((1, 1), (1, 1), (0, 0)), constant_values=1.0).astype(np.float32)


class ImageGridCallback(_GeneratingCallback):
    """Logs true-colour and NIR false-colour grids of generated (and real) patches.

    Generated patches come from a fixed noise batch when the model has ``sample_noise`` and
    ``generator`` (``LatentGAN``), so successive grids show the same samples evolving;
    otherwise from ``sample_fn(n)`` or ``model.generate(n)``.

    Args:
      decoder: callable latents -> images ``[n, 28, 28, 4]`` in [-1, 1].
      real_images: optional real patches; their grids are logged once (step 0).
      every_n_epochs: logging period.
      n_images: patches per grid.
      log_dir: TensorBoard root; images go to ``log_dir/images`` (tags ``generated/rgb``,
        ``generated/nir``, ``real/rgb``, ``real/nir``).
      png_dir: also write ``epoch{E:04d}_{rgb,nir}.png`` (and ``real_{rgb,nir}.png``) there.
      sample_fn: ``n -> latents`` override.
      seed: seed of the fixed noise batch.
    """

    def __init__(self, decoder: Decoder, real_images: Optional[np.ndarray] = None,
                 every_n_epochs: int = 1, n_images: int = 16, log_dir: Optional[StrPath] = None,
                 png_dir: Optional[StrPath] = None, sample_fn: Optional[SampleFn] = None,
                 seed: int = 0, batch_size: int = 256):
        super().__init__(decoder, sample_fn, batch_size)
        self.every_n_epochs = _check_every(every_n_epochs)
        self.n_images = _check_n(n_images, "n_images")
        self.real_images = None if real_images is None else as_images(
            real_images, input_range="tanh", name="real_images")[:self.n_images]
        if log_dir is None and png_dir is None:
            raise ValueError("ImageGridCallback needs log_dir and/or png_dir")
        self.log_dir = None if log_dir is None else os.path.join(str(log_dir), "images")
        self.png_dir = None if png_dir is None else pathlib.Path(png_dir)
        self.seed = seed
        self._writer: Any = None
        self._noise: Any = None

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        if self.png_dir is not None:
            self.png_dir.mkdir(parents=True, exist_ok=True)
        model = self.model
        if self.sample_fn is None and hasattr(model, "sample_noise") \
                and hasattr(model, "generator"):
            try:
                self._noise = model.sample_noise(self.n_images, seed=self.seed)
            except TypeError:  # a sample_noise without a seed argument
                self._noise = model.sample_noise(self.n_images)
        if self.real_images is not None:
            self._log("real", self.real_images, 0, png_prefix="real")

    def _generated_latents(self) -> np.ndarray:
        if self._noise is not None:
            return _to_numpy(self.model.generator(self._noise, training=False)).astype(
                np.float32)
        return self._latents(self.n_images)

    def _log(self, prefix: str, images: np.ndarray, step: int, png_prefix: str) -> None:
        grids = {bands: image_grid(images, bands) for bands in ("rgb", "nir")}
        if self._writer is not None:
            with self._writer.as_default():
                for bands, grid in grids.items():
                    tf.summary.image(f"{prefix}/{bands}", grid[None], step=int(step))
            self._writer.flush()
        if self.png_dir is not None:
            import matplotlib.image

            for bands, grid in grids.items():
                matplotlib.image.imsave(self.png_dir / f"{png_prefix}_{bands}.png", grid)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if (epoch + 1) % self.every_n_epochs:
            return
        images = self._decode(self._generated_latents())
        if not np.all(np.isfinite(images)):
            return  # nothing to show; NaNGuard reports the failure
        self._log("generated", np.clip(images, -1.0, 1.0), epoch, f"epoch{epoch:04d}")

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if self._writer is not None:
            self._writer.flush()


# Logged values NaNGuard leaves alone by default: KID's std is NaN with one block.
UNWATCHED_PREFIX = "kid"


class NaNGuard(tf.keras.callbacks.Callback):
    """Stops training on NaN/inf logged values and marks the run failed: the study's NaN
    rule (``qlsgan_tf.convergence.diverged``) in a Keras ``fit``.

    Checked after every batch and every epoch. A value is bad when it is NaN/inf or, only
    when asked for, its absolute value exceeds ``max_abs``. On the first bad value it sets
    ``model.stop_training = True``, ``failed = True`` and a ``reason`` naming the value, the
    epoch and the batch.

    Args:
      monitor: names in ``logs`` to check (None: every numeric entry, e.g. ``c_loss``,
        ``g_loss``, ``gp``, ``w_dist`` and, from :class:`FIDCallback`, ``fd_sat4``, except
        the KID entries: ``kid_std`` is NaN by design when KID has a single block).
      max_abs: an extra threshold on ``|value|`` (None, the default: NaN/inf only, as in the
        study, where no finite value counts as diverged).
    """

    def __init__(self, monitor: Union[str, Iterable[str], None] = None,
                 max_abs: Optional[float] = None):
        super().__init__()
        if isinstance(monitor, str):
            monitor = (monitor,)
        self.monitor = None if monitor is None else tuple(monitor)
        if max_abs is not None and (not isinstance(max_abs, (int, float)) or max_abs <= 0):
            raise ValueError(f"max_abs must be a positive number or None; got {max_abs!r}")
        self.max_abs = max_abs
        self.failed = False
        self.reason: Optional[str] = None
        self.epoch: Optional[int] = None

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.failed, self.reason, self.epoch = False, None, None
        self._current_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._current_epoch = int(epoch)

    def _check(self, logs: Optional[Mapping[str, Any]], where: str) -> None:
        if self.failed or not logs:
            return
        keys = self.monitor if self.monitor is not None else sorted(
            k for k in logs if not k.startswith(UNWATCHED_PREFIX))
        for key in keys:
            if key not in logs:
                continue
            try:
                value = float(logs[key])
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                problem = f"{key} is {value}"
            elif self.max_abs is not None and abs(value) > self.max_abs:
                problem = f"{key} = {value:.4g} diverged beyond |{self.max_abs:g}|"
            else:
                continue
            self.failed = True
            self.epoch = self._current_epoch
            self.reason = f"{problem} at epoch {self._current_epoch}{where}"
            self.model.stop_training = True
            print(f"NaNGuard: stopping training, {self.reason}")
            return

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._check(logs, f", batch {batch}")

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._current_epoch = int(epoch)
        self._check(logs, " (epoch end)")


class StopOnRequest(tf.keras.callbacks.Callback):
    """Ends ``fit`` after the current batch when ``interrupts.stop_requested()``.

    The signal handlers of ``interrupts.handle_signals`` only set a flag; this callback is
    where training sees it. ``stopped`` tells the caller that the run is incomplete (its
    result must not be recorded as finished).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False

    def _poll(self) -> None:
        if interrupts.stop_requested():
            self.stopped = True
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._poll()

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._poll()


def _check_hparam_values(values: Any, name: str, allowed: Tuple[type, ...]) -> Dict[str, Any]:
    if not isinstance(values, dict):
        raise TypeError(f"{name} must be a dict; got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name}: keys must be non-empty strings; got {key!r}")
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, allowed):
            raise TypeError(f"{name}[{key!r}] must be one of "
                            f"{', '.join(t.__name__ for t in allowed)}; got {value!r}")
        out[key] = value
    return out


def write_hparams_config(log_dir: StrPath, hparam_names: Iterable[str],
                         metric_names: Iterable[str]) -> None:
    """Writes the HParams experiment config (which hyperparameters and metrics exist).

    For a study with many runs under one root, call this once on the root and
    :func:`log_hparams` with ``experiment_config=False`` in each run's directory.
    """
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams_config(hparams=[hp.HParam(name) for name in hparam_names],
                          metrics=[hp.Metric(name, display_name=_display(name))
                                   for name in metric_names])
    writer.flush()
    writer.close()


def _display(name: str) -> str:
    return name.replace("fd_sat4", "FD-SAT4").replace("kid", "KID")


def log_hparams(log_dir: StrPath, hparams: Mapping[str, Union[bool, int, float, str]],
                metrics: Mapping[str, float], experiment_config: bool = True, step: int = 0
                ) -> None:
    """Records one run in TensorBoard's HParams dashboard: its hyperparameters and final metrics.

    Args:
      log_dir: the run's TensorBoard directory (written into directly).
      hparams: ``{name: bool | int | float | str}``, e.g. ``{"generator_capacity": 40,
        "critic_params": 1537, "generator": "quantum", "n_qubits": 5, "n_layers": 2}``.
      metrics: ``{name: float}`` final values, e.g. ``{"final_fd_sat4": 31.2,
        "final_kid": 0.05}``; written as scalars at ``step`` in the same run, where the
        dashboard looks for them. NaN is allowed (a failed run).
      experiment_config: also write the experiment config (hyperparameter and metric names) in
        ``log_dir``; pass False when :func:`write_hparams_config` wrote it on a parent.
      step: step of the metric scalars.
    """
    from tensorboard.plugins.hparams import api as hp

    hparams = _check_hparam_values(hparams, "hparams", (bool, int, float, str))
    metrics = _check_hparam_values(metrics, "metrics", (int, float))
    if not hparams:
        raise ValueError("hparams is empty: nothing to record")
    if experiment_config:
        write_hparams_config(log_dir, sorted(hparams), sorted(metrics))
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams(hparams)
        for name, value in metrics.items():
            tf.summary.scalar(name, float(value), step=int(step))
    writer.flush()
    writer.close()
