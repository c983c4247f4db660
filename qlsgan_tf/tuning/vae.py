"""KerasTuner tuning of the SAT-4 VAE ("careful tuning of the autoencoder is crucial").

- :class:`SatVAEHyperModel`: the search space (latent activation and scaling, beta, filters,
  dense units, learning rate), declared inline in ``build(hp)``; its defaults are the *nominal*
  VAE, so ``build(kt.HyperParameters())`` is the nominal model.
- :class:`RandomVaeSearch`: ``kt.RandomSearch`` over it, as the ``search`` step of
  :func:`qlsgan_tf.training.vae_fit.train_vae`;
- :func:`tune_vae`: that search, then the final training of the best hyperparameters.

Training and loading a VAE (``train_vae``, ``load_vae``) live in
:mod:`qlsgan_tf.training.vae_fit`.
"""
import pathlib
import shutil
from typing import Any, Mapping, Optional, Tuple

import keras_tuner as kt
import tensorflow as tf

from qlsgan_tf import interrupts
from qlsgan_tf.fsutil import StrPath
from qlsgan_tf.models.vae import SatVAE
from qlsgan_tf.training.vae_fit import (
    HYPERPARAMETER_NAMES,
    MODEL_FILE,
    NOMINAL_HYPERPARAMETERS,
    NOMINAL_LINEAR_SCALE,
    ImageSource,
    VaeData,
    check_hyperparameters,
    train_vae,
    vae_callbacks,
    vae_from_hyperparameters,
)
from qlsgan_tf.tuning.settings import oracle_seed, quiet_stdout
from qlsgan_tf.validation import check_int

__all__ = ["NOMINAL_HYPERPARAMETERS", "RandomVaeSearch", "SatVAEHyperModel", "tune_vae"]


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

    def __init__(self, latent_dim: int = 10, name: str = "sat_vae", tunable: bool = True):
        super().__init__(name=name, tunable=tunable)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)

    def build(self, hp: kt.HyperParameters) -> SatVAE:
        """A compiled ``SatVAE`` of the hyperparameters ``hp`` draws."""
        nominal = NOMINAL_HYPERPARAMETERS
        values = {"latent_activation": hp.Choice("latent_activation", ["tanh", "linear"],
                                                 default=nominal["latent_activation"])}
        with hp.conditional_scope("latent_activation", ["tanh"]):
            values["tanh_scale"] = hp.Float("tanh_scale", 0.5, 2.0, sampling="log",
                                            default=nominal["tanh_scale"])
        with hp.conditional_scope("latent_activation", ["linear"]):
            values["linear_scale"] = hp.Float("linear_scale", 0.2, 0.5,
                                              default=NOMINAL_LINEAR_SCALE)
        values["beta"] = hp.Choice("beta", [0.1, 0.3, 1.0, 3.0], default=nominal["beta"])
        values["base_filters"] = hp.Choice("base_filters", [16, 32, 64],
                                           default=nominal["base_filters"])
        values["dense_units"] = hp.Choice("dense_units", [64, 128, 256],
                                          default=nominal["dense_units"])
        values["learning_rate"] = hp.Choice("learning_rate", [3e-4, 1e-3, 3e-3],
                                            default=nominal["learning_rate"])
        return vae_from_hyperparameters(self.latent_dim, values)


def _fixed(values: Optional[Mapping[str, Any]]) -> kt.HyperParameters:
    """``kt.HyperParameters`` with ``values`` fixed."""
    hp = kt.HyperParameters()
    for key, value in check_hyperparameters(values).items():
        hp.Fixed(key, value)
    return hp


class RandomVaeSearch:
    """``kt.RandomSearch`` of ``max_trials`` VAEs in ``out/tuning`` (an interrupted search
    resumes; ``fresh`` deletes a previous one), ``hyperparameters`` held fixed.

    Called by :func:`~qlsgan_tf.training.vae_fit.train_vae` with the prepared images; returns
    the best hyperparameters and a summary of the trials.
    """

    def __init__(self, max_trials: int = 5, epochs: int = 60,
                 hyperparameters: Optional[Mapping[str, Any]] = None, fresh: bool = False):
        self.max_trials = check_int("max_trials", max_trials, 1)
        self.epochs = check_int("tuning_epochs", epochs, 1)
        self.hyperparameters = check_hyperparameters(hyperparameters)
        self.fresh = bool(fresh)

    def __call__(self, images: VaeData, *, out: StrPath, latent_dim: int,
                 seed: int, batch_size: int, patience: int, verbose: int
                 ) -> Tuple[dict, dict]:
        if self.fresh:
            shutil.rmtree(pathlib.Path(out) / "tuning", ignore_errors=True)
        with quiet_stdout():  # KerasTuner prints "Reloading Tuner from ..." on resume
            tuner = kt.RandomSearch(
                SatVAEHyperModel(latent_dim=latent_dim),
                objective=kt.Objective("val_reconstruction_loss", direction="min"),
                max_trials=self.max_trials, seed=oracle_seed(seed),  # 0 would mean random
                hyperparameters=_fixed(self.hyperparameters), tune_new_entries=True,
                directory=str(out), project_name="tuning", overwrite=False)
        tf.keras.utils.set_random_seed(seed)
        tuner.search(images.x_fit, validation_data=(images.x_val,), epochs=self.epochs,
                     batch_size=batch_size, verbose=verbose,
                     callbacks=vae_callbacks(pathlib.Path(out) / "logs" / "tuning", patience))
        interrupts.check_stop()  # a stopped search is not a finished one
        best = tuner.get_best_hyperparameters(1)[0]
        trials = tuner.oracle.get_best_trials(self.max_trials)
        info = {
            "max_trials": self.max_trials,
            "trials_completed": len(trials),
            "epochs_per_trial": self.epochs,
            "best_val_reconstruction_loss": float(trials[0].score) if trials else None,
            "trials": [{"hyperparameters": dict(t.hyperparameters.values),
                        "val_reconstruction_loss": None if t.score is None else float(t.score)}
                       for t in trials],
        }
        return {k: v for k, v in best.values.items() if k in HYPERPARAMETER_NAMES}, info


def tune_vae(data: ImageSource, out_dir: StrPath, max_trials: int = 5,
             tuning_epochs: Optional[int] = None,
             hyperparameters: Optional[Mapping[str, Any]] = None, overwrite: bool = False,
             epochs: int = 60, **train_kwargs: Any) -> Tuple[SatVAE, dict]:
    """Searches ``max_trials`` hyperparameter sets, then trains the best as
    :func:`~qlsgan_tf.training.vae_fit.train_vae` does (same outputs, plus ``out_dir/tuning``;
    ``metrics["kind"]`` is "tuned"). ``tuning_epochs``: maximum epochs per trial (default
    ``epochs``); ``hyperparameters`` are held fixed while tuning; ``train_kwargs`` as
    ``train_vae``'s."""
    search = RandomVaeSearch(
        max_trials, epochs if tuning_epochs is None else tuning_epochs, hyperparameters,
        fresh=overwrite and (pathlib.Path(out_dir) / MODEL_FILE).exists())
    return train_vae(data, out_dir, hyperparameters=hyperparameters, overwrite=overwrite,
                     epochs=epochs, search=search, **train_kwargs)
