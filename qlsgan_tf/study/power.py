"""Power of the study's verdict, by simulating planted laws through the same estimator chain.

For a design (quantum capacities ``q``, critic grid, number of seeds) and a noise level, each
repetition plants a law C*(Q) (``exponential``, ``power_law``, ``linear`` rising ``rise``-fold
over the Q range, or ``flat``), builds for every Q a score table ``[n_seeds, n_critics]``
unimodal in log C around C*(Q), with per-seed and per-run multiplicative noise and a fraction
``nan_rate`` of invalid (NaN) runs, and runs the analysis exactly as on real runs:
:func:`qlsgan_tf.study.optimum.estimate_batch` per Q (cluster bootstrap over seeds), then
:func:`qlsgan_tf.study.fits.compare_laws` with the intervals and censoring. The fraction of
repetitions ending in each verdict is the verdict's probability; its Monte-Carlo standard error
is ``sqrt(p (1 - p) / n_rep)`` (at most ``0.5 / sqrt(n_rep)``).

**Noise.** The noise is given as ``sigma``, the standard deviation of an estimate of log C*
(natural log), which a study measures from its C* intervals (the median of
``log(high / low) / (2 z)``, see ``analysis.measured_noise``). The per-run score noise that
produces this ``sigma`` at the design's grid and seeds is found by bisection on simulated
tables (:func:`calibrate_noise`);
the score valley has curvature :data:`VALLEY_CURVATURE` per (log C)^2.
"""
import dataclasses
import math

import numpy as np

from qlsgan_tf.study import fits, optimum
from qlsgan_tf.validation import check_int

TRUTHS = ("exponential", "power_law", "linear", "flat")
#: The verdict that is right for each planted law.
CORRECT = {"exponential": "exponential", "power_law": "power law", "linear": "linear",
           "flat": "no increase detected"}
#: Relative rise of the score per (natural-log capacity)^2 away from the optimum.
VALLEY_CURVATURE = 0.1
#: Relative std of a seed's offset shared by all its runs (seeds differ as a whole too).
SEED_OFFSET = 0.05
DEFAULT_N_REP = 100
TARGET_POWER = 0.8


@dataclasses.dataclass(frozen=True)
class PowerResult:
    """Verdict probabilities per planted law at one design.

    ``probabilities[truth][verdict]``; ``power[truth]`` = probability of the right verdict;
    ``mc_error`` = the largest Monte-Carlo standard error, ``0.5 / sqrt(n_rep)``.
    """

    design: dict
    sigma: float
    score_noise: float
    n_rep: int
    probabilities: dict

    @property
    def power(self):
        return {t: self.probabilities[t].get(CORRECT[t], 0.0) for t in self.probabilities}

    @property
    def mc_error(self):
        return 0.5 / math.sqrt(self.n_rep)

    def to_dict(self):
        return {"design": self.design, "sigma": self.sigma, "score_noise": self.score_noise,
                "n_rep": self.n_rep, "mc_error": self.mc_error,
                "probabilities": self.probabilities, "power": self.power}


def planted_law(truth, q, rise, centre):
    """C*(Q) of a planted law rising ``rise``-fold over ``q``, geometric mean about ``centre``."""
    q = np.asarray(q, dtype=np.float64)
    lo, hi = q.min(), q.max()
    if truth == "exponential":
        shape = np.exp(math.log(rise) * (q - lo) / (hi - lo))
    elif truth == "power_law":
        shape = (q / lo) ** (math.log(rise) / math.log(hi / lo))
    elif truth == "linear":
        shape = 1.0 + (rise - 1.0) * (q - lo) / (hi - lo)
    elif truth == "flat":
        shape = np.ones_like(q)
    else:
        raise ValueError(f"truth must be one of {TRUTHS}; got {truth!r}")
    return centre * shape / math.exp(np.mean(np.log(shape)))


def score_tables(rng, log_cstar, x, n_seeds, score_noise, nan_rate):
    """Simulated score tables ``[..., n_seeds, n_critics]`` for true log optima ``log_cstar``."""
    log_cstar = np.asarray(log_cstar, dtype=np.float64)[..., None, None]
    valley = 1.0 + VALLEY_CURVATURE * (x - log_cstar) ** 2
    shape = log_cstar.shape[:-2] + (n_seeds, x.size)
    seed_off = 1.0 + SEED_OFFSET * rng.standard_normal(shape[:-1] + (1,))
    tables = valley * seed_off * np.exp(score_noise * rng.standard_normal(shape))
    return np.where(rng.random(shape) < nan_rate, np.nan, tables)


def calibrate_noise(sigma, critic_grid, n_seeds, *, nan_rate=0.1, seed=0, n_tables=400):
    """Per-run score noise (relative) whose log C* estimates have std ``sigma`` (bisection)."""
    x = np.log(np.asarray(critic_grid, dtype=np.float64))
    rng = np.random.default_rng(seed)
    # Truths spread over the inner part of the grid; the same draws for every trial noise.
    truth = rng.uniform(x[0] + 0.25 * (x[-1] - x[0]), x[-1] - 0.25 * (x[-1] - x[0]), n_tables)
    state = rng.bit_generator.state
    ones = np.ones((1, n_seeds))

    def spread(noise):
        rng.bit_generator.state = state
        tables = score_tables(rng, truth, x, n_seeds, noise, nan_rate)
        x_hat, _, _ = optimum.optimum_from_means(x, optimum.seed_means(tables, ones)[..., 0, :])
        return float(np.nanstd(x_hat - truth))

    lo, hi = 1e-4, 3.0
    for _ in range(30):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if spread(mid) < sigma else (lo, mid)
    return math.sqrt(lo * hi)


def _check_design(q, critic_grid, n_seeds, sigma, rise, n_rep):
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 1 or np.unique(q).size < 2 or np.any(q <= 0):
        raise ValueError(f"q must hold at least 2 distinct positive capacities; got {q.tolist()}")
    grid = np.asarray(critic_grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 3 or np.any(np.diff(grid) <= 0) or grid[0] <= 0:
        raise ValueError("critic_grid must hold at least 3 increasing positive capacities; got "
                         f"{grid.tolist()}")
    check_int("n_seeds", n_seeds, 2)
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number (std of log C*); got {sigma!r}")
    if not (isinstance(rise, (int, float)) and rise > 1):
        raise ValueError(f"rise must be a number > 1; got {rise!r}")
    check_int("n_rep", n_rep, 1)
    return np.sort(q), grid


def simulate_power(q, critic_grid, n_seeds, sigma, *, truths=TRUTHS, rise=30.0,
                   n_rep=DEFAULT_N_REP, nan_rate=0.1, n_boot=200, seed=0, score_noise=None):
    """Probability of each verdict per planted law at this design; see the module docstring.

    Args:
      q: the quantum capacities of the design.
      critic_grid: the critic capacities tried at each Q.
      n_seeds: seeds per configuration.
      sigma: std of an estimate of log C* (natural log) at this design.
      truths: planted laws to simulate (subset of :data:`TRUTHS`).
      rise: how many-fold the planted C* rises over the Q range.
      n_rep: repetitions per law (Monte-Carlo error ``<= 0.5 / sqrt(n_rep)``).
      nan_rate: fraction of invalid runs.
      n_boot: cluster-bootstrap resamples per C* estimate.
      score_noise: per-run noise; default: :func:`calibrate_noise` of ``sigma``.

    Returns:
      :class:`PowerResult`.
    """
    q, grid = _check_design(q, critic_grid, n_seeds, sigma, rise, n_rep)
    x = np.log(grid)
    if score_noise is None:
        score_noise = calibrate_noise(sigma, grid, n_seeds, nan_rate=nan_rate, seed=seed)
    rng = np.random.default_rng([seed, 7])
    weights = optimum.bootstrap_weights(n_seeds, n_boot, rng)
    centre = math.exp(0.5 * (x[0] + x[-1]))
    probs = {}
    for truth in truths:
        log_cstar = np.log(planted_law(truth, q, rise, centre))
        tables = score_tables(rng, np.broadcast_to(log_cstar, (n_rep, q.size)), x, n_seeds,
                              score_noise, nan_rate)
        est = optimum.estimate_batch(x, tables, weights, 0.95)
        counts = {}
        for r in range(n_rep):
            verdict = verdict_of_estimates(q, est, r)
            counts[verdict] = counts.get(verdict, 0) + 1
        probs[truth] = {v: counts.get(v, 0) / n_rep for v in fits.VERDICTS}
    design = {"q": q.tolist(), "critic_grid": grid.tolist(), "n_seeds": int(n_seeds),
              "rise": float(rise), "nan_rate": float(nan_rate)}
    return PowerResult(design, float(sigma), float(score_noise), int(n_rep), probs)


def verdict_of_estimates(q, est, r=None):
    """compare_laws on a (batch row ``r`` of) :func:`optimum.estimate_batch` output, as the
    analysis calls it: points without a valid run are left out, censored ones kept."""
    pick = (lambda a: np.asarray(a)) if r is None else (lambda a: np.asarray(a)[r])
    x_hat = pick(est["x_hat"])
    ok = np.isfinite(x_hat)
    cens = pick(est["censored"])[ok]
    y = np.exp(x_hat[ok])
    ci = np.exp(np.stack([pick(est["low"])[ok], pick(est["high"])[ok]], axis=1))
    ci[cens != 0] = y[cens != 0, None]
    return fits.compare_laws(np.asarray(q, dtype=np.float64)[ok], y, y_ci=ci,
                             censored=[{-1: "low", 0: None, 1: "high"}[int(c)] for c in cens],
                             _with_ci=False).verdict


def _candidates(q, n_seeds):
    """Designs to try: more Q points over the same range, a wider range, more seeds."""
    q = np.sort(np.asarray(q, dtype=np.float64))
    lo, hi, n = q[0], q[-1], q.size
    out = []
    for factor in (1.5, 2.0):
        m = int(math.ceil(n * factor))
        out.append((f"{m} Q points over the same range", np.geomspace(lo, hi, m), n_seeds))
    for factor in (2.0, 4.0):
        out.append((f"{n} Q points over a {factor * hi / lo:.3g}x range",
                    np.geomspace(lo, lo * factor * hi / lo, n), n_seeds))
    for factor in (2, 4):
        out.append((f"{factor * n_seeds} seeds", q, factor * n_seeds))
    return out


def design_for_power(q, critic_grid, n_seeds, sigma, *, truth="exponential",
                     target=TARGET_POWER, n_rep=DEFAULT_N_REP, seed=0, **kwargs):
    """What design would reach ``target`` power for ``truth`` (more Q points, a wider Q range
    or more seeds), simulated with the per-run noise measured at the current design.

    Returns:
      dict with ``current`` (power now), ``target``, ``candidates`` (list of
      ``{"design", "power"}``) and ``suggestion`` (the first candidate reaching ``target``,
      or None when none of them does). A wider range keeps the planted rise per unit Q, so
      the rise grows with the range for the exponential and linear laws, as it would.
    """
    if truth not in TRUTHS:
        raise ValueError(f"truth must be one of {TRUTHS}; got {truth!r}")
    q, grid = _check_design(q, critic_grid, n_seeds, sigma, kwargs.get("rise", 30.0), n_rep)
    nan_rate = kwargs.get("nan_rate", 0.1)
    noise = calibrate_noise(sigma, grid, n_seeds, nan_rate=nan_rate, seed=seed)
    rise = float(kwargs.pop("rise", 30.0))
    base = simulate_power(q, grid, n_seeds, sigma, truths=(truth,), rise=rise, n_rep=n_rep,
                          seed=seed, score_noise=noise, **kwargs).power[truth]
    result = {"current": base, "target": target, "truth": truth, "candidates": [],
              "suggestion": None, "mc_error": 0.5 / math.sqrt(n_rep)}
    for label, q_new, seeds_new in _candidates(q, n_seeds):
        rise_new = _rise_for(truth, q, q_new, rise)
        p = simulate_power(q_new, grid, seeds_new, sigma, truths=(truth,), rise=rise_new,
                           n_rep=n_rep, seed=seed, score_noise=noise, **kwargs).power[truth]
        result["candidates"].append({"design": label, "power": p})
        if result["suggestion"] is None and p >= target:
            result["suggestion"] = label
    return result


def _rise_for(truth, q, q_new, rise):
    """The planted law's rise over a new Q range (same law, same parameters)."""
    lo, hi, new_hi = q.min(), q.max(), q_new.max()
    if truth == "exponential":
        return float(rise ** ((new_hi - lo) / (hi - lo)))
    if truth == "power_law":
        return float(rise ** (math.log(new_hi / lo) / math.log(hi / lo)))
    if truth == "linear":
        return float(1.0 + (rise - 1.0) * (new_hi - lo) / (hi - lo))
    return rise


#: The noise of log C* assumed before any run exists (the issue's design target); a study
#: with finished runs uses the spread of its own bootstrap C* estimates instead.
ASSUMED_SIGMA = 0.3


def describe_power(q, critic_grid, n_seeds, sigma=None, *, n_rep=DEFAULT_N_REP, seed=0):
    """Plain-text lines: verdict probabilities at this design and what would reach 80 %.

    ``sigma`` None uses :data:`ASSUMED_SIGMA` and says so.
    """
    q = sorted({float(v) for v in q})
    if len(q) < 4 or len(critic_grid) < 3 or n_seeds < 2:
        return ["power: not simulated (needs >= 4 Q values, >= 3 critic capacities and >= 2 "
                f"seeds; this design has {len(q)}, {len(critic_grid)} and {n_seeds})"]
    source = "measured on the finished runs" if sigma is not None else "assumed"
    sigma = max(float(sigma), 0.01) if sigma is not None else ASSUMED_SIGMA
    res = simulate_power(q, critic_grid, n_seeds, sigma, n_rep=n_rep, seed=seed)
    lines = [f"power at noise sigma = {sigma:.3g} in log C* ({source}), C* rising "
             f"{res.design['rise']:g}x over Q = {q[0]:g}..{q[-1]:g}, {n_rep} repetitions per "
             f"law (Monte-Carlo error <= {res.mc_error:.2f}):"]
    for truth, probs in res.probabilities.items():
        shown = ", ".join(f"{v} {p:.0%}" for v, p in probs.items() if p)
        lines.append(f"  planted {truth}: {shown}")
    if res.power["exponential"] < TARGET_POWER:
        design = design_for_power(q, critic_grid, n_seeds, sigma, n_rep=n_rep, seed=seed)
        tried = "; ".join(f"{c['design']} {c['power']:.0%}" for c in design["candidates"])
        lines.append(f"  to reach {TARGET_POWER:.0%} for an exponential law: "
                     + (design["suggestion"] or "none of the tried designs") + f" ({tried})")
    return lines
