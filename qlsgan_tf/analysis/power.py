"""Power from the world the data show: simulate the fitted surface with a planted knee law.

A :class:`World` is the fitted surface of a study (per-Q plateau level, steepness and upturn,
the knee tolerance), its noise (pooled per-(Q, seed) offsets and run residuals, resampled so
that heavy tails carry over, plus any lack of fit beyond them), its design (q, the critics of
each q, the number of seeds) and its pattern of runs that do not count (the NaN mask, or a
per-q rate for a new design). It serialises to JSON, so a pilot study's world can be shipped
and simulated later without the data. :func:`simulate_power` replaces the knee law by a planted
exponential, power law or flat law and tallies the verdicts of ``fit_surface(n_boot=0)``;
:func:`power_interval` gives that power with its spread over worlds drawn from the fit's
sampling distribution; :func:`design_for_power` finds the cheapest candidate design reaching
the target power.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from qlsgan_tf.analysis import planted, surface
from qlsgan_tf.analysis.surface import SurfaceFit, curve_log, fit_surface

__all__ = ["PLANTED", "POWER_INTERVAL", "TARGET_POWER", "World", "design_for_power",
           "power_interval", "simulate_power"]

#: The planted knee laws and the verdict that is right for each.
PLANTED = {"exponential": "exponential", "power law": "power law",
           "flat": "no increase detected"}
TARGET_POWER = 0.8
#: Worlds drawn per fitted world to carry the fit's estimation uncertainty (0: point fit).
N_DRAWS = 200
#: Largest rise of a world's log score from its upturn over the critic span, and largest
#: shift of a drawn level from the fitted one (natural log).
MAX_DRAW_SHIFT = 5.0
#: Percentiles of the power interval (:func:`power_interval`): 10th and 90th.
POWER_INTERVAL = (0.10, 0.90)
#: Build the world on the steepnesses fitted without the steepness ridge (True), so that
#: simulated studies keep the knee bias the ridge gives when steepnesses differ. Off: on the
#: calibration worlds it made the reported power worse (docs/method.md).
UNSHRUNK_STEEPNESS = False
#: With UNSHRUNK_STEEPNESS, keep only the steepness spread beyond its sampling error.
SPREAD_BEYOND_ERROR = True


@dataclasses.dataclass
class World:
    """A fitted (or planted) world to simulate studies from; see the module docstring."""

    q: np.ndarray
    capacities: List[np.ndarray]
    n_seeds: int
    level: np.ndarray          # ln plateau per q
    steepness: np.ndarray      # alpha per q
    upturn: np.ndarray         # per q
    knees: np.ndarray          # ln C* per q (the fitted free knees)
    tolerance: float
    run_residuals: np.ndarray
    seed_effects: np.ndarray
    cell_sd: float
    knee_sd: float = 0.0                        # scatter of the knees about their law (ln)
    mask: Optional[List[np.ndarray]] = None     # True where a run counts
    nan_rate: Optional[np.ndarray] = None       # per q, when there is no mask
    sharpness: float = 1.0                      # softness of the corner (1: saturating)
    #: Surfaces drawn from the fit's sampling distribution, one used per simulated study:
    #: "level", "steepness", "upturn" [M, n_q], "sharpness" and "noise_scale" [M].
    draws: Optional[Dict[str, np.ndarray]] = None

    @classmethod
    def from_fit(cls, fit: SurfaceFit) -> World:
        """The world of a fit: free-knee surface, residual noise, design and NaN mask."""
        sol, cells = _world_solution(fit), fit._cells
        assert cells is not None and fit._data is not None
        _, caps, tabs = fit._data
        n_mean = float(np.mean(cells.w ** 2)) * cells.sigma ** 2
        cell_sd = math.sqrt(max(fit.dispersion - 1.0, 0.0)) * cells.sigma / math.sqrt(n_mean)
        n_seeds = max(t.shape[0] for t in tabs)
        mask = []
        for t in tabs:
            m = np.zeros((n_seeds, t.shape[1]), dtype=bool)
            m[:t.shape[0]] = np.isfinite(t)
            mask.append(m)
        best = fit.best_law
        knee_sd = float(fit.laws[best].params.get("sigma", 0.0)) if best else 0.0
        knees = np.where(cells.active, np.clip(sol.kappa, cells.x_lo, cells.x_hi), np.nan)
        return cls(fit.q.copy(), [np.asarray(c, dtype=float).copy() for c in caps], n_seeds,
                   sol.level.copy(), sol.alpha.copy(), np.minimum(sol.up, _upturn_cap(cells)),
                   knees, fit.tolerance,
                   cells.run_resid.copy(), cells.seed_eff.copy(), cell_sd, knee_sd, mask, None,
                   sol.sharpness, _draws(fit, sol=sol))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (lists of floats; the mask as lists of 0/1)."""
        return {
            "q": self.q.tolist(), "capacities": [c.tolist() for c in self.capacities],
            "n_seeds": int(self.n_seeds), "level": self.level.tolist(),
            "steepness": self.steepness.tolist(), "upturn": self.upturn.tolist(),
            "knees": self.knees.tolist(), "tolerance": float(self.tolerance),
            "run_residuals": self.run_residuals.tolist(),
            "seed_effects": self.seed_effects.tolist(), "cell_sd": float(self.cell_sd),
            "knee_sd": float(self.knee_sd),
            "mask": None if self.mask is None else [m.astype(int).tolist() for m in self.mask],
            "nan_rate": None if self.nan_rate is None else self.nan_rate.tolist(),
            "sharpness": float(self.sharpness),
            "draws": None if self.draws is None else {
                k: v.tolist() for k, v in self.draws.items()},
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> World:
        """Inverse of :meth:`to_dict`."""
        arr = np.asarray
        return cls(arr(d["q"], float), [arr(c, float) for c in d["capacities"]],
                   int(d["n_seeds"]), arr(d["level"], float), arr(d["steepness"], float),
                   arr(d["upturn"], float), arr(d["knees"], float), float(d["tolerance"]),
                   arr(d["run_residuals"], float), arr(d["seed_effects"], float),
                   float(d["cell_sd"]), float(d.get("knee_sd", 0.0)),
                   None if d.get("mask") is None else [arr(m, bool) for m in d["mask"]],
                   None if d.get("nan_rate") is None else arr(d["nan_rate"], float),
                   float(d.get("sharpness", 1.0)),
                   None if d.get("draws") is None else {
                       k: arr(v, float) for k, v in d["draws"].items()})

    def centre(self) -> float:
        """Mean ln knee of the generators with counted runs (the planted laws' centre)."""
        k = self.knees[np.isfinite(self.knees)]
        return float(np.mean(k)) if k.size else float(np.mean(np.log(self.capacities[0])))

    def simulate(self, rng: np.random.Generator, knees: np.ndarray,
                 draw: Optional[int] = None) -> List[np.ndarray]:
        """One study's score tables with the knees ``knees`` (ln C* per q); the surface is
        a random one of :attr:`draws` (``draw``: that one), or the point fit without draws."""
        level, steep, up, h, scale = (self.level, self.steepness, self.upturn,
                                      self.sharpness, 1.0)
        if self.draws is not None:
            j = int(rng.integers(self.draws["sharpness"].size)) if draw is None else int(draw)
            level, steep, up = (self.draws[k][j] for k in ("level", "steepness", "upturn"))
            h, scale = float(self.draws["sharpness"][j]), float(self.draws["noise_scale"][j])
        out = []
        for i, cap in enumerate(self.capacities):
            x = np.log(cap)
            mu = curve_log(x, level[i], steep[i], knees[i], up[i], self.tolerance, h)
            shape = (self.n_seeds, x.size)
            y = (mu + scale * (self.cell_sd * rng.standard_normal(x.size)
                               + rng.choice(self.seed_effects, (self.n_seeds, 1))
                               + rng.choice(self.run_residuals, shape)))
            s = np.exp(y)
            if self.mask is not None:
                s[~self.mask[i]] = np.nan
            elif self.nan_rate is not None:
                s[rng.random(shape) < self.nan_rate[i]] = np.nan
            out.append(s)
        return out

    def redesign(self, q: ArrayLike, critics: ArrayLike, n_seeds: int) -> World:
        """This world on another design: per-q surface interpolated in q (held constant
        beyond), every q on the critic grid ``critics``, runs missing at each q's rate."""
        q = np.asarray(q, dtype=float)
        ok = np.isfinite(self.knees)
        qs = self.q[ok]

        def interp(v):
            return np.interp(q, qs, v[ok])

        if self.mask is not None:
            rate = np.array([1.0 - float(np.mean(m)) for m in self.mask])
        else:
            rate = self.nan_rate if self.nan_rate is not None else np.zeros(self.q.size)
        crit = np.asarray(critics, dtype=float)
        draws = None
        if self.draws is not None:
            draws = {k: (np.array([np.interp(q, qs, row[ok]) for row in v]) if v.ndim == 2
                         else v) for k, v in self.draws.items()}
        return World(q, [crit.copy() for _ in q], int(n_seeds), interp(self.level),
                     interp(self.steepness), interp(self.upturn), interp(self.knees),
                     self.tolerance, self.run_residuals, self.seed_effects, self.cell_sd,
                     self.knee_sd, None, np.interp(q, self.q, rate), self.sharpness, draws)


def _world_solution(fit: SurfaceFit) -> Any:
    """The free surface the world is built on: with :data:`UNSHRUNK_STEEPNESS`, refitted
    without the steepness ridge (started from the fit) for the generators whose knee is
    placed; the ridge's steepness elsewhere. Falls back to the fit's own surface."""
    sol, cells = fit._solutions["free"], fit._cells
    if (not UNSHRUNK_STEEPNESS or cells is None or surface.SHARED_STEEPNESS
            or surface.STEEPNESS_SD is None):
        return sol
    saved = surface.STEEPNESS_SD
    try:
        surface.STEEPNESS_SD = None
        free = surface._fit_all(fit.q, cells, fit.tolerance, warm=fit._solutions,
                                names=("free",))["free"]
    except (RuntimeError, ValueError, np.linalg.LinAlgError):
        return sol
    finally:
        surface.STEEPNESS_SD = saved
    if not np.all(np.isfinite(free.x)):
        return sol
    # The unshrunk steepnesses scatter by their sampling error as well: keep only the spread
    # beyond it (method of moments on the placed generators).
    act = cells.active
    n = fit.q.size
    cov = surface._param_cov(free, fit.dispersion)
    al = free.alpha.copy()
    if SPREAD_BEYOND_ERROR and cov is not None and int(act.sum()) > 1:
        se2 = np.diag(cov)[n:2 * n][act]
        dev = al[act] - float(np.mean(al[act]))
        var_u = float(np.mean(dev ** 2))
        if var_u > 0 and np.all(np.isfinite(se2)):
            f = math.sqrt(max(var_u - float(np.mean(se2)), 0.0) / var_u)
            al[act] = float(np.mean(al[act])) + f * dev
    al = np.clip(np.where(act, al, sol.alpha), *surface.ALPHA_BOUNDS)
    x = free.x.copy()
    x[n:2 * n] = al
    free.x, free.alpha = x, al
    return free


def _upturn_cap(cells: Any) -> np.ndarray:
    """Largest upturn per q kept in a world: a rise of MAX_DRAW_SHIFT (ln) over the whole
    critic span of that q. An upturn whose fitted knee sits at the top of the critics is not
    identified (it acts beyond the last critic) and would explode once a planted knee moves
    the curve's bottom inside the grid."""
    span = np.maximum(cells.x_hi - cells.x_lo, 0.5)
    return MAX_DRAW_SHIFT / span ** 2


def _draws(fit: SurfaceFit, n_draws: Optional[int] = None,
           seed: int = 0, sol: Any = None) -> Optional[Dict[str, np.ndarray]]:
    """Surfaces drawn from the free fit's approximate sampling distribution: parameters from
    N(estimate, covariance x dispersion) kept within their bounds, and the noise scaled by
    sqrt(df / chi2_df) for the residual degrees of freedom (``sol``: another centre for the
    same spread, e.g. the surface without the steepness ridge)."""
    m = N_DRAWS if n_draws is None else n_draws
    sol = fit._solutions["free"] if sol is None else sol
    cells = fit._cells
    cov = surface._param_cov(fit._solutions["free"], fit.dispersion)
    if m <= 0 or cov is None or cells is None:
        return None
    n = fit.q.size
    na = sol.alpha.size if not surface.SHARED_STEEPNESS else 1
    ih = 2 * n + na
    rng = np.random.default_rng(seed)
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    p = sol.x[None, :] + rng.standard_normal((m, sol.x.size)) @ root.T
    steep = p[:, n:n + na] if na == n else np.repeat(p[:, n:n + 1], n, axis=1)
    steep = np.where(cells.active[None, :], steep, sol.alpha[None, :])
    df = max(cells.df, 1)
    up = np.minimum(np.clip(p[:, n + na:ih], 0.0, None), _upturn_cap(cells)[None, :])
    # Drop absurd draws (poorly identified levels): a level more than MAX_DRAW_SHIFT (ln)
    # from the fitted one.
    shift = np.max(np.abs(p[:, :n] - sol.level[None, :]), axis=1)
    keep = np.isfinite(shift) & (shift <= MAX_DRAW_SHIFT)
    if not np.any(keep):
        return None
    out = {
        "level": p[:, :n],
        "steepness": np.clip(steep, *surface.ALPHA_BOUNDS),
        "upturn": up,
        "sharpness": np.clip(p[:, ih], *surface.SHARPNESS_BOUNDS),
        "noise_scale": np.sqrt(df / rng.chisquare(df, m)),
    }
    return {k: v[keep] for k, v in out.items()}


def _as_world(fit_or_world: Union[SurfaceFit, World]) -> World:
    if isinstance(fit_or_world, World):
        return fit_or_world
    if isinstance(fit_or_world, SurfaceFit):
        if fit_or_world._cells is None or "free" not in fit_or_world._solutions:
            raise ValueError("fit has no fitted surface (insufficient data): no world to "
                             "simulate")
        return World.from_fit(fit_or_world)
    raise ValueError("fit must be a SurfaceFit or a World")


def _check(rise, n_rep, laws) -> None:
    if not (isinstance(rise, (int, float)) and math.isfinite(rise) and rise > 1):
        raise ValueError(f"rise must be a number > 1; got {rise!r}")
    if not (isinstance(n_rep, (int, np.integer)) and n_rep >= 1):
        raise ValueError(f"n_rep must be an integer >= 1; got {n_rep!r}")
    bad = [law for law in laws if law not in PLANTED]
    if bad:
        raise ValueError(f"laws must be among {tuple(PLANTED)}; got {bad[0]!r}")


def _verdict(world: World, rng: np.random.Generator, knees: np.ndarray,
             draw: Optional[int] = None) -> str:
    tabs = world.simulate(rng, knees + world.knee_sd * rng.standard_normal(knees.size), draw)
    return fit_surface(world.q, world.capacities, tabs, n_boot=0,
                       tolerance=world.tolerance).verdict


def simulate_power(fit: Union[SurfaceFit, World], *, rise: float = 30.0, n_rep: int = 200,
                   seed: int = 0,
                   laws: Sequence[str] = tuple(PLANTED)) -> Dict[str, Dict[str, float]]:
    """Verdict rates of ``fit_surface(n_boot=0)`` on studies simulated from the fitted world
    with its knee law replaced by a planted law rising ``rise``-fold over the q range.

    Returns ``{planted law: {verdict: rate}}``; the Monte-Carlo error of a rate is at most
    ``0.5 / sqrt(n_rep)``. For the spread of the power over the worlds the data allow, see
    :func:`power_interval`.
    """
    world = _as_world(fit)
    _check(rise, n_rep, laws)
    rng = np.random.default_rng(seed)
    out: Dict[str, Dict[str, float]] = {}
    for law in laws:
        knees = planted.planted_knees(law, world.q, rise, world.centre())
        tally: Dict[str, float] = {}
        for _ in range(n_rep):
            verdict = _verdict(world, rng, knees)
            tally[verdict] = tally.get(verdict, 0.0) + 1.0 / n_rep
        out[law] = tally
    return out


def _beta_quantiles(mean: float, var: float, probs: Sequence[float]) -> List[float]:
    """Quantiles of the beta distribution with this mean and variance (a point if var = 0)."""
    from scipy import stats

    mean = min(max(mean, 1e-9), 1.0 - 1e-9)
    var = min(var, 0.999 * mean * (1.0 - mean))
    if var <= 1e-12:
        return [float(mean)] * len(probs)
    k = mean * (1.0 - mean) / var - 1.0
    return [float(v) for v in stats.beta.ppf(probs, mean * k, (1.0 - mean) * k)]


def power_interval(fit: Union[SurfaceFit, World], *, rise: float = 30.0, n_rep: int = 200,
                   seed: int = 0, laws: Sequence[str] = tuple(PLANTED), n_worlds: int = 20,
                   probs: Sequence[float] = POWER_INTERVAL) -> Dict[str, Dict[str, Any]]:
    """Power of the right verdict for each planted law with its spread over the worlds the
    data allow (a parametric bootstrap of the fitted world).

    ``n_worlds`` surfaces are taken from :attr:`World.draws` (the fit's sampling
    distribution) and ``n_rep // n_worlds`` studies simulated from each; the power is the
    overall rate and the interval the ``probs`` percentiles of the per-world power, its
    between-world variance estimated from the per-world rates less their binomial error
    (method of moments), plus the Monte-Carlo variance of the overall rate, and given the
    shape of a beta distribution centred on the rate shrunk by half a study each way.

    Returns ``{planted law: {"power": float, "interval": (lo, hi), "rates": {verdict: rate},
    "world_rates": [per-world rate]}}``. A world without draws gives a zero-width interval.
    """
    world = _as_world(fit)
    _check(rise, n_rep, laws)
    if not (isinstance(n_worlds, (int, np.integer)) and 1 <= n_worlds <= n_rep):
        raise ValueError(f"n_worlds must be an integer in [1, n_rep]; got {n_worlds!r}")
    rng = np.random.default_rng(seed)
    m = n_rep // n_worlds
    n_draws = 0 if world.draws is None else int(world.draws["sharpness"].size)
    picks = (rng.choice(n_draws, n_worlds, replace=n_worlds > n_draws) if n_draws
             else [None] * n_worlds)
    out: Dict[str, Dict[str, Any]] = {}
    for law in laws:
        right = PLANTED[law]
        knees = planted.planted_knees(law, world.q, rise, world.centre())
        tally: Dict[str, float] = {}
        per = []
        for j in picks:
            hits = 0
            for _ in range(m):
                verdict = _verdict(world, rng, knees, j)
                tally[verdict] = tally.get(verdict, 0.0) + 1.0 / (m * n_worlds)
                hits += verdict == right
            per.append(hits / m)
        p = np.asarray(per)
        mean = float(p.mean())
        var = 0.0
        if n_draws and n_worlds > 1 and m > 1:
            var = max((float(p.var(ddof=1)) - mean * (1.0 - mean) / m) / (1.0 - 1.0 / m), 0.0)
        # plus the Monte-Carlo error of the overall rate, both about the rate shrunk by half
        # a study each way (so that a rate of 0 or 1 still gets an interval)
        n_tot = m * n_worlds
        centre = (mean * n_tot + 0.5) / (n_tot + 1.0)
        var += centre * (1.0 - centre) / n_tot
        lo, hi = _beta_quantiles(centre, var, probs)
        out[law] = {"power": mean, "interval": (min(lo, mean), max(hi, mean)),
                    "rates": tally, "world_rates": per}
    return out


def _even_q(q: np.ndarray, n: int, upper: float) -> np.ndarray:
    return np.linspace(float(q.min()), upper, n)


def design_for_power(fit: Union[SurfaceFit, World], *, seeds: Optional[Sequence[int]] = None,
                     q_sets: Optional[Sequence[Sequence[float]]] = None,
                     critic_sets: Optional[Sequence[Sequence[float]]] = None,
                     target: float = TARGET_POWER, rise: float = 30.0, n_rep: int = 100,
                     seed: int = 0, max_runs: Optional[int] = None) -> Dict[str, Any]:
    """The cheapest candidate design whose power for a planted exponential reaches ``target``.

    Candidates are every combination of ``seeds`` (numbers of seeds), ``q_sets`` (q values)
    and ``critic_sets`` (critic grids), costed in runs (q x critics x seeds) and simulated in
    order of cost from the fitted world (:meth:`World.redesign`) until one reaches the target;
    designs above ``max_runs`` are not feasible. Defaults: 1, 1.5, 2 and 3 times the seeds;
    the q values, twice as many over the same range, and as many again over a range 1.5 times
    as wide; the union critic grid as an even log grid, with 1.5 times the points, and widened
    by one grid step at each end.

    Returns ``{"design": {...} or None, "power": float or None, "evaluated": [...]}``.
    """
    world = _as_world(fit)
    q = world.q
    n_s = world.n_seeds
    if seeds is None:
        seeds = sorted({n_s, int(math.ceil(1.5 * n_s)), 2 * n_s, 3 * n_s})
    if q_sets is None:
        span = float(q.max() - q.min())
        q_sets = [q.tolist(), _even_q(q, 2 * q.size - 1, float(q.max())).tolist(),
                  _even_q(q, int(math.ceil(1.5 * q.size)), float(q.max()) + 0.5 * span).tolist()]
    if critic_sets is None:
        allc = np.concatenate(world.capacities)
        lo, hi, n_c = float(allc.min()), float(allc.max()), max(len(c) for c in world.capacities)
        step = (math.log(hi) - math.log(lo)) / max(n_c - 1, 1)
        critic_sets = [np.geomspace(lo, hi, n_c).tolist(),
                       np.geomspace(lo, hi, int(math.ceil(1.5 * n_c))).tolist(),
                       np.geomspace(lo * math.exp(-step), hi * math.exp(step), n_c + 2).tolist()]
    cands = []
    for s, qs, cs in itertools.product(seeds, q_sets, critic_sets):
        cost = int(len(qs) * len(cs) * int(s))
        if max_runs is None or cost <= max_runs:
            cands.append((cost, int(s), list(map(float, qs)), list(map(float, cs))))
    cands.sort(key=lambda c: c[0])
    evaluated = []
    for k, (cost, s, qs, cs) in enumerate(cands):
        w = world.redesign(qs, cs, s)
        rates = simulate_power(w, rise=rise, n_rep=n_rep, seed=seed + k, laws=("exponential",))
        power = rates["exponential"].get("exponential", 0.0)
        entry = {"n_seeds": s, "q": qs, "critics": cs, "runs": cost, "power": power}
        evaluated.append(entry)
        if power >= target:
            return {"design": entry, "power": power, "evaluated": evaluated}
    return {"design": None, "power": None, "evaluated": evaluated}
