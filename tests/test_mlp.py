"""Tests for qlsgan_tf.models.mlp: numerics against numpy, capacity, save/reload, arg checks."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.models import MLPCritic, MLPGenerator, mlp_param_count


def _leaky(x):
    return np.where(x > 0, x, 0.2 * x)  # Keras 2.15 leaky_relu default slope 0.2


def _numpy_forward(model, x, output_activation):
    """Independent forward pass from the model's weights (dense layers only)."""
    weights = [w.numpy() for w in model.weights]
    h = x
    pairs = list(zip(weights[0::2], weights[1::2]))
    for kernel, bias in pairs[:-1]:
        h = _leaky(h @ kernel + bias)
    kernel, bias = pairs[-1]
    h = h @ kernel + bias
    return np.tanh(h) if output_activation == "tanh" else h


def test_generator_forward_matches_numpy():
    gen = MLPGenerator(10, hidden_units=(16, 8), noise_dim=5)
    z = np.random.default_rng(0).uniform(-1, 1, (7, 5)).astype(np.float32)
    out = gen(z).numpy()
    assert out.shape == (7, 10)
    assert np.all(np.abs(out) <= 1.0)
    np.testing.assert_allclose(out, _numpy_forward(gen, z, "tanh"), atol=1e-5)


def test_critic_forward_matches_numpy_and_is_a_linear_logit():
    critic = MLPCritic((12, 6), input_dim=10)
    x = np.random.default_rng(1).normal(size=(9, 10)).astype(np.float32) * 5
    out = critic(x).numpy()
    assert out.shape == (9, 1)
    np.testing.assert_allclose(out, _numpy_forward(critic, x, None), atol=1e-4)


@pytest.mark.parametrize("hidden", [(), (3,), (512, 256), (7, 5, 3)])
def test_capacity_equals_mlp_param_count(hidden):
    assert MLPCritic(hidden, input_dim=10).capacity == mlp_param_count(10, hidden, 1)
    assert MLPGenerator(10, hidden, noise_dim=4).capacity == mlp_param_count(4, hidden, 10)


def test_lazy_build_and_capacity_error():
    critic = MLPCritic((8,))
    with pytest.raises(ValueError, match="not built"):
        _ = critic.capacity
    critic(np.zeros((2, 6), np.float32))
    assert critic.input_dim == 6
    assert critic.capacity == mlp_param_count(6, (8,), 1)


@pytest.mark.parametrize("make", [
    lambda: MLPGenerator(6, (9,), noise_dim=3, activation="relu", output_activation=None),
    lambda: MLPCritic((5, 4), dropout=0.25, input_dim=6),
    lambda: MLPCritic((4,)),
])
def test_save_and_reload_give_equal_outputs(tmp_path, make):
    model = make()
    dim = model.input_dim or 6
    x = np.random.default_rng(2).normal(size=(4, dim)).astype(np.float32)
    expected = model(x, training=False).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = tf.keras.models.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(reloaded(x, training=False).numpy(), expected)


def test_trains_with_fit():
    critic = MLPCritic((8,), input_dim=3)
    critic.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="mse")
    x = np.random.default_rng(3).normal(size=(64, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    hist = critic.fit(x, y, epochs=20, verbose=0)
    assert hist.history["loss"][-1] < 0.2 * hist.history["loss"][0]


def test_argument_checks():
    with pytest.raises(ValueError, match="output_dim"):
        MLPGenerator(0)
    with pytest.raises(ValueError, match="hidden_units"):
        MLPGenerator(4, hidden_units=(8, 0))
    with pytest.raises(TypeError, match="hidden_units"):
        MLPCritic(hidden_units=None)
    with pytest.raises(ValueError, match="activation"):
        MLPCritic(activation="not-an-activation")
    with pytest.raises(ValueError, match="dropout"):
        MLPCritic(dropout=1.0)
    with pytest.raises(ValueError, match="noise_dim"):
        MLPGenerator(4, noise_dim=-2)


def test_input_checks():
    critic = MLPCritic((4,), input_dim=5)
    with pytest.raises(ValueError, match=r"\[batch, 5\]"):
        critic(np.zeros((2, 6), np.float32))
    with pytest.raises(TypeError, match="float"):
        critic(np.zeros((2, 5), np.int32))
