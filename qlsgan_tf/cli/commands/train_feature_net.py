"""``qlsgan train-feature-net DATA --out DIR``: train the SAT-4 feature network behind FD-SAT4.

DATA is anything ``qlsgan_tf.data.load_sat4`` reads (``.mat``, Kaggle CSV, a cache, or a
directory holding one) with a train and a test split. The command trains with a fixed seed
(dihedral augmentation by default), and writes ``feature_net.weights.h5``, ``manifest.json``
(data, sizes, test accuracy, feature layer and dimension, seed, augmentation, date) and
TensorBoard ``logs/`` into DIR. ``qlsgan_tf.metrics.load_feature_net(DIR)`` loads the result.
"""
import json
import pathlib
from typing import Sequence

from absl import flags

from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Directory for the weights, manifest.json and TensorBoard logs.")
flags.DEFINE_integer("epochs", 60, "Training epochs (one epoch = every patch, times 8 with "
                     "--augment).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, dropout).", lower_bound=0)
flags.DEFINE_integer("feature_dim", 32, "Width of the 'features' embedding (FD-SAT4's "
                     "dimension; keep it well below the number of samples).", lower_bound=1)
flags.DEFINE_boolean("augment", True, "Train on the 8 flips/rotations of every patch.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate.", lower_bound=0.0)
flags.DEFINE_integer("max_train", None, "Use only the first N training patches.", lower_bound=1)
flags.DEFINE_integer("max_test", None, "Use only the first N test patches.", lower_bound=1)
flags.DEFINE_boolean("overwrite", False, "Replace a feature net already in --out.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 0 silent, 1 progress bar, 2 one line "
                     "per epoch.", lower_bound=0, upper_bound=2)


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan train-feature-net` (absl parses the flags)."""
    with clear_errors("train-feature-net"):
        if len(argv) != 2:
            raise UsageError("expected one DATA path; usage: qlsgan train-feature-net DATA "
                             "--out DIR [--epochs N --seed S --feature_dim D]")
        if not FLAGS.out:
            raise UsageError("--out DIR is required")
        if FLAGS.learning_rate <= 0:
            raise UsageError(f"--learning_rate must be > 0; got {FLAGS.learning_rate}")
        from qlsgan_tf.data import load_sat4
        from qlsgan_tf.metrics.feature_net import MANIFEST_FILE, train_feature_net

        out = pathlib.Path(FLAGS.out)
        if (out / MANIFEST_FILE).exists() and not FLAGS.overwrite:
            raise FileExistsError(
                f"{str(out)!r} already holds a feature net; pass --overwrite to replace it")
        data = argv[1]
        train = load_sat4(data, "train", max_images=FLAGS.max_train)
        test = load_sat4(data, "test", max_images=FLAGS.max_test)
        train_part = "train split" + ("" if FLAGS.max_train is None
                                      else f" (first {FLAGS.max_train})")
        test_part = "test split" + ("" if FLAGS.max_test is None
                                    else f" (first {FLAGS.max_test})")
        net = train_feature_net(
            train, test, out, epochs=FLAGS.epochs, seed=FLAGS.seed, augment=FLAGS.augment,
            feature_dim=FLAGS.feature_dim, batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate, data_name=f"{data}: {train_part}, {test_part}",
            verbose=FLAGS.verbose)
        print(net.summary())
        print(json.dumps({k: net.manifest[k] for k in
                          ("n_train", "n_test", "test_accuracy", "feature_dim", "seed",
                           "augmentation")}, indent=2))
        print(f"wrote {out / 'feature_net.weights.h5'}, {out / MANIFEST_FILE} and "
              f"TensorBoard logs in {out / 'logs'}")
