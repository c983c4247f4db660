"""Training the SAT-4 VAE into a directory, and loading it back.

- :func:`train_vae` trains one ``SatVAE`` (the nominal one, or the hyperparameters a ``search``
  chose) with early stopping, and writes ``vae.keras``, ``metrics.json``,
  ``reconstructions.png`` and TensorBoard logs (``logs/``) to one directory;
- :func:`load_vae` loads such a directory back;
- :func:`build_vae` / :func:`vae_from_hyperparameters`: the hyperparameters -> model rule that
  the KerasTuner hypermodel (``qlsgan_tf.tuning.vae``) shares.

Data splits: a validation part is held out of the *training* split (``val_fraction``) for early
stopping and the tuning objective, so the reported test MSE comes from images that chose
nothing. Dihedral augmentation (the 8 flips/rotations, equally plausible for aerial patches)
enlarges the training and validation parts when ``augment`` is on; the test split is not
augmented.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from typing import Any, Callable, List, Mapping, Optional, Tuple, Union

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from qlsgan_tf import data as data_lib
from qlsgan_tf import interrupts, jsoncodec
from qlsgan_tf.fsutil import StrPath, atomic_write_file
from qlsgan_tf.models.vae import SatVAE
from qlsgan_tf.safe_load import load_keras_model, save_keras_model
from qlsgan_tf.training import models_registry  # noqa: F401  (classes a model file may name)
from qlsgan_tf.training.callbacks import StopOnRequest
from qlsgan_tf.training.images import save_figure
from qlsgan_tf.validation import check_int, check_probability

__all__ = [
    "HYPERPARAMETER_NAMES", "METRICS_FILE", "MODEL_FILE", "NOMINAL_HYPERPARAMETERS",
    "RECONSTRUCTIONS_FILE", "VaeData", "VaeSearch", "build_vae", "check_hyperparameters",
    "load_vae", "prepare_vae_data", "save_reconstructions_png", "train_vae",
    "vae_from_hyperparameters",
]

MODEL_FILE = "vae.keras"
METRICS_FILE = "metrics.json"
RECONSTRUCTIONS_FILE = "reconstructions.png"

# The nominal VAE: the search space's defaults (``benchmarks/README.md`` has its measured
# reconstruction error on the bundled sample).
NOMINAL_HYPERPARAMETERS = {
    "latent_activation": "tanh",
    "tanh_scale": 1.0,
    "beta": 1.0,
    "base_filters": 32,
    "dense_units": 128,
    "learning_rate": 1e-3,
}
#: The scale of the linear latent when none is given (``linear_scale``).
NOMINAL_LINEAR_SCALE = 1.0 / 3.0
HYPERPARAMETER_NAMES = frozenset(NOMINAL_HYPERPARAMETERS) | {"linear_scale"}

#: ``search(data, callbacks, latent_dim, seed, verbose) -> (hyperparameters, tuning_info)``:
#: chooses hyperparameters on ``data.x_fit``/``data.x_val`` before the final training
#: (``qlsgan_tf.tuning.vae.RandomVaeSearch``).
VaeSearch = Callable[..., Tuple[dict, dict]]
#: Where images come from: a SAT-4 path, a ``Sat4Data``, or uint8 ``[N, 28, 28, 4]``.
ImageSource = Union[str, "os.PathLike[str]", data_lib.Sat4Data, np.ndarray]


def check_hyperparameters(values: Optional[Mapping[str, Any]]) -> dict:
    """``values`` as a dict of known VAE hyperparameter names (else ``ValueError``)."""
    if values is not None and not isinstance(values, dict):
        raise TypeError(f"hyperparameters must be a dict, got {type(values).__name__}.")
    values = dict(values or {})
    unknown = sorted(set(values) - HYPERPARAMETER_NAMES)
    if unknown:
        raise ValueError(f"unknown VAE hyperparameter(s) {unknown}; known: "
                         f"{sorted(HYPERPARAMETER_NAMES)}.")
    return values


def vae_from_hyperparameters(latent_dim: int, values: Mapping[str, Any]) -> SatVAE:
    """A compiled ``SatVAE`` from complete hyperparameter values (Adam at their rate)."""
    activation = values["latent_activation"]
    scale = (values["tanh_scale"] if activation == "tanh"
             else values.get("linear_scale", NOMINAL_LINEAR_SCALE))
    base = values["base_filters"]
    vae = SatVAE(latent_dim=latent_dim, beta=values["beta"], filters=(base, 2 * base),
                 dense_units=values["dense_units"], latent_activation=activation,
                 latent_scale=scale)
    vae.compile(optimizer=tf.keras.optimizers.Adam(values["learning_rate"]))
    return vae


def build_vae(latent_dim: int = 10, hyperparameters: Optional[Mapping[str, Any]] = None
              ) -> Tuple[SatVAE, dict]:
    """A compiled ``SatVAE``: the nominal one, ``hyperparameters`` overriding its values;
    returns the model and the values it was built from."""
    values = {**NOMINAL_HYPERPARAMETERS, **check_hyperparameters(hyperparameters)}
    if values["latent_activation"] == "linear":
        values.pop("tanh_scale")
        values.setdefault("linear_scale", NOMINAL_LINEAR_SCALE)
    else:
        values.pop("linear_scale", None)
    return vae_from_hyperparameters(latent_dim, values), values


# -- data ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VaeData:
    """The images of one VAE training: uint8 parts and the float inputs made of them."""

    fit_u8: np.ndarray
    val_u8: np.ndarray
    test_u8: np.ndarray
    x_fit: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray
    train_source: str
    test_source: str
    augment: bool


def _images_of(data: ImageSource, split: str, what: str) -> Tuple[np.ndarray, str]:
    """uint8 ``[N, 28, 28, 4]`` and a description, from a path, a ``Sat4Data`` or an array."""
    if isinstance(data, (str, os.PathLike)):
        loaded = data_lib.load_sat4(data, split=split)
        return np.asarray(loaded.images), f"{os.fspath(data)} ({split} split)"
    if isinstance(data, data_lib.Sat4Data):
        return np.asarray(data.images), f"in-memory Sat4Data ({len(data)} images)"
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{what} must be a path, a Sat4Data or a uint8 array "
                        f"[N, 28, 28, 4], got {type(data).__name__}.")
    if data.dtype != np.uint8:
        raise TypeError(f"{what} must hold uint8 pixels, got dtype {data.dtype}.")
    if data.ndim != 4 or data.shape[1:] != (28, 28, 4):
        raise ValueError(f"{what} must have shape [N, 28, 28, 4], got {list(data.shape)}.")
    return data, f"in-memory array ({len(data)} images)"


def _split_validation(images: np.ndarray, val_fraction: float, seed: int
                      ) -> Tuple[np.ndarray, np.ndarray]:
    n = len(images)
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"cannot hold out a validation part of {val_fraction:.0%} from {n} training "
            "image(s): at least one image is needed on each side.")
    order = np.random.default_rng(seed).permutation(n)
    return images[np.sort(order[n_val:])], images[np.sort(order[:n_val])]


def prepare_vae_data(data: ImageSource, test_data: Optional[ImageSource] = None,
                     val_fraction: float = 0.2, seed: int = 0, augment: bool = True) -> VaeData:
    """Loads, splits (seeded), augments and normalizes the images of one VAE training.

    ``data``/``test_data``: a SAT-4 path (its ``test`` split is the test set unless
    ``test_data`` is given), a ``Sat4Data``, or uint8 ``[N, 28, 28, 4]``.
    """
    train_u8, train_source = _images_of(data, "train", "data")
    if test_data is None:
        if not isinstance(data, (str, os.PathLike)):
            raise ValueError("test_data is required when data is not a path.")
        test_data = data
    test_u8, test_source = _images_of(test_data, "test", "test_data")
    if len(test_u8) == 0:
        raise ValueError("test_data holds no images.")
    fit_u8, val_u8 = _split_validation(train_u8, val_fraction, seed)
    fit_aug, val_aug = ((data_lib.dihedral_augment(fit_u8), data_lib.dihedral_augment(val_u8))
                        if augment else (fit_u8, val_u8))
    return VaeData(fit_u8, val_u8, test_u8, data_lib.normalize(fit_aug),
                   data_lib.normalize(val_aug), data_lib.normalize(test_u8), train_source,
                   test_source, bool(augment))


# -- outputs ---------------------------------------------------------------------------------

def _evaluate(vae: SatVAE, images: np.ndarray) -> dict:
    """Reconstruction MSE (total and per band) and mean KL of float images in [-1, 1]."""
    recon = vae.reconstruct(images)
    per_band = np.mean((images - recon) ** 2, axis=(0, 1, 2))
    mean, log_var = vae.encoder.predict(images, batch_size=256, verbose=0)
    log_var = np.clip(log_var.astype(np.float64), -10.0, 10.0)  # as in SatVAE's loss
    kl = 0.5 * np.sum(np.square(mean) + np.exp(log_var) - 1.0 - log_var, axis=1)
    return {
        "mse": float(np.mean((images - recon) ** 2)),
        "per_band_mse": {b: float(v) for b, v in zip(data_lib.BAND_NAMES, per_band)},
        "kl": float(np.mean(kl)),
    }


def save_reconstructions_png(vae: SatVAE, images: np.ndarray, path: StrPath, n: int = 8
                             ) -> pathlib.Path:
    """Grid of originals vs reconstructions: RGB rows, then NIR-R-G false-colour rows."""
    images = images[:n]
    recon = vae.reconstruct(images)
    rows = [("original RGB", images, (0, 1, 2)), ("reconstruction RGB", recon, (0, 1, 2)),
            ("original NIR-R-G", images, (3, 0, 1)),
            ("reconstruction NIR-R-G", recon, (3, 0, 1))]
    fig = Figure(figsize=(1.3 * len(images) + 1.2, 1.4 * len(rows)))
    axes = fig.subplots(len(rows), len(images), squeeze=False)
    for r, (label, batch, bands) in enumerate(rows):
        shown = data_lib.denormalize(batch[..., list(bands)])
        for c in range(len(images)):
            ax = axes[r][c]
            ax.imshow(shown[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle("SatVAE reconstructions (test split)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, pathlib.Path(path))


_NOTES = ("MSE on images scaled to [-1, 1]; train_mse on the un-augmented training images that "
          "were fitted; val = held-out part of the training split (early stopping, tuning "
          "objective); test = the test split, never used for a choice. "
          "best_val_reconstruction_loss is the early-stopping value (on the augmented "
          "validation images when augment is on), comparable to the tuning scores.")


def _metrics(vae: SatVAE, images: VaeData, history: Any, hp_values: Mapping[str, Any],
             run: Mapping[str, Any]) -> dict:
    """The ``metrics.json`` record of a trained VAE (``run``: kind, seed, seconds, ...)."""
    val_curve = history.history["val_reconstruction_loss"]
    train_eval = _evaluate(vae, data_lib.normalize(images.fit_u8))
    val_eval = _evaluate(vae, data_lib.normalize(images.val_u8))
    test_eval = _evaluate(vae, images.x_test)
    return {
        "kind": run["kind"], "latent_dim": vae.latent_dim, "hyperparameters": hp_values,
        "model_config": vae.get_config(), "capacity": vae.capacity,
        "train_mse": train_eval["mse"], "val_mse": val_eval["mse"],
        "test_mse": test_eval["mse"],
        "train_per_band_mse": train_eval["per_band_mse"],
        "test_per_band_mse": test_eval["per_band_mse"],
        "train_kl": train_eval["kl"], "test_kl": test_eval["kl"],
        "best_val_reconstruction_loss": float(np.min(val_curve)),
        "epochs_run": len(val_curve), "best_epoch": int(np.argmin(val_curve)) + 1,
        "seconds": round(run["seconds"], 2), "seed": run["seed"],
        "data": {
            "train": images.train_source, "test": images.test_source,
            "n_train": int(len(images.fit_u8)), "n_val": int(len(images.val_u8)),
            "n_test": int(len(images.test_u8)),
            "augment": "dihedral x8 (train and validation)" if images.augment else None,
            "n_train_augmented": int(len(images.x_fit)), "batch_size": run["batch_size"],
        },
        "tuning": run["tuning"],
        "notes": _NOTES,
    }


def _write_outputs(out: pathlib.Path, vae: SatVAE, metrics: dict, x_test: np.ndarray) -> None:
    atomic_write_file(out / METRICS_FILE, lambda tmp: pathlib.Path(tmp).write_text(
        jsoncodec.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"))
    save_reconstructions_png(vae, x_test, out / RECONSTRUCTIONS_FILE)
    save_keras_model(vae, out / MODEL_FILE)  # last: its presence marks a complete dir


# -- training --------------------------------------------------------------------------------

def _output_dir(out_dir: StrPath, overwrite: bool) -> pathlib.Path:
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} exists and is not a directory.")
    if (out / MODEL_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out / MODEL_FILE} already exists; pass overwrite=True "
                              "(--overwrite) to replace it, or choose another output directory.")
    return out


def vae_callbacks(log_dir: StrPath, patience: int) -> List[tf.keras.callbacks.Callback]:
    """Early stopping on the validation reconstruction loss, TensorBoard, stop on request."""
    return [
        tf.keras.callbacks.EarlyStopping(monitor="val_reconstruction_loss", patience=patience,
                                         restore_best_weights=True),
        tf.keras.callbacks.TensorBoard(log_dir=str(log_dir)),
        StopOnRequest(),
    ]


def train_vae(data: ImageSource, out_dir: StrPath,  # noqa: PLR0913
              test_data: Optional[ImageSource] = None, latent_dim: int = 10, epochs: int = 60,
              seed: int = 0, hyperparameters: Optional[Mapping[str, Any]] = None,
              augment: bool = True, batch_size: int = 32, patience: int = 10,
              val_fraction: float = 0.2, overwrite: bool = False, verbose: int = 1,
              search: Optional[VaeSearch] = None) -> Tuple[SatVAE, dict]:
    """Trains a VAE (the nominal one, or the one ``search`` chose) and writes its directory.

    Args:
        data: training images: a SAT-4 path (any layout ``load_sat4`` reads; its ``test``
            split is the test set unless ``test_data`` is given), a ``Sat4Data``, or uint8
            ``[N, 28, 28, 4]``.
        out_dir: output directory; gets ``vae.keras`` (written last, atomically),
            ``metrics.json``, ``reconstructions.png``, ``logs/`` (TensorBoard).
        test_data: test images in the same forms; required unless ``data`` is a path.
        latent_dim: latent size.
        epochs: maximum epochs (early stopping on the validation reconstruction loss, best
            weights restored).
        seed: seeds the split, the initialisation and the shuffling.
        hyperparameters: values fixed over the nominal ones.
        augment: train/validate on the 8 dihedral copies of each patch.
        batch_size: images per step.
        patience: early-stopping patience in epochs.
        val_fraction: part of the training split held out for validation.
        overwrite: replace an existing ``vae.keras`` in ``out_dir`` (else FileExistsError).
        verbose: Keras progress bars (1) or silence (0).
        search: optional :data:`VaeSearch` run first (``metrics["kind"]`` is then "tuned").

    Returns:
        ``(vae, metrics)``: the trained ``SatVAE`` and the dict written to ``metrics.json``.
    """
    latent_dim, epochs = check_int("latent_dim", latent_dim, 1), check_int("epochs", epochs, 1)
    seed, batch_size = check_int("seed", seed, 0), check_int("batch_size", batch_size, 1)
    patience = check_int("patience", patience, 0)
    val_fraction = check_probability("val_fraction", val_fraction, open_low=True,
                                     open_high=True)
    fixed = check_hyperparameters(hyperparameters)  # rejects unknown names before any work
    out = _output_dir(out_dir, overwrite)
    images = prepare_vae_data(data, test_data, val_fraction, seed, augment)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    tuning_info = None
    if search is not None:
        fixed, tuning_info = search(images, out=out, latent_dim=latent_dim, seed=seed,
                                    batch_size=batch_size, patience=patience, verbose=verbose)
    tf.keras.utils.set_random_seed(seed)
    vae, hp_values = build_vae(latent_dim, fixed)
    history = vae.fit(images.x_fit, validation_data=(images.x_val,), epochs=epochs,
                      batch_size=batch_size, shuffle=True, verbose=verbose,
                      callbacks=vae_callbacks(out / "logs" / "train", patience))
    interrupts.check_stop()  # a VAE stopped mid-training is never saved as trained
    metrics = _metrics(vae, images, history, hp_values, {
        "kind": "nominal" if search is None else "tuned", "seed": seed,
        "seconds": time.time() - start, "batch_size": batch_size, "tuning": tuning_info})
    _write_outputs(out, vae, metrics, images.x_test)
    return vae, metrics


def load_vae(path: StrPath) -> SatVAE:
    """Loads a ``SatVAE`` saved by :func:`train_vae` (its directory, or the ``.keras`` file)."""
    path = pathlib.Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.exists():
        raise FileNotFoundError(f"no trained VAE at {model_path} (train one with "
                                "`qlsgan train-vae DATA --out DIR`).")
    return load_keras_model(model_path, expected_type=SatVAE)
