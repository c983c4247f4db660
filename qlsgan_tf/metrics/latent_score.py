"""Distances between generated and encoded real latents, and their finite-sample floor (numpy).

The capacity study scores a generator in the VAE's latent space (dimension ``d <= 12``), where
thousands of samples are cheap and a distance has little small-sample bias, instead of through
an image feature network. Three distances, all deterministic for a given ``seed``:

- ``"swd"`` — sliced Wasserstein-2: ``sqrt(mean_theta W2(theta.x, theta.y)^2)`` over
  :data:`SWD_PROJECTIONS` unit directions ``theta`` drawn from a Gaussian with ``seed``; each 1-d
  ``W2`` is exact between the two empirical distributions (any sample sizes). Same units as
  the latents.
- ``"mmd"`` — unbiased MMD² (Gretton et al. 2012) with a Gaussian kernel
  ``exp(-|x - y|^2 / (2 h^2))``; the bandwidth ``h`` defaults to ``sqrt(sum of per-dimension
  variances of real)`` (the rms distance of a real latent from the real mean), fixed by the real
  set only, so every generator of a study is measured with the same kernel. Unbiased, hence
  slightly negative values are possible when the two sets agree.
- ``"fd"`` — Fréchet distance of the two fitted Gaussians,
  ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` (sample means, unbiased covariances).

The **floor** (:func:`latent_floor`) is the same distance between two sets of *real* latents of
the sizes a generator evaluation uses: a generator that samples the real distribution exactly
scores about the floor, not 0.
"""
from typing import Any, Optional, Tuple

import numpy as np

from qlsgan_tf.validation import check_finite_float, check_int, check_samples

METHODS = ("swd", "mmd", "fd")
SWD_PROJECTIONS = 256
#: Threads sorting the projections of a pack's generated sets (``latent_distances``).
SWD_THREADS = 2
MAX_LATENT_DIM = 12
_BLOCK = 1024


def _check_latents(arr, name, method):
    return check_samples(name, arr, where=f"latent_distance ({method})",
                         max_dim=MAX_LATENT_DIM)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return method


def check_pair(real: Any, fake: Any, method: str = "swd") -> Tuple[np.ndarray, np.ndarray]:
    """Validates ``real [N, d]`` and ``fake [M, d]`` latents; returns float64 copies."""
    _check_method(method)
    real = _check_latents(real, "real latents", method)
    fake = _check_latents(fake, "fake latents", method)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"latent_distance ({method}): real and fake latents differ in dimension: "
                         f"{real.shape[1]} vs {fake.shape[1]}")
    return real, fake


def wasserstein_1d_sorted(xs: np.ndarray, ys: np.ndarray, p: int = 2) -> np.ndarray:
    """``W_p^p`` between the empirical distributions of sorted rows ``xs [P, N]``, ``ys [P, M]``.

    Exact for any ``N`` and ``M``: integrates ``|F^-1(t) - G^-1(t)|^p`` over the union of the
    two quantile functions' breakpoints ``i/N`` and ``j/M``. Returns ``[P]``.
    """
    n, m = xs.shape[-1], ys.shape[-1]
    cuts = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(np.r_[0.0, cuts])
    mids = cuts - widths / 2.0
    ix = np.minimum((mids * n).astype(np.int64), n - 1)
    iy = np.minimum((mids * m).astype(np.int64), m - 1)
    return np.sum(np.abs(xs[..., ix] - ys[..., iy]) ** p * widths, axis=-1)


def swd_projections(dim: int, seed: int = 0, n_projections: int = SWD_PROJECTIONS) -> np.ndarray:
    """The fixed set of unit directions ``[n_projections, dim]`` used by ``"swd"``."""
    theta = np.random.default_rng(seed).standard_normal((n_projections, dim))
    return theta / np.linalg.norm(theta, axis=1, keepdims=True)


def _swd(real, fake, seed):
    theta = swd_projections(real.shape[1], seed)
    xs = np.sort(theta @ real.T, axis=1)
    ys = np.sort(theta @ fake.T, axis=1)
    return float(np.sqrt(np.mean(wasserstein_1d_sorted(xs, ys, p=2))))


def latent_distances(real: Any, fakes: Any, *, method: str = "swd", seed: int = 0,
                     bandwidth: Optional[float] = None) -> np.ndarray:
    """:func:`latent_distance` of each of ``K`` generated sets ``fakes [K, M, d]`` against one
    ``real [N, d]``: ``[K]`` float64, equal to ``K`` separate calls. A set with non-finite
    values gets ``nan`` (it has no distance; the others are scored). For ``"swd"`` the real
    projections are sorted once and all sets are projected in one product and sorted in one
    call per thread (numpy's sort releases the GIL; ``SWD_THREADS`` threads share the sets);
    ``"mmd"`` and ``"fd"`` run set by set.
    """
    fakes = np.asarray(fakes)
    if fakes.ndim != 3:
        raise ValueError(f"latent_distances: fakes must have shape [K, M, d]; got {fakes.shape}")
    out = np.full(len(fakes), np.nan)
    finite = [k for k in range(len(fakes)) if np.all(np.isfinite(fakes[k]))]
    if not finite:
        return out
    if method != "swd":
        for k in finite:
            out[k] = latent_distance(real, fakes[k], method=method, seed=seed,
                                     bandwidth=bandwidth)
        return out
    real, _ = check_pair(real, fakes[finite[0]], method)
    theta = swd_projections(real.shape[1], seed)
    xs = np.sort(theta @ real.T, axis=1)  # [P, N]
    n, m = xs.shape[1], fakes.shape[1]
    # The quantile breakpoints of wasserstein_1d_sorted, shared by every set.
    cuts = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(np.r_[0.0, cuts])
    mids = cuts - widths / 2.0
    ix = np.minimum((mids * n).astype(np.int64), n - 1)
    iy = np.minimum((mids * m).astype(np.int64), m - 1)
    x_at = xs[:, ix]  # [P, U]
    every_y = np.array_equal(iy, np.arange(m))  # no gather needed (M a multiple of N)

    def score(ks):
        ys = np.matmul(theta[None], np.transpose(fakes[ks], (0, 2, 1)).astype(np.float64))
        ys.sort(axis=2)  # [k, P, M], in place
        diff = (ys if every_y else ys[..., iy]) - x_at
        w2 = np.matmul(diff * diff, widths)  # [k, P]
        return np.sqrt(np.mean(w2, axis=1))

    chunks = [c for c in np.array_split(np.asarray(finite), SWD_THREADS) if len(c)]
    if len(chunks) == 1:
        out[chunks[0]] = score(chunks[0])
        return out
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(chunks)) as pool:
        for ks, values in zip(chunks, pool.map(score, chunks)):
            out[ks] = values
    return out


def default_bandwidth(real: np.ndarray) -> float:
    """MMD kernel bandwidth fixed by the real latents: ``sqrt(sum_j var(real[:, j]))``."""
    h = float(np.sqrt(np.sum(np.var(np.asarray(real, dtype=np.float64), axis=0))))
    return h if h > 0.0 else 1.0


def _kernel_sum(a, b, gamma):
    """Sum of ``exp(-gamma |a_i - b_j|^2)`` over all pairs, in row blocks (bounded memory)."""
    total = 0.0
    b2 = np.sum(b * b, axis=1)
    for start in range(0, len(a), _BLOCK):
        blk = a[start:start + _BLOCK]
        sq = np.sum(blk * blk, axis=1)[:, None] + b2[None, :] - 2.0 * blk @ b.T
        total += float(np.sum(np.exp(-gamma * np.maximum(sq, 0.0))))
    return total


def _mmd(real, fake, bandwidth):
    gamma = 1.0 / (2.0 * bandwidth ** 2)
    n, m = len(real), len(fake)
    # k(x, x) = 1 on the diagonal: the unbiased within-set means leave it out.
    kxx = (_kernel_sum(real, real, gamma) - n) / (n * (n - 1))
    kyy = (_kernel_sum(fake, fake, gamma) - m) / (m * (m - 1))
    kxy = _kernel_sum(real, fake, gamma) / (n * m)
    return float(kxx + kyy - 2.0 * kxy)


def gaussian_frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray,
                     cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein²) distance of two Gaussians from their moments."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    # The eigenvalues of S1 S2 are those of the PSD S1^(1/2) S2 S1^(1/2): real, >= 0.
    eig = np.linalg.eigvals(cov1 @ cov2)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(eig.real, 0.0, None))))
    fd = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)
    return max(fd, 0.0)


def _fd(real, fake):
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))
    cov_f = np.atleast_2d(np.cov(fake, rowvar=False))
    return gaussian_frechet(real.mean(axis=0), cov_r, fake.mean(axis=0), cov_f)


def _check_bandwidth(bandwidth):
    if bandwidth is None:
        return None
    return check_finite_float("bandwidth", bandwidth, 0.0, exclusive_minimum=True)


def latent_distance(real: Any, fake: Any, *, method: str = "swd", seed: int = 0,
                    bandwidth: Optional[float] = None) -> float:
    """Distance between real latents ``[N, d]`` and generated latents ``[M, d]`` (lower is better).

    Args:
      real: encoded real latents, ``[N, d]`` with ``N >= 2`` and ``1 <= d <= 12``.
      fake: generated latents, ``[M, d]``, same ``d``.
      method: ``"swd"`` (sliced Wasserstein-2, default), ``"mmd"`` (unbiased MMD², Gaussian
        kernel) or ``"fd"`` (Fréchet distance of fitted Gaussians); see the module docstring.
      seed: fixes the SWD projections (use the same seed for every run of a study).
      bandwidth: MMD kernel bandwidth; None for :func:`default_bandwidth` of ``real``.

    Returns:
      float.

    >>> rng = np.random.default_rng(0)
    >>> round(latent_distance(rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 3.0), 1)
    3.0
    """
    real, fake = check_pair(real, fake, method)
    bandwidth = _check_bandwidth(bandwidth)
    if method == "swd":
        return _swd(real, fake, seed)
    if method == "mmd":
        return _mmd(real, fake, bandwidth or default_bandwidth(real))
    return _fd(real, fake)


def _floor_sizes(n_pool, n_real, n_fake):
    for name, val in (("n_fake", n_fake), ("n_real", n_real)):
        val = check_int(name, val, 2)
    return n_pool >= n_real + n_fake


def latent_floor(real: Any, n_fake: int, *, method: str = "swd", seed: int = 0, n_rep: int = 20,
                 n_real: Optional[int] = None, bandwidth: Optional[float] = None) -> float:
    """Finite-sample floor: the distance between two *real* latent sets at the evaluation's sizes.

    Each of ``n_rep`` repetitions draws a reference set of ``n_real`` (default ``len(real)``,
    the size of the real set a generator is compared with) and a stand-in for the generated set
    of ``n_fake`` latents, and computes :func:`latent_distance` between them:

    - when ``len(real) >= n_real + n_fake`` the two sets are disjoint random subsets (without
      replacement), i.e. independent samples of the real distribution;
    - otherwise both are drawn with replacement from ``real`` (a bootstrap: by the bootstrap
      principle the distance between two resamples of the real set approximates the distance
      between two fresh samples of the sizes).

    Returns:
      float, the mean over the repetitions. The MMD bandwidth defaults to that of the full
      ``real`` set, as in the evaluation. The SWD projections use ``seed`` as in the
      evaluation; the draws use a generator seeded with ``seed`` too.
    """
    real = _check_latents(real, "real latents", _check_method(method))
    n_real = len(real) if n_real is None else n_real
    disjoint = _floor_sizes(len(real), n_real, n_fake)
    n_rep = check_int("n_rep", n_rep, 1)
    bandwidth = _check_bandwidth(bandwidth) or default_bandwidth(real)
    rng = np.random.default_rng([seed, 1])
    values = []
    for _ in range(n_rep):
        if disjoint:
            perm = rng.permutation(len(real))
            a, b = real[perm[:n_real]], real[perm[n_real:n_real + n_fake]]
        else:
            a = real[rng.integers(0, len(real), n_real)]
            b = real[rng.integers(0, len(real), n_fake)]
        values.append(latent_distance(a, b, method=method, seed=seed, bandwidth=bandwidth))
    return float(np.mean(values))
