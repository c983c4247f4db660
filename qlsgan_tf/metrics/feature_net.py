"""The SAT-4 feature network behind FD-SAT4: a small CNN classifier trained by the project.

No Inception weights can be downloaded here, and none of the sibling papers documents the
network its FID uses, so FD-SAT4 embeds images with a small CNN trained on SAT-4 itself:
two conv layers, a ``feature_dim``-wide linear layer named ``"features"`` (the embedding), and a
softmax head over the four classes. The feature dimension is kept small (32 by default) because
the Fréchet distance needs a covariance estimated from few samples (see ``distances``).

Every FD-SAT4 figure must travel with the data the network was trained on and its test accuracy;
both live in the ``manifest.json`` written next to the weights. The package ships weights trained
on the bundled 50-image sample (:func:`load_feature_net` with ``path=None``); retrain on the full
data set with ``qlsgan train-feature-net DATA --out DIR``.
"""
import datetime
import json
import os
import pathlib
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from qlsgan_tf.data import DIHEDRAL_TRANSFORMS, dihedral_transform, normalize
from qlsgan_tf.data.core import as_images
from qlsgan_tf.validation import check_int

IMAGE_SHAPE = (28, 28, 4)
FEATURE_LAYER = "features"
WEIGHTS_FILE = "feature_net.weights.h5"
MANIFEST_FILE = "manifest.json"
LOG_DIR = "logs"
MANIFEST_VERSION = 1
BUNDLED_DIR = pathlib.Path(__file__).resolve().parent / "weights"
# Tolerance on the [-1, 1] range: decoders with a tanh output may round a hair outside it.


def build_feature_net(feature_dim: int = 32, n_classes: int = 4,
                      filters: Sequence[int] = (16, 32), kernel_size: int = 3,
                      dropout: float = 0.25, name: str = "sat4_feature_net") -> Any:
    """Builds the (untrained) SAT-4 classifier whose ``"features"`` layer is the embedding.

    Conv(f1) -> max-pool -> Conv(f2) -> max-pool -> global average pool -> dropout ->
    Dense(``feature_dim``, linear, name ``"features"``) -> ReLU -> Dense(``n_classes``, softmax).
    The embedding is taken before the ReLU so that its coordinates are not clipped at zero,
    which keeps the feature covariance of FD-SAT4 well conditioned. Global average pooling
    keeps the parameter count small (a few thousand) for a 50-patch training set.

    Args:
      feature_dim: width of the embedding (positive int); FD-SAT4's dimension.
      n_classes: number of SAT-4 classes (>= 2).
      filters: two positive ints, the conv layers' filter counts.
      kernel_size: conv kernel size (odd positive int).
      dropout: dropout rate before the feature layer, in [0, 1).
      name: model name.

    Returns:
      A functional ``tf.keras.Model`` ``[N, 28, 28, 4] -> [N, n_classes]`` (not compiled).

    >>> model = build_feature_net(feature_dim=8)
    >>> model.get_layer("features").units
    8
    """
    import tensorflow as tf

    # Ingest feature_dim.
    feature_dim = check_int("feature_dim", feature_dim, 1)
    n_classes = check_int("n_classes", n_classes, 2)
    # Ingest filters.
    try:
        filters = tuple(int(f) for f in filters)
    except (TypeError, ValueError):
        raise TypeError(f"filters must be two positive ints; got {filters!r}") from None
    if len(filters) != 2 or min(filters) < 1:
        raise ValueError(f"filters must be two positive ints; got {filters!r}")
    # Ingest kernel_size.
    kernel_size = check_int("kernel_size", kernel_size, 1)
    # Ingest dropout.
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1); got {dropout!r}")

    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=IMAGE_SHAPE, name="images")
    x = layers.Conv2D(filters[0], kernel_size, padding="same", activation="relu",
                      name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(filters[1], kernel_size, padding="same", activation="relu",
                      name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    features = layers.Dense(int(feature_dim), name=FEATURE_LAYER)(x)
    x = layers.Activation("relu", name="features_relu")(features)
    outputs = layers.Dense(int(n_classes), activation="softmax", name="class_probs")(x)
    return tf.keras.Model(inputs, outputs, name=name)


class FeatureNet:
    """A trained SAT-4 classifier seen as an embedding: ``features(images) -> [N, feature_dim]``.

    Args:
      model: the classifier from :func:`build_feature_net` (trained).
      manifest: dict describing how it was trained (data, test accuracy, seed, ...); kept with
        the weights and reported beside every FD-SAT4 figure.
    """

    def __init__(self, model: Any, manifest: Optional[Dict[str, Any]] = None) -> None:
        import tensorflow as tf

        try:
            layer = model.get_layer(FEATURE_LAYER)
        except ValueError:
            raise ValueError(
                f"model {model.name!r} has no layer named {FEATURE_LAYER!r}; build it with "
                "build_feature_net") from None
        self.model = model
        self.manifest = dict(manifest or {})
        self.feature_layer = FEATURE_LAYER
        self.feature_dim = int(layer.units)
        self.feature_mean, self.feature_std = _standardization(self.manifest, self.feature_dim)
        self._extractor = tf.keras.Model(model.inputs, layer.output, name="feature_extractor")
        # One trace per network, whatever the batch size.
        spec = [tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32)]
        self._embed = tf.function(lambda x: self._extractor(x, training=False),
                                  input_signature=spec)
        self._classify = tf.function(lambda x: self.model(x, training=False),
                                     input_signature=spec)

    @property
    def test_accuracy(self) -> Optional[float]:
        """Test accuracy recorded in the manifest (None when unknown)."""
        return self.manifest.get("test_accuracy")

    def _batched(self, fn, images, batch_size):
        arr = as_images(images, input_range="tanh")
        out = [fn(arr[i:i + batch_size]).numpy() for i in range(0, len(arr), batch_size)]
        return np.concatenate(out, axis=0)

    def raw_features(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """The ``"features"`` layer's output for images in [-1, 1], float64 ``[N, D]``."""
        return self._batched(self._embed, images, batch_size).astype(np.float64)

    def features(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """Embeds images ``[N, 28, 28, 4]`` in [-1, 1]; returns float64 ``[N, feature_dim]``.

        The layer's output is standardized with the per-dimension mean and std of the
        training patches' features (from the manifest), so FD-SAT4 and KID are in units of
        the real data's feature spread: the cubic KID kernel stays well scaled, and figures
        from networks retrained on other data are on a comparable scale.
        """
        raw = self.raw_features(images, batch_size)
        if self.feature_mean is None:
            return raw
        return (raw - self.feature_mean) / self.feature_std

    def predict(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``[N, n_classes]`` of images in [-1, 1]."""
        return self._batched(self._classify, images, batch_size)

    def accuracy(self, images: Any, labels: Any) -> float:
        """Fraction of ``images`` whose predicted class equals ``labels`` (int ``[N]``)."""
        labels = np.asarray(labels)
        probs = self.predict(images)
        if labels.shape != (len(probs),):
            raise ValueError(
                f"labels must have shape [{len(probs)}] to match the images; got {labels.shape}")
        return float(np.mean(np.argmax(probs, axis=1) == labels))

    def save(self, out_dir: Union[str, os.PathLike]) -> pathlib.Path:
        """Writes ``feature_net.weights.h5`` and ``manifest.json`` into ``out_dir``."""
        out = pathlib.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_weights(str(out / WEIGHTS_FILE))
        with open(out / MANIFEST_FILE, "w", encoding="utf-8") as fh:
            json.dump(self.manifest, fh, indent=2, sort_keys=True)
            fh.write("\n")
        return out

    def provenance(self) -> Dict[str, Any]:
        """What must travel with every FD-SAT4 figure (JSON-ready): data, accuracy, setup."""
        m = self.manifest
        return {
            "metric": "FD-SAT4",
            "feature_dim": self.feature_dim,
            "feature_layer": self.feature_layer,
            "data": m.get("data"),
            "n_train": m.get("n_train"),
            "n_test": m.get("n_test"),
            "test_accuracy": m.get("test_accuracy"),
            "augmentation": m.get("augmentation"),
            "seed": m.get("seed"),
        }

    def summary(self) -> str:
        """One line for logs and reports: where the features come from and how good they are."""
        acc = self.test_accuracy
        acc_s = "unknown" if acc is None else f"{100 * acc:.1f}%"
        return (f"FD-SAT4 feature net: {self.feature_dim}-d layer {self.feature_layer!r}, "
                f"test accuracy {acc_s} (n_test={self.manifest.get('n_test', '?')}), "
                f"trained on {self.manifest.get('data', 'unknown data')}")

    def __repr__(self) -> str:
        return f"FeatureNet(feature_dim={self.feature_dim}, test_accuracy={self.test_accuracy})"


def _as_arrays(data, name, n_classes):
    """(images, labels int64) from a ``Sat4Data`` or an (images, labels) pair.

    Images stay uint8 (possibly a memory map; normalized batch by batch) or are validated
    float32 in [-1, 1].
    """
    if hasattr(data, "images") and hasattr(data, "labels"):
        images, labels = data.images, data.labels
    else:
        try:
            images, labels = data
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a Sat4Data or an (images, labels) pair; got "
                f"{type(data).__name__}") from None
    if not isinstance(images, np.ndarray):
        images = np.asarray(images)
    if images.dtype == np.uint8:
        if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"{name} images must have shape [N, 28, 28, 4]; got {images.shape}")
        if images.shape[0] == 0:
            raise ValueError(f"{name} has no images")
    else:
        images = as_images(images, input_range="tanh", name=f"{name} images")
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(
            f"{name} labels must have shape [{len(images)}] (one class index per image); "
            f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} labels must be integer class indices; got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(
            f"{name} labels must lie in [0, {n_classes}); got range "
            f"[{labels.min()}, {labels.max()}]")
    return images, labels.astype(np.int64)


def _dataset(images, labels, batch_size, augment, shuffle, seed):
    """Batches ``(float32 images in [-1, 1], labels)`` gathered lazily from NumPy.

    With ``augment`` (aerial patches have no canonical orientation: each of the 8
    flips/rotations is an equally plausible patch of the same class), index ``i`` of ``8N`` is
    image ``i % N`` under dihedral transform
    ``i // N``: every epoch visits each of the 8 flips/rotations of every patch exactly once,
    without materializing them (the full SAT-4 would need 8x its memory).
    """
    import tensorflow as tf

    n = len(images)
    total = n * len(DIHEDRAL_TRANSFORMS) if augment else n

    def gather(idx):
        src, transform = idx % n, idx // n
        batch = images[src]
        if augment:
            batch = np.array(batch)
            for k in np.unique(transform):
                sel = transform == k
                batch[sel] = dihedral_transform(batch[sel], int(k))
        if batch.dtype == np.uint8:
            batch = normalize(batch)
        return batch.astype(np.float32), labels[src]

    def load(idx):
        x, y = tf.numpy_function(gather, [idx], (tf.float32, tf.int64), stateful=False)
        return tf.ensure_shape(x, [None, *IMAGE_SHAPE]), tf.ensure_shape(y, [None])

    ds = tf.data.Dataset.range(total)
    if shuffle:
        ds = ds.shuffle(total, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(load)
    return ds.prefetch(tf.data.AUTOTUNE)


def _standardization(manifest, feature_dim):
    """(mean, std) float64 arrays from a manifest, or (None, None) when it has none."""
    if "feature_mean" not in manifest:
        return None, None
    mean = np.asarray(manifest["feature_mean"], np.float64)
    std = np.asarray(manifest.get("feature_std"), np.float64)
    if mean.shape != (feature_dim,) or std.shape != (feature_dim,) \
            or not np.all(np.isfinite(mean)) or not np.all(std > 0):
        raise ValueError(
            f"manifest feature_mean/feature_std must be {feature_dim} finite values (std > 0)")
    return mean, std


def _accuracy(net, dataset):
    """Exact fraction of correctly classified images in a dataset of (images, labels)."""
    correct = total = 0
    for images, labels in dataset:
        pred = np.argmax(net._classify(images).numpy(), axis=1)
        correct += int(np.sum(pred == labels.numpy()))
        total += int(labels.shape[0])
    return correct / total


def train_feature_net(train_data: Any, test_data: Any,
                      out_dir: Optional[Union[str, os.PathLike]] = None, epochs: int = 60,
                      seed: int = 0, augment: bool = True, feature_dim: int = 32,
                      batch_size: int = 32, learning_rate: float = 2e-3,
                      data_name: Optional[str] = None, verbose: int = 1,
                      **build_kwargs: Any) -> "FeatureNet":
    """Trains the SAT-4 feature network with a fixed seed; saves weights, manifest, TB logs.

    The test split is used only to measure the final accuracy recorded in the manifest (no model
    selection on it), so the recorded accuracy is an honest estimate.

    Args:
      train_data: ``Sat4Data`` or ``(images, labels)``; images uint8 (normalized here) or float
        in [-1, 1], ``[N, 28, 28, 4]``; labels int class indices ``[N]``.
      test_data: same, for the recorded test accuracy.
      out_dir: where ``feature_net.weights.h5``, ``manifest.json`` and TensorBoard ``logs/`` go;
        None trains in memory only.
      epochs: training epochs (positive int).
      seed: seed for weights, shuffling and dropout (``tf.keras.utils.set_random_seed``).
      augment: train on the 8 dihedral copies of every training patch.
      feature_dim: width of the ``"features"`` embedding.
      batch_size, learning_rate: Adam training settings.
      data_name: description of the data recorded in the manifest (e.g. the path).
      verbose: Keras progress bar (1) or silence (0).
      **build_kwargs: passed to :func:`build_feature_net` (``filters``, ``dropout``, ...).

    Returns:
      The trained :class:`FeatureNet`, its ``manifest`` filled in.
    """
    import tensorflow as tf

    epochs, seed = check_int("epochs", epochs, 1), check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    n_classes = int(build_kwargs.get("n_classes", 4))
    x_train, y_train = _as_arrays(train_data, "train_data", n_classes)
    x_test, y_test = _as_arrays(test_data, "test_data", n_classes)
    tf.keras.utils.set_random_seed(seed)
    model = build_feature_net(feature_dim=feature_dim, **build_kwargs)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    test_ds = _dataset(x_test, y_test, 256, False, shuffle=False, seed=None)
    callbacks = [] if out_dir is None else [tf.keras.callbacks.TensorBoard(
        os.path.join(str(out_dir), LOG_DIR), histogram_freq=0, write_graph=False)]
    history = model.fit(  # the test split is monitored, never used to select a model
        _dataset(x_train, y_train, batch_size, augment, shuffle=True, seed=seed), epochs=epochs,
        validation_data=test_ds, callbacks=callbacks, verbose=verbose)
    net = FeatureNet(model)
    mean, std = _feature_statistics(net, x_train, y_train, augment)
    net.manifest = {
        **_data_record(train_data, data_name, x_train, y_test, n_classes, augment),
        "test_accuracy": _accuracy(net, test_ds),
        "train_accuracy": _accuracy(net, _dataset(x_train, y_train, 256, False, False, None)),
        "final_train_loss": float(history.history["loss"][-1]),
        **_model_record(feature_dim, build_kwargs, augment, mean, std),
        "seed": seed, "epochs": epochs, "batch_size": batch_size,
        "learning_rate": float(learning_rate),
        "tensorflow_version": tf.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    net.feature_mean, net.feature_std = _standardization(net.manifest, net.feature_dim)
    if out_dir is not None:
        net.save(out_dir)
    return net


def _feature_statistics(net, images, labels, augment):
    """Per-dimension mean and std of the training patches' raw features (a dead feature's std
    is 1, so that it stays unscaled rather than divided by ~0)."""
    raw = np.concatenate([net._embed(x).numpy() for x, _ in
                          _dataset(images, labels, 256, augment, False, None)])
    std = raw.std(axis=0)
    std[std < 1e-6] = 1.0
    return raw.mean(axis=0), std


def _data_record(train_data, data_name, x_train, y_test, n_classes, augment):
    """The manifest's description of the data and of the baselines of its test split."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "metric_name": "FD-SAT4",
        "data": data_name or "in-memory arrays",
        "class_names": list(getattr(train_data, "class_names", []) or []),
        "n_train": int(len(x_train)),
        "n_train_per_epoch": int(len(x_train)) * (len(DIHEDRAL_TRANSFORMS) if augment else 1),
        "n_test": int(len(y_test)),
        "chance_accuracy": 1.0 / n_classes,
        "majority_accuracy": float(np.max(np.bincount(y_test, minlength=n_classes)))
        / len(y_test),
    }


def _model_record(feature_dim, build_kwargs, augment, mean, std):
    """The manifest's description of the network, its features and their standardization."""
    return {
        "feature_layer": FEATURE_LAYER,
        "feature_dim": int(feature_dim),
        "feature_standardization": "per-dimension mean/std of the features of the training "
                                   "patches" + (" (all 8 flips/rotations)" if augment else ""),
        "feature_mean": [float(v) for v in mean],
        "feature_std": [float(v) for v in std],
        "architecture": {
            "n_classes": int(build_kwargs.get("n_classes", 4)),
            "filters": list(build_kwargs.get("filters", (16, 32))),
            "kernel_size": int(build_kwargs.get("kernel_size", 3)),
            "dropout": float(build_kwargs.get("dropout", 0.25)),
        },
        "augmentation": "dihedral (8 flips/rotations of each training patch)" if augment
        else "none",
        "weights_file": WEIGHTS_FILE,
    }


def load_feature_net(path: Optional[Union[str, os.PathLike]] = None) -> FeatureNet:
    """Loads a trained feature network from its directory (``None``: the bundled weights).

    Args:
      path: a directory holding ``manifest.json`` and ``feature_net.weights.h5`` (as written by
        :func:`train_feature_net` / ``qlsgan train-feature-net``), or that ``manifest.json``.

    Returns:
      :class:`FeatureNet`.

    Raises:
      FileNotFoundError: missing directory, manifest or weights.
      ValueError: corrupt manifest or weights that do not fit the recorded architecture.
    """
    directory = BUNDLED_DIR if path is None else pathlib.Path(path)
    if directory.is_file() and directory.name == MANIFEST_FILE:
        directory = directory.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"feature net directory {str(directory)!r} does not exist")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{str(manifest_path)!r} not found: not a feature net directory (train one with "
            "`qlsgan train-feature-net DATA --out DIR`)")
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
        arch = manifest.get("architecture", {})
        feature_dim = int(manifest["feature_dim"])
        if manifest.get("feature_layer", FEATURE_LAYER) != FEATURE_LAYER:
            raise ValueError(f"unknown feature layer {manifest['feature_layer']!r}")
        _standardization(manifest, feature_dim)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError,
            AttributeError) as err:
        raise ValueError(f"corrupt feature net manifest {str(manifest_path)!r}: {err}") from None
    weights_path = directory / manifest.get("weights_file", WEIGHTS_FILE)
    if not weights_path.is_file():
        raise FileNotFoundError(f"feature net weights {str(weights_path)!r} not found")
    model = build_feature_net(
        feature_dim=feature_dim,
        n_classes=int(arch.get("n_classes", 4)),
        filters=tuple(arch.get("filters", (16, 32))),
        kernel_size=int(arch.get("kernel_size", 3)),
        dropout=float(arch.get("dropout", 0.25)))
    try:
        model.load_weights(str(weights_path))
    except (OSError, ValueError) as err:
        raise ValueError(
            f"cannot load feature net weights {str(weights_path)!r} into the architecture of "
            f"its manifest: {err}") from None
    return FeatureNet(model, manifest)
