"""The SAT-4 feature network: architecture, save/reload, training, manifest, bundled weights."""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.data import dihedral_augment, load_sat4, normalize
from qlsgan_tf.metrics import feature_net as fn
from qlsgan_tf.metrics.feature_net import (
    FEATURE_LAYER,
    FeatureNet,
    build_feature_net,
    load_feature_net,
    train_feature_net,
)


@pytest.fixture(name="sample", scope="module")
def fixture_sample(sat4_sample_dir):
    return load_sat4(sat4_sample_dir, "train"), load_sat4(sat4_sample_dir, "test")


@pytest.fixture(name="trained", scope="module")
def fixture_trained(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("feature_net")
    net = train_feature_net(sample[0], sample[1], out, epochs=2, seed=3, feature_dim=8,
                            data_name="sample", verbose=0)
    return net, out


def test_architecture():
    model = build_feature_net(feature_dim=12, n_classes=4)
    assert model.input_shape == (None, 28, 28, 4)
    assert model.output_shape == (None, 4)
    assert model.get_layer(FEATURE_LAYER).units == 12
    assert sum(isinstance(lay, tf.keras.layers.Conv2D) for lay in model.layers) == 2


def test_keras_save_reload_identical(tmp_path):
    model = build_feature_net(feature_dim=6)
    x = np.random.default_rng(0).uniform(-1, 1, size=(3, 28, 28, 4)).astype(np.float32)
    model.save(tmp_path / "net.keras")
    again = tf.keras.models.load_model(tmp_path / "net.keras")
    np.testing.assert_array_equal(model(x).numpy(), again(x).numpy())
    assert again.get_config() == model.get_config()


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"feature_dim": 0}, ValueError, "feature_dim"),
    ({"feature_dim": 2.5}, TypeError, "feature_dim"),
    ({"n_classes": 1}, ValueError, "n_classes"),
    ({"filters": (8,)}, ValueError, "filters"),
    ({"filters": "ab"}, TypeError, "filters"),
    ({"dropout": 1.0}, ValueError, "dropout"),
])
def test_build_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        build_feature_net(**kwargs)


def test_augmented_pipeline_is_all_eight_transforms(sample):
    """One unshuffled epoch of the lazy pipeline equals dihedral_augment of the patches."""
    images, labels = sample[1].images, sample[1].labels
    ds = fn._dataset(images, labels, 8 * len(images), augment=True, shuffle=False, seed=None)
    x, y = next(iter(ds))
    ref_x, ref_y = dihedral_augment(images, labels)
    np.testing.assert_array_equal(x.numpy(), normalize(ref_x))
    np.testing.assert_array_equal(y.numpy(), ref_y)


def test_training_writes_manifest_and_reloads(trained, sample):
    net, out = trained
    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / "feature_net.weights.h5").is_file() and (out / "logs").is_dir()
    assert manifest["n_train"] == 50 and manifest["n_test"] == 20
    assert manifest["n_train_per_epoch"] == 400
    assert manifest["feature_layer"] == FEATURE_LAYER and manifest["feature_dim"] == 8
    assert manifest["seed"] == 3 and manifest["data"] == "sample"
    assert manifest["augmentation"].startswith("dihedral")
    test_x = normalize(sample[1].images)
    # The recorded accuracy is the network's accuracy on the test split.
    assert manifest["test_accuracy"] == pytest.approx(net.accuracy(test_x, sample[1].labels))
    again = load_feature_net(out)
    feats = net.features(test_x)
    assert feats.shape == (20, 8) and feats.dtype == np.float64
    np.testing.assert_array_equal(again.features(test_x), feats)
    assert load_feature_net(out / "manifest.json").manifest == manifest


def test_features_are_the_standardized_feature_layer(trained, sample):
    net, _ = trained
    x = normalize(sample[1].images[:5])
    ref = tf.keras.Model(net.model.inputs, net.model.get_layer(FEATURE_LAYER).output)(x)
    np.testing.assert_allclose(net.raw_features(x), ref.numpy(), rtol=1e-6, atol=1e-6)
    mean = np.array(net.manifest["feature_mean"])
    std = np.array(net.manifest["feature_std"])
    np.testing.assert_allclose(net.features(x), (ref.numpy() - mean) / std, rtol=1e-5,
                               atol=1e-5)
    # Standardized on the 8 flips/rotations of the training patches: mean 0, std 1 there.
    train_aug = normalize(dihedral_augment(sample[0].images))
    feats = net.features(train_aug)
    np.testing.assert_allclose(feats.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(feats.std(0)[std != 1.0], 1.0, rtol=1e-3)


def test_training_is_deterministic(sample):
    kw = dict(out_dir=None, epochs=1, seed=11, feature_dim=4, verbose=0)
    a = train_feature_net(sample[0], sample[1], **kw)
    b = train_feature_net(sample[0], sample[1], **kw)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_bundled_weights(sample):
    net = load_feature_net()
    m = net.manifest
    assert m["feature_dim"] == net.feature_dim == 32
    assert m["n_train"] == 50 and m["n_test"] == 20 and m["augmentation"].startswith("dihedral")
    # Re-measured here, independently of the manifest, on the real test split.
    acc = net.accuracy(normalize(sample[1].images), sample[1].labels)
    assert acc == pytest.approx(m["test_accuracy"])
    assert acc >= 0.6  # chance 0.25, majority class 0.4
    assert "test accuracy" in net.summary()
    prov = net.provenance()
    assert prov["test_accuracy"] == m["test_accuracy"] and prov["n_test"] == 20
    assert prov["metric"] == "FD-SAT4" and json.loads(json.dumps(prov)) == prov


def test_feature_input_errors():
    net = load_feature_net()
    with pytest.raises(TypeError, match="normalize"):
        net.features(np.zeros((2, 28, 28, 4), np.uint8))
    with pytest.raises(ValueError, match="4 bands"):
        net.features(np.zeros((2, 28, 28, 3), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        net.features(np.full((2, 28, 28, 4), np.nan, np.float32))


def test_train_input_errors(sample):
    train, test = sample
    with pytest.raises(ValueError, match="labels must have shape"):
        train_feature_net((train.images, train.labels[:-1]), test, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        train_feature_net((train.images, train.labels + 4), test, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="4 bands"):
        train_feature_net((normalize(train.images)[..., :3], train.labels), test, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        train_feature_net(train, test, epochs=0)
    with pytest.raises(TypeError, match="Sat4Data or an"):
        train_feature_net(42, test, epochs=1)


def test_load_errors(trained, tmp_path):
    _, out = trained
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_feature_net(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        load_feature_net(tmp_path)
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt feature net manifest"):
        load_feature_net(bad)
    manifest = json.loads((out / "manifest.json").read_text())
    wider = dict(manifest, feature_dim=16, feature_mean=[0.0] * 16, feature_std=[1.0] * 16)
    (bad / "manifest.json").write_text(json.dumps(wider))
    with pytest.raises(ValueError, match="cannot load feature net weights"):
        load_feature_net(bad)
    (bad / "manifest.json").write_text(json.dumps(dict(manifest, feature_std=[0.0] * 8)))
    with pytest.raises(ValueError, match="feature_std"):
        load_feature_net(bad)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    (bad / "feature_net.weights.h5").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="cannot load feature net weights"):
        load_feature_net(bad)
    (bad / "feature_net.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="weights"):
        load_feature_net(bad)


def test_feature_net_requires_feature_layer():
    model = tf.keras.Sequential([tf.keras.Input((28, 28, 4)), tf.keras.layers.Flatten()])
    with pytest.raises(ValueError, match="no layer named 'features'"):
        FeatureNet(model)
