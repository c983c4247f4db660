"""Latent distances against independent references, and their finite-sample floor."""
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from qlsgan_tf.metrics.latent_score import (
    gaussian_frechet,
    latent_distance,
    latent_distances,
    latent_floor,
    swd_projections,
    wasserstein_1d_sorted,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("n,m", [(7, 7), (7, 11), (50, 13)])
def test_1d_wasserstein_matches_scipy(n, m):
    x, y = RNG.normal(size=n), RNG.normal(1.0, 2.0, size=m)
    ours = wasserstein_1d_sorted(np.sort(x)[None], np.sort(y)[None], p=1)[0]
    assert ours == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-12)


def test_1d_w2_equal_sizes_is_mean_squared_sorted_difference():
    x, y = RNG.normal(size=40), RNG.exponential(size=40)
    ours = wasserstein_1d_sorted(np.sort(x)[None], np.sort(y)[None], p=2)[0]
    assert ours == pytest.approx(np.mean((np.sort(x) - np.sort(y)) ** 2), rel=1e-12)


def test_swd_in_one_dimension_is_w2():
    x, y = RNG.normal(size=(30, 1)), RNG.normal(2.0, size=(45, 1))
    w2 = np.sqrt(wasserstein_1d_sorted(np.sort(x[:, 0])[None], np.sort(y[:, 0])[None])[0])
    assert latent_distance(x, y, method="swd") == pytest.approx(w2, rel=1e-12)


def test_swd_reference_loop_and_determinism():
    x, y = RNG.normal(size=(20, 3)), RNG.normal(size=(20, 3)) + 0.5
    theta = swd_projections(3, seed=4)
    ref = np.mean([np.mean((np.sort(x @ t) - np.sort(y @ t)) ** 2) for t in theta])
    assert latent_distance(x, y, method="swd", seed=4) == pytest.approx(np.sqrt(ref), rel=1e-12)
    assert latent_distance(x, y, seed=4) == latent_distance(x, y, seed=4)
    # A pure shift has SWD^2 = mean over directions of (theta . shift)^2 = |shift|^2 / d.
    z = RNG.normal(size=(300, 3))
    assert latent_distance(z, z + 0.6) == pytest.approx(np.sqrt(3 * 0.36 / 3), rel=0.1)


def test_mmd_matches_explicit_loop():
    x, y, h = RNG.normal(size=(9, 2)), RNG.normal(0.5, size=(12, 2)), 0.8

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * h * h))

    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    ours = latent_distance(x, y, method="mmd", bandwidth=h)
    assert ours == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)


def test_fd_matches_closed_form():
    x, y = RNG.normal(size=(40, 3)), RNG.normal(size=(50, 3)) @ np.diag([1.0, 2.0, 0.5]) + 1.0
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = (np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(c1 + c2)
           - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2)).real)
    assert latent_distance(x, y, method="fd") == pytest.approx(ref, rel=1e-8)
    # 1-d Gaussians: (m1 - m2)^2 + (s1 - s2)^2.
    assert gaussian_frechet(0.0, 4.0, 3.0, 1.0) == pytest.approx(9.0 + 1.0)


@pytest.mark.parametrize("method", ["swd", "mmd", "fd"])
def test_distance_grows_with_mismatch(method):
    real = RNG.normal(size=(400, 4))
    near = latent_distance(real, RNG.normal(size=(400, 4)) + 0.1, method=method)
    far = latent_distance(real, RNG.normal(size=(400, 4)) + 1.0, method=method)
    assert far > 3 * abs(near)


@pytest.mark.parametrize("method", ["swd", "fd"])
def test_floor_matches_fresh_samples(method):
    rng = np.random.default_rng(1)
    truth = np.mean([latent_distance(rng.normal(size=(300, 4)), rng.normal(size=(500, 4)),
                                     method=method) for _ in range(40)])
    boot = latent_floor(rng.normal(size=(300, 4)), 500, method=method, n_rep=40)
    split = latent_floor(rng.normal(size=(900, 4)), 500, method=method, n_rep=40, n_real=300)
    assert boot == pytest.approx(truth, rel=0.2)
    assert split == pytest.approx(truth, rel=0.2)


def test_floor_is_deterministic_and_mmd_floor_near_zero():
    real = np.random.default_rng(2).normal(size=(200, 3))
    assert latent_floor(real, 100, seed=5, n_rep=3) == latent_floor(real, 100, seed=5, n_rep=3)
    assert abs(latent_floor(real, 150, method="mmd", n_rep=10)) < 0.01


@pytest.mark.parametrize("real,fake,match", [
    (np.zeros((5, 2)), np.zeros((5, 3)), "differ in dimension"),
    (np.zeros((5,)), np.zeros((5, 2)), r"shape \[N, d\]"),
    (np.zeros((1, 2)), np.zeros((5, 2)), "at least 2"),
    (np.zeros((5, 13)), np.zeros((5, 13)), "dimension 13"),
    (np.r_[np.zeros((4, 2)), [[np.nan, 0.0]]], np.zeros((5, 2)), "NaN"),
])
def test_bad_inputs(real, fake, match):
    with pytest.raises(ValueError, match=match):
        latent_distance(real, fake)


def test_bad_arguments():
    x = np.zeros((5, 2))
    with pytest.raises(TypeError, match="numeric"):
        latent_distance(np.array([["a", "b"]] * 3), x)
    with pytest.raises(ValueError, match="method must be one of"):
        latent_distance(x, x, method="w1")
    with pytest.raises(ValueError, match="bandwidth"):
        latent_distance(x, x, method="mmd", bandwidth=-1.0)
    with pytest.raises(ValueError, match="n_fake"):
        latent_floor(x, 1)
    with pytest.raises(ValueError, match="n_rep"):
        latent_floor(x, 3, n_rep=0)


@pytest.mark.parametrize("method", ["swd", "mmd", "fd"])
@pytest.mark.parametrize("n,m,threads", [(40, 200, 2), (37, 90, 1), (64, 64, 3)])
def test_batched_distances_equal_one_call_per_set(monkeypatch, method, n, m, threads):
    from qlsgan_tf.metrics import latent_score

    monkeypatch.setattr(latent_score, "SWD_THREADS", threads)
    real = RNG.normal(size=(n, 3))
    fakes = RNG.normal(0.3, 1.2, size=(5, m, 3)).astype(np.float32)
    fakes[2, 3, 1] = np.nan  # a diverged run: nan, the others scored
    got = latent_distances(real, fakes, method=method, seed=4)
    want = [latent_distance(real, f, method=method, seed=4) for f in fakes[[0, 1, 3, 4]]]
    np.testing.assert_allclose(got[[0, 1, 3, 4]], want, rtol=0, atol=1e-6)
    assert np.isnan(got[2])
    assert np.all(np.isnan(latent_distances(real, fakes[2:3], method=method)))
    with pytest.raises(ValueError, match="K, M, d"):
        latent_distances(real, fakes[0], method=method)
