"""The old two-stage chain, kept so that benchmarks can show it beside the joint surface fit.

Stage 1: the argmin C*(Q) per generator by a local parabola (:mod:`.argmin`). Stage 2: a law
comparison of those points (Kendall trend, then exponential / power law / linear by ΔAICc >= 4
with per-point errors and censoring). A frozen copy of the former ``compare_laws``; the knee
estimand replaces it (:func:`qlsgan_tf.analysis.fit_surface`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from qlsgan_tf.analysis import argmin

LAW_LABELS = {"exponential": "exponential", "power_law": "power law", "linear": "linear"}
LAW_FORMULAS = {"exponential": "y = a·exp(b·Q)", "power_law": "y = a·Q^b", "linear": "y = a + b·Q"}
LAWS = ("exponential", "power_law", "linear")

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


def _json_float(value) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None


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

    def predict(self, q: ArrayLike) -> np.ndarray:
        """The fitted y at capacities ``q``."""
        q = np.asarray(q, dtype=np.float64)
        a, b = self.params["a"], self.params["b"]
        if self.name == "exponential":
            return a * np.exp(b * q)
        if self.name == "power_law":
            return a * np.power(q, b)
        return a + b * q

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


def safe_exp(x: float) -> float:
    """``e**x``, or inf where that overflows a float: a degenerate fit's reported parameter
    is inf, and the report that prints it is still written."""
    return math.exp(x) if x < 709.0 else math.inf


def _law_params(name, theta, span):
    """Reported (a, b) of a law from its internal parameters."""
    lo, width = span[0], span[1] - span[0]
    if name == "exponential":
        b = theta[1] / width
        return {"a": safe_exp(theta[0] - b * lo), "b": b}
    if name == "power_law":
        return {"a": safe_exp(theta[0] - theta[1] * math.log(lo)), "b": theta[1]}
    c0 = safe_exp(theta[0])
    b = c0 * (safe_exp(theta[1]) - 1.0) / width
    return {"a": c0 - b * lo if math.isfinite(b) else math.nan, "b": b}


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
            out[k] = (float(c * math.exp(-crit * s / c)), float(c * safe_exp(crit * s / c)))
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
    assert best is not None
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


def compare_laws(q: ArrayLike, y: ArrayLike, *, y_ci: Optional[ArrayLike] = None,
                 censored: Optional[Sequence[Optional[str]]] = None, seed: int = 0,
                 level: float = 0.95, _with_ci: bool = True) -> LawComparison:
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


def two_stage(q: Sequence[float], capacities: Sequence[ArrayLike], scores: Sequence[ArrayLike],
              *, seed: int = 0, n_boot: int = 200, level: float = 0.95
              ) -> Tuple[LawComparison, List[argmin.OptimumEstimate]]:
    """The old chain on a study table: argmin per Q (local parabola), then the law comparison.

    Same inputs as :func:`qlsgan_tf.analysis.fit_surface`. Returns the comparison and the
    per-Q :class:`~qlsgan_tf.analysis.argmin.OptimumEstimate` list; generators without a
    counted run are left out of the comparison.
    """
    qs, ys, cis, cens, ests = [], [], [], [], []
    for i, (cap, tab) in enumerate(zip(capacities, scores)):
        est = argmin.estimate_optimum(cap, tab, seed=seed + i, n_boot=max(n_boot, 1),
                                      level=level)
        ests.append(est)
        if est.value is None:
            continue
        qs.append(float(q[i]))
        ys.append(est.value)
        cens.append(est.censored)
        ci = est.ci if est.censored is None else (est.value, est.value)
        cis.append(ci if n_boot > 0 and all(np.isfinite(ci)) and ci[0] > 0 else
                   (est.value, est.value))
    if len(qs) < MIN_TREND_POINTS:
        return LawComparison("insufficient data", "insufficient", None, {}, len(qs), 0), ests
    y_ci = np.array(cis) if n_boot > 0 else None
    return compare_laws(qs, ys, y_ci=y_ci, censored=cens, seed=seed, level=level,
                        _with_ci=False), ests
