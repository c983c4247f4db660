"""The pure GAN losses against NumPy formulas, and LatentGAN trained with them."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.training import LatentGAN, latent_dataset, losses


def _scores(seed, n=7):
    return np.random.default_rng(seed).normal(0.0, 2.0, (n, 1)).astype(np.float32)


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def test_wasserstein_losses_are_the_score_means():
    real, fake = _scores(0), _scores(1)
    np.testing.assert_allclose(float(losses.wgan_critic_loss(real, fake)),
                               fake.mean() - real.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(losses.wgan_generator_loss(fake)), -fake.mean(), rtol=1e-6)


def test_bce_losses_are_the_cross_entropies_of_the_logits():
    real, fake = _scores(2).astype(np.float64), _scores(3).astype(np.float64)
    critic = -_log_sigmoid(real).mean() - np.log1p(-1.0 / (1.0 + np.exp(-fake))).mean()
    np.testing.assert_allclose(float(losses.bce_critic_loss(real, fake)), critic, rtol=1e-5)
    np.testing.assert_allclose(float(losses.bce_generator_loss(fake)),
                               -_log_sigmoid(fake).mean(), rtol=1e-5)
    # An undecided critic (all logits 0) has critic loss 2 log 2.
    zeros = np.zeros((4, 1), np.float32)
    np.testing.assert_allclose(float(losses.bce_critic_loss(zeros, zeros)), 2 * np.log(2),
                               rtol=1e-6)


def test_gradient_penalty_of_a_linear_critic_and_of_a_quadratic_one():
    w = np.array([2.0, -1.0, 0.5], np.float32)
    rng = np.random.default_rng(4)
    real = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    fake = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    alpha = rng.uniform(0, 1, (5, 1)).astype(np.float32)

    def linear(x, training=True):
        return tf.reduce_sum(x * w, axis=1, keepdims=True)

    np.testing.assert_allclose(float(losses.gradient_penalty(linear, real, fake, alpha)),
                               (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-5)

    def quadratic(x, training=True):  # D(x) = |x|^2 / 2, so grad D = x
        return 0.5 * tf.reduce_sum(tf.square(x), axis=1, keepdims=True)

    x = real + alpha * (fake - real)
    expected = np.mean((np.linalg.norm(x.astype(np.float64), axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(float(losses.gradient_penalty(quadratic, real, fake, alpha)),
                               expected, rtol=1e-5)


def test_loss_names_map_to_the_functions():
    assert losses.get("wgan-gp") == losses.GANLoss(
        losses.wgan_critic_loss, losses.wgan_generator_loss, penalized=True)
    assert losses.get("bce").critic is losses.bce_critic_loss and not losses.get("bce").penalized
    assert losses.critic_loss_fn("bce") is losses.bce_critic_loss
    assert losses.generator_loss_fn(losses.wgan_generator_loss) is losses.wgan_generator_loss
    with pytest.raises(ValueError, match="loss must be one of"):
        losses.get("hinge")


def _mlp(out_dim, in_dim, seed):
    init = tf.keras.initializers.GlorotUniform
    return tf.keras.Sequential([
        tf.keras.Input((in_dim,)),
        tf.keras.layers.Dense(8, activation="tanh", kernel_initializer=init(seed)),
        tf.keras.layers.Dense(out_dim, kernel_initializer=init(seed + 1))])


def _train(loss, **compile_losses):
    latents = np.random.default_rng(0).uniform(-1, 1, (24, 2)).astype(np.float32)
    gan = LatentGAN(_mlp(2, 2, 0), _mlp(1, 2, 10), noise_dim=2, loss=loss, n_critic=2, seed=3)
    gan.compile(g_optimizer=tf.keras.optimizers.Adam(1e-2, 0.5, 0.9),
                c_optimizer=tf.keras.optimizers.Adam(1e-2, 0.5, 0.9), **compile_losses)
    history = gan.fit(latent_dataset(latents, 8, shuffle=False), epochs=2, verbose=0)
    return history.history, [w.numpy() for w in gan.weights]


@pytest.mark.parametrize("loss, c_fn, g_fn", [
    ("wgan-gp", losses.wgan_critic_loss, losses.wgan_generator_loss),
    ("bce", losses.bce_critic_loss, losses.bce_generator_loss),
])
def test_latent_gan_trained_with_the_functions_equals_the_named_loss(loss, c_fn, g_fn):
    named_history, named_weights = _train(loss)
    fn_history, fn_weights = _train(loss, c_loss_fn=c_fn, g_loss_fn=g_fn)
    assert named_history == fn_history
    for a, b in zip(named_weights, fn_weights):
        np.testing.assert_array_equal(a, b)


def test_compile_swaps_the_losses():
    """WGAN-GP's penalty with the non-saturating losses: differs from both named losses."""
    wgan_history, _ = _train("wgan-gp")
    mixed_history, _ = _train("wgan-gp", c_loss_fn="bce", g_loss_fn=losses.bce_generator_loss)
    assert set(mixed_history) == {"c_loss", "g_loss", "gp", "w_dist"}
    assert mixed_history["g_loss"] != wgan_history["g_loss"]
    assert all(v > 0 for v in mixed_history["g_loss"])  # -log σ(D) > 0, unlike -mean D here
