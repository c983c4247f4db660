"""DIAGNOSTIC ONLY: the argmin of score vs log(capacity), with a seed-cluster bootstrap.

A copy of the two-stage chain's first stage, kept as a labelled diagnostic beside the knee
(:mod:`qlsgan_tf.analysis.surface`): on a plateau the argmin is noise, the knee is the estimand.

Given a table ``scores[n_seeds, n_capacities]`` (lower is better; NaN for an unstable, failed or
not-converged run), :func:`estimate_optimum` estimates where the score is minimal:

1. **Point estimate.** Pool the seeds: the mean valid score at each capacity. Take the best
   capacity and its nearest valid neighbours on each side, fit the parabola through the three
   (mean score, log capacity) points, and take its vertex (it lies between the neighbours
   because the middle point is the lowest). This removes the ±half-grid-step error of an argmin
   snapped to the grid.
2. **Censoring.** When the best capacity is the smallest (largest) capacity with a valid run,
   the minimum is not bracketed: ``censored = "low"`` (``"high"``), the value is that edge and
   the interval is one-sided, ``(0, edge)`` (``(edge, inf)``).
3. **Interval.** A cluster bootstrap over seeds: each resample draws ``n_seeds`` seeds with
   replacement and uses the same draw at every capacity (the seeds are shared). Capacities with
   no valid run in a resample are skipped (their neighbours take over), resamples with no valid
   run at all are discarded. The percentile interval of the resampled log optima is widened
   about the point estimate by ``t_{k-1} sqrt(k / (k - 1)) / z`` for ``k`` seeds (the bootstrap
   of ``k`` clusters is too narrow by about that factor; measured coverage in the tests) and
   clipped to the valid capacity range.
"""
import dataclasses
import math
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from qlsgan_tf.validation import check_int, check_probability

DEFAULT_N_BOOT = 1000


@dataclasses.dataclass(frozen=True)
class OptimumEstimate:
    """The optimum of one score table.

    Attributes:
      value: the capacity minimising the score (None when no run is valid).
      ci: ``(low, high)`` interval of ``value`` (NaN, NaN when None; one-sided when censored).
      censored: None, ``"low"`` (optimum at or below the smallest valid capacity) or ``"high"``.
      index: grid index of the best capacity (None when no run is valid).
      n_valid: valid runs (finite scores) in the table; ``n_seeds`` seeds in all.
      log_sd: std of the bootstrap log optima (natural log): the estimate's noise.
      n_boot: bootstrap resamples used (those with at least one valid run).
      level: coverage of ``ci``.
    """

    value: Optional[float]
    ci: Tuple[float, float]
    censored: Optional[str]
    index: Optional[int]
    n_valid: int
    n_seeds: int
    log_sd: float
    n_boot: int
    level: float

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (non-finite numbers become None)."""
        return {"value": self.value, "ci": [_json(v) for v in self.ci],
                "censored": self.censored, "index": self.index, "n_valid": self.n_valid,
                "n_seeds": self.n_seeds, "log_sd": _json(self.log_sd), "n_boot": self.n_boot,
                "level": self.level}


def _json(value: Optional[float]) -> Optional[float]:
    return float(value) if value is not None and math.isfinite(value) else None


def _neighbour_indices(valid: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For a boolean mask ``[..., n]``: index of the nearest valid point left / right of each
    position (-1 / n when none)."""
    n = valid.shape[-1]
    idx = np.arange(n)
    left = np.maximum.accumulate(np.where(valid, idx, -1), axis=-1)
    left = np.concatenate([np.full(left.shape[:-1] + (1,), -1), left[..., :-1]], axis=-1)
    right = np.flip(np.minimum.accumulate(np.flip(np.where(valid, idx, n), -1), axis=-1), -1)
    right = np.concatenate([right[..., 1:], np.full(right.shape[:-1] + (1,), n)], axis=-1)
    return left, right


def optimum_from_means(x: np.ndarray, means: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised core: vertex of the local parabola for mean scores ``[..., n]`` at ``x [n]``.

    Returns ``(x_hat, best, censored)`` with ``censored`` -1 (low), 0 or +1 (high); rows with
    no finite mean give ``x_hat = NaN`` and ``best = -1``.
    """
    return vertex_and_value(x, means)[:3]


def vertex_and_value(x: np.ndarray, means: np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`optimum_from_means` plus the parabola's value at ``x_hat`` (the best score; the
    edge's mean when censored)."""
    means = np.asarray(means, dtype=np.float64)
    valid = np.isfinite(means)
    any_valid = valid.any(axis=-1)
    best = np.argmin(np.where(valid, means, np.inf), axis=-1)
    left, right = _neighbour_indices(valid)
    lo = np.take_along_axis(left, best[..., None], -1)[..., 0]
    hi = np.take_along_axis(right, best[..., None], -1)[..., 0]
    n = means.shape[-1]
    censored = np.where(lo < 0, -1, np.where(hi >= n, 1, 0))
    lo_c, hi_c = np.clip(lo, 0, n - 1), np.clip(hi, 0, n - 1)
    x0, x1, x2 = x[lo_c], x[best], x[hi_c]
    y0 = np.take_along_axis(means, lo_c[..., None], -1)[..., 0]
    y1 = np.take_along_axis(means, best[..., None], -1)[..., 0]
    y2 = np.take_along_axis(means, hi_c[..., None], -1)[..., 0]
    # Vertex of the parabola through three points (divided differences).
    with np.errstate(divide="ignore", invalid="ignore"):
        d01, d12 = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
        curv = (d12 - d01) / (x2 - x0)
        vertex = 0.5 * (x0 + x1) - d01 / (2.0 * curv)
    vertex = np.where(np.isfinite(vertex) & (curv > 0), np.clip(vertex, x0, x2), x1)
    x_hat = np.where(censored == 0, vertex, x1)
    x_hat = np.where(any_valid, x_hat, np.nan)
    with np.errstate(invalid="ignore"):
        value = y0 + d01 * (x_hat - x0) + curv * (x_hat - x0) * (x_hat - x1)
    value = np.where((censored == 0) & np.isfinite(value), np.minimum(value, y1), y1)
    return (x_hat, np.where(any_valid, best, -1), np.where(any_valid, censored, 0),
            np.where(any_valid, value, np.nan))


def seed_means(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean valid score per capacity for seed weights ``[B, n_seeds]`` (resample counts).

    ``scores`` is ``[..., n_seeds, n_cap]``; returns ``[..., B, n_cap]`` (NaN: no valid run).
    """
    valid = np.isfinite(scores)
    filled = np.where(valid, scores, 0.0)
    sums = np.einsum("bs,...sc->...bc", weights, filled)
    counts = np.einsum("bs,...sc->...bc", weights, valid.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)


def bootstrap_weights(n_seeds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster-bootstrap counts ``[n_boot, n_seeds]``: how often each seed is drawn."""
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot).astype(
        np.float64)


def widening(n_seeds: int, level: float) -> float:
    """Factor by which the bootstrap interval is widened for ``n_seeds`` seeds (1 for many)."""
    if n_seeds < 2:
        return 1.0
    z = stats.norm.ppf(0.5 * (1.0 + level))
    return float(stats.t.ppf(0.5 * (1.0 + level), n_seeds - 1)
                 * math.sqrt(n_seeds / (n_seeds - 1)) / z)


def interval(x_hat: np.ndarray, boot: np.ndarray, level: float, factor: float,
             x_range: Tuple[Any, Any]) -> Tuple[np.ndarray, np.ndarray]:
    """Widened percentile interval of bootstrap estimates ``boot [..., B]`` about ``x_hat``."""
    tail = 50.0 * (1.0 - level)
    lo, hi = np.nanpercentile(boot, [tail, 100.0 - tail], axis=-1)
    lo = x_hat - factor * np.maximum(x_hat - lo, 0.0)
    hi = x_hat + factor * np.maximum(hi - x_hat, 0.0)
    return np.clip(lo, x_range[0], x_range[1]), np.clip(hi, x_range[0], x_range[1])


def _check_inputs(capacities: ArrayLike, scores: Any) -> Tuple[np.ndarray, np.ndarray]:
    cap = np.asarray(capacities, dtype=np.float64)
    if cap.ndim != 1 or cap.size < 1:
        raise ValueError(f"capacities must be a non-empty 1-D sequence; got shape {cap.shape}")
    if not np.all(np.isfinite(cap)) or np.any(cap <= 0):
        raise ValueError(f"capacities must be finite and positive; got {cap.tolist()}")
    if np.any(np.diff(cap) <= 0):
        raise ValueError(f"capacities must be strictly increasing; got {cap.tolist()}")
    try:
        tab = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"scores must be numeric; got {scores!r:.80}") from None
    if tab.ndim != 2 or tab.shape[1] != cap.size:
        raise ValueError(f"scores must have shape [n_seeds, {cap.size}] (one column per "
                         f"capacity); got shape {tab.shape}")
    if tab.shape[0] < 1:
        raise ValueError("scores has no seeds (0 rows)")
    if np.any(np.isinf(tab)):
        raise ValueError("scores contain inf; mark unstable or failed runs with NaN")
    return cap, tab


def _check_options(n_boot: int, level: float) -> None:
    check_int("n_boot", n_boot, 1)
    check_probability("level", level, open_low=True, open_high=True)


def estimate_optimum(capacities: ArrayLike, scores: Any, *, seed: int = 0,
                     n_boot: int = DEFAULT_N_BOOT, level: float = 0.95) -> OptimumEstimate:
    """Continuous optimum of score vs log(capacity) pooling seeds; see the module docstring.

    Args:
      capacities: increasing positive capacities, ``[n_capacities]``.
      scores: ``[n_seeds, n_capacities]``, lower is better, NaN for runs that do not count.
      seed: seeds the bootstrap.
      n_boot: bootstrap resamples.
      level: interval coverage.

    Returns:
      :class:`OptimumEstimate`.

    >>> est = estimate_optimum([10, 100, 1000], [[3.0, 1.0, 3.0], [3.2, 1.1, 2.9]])
    >>> round(est.value), est.censored
    (100, None)
    """
    cap, tab = _check_inputs(capacities, scores)
    _check_options(n_boot, level)
    n_seeds, n_valid = tab.shape[0], int(np.isfinite(tab).sum())
    if n_valid == 0:
        return OptimumEstimate(None, (math.nan, math.nan), None, None, 0, n_seeds, math.nan, 0,
                               float(level))
    weights = bootstrap_weights(n_seeds, n_boot, np.random.default_rng(seed))
    return from_estimate(cap, estimate_batch(np.log(cap), tab, weights, level), n_valid,
                         n_seeds, level)


def estimate_batch(x: np.ndarray, tables: np.ndarray, weights: np.ndarray, level: float
                   ) -> Dict[str, np.ndarray]:
    """:func:`estimate_optimum` on many tables at once (numpy arrays, no checks).

    Args:
      x: log capacities ``[n_cap]``.
      tables: scores ``[..., n_seeds, n_cap]`` (NaN: not valid).
      weights: cluster-bootstrap counts ``[B, n_seeds]`` (:func:`bootstrap_weights`).
      level: interval coverage.

    Returns:
      the dict of :func:`estimate_from_means`.
    """
    n_seeds = tables.shape[-2]
    point = seed_means(tables, np.ones((1, n_seeds)))[..., 0, :]
    return estimate_from_means(x, point, seed_means(tables, weights), n_seeds, level)


def estimate_from_means(x: np.ndarray, point: np.ndarray, boot: np.ndarray, n_seeds: int,
                        level: float) -> Dict[str, np.ndarray]:
    """Optimum, censoring and widened interval from a mean-score curve and its resamples.

    Args:
      x: log capacities ``[n_cap]``.
      point: mean scores ``[..., n_cap]`` on all seeds (NaN: no valid run).
      boot: the same on each cluster-bootstrap resample, ``[..., B, n_cap]``.
      n_seeds: number of seeds (for the widening).
      level: interval coverage.

    Returns:
      dict of arrays of shape ``[...]``: ``x_hat`` (log optimum; NaN when nothing is valid),
      ``index``, ``censored`` (-1, 0, +1), ``low``/``high`` (log interval of an uncensored
      optimum), ``log_sd`` and ``n_boot`` (resamples with a valid run).
    """
    x_hat, best, cens = optimum_from_means(x, point)
    boot_x, _, _ = optimum_from_means(x, boot)
    valid_x = np.where(np.isfinite(point), x, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x_range = (np.nanmin(valid_x, axis=-1), np.nanmax(valid_x, axis=-1))
        low, high = interval(x_hat, boot_x, level, widening(n_seeds, level), x_range)
        n_ok = np.sum(np.isfinite(boot_x), axis=-1)
        log_sd = np.where(n_ok > 1, np.nanstd(boot_x, axis=-1), np.nan)
    return {"x_hat": x_hat, "index": best, "censored": cens, "low": low, "high": high,
            "log_sd": log_sd, "n_boot": n_ok}


def from_estimate(capacities: ArrayLike, out: Dict[str, Any], n_valid: int, n_seeds: int,
                  level: float) -> OptimumEstimate:
    """An :class:`OptimumEstimate` from one (scalar) :func:`estimate_from_means` result."""
    cap = np.asarray(capacities, dtype=np.float64)
    if not np.isfinite(out["x_hat"]):
        return OptimumEstimate(None, (math.nan, math.nan), None, None, int(n_valid), n_seeds,
                               math.nan, 0, float(level))
    best, cens = int(out["index"]), int(out["censored"])
    censored = {-1: "low", 0: None, 1: "high"}[cens]
    if censored == "low":
        ci = (0.0, float(cap[best]))
    elif censored == "high":
        ci = (float(cap[best]), math.inf)
    else:
        ci = (float(np.exp(out["low"])), float(np.exp(out["high"])))
    value = float(cap[best]) if censored else float(np.exp(out["x_hat"]))
    return OptimumEstimate(value, ci, censored, best, int(n_valid), n_seeds,
                           float(out["log_sd"]), int(out["n_boot"]), float(level))


def suggest_capacities(capacities: ArrayLike, estimate: OptimumEstimate, *, n: int = 1
                       ) -> List[int]:
    """Where to run next to sharpen an optimum: ``n`` new capacities (ints, not yet in the grid).

    - censored ``"low"`` / ``"high"``: extend the grid beyond that edge by its edge step in log
      capacity (the optimum is not bracketed yet);
    - otherwise: golden-section refinement of the bracket around the best grid point — new
      points inside the larger of the two intervals next to the best point, at the golden ratio
      from it, then in the other interval;
    - no valid run (``estimate.value`` None): an empty list.

    A search adapting within a run budget calls this after each round and runs the suggestions.
    """
    cap = np.asarray(capacities, dtype=np.float64)
    if cap.ndim != 1 or cap.size < 2 or np.any(np.diff(cap) <= 0) or cap[0] <= 0:
        raise ValueError(f"capacities must be >= 2 increasing positive values; got {cap.tolist()}")
    check_int("n", n, 1)
    if estimate.value is None:
        return []
    x = np.log(cap)
    if estimate.censored:
        low = estimate.censored == "low"
        step = (x[1] - x[0]) if low else (x[-1] - x[-2])
        edge = x[0] if low else x[-1]
        pts = [edge + (-1 if low else 1) * step * (k + 1) for k in range(n)]
    else:
        assert estimate.index is not None  # set whenever value is
        i = int(estimate.index)
        cand = [(x[i], x[i - 1]) if i > 0 else None, (x[i], x[i + 1]) if i + 1 < x.size else None]
        sides = sorted((s for s in cand if s is not None), key=lambda s: -abs(s[1] - s[0]))
        golden = (3.0 - math.sqrt(5.0)) / 2.0  # 0.382: the golden-section interior point
        pts = []
        for k in range(n):
            start, end = sides[k % len(sides)]
            frac = golden / (1 + k // len(sides))
            pts.append(start + frac * (end - start))
    out = []
    for p in pts:
        c = int(round(math.exp(p)))
        if c >= 1 and c not in cap and c not in out:
            out.append(c)
    return out
