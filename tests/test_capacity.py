"""Tests for qlsgan_tf.models.capacity: counts against Keras, widths against brute force."""
import numpy as np
import pytest

from qlsgan_tf.models.capacity import (
    capacity_grid,
    mlp_param_count,
    tapered_widths,
    units_for_capacity,
)


def _keras_count(in_dim, hidden, out_dim):
    import tensorflow as tf

    model = tf.keras.Sequential(
        [tf.keras.Input((in_dim,))] + [tf.keras.layers.Dense(w) for w in hidden]
        + [tf.keras.layers.Dense(out_dim)])
    return model.count_params()


@pytest.mark.parametrize("in_dim,hidden,out_dim", [
    (10, (512, 256), 1), (5, (), 1), (10, (3,), 10), (20, (7, 4, 2), 3)])
def test_mlp_param_count_matches_keras(in_dim, hidden, out_dim):
    assert mlp_param_count(in_dim, hidden, out_dim) == _keras_count(in_dim, hidden, out_dim)


def test_sibling_critic_is_reached_exactly():
    assert units_for_capacity(mlp_param_count(10, (512, 256), 1), 10, 1, depth=2) == (512, 256)


TARGETS = [30, 50, 97, 150, 400, 1000, 3000, 12_345, 50_000, 137_217, 250_000, 500_000]


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("in_dim,out_dim", [(10, 1), (5, 10)])
def test_units_for_capacity_is_best_for_its_shape(depth, in_dim, out_dim):
    """No first-layer width of the same tapered shape gets closer to the target (brute force)."""
    for target in TARGETS:
        minimum = mlp_param_count(in_dim, (1,) * depth, out_dim)
        if target < minimum:
            continue
        units = units_for_capacity(target, in_dim, out_dim, depth)
        assert len(units) == depth
        got = mlp_param_count(in_dim, units, out_dim)
        top = units[0] * 2 + 10
        errors = [abs(mlp_param_count(in_dim, tapered_widths(b, depth), out_dim) - target)
                  for b in range(1, top)]
        assert abs(got - target) == min(errors), (target, units)
        # Within a few percent wherever the shape's steps are that fine.
        step = (mlp_param_count(in_dim, tapered_widths(units[0] + 1, depth), out_dim)
                - mlp_param_count(in_dim, tapered_widths(max(units[0] - 1, 1), depth), out_dim))
        assert abs(got - target) <= max(0.03 * target, step / 2), (target, units, got)


def test_units_for_capacity_tiny_critics():
    # Critics of tens of parameters on a 10-d latent: one hidden unit costs 13 parameters.
    assert units_for_capacity(26, 10, 1, depth=1) == (2,)
    assert units_for_capacity(30, 10, 1, depth=1) == (2,)
    assert units_for_capacity(11, 10, 1, depth=0) == ()


def test_units_for_capacity_taper_and_limits():
    assert units_for_capacity(mlp_param_count(4, (6, 6, 6), 1), 4, 1, 3, taper=1) == (6, 6, 6)
    units = units_for_capacity(10_000, 10, 1, 3, min_units=4)
    assert min(units) >= 4
    assert units_for_capacity(1000, 10, 1, 1, max_units=100) == (83,)  # 12*83 + 1 = 997


def test_units_for_capacity_errors_name_the_minimum():
    with pytest.raises(ValueError, match="minimum capacity 15"):
        units_for_capacity(14, 10, 1, depth=2)
    with pytest.raises(ValueError, match="minimum capacity 11"):
        units_for_capacity(5, 10, 1, depth=0)
    with pytest.raises(ValueError, match="maximum capacity"):
        units_for_capacity(10**6, 10, 1, depth=1, max_units=10)
    with pytest.raises(ValueError, match="taper"):
        units_for_capacity(100, 10, 1, depth=2, taper=0.5)
    with pytest.raises(TypeError, match="depth"):
        units_for_capacity(100, 10, 1, depth=1.5)
    with pytest.raises(ValueError, match="target_params"):
        units_for_capacity(0, 10, 1, depth=1)


def test_capacity_grid():
    assert capacity_grid(10, 1000, 3) == [10, 100, 1000]
    grid = capacity_grid(30, 500_000, 12)
    assert len(grid) == 12 and grid[0] == 30 and grid[-1] == 500_000
    ratios = np.diff(np.log(grid))
    np.testing.assert_allclose(ratios, ratios.mean(), rtol=0.05)
    with pytest.raises(ValueError, match="not all distinct"):
        capacity_grid(10, 12, 5)
    with pytest.raises(ValueError, match="max_params"):
        capacity_grid(100, 10, 3)
