"""Tests for qlsgan_tf.models.SatVAE: bounded latents, loss terms vs numpy, save/reload, fit."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.data import load_sat4, normalize
from qlsgan_tf.models import SatVAE

SMALL = dict(latent_dim=4, filters=(4, 8), dense_units=16)


@pytest.fixture(scope="module")
def sample(sat4_sample_dir):
    train = normalize(load_sat4(sat4_sample_dir, split="train").images)
    test = normalize(load_sat4(sat4_sample_dir, split="test").images)
    return train, test


def test_shapes_and_bounded_latent(sample):
    _, test = sample
    vae = SatVAE(**SMALL)
    z = vae.encode(test, batch_size=7)
    assert z.shape == (20, 4) and z.dtype == np.float32
    assert np.all(np.abs(z) <= 1.0)
    # encode returns the squashed posterior mean, batch by batch.
    mean, _ = vae.encoder(test)
    np.testing.assert_allclose(z, np.tanh(mean.numpy()), atol=1e-6)
    x = vae.decode(z)
    assert x.shape == (20, 28, 28, 4) and np.all(np.abs(x) <= 1.0)
    np.testing.assert_allclose(vae.reconstruct(test), x, atol=1e-6)
    np.testing.assert_allclose(vae(test).numpy(), x, atol=1e-6)


def test_linear_latent_is_scaled_and_clipped(sample):
    _, test = sample
    vae = SatVAE(latent_activation="linear", latent_scale=2.0, **SMALL)
    # Push the means far out so that clipping matters.
    kernel, bias = vae.encoder.get_layer("u_mean").weights
    bias.assign(np.array([3.0, -3.0, 0.0, 0.1], np.float32))
    kernel.assign(kernel * 0.0)
    z = vae.encode(test[:3])
    np.testing.assert_allclose(z, np.tile([1.0, -1.0, 0.0, 0.2], (3, 1)), atol=1e-6)
    assert SatVAE(latent_activation="linear", **SMALL).latent_scale == pytest.approx(1 / 3)


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_evaluate_matches_numpy_loss_terms(sample, beta):
    """test_step: MSE of the mean reconstruction, closed-form Gaussian KL, their weighted sum."""
    _, test = sample
    vae = SatVAE(beta=beta, **SMALL)
    vae.compile(optimizer="adam")
    result = vae.evaluate(test, batch_size=len(test), verbose=0, return_dict=True)
    mean, log_var = (t.numpy().astype(np.float64) for t in vae.encoder(test))
    recon = vae.decoder(np.tanh(mean).astype(np.float32)).numpy()
    mse = np.mean((test - recon) ** 2)
    kl = np.mean(np.sum(0.5 * (mean**2 + np.exp(log_var) - 1 - log_var), axis=1))
    np.testing.assert_allclose(result["reconstruction_loss"], mse, rtol=1e-4)
    np.testing.assert_allclose(result["kl_loss"], kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result["loss"], mse + beta * kl / (28 * 28 * 4), rtol=1e-4)


def test_save_and_reload_equal_outputs(sample, tmp_path):
    _, test = sample
    vae = SatVAE(beta=0.5, latent_activation="linear", latent_scale=0.5, **SMALL)
    vae.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    vae.fit(test, epochs=1, batch_size=10, verbose=0)
    path = tmp_path / "vae.keras"
    vae.save(path)
    again = tf.keras.models.load_model(path)
    assert isinstance(again, SatVAE)
    assert again.get_config() == vae.get_config()
    np.testing.assert_array_equal(again.encode(test), vae.encode(test))
    np.testing.assert_array_equal(again.reconstruct(test), vae.reconstruct(test))
    # The optimizer state came back too: training resumes.
    again.fit(test, epochs=1, batch_size=10, verbose=0)


def test_capacity_counts_encoder_and_decoder():
    vae = SatVAE(**SMALL)
    assert vae.capacity == vae.encoder.count_params() + vae.decoder.count_params()
    # The knobs change capacity in the expected direction.
    assert SatVAE(latent_dim=4, filters=(8, 16), dense_units=16).capacity > vae.capacity
    assert SatVAE(latent_dim=4, filters=(4, 8), dense_units=32).capacity > vae.capacity


def test_fit_on_sample_reduces_reconstruction_loss(sample):
    train, test = sample
    tf.keras.utils.set_random_seed(0)
    vae = SatVAE(latent_dim=4, filters=(8, 16), dense_units=32)
    vae.compile(optimizer=tf.keras.optimizers.Adam(2e-3))
    before = vae.evaluate(test, verbose=0, return_dict=True)["reconstruction_loss"]
    hist = vae.fit(train, validation_data=(test,), epochs=8, batch_size=10, verbose=0)
    rec = hist.history["reconstruction_loss"]
    assert set(hist.history) >= {"loss", "kl_loss", "val_reconstruction_loss"}
    assert rec[-1] < 0.6 * rec[0]
    assert hist.history["val_reconstruction_loss"][-1] < 0.8 * before
    assert np.all(np.isfinite(hist.history["kl_loss"]))


def test_input_checks(sample):
    _, test = sample
    vae = SatVAE(**SMALL)
    with pytest.raises(ValueError, match=r"\[N, 28, 28, 4\]"):
        vae.encode(test[..., :3])
    with pytest.raises(TypeError, match="normalize"):
        vae.encode((test * 127.5 + 127.5).astype(np.uint8))
    bad = test.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        vae.encode(bad)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        vae.encode(test * 3)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        vae.decode(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        vae.encode(test, batch_size=0)
    vae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="28, 28, 4"):
        vae.fit(np.zeros((4, 28, 28, 3), np.float32), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="float"):
        vae.fit(np.zeros((4, 28, 28, 4), np.uint8), epochs=1, verbose=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(latent_dim=0), "latent_dim"),
    (dict(beta=-1.0), "beta"),
    (dict(filters=(8, 8, 8)), "filters"),
    (dict(filters=(8, 0)), "filters"),
    (dict(dense_units=0), "dense_units"),
    (dict(latent_activation="relu"), "latent_activation"),
    (dict(latent_scale=0.0), "latent_scale"),
])
def test_constructor_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SatVAE(**kwargs)
