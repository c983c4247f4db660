"""The TF-GAN estimator adapter, end to end with the StyleQuantumGenerator as generator."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator
from qlsgan_tf.training.estimator import latent_input_fn, make_gan_estimator, noise_input_fn

N_QUBITS = 2


def _critic():
    return tf.keras.Sequential([
        tf.keras.Input((N_QUBITS,)),
        tf.keras.layers.Dense(8, activation="leaky_relu"),
        tf.keras.layers.Dense(1),
    ])


@pytest.fixture(scope="module")
def sample_latents(sat4_sample_dir):
    """Latents of the real sample patches under a small SatVAE trained for 2 epochs."""
    from qlsgan_tf.data import load_sat4, normalize
    from qlsgan_tf.models import SatVAE
    from qlsgan_tf.training import encode_latents

    images = normalize(load_sat4(sat4_sample_dir, split="train").images)
    tf.keras.utils.set_random_seed(0)
    vae = SatVAE(latent_dim=N_QUBITS, filters=(4, 8), dense_units=16)
    vae.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    vae.fit(images, epochs=2, batch_size=16, verbose=0)
    return encode_latents(vae, images, batch_size=32)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tfq", "fast"])
def test_estimator_trains_resumes_and_predicts(tmp_path, sample_latents, backend):
    latents = sample_latents
    assert latents.shape[1] == N_QUBITS and np.abs(latents).max() <= 1.0
    generator = tf.keras.Sequential([tf.keras.Input((N_QUBITS,)),
                                     StyleQuantumGenerator(N_QUBITS, 1, backend=backend)])
    est = make_gan_estimator(generator, _critic(), N_QUBITS, tmp_path / "est", n_critic=2,
                             g_lr=0.05, c_lr=0.05)
    assert est.params == {"gradient_penalty_weight": 10.0}  # tfgan.gan_loss adds the penalty
    est.train(latent_input_fn(latents, 16, N_QUBITS, seed=0), steps=3)
    assert est.get_variable_value("global_step") == 3
    assert tf.train.latest_checkpoint(str(tmp_path / "est")).endswith("-3")
    names = est.get_variable_names()
    assert "Generator/style_scale" in names and "Generator/style_bias" in names
    scale_3 = est.get_variable_value("Generator/style_scale")
    # Generator Adam slots: one generator update per step; critic: n_critic per step.
    beta1 = 0.5
    np.testing.assert_allclose(est.get_variable_value("generator_train/beta1_power"),
                               beta1 ** 4, rtol=1e-6)
    np.testing.assert_allclose(est.get_variable_value("discriminator_train/beta1_power"),
                               beta1 ** 7, rtol=1e-6)

    # A second train resumes from the checkpoint instead of starting again.
    est.train(latent_input_fn(latents, 16, N_QUBITS, seed=1), steps=2)
    assert est.get_variable_value("global_step") == 5
    assert tf.train.latest_checkpoint(str(tmp_path / "est")).endswith("-5")
    scale_5 = est.get_variable_value("Generator/style_scale")
    assert not np.allclose(scale_3, scale_5)

    # predict == the layer, built eagerly with the checkpoint's weights, on the same noise.
    noise = np.concatenate(list(noise_input_fn(10, N_QUBITS, batch_size=4, seed=7)()))
    samples = np.array(list(est.predict(noise_input_fn(10, N_QUBITS, batch_size=4, seed=7))))
    assert samples.shape == (10, N_QUBITS) and samples.dtype == np.float32
    assert np.all(np.abs(samples) <= 1.0 + 1e-6)
    layer = StyleQuantumGenerator(N_QUBITS, 1, backend=backend)
    layer.build((None, N_QUBITS))
    layer.set_weights([scale_5, est.get_variable_value("Generator/style_bias")])
    np.testing.assert_allclose(samples, layer(noise).numpy(), atol=1e-5)


def test_input_fns_yield_noise_and_real_batches():
    latents = np.linspace(-1, 1, 14, dtype=np.float32).reshape(7, 2)
    noise, real = next(iter(latent_input_fn(latents, 4, 3, shuffle=False)()))
    assert noise.shape == (4, 3) and real.shape == (4, 2)
    assert np.all(np.abs(noise.numpy()) <= 1.0)
    np.testing.assert_array_equal(real.numpy(), latents[:4])
    batches = list(noise_input_fn(5, 3, batch_size=2, noise="normal", seed=0)())
    assert [b.shape[0] for b in batches] == [2, 2, 1]


@pytest.mark.parametrize("call, match", [
    (lambda: latent_input_fn(np.zeros((4, 2, 1)), 2, 2), "latents"),
    (lambda: latent_input_fn(np.full((4, 2), np.nan), 2, 2), "finite"),
    (lambda: latent_input_fn(np.zeros((4, 2)), 0, 2), "batch_size"),
    (lambda: latent_input_fn(np.zeros((4, 2)), 2, 2, noise="cauchy"), "noise"),
    (lambda: noise_input_fn(0, 2), "n must"),
    (lambda: make_gan_estimator(_critic(), _critic(), 0, "d"), "noise_dim"),
    (lambda: make_gan_estimator(_critic(), _critic(), 2, "d", n_critic=0), "n_critic"),
    (lambda: make_gan_estimator(_critic(), _critic(), 2, "d", gp_weight=-1.0), "gp_weight"),
    (lambda: make_gan_estimator(_critic(), "critic", 2, "d"), "critic"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
