"""The run directory of ``qlsgan train-gan``: writing a finished run, loading its hybrid model.

Layout (``training.gan_run.train_latent_gan`` fills it)::

    OUT/checkpoints/       weights after every epoch (TF checkpoint), latest kept
    OUT/logs/              TensorBoard: losses, FD-SAT4 and KID scalars, image grids, HParams
    OUT/history.csv        the Keras metrics per epoch
    OUT/metrics.json       final FD-SAT4/KID, trajectory, capacities, time per epoch
    OUT/samples.png        true-colour and NIR false-colour grid of generated patches
    OUT/generator.keras    the trained generator (noise -> latents)
    OUT/hybrid.keras       the LatentStyleGAN (noise -> image), for ``qlsgan sample``

A failed run (NaN or diverged) writes no model: its checkpoints become ``checkpoints.failed``.
"""
import pathlib
import shutil
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from qlsgan_tf import jsoncodec
from qlsgan_tf.fsutil import StrPath, atomic_write_file
from qlsgan_tf.safe_load import load_keras_model, save_keras_model
from qlsgan_tf.training import models_registry  # noqa: F401  (classes a model file may name)
from qlsgan_tf.training.hybrid import LatentStyleGAN
from qlsgan_tf.training.images import plot_image_grid

if TYPE_CHECKING:  # gan_run imports this module
    from qlsgan_tf.training.gan_run import FitResult


N_GRID = 64
CHECKPOINTS = "checkpoints"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
HYBRID_FILE = "hybrid.keras"
GENERATOR_FILE = "generator.keras"
SAMPLES_FILE = "samples.png"


def load_hybrid(path: StrPath) -> LatentStyleGAN:
    """Loads a saved noise -> image model from ``path`` (a ``.keras`` file or a run
    directory)."""
    import qlsgan_tf.layers  # noqa: F401  (registers StyleQuantumGenerator)
    import qlsgan_tf.models  # noqa: F401

    path = pathlib.Path(path)
    if path.is_dir():
        path = path / HYBRID_FILE
    if not path.exists():
        raise FileNotFoundError(f"no saved hybrid model at {str(path)!r}")
    return load_keras_model(path, expected_type=LatentStyleGAN)


def write_metrics(out: StrPath, metrics: dict) -> None:
    """``OUT/metrics.json``, strict JSON (``jsoncodec``: non-finite numbers as "inf"/"nan"),
    written atomically."""
    text = jsoncodec.dumps(metrics, indent=2) + "\n"
    atomic_write_file(pathlib.Path(out) / METRICS_FILE,
                      lambda tmp: pathlib.Path(tmp).write_text(text, encoding="utf-8"))


def save_models(out: StrPath, generator: Any, decoder: Any, noise_dim: int, noise: str,
                seed: Optional[int], final_fd: float) -> None:
    """The trained generator, and with a decoder the hybrid model and its sample grid."""
    out = pathlib.Path(out)
    save_keras_model(generator, out / GENERATOR_FILE)
    if decoder is None:
        return
    hybrid = LatentStyleGAN(generator, decoder, noise_dim=int(noise_dim), noise=noise)
    save_keras_model(hybrid, out / HYBRID_FILE)
    images = hybrid.sample(N_GRID, seed=seed)
    if np.all(np.isfinite(images)):
        plot_image_grid(images, out / SAMPLES_FILE,
                        title=f"{N_GRID} generated patches, final FD-SAT4 {final_fd:.4g}")


def write_run(out: StrPath, result: "FitResult", generator: Any, decoder: Any, noise_dim: int,
              noise: str, seed: Optional[int]) -> None:
    """A finished run's outputs: the models and samples (not for a failed run: NaN/diverged
    weights are never saved as a model, its checkpoints are set aside), then metrics.json."""
    if result.failed:
        set_aside_failed(out)
    else:
        save_models(out, generator, decoder, noise_dim, noise, seed, result.final_fd)
    write_metrics(out, result.metrics())


def set_aside_failed(out: StrPath) -> None:
    """After a failed run: no model files, and its checkpoints renamed ``checkpoints.failed``."""
    out = pathlib.Path(out)
    for name in (GENERATOR_FILE, HYBRID_FILE, SAMPLES_FILE):  # from an earlier run
        (out / name).unlink(missing_ok=True)
    if (out / CHECKPOINTS).exists():
        shutil.rmtree(out / f"{CHECKPOINTS}.failed", ignore_errors=True)
        (out / CHECKPOINTS).rename(out / f"{CHECKPOINTS}.failed")
