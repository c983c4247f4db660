"""Training and KerasTuner tuning of the SAT-4 VAE ("careful tuning of the autoencoder is crucial").

- :class:`SatVAEHyperModel`: the search space (latent activation and scaling, beta, filters,
  dense units, learning rate), declared inline in ``build(hp)``; its defaults are the *nominal*
  VAE, so ``build(kt.HyperParameters())`` is the nominal model.
- :func:`train_vae`: trains the nominal VAE (or tunes with ``kt.RandomSearch``, then retrains the
  best hyperparameters) with early stopping, and writes ``vae.keras``, ``metrics.json``,
  ``reconstructions.png`` and TensorBoard logs (``logs/``) to one directory.
- :func:`load_vae`: loads such a directory back.

Data splits: a validation part is held out of the *training* split (``val_fraction``) for early
stopping and the tuning objective, so the reported test MSE comes from images that chose
nothing. Dihedral augmentation (the 8 flips/rotations, equally plausible for aerial patches)
enlarges the training and validation parts when ``augment`` is on; the test split is not
augmented.
"""
import json
import os
import pathlib
import shutil
import time

import keras_tuner as kt
import numpy as np
import tensorflow as tf

from qlsgan_tf import data as data_lib
from qlsgan_tf import interrupts
from qlsgan_tf.fsutil import atomic_write_file
from qlsgan_tf.models.vae import SatVAE
from qlsgan_tf.safe_load import load_keras_model
from qlsgan_tf.training.callbacks import StopOnRequest
from qlsgan_tf.validation import check_int, check_probability

__all__ = [
    "NOMINAL_HYPERPARAMETERS",
    "SatVAEHyperModel",
    "build_vae",
    "train_vae",
    "load_vae",
    "MODEL_FILE",
    "METRICS_FILE",
    "RECONSTRUCTIONS_FILE",
]

MODEL_FILE = "vae.keras"
METRICS_FILE = "metrics.json"
RECONSTRUCTIONS_FILE = "reconstructions.png"
BAND_NAMES = data_lib.BAND_NAMES  # ("R", "G", "B", "NIR")

# The nominal VAE: the search space's defaults. Measured on the bundled sample (40 training
# patches x 8 dihedral copies, 10 held out, 20 test; latent 10; 2 shared CPU cores): early
# stopping after ~35-55 epochs, 33-90 s of training; test reconstruction MSE 0.037-0.039 over
# seeds 0-3 (pixels in [-1, 1]; predicting the training mean image gives 0.102), KL ~12 nats.
# A 4-trial search chose linear latent (scale 0.39), beta 0.1, filters (64, 128): test MSE
# 0.035-0.038 over seeds 0-3, KL ~27 nats -- within the seed spread at this data size.
NOMINAL_HYPERPARAMETERS = {
    "latent_activation": "tanh",
    "tanh_scale": 1.0,
    "beta": 1.0,
    "base_filters": 32,
    "dense_units": 128,
    "learning_rate": 1e-3,
}
_ALL_HYPERPARAMETERS = set(NOMINAL_HYPERPARAMETERS) | {"linear_scale"}


class SatVAEHyperModel(kt.HyperModel):
    """KerasTuner ``HyperModel`` of :class:`~qlsgan_tf.models.SatVAE`.

    Search space (defaults = the nominal VAE, ``NOMINAL_HYPERPARAMETERS``):
        latent_activation: "tanh" | "linear";
        tanh_scale (tanh only): log-uniform in [0.5, 2]; linear_scale (linear only): uniform in
            [0.2, 0.5] (both become ``SatVAE.latent_scale``);
        beta: {0.1, 0.3, 1, 3} (KL weight);
        base_filters: {16, 32, 64} -> filters (b, 2b);
        dense_units: {64, 128, 256};
        learning_rate: {3e-4, 1e-3, 3e-3} (Adam).
    Objective: ``val_reconstruction_loss`` (minimize). Reconstruction alone favours a small
    beta; the beta grid stops at 0.1 so that the latent stays close to its prior.

    >>> tuner = kt.RandomSearch(SatVAEHyperModel(latent_dim=10), max_trials=5,
    ...                         objective=kt.Objective("val_reconstruction_loss", "min"))
    """

    def __init__(self, latent_dim=10, name="sat_vae", tunable=True):
        super().__init__(name=name, tunable=tunable)
        latent_dim = check_int("latent_dim", latent_dim, 1)
        self.latent_dim = int(latent_dim)

    def build(self, hp):
        nominal = NOMINAL_HYPERPARAMETERS
        activation = hp.Choice("latent_activation", ["tanh", "linear"],
                               default=nominal["latent_activation"])
        with hp.conditional_scope("latent_activation", ["tanh"]):
            tanh_scale = hp.Float("tanh_scale", 0.5, 2.0, sampling="log",
                                  default=nominal["tanh_scale"])
        with hp.conditional_scope("latent_activation", ["linear"]):
            linear_scale = hp.Float("linear_scale", 0.2, 0.5, default=1.0 / 3.0)
        beta = hp.Choice("beta", [0.1, 0.3, 1.0, 3.0], default=nominal["beta"])
        base = hp.Choice("base_filters", [16, 32, 64], default=nominal["base_filters"])
        dense = hp.Choice("dense_units", [64, 128, 256], default=nominal["dense_units"])
        lr = hp.Choice("learning_rate", [3e-4, 1e-3, 3e-3], default=nominal["learning_rate"])
        vae = SatVAE(
            latent_dim=self.latent_dim, beta=beta, filters=(base, 2 * base), dense_units=dense,
            latent_activation=activation,
            latent_scale=tanh_scale if activation == "tanh" else linear_scale)
        vae.compile(optimizer=tf.keras.optimizers.Adam(lr))
        return vae


def _hyperparameters(values=None):
    """``kt.HyperParameters`` with ``values`` fixed (unknown names are an error)."""
    hp = kt.HyperParameters()
    values = dict(values or {})
    unknown = sorted(set(values) - _ALL_HYPERPARAMETERS)
    if unknown:
        raise ValueError(f"unknown VAE hyperparameter(s) {unknown}; known: "
                         f"{sorted(_ALL_HYPERPARAMETERS)}.")
    for key, value in values.items():
        hp.Fixed(key, value)
    return hp


def build_vae(latent_dim=10, hyperparameters=None):
    """A compiled ``SatVAE``: the nominal one, with ``hyperparameters`` overriding its values."""
    hypermodel = SatVAEHyperModel(latent_dim=latent_dim)
    hp = _hyperparameters(hyperparameters)
    model = hypermodel.build(hp)
    return model, dict(hp.values)


# -- data ------------------------------------------------------------------------------------

def _images_of(data, split, what):
    """uint8 ``[N, 28, 28, 4]`` and a description, from a path, a ``Sat4Data`` or an array."""
    if isinstance(data, (str, os.PathLike)):
        loaded = data_lib.load_sat4(data, split=split)
        return np.asarray(loaded.images), f"{os.fspath(data)} ({split} split)"
    if isinstance(data, data_lib.Sat4Data):
        return np.asarray(data.images), f"in-memory Sat4Data ({len(data)} images)"
    if isinstance(data, np.ndarray):
        images = data
    else:
        raise TypeError(f"{what} must be a path, a Sat4Data or a uint8 array "
                        f"[N, 28, 28, 4], got {type(data).__name__}.")
    if images.dtype != np.uint8:
        raise TypeError(f"{what} must hold uint8 pixels, got dtype {images.dtype}.")
    if images.ndim != 4 or images.shape[1:] != (28, 28, 4):
        raise ValueError(f"{what} must have shape [N, 28, 28, 4], got {list(images.shape)}.")
    return images, f"in-memory array ({len(images)} images)"


def _split_validation(images, val_fraction, seed):
    n = len(images)
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"cannot hold out a validation part of {val_fraction:.0%} from {n} training "
            "image(s): at least one image is needed on each side.")
    order = np.random.default_rng(seed).permutation(n)
    return images[np.sort(order[n_val:])], images[np.sort(order[:n_val])]


# -- outputs ---------------------------------------------------------------------------------


def _evaluate(vae, images):
    """Reconstruction MSE (total and per band) and mean KL of float images in [-1, 1]."""
    recon = vae.reconstruct(images)
    per_band = np.mean((images - recon) ** 2, axis=(0, 1, 2))
    mean, log_var = vae.encoder.predict(images, batch_size=256, verbose=0)
    log_var = np.clip(log_var.astype(np.float64), -10.0, 10.0)  # as in SatVAE's loss
    kl = 0.5 * np.sum(np.square(mean) + np.exp(log_var) - 1.0 - log_var, axis=1)
    return {
        "mse": float(np.mean((images - recon) ** 2)),
        "per_band_mse": {b: float(v) for b, v in zip(BAND_NAMES, per_band)},
        "kl": float(np.mean(kl)),
    }


def _false_colour(images, bands):
    return data_lib.denormalize(images[..., list(bands)])


def save_reconstructions_png(vae, images, path, n=8):
    """Grid of originals vs reconstructions: RGB rows, then NIR-R-G false-colour rows."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    images = images[:n]
    recon = vae.reconstruct(images)
    rows = [("original RGB", images, (0, 1, 2)), ("reconstruction RGB", recon, (0, 1, 2)),
            ("original NIR-R-G", images, (3, 0, 1)),
            ("reconstruction NIR-R-G", recon, (3, 0, 1))]
    fig, axes = plt.subplots(len(rows), len(images), squeeze=False,
                             figsize=(1.3 * len(images) + 1.2, 1.4 * len(rows)))
    for r, (label, batch, bands) in enumerate(rows):
        shown = _false_colour(batch, bands)
        for c in range(len(images)):
            ax = axes[r][c]
            ax.imshow(shown[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle("SatVAE reconstructions (test split)", fontsize=9)
    fig.tight_layout()
    atomic_write_file(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


# -- training --------------------------------------------------------------------------------

def train_vae(data, out_dir, test_data=None, latent_dim=10, tune=False, max_trials=5,
              epochs=60, seed=0, hyperparameters=None, augment=True, batch_size=32,
              patience=10, val_fraction=0.2, tuning_epochs=None, overwrite=False, verbose=1):
    """Trains the nominal VAE, or tunes it with KerasTuner and trains the best; saves it all.

    Args:
        data: training images: a SAT-4 path (any layout ``load_sat4`` reads; its ``test``
            split is the test set unless ``test_data`` is given), a ``Sat4Data``, or uint8
            ``[N, 28, 28, 4]``.
        out_dir: output directory; gets ``vae.keras`` (written last, atomically),
            ``metrics.json``, ``reconstructions.png``, ``logs/`` (TensorBoard) and, when
            tuning, ``tuning/`` (KerasTuner's trials; an interrupted search resumes).
        test_data: test images in the same forms; required unless ``data`` is a path.
        latent_dim: latent size.
        tune: search ``max_trials`` hyperparameter sets (``kt.RandomSearch``) first.
        max_trials: trials of the search.
        epochs: maximum epochs of the final training (early stopping on the validation
            reconstruction loss, best weights restored).
        seed: seeds the split, the initialisation, the shuffling and the search.
        hyperparameters: values fixed over the nominal ones (also held fixed while tuning).
        augment: train/validate on the 8 dihedral copies of each patch.
        batch_size: images per step.
        patience: early-stopping patience in epochs.
        val_fraction: part of the training split held out for validation.
        tuning_epochs: maximum epochs per trial (default ``epochs``).
        overwrite: replace an existing ``vae.keras`` in ``out_dir`` (else FileExistsError).
        verbose: Keras progress bars (1) or silence (0).

    Returns:
        ``(vae, metrics)``: the trained ``SatVAE`` and the dict written to ``metrics.json``.
    """
    latent_dim = check_int("latent_dim", latent_dim, 1)
    max_trials = check_int("max_trials", max_trials, 1)
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    patience = check_int("patience", patience, 0)
    tuning_epochs = epochs if tuning_epochs is None else check_int("tuning_epochs",
                                                                    tuning_epochs, 1)
    val_fraction = check_probability("val_fraction", val_fraction, open_low=True,
                                     open_high=True)
    if hyperparameters is not None and not isinstance(hyperparameters, dict):
        raise TypeError(f"hyperparameters must be a dict, got {type(hyperparameters).__name__}.")
    _hyperparameters(hyperparameters)  # rejects unknown names before any work

    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} exists and is not a directory.")
    model_path = out / MODEL_FILE
    if model_path.exists() and not overwrite:
        raise FileExistsError(f"{model_path} already exists; pass overwrite=True (--overwrite) "
                              "to replace it, or choose another output directory.")

    train_u8, train_source = _images_of(data, "train", "data")
    if test_data is None:
        if not isinstance(data, (str, os.PathLike)):
            raise ValueError("test_data is required when data is not a path.")
        test_data = data
    test_u8, test_source = _images_of(test_data, "test", "test_data")
    if len(test_u8) == 0:
        raise ValueError("test_data holds no images.")
    fit_u8, val_u8 = _split_validation(train_u8, val_fraction, seed)
    if augment:
        fit_aug, val_aug = data_lib.dihedral_augment(fit_u8), data_lib.dihedral_augment(val_u8)
    else:
        fit_aug, val_aug = fit_u8, val_u8
    x_fit, x_val = data_lib.normalize(fit_aug), data_lib.normalize(val_aug)
    x_test = data_lib.normalize(test_u8)

    if model_path.exists() and overwrite and tune:
        shutil.rmtree(out / "tuning", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    start = time.time()

    def callbacks(log_dir):
        return [
            tf.keras.callbacks.EarlyStopping(monitor="val_reconstruction_loss",
                                             patience=patience, restore_best_weights=True),
            tf.keras.callbacks.TensorBoard(log_dir=str(log_dir)),
            StopOnRequest(),
        ]

    tuning_info = None
    fixed = dict(hyperparameters or {})
    if tune:
        tuner = kt.RandomSearch(
            SatVAEHyperModel(latent_dim=latent_dim),
            objective=kt.Objective("val_reconstruction_loss", direction="min"),
            max_trials=max_trials, seed=seed, hyperparameters=_hyperparameters(fixed),
            tune_new_entries=True, directory=str(out), project_name="tuning",
            overwrite=False)
        tf.keras.utils.set_random_seed(seed)
        tuner.search(x_fit, validation_data=(x_val,), epochs=tuning_epochs,
                     batch_size=batch_size, callbacks=callbacks(logs / "tuning"),
                     verbose=verbose)
        interrupts.check_stop()  # a stopped search is not a finished one
        best = tuner.get_best_hyperparameters(1)[0]
        trials = tuner.oracle.get_best_trials(max_trials)
        tuning_info = {
            "max_trials": max_trials,
            "trials_completed": len(trials),
            "epochs_per_trial": tuning_epochs,
            "best_val_reconstruction_loss": float(trials[0].score) if trials else None,
            "trials": [{"hyperparameters": dict(t.hyperparameters.values),
                        "val_reconstruction_loss": None if t.score is None else float(t.score)}
                       for t in trials],
        }
        fixed = {k: v for k, v in best.values.items() if k in _ALL_HYPERPARAMETERS}

    tf.keras.utils.set_random_seed(seed)
    vae, hp_values = build_vae(latent_dim, fixed)
    history = vae.fit(x_fit, validation_data=(x_val,), epochs=epochs, batch_size=batch_size,
                      shuffle=True, callbacks=callbacks(logs / "train"), verbose=verbose)
    interrupts.check_stop()  # a VAE stopped mid-training is never saved as trained
    seconds = time.time() - start
    val_curve = history.history["val_reconstruction_loss"]

    train_eval = _evaluate(vae, data_lib.normalize(fit_u8))
    val_eval = _evaluate(vae, data_lib.normalize(val_u8))
    test_eval = _evaluate(vae, x_test)
    metrics = {
        "kind": "tuned" if tune else "nominal",
        "latent_dim": latent_dim,
        "hyperparameters": hp_values,
        "model_config": vae.get_config(),
        "capacity": vae.capacity,
        "train_mse": train_eval["mse"],
        "val_mse": val_eval["mse"],
        "test_mse": test_eval["mse"],
        "train_per_band_mse": train_eval["per_band_mse"],
        "test_per_band_mse": test_eval["per_band_mse"],
        "train_kl": train_eval["kl"],
        "test_kl": test_eval["kl"],
        "best_val_reconstruction_loss": float(np.min(val_curve)),
        "epochs_run": len(val_curve),
        "best_epoch": int(np.argmin(val_curve)) + 1,
        "seconds": round(seconds, 2),
        "seed": seed,
        "data": {
            "train": train_source,
            "test": test_source,
            "n_train": int(len(fit_u8)),
            "n_val": int(len(val_u8)),
            "n_test": int(len(test_u8)),
            "augment": "dihedral x8 (train and validation)" if augment else None,
            "n_train_augmented": int(len(x_fit)),
            "batch_size": batch_size,
        },
        "tuning": tuning_info,
        "notes": "MSE on images scaled to [-1, 1]; train_mse on the un-augmented training "
                 "images that were fitted; val = held-out part of the training split (early "
                 "stopping, tuning objective); test = the test split, never used for a choice. "
                 "best_val_reconstruction_loss is the early-stopping value (on the augmented "
                 "validation images when augment is on), comparable to the tuning scores.",
    }
    atomic_write_file(out / METRICS_FILE, lambda tmp: pathlib.Path(tmp).write_text(
        json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"))
    save_reconstructions_png(vae, x_test, out / RECONSTRUCTIONS_FILE)
    atomic_write_file(model_path, vae.save)  # last: its presence marks a complete directory
    return vae, metrics


def load_vae(path):
    """Loads a ``SatVAE`` saved by :func:`train_vae` (its directory, or the ``.keras`` file)."""
    path = pathlib.Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.exists():
        raise FileNotFoundError(f"no trained VAE at {model_path} (train one with "
                                "`qlsgan train-vae DATA --out DIR`).")
    return load_keras_model(model_path, expected_type=SatVAE)
