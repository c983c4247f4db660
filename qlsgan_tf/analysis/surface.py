"""One joint fit of the score surface: the knee C*(Q) of every quantum generator, and its law.

Mean converged score vs critic capacity falls steeply and then flattens (a knee, not a
valley), so the estimand is the **knee**: the smallest critic capacity at which the expected
score of generator Q comes within ``tolerance`` (relative) of its plateau. It is read from a
curve fitted in log score (noise is multiplicative), for cell (Q_i, critic C)::

    log s = level_i + h softplus((c(h) + alpha_i (kappa_i - ln C)) / h)
            + up_i max(0, ln C - kappa_i)^2

with one softness ``h`` of the corner for all generators (h = 1: the saturating curve
s = plateau (1 + A C^-alpha); h -> 0: a hinge in log C) and ``c(h)`` putting the excess at
exactly ln(1 + tol) at C = C* = exp(kappa_i); ``up_i >= 0`` is an optional upturn past the knee
(a valley: when it lifts the curve's minimum by more than VALLEY_EXCESS tolerances, the knee is
read against that minimum). The free knees (one per Q) are tested for a trend and compared
across the laws exponential (ln C* = a + b Q), power law (ln C* = a + b ln Q) and linear
(C* = a + b Q) by their AICc (:data:`RULES`). All counted runs of all Q enter one objective:
per-Q seed effects are removed within Q (two-way fit), the cell means are weighted by their
number of counted runs, a soft-L1 loss protects against outlying cells, and least squares with
an analytic Jacobian is started from several points. The knee intervals (cluster bootstrap
over seeds joined with the Wald interval) also take in the knees of every slow tail the data
allow (:data:`TAIL_PROFILE`): the tail's shape is not identified below the noise of a cell
mean. See ``docs/method.md``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from qlsgan_tf.analysis.twostage import safe_exp

try:  # small dense problems: BLAS threads only contend (a fit ran 15x slower on 2 busy cores)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

__all__ = [
    "DELTA_AIC",
    "KneeEstimate",
    "LawResult",
    "MAX_CENSORED_FRACTION",
    "MIN_CRITICS",
    "MIN_Q",
    "RULES",
    "SENSITIVITY_TOLERANCES",
    "SurfaceFit",
    "TOLERANCE",
    "TREND_ALPHA",
    "TrendResult",
    "VERDICTS",
    "fit_surface",
]

#: Relative excess over the plateau that defines the knee; fixed before any study data.
TOLERANCE = 0.05
#: Two other tolerances for the sensitivity check.
SENSITIVITY_TOLERANCES = (0.02, 0.10)
VERDICTS = ("exponential", "power law", "linear", "increasing, form undetermined",
            "no increase detected", "insufficient data")
#: The laws compared for the form of the rise; "flat" and "free" are references.
LAWS = ("exponential", "power law", "linear")
#: One-sided p-value of the trend test below which the knees count as rising with Q.
TREND_ALPHA = 0.05
#: ΔAIC by which the best law must lead both others to be named (checked by simulation).
DELTA_AIC = 2.0
#: Fewest generators with counted runs for a verdict.
MIN_Q = 4
#: Largest fraction of censored knees for a verdict.
MAX_CENSORED_FRACTION = 0.5
#: Fewest critics with counted runs for a generator's knee to be placed (fewer: NaN knee).
MIN_CRITICS = 4
#: Soft-L1 scale of the robust loss, in standard errors of a cell mean.
ROBUST_SCALE = 2.0
#: How far (natural log) a knee may be placed beyond the grid in the fit.
KNEE_MARGIN = 3.0
ALPHA_BOUNDS = (0.1, 10.0)
#: One softness of the corner for all generators, fitted (h = 1: saturating; h -> 0: hinge).
FREE_SHARPNESS = True
SHARPNESS_BOUNDS = (0.02, 4.0)
#: The knee intervals carry the uncertainty of the tail's shape: the surface is refitted
#: with a slow tail shared by all generators (a part w of the excess at the knee decaying at
#: a fitted rate r times the steepness), w fixed at each of these weights, and every fit
#: whose deviance is within the chi2(1) quantile (x dispersion) of the best adds its knees
#: and their Wald intervals to the union (a profile over w; None: off).
TAIL_PROFILE: Optional[Tuple[float, ...]] = (0.25, 0.5, 0.75, 0.9)
TAIL_RATE_BOUNDS = (0.05, 1.0)
#: Join each plausible tail's Wald interval (True) or only its knee (False).
TAIL_WALD = False
#: Read the knee against the curve's minimum (a valley) when the fitted upturn lifts that
#: minimum above the plateau level by more than this many tolerances (else: the level).
EFFECTIVE_KNEE = True
VALLEY_EXCESS = 1.0
#: Prior sd of ln h about 0 (the saturating curve); None: free.
SHARPNESS_SD: Optional[float] = 1.0
#: One steepness for all generators (True) or one per generator (False).
SHARED_STEEPNESS = False
#: Prior sd of a generator's steepness about the mean steepness (a ridge; None: free).
STEEPNESS_SD: Optional[float] = 0.15
_LAW_ORDER = ("exponential", "power law", "linear", "flat", "free")
#: The decision rule, fixed before any data: rule code -> condition and verdict, in the order
#: the rules are applied (the first that holds gives the verdict).
RULES: Dict[str, str] = {
    "too_few_q": f"fewer than {MIN_Q} quantum generators (distinct Q) whose knee can be placed "
                 f"(counted runs at >= {MIN_CRITICS} critics): insufficient data",
    "censored": f"more than {MAX_CENSORED_FRACTION:.0%} of those knees lie beyond the critics "
                "tried (censored): insufficient data",
    "no_trend": "Kendall's tau of the free knees vs Q (censored knees at their grid edge) has "
                f"one-sided p >= {TREND_ALPHA}: no increase detected",
    "aic": "rising, and the best of exponential / power law / linear (fitted to the knees with "
           f"their errors) leads both others by dAICc >= {DELTA_AIC}: that law",
    "aic_close": f"rising, but the best law leads another by dAICc < {DELTA_AIC}: increasing, "
                 "form undetermined",
}


# ------------------------------------------------------------------------------------------
# Input checks and the table.


def _check_cell(i: int, capacities_i, scores_i) -> Tuple[np.ndarray, np.ndarray]:
    """Checks and sorts generator i's critic capacities and score table."""
    try:
        cap = np.asarray(capacities_i, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"capacities[{i}] must be numbers") from None
    if cap.ndim != 1 or cap.size < 1:
        raise ValueError(f"capacities[{i}] must be a non-empty 1-D sequence")
    if not np.all(np.isfinite(cap)) or np.any(cap <= 0):
        raise ValueError(f"capacities[{i}] must be finite and positive; got {cap.tolist()}")
    if np.unique(cap).size != cap.size:
        raise ValueError(f"capacities[{i}] has repeated values")
    try:
        tab = np.asarray(scores_i, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"scores[{i}] must be a rectangular table of numbers") from None
    if tab.ndim != 2 or tab.shape[1] != cap.size or tab.shape[0] < 1:
        raise ValueError(f"scores[{i}] must have shape [n_seeds, {cap.size}]; got "
                         f"{tab.shape}")
    if np.any(np.isinf(tab)) or np.any(tab[np.isfinite(tab)] <= 0):
        raise ValueError(f"scores[{i}] must be positive and finite (NaN: run not counted)")
    order = np.argsort(cap)
    return cap[order], tab[:, order]


def _check_inputs(q, capacities, scores) -> Tuple[np.ndarray, List[np.ndarray], List[np.ndarray]]:
    try:
        qa = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"q must be a 1-D sequence of numbers; got {q!r:.80}") from None
    if qa.ndim != 1 or qa.size < 1:
        raise ValueError(f"q must be a non-empty 1-D sequence; got shape {qa.shape}")
    if not np.all(np.isfinite(qa)) or np.any(qa <= 0):
        raise ValueError(f"q must be finite and positive; got {qa.tolist()}")
    try:
        n_cap, n_sc = len(capacities), len(scores)
    except TypeError:
        raise ValueError("capacities and scores must be sequences, one entry per q") from None
    if n_cap != qa.size:
        raise ValueError(f"capacities must have one entry per q ({qa.size}); got {n_cap}")
    if n_sc != qa.size:
        raise ValueError(f"scores must have one entry per q ({qa.size}); got {n_sc}")
    caps, tabs = [], []
    for i in range(qa.size):
        cap, tab = _check_cell(i, capacities[i], scores[i])
        caps.append(cap)
        tabs.append(tab)
    return qa, caps, tabs


@dataclasses.dataclass
class _Table:
    """Padded log-score table [n_Q, n_seeds, n_critics] and its cells."""

    q: np.ndarray
    x: np.ndarray          # [n, C] log capacities (NaN padding)
    y: np.ndarray          # [n, S, C] log scores (NaN: not counted or padding)

    @classmethod
    def build(cls, q, caps, tabs) -> _Table:
        n, c_max = q.size, max(c.size for c in caps)
        s_max = max(t.shape[0] for t in tabs)
        x = np.full((n, c_max), np.nan)
        y = np.full((n, s_max, c_max), np.nan)
        for i, (c, t) in enumerate(zip(caps, tabs)):
            x[i, :c.size] = np.log(c)
            with np.errstate(divide="ignore", invalid="ignore"):
                y[i, :t.shape[0], :c.size] = np.log(t)
        return cls(q, x, y)


def _two_way(y: np.ndarray, n_iter: int = 8) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell means adjusted for per-(Q, seed) offsets; returns (means, counts, seed effects)."""
    ok = np.isfinite(y)
    yz = np.where(ok, y, 0.0)
    cnt = ok.sum(axis=1)                     # [n, C]
    seed_cnt = ok.sum(axis=2)                # [n, S]
    seed = np.zeros(y.shape[:2])
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(n_iter):
            m = np.sum(np.where(ok, yz - seed[:, :, None], 0.0), axis=1) / np.maximum(cnt, 1)
            seed = np.sum(np.where(ok, yz - m[:, None, :], 0.0), axis=2) / np.maximum(seed_cnt, 1)
            has = seed_cnt > 0
            centre = np.sum(np.where(has, seed, 0.0), axis=1) / np.maximum(has.sum(axis=1), 1)
            seed = np.where(has, seed - centre[:, None], 0.0)
        m = np.sum(np.where(ok, yz - seed[:, :, None], 0.0), axis=1) / np.maximum(cnt, 1)
    return np.where(cnt > 0, m, np.nan), cnt, seed


@dataclasses.dataclass
class _Cells:
    """The flattened cells used by the objective, plus the noise estimates."""

    qi: np.ndarray          # generator index per cell
    x: np.ndarray
    m: np.ndarray           # seed-adjusted mean log score
    w: np.ndarray           # sqrt(n_runs) / sigma
    sigma: float            # run-level sd of log score
    run_resid: np.ndarray   # pooled run residuals (inflated for the fitted df)
    seed_eff: np.ndarray    # pooled seed effects (shrunk to the seed-level sd)
    x_lo: np.ndarray        # per Q: smallest / largest counted log critic
    x_hi: np.ndarray
    active: np.ndarray      # per Q: has counted runs
    df: int = 0             # residual degrees of freedom of the run noise


def _cells(tab: _Table) -> _Cells:
    m, cnt, seed = _two_way(tab.y)
    ok = np.isfinite(tab.y)
    resid = tab.y - m[:, None, :] - seed[:, :, None]
    r = resid[ok]
    n_runs, n_cells = int(ok.sum()), int((cnt > 0).sum())
    n_seeds_used = int((ok.sum(axis=2) > 0).sum())
    n_q_used = int((cnt.sum(axis=1) > 0).sum())
    df = n_runs - n_cells - (n_seeds_used - n_q_used)
    if df >= 2 and r.size:
        sigma = math.sqrt(float(np.sum(r ** 2)) / df)
        run_resid = r * math.sqrt(n_runs / df)
    else:
        sigma, run_resid = 0.1, np.zeros(1)
    sigma = max(sigma, 1e-4)
    seeds = seed[ok.sum(axis=2) > 0]
    if seeds.size > 1:
        n_c = float(np.mean(cnt[cnt > 0])) if n_cells else 1.0
        var_s = float(np.var(seeds))
        target = max(var_s - sigma ** 2 / max(n_c, 1.0), 0.0)
        seed_eff = seeds * (math.sqrt(target / var_s) if var_s > 0 else 0.0)
    else:
        seed_eff = np.zeros(1)
    keep = cnt > 0
    qi = np.broadcast_to(np.arange(tab.q.size)[:, None], keep.shape)[keep]
    x_valid = np.where(keep, tab.x, np.nan)
    active = keep.any(axis=1)
    with np.errstate(invalid="ignore"):
        x_lo = np.where(active, np.nanmin(np.where(active[:, None], x_valid, 0.0), axis=1), 0.0)
        x_hi = np.where(active, np.nanmax(np.where(active[:, None], x_valid, 0.0), axis=1), 0.0)
    return _Cells(qi, tab.x[keep], m[keep], np.sqrt(cnt[keep]) / sigma, sigma, run_resid,
                  seed_eff, x_lo, x_hi, active, max(int(df), 0))


# ------------------------------------------------------------------------------------------
# The curve and the laws of the knee.


def _offset(tolerance: float, sharpness: float) -> float:
    """c(h) = h ln(expm1(ln(1 + tol) / h)): puts the excess ln(1 + tol) at the knee."""
    v = math.log1p(tolerance) / sharpness
    return sharpness * (v + math.log(-math.expm1(-v)))


def _offset_dh(tolerance: float, sharpness: float) -> float:
    """d c / d h."""
    v = math.log1p(tolerance) / sharpness
    return v + math.log(-math.expm1(-v)) - v / (-math.expm1(-v))


def _tail_excess(x: Any, alpha: Any, kappa: Any, tolerance: float, sharpness: float,
                 tail_weight: float, tail_rate: float) -> np.ndarray:
    """ln(1 + relative excess) of the curve without its upturn: the corner's excess
    e(x) = h softplus((c + alpha (kappa - x)) / h) mixed with a slow tail,
    ln((1 - w) exp(e) + w (1 + tol exp(r alpha (kappa - x)))); both parts are ln(1 + tol) at
    the knee, so the mixture is too."""
    h = float(sharpness)
    z = _offset(tolerance, h) + alpha * (kappa - x)
    corner = h * np.logaddexp(0.0, z / h)
    w = float(tail_weight)
    if w <= 0.0:
        return corner
    slow = np.logaddexp(0.0, math.log(tolerance) + tail_rate * alpha * (kappa - x))
    return np.logaddexp(math.log1p(-w) + corner, math.log(w) + slow)


def curve_log(x: Any, level: Any, alpha: Any, kappa: Any, up: Any, tolerance: float,
              sharpness: float = 1.0, tail_weight: float = 0.0,
              tail_rate: float = 1.0) -> np.ndarray:
    """Log mean score at log critic capacity ``x`` (broadcasting).

    The excess over the plateau is ``h softplus((c + alpha (kappa - x)) / h)`` with ``h`` the
    corner's softness: h = 1 is the saturating curve plateau (1 + A C^-alpha), h -> 0 a hinge
    in log C with slope alpha; ``c`` puts the excess at exactly ln(1 + tol) at the knee. With
    ``tail_weight`` w > 0, a part w of the excess at the knee decays at ``tail_rate`` times
    alpha instead (a fast fall, then a slow approach to the plateau); the knee stays at kappa."""
    past = np.maximum(x - kappa, 0.0)
    return (level + _tail_excess(x, alpha, kappa, tolerance, sharpness, tail_weight,
                                 tail_rate) + up * past ** 2)


class _Law:
    """ln C*(Q) = K(theta; Q) in a well-conditioned internal parameterisation."""

    def __init__(self, name: str, q: np.ndarray):
        self.name, self.q = name, q
        lo, hi = float(q.min()), float(q.max())
        self.lo, self.hi = lo, hi
        span = hi - lo if hi > lo else 1.0
        self.t = (q - lo) / span
        self.v = np.log(q / lo) / (math.log(hi / lo) if hi > lo else 1.0)
        self.k = {"exponential": 2, "power law": 2, "linear": 2, "flat": 1,
                  "free": q.size}[name]

    def knees(self, th: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Knees [n] and their Jacobian [n, k] in theta."""
        n = self.q.size
        if self.name == "free":
            return th.copy(), np.eye(n)
        if self.name == "flat":
            return np.full(n, th[0]), np.ones((n, 1))
        if self.name == "exponential":
            return th[0] + th[1] * self.t, np.stack([np.ones(n), self.t], axis=1)
        if self.name == "power law":
            return th[0] + th[1] * self.v, np.stack([np.ones(n), self.v], axis=1)
        g = math.expm1(th[1])
        return (th[0] + np.log1p(g * self.t),
                np.stack([np.ones(n), math.exp(th[1]) * self.t / (1.0 + g * self.t)], axis=1))

    def start(self, kappa: np.ndarray, wts: np.ndarray) -> np.ndarray:
        """Weighted least-squares start from per-Q knees."""
        if self.name == "free":
            return kappa.copy()
        if self.name == "flat":
            return np.array([np.average(kappa, weights=wts)])
        basis = self.v if self.name == "power law" else self.t
        a = np.stack([np.ones_like(basis), basis], axis=1) * np.sqrt(wts)[:, None]
        th = np.linalg.lstsq(a, kappa * np.sqrt(wts), rcond=None)[0]
        if self.name == "linear":
            th = np.array([th[0], float(np.clip(th[1], -0.69, 20.0))])
        return th

    def params(self, th: np.ndarray) -> Dict[str, float]:
        """The law's reported parameters (natural log for the knee)."""
        span = self.hi - self.lo if self.hi > self.lo else 1.0
        if self.name == "free":
            return {f"ln_knee_{i}": float(v) for i, v in enumerate(th)}
        if self.name == "flat":
            return {"a": float(th[0])}
        if self.name == "exponential":
            b = th[1] / span
            return {"a": float(th[0] - b * self.lo), "b": float(b),
                    "rise": float(safe_exp(th[1]))}
        if self.name == "power law":
            lr = math.log(self.hi / self.lo) if self.hi > self.lo else 1.0
            b = th[1] / lr
            return {"a": float(th[0] - b * math.log(self.lo)), "b": float(b),
                    "rise": float(safe_exp(th[1]))}
        c0 = safe_exp(th[0])
        b = c0 * (safe_exp(th[1]) - 1.0) / span
        return {"a": float(c0 - b * self.lo) if math.isfinite(b) else math.nan, "b": float(b),
                "rise": float(safe_exp(th[1]))}


@dataclasses.dataclass
class _Solution:
    law: str
    x: np.ndarray          # full parameter vector
    theta: np.ndarray      # law parameters
    level: np.ndarray
    alpha: np.ndarray
    up: np.ndarray
    kappa: np.ndarray
    deviance: float        # 2 * robust cost
    k: int                 # parameters counted by AIC
    converged: bool
    jac: Optional[np.ndarray] = None
    sharpness: float = 1.0
    tail_weight: float = 0.0
    tail_rate: float = 1.0
    #: Effective ln knees and ln(minimum / level) per generator (free law; else empty).
    knee: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    min_excess: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    tolerance: float = TOLERANCE


def _tail_derivs(u, e, d_h, d, a, h, tolerance, w, r):
    """d log score / d (alpha, kappa, h, tail rate) of the curve with a slow tail, from the
    corner's own terms (``u`` its softplus argument, ``e`` = expit(u), ``d_h`` its d/dh)."""
    corner = h * np.logaddexp(0.0, u)
    v = math.log(tolerance) + r * a * d
    slow = np.logaddexp(0.0, v)
    tot = np.logaddexp(math.log1p(-w) + corner, math.log(w) + slow)
    wa = np.exp(math.log1p(-w) + corner - tot)     # the corner's share at each cell
    wb = 1.0 - wa
    sb = special.expit(v)
    return (wa * e * d + wb * sb * r * d, wa * e * a + wb * sb * r * a, wa * d_h,
            wb * sb * a * d)


def _bounds(law: _Law, na: int, x_lo, x_hi, tail: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of a law's parameter vector (with the tail rate: ``tail``)."""
    n = law.q.size
    h_lo, h_hi = SHARPNESS_BOUNDS if FREE_SHARPNESS else (1.0 - 1e-6, 1.0 + 1e-6)
    shape_lo, shape_hi = [h_lo], [h_hi]
    if tail:
        shape_lo.append(TAIL_RATE_BOUNDS[0])
        shape_hi.append(TAIL_RATE_BOUNDS[1])
    lo_b = np.concatenate([np.full(n, -np.inf), np.full(na, ALPHA_BOUNDS[0]), np.zeros(n),
                           shape_lo, _theta_bounds(law, x_lo, x_hi)[0]])
    hi_b = np.concatenate([np.full(n, np.inf), np.full(na, ALPHA_BOUNDS[1]), np.full(n, np.inf),
                           shape_hi, _theta_bounds(law, x_lo, x_hi)[1]])
    return lo_b, hi_b


class _Problem:
    """The robust least-squares problem of one law on the cells: the parameter vector's layout
    (levels, steepness, upturns per Q; the sharpness h; the tail rate when ``tail_weight`` > 0;
    then the law's parameters), its residuals and their Jacobian."""

    def __init__(self, law: _Law, cells: _Cells, tolerance: float, tail_weight: float) -> None:
        self.law, self.cells, self.tolerance = law, cells, tolerance
        self.n = n = law.q.size
        self.na = n if SHARED_STEEPNESS is False else 1
        self.ih = 2 * n + self.na  # index of the shared sharpness h
        self.w = float(tail_weight)
        self.n_shape = 2 if self.w > 0.0 else 1
        self.act = cells.active.astype(float)
        self.n_act = max(float(self.act.sum()), 1.0)

    def unpack(self, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(levels, steepness, upturns) per Q and the law's parameters."""
        n, na, ih = self.n, self.na, self.ih
        al = p[n:n + na] if na == n else np.full(n, p[n])
        return p[:n], al, p[n + na:ih], p[ih + self.n_shape:]

    def tail_rate(self, p: np.ndarray) -> float:
        return float(p[self.ih + 1]) if self.w > 0.0 else 1.0

    def residuals(self, p: np.ndarray) -> np.ndarray:
        """Weighted cell residuals, then the steepness and sharpness priors."""
        cells, ih = self.cells, self.ih
        lev, al, up, th = self.unpack(p)
        kap, _ = self.law.knees(th)
        qi = cells.qi
        mu = curve_log(cells.x, lev[qi], al[qi], kap[qi], up[qi], self.tolerance, p[ih],
                       self.w, self.tail_rate(p))
        out = [cells.w * (cells.m - mu)]
        if self.na > 1 and STEEPNESS_SD is not None:
            mean = float(np.sum(self.act * al)) / self.n_act
            out.append(self.act * (al - mean) / STEEPNESS_SD)
        if SHARPNESS_SD is not None:
            out.append(np.array([math.log(p[ih]) / SHARPNESS_SD]))
        return np.concatenate(out)

    def jacobian(self, p: np.ndarray) -> np.ndarray:
        """The Jacobian of :meth:`residuals`, in closed form."""
        cells, n, na, ih, w = self.cells, self.n, self.na, self.ih, self.w
        lev, al, up, th = self.unpack(p)
        kap, dk = self.law.knees(th)
        qi = cells.qi
        a, kq, uq = al[qi], kap[qi], up[qi]
        h = float(p[ih])
        d = kq - cells.x
        u = (_offset(self.tolerance, h) + a * d) / h
        e = special.expit(u)
        past = np.maximum(-d, 0.0)
        j = np.zeros((cells.x.size, p.size))
        rows = np.arange(cells.x.size)
        d_h = np.logaddexp(0.0, u) + e * (_offset_dh(self.tolerance, h) - u)
        d_al, d_kap, j[:, ih] = e * d, e * a, d_h
        if w > 0.0:
            d_al, d_kap, j[:, ih], j[:, ih + 1] = _tail_derivs(u, e, d_h, d, a, h,
                                                               self.tolerance, w,
                                                               float(p[ih + 1]))
        j[rows, qi] = 1.0
        j[rows, n + (qi if na == n else 0)] = d_al
        j[rows, n + na + qi] = past ** 2
        dmu_dk = d_kap - 2.0 * uq * past
        j[:, ih + self.n_shape:] = dmu_dk[:, None] * dk[qi]
        out = [-cells.w[:, None] * j]
        if na > 1 and STEEPNESS_SD is not None:
            pen = np.zeros((n, p.size))
            pen[:, n:2 * n] = ((np.diag(self.act) - np.outer(self.act, self.act) / self.n_act)
                               / STEEPNESS_SD)
            out.append(pen)
        if SHARPNESS_SD is not None:
            row = np.zeros((1, p.size))
            row[0, ih] = 1.0 / (h * SHARPNESS_SD)
            out.append(row)
        return np.vstack(out)

    def solution(self, best: Any) -> _Solution:
        """The :class:`_Solution` of a ``least_squares`` result."""
        lev, al, up, th = self.unpack(best.x)
        kap, _ = self.law.knees(th)
        # Parameters counted: level, steepness and upturn per active Q, plus the law's.
        k = (2 * int(self.cells.active.sum()) + self.na + self.law.k + int(FREE_SHARPNESS)
             + self.n_shape - 1)
        sol = _Solution(self.law.name, best.x, th.copy(), lev.copy(), al.copy(), up.copy(), kap,
                        2.0 * float(best.cost), k, bool(best.status > 0), best.jac,
                        float(best.x[self.ih]), self.w, self.tail_rate(best.x),
                        tolerance=self.tolerance)
        if self.law.name == "free":
            eff = [_effective(a, kk, u, self.tolerance, sol.sharpness, None, sol.tail_weight,
                              sol.tail_rate) for a, kk, u in zip(al, kap, up)]
            sol.knee = np.array([e[0] for e in eff])
            sol.min_excess = np.array([e[1] for e in eff])
        return sol


def _fit_law(law: _Law, cells: _Cells, starts: Sequence[np.ndarray], tolerance: float,
             x_lo: np.ndarray, x_hi: np.ndarray, tail_weight: float = 0.0) -> _Solution:
    """Robust least squares of one law, best of several starts; with ``tail_weight`` w > 0,
    of the curve with a slow tail of weight w, its rate fitted (after h in the parameters)."""
    problem = _Problem(law, cells, tolerance, tail_weight)
    lo_b, hi_b = _bounds(law, problem.na, x_lo, x_hi, problem.w > 0.0)
    best = None
    for p0 in starts:
        p0 = np.clip(p0, lo_b + 1e-9, hi_b - 1e-9)
        try:
            res = optimize.least_squares(problem.residuals, p0, jac=problem.jacobian,
                                         bounds=(lo_b, hi_b), loss="soft_l1",
                                         f_scale=ROBUST_SCALE, method="trf", x_scale="jac",
                                         max_nfev=200)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if best is None or res.cost < best.cost - 1e-9:
            best = res
    if best is None:
        raise RuntimeError("no start of the surface fit succeeded")
    return problem.solution(best)


def _min_excess(alpha: float, kappa: float, up: float, tolerance: float, h: float,
                w: float = 0.0, r: float = 1.0) -> float:
    """The lowest excess over the level of a curve with an upturn (0 without one)."""
    if up <= 1e-12 or not EFFECTIVE_KNEE:
        return 0.0

    def excess(x):
        return float(_tail_excess(x, alpha, kappa, tolerance, h, w, r)) + up * (x - kappa) ** 2

    def slope(x):
        step = 1e-6
        return (excess(x + step) - excess(x - step)) / (2 * step)

    if w <= 0.0:
        c = _offset(tolerance, h)

        def slope(x):  # noqa: F811 - exact for the corner alone
            return (-alpha * special.expit((c + alpha * (kappa - x)) / h)
                    + 2.0 * up * (x - kappa))

    x_star = optimize.brentq(slope, kappa, kappa + alpha / (2.0 * up) + 1e-6, xtol=1e-10)
    return excess(x_star)


def _effective(alpha: float, kappa: float, up: float, tolerance: float, h: float,
               at: Optional[float] = None, w: float = 0.0,
               r: float = 1.0) -> Tuple[float, float]:
    """(ln knee, excess of the minimum): the smallest ln C whose expected score is within
    ``at`` (default ``tolerance``) of the curve's minimum; kappa itself without an upturn."""
    m = _min_excess(alpha, kappa, up, tolerance, h, w, r)
    if m < VALLEY_EXCESS * math.log1p(tolerance):
        m = 0.0
    t = tolerance if at is None else at
    if m == 0.0 and at is None:
        return kappa, 0.0
    if w <= 0.0:
        v = (m + math.log1p(t)) / h
        return kappa + (_offset(tolerance, h) - h * (v + math.log(-math.expm1(-v)))) / alpha, m
    # With the slow tail: solve excess(x) = m + ln(1 + t) on the falling side (no upturn
    # there before the curve's minimum, which lies at or past kappa).
    goal = m + math.log1p(t)

    def gap(x):
        return float(_tail_excess(x, alpha, kappa, tolerance, h, w, r)) - goal

    lo, hi = kappa - 1.0, kappa + 1.0
    while gap(lo) < 0 and lo > kappa - 200.0:
        lo -= 2.0 * (kappa - lo)
    while gap(hi) > 0 and hi < kappa + 200.0:
        hi += 2.0 * (hi - kappa)
    if gap(lo) < 0 or gap(hi) > 0:
        return kappa, m
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10)), m


def _eff_knees(sol: _Solution, tolerance: float, at: Optional[float] = None) -> np.ndarray:
    """Effective ln knees of every generator of a solution (see :func:`_effective`)."""
    return np.array([_effective(a, k, u, tolerance, sol.sharpness, at, sol.tail_weight,
                                sol.tail_rate)[0]
                     for a, k, u in zip(sol.alpha, sol.kappa, sol.up)])


def _theta_bounds(law: _Law, x_lo, x_hi):
    lo, hi = float(np.min(x_lo)) - KNEE_MARGIN, float(np.max(x_hi)) + KNEE_MARGIN
    if law.name == "free":
        return x_lo - KNEE_MARGIN, x_hi + KNEE_MARGIN
    if law.name == "flat":
        return np.array([lo]), np.array([hi])
    if law.name == "linear":
        return np.array([lo, -20.0]), np.array([hi, 20.0])
    return np.array([lo, -30.0]), np.array([hi, 30.0])


def _initial_knees(cells: _Cells, n: int, tolerance: float) -> np.ndarray:
    """Per Q: the first critic whose mean log score is within ln(1 + 2 tol) of the lowest."""
    out = np.zeros(n)
    for i in range(n):
        sel = cells.qi == i
        if not sel.any():
            out[i] = 0.0
            continue
        xs, ms = cells.x[sel], cells.m[sel]
        order = np.argsort(xs)
        xs, ms = xs[order], ms[order]
        near = np.flatnonzero(ms - ms.min() <= math.log1p(2 * tolerance))
        out[i] = xs[near[0]]
    return out


def _levels_start(cells: _Cells, n: int) -> np.ndarray:
    out = np.zeros(n)
    for i in range(n):
        sel = cells.qi == i
        out[i] = float(np.min(cells.m[sel])) if sel.any() else 0.0
    return out


# ------------------------------------------------------------------------------------------
# Results.


@dataclasses.dataclass(frozen=True)
class KneeEstimate:
    """The knee C*(Q) of one generator: ``value`` (critic capacity), ``ci`` at ``level``
    (NaN without a bootstrap; one-sided when censored), ``censored`` None / "low" / "high"
    (the knee lies below / above the counted critics: ``value`` is that edge, read "≤" /
    "≥"), ``plateau`` (the fitted plateau score)."""

    value: float
    ci: Tuple[float, float]
    censored: Optional[str]
    plateau: float
    counted_runs: int

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (floats; inf/NaN kept as floats)."""
        return {"value": float(self.value), "ci": [float(self.ci[0]), float(self.ci[1])],
                "censored": self.censored, "plateau": float(self.plateau),
                "counted_runs": int(self.counted_runs)}


@dataclasses.dataclass(frozen=True)
class LawResult:
    """One law of the knee fitted jointly with the surface: parameters (ln C* = a + b·Q,
    ln C* = a + b·ln Q, C* = a + b·Q, ln C* = a; ``rise`` = C* at the largest Q over C* at
    the smallest), their intervals, AIC (deviance over the dispersion, plus 2k) and ΔAIC to
    the best of the three laws."""

    name: str
    params: Dict[str, float]
    ci: Dict[str, Tuple[float, float]]
    aic: float
    delta: float
    deviance: float
    n_params: int
    converged: bool

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict."""
        return {"name": self.name, "params": {k: float(v) for k, v in self.params.items()},
                "ci": {k: [float(a), float(b)] for k, (a, b) in self.ci.items()},
                "aic": float(self.aic), "delta": float(self.delta),
                "deviance": float(self.deviance), "n_params": int(self.n_params),
                "converged": bool(self.converged)}


@dataclasses.dataclass(frozen=True)
class TrendResult:
    """Trend of the knees with Q: ``statistic`` z, the signed root of the likelihood ratio of
    the exponential law against the flat law (over the dispersion), and its one-sided
    p-value (alternative: knees rise with Q)."""

    statistic: float
    p_value: float


@dataclasses.dataclass
class SurfaceFit:
    """The joint fit: ``verdict`` (one of :data:`VERDICTS`), ``trend``, ``knees`` (one
    :class:`KneeEstimate` per q), ``laws`` (name -> :class:`LawResult`, incl. references
    ``flat`` and ``free``), ``plateaus``, ``dispersion``, ``sigma`` (run noise, log score)."""

    q: np.ndarray
    capacities: List[np.ndarray]
    verdict: str
    rule: str
    trend: Optional[TrendResult]
    knees: List[KneeEstimate]
    laws: Dict[str, LawResult]
    plateaus: np.ndarray
    dispersion: float
    sigma: float
    tolerance: float
    level: float
    n_boot: int
    converged: bool
    _solutions: Dict[str, _Solution] = dataclasses.field(repr=False, default_factory=dict)
    _cells: Optional[_Cells] = dataclasses.field(repr=False, default=None)
    _data: Optional[tuple] = dataclasses.field(repr=False, default=None)
    _boot: Optional[tuple] = dataclasses.field(repr=False, default=None)

    @property
    def best_law(self) -> Optional[str]:
        """The law with the lowest AIC among :data:`LAWS` (None when not fitted)."""
        named = [self.laws[n] for n in LAWS if n in self.laws]
        return min(named, key=lambda r: r.aic).name if named else None

    def _surface(self) -> _Solution:
        best = self.best_law
        key = best if best is not None and self.verdict in LAWS else "free"
        return self._solutions[key]

    def curve(self, i: int, capacities: ArrayLike, *, law: Optional[str] = None) -> np.ndarray:
        """Fitted mean score of generator ``i`` at critic ``capacities`` (for plots); by
        default the free-knee surface, or that of ``law``."""
        x = np.log(np.asarray(capacities, dtype=np.float64))
        if law is None and (self._cells is None or not self._cells.active[i]):
            return np.full(x.shape, np.nan)
        sol = self._solutions[law or "free"]
        return np.exp(curve_log(x, sol.level[i], sol.alpha[i], sol.kappa[i], sol.up[i],
                                self.tolerance, sol.sharpness, sol.tail_weight,
                                sol.tail_rate))

    def knees_at(self, tolerance: float) -> np.ndarray:
        """Free knees (critic capacities) of the fitted curves at another ``tolerance``."""
        return np.exp(_eff_knees(self._solutions["free"], self.tolerance, float(tolerance)))

    @functools.cached_property
    def sensitivity(self) -> Dict[float, str]:
        """Verdict refitted at each of :data:`SENSITIVITY_TOLERANCES` (no bootstrap)."""
        if self._data is None:
            return {}
        q, caps, tabs = self._data
        return {t: fit_surface(q, caps, tabs, n_boot=0, tolerance=t, level=self.level).verdict
                for t in SENSITIVITY_TOLERANCES}

    def world(self) -> Any:
        """The fitted world (shape, levels, noise, design, NaN mask) for power simulations."""
        from qlsgan_tf.analysis.power import World
        return World.from_fit(self)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (floats; inf/NaN stay floats: the caller encodes them)."""
        free = self._solutions.get("free")
        return {
            "verdict": self.verdict, "rule": self.rule,
            "trend": None if self.trend is None else {
                "statistic": float(self.trend.statistic), "p_value": float(self.trend.p_value)},
            "q": [float(v) for v in self.q],
            "knees": [k.to_dict() for k in self.knees],
            "laws": {n: r.to_dict() for n, r in self.laws.items()},
            "plateaus": [float(v) for v in self.plateaus],
            "steepness": [] if free is None else [float(v) for v in free.alpha],
            "upturn": [] if free is None else [float(v) for v in free.up],
            "sharpness": math.nan if free is None else float(free.sharpness),
            "dispersion": float(self.dispersion), "sigma": float(self.sigma),
            "tolerance": float(self.tolerance), "level": float(self.level),
            "n_boot": int(self.n_boot), "converged": bool(self.converged),
            "delta_aic_rule": DELTA_AIC, "trend_alpha": TREND_ALPHA,
        }


# ------------------------------------------------------------------------------------------
# The fit.


def _fit_all(q, cells: _Cells, tolerance: float, warm: Optional[Dict[str, _Solution]] = None,
             names: Sequence[str] = _LAW_ORDER) -> Dict[str, _Solution]:
    """Free knees first (several starts), then every law started from them."""
    n = q.size
    x_lo, x_hi = cells.x_lo, cells.x_hi
    sols: Dict[str, _Solution] = {}
    free = _Law("free", q)
    if warm is not None:
        starts = [warm["free"].x]
    else:
        k0 = _initial_knees(cells, n, tolerance)
        lev0 = _levels_start(cells, n)
        na = 1 if SHARED_STEEPNESS else n
        starts = [np.concatenate([lev0, np.full(na, a0), np.zeros(n), [h0], k0 + dk])
                  for a0, dk, h0 in ((1.0, 0.0, 1.0), (2.5, -0.5, 0.3))]
    sols["free"] = _fit_law(free, cells, starts, tolerance, x_lo, x_hi)
    fs = sols["free"]
    wts = np.where(cells.active, 1.0, 1e-6)
    inside = (fs.kappa > x_lo) & (fs.kappa < x_hi)
    wts = np.where(inside, wts, 0.2 * wts)
    for name in names:
        if name == "free":
            continue
        law = _Law(name, q)
        base = np.concatenate([fs.level, fs.alpha[:1] if SHARED_STEEPNESS else fs.alpha,
                               fs.up, [fs.sharpness]])
        starts = [np.concatenate([base, law.start(fs.kappa, wts)])]
        if warm is not None and name in warm:
            starts = [warm[name].x]
        elif name in LAWS:
            flat = law.start(np.full(n, np.average(fs.kappa, weights=wts)), wts)
            starts.append(np.concatenate([base, flat]))
        sols[name] = _fit_law(law, cells, starts, tolerance, x_lo, x_hi)
    return sols


def _dispersion(sols: Dict[str, _Solution], cells: _Cells) -> float:
    free = sols["free"]
    df = cells.x.size - free.k
    return max(1.0, free.deviance / df) if df > 0 else 1.0


def _aics(sols: Dict[str, _Solution], phi: float) -> Dict[str, float]:
    return {n: s.deviance / phi + 2 * s.k for n, s in sols.items()}


def _censor(kappa: np.ndarray, cells: _Cells) -> np.ndarray:
    """-1 (knee below the counted critics), 0, +1 (above)."""
    return np.where(~cells.active, 0, np.where(kappa < cells.x_lo, -1,
                                               np.where(kappa > cells.x_hi, 1, 0)))


def _trend(q: np.ndarray, kappa: np.ndarray, cells: _Cells) -> TrendResult:
    """Kendall's tau of the free knees vs q (censored knees at their grid edge), one-sided."""
    kap = np.clip(kappa, cells.x_lo, cells.x_hi)[cells.active]
    res = stats.kendalltau(q[cells.active], kap, alternative="greater")
    if not np.isfinite(res.statistic):
        return TrendResult(0.0, 1.0)
    return TrendResult(float(res.statistic), float(res.pvalue))


def _knee_laws(q, kappa, se, cells, with_ci=False, level=0.95):
    """Each law fitted by maximum likelihood to the free knees: ln C*_i ~ N(law, se_i^2 +
    tau^2), censored knees through Phi; AICc with k = 3 (a, b, tau)."""
    from qlsgan_tf.analysis import twostage

    act = cells.active
    cens = _censor(kappa, cells)[act]
    logy = np.clip(kappa, cells.x_lo, cells.x_hi)[act]
    s2 = np.where(np.isfinite(se), se, np.nan)[act] ** 2
    fill = float(np.nanmedian(s2[cens == 0])) if np.any(np.isfinite(s2[cens == 0])) else 0.01
    s2 = np.where(np.isfinite(s2) & (cens == 0), s2, fill)
    out = {}
    for name in ("exponential", "power_law", "linear"):
        f = twostage._fit_law(name, q[act], logy, s2, cens, level, with_ci)
        out[twostage.LAW_LABELS[name]] = f
    return out


def _decide(q, sols, cells):
    phi = _dispersion(sols, cells)
    free = sols["free"]
    n_active = int(cells.active.sum())
    cens = _censor(free.knee, cells)
    se = _knee_se(free, phi, q.size)
    if n_active < MIN_Q or np.unique(q[cells.active]).size < MIN_Q:
        return "insufficient data", "too_few_q", None, {}, phi, se
    if np.mean(cens[cells.active] != 0) > MAX_CENSORED_FRACTION:
        return "insufficient data", "censored", None, {}, phi, se
    trend = _trend(q, free.knee, cells)
    laws = _knee_laws(q, free.knee, _knee_se(free, phi, q.size, True), cells)
    if not trend.p_value < TREND_ALPHA:
        return "no increase detected", "no_trend", trend, laws, phi, se
    aic = {n: f.aicc for n, f in laws.items()}
    ranked = sorted(LAWS, key=lambda n: aic[n])
    if aic[ranked[1]] - aic[ranked[0]] >= DELTA_AIC:
        return ranked[0], "aic", trend, laws, phi, se
    return "increasing, form undetermined", "aic_close", trend, laws, phi, se


def _placeable(tab: _Table) -> _Table:
    """The table without the runs of generators counted at fewer than MIN_CRITICS critics."""
    n_crit = np.isfinite(tab.y).any(axis=1).sum(axis=1)
    drop = n_crit < MIN_CRITICS
    if not drop.any():
        return tab
    y = tab.y.copy()
    y[drop] = np.nan
    return _Table(tab.q, tab.x, y)


def _insufficient(q, caps, tolerance, level, n_boot, counted) -> SurfaceFit:
    knees = [KneeEstimate(math.nan, (math.nan, math.nan), None, math.nan, int(c))
             for c in counted]
    return SurfaceFit(q, caps, "insufficient data", "too_few_q", None, knees, {},
                      np.full(q.size, np.nan), math.nan, math.nan, tolerance, level, n_boot,
                      True)


def _tail_profile(q: np.ndarray, cells: _Cells, free: _Solution, tolerance: float, phi: float,
                  level: float) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Knees and Wald errors [n_Q] of the free surface refitted with a slow tail at each
    weight of :data:`TAIL_PROFILE`, for the weights (and w = 0, the fit itself) whose
    deviance lies within the ``level`` chi2(1) quantile (x the dispersion) of the best."""
    if not TAIL_PROFILE:
        return []
    n = q.size
    na = free.alpha.size
    ih = 2 * n + na
    law = _Law("free", q)
    fits, prev = [], None
    for w in TAIL_PROFILE:
        starts = [np.concatenate([free.x[:ih + 1], [0.3], free.x[ih + 1:]])]
        if prev is not None:
            starts.append(prev.x)
        try:
            sol = _fit_law(law, cells, starts, tolerance, cells.x_lo, cells.x_hi, w)
        except RuntimeError:
            continue
        fits.append(sol)
        prev = sol
    if not fits:
        return []
    best = min([free.deviance] + [f.deviance for f in fits])
    cut = best + stats.chi2.ppf(level, 1) * phi
    return [(f.knee, _knee_se(f, phi, n)) for f in fits if f.deviance <= cut]


def _widening(n_seeds: int, level: float) -> float:
    if n_seeds < 2:
        return 1.0
    z = stats.norm.ppf(0.5 * (1.0 + level))
    return float(stats.t.ppf(0.5 * (1.0 + level), n_seeds - 1)
                 * math.sqrt(n_seeds / (n_seeds - 1)) / z)


def _bootstrap(tab: _Table, cells0: _Cells, sols, tolerance, n_boot,
               seed) -> Tuple[np.ndarray, np.ndarray]:
    """Cluster bootstrap over seed indices (shared by all cells): free knees [B, n_Q] and
    their Wald standard errors [B, n_Q]."""
    rng = np.random.default_rng(seed)
    s = tab.y.shape[1]
    kap, ses = [], []
    for _ in range(n_boot):
        idx = rng.integers(0, s, s)
        cells = _cells(_Table(tab.q, tab.x, tab.y[:, idx, :]))
        if not np.array_equal(cells.active, cells0.active):
            continue
        try:
            bs = _fit_all(tab.q, cells, tolerance, warm=sols, names=("free",))
        except RuntimeError:
            continue
        kap.append(bs["free"].knee)
        ses.append(_knee_se(bs["free"], _dispersion(bs, cells), tab.q.size))
    n = tab.q.size
    return np.array(kap).reshape(-1, n), np.array(ses).reshape(-1, n)


def fit_surface(q: ArrayLike, capacities: Sequence[ArrayLike], scores: Sequence[ArrayLike], *,
                seed: int = 0, n_boot: int = 200,
                tolerance: float = TOLERANCE, level: float = 0.95) -> SurfaceFit:
    """Fit the knee surface of a capacity study and say how the knee C*(Q) scales with Q.

    Args:
      q: quantum generator capacities ``[n_Q]``.
      capacities: per q, the critic capacities tried (may differ per generator).
      scores: per q, ``[n_seeds, len(capacities[i])]`` converged scores (lower is better);
        NaN where a run does not count. Seed index j is the same seed in every cell.
      seed: seeds the cluster bootstrap.
      n_boot: bootstrap resamples over seed indices (0: no intervals; the verdict is the same).
      tolerance: relative excess over the plateau that defines the knee.
      level: coverage of the intervals and one-sided bounds.

    Returns:
      :class:`SurfaceFit`.
    """
    guard = (threadpool_limits(1) if threadpool_limits is not None
             else contextlib.nullcontext())
    with guard:
        return _fit_surface(q, capacities, scores, seed, n_boot, tolerance, level)


def _fit_surface(q, capacities, scores, seed, n_boot, tolerance, level) -> SurfaceFit:
    qa, caps, tabs = _check_inputs(q, capacities, scores)
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 0):
        raise ValueError(f"n_boot must be an integer >= 0; got {n_boot!r}")
    if not 0 < float(tolerance) < 1:
        raise ValueError(f"tolerance must be in (0, 1); got {tolerance!r}")
    if not 0 < float(level) < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    tolerance, level = float(tolerance), float(level)
    full = _Table.build(qa, caps, tabs)
    counted = np.isfinite(full.y).sum(axis=(1, 2))
    tab = _placeable(full)
    cells = _cells(tab)
    if int(cells.active.sum()) < 1:
        return _insufficient(qa, caps, tolerance, level, int(n_boot), counted)
    sols = _fit_all(qa, cells, tolerance, names=("free",))
    verdict, rule, trend, knee_laws, phi, se = _decide(qa, sols, cells)
    free = sols["free"]
    cens = _censor(free.knee, cells)
    boot_k, boot_se = (_bootstrap(tab, cells, sols, tolerance, n_boot, seed) if n_boot > 0
                       else (np.zeros((0, qa.size)), np.zeros((0, qa.size))))
    widen = _widening(tab.y.shape[1], level)
    tails = _tail_profile(qa, cells, free, tolerance, phi, level) if n_boot > 0 else []
    knees = [_knee(i, free, cells, cens, se, boot_k, widen, level, int(counted[i]),
                   tab.y.shape[1], tails)
             for i in range(qa.size)]
    laws = _law_results(qa, knee_laws, boot_k, _knee_se(free, phi, qa.size, True), cells,
                        widen, level)
    with np.errstate(over="ignore"):  # a degenerate plateau level: inf, not a warning
        plateaus = np.exp(free.level)
    return SurfaceFit(qa, caps, verdict, rule, trend, knees, laws, plateaus, phi,
                      cells.sigma, tolerance, level, int(n_boot),
                      all(s.converged for s in sols.values()), sols, cells, (qa, caps, tabs),
                      (boot_k, boot_se, se))


def _knee(i, free, cells, cens, se, boot_k, widen, level, counted,
          n_seeds, tails=()) -> KneeEstimate:
    """Knee i with its widened bootstrap interval (joined with the Wald intervals of the
    plausible slow tails, ``tails``), or a one-sided bound when censored."""
    if not cells.active[i]:
        return KneeEstimate(math.nan, (math.nan, math.nan), None, math.nan, counted)
    k, plateau = free.knee[i], math.exp(free.level[i] + free.min_excess[i])
    tail = 50.0 * (1.0 - level)
    z1 = stats.norm.ppf(level)
    has_boot = boot_k.shape[0] >= 10
    if cens[i] == 0:
        ci = (math.nan, math.nan)
        if has_boot:
            lo, hi = np.percentile(boot_k[:, i], [tail, 100 - tail])
            lo, hi = k - widen * max(k - lo, 0.0), k + widen * max(hi - k, 0.0)
            t_q = stats.t.ppf(0.5 * (1.0 + level), max(n_seeds - 1, 1))
            if np.isfinite(se[i]):
                # Union with the Wald interval (t quantile, seeds - 1 df): the bootstrap over
                # few seeds alone covered 86-88 %, the Wald interval alone 96-97 %.
                lo, hi = min(lo, k - t_q * se[i]), max(hi, k + t_q * se[i])
            for k_w, se_w in tails:
                # The tail's shape is not identified below the noise of a cell mean: its
                # plausible shapes move the knee (a misspecified tail read it ~0.26 ln low).
                if np.isfinite(k_w[i]):
                    half = t_q * se_w[i] if TAIL_WALD and np.isfinite(se_w[i]) else 0.0
                    lo, hi = min(lo, k_w[i] - half), max(hi, k_w[i] + half)
            ci = (math.exp(max(lo, -700.0)), math.exp(min(hi, 700.0)))
        return KneeEstimate(math.exp(k), ci, None, plateau, counted)
    if cens[i] > 0:
        edge = cells.x_hi[i]
        bound = k - z1 * se[i] if np.isfinite(se[i]) else edge
        if has_boot:
            bound = min(bound, k - widen * max(k - np.percentile(boot_k[:, i], 2 * tail), 0.0))
        return KneeEstimate(math.exp(edge), (math.exp(max(min(edge, bound), -700.0)), math.inf),
                            "high", plateau, counted)
    edge = cells.x_lo[i]
    bound = k + z1 * se[i] if np.isfinite(se[i]) else edge
    if has_boot:
        bound = max(bound, k + widen * max(np.percentile(boot_k[:, i], 100 - 2 * tail) - k, 0.0))
    return KneeEstimate(math.exp(edge), (0.0, math.exp(min(max(edge, bound), 700.0))), "low",
                        plateau, counted)


def _law_results(q, knee_laws, boot_k, se, cells, widen, level) -> Dict[str, LawResult]:
    """Law table: knee-level fits; intervals by refitting on the bootstrap free knees."""
    if not knee_laws:
        return {}
    best = min(f.aicc for f in knee_laws.values())
    reps: Dict[str, list] = {n: [] for n in knee_laws}
    if boot_k.shape[0] >= 10:
        for kb in boot_k:
            for n, f in _knee_laws(q, kb, se, cells).items():
                reps[n].append(f.params)
    tail = 50.0 * (1.0 - level)
    out = {}
    for n, f in knee_laws.items():
        ci = {key: (math.nan, math.nan) for key in f.params}
        if reps[n]:
            for key, c in f.params.items():
                lo, hi = np.percentile([r[key] for r in reps[n]], [tail, 100 - tail])
                ci[key] = (c - widen * max(c - lo, 0.0), c + widen * max(hi - c, 0.0))
        out[n] = LawResult(n, dict(f.params), ci, f.aicc, f.aicc - best,
                           -2.0 * f.log_likelihood, 3, True)
    return out


def _param_cov(free: _Solution, phi: float) -> Optional[np.ndarray]:
    """Covariance of the free fit's parameter vector (information matrix x dispersion)."""
    if free.jac is None:
        return None
    try:
        return np.linalg.pinv(free.jac.T @ free.jac) * phi
    except np.linalg.LinAlgError:
        return None


def _n_shape(sol: _Solution) -> int:
    """Shared shape parameters in a solution's vector: h, and the tail rate with a tail."""
    return 2 if sol.tail_weight > 0.0 else 1


def _knee_se(free: _Solution, phi: float, n: int, given_sharpness: bool = False) -> np.ndarray:
    """Wald standard errors of the free knees (NaN where the information is singular); with
    ``given_sharpness``, conditional on the shared softness h, whose error moves all knees
    together and so says nothing about the form of the law."""
    jac = free.jac
    if jac is None:
        return np.full(n, np.nan)
    na = free.alpha.size if not SHARED_STEEPNESS else 1
    ih = 2 * n + na
    if given_sharpness:
        jac = jac.copy()
        jac[:, ih:ih + _n_shape(free)] = 0.0
    try:
        cov = np.linalg.pinv(jac.T @ jac) * phi
    except np.linalg.LinAlgError:
        return np.full(n, np.nan)
    d = np.diag(cov)[-n:].copy()
    tol = free.tolerance
    for i in np.flatnonzero(free.up > 1e-12):
        # Delta method through the effective knee: d knee / d (alpha_i, up_i, h, kappa_i).
        base = (free.alpha[i], free.up[i], free.sharpness, free.kappa[i])
        idx = [n + (i if na == n else 0), n + na + i, ih, ih + _n_shape(free) + i]
        k0 = free.knee[i]
        g = np.zeros(4)
        for j in range(4):
            b = list(base)
            step = 1e-6 * max(abs(b[j]), 1e-3)
            b[j] += step
            g[j] = (_effective(b[0], b[3], b[1], tol, b[2], None, free.tail_weight,
                               free.tail_rate)[0] - k0) / step
        d[i] = float(g @ cov[np.ix_(idx, idx)] @ g)
    return np.sqrt(np.where(d > 0, d, np.nan))
