"""LatentGAN: exact update arithmetic on a linear toy, the gradient penalty, n_critic, saving."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.training import LatentGAN, latent_dataset
from qlsgan_tf.training.latent_gan import sample_noise


def _linear(out_dim, in_dim, kernel=None, bias=None, name=None):
    """A one-Dense Keras model with given weights (zeros when not given)."""
    layer = tf.keras.layers.Dense(out_dim, name=None if name is None else name + "_dense")
    model = tf.keras.Sequential([tf.keras.Input((in_dim,)), layer], name=name)
    layer.set_weights([np.zeros((in_dim, out_dim), np.float32) if kernel is None else kernel,
                       np.zeros(out_dim, np.float32) if bias is None else bias])
    return model


def _mlp(out_dim, in_dim, units=16, name=None, seed=0, activation="tanh"):
    def init(s):
        return tf.keras.initializers.GlorotUniform(seed=seed + s)
    return tf.keras.Sequential([
        tf.keras.Input((in_dim,)),
        tf.keras.layers.Dense(units, activation=activation, kernel_initializer=init(0)),
        tf.keras.layers.Dense(out_dim, kernel_initializer=init(1)),
    ], name=name)


def test_one_train_step_matches_hand_computed_wgan_gp_updates():
    """Linear critic D(x) = w.x + b and generator G(z) = A z + c with A = 0, plain SGD.

    With A = 0 every fake latent equals c, so the critic loss is exactly
    -(w.mean(real) - w.c) + λ(||w|| - 1)^2 whatever the noise and interpolation points, and
    the generator loss -mean D(G(z)) has gradient -w with respect to c.
    """
    lr, lam = 0.05, 10.0
    w0 = np.array([[0.3], [-0.2]], np.float32)
    c0 = np.array([0.1, -0.4], np.float32)
    real = np.array([[0.5, 0.5], [0.7, 0.1], [0.2, 0.9]], np.float32)
    gen = _linear(2, 2, bias=c0, name="gen")
    critic = _linear(1, 2, kernel=w0, name="critic")
    gan = LatentGAN(gen, critic, noise_dim=2, gp_weight=lam, n_critic=1, seed=1)
    gan.compile(g_optimizer=tf.keras.optimizers.SGD(lr), c_optimizer=tf.keras.optimizers.SGD(lr))
    logs = gan.train_step(tf.constant(real))

    w = w0[:, 0].astype(np.float64)
    norm = np.linalg.norm(w)
    grad_w = -(real.mean(0) - c0) + lam * 2 * (norm - 1) * w / norm
    w1 = w - lr * grad_w
    c1 = c0 + lr * w1
    np.testing.assert_allclose(critic.layers[0].kernel.numpy()[:, 0], w1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(critic.layers[0].bias.numpy(), [0.0], atol=1e-7)
    np.testing.assert_allclose(gen.layers[0].bias.numpy(), c1, rtol=1e-5, atol=1e-6)
    # Metrics are those of the critic step (before its update) and the generator step.
    np.testing.assert_allclose(float(logs["gp"]), (norm - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(float(logs["w_dist"]), w @ (real.mean(0) - c0), rtol=1e-5)
    np.testing.assert_allclose(float(logs["g_loss"]), -(w1 @ c0), rtol=1e-5)
    np.testing.assert_allclose(float(logs["c_loss"]),
                               -w @ (real.mean(0) - c0) + lam * (norm - 1) ** 2, rtol=1e-5)


def test_fit_moves_generated_latents_towards_the_real_ones():
    """A 2-D toy: real latents around (0.5, -0.5); after training the fakes are closer."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    real = (np.array([0.5, -0.5]) + 0.05 * rng.standard_normal((256, 2))).astype(np.float32)
    gan = LatentGAN(_mlp(2, 2, name="g", seed=0),
                    _mlp(1, 2, name="c", seed=10, activation="leaky_relu"),
                    noise_dim=2, n_critic=5, seed=0)
    gan.compile(g_optimizer=tf.keras.optimizers.Adam(1e-2, 0.5, 0.9),
                c_optimizer=tf.keras.optimizers.Adam(1e-2, 0.5, 0.9))
    before = np.linalg.norm(gan.generate(512, seed=3).mean(0) - real.mean(0))
    history = gan.fit(latent_dataset(real, 64, seed=0), epochs=30, verbose=0)
    after = np.linalg.norm(gan.generate(512, seed=3).mean(0) - real.mean(0))
    assert after < 0.3 * before, (before, after)
    assert set(history.history) == {"c_loss", "g_loss", "gp", "w_dist"}
    assert all(np.isfinite(history.history["c_loss"]))


def test_gradient_penalty_of_linear_critic_is_exact():
    w = np.array([[1.5], [-2.0], [0.5]], np.float32)
    critic = _linear(1, 3, kernel=w, bias=np.array([0.7], np.float32), name="lin")
    gan = LatentGAN(_linear(3, 3, name="g"), critic, noise_dim=3)
    real = np.random.default_rng(1).uniform(-1, 1, (8, 3)).astype(np.float32)
    fake = np.random.default_rng(2).uniform(-1, 1, (8, 3)).astype(np.float32)
    gp = float(gan.gradient_penalty(real, fake))
    np.testing.assert_allclose(gp, (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-6)


def test_gradient_penalty_matches_per_sample_reference():
    """Nonlinear critic: the batched penalty equals a per-sample loop over fixed interpolates."""
    critic = _mlp(1, 4, units=8, name="c", seed=5)
    gan = LatentGAN(_mlp(4, 4, name="g"), critic, noise_dim=4)
    rng = np.random.default_rng(3)
    real = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    fake = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    alpha = rng.uniform(0, 1, (6, 1)).astype(np.float32)
    expected = []
    for i in range(6):
        x = tf.constant(real[i:i + 1] + alpha[i] * (fake[i:i + 1] - real[i:i + 1]))
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = critic(x)[0, 0]
        g = tape.gradient(score, x).numpy().astype(np.float64)
        expected.append((np.linalg.norm(g) - 1.0) ** 2)
    gp = float(gan.gradient_penalty(real, fake, alpha=alpha))
    np.testing.assert_allclose(gp, np.mean(expected), rtol=1e-5)


@pytest.mark.parametrize("n_critic", [1, 3])
def test_critic_updates_n_critic_times_per_generator_update(n_critic):
    latents = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    gan = LatentGAN(_mlp(3, 3, name="g"), _mlp(1, 3, name="c"), noise_dim=3, n_critic=n_critic)
    gan.compile()
    gan.fit(latent_dataset(latents, 8, shuffle=False), epochs=2, verbose=0)  # 3 batches/epoch
    assert int(gan.g_optimizer.iterations) == 6
    assert int(gan.c_optimizer.iterations) == 6 * n_critic


def test_bce_loss_trains_and_reports_no_penalty():
    latents = np.random.default_rng(0).uniform(-1, 1, (32, 2)).astype(np.float32)
    gan = LatentGAN(_mlp(2, 2, name="g"), _mlp(1, 2, name="c"), noise_dim=2, loss="bce",
                    n_critic=1)
    gan.compile()
    before = [w.numpy().copy() for w in gan.generator.weights + gan.critic.weights]
    history = gan.fit(latent_dataset(latents, 16), epochs=2, verbose=0)
    assert set(history.history) == {"c_loss", "g_loss", "w_dist"}
    # log 4 = 2 log 2 is the critic loss of an undecided critic; losses are finite and positive.
    assert all(0 < v < 10 for v in history.history["c_loss"])
    after = [w.numpy() for w in gan.generator.weights + gan.critic.weights]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))


def test_noise_kinds_ranges_and_seeds():
    u = sample_noise(4000, 3, "uniform", seed=7).numpy()
    assert u.shape == (4000, 3) and u.dtype == np.float32
    assert u.min() >= -1.0 and u.max() < 1.0 and abs(u.mean()) < 0.05
    np.testing.assert_array_equal(u, sample_noise(4000, 3, "uniform", seed=7).numpy())
    n = sample_noise(4000, 3, "normal", seed=7).numpy()
    assert abs(n.std() - 1.0) < 0.05 and n.min() < -2.5
    gan = LatentGAN(_mlp(2, 3, name="g"), _mlp(1, 2, name="c"), noise_dim=3, noise="normal")
    out = gan.generate(10, seed=1)
    assert out.shape == (10, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, gan.generate(10, seed=1))


def test_config_roundtrip_and_keras_save_reload(tmp_path):
    latents = np.random.default_rng(0).uniform(-1, 1, (16, 3)).astype(np.float32)
    gan = LatentGAN(_mlp(3, 3, name="g"), _mlp(1, 3, name="c"), noise_dim=3, loss="wgan-gp",
                    gp_weight=5.0, n_critic=2, noise="normal", seed=4)
    gan.compile()
    gan.fit(latent_dataset(latents, 8), epochs=1, verbose=0)
    config = gan.get_config()
    assert config["gp_weight"] == 5.0 and config["n_critic"] == 2 and config["noise"] == "normal"
    clone = LatentGAN.from_config(config)
    assert clone.generator.count_params() == gan.generator.count_params()
    assert clone.critic_params == gan.critic_params == 3 * 16 + 16 + 16 + 1

    noise = gan.sample_noise(5, seed=0)
    gan.save(tmp_path / "gan.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "gan.keras")
    assert isinstance(reloaded, LatentGAN) and reloaded.n_critic == 2
    np.testing.assert_allclose(reloaded(noise).numpy(), gan(noise).numpy(), atol=1e-7)
    np.testing.assert_allclose(reloaded.critic(latents).numpy(), gan.critic(latents).numpy(),
                               atol=1e-7)

    gan.generator.save(tmp_path / "generator.keras")
    generator = tf.keras.models.load_model(tmp_path / "generator.keras")
    np.testing.assert_allclose(generator(noise).numpy(), gan.generator(noise).numpy(), atol=1e-7)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"noise_dim": 0}, ValueError, "noise_dim"),
    ({"noise_dim": 2.0}, TypeError, "noise_dim"),
    ({"noise_dim": 2, "loss": "hinge"}, ValueError, "loss"),
    ({"noise_dim": 2, "gp_weight": -1.0}, ValueError, "gp_weight"),
    ({"noise_dim": 2, "n_critic": 0}, ValueError, "n_critic"),
    ({"noise_dim": 2, "noise": "cauchy"}, ValueError, "noise"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        LatentGAN(_mlp(2, 2, name="g"), _mlp(1, 2, name="c"), **kwargs)


def test_non_models_are_rejected():
    with pytest.raises(TypeError, match="critic"):
        LatentGAN(_mlp(2, 2), lambda x: x, noise_dim=2)


def test_trains_the_style_quantum_generator_against_an_mlp_critic():
    """The hybrid case: StyleQuantumGenerator (TFQ, Adjoint) vs MLPCritic, a few fit steps."""
    from qlsgan_tf.layers import StyleQuantumGenerator
    from qlsgan_tf.models import MLPCritic

    tf.keras.utils.set_random_seed(0)
    layer = StyleQuantumGenerator(3, 1, readout="z")
    generator = tf.keras.Sequential([tf.keras.Input((3,)), layer])
    latents = np.random.default_rng(0).uniform(-1, 1, (24, 3)).astype(np.float32)
    gan = LatentGAN(generator, MLPCritic((8,), input_dim=3), noise_dim=3, n_critic=2, seed=0)
    gan.compile(g_optimizer=tf.keras.optimizers.Adam(0.05, 0.5, 0.9))
    scale_before = layer.style_scale.numpy().copy()
    history = gan.fit(latent_dataset(latents, 8, seed=0), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["c_loss"]))
    assert not np.allclose(layer.style_scale.numpy(), scale_before)
    assert int(gan.g_optimizer.iterations) == 6 and int(gan.c_optimizer.iterations) == 12
    assert gan.generator_capacity == layer.capacity == 2 * 3 * 6
    fake = gan.generate(16, seed=0)
    assert fake.shape == (16, 3) and np.all(np.abs(fake) <= 1.0 + 1e-6)


def test_classical_baseline_with_project_models_saves_and_reloads(tmp_path):
    from qlsgan_tf.models import MLPCritic, MLPGenerator

    latents = np.random.default_rng(0).uniform(-1, 1, (16, 4)).astype(np.float32)
    gan = LatentGAN(MLPGenerator(4, hidden_units=(8,), noise_dim=2),
                    MLPCritic((8, 4), input_dim=4), noise_dim=2, n_critic=1, loss="bce")
    gan.compile()
    gan.fit(latent_dataset(latents, 8), epochs=1, verbose=0)
    gan.save(tmp_path / "gan.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "gan.keras")
    noise = gan.sample_noise(6, seed=2)
    np.testing.assert_allclose(reloaded(noise).numpy(), gan(noise).numpy(), atol=1e-6)
    np.testing.assert_allclose(reloaded.critic(latents).numpy(), gan.critic(latents).numpy(),
                               atol=1e-6)
    assert reloaded.generator_capacity == gan.generator.capacity


# ---------------------------------------------------------------------------- latents.py
def test_encode_latents_is_the_vae_mean_in_batches():
    from qlsgan_tf.data import normalize
    from qlsgan_tf.models import SatVAE
    from qlsgan_tf.training import encode_latents

    tf.keras.utils.set_random_seed(0)
    vae = SatVAE(latent_dim=3, filters=(4, 8), dense_units=16)
    pixels = np.random.default_rng(0).integers(0, 256, (10, 28, 28, 4), dtype=np.uint8)
    latents = encode_latents(vae, pixels, batch_size=4)  # uint8 is scaled to [-1, 1] first
    assert latents.shape == (10, 3) and latents.dtype == np.float32
    np.testing.assert_allclose(latents, np.asarray(vae.encode(normalize(pixels))), atol=1e-6)
    assert np.all(np.abs(latents) <= 1.0)  # tanh-bounded mean


@pytest.mark.parametrize("images, error, match", [
    (np.zeros((2, 28, 28, 3), np.float32), ValueError, "R, G, B, NIR"),
    (np.zeros((0, 28, 28, 4), np.float32), ValueError, "empty"),
    (np.full((2, 28, 28, 4), np.nan, np.float32), ValueError, "NaN"),
    (np.zeros((2, 28, 28, 4), np.int32), TypeError, "dtype"),
])
def test_encode_latents_rejects_bad_images(images, error, match):
    from qlsgan_tf.models import SatVAE
    from qlsgan_tf.training import encode_latents

    with pytest.raises(error, match=match):
        encode_latents(SatVAE(latent_dim=2, filters=(4, 8), dense_units=8), images)


def test_latent_dataset_batches_shuffles_and_keeps_the_remainder():
    latents = np.arange(20, dtype=np.float32).reshape(10, 2)
    batches = [b.numpy() for b in latent_dataset(latents, 4, shuffle=False)]
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), latents)
    shuffled = np.concatenate(list(latent_dataset(latents, 4, seed=1)))
    assert sorted(shuffled[:, 0]) == list(latents[:, 0]) and not np.array_equal(shuffled, latents)
    again = np.concatenate(list(latent_dataset(latents, 4, seed=1)))
    np.testing.assert_array_equal(shuffled, again)
    repeated = latent_dataset(latents, 4, repeat=True, drop_remainder=True).take(5)
    assert [b.shape[0] for b in repeated] == [4] * 5
    with pytest.raises(ValueError, match="latents must have shape"):
        latent_dataset(latents[0], 4)
    with pytest.raises(ValueError, match="NaN"):
        latent_dataset(np.full((3, 2), np.nan), 4)
    with pytest.raises(ValueError, match="batch_size"):
        latent_dataset(latents, 0)
