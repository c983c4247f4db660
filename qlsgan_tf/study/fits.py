"""Scaling-law fits for a capacity series: is y(Q) exponential, linear or a power law?

The study measures two capacity series against the quantum generator's capacity Q: the optimal
critic capacity C*(Q) and the matching classical generator capacity G*(Q). The claim under test
(Liepelt & Baglio 2026) is that both grow exponentially. :func:`fit_laws` fits three laws and
says which one the data prefer, with uncertainty:

================  =====================  ==========================================
law               model                  fitted as
================  =====================  ==========================================
``exponential``   y = a·exp(b·Q)         log y = log a + b·Q (closed-form OLS)
``power_law``     y = a·Q^b              log y = log a + b·log Q (closed-form OLS)
``linear``        y = a + b·Q            log y = log(a + b·Q) (nonlinear least squares)
================  =====================  ==========================================

**Common footing: every law is judged on log y.** Capacities span orders of magnitude and their
noise is multiplicative (a critic twice as large is the natural unit of error), so each law is
fitted by least squares on the residuals ``log y - log ŷ(Q)``, i.e. by maximum likelihood under
log-normal noise. Judging all three on the *same* transformed data makes their likelihoods
comparable; fitting the linear law on raw y instead would weight the largest capacities
thousands of times more and its likelihood would live on a different scale.

**Criteria.** R² is computed on log y (``1 - RSS/TSS`` of the log residuals). The information
criteria use the Gaussian likelihood of the log residuals with the maximum-likelihood variance
``σ² = RSS/n``::

    AIC  = 2k - 2 log L = n·log(2π·RSS/n) + n + 2k,      k = 3 (two law parameters + σ²)
    AICc = AIC + 2k(k + 1)/(n - k - 1)                     (defined for n ≥ k + 2 = 5)

Capacity series are short (a handful of Q values), far below Burnham & Anderson's n/k ≥ 40 rule,
so AICc is the criterion whenever it is defined and AIC otherwise (``criterion`` says which).
With n < 5 the AICc penalty is undefined — two-parameter laws fitted to 3 or 4 points leave
one or two residual degrees of freedom and AIC overstates the evidence — so such verdicts end
with "; indicative only: n points, AICc needs at least 5".
All three laws have the same k, so the AICc correction is identical for each and ΔAICc = ΔAIC:
the ranking and the verdict do not depend on that choice, only the absolute values do.

**Verdict.** Following Burnham & Anderson (2002, *Model Selection and Multimodel Inference*,
§2.6): a model within ΔAIC < 2 of the best has substantial support, 4-7 considerably less, > 10
essentially none. So the best law is called *preferred* only when the runner-up is at least
:data:`DELTA_AIC_THRESHOLD` = 2 behind; otherwise the verdict says the data do not distinguish
them. Fewer than :data:`MIN_DISTINCT_Q` = 3 distinct Q values cannot tell two-parameter laws
apart, and the verdict says "too few points to fit" instead of raising.

**Uncertainty.** 95% percentile bootstrap intervals for every parameter. With ``y_samples`` (per
point, replicate values of the point estimate, e.g. C*(Q) recomputed on bootstrap resamples of
the seeds) each bootstrap draw picks one replicate per point independently and refits; this also
gives how often each law wins (``selection_frequency``). These intervals are only as wide as
the replicates are spread: when the replicates are bootstrap resamples of few seeds they are
too narrow (in our simulations a 95% interval on b covered ~87% with 5 seeds per point and ~94%
with 10). Without them, a residual bootstrap per
law: the centred log residuals, inflated by sqrt(n/(n - 2)) for the two fitted parameters
(Davison & Hinkley 1997, §6.2.3), are resampled onto the fitted curve and the law refitted.
With a handful of points the plain percentile interval of a residual bootstrap is too narrow
(it behaves like a normal interval where Student's t with n - 2 degrees of freedom is due; at
n = 7 a nominal 95% interval covered about 88% of the time in our simulations), so it is
*expanded* in the manner of Hesterberg (2015, "What teachers should know about the bootstrap"):
the percentiles taken are those of the normal quantile Φ(t_{n-2, (1 + level)/2}) instead of
(1 ± level)/2 — 0.5/99.5 at n = 7 for a 95% interval.

Example:

>>> import numpy as np
>>> q = np.array([20., 60., 120., 200., 300., 400.])
>>> comparison = fit_laws(q, 40. * np.exp(0.018 * q), n_boot=0)
>>> comparison.best.name
'exponential'
>>> round(comparison.best.params["b"], 3)
0.018
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import special, stats

from qlsgan_tf.validation import check_int

__all__ = [
    "DELTA_AICC_RULE",
    "DELTA_AIC_THRESHOLD",
    "LawComparison",
    "LawFit",
    "RULES",
    "TREND_ALPHA",
    "TrendTest",
    "VERDICTS",
    "compare_laws",
    "LAWS",
    "LAW_LABELS",
    "MIN_DISTINCT_Q",
    "ScalingComparison",
    "ScalingFit",
    "fit_laws",
]

#: The three laws, in the order they are reported.
LAWS = ("exponential", "power_law", "linear")
#: How each law is named in plain-English verdicts and plot legends.
LAW_LABELS = {"exponential": "exponential", "power_law": "power law", "linear": "linear"}
#: The formula of each law, for legends and reports.
LAW_FORMULAS = {
    "exponential": "y = a·exp(b·Q)",
    "power_law": "y = a·Q^b",
    "linear": "y = a + b·Q",
}
#: ΔAIC to the runner-up needed to call the best law preferred (Burnham & Anderson).
DELTA_AIC_THRESHOLD = 2.0
#: Fewest distinct Q values for which the laws are fitted at all.
MIN_DISTINCT_Q = 3
#: Parameters counted by AIC: two per law plus the variance of the log residuals.
N_PARAMS = 3
#: Floor on the log-residual variance: a (numerically) perfect fit keeps a finite AIC.
_MIN_LOG_VARIANCE = 1e-20


@dataclasses.dataclass(frozen=True)
class ScalingFit:
    """One law fitted to a capacity series y(Q), judged on log y.

    Attributes:
      name: ``"exponential"``, ``"power_law"`` or ``"linear"``.
      params: ``{"a": ..., "b": ...}``; the exponential law adds ``"doubling_interval"`` =
        ln 2 / b, the increase of Q that doubles y (negative: the Q that halves it).
      ci: the bootstrap interval ``(low, high)`` of each entry of ``params`` (NaN without a
        bootstrap).
      r2: coefficient of determination of the log residuals.
      aic, aicc: Akaike information criterion and its small-sample correction (NaN when
        n < 5); Gaussian likelihood of the log residuals, k = 3.
      delta_aic: the ranking criterion minus the best law's (0 for the best law).
      n_points: number of (Q, y) points fitted.
      log_residual_std: maximum-likelihood std of the log residuals (σ, a relative error).
      bootstrap: ``"replicates"``, ``"residual"`` or ``"none"``.
      n_boot: bootstrap resamples whose refit succeeded.
      ci_level: coverage of the intervals in ``ci``.
    """

    name: str
    params: Dict[str, float]
    ci: Dict[str, Tuple[float, float]]
    r2: float
    aic: float
    aicc: float
    delta_aic: float
    n_points: int
    log_residual_std: float
    bootstrap: str
    n_boot: int
    ci_level: float = 0.95

    @property
    def label(self) -> str:
        """The law's name in plain English (``"power law"``)."""
        return LAW_LABELS[self.name]

    @property
    def formula(self) -> str:
        """The law as a formula, e.g. ``"y = a·exp(b·Q)"``."""
        return LAW_FORMULAS[self.name]

    def predict(self, q) -> np.ndarray:
        """The fitted y at capacities ``q`` (array-like); the linear law may go non-positive."""
        q = np.asarray(q, dtype=np.float64)
        return _LAWS[self.name].predict(q, self.params["a"], self.params["b"])

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite numbers become ``None``)."""
        return {
            "name": self.name,
            "formula": self.formula,
            "params": {k: _json_float(v) for k, v in self.params.items()},
            "ci": {k: [_json_float(lo), _json_float(hi)] for k, (lo, hi) in self.ci.items()},
            "ci_level": self.ci_level,
            "r2": _json_float(self.r2),
            "aic": _json_float(self.aic),
            "aicc": _json_float(self.aicc),
            "delta_aic": _json_float(self.delta_aic),
            "n_points": self.n_points,
            "log_residual_std": _json_float(self.log_residual_std),
            "bootstrap": self.bootstrap,
            "n_boot": self.n_boot,
        }


@dataclasses.dataclass(frozen=True)
class ScalingComparison:
    """The three laws fitted to one series, ranked, with a plain-English verdict.

    Attributes:
      best: the law with the lowest criterion, or ``None`` when there were too few points.
      fits: law name -> :class:`ScalingFit`, best first (empty when too few points).
      verdict: e.g. ``"exponential preferred by ΔAIC = 7.3 over power law (R² = 0.98)"``,
        ``"data do not distinguish exponential from power law (ΔAIC = 0.8)"`` or
        ``"too few points to fit (...)"``; with fewer than 5 points the first two end with
        ``"; indicative only: ..."``.
      criterion: ``"AICc"`` or ``"AIC"`` — which one ranked the laws (same Δ either way).
      n_points, n_distinct_q: the size of the series.
      selection_frequency: law name -> fraction of replicate-bootstrap resamples in which it
        ranked first (empty without ``y_samples``).
    """

    best: Optional[ScalingFit]
    fits: Dict[str, ScalingFit]
    verdict: str
    criterion: str
    n_points: int
    n_distinct_q: int
    selection_frequency: Dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def runner_up(self) -> Optional[ScalingFit]:
        """The second-ranked law (``None`` when there were too few points)."""
        ranked = list(self.fits.values())
        return ranked[1] if len(ranked) > 1 else None

    @property
    def distinguished(self) -> bool:
        """Whether the best law beats the runner-up by at least the ΔAIC threshold."""
        runner = self.runner_up
        return runner is not None and runner.delta_aic >= DELTA_AIC_THRESHOLD

    def to_dict(self) -> dict:
        """A JSON-ready dict: verdict, criterion, every fit and the selection frequencies."""
        return {
            "best": self.best.name if self.best is not None else None,
            "verdict": self.verdict,
            "distinguished": self.distinguished,
            "criterion": self.criterion,
            "delta_aic_threshold": DELTA_AIC_THRESHOLD,
            "n_points": self.n_points,
            "n_distinct_q": self.n_distinct_q,
            "fits": {name: fit.to_dict() for name, fit in self.fits.items()},
            "selection_frequency": dict(self.selection_frequency),
        }


# --------------------------------------------------------------------------------------------
# The laws. Each fits (a, b) to log y and predicts y; the two log-linear laws are closed-form
# and vectorised over a batch of bootstrap series, the linear law is a small nonlinear fit.


def _ols(x: np.ndarray, logy: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Intercept and slope of log y on x, for logy of shape [n] or [batch, n]."""
    xc = x - x.mean()
    slope = (logy - logy.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)
    intercept = logy.mean(axis=-1) - slope * x.mean()
    return intercept, slope


class _Exponential:
    name = "exponential"

    @staticmethod
    def fit(q, logy, start=None):
        log_a, b = _ols(q, logy)
        return np.exp(log_a), b

    @staticmethod
    def predict(q, a, b):
        return a * np.exp(b * q)


class _PowerLaw:
    name = "power_law"

    @staticmethod
    def fit(q, logy, start=None):
        log_a, b = _ols(np.log(q), logy)
        return np.exp(log_a), b

    @staticmethod
    def predict(q, a, b):
        return a * np.power(q, b)


class _Linear:
    name = "linear"

    @staticmethod
    def fit(q, logy, start=None):
        """Least squares on log y - log(a + b·Q), vectorised over a batch of series."""
        batch = np.atleast_2d(logy)
        if start is None:
            start = np.stack([_Linear._start(q, row) for row in batch])
        a, b = _damped_newton(q, batch, np.broadcast_to(start, (batch.shape[0], 2)))
        return (a, b) if logy.ndim == 2 else (a[0], b[0])

    @staticmethod
    def _start(q, logy):
        # Relative least squares, min Σ((y - a - b·Q)/y)², matches the log residuals to first
        # order; fall back to the constant geometric mean if it predicts y <= 0 anywhere.
        y = np.exp(logy)
        start = np.linalg.lstsq(np.stack([1.0 / y, q / y], axis=1), np.ones_like(y), rcond=None)[0]
        if np.any(start[0] + start[1] * q <= 0):
            start = np.array([np.exp(logy.mean()), 0.0])
        return start

    @staticmethod
    def predict(q, a, b):
        return a + b * q


def _damped_newton(q, logy, start, max_iter=200, rtol=1e-12):
    """Minimises Σ(log y - log(a + b·Q))² for each row of logy [batch, n] at once.

    The residuals of a wrong law are large, where Gauss-Newton converges only linearly, so
    this is Newton's method with the exact Hessian, Σ x·xᵀ(1 + r)/ŷ² for x = (1, t), damped
    Levenberg-Marquardt style (Marquardt-scaled, per row). The line is written in
    t = (Q - Q_min)/(Q_max - Q_min) ∈ [0, 1] for conditioning. A step is accepted only if it
    lowers the cost and keeps ŷ > 0 at every Q, so iterates stay feasible. A row stops when an
    accepted step lowers its cost by less than ``rtol`` (relative) or no step helps any more
    (damping past 1e10); a start that is not positive at every Q, or a row that never stops,
    gives NaN (the caller counts those as failed refits).
    """
    q_lo, span = q.min(), q.max() - q.min()
    t = (q - q_lo) / span
    start = np.asarray(start, dtype=np.float64)
    theta = np.stack([start[:, 0] + start[:, 1] * q_lo, start[:, 1] * span], axis=1)

    def cost(theta, logy):
        pred = theta[:, :1] + theta[:, 1:] * t
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = logy - np.log(pred)
        total = np.sum(resid**2, axis=1)
        total[np.any(pred <= 0, axis=1) | ~np.isfinite(total)] = np.inf
        return total, resid, pred

    current, resid, pred = cost(theta, logy)
    damping = np.full(theta.shape[0], 1e-3)
    done = ~np.isfinite(current)
    converged = np.zeros_like(done)
    x = np.stack([np.ones_like(t), t], axis=1)  # [n, 2]
    xxt = np.einsum("ni,nj->nij", x, x)  # [n, 2, 2]
    for _ in range(max_iter):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        inv = 1.0 / pred[rows]
        grad = -np.einsum("bn,ni->bi", resid[rows] * inv, x)
        hess = np.einsum("bn,nij->bij", (1.0 + resid[rows]) * inv**2, xxt)
        gn = np.einsum("bn,nij->bij", inv**2, xxt)  # Gauss-Newton part: positive definite
        diag = gn[:, [0, 1], [0, 1]]
        hess[:, [0, 1], [0, 1]] += damping[rows, None] * diag
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            step = -np.linalg.solve(hess, grad[..., None])[..., 0]
        trial = theta[rows] + step
        trial_cost, trial_resid, trial_pred = cost(trial, logy[rows])
        accept = trial_cost < current[rows]
        stop = accept & (current[rows] - trial_cost <= rtol * current[rows] + 1e-300)
        stop |= ~accept & (damping[rows] > 1e10)
        keep = rows[accept]
        theta[keep], resid[keep] = trial[accept], trial_resid[accept]
        pred[keep] = trial_pred[accept]
        current[keep] = trial_cost[accept]
        damping[rows] = np.where(accept, damping[rows] / 4.0, damping[rows] * 4.0)
        done[rows[stop]] = True
        converged[rows[stop]] = True
    b = theta[:, 1] / span
    a = theta[:, 0] - b * q_lo
    ok = converged & np.isfinite(current)
    a[~ok], b[~ok] = np.nan, np.nan
    return a, b


_LAWS = {law.name: law for law in (_Exponential, _PowerLaw, _Linear)}


# --------------------------------------------------------------------------------------------
# Statistics on the log residuals.


def _log_residuals(law, q, logy, a, b) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return logy - np.log(law.predict(q, a, b))


def _information(residuals: np.ndarray, logy: np.ndarray) -> Tuple[float, float, float, float]:
    """(r2, aic, aicc, sigma) of one fit from its log residuals."""
    n = residuals.size
    rss = float(residuals @ residuals)
    tss = float(np.sum((logy - logy.mean()) ** 2))
    variance = max(rss / n, _MIN_LOG_VARIANCE)
    log_likelihood = -0.5 * (n * math.log(2.0 * math.pi * variance) + rss / variance)
    aic = 2.0 * N_PARAMS - 2.0 * log_likelihood
    aicc = (
        aic + 2.0 * N_PARAMS * (N_PARAMS + 1) / (n - N_PARAMS - 1)
        if n - N_PARAMS - 1 > 0 else math.nan
    )
    r2 = 1.0 - rss / tss if tss > 0 else math.nan
    return r2, aic, aicc, math.sqrt(rss / n)


def _rss_batch(law, q, logy_batch, a, b) -> np.ndarray:
    """Residual sum of squares of each bootstrap series (inf where the refit failed)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = logy_batch - np.log(law.predict(q[None, :], a[:, None], b[:, None]))
    rss = np.sum(resid**2, axis=1)
    return np.where(np.isfinite(rss), rss, np.inf)


# --------------------------------------------------------------------------------------------
# Input checks.


def _as_series(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got {values!r}.") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{name} contains non-finite values (NaN/inf) at index {bad.tolist()}: "
            f"{arr[bad].tolist()}; drop those points before fitting."
        )
    return arr


def _check_positive(arr: np.ndarray, name: str, why: str) -> None:
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        raise ValueError(
            f"{name} must be positive ({why}); got {name}[{int(bad[0])}] = {arr[bad[0]]:g}"
            f" ({bad.size} non-positive value(s))."
        )


def _as_replicates(y_samples, n: int) -> list:
    if isinstance(y_samples, np.ndarray) and y_samples.ndim != 2:
        raise ValueError(
            f"y_samples must have shape [n_points, n_replicates], got shape {y_samples.shape}."
        )
    try:
        rows = list(y_samples)
    except TypeError as err:
        raise TypeError(
            f"y_samples must be a sequence of per-point replicate values, got {y_samples!r}."
        ) from err
    if len(rows) != n:
        raise ValueError(
            f"y_samples has {len(rows)} rows but there are {n} points; it needs one row of "
            "replicates per (Q, y) point."
        )
    out = []
    for i, row in enumerate(rows):
        arr = _as_series(row, f"y_samples[{i}]")
        if arr.size == 0:
            raise ValueError(f"y_samples[{i}] is empty; every point needs at least one replicate.")
        _check_positive(arr, f"y_samples[{i}]", "capacities are fitted on log y")
        out.append(arr)
    return out


# --------------------------------------------------------------------------------------------
# The fit.


def _verdict(ranked: Sequence[ScalingFit]) -> str:
    best, runner = ranked[0], ranked[1]
    if runner.delta_aic >= DELTA_AIC_THRESHOLD:
        return (
            f"{best.label} preferred by ΔAIC = {runner.delta_aic:.1f} over {runner.label} "
            f"(R² = {best.r2:.2f})"
        )
    tied = [fit for fit in ranked if fit.delta_aic < DELTA_AIC_THRESHOLD]
    if len(tied) == 2:
        return (
            f"data do not distinguish {best.label} from {runner.label} "
            f"(ΔAIC = {runner.delta_aic:.1f})"
        )
    names = ", ".join(fit.label for fit in tied[:-1]) + f" and {tied[-1].label}"
    return f"data do not distinguish {names} (ΔAIC ≤ {tied[-1].delta_aic:.1f})"


def _interval(samples: np.ndarray, level: float) -> Tuple[float, float]:
    """Percentile interval of the finite bootstrap samples, at coverage ``level``."""
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return (math.nan, math.nan)
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def _expanded_level(level: float, dof: int) -> float:
    """Hesterberg's expanded percentile level: the normal coverage of Student's t quantile."""
    return float(2.0 * stats.norm.cdf(stats.t.ppf(0.5 * (1.0 + level), dof)) - 1.0)


def _doubling_interval_ci(b_ci: Tuple[float, float]) -> Tuple[float, float]:
    """ln 2 / b is monotone in b on each side of 0, so its interval follows from b's."""
    lo, hi = b_ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return (math.nan, math.nan)
    if lo > 0 or hi < 0:
        return (math.log(2) / hi, math.log(2) / lo)
    if hi > 0:  # growth not excluded, nor is no growth: at least ln2/hi, possibly never doubles
        return (math.log(2) / hi, math.inf)
    return (math.nan, math.nan)


def fit_laws(
    Q,
    y,
    y_samples=None,
    n_boot: int = 1000,
    seed: Optional[int] = 0,
    ci_level: float = 0.95,
) -> ScalingComparison:
    """Fits exponential, power-law and linear laws to y(Q) on log y and ranks them by AIC(c).

    Args:
      Q: quantum generator capacities, 1-D, positive (the power law takes log Q). Repeated
        values are allowed (several points per capacity).
      y: the capacity series at each Q (e.g. C*(Q) or G*(Q)), positive, same length as Q.
      y_samples: optional replicate values per point, shape ``[n_points, n_replicates]`` (rows
        may differ in length), e.g. C*(Q) recomputed on bootstrap resamples of the seeds.
        Each column is taken as a draw from the sampling distribution of that point, and the
        bootstrap picks one replicate per point independently. Without it, a residual
        bootstrap on the log residuals.
      n_boot: bootstrap resamples for the intervals; 0 skips the bootstrap (intervals NaN).
      seed: seed of the bootstrap's random generator (``None``: fresh entropy).
      ci_level: coverage of the percentile intervals, in (0, 1).

    Returns:
      A :class:`ScalingComparison`; with fewer than 3 distinct Q values its ``fits`` is empty,
      ``best`` is ``None`` and the verdict says "too few points to fit".

    Raises:
      TypeError: non-numeric input, or a non-integer ``n_boot``.
      ValueError: Q and y of different lengths or not 1-D, NaN/inf anywhere, Q or y (or a
        replicate) not positive, ``y_samples`` with the wrong number of rows, a negative
        ``n_boot`` or ``ci_level`` outside (0, 1).
    """
    q, y, replicates = _check_fit_inputs(Q, y, y_samples, n_boot, ci_level)
    n, n_distinct = y.size, np.unique(q).size
    criterion = "AICc" if n - N_PARAMS - 1 > 0 else "AIC"
    if n_distinct < MIN_DISTINCT_Q:
        return ScalingComparison(
            best=None, fits={}, criterion=criterion, n_points=n, n_distinct_q=n_distinct,
            verdict=(f"too few points to fit ({n_distinct} distinct Q value"
                     f"{'' if n_distinct == 1 else 's'}; at least {MIN_DISTINCT_Q} are needed)"))
    logy = np.log(y)
    estimates = _point_fits(q, logy, y)
    rng = np.random.default_rng(seed)
    if n_boot > 0 and replicates is not None:
        method, (boot, selection) = "replicates", _replicate_bootstrap(
            q, replicates, estimates, n_boot, rng)
    elif n_boot > 0:
        method, boot, selection = "residual", _residual_bootstrap(
            q, logy, estimates, n_boot, rng), {}
    else:
        method, boot, selection = "none", {}, {}
    # Residual bootstrap: expanded percentiles for the t-vs-normal gap at small n.
    percentile_level = (
        _expanded_level(ci_level, n - 2) if method == "residual" and n > 2 else ci_level
    )
    fits = [_scaling_fit(name, q, logy, estimates[name], boot.get(name), method,
                         percentile_level, ci_level) for name in _LAWS]
    return _ranked(fits, criterion, n, n_distinct, selection)


def _ranked(fits, criterion, n, n_distinct, selection):
    """The fits ranked by AIC(c) (ties: the order of ``LAWS``) as a ``ScalingComparison``."""
    score = {fit.name: (fit.aicc if criterion == "AICc" else fit.aic) for fit in fits}
    best_score = min(score.values())
    ranked = sorted(
        (dataclasses.replace(fit, delta_aic=score[fit.name] - best_score) for fit in fits),
        key=lambda fit: (fit.delta_aic, LAWS.index(fit.name)),
    )
    return ScalingComparison(
        best=ranked[0], fits={fit.name: fit for fit in ranked}, criterion=criterion,
        n_points=n, n_distinct_q=n_distinct, selection_frequency=selection,
        verdict=_verdict(ranked) + (
            f"; indicative only: {n} points, AICc needs at least {N_PARAMS + 2}"
            if criterion == "AIC" else ""))


def _check_fit_inputs(Q, y, y_samples, n_boot, ci_level):
    """(q, y, replicates or None) as float arrays; one clear error per bad argument."""
    q = _as_series(Q, "Q")
    y = _as_series(y, "y")
    if q.size != y.size:
        raise ValueError(f"Q and y must have the same length, got {q.size} and {y.size}.")
    _check_positive(q, "Q", "capacities are parameter counts and the power law takes log Q")
    _check_positive(y, "y", "the laws are fitted and compared on log y")
    replicates = _as_replicates(y_samples, y.size) if y_samples is not None else None
    check_int("n_boot", n_boot, 0)
    if not 0.0 < float(ci_level) < 1.0:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level!r}.")
    return q, y, replicates


def _point_fits(q, logy, y):
    """Least-squares (a, b) of every law on log y."""
    estimates = {}
    for name, law in _LAWS.items():
        a, b = law.fit(q, logy)
        if not np.isfinite(a):
            raise RuntimeError(f"the {LAW_LABELS[name]} fit did not converge on y = {y.tolist()}")
        estimates[name] = (float(a), float(b))
    return estimates


def _replicate_bootstrap(q, replicates, estimates, n_boot, rng):
    """Refits on one replicate per point drawn independently: ({law: [n_boot, 2]}, how often
    each law has the lowest RSS, i.e. the lowest AIC(c) at equal parameter counts)."""
    logy_boot = np.stack(
        [np.log(rep[rng.integers(0, rep.size, size=n_boot)]) for rep in replicates], axis=1
    )
    boot, rss = {}, []
    for name, law in _LAWS.items():
        a, b = law.fit(q, logy_boot, start=estimates[name])
        boot[name] = np.stack([a, b], axis=1)
        rss.append(_rss_batch(law, q, logy_boot, np.asarray(a), np.asarray(b)))
    winners = np.argmin(np.stack(rss, axis=1), axis=1)
    return boot, {name: float(np.mean(winners == i)) for i, name in enumerate(_LAWS)}


def _residual_bootstrap(q, logy, estimates, n_boot, rng):
    """Refits on each law's fit plus resampled, centred and inflated log residuals."""
    n = logy.size
    inflate = math.sqrt(n / (n - 2)) if n > 2 else 1.0
    boot = {}
    for name, law in _LAWS.items():
        a, b = estimates[name]
        log_fit = np.log(law.predict(q, a, b))
        resid = logy - log_fit
        resid = (resid - resid.mean()) * inflate
        logy_boot = log_fit[None, :] + resid[rng.integers(0, n, size=(n_boot, n))]
        a_boot, b_boot = law.fit(q, logy_boot, start=estimates[name])
        boot[name] = np.stack([a_boot, b_boot], axis=1)
    return boot


def _scaling_fit(name, q, logy, estimate, boot, method, percentile_level, ci_level):
    """One law's :class:`ScalingFit` (delta_aic filled in by the ranking)."""
    a, b = estimate
    r2, aic, aicc, sigma = _information(_log_residuals(_LAWS[name], q, logy, a, b), logy)
    params = {"a": a, "b": b}
    if boot is not None:
        ci = {"a": _interval(boot[:, 0], percentile_level),
              "b": _interval(boot[:, 1], percentile_level)}
        n_ok = int(np.all(np.isfinite(boot), axis=1).sum())
    else:
        ci = {"a": (math.nan, math.nan), "b": (math.nan, math.nan)}
        n_ok = 0
    if name == "exponential":
        params["doubling_interval"] = math.log(2) / b if b != 0 else math.inf
        ci["doubling_interval"] = _doubling_interval_ci(ci["b"])
    return ScalingFit(
        name=name, params=params, ci=ci, r2=r2, aic=aic, aicc=aicc,
        delta_aic=math.nan, n_points=logy.size, log_residual_std=sigma,
        bootstrap=method, n_boot=n_ok, ci_level=float(ci_level),
    )


def _json_float(value) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None



# ============================================================================================
# compare_laws: trend test, then the three laws by AICc with per-point errors and censoring.

#: The verdicts of :func:`compare_laws`, exactly one per comparison.
VERDICTS = ("exponential", "power law", "linear", "increasing, form undetermined",
            "no increase detected", "insufficient data")
#: One-sided Kendall-τ p-value below which C*(Q) counts as rising with Q.
TREND_ALPHA = 0.05
#: ΔAICc the best law must lead *both* others by to be named (Burnham & Anderson: > 4 is
#: "considerably less" support for the others).
DELTA_AICC_RULE = 4.0
#: Fewest points with distinct Q to test a trend; fewer uncensored points than
#: ``MIN_UNCENSORED`` cannot fix a two-parameter law either.
MIN_TREND_POINTS = 4
MIN_UNCENSORED = 3
#: Fewest points for AICc with k = 3 (two law parameters and the extra scatter).
MIN_AICC_POINTS = 5
#: Floor on the extra log scatter σ: keeps the likelihood finite for an exact fit.
MIN_SIGMA = 1e-3

RULES = {
    "insufficient": (f"fewer than {MIN_TREND_POINTS} distinct Q values or fewer than "
                     f"{MIN_UNCENSORED} uncensored points: insufficient data"),
    "no_trend": (f"Kendall's τ of y vs Q, one-sided p >= {TREND_ALPHA}: no increase detected"),
    "few_for_aicc": (f"rising (p < {TREND_ALPHA}) but fewer than {MIN_AICC_POINTS} points: "
                     "AICc undefined, form undetermined"),
    "aicc": (f"rising (p < {TREND_ALPHA}) and the best law leads both others by "
             f"ΔAICc >= {DELTA_AICC_RULE}: that law"),
    "aicc_close": (f"rising (p < {TREND_ALPHA}) but the best law leads another by "
                   f"ΔAICc < {DELTA_AICC_RULE}: increasing, form undetermined"),
}


@dataclasses.dataclass(frozen=True)
class TrendTest:
    """Kendall's τ of y vs Q and its one-sided p-value (alternative: y rises with Q)."""

    tau: float
    p_value: float


@dataclasses.dataclass(frozen=True)
class LawFit:
    """One law fitted by maximum likelihood on log y (interval likelihood for censored points).

    ``params``: ``a``, ``b`` of the law (see :data:`LAW_FORMULAS`) and ``sigma``, the extra log
    scatter beyond each point's own error; ``ci``: Wald intervals (t with n - 3 degrees of
    freedom, delta method), NaN when the information matrix is singular.
    """

    name: str
    params: Dict[str, float]
    ci: Dict[str, Tuple[float, float]]
    log_likelihood: float
    aicc: float
    delta_aicc: float

    @property
    def label(self) -> str:
        return LAW_LABELS[self.name]

    def predict(self, q) -> np.ndarray:
        """The fitted y at capacities ``q``."""
        q = np.asarray(q, dtype=np.float64)
        return _LAWS[self.name].predict(q, self.params["a"], self.params["b"])

    def to_dict(self) -> dict:
        return {"name": self.name, "formula": LAW_FORMULAS[self.name],
                "params": {k: _json_float(v) for k, v in self.params.items()},
                "ci": {k: [_json_float(lo), _json_float(hi)] for k, (lo, hi) in self.ci.items()},
                "log_likelihood": _json_float(self.log_likelihood),
                "aicc": _json_float(self.aicc), "delta_aicc": _json_float(self.delta_aicc)}


@dataclasses.dataclass(frozen=True)
class LawComparison:
    """Result of :func:`compare_laws`: one verdict, the rule that fired, the trend and fits."""

    verdict: str
    rule: str
    trend: Optional[TrendTest]
    fits: Dict[str, LawFit]
    n_points: int
    n_censored: int

    @property
    def best(self) -> Optional[LawFit]:
        """The law with the lowest AICc (None when no law was fitted)."""
        return next(iter(self.fits.values()), None)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "rule": self.rule, "rule_text": RULES[self.rule],
                "trend": None if self.trend is None else {
                    "tau": _json_float(self.trend.tau), "p_value": _json_float(self.trend.p_value)},
                "fits": {name: fit.to_dict() for name, fit in self.fits.items()},
                "n_points": self.n_points, "n_censored": self.n_censored,
                "delta_aicc_rule": DELTA_AICC_RULE, "trend_alpha": TREND_ALPHA}


def _law_curve(name, theta, q, span):
    """Log prediction of a law from internal parameters (well-conditioned in each law)."""
    if name == "exponential":
        return theta[0] + theta[1] * (q - span[0]) / (span[1] - span[0])
    if name == "power_law":
        return theta[0] + theta[1] * (np.log(q) - np.log(span[0]))
    t = (q - span[0]) / (span[1] - span[0])
    # a + bQ = e^θ0 (1 + γ t) with γ = expm1(θ1) > -1; θ1 capped where γ t overflows.
    with np.errstate(divide="ignore", invalid="ignore"):
        return theta[0] + np.log1p(math.expm1(min(theta[1], 50.0)) * t)


def _law_params(name, theta, span):
    """Reported (a, b) of a law from its internal parameters."""
    lo, width = span[0], span[1] - span[0]
    if name == "exponential":
        b = theta[1] / width
        return {"a": math.exp(theta[0] - b * lo), "b": b}
    if name == "power_law":
        return {"a": math.exp(theta[0] - theta[1] * math.log(lo)), "b": theta[1]}
    b = math.exp(theta[0]) * math.expm1(theta[1]) / width
    return {"a": math.exp(theta[0]) - b * lo, "b": b}


def _curve_slope(name, theta, q, span):
    """Derivative of the log prediction with respect to the law's second parameter."""
    if name == "exponential":
        return (q - span[0]) / (span[1] - span[0])
    if name == "power_law":
        return np.log(q) - np.log(span[0])
    t = (q - span[0]) / (span[1] - span[0])
    if theta[1] >= 50.0:
        return np.zeros_like(t)
    return math.exp(theta[1]) * t / (1.0 + math.expm1(theta[1]) * t)


def _nll(theta, name, q, logy, s2, kind, span):
    """Negative log likelihood and its gradient: Gaussian on log y, Φ for censored points.

    ``kind`` is 0 (exact), -1 (true log y <= logy) or +1 (>= logy) per point.
    """
    f = _law_curve(name, theta, q, span)
    if not np.all(np.isfinite(f)):
        return 1e300, np.zeros(3)
    extra = _extra_variance(theta[2])
    var = extra + s2
    sd = np.sqrt(var)
    z = (logy - f) / sd
    exact = kind == 0
    # Censored: w = ±z so that the point's likelihood is Φ(w).
    w = np.where(kind < 0, z, -z)
    log_cdf = special.log_ndtr(w)
    nll = np.where(exact, 0.5 * z * z + np.log(sd) + 0.5 * math.log(2 * math.pi), -log_cdf)
    total = float(np.sum(nll))
    if not math.isfinite(total):
        return 1e300, np.zeros(3)
    mills = np.exp(-0.5 * w * w - 0.5 * math.log(2 * math.pi) - log_cdf)
    d_f = np.where(exact, -z / sd, np.where(kind < 0, 1.0, -1.0) * mills / sd)
    d_var = np.where(exact, 0.5 * (1.0 - z * z) / var, 0.5 * mills * w / var)
    d_extra = 2.0 * (extra - MIN_SIGMA ** 2) if theta[2] < 5.0 else 0.0
    grad = np.array([np.sum(d_f), np.sum(d_f * _curve_slope(name, theta, q, span)),
                     np.sum(d_var) * d_extra])
    return total, grad


def _extra_variance(log_sigma):
    """σ² of the extra scatter, floored smoothly at MIN_SIGMA² (unconstrained parameter)."""
    return MIN_SIGMA ** 2 + math.exp(2.0 * min(log_sigma, 5.0))


def _starts(name, q, logy, span):
    x = (q - span[0]) / (span[1] - span[0]) if name != "power_law" else np.log(q / span[0])
    slope, icpt = np.polyfit(x, logy, 1)
    sigma0 = math.log(max(float(np.std(logy - (icpt + slope * x))), 0.05))
    if name != "linear":
        return [np.array([icpt, slope, sigma0])]
    rise = math.exp(min(slope, 30.0))  # y(Q_max)/y(Q_min) of the exponential start
    return [np.array([icpt, math.log(max(rise, 1e-3)), sigma0]),
            np.array([float(np.mean(logy)), 0.0, sigma0])]


def _wald_ci(name, theta, args, span, n, level):
    """Wald intervals of a, b, sigma by the delta method on a numerical Hessian."""
    names = ("a", "b", "sigma")
    nan_ci = {k: (math.nan, math.nan) for k in names}
    try:
        hess = _num_hessian(lambda t: _nll(t, *args)[0], theta)
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return nan_ci
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < 0):
        return nan_ci

    def reported(t):
        p = _law_params(name, t, span)
        return np.array([p["a"], p["b"], math.sqrt(_extra_variance(t[2]))])

    jac = np.stack([(reported(theta + e) - reported(theta - e)) / (2 * 1e-5)
                    for e in np.eye(3) * 1e-5], axis=1)
    sd = np.sqrt(np.maximum(np.diag(jac @ cov @ jac.T), 0.0))
    crit = stats.t.ppf(0.5 * (1 + level), max(n - 3, 1))
    centre = reported(theta)
    # Positive parameters (sigma; a of the exponential and power law) get intervals on the
    # log scale, where their estimates are closer to normal and the bounds stay positive.
    positive = {"sigma"} | ({"a"} if name != "linear" else set())
    out = {}
    for k, c, s in zip(names, centre, sd):
        if k in positive and c > 0:
            out[k] = (float(c * math.exp(-crit * s / c)), float(c * math.exp(crit * s / c)))
        else:
            out[k] = (float(c - crit * s), float(c + crit * s))
    return out


def _num_hessian(fun, x, h=1e-4):
    k = x.size
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = hess[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej)
                                       + fun(x - ei - ej)) / (4 * h * h)
    return hess


def _fit_law(name, q, logy, s2, kind, level, with_ci):
    """Maximum-likelihood fit of one law; returns a :class:`LawFit` (delta_aicc unset)."""
    from scipy import optimize

    span = (float(q.min()), float(q.max()))
    args = (name, q, logy, s2, kind, span)
    best = None
    for start in _starts(name, q, logy, span):
        # BFGS, unconstrained: σ is floored inside the likelihood, and γ = expm1(θ1) > -1.
        res = optimize.minimize(_nll, start, args=args, jac=True, method="BFGS",
                                options={"gtol": 1e-4})
        if best is None or res.fun < best.fun:
            best = res
    n, k = q.size, 3
    ll = -float(best.fun)
    aicc = 2 * k - 2 * ll + 2 * k * (k + 1) / (n - k - 1) if n > k + 1 else math.nan
    params = dict(_law_params(name, best.x, span), sigma=math.sqrt(_extra_variance(best.x[2])))
    ci = _wald_ci(name, best.x, args, span, n, level) if with_ci else {
        key: (math.nan, math.nan) for key in params}
    return LawFit(name, params, ci, ll, aicc, math.nan)


def _point_errors(y, y_ci, kind, level):
    """Per-point log standard errors from intervals (censored points: the median of others)."""
    if y_ci is None:
        return np.zeros_like(y)
    ci = np.asarray(y_ci, dtype=np.float64)
    if ci.shape != (y.size, 2):
        raise ValueError(f"y_ci must have shape [{y.size}, 2] (low, high per point); "
                         f"got shape {ci.shape}")
    z = stats.norm.ppf(0.5 * (1 + level))
    with np.errstate(divide="ignore", invalid="ignore"):
        se = (np.log(ci[:, 1]) - np.log(ci[:, 0])) / (2 * z)
    exact = (kind == 0) & np.isfinite(se)
    bad = np.flatnonzero((kind == 0) & ~(np.isfinite(se) & (se >= 0)))
    if bad.size:
        raise ValueError(f"y_ci[{int(bad[0])}] = {ci[bad[0]].tolist()} is not a positive "
                         "interval (low <= high) for an uncensored point")
    fill = float(np.median(se[exact])) if exact.any() else 0.0
    return np.where(kind == 0, se, fill) ** 2


def _censor_codes(censored, n):
    if censored is None:
        return np.zeros(n, dtype=int)
    codes = {None: 0, "low": -1, "high": 1}
    values = list(censored)
    if len(values) != n:
        raise ValueError(f"censored has {len(values)} entries for {n} points")
    bad = [v for v in values if v not in codes]
    if bad:
        raise ValueError(f"censored entries must be None, 'low' or 'high'; got {bad[0]!r}")
    return np.array([codes[v] for v in values], dtype=int)


def compare_laws(q, y, *, y_ci=None, censored=None, seed=0, level=0.95, _with_ci=True):
    """Does y (e.g. C*) rise with Q, and is the rise exponential, a power law or linear?

    Args:
      q: capacities of the quantum generators, ``[n]``, positive.
      y: the estimate at each Q, positive; for a censored point, the bound (grid edge).
      y_ci: optional ``[n, 2]`` intervals at coverage ``level``; each uncensored point's log
        standard error is ``log(high / low) / (2 z)`` and adds to the fitted extra scatter.
      censored: optional per-point None / ``"low"`` (true y <= bound) / ``"high"`` (>= bound);
        censored points enter through Φ (an interval likelihood), not dropped.
      seed: unused by the maximum-likelihood fits (kept so every analysis call is seeded).
      level: coverage of ``y_ci`` and of the parameter intervals.

    Returns:
      :class:`LawComparison` whose ``verdict`` is one of :data:`VERDICTS`, decided by the first
      rule of :data:`RULES` that fires (``rule``), in the order written in ``docs/method.md``.
    """
    del seed
    qa, ya = _as_series(q, "q"), _as_series(y, "y")
    if qa.size != ya.size:
        raise ValueError(f"q and y must have the same length, got {qa.size} and {ya.size}.")
    _check_positive(qa, "q", "capacities are parameter counts and the power law takes log Q")
    _check_positive(ya, "y", "the laws are compared on log y")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    kind = _censor_codes(censored, ya.size)
    s2 = _point_errors(ya, y_ci, kind, level)
    n, n_cens = int(ya.size), int(np.sum(kind != 0))
    if np.unique(qa).size < MIN_TREND_POINTS or n - n_cens < MIN_UNCENSORED:
        return LawComparison("insufficient data", "insufficient", None, {}, n, n_cens)
    res = stats.kendalltau(qa, ya, alternative="greater")
    # All y tied (e.g. every C* at one grid edge): no ranks, no evidence of a rise.
    trend = (TrendTest(float(res.statistic), float(res.pvalue)) if np.isfinite(res.statistic)
             else TrendTest(0.0, 1.0))
    if not trend.p_value < TREND_ALPHA:
        return LawComparison("no increase detected", "no_trend", trend, {}, n, n_cens)
    logy = np.log(ya)
    fitted = [_fit_law(name, qa, logy, s2, kind, level, _with_ci) for name in LAWS]
    if n < MIN_AICC_POINTS:
        ranked = sorted(fitted, key=lambda f: -f.log_likelihood)
        return LawComparison("increasing, form undetermined", "few_for_aicc", trend,
                             {f.name: f for f in ranked}, n, n_cens)
    best_aicc = min(f.aicc for f in fitted)
    ranked = sorted((dataclasses.replace(f, delta_aicc=f.aicc - best_aicc) for f in fitted),
                    key=lambda f: f.delta_aicc)
    if ranked[1].delta_aicc >= DELTA_AICC_RULE:
        verdict, rule = ranked[0].label, "aicc"
    else:
        verdict, rule = "increasing, form undetermined", "aicc_close"
    return LawComparison(verdict, rule, trend, {f.name: f for f in ranked}, n, n_cens)
