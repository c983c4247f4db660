"""Planted score surfaces with known knees, for tests, benchmarks and power checks.

Each generator's mean score curve is one of :data:`SHAPES`, written so that its knee (the
smallest critic capacity whose expected score is within ``tolerance`` of the curve's plateau,
its minimum) is exactly the planted ``exp(kappa)``. Noise is multiplicative: a per-(Q, seed)
offset and a per-run term (normal or Student t with 3 degrees of freedom, same sd).
:func:`knee_coverage` scores the knee intervals, :func:`power_calibration` the power reported
for one world, and :func:`power_reliability` the power reported over many worlds (whether the
verdict comes back at the rate reported).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from qlsgan_tf.analysis.surface import TOLERANCE

SHAPES = ("saturating", "hinge", "valley", "asymmetric")
TRUTHS = ("exponential", "power law", "linear", "flat")


def planted_knees(truth: str, q: Any, rise: float, centre: float) -> np.ndarray:
    """ln C*(Q) of a law rising ``rise``-fold over ``q``, mean ``centre`` (natural log)."""
    q = np.asarray(q, dtype=np.float64)
    lo, hi = q.min(), q.max()
    if truth == "exponential":
        shape = math.log(rise) * (q - lo) / (hi - lo)
    elif truth == "power law":
        shape = math.log(rise) * np.log(q / lo) / math.log(hi / lo)
    elif truth == "linear":
        shape = np.log1p((rise - 1.0) * (q - lo) / (hi - lo))
    elif truth == "flat":
        shape = np.zeros_like(q)
    else:
        raise ValueError(f"truth must be one of {TRUTHS}; got {truth!r}")
    return centre + shape - shape.mean()


def mean_log_score(shape: str, x: Any, kappa: float, plateau: float, steep: float = 1.0,
                   tolerance: float = TOLERANCE) -> np.ndarray:
    """Log expected score at log critic capacities ``x`` for a knee at ``kappa``."""
    x = np.asarray(x, dtype=np.float64)
    lt = math.log1p(tolerance)
    if shape == "saturating":
        ex = np.logaddexp(0.0, math.log(tolerance) + steep * (kappa - x))
    elif shape == "hinge":
        w, beta = 0.15, 0.6 * steep
        x0 = kappa + w * math.log(math.expm1(lt / (beta * w)))
        ex = beta * w * np.logaddexp(0.0, (x0 - x) / w)
    elif shape == "valley":
        c = 0.08
        x0 = kappa + math.sqrt(tolerance / c)
        ex = np.log1p(c * (x - x0) ** 2)
    elif shape == "asymmetric":
        ex = np.log1p(0.5 * tolerance * (np.exp(2.0 * steep * (kappa - x))
                                         + np.exp(0.4 * steep * (kappa - x))))
    else:
        raise ValueError(f"shape must be one of {SHAPES}; got {shape!r}")
    return math.log(plateau) + ex


def planted_table(rng: np.random.Generator, q: Any,  # noqa: PLR0913
                  capacities: Sequence[Sequence[float]],
                  kappa: Any, *, n_seeds: int = 10, shape: str = "saturating", noise: float = 0.13,
                  tails: str = "normal", nan_rate: float = 0.1, seed_sd: float = 0.03,
                  tolerance: float = TOLERANCE, steep_spread: float = 0.4,
                  plateaus: Any = None, steepness: float = 1.0) -> List[np.ndarray]:
    """Score tables ``[n_seeds, n_critics]`` per q for planted knees ``kappa`` (ln C*);
    plateaus 0.15-0.25 unless given (one per q), steepness ``steepness`` times a factor
    spread by ``steep_spread`` over the generators."""
    out = []
    for i, _ in enumerate(q):
        x = np.log(np.asarray(capacities[i], dtype=np.float64))
        plateau = 0.15 + 0.1 * (i % 3) / 2 if plateaus is None else float(plateaus[i])
        steep = steepness * (1.0 - 0.5 * steep_spread + steep_spread * ((i * 7) % 5) / 4)
        mu = mean_log_score(shape, x, float(kappa[i]), plateau, steep, tolerance)
        if tails == "normal":
            e = rng.standard_normal((n_seeds, x.size))
        elif tails == "t3":
            e = rng.standard_t(3, (n_seeds, x.size)) / math.sqrt(3.0)
        else:
            raise ValueError(f"tails must be 'normal' or 't3'; got {tails!r}")
        y = mu + seed_sd * rng.standard_normal((n_seeds, 1)) + noise * e
        s = np.exp(y)
        s[rng.random(s.shape) < nan_rate] = np.nan
        out.append(s)
    return out


def design(n_q: int = 10, n_critics: int = 8, q_range: Tuple[float, float] = (12.0, 120.0),
           critic_range: Tuple[float, float] = (30.0, 24000.0)) -> Tuple[np.ndarray, list]:
    """Evenly spaced q and the same even log-spaced critic grid for each."""
    q = np.linspace(q_range[0], q_range[1], n_q)
    grid = np.geomspace(critic_range[0], critic_range[1], n_critics)
    return q, [grid.copy() for _ in range(n_q)]


#: Conditions the coverage check cycles through: (run noise, tails, NaN rate, knee centre).
COVERAGE_CONDITIONS = ((0.13, "normal", 0.10, 1500.0), (0.05, "normal", 0.15, 300.0),
                       (0.20, "t3", 0.20, 1500.0), (0.13, "t3", 0.10, 8000.0),
                       (0.20, "normal", 0.15, 100.0), (0.10, "t3", 0.20, 3000.0))


def knee_coverage(shape: str, *, n_rep: int, seed: int = 0, n_boot: int = 60,
                  n_q: int = 10, n_critics: int = 8, n_seeds: int = 10,
                  conditions: Sequence[Tuple[float, str, float, float]] = COVERAGE_CONDITIONS,
                  ) -> Dict[str, float]:
    """Coverage of the two-sided knee intervals of ``fit_surface`` on planted studies.

    Replicate r uses condition ``r % len(conditions)`` and a knee law cycling through
    exponential / power law / flat (rise 30). Knees reported as bracketed (not censored) are
    scored. Returns ``{"hits", "n", "coverage", "median_width"}`` (width in natural log).
    """
    from qlsgan_tf.analysis.surface import fit_surface

    rng = np.random.default_rng(seed)
    q, caps = design(n_q, n_critics)
    hits, n, widths = 0, 0, []
    for r in range(n_rep):
        noise, tails, nan_rate, centre = conditions[r % len(conditions)]
        truth = ("exponential", "power law", "flat")[r % 3]
        kap = planted_knees(truth, q, 30.0, math.log(centre))
        tabs = planted_table(rng, q, caps, kap, n_seeds=n_seeds, shape=shape, noise=noise,
                             tails=tails, nan_rate=nan_rate)
        fit = fit_surface(q, caps, tabs, n_boot=n_boot, seed=seed + r)
        for k, t in zip(fit.knees, kap):
            if k.censored is not None or not np.isfinite(k.value):
                continue
            n += 1
            hits += int(k.ci[0] <= math.exp(t) <= k.ci[1])
            widths.append(math.log(k.ci[1] / k.ci[0]))
    return {"hits": float(hits), "n": float(n), "coverage": hits / n if n else math.nan,
            "median_width": float(np.median(widths)) if widths else math.nan}


#: Worlds of the power calibration, shaped like real runs: name -> (n_q, n_critics, n_seeds,
#: shape, run noise, NaN rate, steepness spread).
CALIBRATION_WORLDS = {
    "10x8x10 saturating": (10, 8, 10, "saturating", 0.13, 0.10, 0.4),
    "8x6x5 saturating": (8, 6, 5, "saturating", 0.13, 0.10, 0.4),
    "10x8x10 hinge, noise 0.10": (10, 8, 10, "hinge", 0.10, 0.10, 0.4),
    "9x7x8 saturating, spread 0.8": (9, 7, 8, "saturating", 0.13, 0.15, 0.8),
    "10x8x6 saturating, NaN 0.2": (10, 8, 6, "saturating", 0.16, 0.20, 0.4),
}


def power_calibration(world: str, *, n_rep: int, seed: int = 0, rise: float = 30.0,
                      centre: float = 1500.0, interval: bool = False,
                      n_worlds: int = 10) -> Dict[str, Tuple[Any, ...]]:
    """Power reported from one realisation's fit vs realised on fresh data of the true world.

    The realisation has exponential knees (rise ``rise`` about ``centre``);
    ``simulate_power(fit, n_rep=n_rep)`` gives the reported rate of the right verdict for
    each planted law, and ``n_rep`` fresh studies of the planted world with that law give the
    realised rate. Returns ``{law: (reported, realised)}``; with ``interval``, the
    reported power and its interval come from ``power_interval(fit, n_rep=n_rep,
    n_worlds=n_worlds)`` and each entry is ``(reported, realised, (lo, hi))``.
    """
    from qlsgan_tf.analysis.power import PLANTED, power_interval, simulate_power
    from qlsgan_tf.analysis.surface import fit_surface

    n_q, n_c, n_s, shape, noise, nan_rate, spread = CALIBRATION_WORLDS[world]
    rng = np.random.default_rng(seed)
    q, caps = design(n_q, n_c)

    def study(truth):
        kap = planted_knees(truth, q, rise, math.log(centre))
        return planted_table(rng, q, caps, kap, n_seeds=n_s, shape=shape, noise=noise,
                             nan_rate=nan_rate, steep_spread=spread)

    fit = fit_surface(q, caps, study("exponential"), n_boot=0)
    out: Dict[str, Tuple[Any, ...]] = {}
    if interval:
        pi = power_interval(fit, rise=rise, n_rep=n_rep, seed=seed + 1, n_worlds=n_worlds)
        for law, right in PLANTED.items():
            verdicts = [fit_surface(q, caps, study(law), n_boot=0).verdict
                        for _ in range(n_rep)]
            out[law] = (pi[law]["power"], verdicts.count(right) / n_rep, pi[law]["interval"])
        return out
    reported = simulate_power(fit, rise=rise, n_rep=n_rep, seed=seed + 1)
    for law, right in PLANTED.items():
        verdicts = [fit_surface(q, caps, study(law), n_boot=0).verdict for _ in range(n_rep)]
        out[law] = (reported[law].get(right, 0.0), verdicts.count(right) / n_rep)
    return out


#: The planted worlds of the reliability check are drawn from these ranges (real-run shaped).
RELIABILITY_RANGES: Dict[str, Any] = {
    "n_q": (8, 10), "n_critics": (6, 8), "n_seeds": (5, 10), "noise": (0.05, 0.20),
    "nan_rate": (0.10, 0.20), "centre": (200.0, 4000.0), "plateau": (0.05, 0.5),
    "steepness": (0.4, 1.5), "spread": (0.0, 0.8),
    "shapes": ("saturating", "hinge", "asymmetric"), "tails": ("normal", "t3"),
}


def _wilson(k: float, n: float, z: float = 1.959964) -> Tuple[float, float]:
    """Wilson interval of k successes out of n."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(c - h, 0.0), min(c + h, 1.0))


def _random_world(rng: np.random.Generator, pilot: Any = None) -> Dict[str, Any]:
    """One planted world of the reliability check: a design and a surface to draw studies
    from (``pilot``: the given fitted world itself, its point surface, at its design)."""
    if pilot is not None:
        return {"kind": "pilot", "world": pilot, "q": pilot.q, "caps": pilot.capacities,
                "centre": pilot.centre()}
    r = RELIABILITY_RANGES
    n_q = int(rng.integers(r["n_q"][0], r["n_q"][1] + 1))
    n_c = int(rng.integers(r["n_critics"][0], r["n_critics"][1] + 1))
    q, caps = design(n_q, n_c)
    lo, hi = r["plateau"]
    return {"kind": "planted", "q": q, "caps": caps,
            "n_seeds": int(rng.integers(r["n_seeds"][0], r["n_seeds"][1] + 1)),
            "shape": str(rng.choice(r["shapes"])), "tails": str(rng.choice(r["tails"])),
            "noise": float(rng.uniform(*r["noise"])),
            "nan_rate": float(rng.uniform(*r["nan_rate"])),
            "centre": float(rng.uniform(*np.log(r["centre"]))),
            "plateaus": np.exp(rng.uniform(math.log(lo), math.log(hi), n_q)),
            "steepness": float(rng.uniform(*r["steepness"])),
            "spread": float(rng.uniform(*r["spread"]))}


def _world_study(rng: np.random.Generator, world: Dict[str, Any], truth: str,
                 rise: float) -> List[np.ndarray]:
    """One study of a planted world with knees following ``truth``."""
    kap = planted_knees(truth, world["q"], rise, world["centre"])
    if world["kind"] == "pilot":
        return world["world"].simulate(rng, kap)
    return planted_table(rng, world["q"], world["caps"], kap, n_seeds=world["n_seeds"],
                         shape=world["shape"], noise=world["noise"], tails=world["tails"],
                         nan_rate=world["nan_rate"], steep_spread=world["spread"],
                         plateaus=world["plateaus"], steepness=world["steepness"])


def power_reliability(n_worlds: int, *, n_rep: int = 20, n_fresh: int = 2, seed: int = 0,
                      rise: float = 30.0, pilot: Any = None, pilot_every: int = 5,
                      n_bins: int = 5, min_count: int = 30) -> Dict[str, Any]:
    """Calibration of the reported power over many planted worlds (a reliability diagram).

    Each world (drawn from :data:`RELIABILITY_RANGES`; every ``pilot_every``-th one is the
    fitted world ``pilot``, e.g. the bundled pilot world, when given) yields one study with a
    random knee law; its fit reports the power p of the right verdict for each planted law
    (``simulate_power(fit, n_rep=n_rep)``), and ``n_fresh`` fresh studies of the same world
    with that law give whether the tool then returns that verdict. The pairs are binned by p
    (``n_bins`` equal bins on [0, 1]); per bin: mean reported power, realised rate and its
    95 % Wilson interval. ``max_gap`` is the largest |mean reported - realised| over bins with
    at least ``min_count`` pairs.

    Returns ``{"pairs": [(world, law, reported, hits, n_fresh)], "bins": [...],
    "max_gap": float, "failed": int}`` (``failed``: worlds whose study had no surface).
    """
    from qlsgan_tf.analysis.power import PLANTED, simulate_power
    from qlsgan_tf.analysis.surface import fit_surface

    for name, v, least in (("n_worlds", n_worlds, 1), ("n_rep", n_rep, 1),
                           ("n_fresh", n_fresh, 1), ("n_bins", n_bins, 1),
                           ("min_count", min_count, 1), ("pilot_every", pilot_every, 1)):
        if not (isinstance(v, (int, np.integer)) and v >= least):
            raise ValueError(f"{name} must be an integer >= {least}; got {v!r}")
    rng = np.random.default_rng(seed)
    laws = tuple(PLANTED)
    pairs, failed = [], 0
    for w in range(n_worlds):
        world = _random_world(rng, pilot if pilot is not None and w % pilot_every == 0
                              else None)
        truth = laws[int(rng.integers(len(laws)))]
        fit = fit_surface(world["q"], world["caps"], _world_study(rng, world, truth, rise),
                          n_boot=0)
        if fit._cells is None or "free" not in fit._solutions:
            failed += 1
            continue
        reported = simulate_power(fit, rise=rise, n_rep=n_rep,
                                  seed=int(rng.integers(2 ** 31)))
        for law in laws:
            hits = sum(fit_surface(world["q"], world["caps"],
                                   _world_study(rng, world, law, rise), n_boot=0).verdict
                       == PLANTED[law] for _ in range(n_fresh))
            pairs.append((w, law, float(reported[law].get(PLANTED[law], 0.0)), int(hits),
                          int(n_fresh)))
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins, gaps = [], []
    for b in range(n_bins):
        last = b == n_bins - 1
        sel = [p for p in pairs
               if edges[b] <= p[2] < edges[b + 1] or (last and p[2] == edges[b + 1])]
        k = float(sum(p[3] for p in sel))
        n = float(sum(p[4] for p in sel))
        mean_p = float(np.mean([p[2] for p in sel])) if sel else math.nan
        realised = k / n if n else math.nan
        bins.append({"range": (float(edges[b]), float(edges[b + 1])), "pairs": len(sel),
                     "reported": mean_p, "realised": realised, "wilson": _wilson(k, n)})
        if len(sel) >= min_count:
            gaps.append(abs(mean_p - realised))
    return {"pairs": pairs, "bins": bins, "max_gap": max(gaps) if gaps else math.nan,
            "failed": failed}
