"""FD-SAT4 and KID against independent numpy/scipy references, and their input errors."""
import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.linalg

from qlsgan_tf.metrics import distances
from qlsgan_tf.metrics.distances import (
    FDResult,
    SmallSampleWarning,
    fd_sat4,
    fd_sat4_from_activations,
    frechet_distance,
    frechet_distance_from_activations,
    kernel_distance,
    kernel_distance_from_activations,
    real_floor,
)


def _gaussian_fd(a, b):
    """Closed-form Fréchet distance of the Gaussians fitted to a and b (scipy sqrtm)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * covmean))


def _mmd2_unbiased(r, g):
    """Unbiased MMD^2 with the cubic polynomial kernel (x.y/d + 1)^3, pair by pair."""
    d = r.shape[1]

    def k(x, y):
        return (float(np.dot(x, y)) / d + 1.0) ** 3

    m, n = len(r), len(g)
    k_rr = sum(k(r[i], r[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    k_gg = sum(k(g[i], g[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    k_rg = sum(k(x, y) for x in r for y in g) / (m * n)
    return k_rr + k_gg - 2 * k_rg


def _blocks(n, n_blocks):
    v = n // n_blocks
    sizes = [v] * (n_blocks - (n - v * n_blocks)) + [v + 1] * (n - v * n_blocks)
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _kid_reference(r, g, max_block_size):
    n_blocks = math.ceil(max(len(r), len(g)) / max_block_size)
    ests = np.array([_mmd2_unbiased(r[a], g[b])
                     for a, b in zip(_blocks(len(r), n_blocks), _blocks(len(g), n_blocks))])
    std = math.sqrt(ests.var(ddof=1) / n_blocks) if n_blocks > 1 else float("nan")
    return float(ests.mean()), std


@pytest.fixture(name="acts")
def fixture_acts():
    rng = np.random.default_rng(0)
    dim = 6
    a = rng.normal(size=(80, dim)) @ rng.normal(size=(dim, dim))
    b = rng.normal(size=(60, dim)) @ rng.normal(size=(dim, dim)) + 0.5
    return a, b


def test_fd_matches_closed_form_gaussians(acts):
    a, b = acts
    assert frechet_distance_from_activations(a, b) == pytest.approx(_gaussian_fd(a, b),
                                                                     rel=1e-6)


def test_fd_identical_sets_is_zero(acts):
    a, _ = acts
    assert frechet_distance_from_activations(a, a) == pytest.approx(0.0, abs=1e-8)


def test_fd_grows_with_shift(acts):
    a, _ = acts
    rng = np.random.default_rng(1)
    b = a[rng.permutation(len(a))] + rng.normal(scale=0.01, size=a.shape)
    fds = [frechet_distance_from_activations(a, b + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert fds == sorted(fds) and fds[0] < 1e-2 < fds[1]
    # The mean term is exactly |shift|^2 * dim when covariances match.
    assert fds[3] - fds[0] == pytest.approx(4.0 * a.shape[1], rel=1e-3)


def test_kid_matches_numpy_single_block(acts):
    a, b = acts
    a, b = a[:25], b[:20]
    kid, std = kernel_distance_from_activations(a, b, max_block_size=1024)
    ref, _ = _kid_reference(a, b, 1024)
    assert kid == pytest.approx(ref, rel=1e-6, abs=1e-9)
    assert math.isnan(std)


def test_kid_matches_numpy_blocks(acts):
    a, b = acts
    kid, std = kernel_distance_from_activations(a, b, max_block_size=20)
    ref, ref_std = _kid_reference(a, b, 20)
    assert kid == pytest.approx(ref, rel=1e-6)
    assert std == pytest.approx(ref_std, rel=1e-6)


def test_kid_default_blocks_give_std(acts):
    a, b = acts
    kid, std = kernel_distance_from_activations(a, b)
    ref, ref_std = _kid_reference(a, b, distances.kid_block_size(len(a), len(b)))
    assert kid == pytest.approx(ref, rel=1e-6) and std == pytest.approx(ref_std, rel=1e-6)
    assert std > 0


def test_kid_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(3)
    kid_same, _ = kernel_distance_from_activations(rng.normal(size=(200, 4)),
                                                   rng.normal(size=(200, 4)))
    kid_diff, _ = kernel_distance_from_activations(rng.normal(size=(200, 4)),
                                                   rng.normal(size=(200, 4)) + 1.0)
    assert abs(kid_same) < 0.02 < kid_diff


def test_fd_sat4_from_activations_result(acts):
    a, b = acts
    res = fd_sat4_from_activations(a, b)
    assert isinstance(res, FDResult)
    assert res.fd == pytest.approx(_gaussian_fd(a, b), rel=1e-6)
    assert (res.n_real, res.n_fake, res.feature_dim) == (80, 60, 6)
    assert set(res.as_dict()) == {"fd", "kid", "kid_std", "n_real", "n_fake", "feature_dim"}
    assert "FD-SAT4" in str(res)


@pytest.mark.parametrize("real,fake,match", [
    (np.zeros((5, 3)), np.zeros((5, 4)), "feature dimension"),
    (np.zeros((1, 3)), np.zeros((5, 3)), "at least 2"),
    (np.zeros((5, 3)), np.zeros((1, 3)), "at least 2"),
    (np.zeros((5,)), np.zeros((5, 3)), r"shape \[N, d\]"),
    (np.full((5, 3), np.nan), np.zeros((5, 3)), "NaN"),
])
def test_activation_errors(real, fake, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance_from_activations(real, fake)
    with pytest.raises(ValueError, match=match):
        kernel_distance_from_activations(real, fake)


def test_small_sample_warns():
    rng = np.random.default_rng(0)
    with pytest.warns(SmallSampleWarning, match="singular"):
        frechet_distance_from_activations(rng.normal(size=(5, 8)), rng.normal(size=(50, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        frechet_distance_from_activations(rng.normal(size=(9, 8)), rng.normal(size=(9, 8)))
    # A caller that reports its fixed sizes itself asks for no warning: same values.
    real, fake = rng.normal(size=(5, 8)), rng.normal(size=(50, 8))
    with pytest.warns(SmallSampleWarning):
        warned = fd_sat4_from_activations(real, fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        quiet = fd_sat4_from_activations(real, fake, warn=False)
    np.testing.assert_equal([quiet.fd, quiet.kid, quiet.kid_std],
                            [warned.fd, warned.kid, warned.kid_std])  # kid_std nan at N = 5


def test_kid_block_size_too_small_is_an_error(acts):
    a, b = acts
    with pytest.raises(ValueError, match="fewer than 2 samples"):
        kernel_distance_from_activations(a[:4], b, max_block_size=3)
    with pytest.raises(ValueError, match="max_block_size"):
        kernel_distance_from_activations(a, b, max_block_size=1)


class _LinearFeatures:
    """A fixed linear embedding of the pixels: a real feature map independent of training."""

    def __init__(self, dim=3, seed=0):
        self.proj = np.random.default_rng(seed).normal(size=(28 * 28 * 4, dim))
        self.feature_dim = dim

    def features(self, images):
        return np.asarray(images, np.float64).reshape(len(images), -1) @ self.proj


def _images(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.uniform(-0.5, 0.5, size=(n, 28, 28, 4)) + shift, -1, 1).astype(
        np.float32)


def test_image_level_functions_agree_with_activations():
    net = _LinearFeatures()
    real, fake = _images(30, 0), _images(25, 1, shift=0.1)
    ra, fa = net.features(real), net.features(fake)
    assert frechet_distance(real, fake, net) == pytest.approx(_gaussian_fd(ra, fa), rel=1e-6)
    kid, std = kernel_distance(real, fake, net)
    ref = kernel_distance_from_activations(ra, fa)
    assert (kid, std) == pytest.approx(ref, rel=1e-9)
    res = fd_sat4(real, fake, net)
    assert res.fd == pytest.approx(_gaussian_fd(ra, fa), rel=1e-6) and res.kid == kid
    floor = real_floor(real, _images(30, 2), net)
    assert floor.fd < res.fd


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros((4, 28, 28, 3), np.float32), ValueError, "4 bands"),
    (np.zeros((4, 28, 28, 4), np.uint8), TypeError, "normalize"),
    (np.zeros((4, 32, 32, 4), np.float32), ValueError, "28x28"),
    (np.full((4, 28, 28, 4), 2.0, np.float32), ValueError, r"\[-1, 1\]"),
    (np.full((4, 28, 28, 4), np.nan, np.float32), ValueError, "NaN"),
    (np.zeros((28, 28, 4), np.float32), ValueError, "rank 3"),
])
def test_image_errors(bad, exc, match):
    with pytest.raises(exc, match=match):
        fd_sat4(_images(5, 0), bad, _LinearFeatures())


def test_bundled_feature_net_real_floor(sat4_sample_dir):
    """Real SAT-4: train vs test split through the shipped network; floor < real vs noise."""
    from qlsgan_tf.data import load_sat4, normalize

    train = normalize(load_sat4(sat4_sample_dir, "train").images)
    test = normalize(load_sat4(sat4_sample_dir, "test").images)
    with pytest.warns(SmallSampleWarning):  # 20 test patches < 32 features
        floor = real_floor(train, test)
    noise = np.random.default_rng(0).uniform(-1, 1, size=test.shape).astype(np.float32)
    with pytest.warns(SmallSampleWarning):
        vs_noise = fd_sat4(train, noise)
    assert np.isfinite(floor.fd) and floor.fd < vs_noise.fd
    assert floor.kid < vs_noise.kid
    assert (floor.n_real, floor.n_fake, floor.feature_dim) == (50, 20, 32)
    net = distances.default_feature_net()
    assert floor.fd == pytest.approx(
        _gaussian_fd(net.features(train), net.features(test)), rel=1e-5)
