"""One latent-GAN training run, shared by ``qlsgan train-gan`` and the capacity study.

``fit_with_fd`` fits a compiled :class:`LatentGAN` with the project's callbacks (FD-SAT4/KID
every ``fid_every`` epochs, NaN/divergence guard, TensorBoard, HParams) and returns a
:class:`FitResult`, the trajectory the study scores. ``train_latent_gan`` builds and compiles
the ``LatentGAN``, calls ``fit_with_fd`` and writes a run directory
(:mod:`qlsgan_tf.training.run_dir`), returning a :class:`GanRunResult`.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
import tensorflow as tf

from qlsgan_tf.data.core import as_images
from qlsgan_tf.fsutil import StrPath
from qlsgan_tf.training import run_dir
from qlsgan_tf.training.callbacks import (
    Decoder,
    FIDCallback,
    ImageGridCallback,
    NaNGuard,
    StopOnRequest,
    log_hparams,
)
from qlsgan_tf.training.latent_gan import LatentGAN
from qlsgan_tf.training.latents import encode_latents, latent_dataset

if TYPE_CHECKING:
    from qlsgan_tf.metrics.distances import FDResult


N_RETURNED_SAMPLES = 16


# ------------------------------------------------------------------------------- the run
class _EpochTimer(tf.keras.callbacks.Callback):
    """Wall-clock seconds of each epoch's training (placed first: excludes FID evaluation)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: List[float] = []
        self._start: Optional[float] = None

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        assert self._start is not None  # Keras begins every epoch it ends
        self.seconds.append(time.perf_counter() - self._start)


def _time_per_epoch(seconds: Sequence[float]) -> float:
    """Median epoch time, leaving out the first epoch (graph tracing) when there are more."""
    if not seconds:
        return math.nan
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def _decode_fn(decoder: Optional[Decoder]) -> Optional[Decoder]:
    if decoder is None:
        return None
    if not callable(decoder):
        raise TypeError(f"decoder must be callable (latents -> images), got {decoder!r}.")
    return decoder


@dataclasses.dataclass
class FitResult:
    """What one :func:`fit_with_fd` run measured.

    ``fd_history``: ``[(epoch, fd, kid)]`` at the evaluated epochs; the loss histories are per
    epoch; ``final_*``: the last evaluation (NaN without one); ``time_per_epoch_s``: median
    training time of an epoch after the first, FD evaluation excluded; ``samples``:
    ``n_images`` generated patches as uint8 (None without a decoder or when generation
    failed).
    """

    fd_history: List[Tuple[int, float, float]]
    c_loss_history: List[float]
    g_loss_history: List[float]
    w_dist_history: List[float]
    gp_history: List[float]
    final_fd: float
    final_kid: float
    final_kid_std: float
    failed: bool
    failure_reason: str
    epochs_run: int
    time_s: float
    time_per_epoch_s: float
    epoch_times_s: List[float]
    generator_capacity: int
    critic_params: int
    samples: Optional[np.ndarray] = None

    def metrics(self) -> dict:
        """The fields as a dict, without ``samples`` (what ``metrics.json`` records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "samples"}


@dataclasses.dataclass
class _Monitors:
    """The project's callbacks of one fit: epoch timer, FD-SAT4 (optional), NaN guard."""

    timer: _EpochTimer
    fid: Optional[FIDCallback]
    guard: NaNGuard
    callbacks: list


def _fid_callback(decoder: Decoder, feature_net: Any, reals: np.ndarray,
                  real_activations: Optional[np.ndarray], fid_every: int, n_fid_samples: int,
                  log_dir: Optional[StrPath], floor: Union[float, FDResult, None]
                  ) -> FIDCallback:
    fid = FIDCallback(decoder, feature_net=feature_net, real_images=reals,
                      every_n_epochs=fid_every, n_samples=n_fid_samples, log_dir=log_dir,
                      floor=floor)
    if real_activations is not None:
        real_activations = np.asarray(real_activations, np.float64)
        if real_activations.shape != fid.real_activations.shape:
            raise ValueError(f"real_activations has shape {list(real_activations.shape)}; "
                             f"the feature net gives {list(fid.real_activations.shape)} "
                             "for real_images")
        fid.real_activations = real_activations
    return fid


def _monitors(decoder: Optional[Decoder], reals: Optional[np.ndarray],
              fd_args: Dict[str, Any], log_dir: Optional[StrPath],
              grid_args: Dict[str, Any]) -> _Monitors:
    """Timer first (its epochs exclude FD evaluation), FD-SAT4, guard, stop, TensorBoard."""
    timer, guard = _EpochTimer(), NaNGuard()
    fid: Optional[FIDCallback] = None
    if decoder is not None and reals is not None:
        fid = _fid_callback(decoder, reals=reals, log_dir=log_dir, **fd_args)
    # The guard after FIDCallback: a NaN FD-SAT4 stops the run too; StopOnRequest: Ctrl-C.
    callbacks = [timer] + ([fid] if fid is not None else []) + [guard, StopOnRequest()]
    if log_dir is not None:
        callbacks.append(tf.keras.callbacks.TensorBoard(str(log_dir), profile_batch=0))
        if decoder is not None:
            callbacks.append(ImageGridCallback(decoder, real_images=reals, log_dir=log_dir,
                                               **grid_args))
    return _Monitors(timer, fid, guard, callbacks)


def _samples(gan: LatentGAN, decoder: Optional[Decoder], n_images: int, seed: Optional[int]
             ) -> Optional[np.ndarray]:
    """``n_images`` generated patches as uint8, or None (no decoder, non-finite images)."""
    from qlsgan_tf.data import denormalize

    if decoder is None:
        return None
    images = np.asarray(decoder(gan.generate(n_images, seed=seed)), np.float32)
    return denormalize(np.clip(images, -1.0, 1.0)) if np.all(np.isfinite(images)) else None


def _fit_result(gan: LatentGAN, history: Any, monitors: _Monitors, time_s: float,
                samples: Optional[np.ndarray]) -> FitResult:
    logs, fid = history.history, monitors.fid
    fd_history = [] if fid is None else [(int(e), float(fd), float(kid))
                                         for e, fd, kid in fid.history]
    last = fid.results[-1] if fid is not None and fid.results else None
    return FitResult(
        fd_history=fd_history,
        c_loss_history=[float(v) for v in logs.get("c_loss", [])],
        g_loss_history=[float(v) for v in logs.get("g_loss", [])],
        w_dist_history=[float(v) for v in logs.get("w_dist", [])],
        gp_history=[float(v) for v in logs.get("gp", [])],
        final_fd=fd_history[-1][1] if fd_history else math.nan,
        final_kid=fd_history[-1][2] if fd_history else math.nan,
        final_kid_std=math.nan if last is None else float(last.kid_std),
        failed=bool(monitors.guard.failed), failure_reason=monitors.guard.reason or "",
        epochs_run=len(monitors.timer.seconds), time_s=time_s,
        time_per_epoch_s=_time_per_epoch(monitors.timer.seconds),
        epoch_times_s=list(monitors.timer.seconds),
        generator_capacity=gan.generator_capacity, critic_params=gan.critic_params,
        samples=samples)


def _log_run_hparams(log_dir: StrPath, gan: LatentGAN, hparams: Optional[Mapping[str, Any]],
                     result: FitResult) -> None:
    record = {k: v for k, v in (hparams or {}).items() if v is not None}
    record.setdefault("generator_capacity", gan.generator_capacity)
    record.setdefault("critic_params", gan.critic_params)
    log_hparams(log_dir, record, {"final_fd_sat4": result.final_fd,
                                  "final_kid": result.final_kid,
                                  "failed": float(result.failed)})


def fit_with_fd(gan: LatentGAN, latents: np.ndarray,  # noqa: PLR0913
                decoder: Optional[Decoder] = None, feature_net: Any = None,
                real_images: Optional[np.ndarray] = None,
                real_activations: Optional[np.ndarray] = None, epochs: int = 10,
                batch_size: int = 64, steps_per_epoch: Optional[int] = None,
                fid_every: int = 1, n_fid_samples: int = 256, seed: int = 0,
                log_dir: Optional[StrPath] = None, verbose: int = 1,
                hparams: Optional[Mapping[str, Any]] = None,
                floor: Union[float, FDResult, None] = None,
                callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
                n_images: int = 16) -> FitResult:
    """Fits a compiled :class:`LatentGAN` on ``latents`` and measures FD-SAT4 along the way.

    Args:
        gan: a compiled ``LatentGAN``.
        latents: real latents ``[N, D]`` (VAE-encoded training patches).
        decoder: latents -> images ``[n, 28, 28, 4]`` (``vae.decode`` or ``vae.decoder``);
            without it (or without ``real_images``) no FD-SAT4 is computed.
        feature_net: the FD-SAT4 feature network (None: the bundled one).
        real_images: the real reference set for FD-SAT4, ``[N, 28, 28, 4]`` (uint8 or [-1, 1]).
        real_activations: optional precomputed ``feature_net.features(real_images)``; it
            replaces the embedding of ``real_images`` (which are still needed for the grids).
        epochs, batch_size, steps_per_epoch: as in ``fit`` (``steps_per_epoch`` repeats the
            data so each epoch has exactly that many generator updates).
        fid_every, n_fid_samples: FD-SAT4/KID period (epochs) and generated sample size; the
            last epoch is always evaluated.
        seed: data shuffling and the fixed noise of the image grids.
        log_dir: TensorBoard directory (losses in ``train/``, FD-SAT4/KID in ``eval/``,
            grids in ``images/``, HParams in the root); None logs nothing.
        hparams: ``{name: value}`` for the HParams dashboard (capacities are added).
        floor: the real-vs-real FD-SAT4 floor, logged beside FD-SAT4.
        callbacks: extra Keras callbacks (run after the project's).

    Returns:
        :class:`FitResult`.
    """
    if not isinstance(gan, LatentGAN):
        raise TypeError(f"gan must be a LatentGAN, got {type(gan).__name__}.")
    if getattr(gan, "g_optimizer", None) is None:
        raise ValueError("compile the LatentGAN (gan.compile()) before fitting it.")
    decoder = _decode_fn(decoder)
    data = latent_dataset(latents, batch_size, seed=seed, repeat=steps_per_epoch is not None)
    reals = None if real_images is None else as_images(
        real_images, input_range="uint8_or_tanh", name="real_images")
    if reals is None and real_activations is not None:
        raise ValueError("real_activations were given without real_images: pass the real "
                         "reference images too (they are also shown in the image grids).")
    monitors = _monitors(
        decoder, reals, dict(feature_net=feature_net, real_activations=real_activations,
                             fid_every=fid_every, n_fid_samples=n_fid_samples, floor=floor),
        log_dir, dict(every_n_epochs=fid_every, n_images=n_images, seed=seed))
    start = time.perf_counter()
    history = gan.fit(data, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
                      callbacks=monitors.callbacks + list(callbacks or []))
    result = _fit_result(gan, history, monitors, time.perf_counter() - start,
                         _samples(gan, decoder, n_images, seed))
    if log_dir is not None:
        _log_run_hparams(log_dir, gan, hparams, result)
    return result


@dataclasses.dataclass
class GanRunResult(FitResult):
    """A :class:`FitResult` with what :func:`train_latent_gan` adds: the real-vs-real floor
    (NaN without test images), sizes, the feature net's summary, the hparams and the run
    directory."""

    floor_fd: float = math.nan
    floor_kid: float = math.nan
    n_real_latents: int = 0
    n_fid_samples: int = 0
    feature_net: Optional[dict] = None
    hparams: dict = dataclasses.field(default_factory=dict)
    out_dir: str = ""


def _real_inputs(vae: Any, latents: Optional[np.ndarray], real_images: Optional[np.ndarray],
                 decoder: Any) -> Tuple[Any, Optional[np.ndarray], np.ndarray]:
    """(decoder, real images in [-1, 1] or None, real latents float32)."""
    if decoder is None and vae is not None:
        decoder = getattr(vae, "decoder", None)
    if decoder is not None and not isinstance(decoder, tf.keras.layers.Layer):
        raise TypeError(f"decoder must be a Keras model (latents -> images), got "
                        f"{type(decoder).__name__}.")
    reals = None if real_images is None else as_images(
        real_images, input_range="uint8_or_tanh", name="real_images")
    if latents is None:
        if vae is None or reals is None:
            raise ValueError("give latents, or a vae and real_images to encode.")
        latents = encode_latents(vae, reals)
    return decoder, reals, np.asarray(latents, np.float32)


def _noise_width(generator: Any, noise_dim: Optional[int], latents: np.ndarray) -> int:
    """The generator's noise width (given, or its input width), checked against the latents."""
    if noise_dim is None:
        shape = getattr(generator, "input_shape", None)
        noise_dim = int(shape[-1]) if shape is not None and shape[-1] is not None \
            else int(latents.shape[1])
    out_dim = int(generator(tf.zeros([1, noise_dim])).shape[-1])
    if latents.ndim != 2 or out_dim != latents.shape[1]:
        raise ValueError(f"the generator outputs {out_dim} values per sample but the real "
                         f"latents have shape {list(latents.shape)}: they must match the VAE "
                         "latent dimension.")
    return int(noise_dim)


def _floor_fields(floor: Optional[FDResult]) -> dict:
    """The real-vs-real floor's FD-SAT4 and KID (NaN without one)."""
    return {"floor_fd": math.nan if floor is None else float(floor.fd),
            "floor_kid": math.nan if floor is None else float(floor.kid)}


def _compiled_gan(generator: Any, critic: Any, noise_dim: int, settings: Mapping[str, Any]
                  ) -> LatentGAN:
    gan = LatentGAN(generator, critic, noise_dim=noise_dim, loss=settings["loss"],
                    gp_weight=settings["gp_weight"], n_critic=settings["n_critic"],
                    noise=settings["noise"], seed=settings["seed"])
    gan.compile(g_optimizer=tf.keras.optimizers.Adam(settings["g_lr"], beta_1=0.5, beta_2=0.9),
                c_optimizer=tf.keras.optimizers.Adam(settings["c_lr"], beta_1=0.5, beta_2=0.9))
    return gan


def train_latent_gan(generator: tf.keras.Model, critic: tf.keras.Model,  # noqa: PLR0913
                     out_dir: StrPath, *, vae: Any = None, latents: Optional[np.ndarray] = None,
                     real_images: Optional[np.ndarray] = None,
                     test_images: Optional[np.ndarray] = None,
                     decoder: Optional[tf.keras.Model] = None, noise_dim: Optional[int] = None,
                     loss: str = "wgan-gp", gp_weight: float = 10.0, n_critic: int = 5,
                     noise: str = "uniform", g_lr: float = 2e-4, c_lr: float = 2e-4,
                     epochs: int = 10, batch_size: int = 64,
                     steps_per_epoch: Optional[int] = None, seed: int = 0, fid_every: int = 1,
                     n_fid_samples: int = 256, feature_net: Any = None,
                     hparams: Optional[Mapping[str, Any]] = None, verbose: int = 1
                     ) -> GanRunResult:
    """Trains ``generator`` against ``critic`` on VAE latents and writes a run directory.

    Args:
        generator: Keras model, noise ``[batch, noise_dim]`` -> latents ``[batch, D]``.
        critic: Keras model, latents ``[batch, D]`` -> one score.
        out_dir: the run directory (layout in the module docstring).
        vae: the trained ``SatVAE``; encodes ``real_images`` (unless ``latents`` are given)
            and its ``decoder`` turns generated latents into images.
        latents: real latents ``[N, D]``; default ``encode_latents(vae, real_images)``.
        real_images: training patches ``[N, 28, 28, 4]`` (uint8 or [-1, 1]): the FD-SAT4
            reference set.
        test_images: held-out real patches; with them ``metrics.json`` records the
            real-vs-real floor (``real_floor(real_images, test_images)``).
        decoder: Keras model latents -> images (default ``vae.decoder``).
        noise_dim: the noise dimension (default: the generator's input width).
        loss, gp_weight, n_critic, noise: see :class:`LatentGAN`.
        g_lr, c_lr: Adam learning rates (betas 0.5, 0.9).
        epochs, batch_size, steps_per_epoch, seed, fid_every, n_fid_samples, feature_net,
        hparams, verbose: see :func:`fit_with_fd`.

    Returns:
        :class:`GanRunResult`; its :meth:`~GanRunResult.metrics` are written to
        ``out_dir/metrics.json``.
    """
    from qlsgan_tf.metrics.distances import default_feature_net, real_floor

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    decoder, reals, latents = _real_inputs(vae, latents, real_images, decoder)
    noise_dim = _noise_width(generator, noise_dim, latents)
    net = feature_net if feature_net is not None else default_feature_net()
    floor = None if test_images is None or reals is None else real_floor(
        reals, as_images(test_images, input_range="uint8_or_tanh", name="test_images"),
        feature_net=net)
    settings = {"loss": loss, "n_critic": n_critic, "gp_weight": gp_weight, "noise": noise,
                "g_lr": g_lr, "c_lr": c_lr, "batch_size": batch_size, "seed": seed}
    gan = _compiled_gan(generator, critic, noise_dim, settings)
    run_hparams = {**settings, **(hparams or {})}
    fit = fit_with_fd(
        gan, latents, decoder=decoder, feature_net=net, real_images=reals, epochs=epochs,
        batch_size=batch_size, steps_per_epoch=steps_per_epoch, fid_every=fid_every,
        n_fid_samples=n_fid_samples, seed=seed, log_dir=out / "logs", verbose=verbose,
        hparams=run_hparams, floor=floor, callbacks=[
            tf.keras.callbacks.ModelCheckpoint(str(out / run_dir.CHECKPOINTS / "ckpt"),
                                               save_weights_only=True),
            tf.keras.callbacks.CSVLogger(str(out / run_dir.HISTORY_FILE))])
    result = GanRunResult(
        **{f.name: getattr(fit, f.name) for f in dataclasses.fields(fit)},
        **_floor_fields(floor), n_real_latents=int(len(latents)),
        n_fid_samples=int(n_fid_samples), hparams=run_hparams, out_dir=str(out),
        feature_net=net.summary() if hasattr(net, "summary") else None)
    run_dir.write_run(out, result, gan.generator, decoder, noise_dim, noise, seed)
    return result
