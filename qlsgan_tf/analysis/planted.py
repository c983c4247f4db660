"""Planted score surfaces with known knees, for tests, benchmarks and power checks.

Each generator's mean score curve is one of :data:`SHAPES`, written so that its knee (the
smallest critic capacity whose expected score is within ``tolerance`` of the curve's plateau,
its minimum) is exactly the planted ``exp(kappa)``. Noise is multiplicative: a per-(Q, seed)
offset and a per-run term (normal or Student t with 3 degrees of freedom, same sd).
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np

from qlsgan_tf.analysis.surface import TOLERANCE

SHAPES = ("saturating", "hinge", "valley", "asymmetric")
TRUTHS = ("exponential", "power law", "linear", "flat")


def planted_knees(truth: str, q, rise: float, centre: float) -> np.ndarray:
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


def mean_log_score(shape: str, x, kappa: float, plateau: float, steep: float = 1.0,
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


def planted_table(rng: np.random.Generator, q, capacities: Sequence[Sequence[float]],
                  kappa, *, n_seeds: int = 10, shape: str = "saturating", noise: float = 0.13,
                  tails: str = "normal", nan_rate: float = 0.1, seed_sd: float = 0.03,
                  tolerance: float = TOLERANCE) -> List[np.ndarray]:
    """Score tables ``[n_seeds, n_critics]`` per q for planted knees ``kappa`` (ln C*)."""
    out = []
    for i, _ in enumerate(q):
        x = np.log(np.asarray(capacities[i], dtype=np.float64))
        plateau = 0.15 + 0.1 * (i % 3) / 2
        steep = 0.8 + 0.4 * ((i * 7) % 5) / 4
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
