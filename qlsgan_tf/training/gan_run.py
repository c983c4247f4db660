"""One latent-GAN training run, shared by ``qlsgan train-gan`` and the capacity study.

``fit_with_fd`` fits a compiled :class:`LatentGAN` with the project's callbacks (FD-SAT4/KID
every ``fid_every`` epochs, NaN/divergence guard, TensorBoard, HParams) and returns the
trajectory the study scores. ``train_latent_gan`` builds and compiles the ``LatentGAN``,
calls ``fit_with_fd`` and writes a run directory::

    OUT/checkpoints/       weights after every epoch (TF checkpoint), latest kept
    OUT/logs/              TensorBoard: losses, FD-SAT4 and KID scalars, image grids, HParams
    OUT/history.csv        the Keras metrics per epoch
    OUT/metrics.json       final FD-SAT4/KID, trajectory, capacities, time per epoch
    OUT/samples.png        true-colour and NIR false-colour grid of generated patches
    OUT/generator.keras    the trained generator (noise -> latents)
    OUT/hybrid.keras       the HybridLSGAN (noise -> image), for ``qlsgan sample``
"""
import json
import math
import pathlib
import shutil
import time

import numpy as np
import tensorflow as tf

from qlsgan_tf.data.core import as_images
from qlsgan_tf.fsutil import atomic_write_file
from qlsgan_tf.safe_load import load_keras_model
from qlsgan_tf.training.callbacks import (
    FIDCallback,
    ImageGridCallback,
    NaNGuard,
    StopOnRequest,
    log_hparams,
)
from qlsgan_tf.training.hybrid import HybridLSGAN
from qlsgan_tf.training.images import plot_image_grid
from qlsgan_tf.training.latent_gan import LatentGAN
from qlsgan_tf.training.latents import encode_latents, latent_dataset

N_GRID = 64
N_RETURNED_SAMPLES = 16


# ----------------------------------------------------------------------------------- images
def load_hybrid(path):
    """Loads a saved :class:`HybridLSGAN` from ``path`` (a ``.keras`` file or a run directory)."""
    import qlsgan_tf.layers  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import  (registers StyleQuantumGenerator)
    import qlsgan_tf.models  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "hybrid.keras"
    if not path.exists():
        raise FileNotFoundError(f"no saved hybrid model at {str(path)!r}")
    return load_keras_model(path, expected_type=HybridLSGAN)


# ------------------------------------------------------------------------------- the run
class _EpochTimer(tf.keras.callbacks.Callback):
    """Wall-clock seconds of each epoch's training (placed first: excludes FID evaluation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _time_per_epoch(seconds):
    """Median epoch time, leaving out the first epoch (graph tracing) when there are more."""
    if not seconds:
        return math.nan
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def _jsonable(value):
    """NaN/inf -> None and NumPy scalars/arrays -> Python, so the result is strict JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _decode_fn(decoder):
    if decoder is None:
        return None
    if not callable(decoder):
        raise TypeError(f"decoder must be callable (latents -> images), got {decoder!r}.")
    return decoder


def fit_with_fd(gan, latents, decoder=None, feature_net=None, real_images=None,
                real_activations=None, epochs=10, batch_size=64, steps_per_epoch=None,
                fid_every=1, n_fid_samples=256, seed=0, log_dir=None, verbose=1, hparams=None,
                floor=None, callbacks=None, n_images=16):
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
        dict: ``fd_history`` [(epoch, fd, kid)], ``c_loss_history``, ``g_loss_history``,
        ``w_dist_history``, ``gp_history``, ``final_fd``, ``final_kid``, ``final_kid_std``,
        ``failed``, ``failure_reason``, ``epochs_run``, ``time_s``, ``time_per_epoch_s``
        (median training time of an epoch after the first, FD evaluation excluded),
        ``epoch_times_s``, ``generator_capacity``, ``critic_capacity`` and ``samples``
        (``n_images`` generated patches as uint8, None when generation failed).
    """
    from qlsgan_tf.data import denormalize  # pylint: disable=import-outside-toplevel

    if not isinstance(gan, LatentGAN):
        raise TypeError(f"gan must be a LatentGAN, got {type(gan).__name__}.")
    if getattr(gan, "g_optimizer", None) is None:
        raise ValueError("compile the LatentGAN (gan.compile()) before fitting it.")
    decoder = _decode_fn(decoder)
    repeat = steps_per_epoch is not None
    data = latent_dataset(latents, batch_size, seed=seed, repeat=repeat)
    reals = None if real_images is None else as_images(
        real_images, input_range="uint8_or_tanh", name="real_images")
    if reals is None and real_activations is not None:
        raise ValueError("real_activations were given without real_images: pass the real "
                         "reference images too (they are also shown in the image grids).")

    timer = _EpochTimer()
    fid = grids = None
    project = [timer]
    if decoder is not None and reals is not None:
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
        project.append(fid)
    guard = NaNGuard()
    project.append(guard)  # after FIDCallback: a NaN FD-SAT4 stops the run too
    project.append(StopOnRequest())  # Ctrl-C/SIGTERM under interrupts.handle_signals
    if log_dir is not None:
        project.append(tf.keras.callbacks.TensorBoard(str(log_dir), profile_batch=0))
        if decoder is not None:
            grids = ImageGridCallback(decoder, real_images=reals, every_n_epochs=fid_every,
                                      n_images=n_images, log_dir=log_dir, seed=seed)
            project.append(grids)

    start = time.perf_counter()
    history = gan.fit(data, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
                      callbacks=project + list(callbacks or []))
    time_s = time.perf_counter() - start
    logs = history.history

    fd_history = [] if fid is None else [(int(e), float(fd), float(kid))
                                         for e, fd, kid in fid.history]
    last = fid.results[-1] if fid is not None and fid.results else None
    final_fd = fd_history[-1][1] if fd_history else math.nan
    final_kid = fd_history[-1][2] if fd_history else math.nan
    samples = None
    if decoder is not None:
        images = np.asarray(decoder(gan.generate(n_images, seed=seed)), np.float32)
        if np.all(np.isfinite(images)):
            samples = denormalize(np.clip(images, -1.0, 1.0))
    result = {
        "fd_history": fd_history,
        "c_loss_history": [float(v) for v in logs.get("c_loss", [])],
        "g_loss_history": [float(v) for v in logs.get("g_loss", [])],
        "w_dist_history": [float(v) for v in logs.get("w_dist", [])],
        "gp_history": [float(v) for v in logs.get("gp", [])],
        "final_fd": final_fd,
        "final_kid": final_kid,
        "final_kid_std": math.nan if last is None else float(last.kid_std),
        "failed": bool(guard.failed),
        "failure_reason": guard.reason or "",
        "epochs_run": len(timer.seconds),
        "time_s": time_s,
        "time_per_epoch_s": _time_per_epoch(timer.seconds),
        "epoch_times_s": list(timer.seconds),
        "generator_capacity": gan.generator_capacity,
        "critic_capacity": gan.critic_capacity,
        "samples": samples,
    }
    if log_dir is not None:
        record = {k: v for k, v in (hparams or {}).items() if v is not None}
        record.setdefault("generator_capacity", gan.generator_capacity)
        record.setdefault("critic_capacity", gan.critic_capacity)
        log_hparams(log_dir, record, {"final_fd_sat4": final_fd, "final_kid": final_kid,
                                      "failed": float(guard.failed)})
    return result


def train_latent_gan(generator, critic, out_dir, *, vae=None, latents=None, real_images=None,
                     test_images=None, decoder=None, latent_dim=None, loss="wgan-gp",
                     gp_weight=10.0, n_critic=5, noise="uniform", g_lr=2e-4, c_lr=2e-4,
                     epochs=10, batch_size=64, steps_per_epoch=None, seed=0, fid_every=1,
                     n_fid_samples=256, feature_net=None, hparams=None, verbose=1):
    """Trains ``generator`` against ``critic`` on VAE latents and writes a run directory.

    Args:
        generator: Keras model, noise ``[batch, latent_dim]`` -> latents ``[batch, D]``.
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
        latent_dim: the noise dimension (default: the generator's input width).
        loss, gp_weight, n_critic, noise: see :class:`LatentGAN`.
        g_lr, c_lr: Adam learning rates (betas 0.5, 0.9).
        epochs, batch_size, steps_per_epoch, seed, fid_every, n_fid_samples, feature_net,
        hparams, verbose: see :func:`fit_with_fd`.

    Returns:
        :func:`fit_with_fd`'s dict plus ``floor_fd``, ``floor_kid`` and ``out_dir``; the same
        (without ``samples``) is written to ``out_dir/metrics.json``.
    """
    from qlsgan_tf.metrics.distances import (  # pylint: disable=import-outside-toplevel
        default_feature_net,
        real_floor,
    )

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    latents = np.asarray(latents, np.float32)
    if latent_dim is None:
        shape = getattr(generator, "input_shape", None)
        latent_dim = int(shape[-1]) if shape is not None and shape[-1] is not None \
            else int(latents.shape[1])
    out_dim = int(generator(tf.zeros([1, latent_dim])).shape[-1])
    if latents.ndim != 2 or out_dim != latents.shape[1]:
        raise ValueError(f"the generator outputs {out_dim} values per sample but the real "
                         f"latents have shape {list(latents.shape)}: they must match the VAE "
                         "latent dimension.")
    net = feature_net if feature_net is not None else default_feature_net()
    floor = None
    if test_images is not None and reals is not None:
        tests = as_images(test_images, input_range="uint8_or_tanh", name="test_images")
        floor = real_floor(reals, tests, feature_net=net)

    gan = LatentGAN(generator, critic, latent_dim=int(latent_dim), loss=loss,
                    gp_weight=gp_weight, n_critic=n_critic, noise=noise, seed=seed)
    gan.compile(g_optimizer=tf.keras.optimizers.Adam(g_lr, beta_1=0.5, beta_2=0.9),
                c_optimizer=tf.keras.optimizers.Adam(c_lr, beta_1=0.5, beta_2=0.9))
    checkpoints = tf.keras.callbacks.ModelCheckpoint(
        str(out / "checkpoints" / "ckpt"), save_weights_only=True)
    csv_log = tf.keras.callbacks.CSVLogger(str(out / "history.csv"))
    run_hparams = {"loss": loss, "n_critic": n_critic, "gp_weight": gp_weight, "noise": noise,
                   "g_lr": g_lr, "c_lr": c_lr, "batch_size": batch_size, "seed": seed,
                   **(hparams or {})}
    result = fit_with_fd(
        gan, latents, decoder=decoder, feature_net=net, real_images=reals, epochs=epochs,
        batch_size=batch_size, steps_per_epoch=steps_per_epoch, fid_every=fid_every,
        n_fid_samples=n_fid_samples, seed=seed, log_dir=out / "logs", verbose=verbose,
        hparams=run_hparams, floor=floor, callbacks=[checkpoints, csv_log])
    result.update({
        "floor_fd": math.nan if floor is None else float(floor.fd),
        "floor_kid": math.nan if floor is None else float(floor.kid),
        "n_real_latents": int(len(latents)),
        "n_fid_samples": int(n_fid_samples),
        "feature_net": net.summary() if hasattr(net, "summary") else None,
        "hparams": run_hparams,
        "out_dir": str(out),
    })

    if result["failed"]:  # NaN/diverged weights are never saved as a model
        _set_aside_failed(out)
    else:
        gan.generator.save(out / "generator.keras")
    if decoder is not None and not result["failed"]:
        hybrid = HybridLSGAN(gan.generator, decoder, latent_dim=int(latent_dim), noise=noise)
        hybrid.save(out / "hybrid.keras")
        images = hybrid.sample(N_GRID, seed=seed)
        if np.all(np.isfinite(images)):
            plot_image_grid(images, out / "samples.png",
                            title=f"{N_GRID} generated patches, final FD-SAT4 "
                                  f"{result['final_fd']:.4g}")
    metrics = {k: v for k, v in result.items() if k != "samples"}
    text = json.dumps(_jsonable(metrics), indent=2, allow_nan=False) + "\n"
    atomic_write_file(out / "metrics.json",
                      lambda tmp: pathlib.Path(tmp).write_text(text, encoding="utf-8"))
    return result


def _set_aside_failed(out):
    """After a failed run: no model files, and its checkpoints renamed ``checkpoints.failed``."""
    for name in ("generator.keras", "hybrid.keras", "samples.png"):  # from an earlier run
        (out / name).unlink(missing_ok=True)
    if (out / "checkpoints").exists():
        shutil.rmtree(out / "checkpoints.failed", ignore_errors=True)
        (out / "checkpoints").rename(out / "checkpoints.failed")
