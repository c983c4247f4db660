"""``qlsgan train-vae DATA --out DIR [--tune --max_trials K --epochs E --latent_dim D --seed S]``.

Trains the nominal SAT-4 VAE, or tunes its hyperparameters with KerasTuner and then trains the
best, with early stopping. DATA is any SAT-4 source ``load_sat4`` reads (``.mat``, Kaggle CSV,
a cache, or a directory holding one); its ``train`` split is fitted (a validation part held out)
and its ``test`` split measured. DIR gets ``vae.keras``, ``metrics.json``,
``reconstructions.png`` and TensorBoard logs under ``DIR/logs``.
"""
import json
import os
from typing import Sequence

from absl import flags

from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output directory (created if missing).")
flags.DEFINE_boolean("tune", False, "Tune hyperparameters with KerasTuner before training.")
flags.DEFINE_integer("max_trials", 5, "Number of KerasTuner trials (with --tune).",
                     lower_bound=1)
flags.DEFINE_integer("epochs", 60, "Maximum training epochs (early stopping on the validation "
                     "reconstruction loss).", lower_bound=1)
flags.DEFINE_integer("tuning_epochs", None, "Maximum epochs per trial (default: --epochs).",
                     lower_bound=1)
flags.DEFINE_integer("latent_dim", 10, "Latent size (2n for n qubits with XZ readout, n with Z).",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the split, initialisation, shuffling and search.",
                     lower_bound=0)
flags.DEFINE_integer("batch_size", 32, "Images per training step.", lower_bound=1)
flags.DEFINE_integer("patience", 10, "Early-stopping patience in epochs.", lower_bound=0)
flags.DEFINE_float("val_fraction", 0.2, "Part of the train split held out for validation.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_boolean("augment", True, "Train on the 8 dihedral copies of each patch.")
flags.DEFINE_string("hyperparameters", None,
                    "JSON object of hyperparameters fixed over the nominal ones, e.g. "
                    "'{\"beta\": 0.3, \"dense_units\": 256}'.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing DIR/vae.keras.")
flags.DEFINE_integer("verbose", 1, "Keras progress output: 0 silent, 1 bars, 2 one line/epoch.",
                     lower_bound=0, upper_bound=2)


def _hyperparameters():
    if FLAGS.hyperparameters is None:
        return None
    try:
        values = json.loads(FLAGS.hyperparameters)
    except json.JSONDecodeError as err:
        raise UsageError(f"--hyperparameters is not valid JSON ({err.msg}): "
                         f"{FLAGS.hyperparameters!r}") from None
    if not isinstance(values, dict):
        raise UsageError(f"--hyperparameters must be a JSON object, got {FLAGS.hyperparameters!r}")
    return values


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan train-vae` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    with clear_errors("train-vae"):
        if len(argv) != 2:
            raise UsageError("expected one DATA path; usage: qlsgan train-vae DATA --out DIR "
                             "[--tune --max_trials K --epochs E --latent_dim D --seed S]")
        if not FLAGS.out:
            raise UsageError("--out DIR is required")
        if FLAGS["max_trials"].present and not FLAGS.tune:
            raise UsageError("--max_trials only applies with --tune")
        if FLAGS["tuning_epochs"].present and not FLAGS.tune:
            raise UsageError("--tuning_epochs only applies with --tune")
        if not 0.0 < FLAGS.val_fraction < 1.0:
            raise UsageError(f"--val_fraction must be in (0, 1), got {FLAGS.val_fraction}")
        hyperparameters = _hyperparameters()
        # Cheap checks before TensorFlow loads (seconds on a busy machine).
        if not os.path.exists(argv[1]):
            raise FileNotFoundError(f"no SAT-4 data at {argv[1]}")
        if os.path.exists(os.path.join(FLAGS.out, "vae.keras")) and not FLAGS.overwrite:
            raise FileExistsError(f"{os.path.join(FLAGS.out, 'vae.keras')} already exists; pass "
                                  "--overwrite to replace it, or choose another --out.")

        from qlsgan_tf.training.vae_fit import train_vae
        from qlsgan_tf.tuning.vae import tune_vae

        settings = dict(latent_dim=FLAGS.latent_dim, epochs=FLAGS.epochs, seed=FLAGS.seed,
                        hyperparameters=hyperparameters, augment=FLAGS.augment,
                        batch_size=FLAGS.batch_size, patience=FLAGS.patience,
                        val_fraction=FLAGS.val_fraction, overwrite=FLAGS.overwrite,
                        verbose=FLAGS.verbose)
        if FLAGS.tune:
            _, metrics = tune_vae(argv[1], FLAGS.out, max_trials=FLAGS.max_trials,
                                  tuning_epochs=FLAGS.tuning_epochs, **settings)
        else:
            _, metrics = train_vae(argv[1], FLAGS.out, **settings)
        print(f"{metrics['kind']} VAE (latent {metrics['latent_dim']}, "
              f"{metrics['epochs_run']} epochs, {metrics['seconds']:.0f} s): reconstruction MSE "
              f"train {metrics['train_mse']:.4f}, val {metrics['val_mse']:.4f}, "
              f"test {metrics['test_mse']:.4f}")
        print(f"wrote {FLAGS.out}/vae.keras, metrics.json, reconstructions.png, logs/")
