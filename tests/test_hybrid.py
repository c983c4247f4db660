"""LatentStyleGAN: noise -> generator -> VAE decoder, sampled, saved and reloaded."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator
from qlsgan_tf.training import LatentStyleGAN

N_QUBITS = 3


def _quantum_generator():
    return tf.keras.Sequential([tf.keras.Input((N_QUBITS,)),
                                StyleQuantumGenerator(N_QUBITS, 1, readout="z")],
                               name="quantum_generator")


def _dense_decoder(latent_dim=N_QUBITS):
    return tf.keras.Sequential([
        tf.keras.Input((latent_dim,)),
        tf.keras.layers.Dense(28 * 28 * 4, activation="tanh",
                              kernel_initializer=tf.keras.initializers.RandomNormal(seed=1)),
        tf.keras.layers.Reshape((28, 28, 4)),
    ], name="decoder")


def test_sample_is_decoder_of_generator(tmp_path):
    generator, decoder = _quantum_generator(), _dense_decoder()
    hybrid = LatentStyleGAN(generator, decoder, noise_dim=N_QUBITS)
    images = hybrid.sample(6, seed=3)
    assert images.shape == (6, 28, 28, 4) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, hybrid.sample(6, seed=3))
    noise = hybrid.sample_noise(6, seed=3)
    np.testing.assert_allclose(images, decoder(generator(noise)).numpy(), atol=1e-6)
    assert not np.allclose(images, hybrid.sample(6, seed=4))


def test_keras_save_reload_gives_identical_samples(tmp_path):
    hybrid = LatentStyleGAN(_quantum_generator(), _dense_decoder(), noise_dim=N_QUBITS,
                         noise="normal")
    path = tmp_path / "hybrid.keras"
    hybrid.save(path)
    reloaded = tf.keras.models.load_model(path)
    assert isinstance(reloaded, LatentStyleGAN)
    assert reloaded.noise == "normal" and reloaded.noise_dim == N_QUBITS
    np.testing.assert_allclose(reloaded.sample(5, seed=0), hybrid.sample(5, seed=0), atol=1e-6)
    layer = reloaded.generator.layers[0]
    assert isinstance(layer, StyleQuantumGenerator) and layer.n_qubits == N_QUBITS


def test_with_satvae_decoder(tmp_path):
    from qlsgan_tf.models import SatVAE

    vae = SatVAE(latent_dim=N_QUBITS, filters=(4, 8), dense_units=16)
    vae.build((None, 28, 28, 4))
    hybrid = LatentStyleGAN(_quantum_generator(), vae.decoder, noise_dim=N_QUBITS)
    images = hybrid.sample(4, seed=0)
    np.testing.assert_allclose(images, vae.decode(hybrid.generator(hybrid.sample_noise(4, seed=0))),
                               atol=1e-6)
    hybrid.save(tmp_path / "h.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "h.keras")
    np.testing.assert_allclose(reloaded.sample(4, seed=0), images, atol=1e-6)


@pytest.mark.parametrize("noise, error, match", [
    (np.zeros((2, N_QUBITS + 1), np.float32), ValueError, "noise must have shape"),
    (np.zeros((2, N_QUBITS), np.int32), TypeError, "float"),
])
def test_bad_noise_is_rejected(noise, error, match):
    hybrid = LatentStyleGAN(_quantum_generator(), _dense_decoder(), noise_dim=N_QUBITS)
    with pytest.raises(error, match=match):
        hybrid(noise)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="noise_dim"):
        LatentStyleGAN(_quantum_generator(), _dense_decoder(), noise_dim=0)
    with pytest.raises(ValueError, match="noise"):
        LatentStyleGAN(_quantum_generator(), _dense_decoder(), noise_dim=3, noise="cauchy")
    with pytest.raises(TypeError, match="decoder"):
        LatentStyleGAN(_quantum_generator(), "decoder.keras", noise_dim=3)
    with pytest.raises(ValueError, match="n must"):
        LatentStyleGAN(_quantum_generator(), _dense_decoder(), noise_dim=3).sample(0)


def test_noise_dim_defaults_to_the_generator_input_width():
    assert LatentStyleGAN(_quantum_generator(), _dense_decoder()).noise_dim == N_QUBITS
    from qlsgan_tf.models import MLPGenerator

    hybrid = LatentStyleGAN(MLPGenerator(N_QUBITS, hidden_units=(4,), noise_dim=2),
                         _dense_decoder())
    assert hybrid.noise_dim == 2 and hybrid.sample(3, seed=0).shape == (3, 28, 28, 4)


def _as_saved_before_the_rename(path, old_path):
    """Rewrites a .keras archive as the package wrote it before ``noise_dim`` and
    ``LatentStyleGAN``: the noise width under ``latent_dim``, the class as ``HybridLSGAN``."""
    import json
    import zipfile

    def old(node):
        if isinstance(node, dict):
            node = {("latent_dim" if k == "noise_dim" else k): old(v) for k, v in node.items()}
            for key in ("class_name", "registered_name"):
                if isinstance(node.get(key), str):
                    node[key] = node[key].replace("LatentStyleGAN", "HybridLSGAN")
            return node
        if isinstance(node, list):
            return [old(v) for v in node]
        return node

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old_path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(old(json.loads(data))).encode()
            dst.writestr(item, data)
    return json.loads(zipfile.ZipFile(old_path).read("config.json"))


def test_models_saved_under_the_old_names_still_load(tmp_path):
    from qlsgan_tf.models import MLPGenerator
    from qlsgan_tf.training import HybridLSGAN

    generator = tf.keras.Sequential([tf.keras.Input((2,)), StyleQuantumGenerator(3, 1,
                                                                                 noise_dim=2)])
    for gen in (generator, MLPGenerator(N_QUBITS, hidden_units=(4,), noise_dim=2)):
        hybrid = LatentStyleGAN(gen, _dense_decoder(), noise="normal")
        hybrid.save(tmp_path / "new.keras")
        config = _as_saved_before_the_rename(tmp_path / "new.keras", tmp_path / "old.keras")
        assert config["class_name"] == "HybridLSGAN" and "latent_dim" in config["config"]
        assert "noise_dim" not in json_text(config)
        reloaded = tf.keras.models.load_model(tmp_path / "old.keras")
        assert isinstance(reloaded, HybridLSGAN) and isinstance(reloaded, LatentStyleGAN)
        assert reloaded.noise_dim == 2
        np.testing.assert_allclose(reloaded.sample(4, seed=1), hybrid.sample(4, seed=1),
                                   atol=1e-6)
    with pytest.warns(DeprecationWarning, match="LatentStyleGAN"):
        HybridLSGAN(_quantum_generator(), _dense_decoder())


def json_text(config):
    import json

    return json.dumps(config)
