"""Measured error rates of the study's statistics on simulated data with known truth.

    PYTHONPATH=. python benchmarks/study_statistics.py [--reps 300]

Prints: the latent distances' seed-to-seed spread and floor, run_status rates on simulated
trajectories, the argmin diagnostic's coverage on valleys, and compare_laws verdict rates on
per-Q points (8 Q points over 10x, sigma = 0.3 in log C*, 30x rise). The knee surface fit, its
power and the two-stage chain beside it: ``benchmarks/analysis_planted.py``.
"""
import argparse
import collections
import time

import numpy as np
from scipy import stats

from qlsgan_tf.analysis.argmin import estimate_optimum
from qlsgan_tf.analysis.planted import TRUTHS, planted_knees
from qlsgan_tf.analysis.twostage import VERDICTS, compare_laws
from qlsgan_tf.metrics.latent_score import latent_distance, latent_floor
from qlsgan_tf.metrics.stability import run_status


def latent(reps):
    rng = np.random.default_rng(0)
    d, n = 8, 2000
    for method in ("swd", "mmd", "fd"):
        start = time.perf_counter()
        vals = [latent_distance(rng.normal(size=(n, d)), 1.1 * rng.normal(size=(n, d)) + 0.05,
                                method=method) for _ in range(reps)]
        per_call = (time.perf_counter() - start) / reps
        fresh = np.mean([latent_distance(rng.normal(size=(n, d)), rng.normal(size=(n, d)),
                                         method=method) for _ in range(reps)])
        boot = latent_floor(rng.normal(size=(n, d)), n, method=method, n_rep=reps)
        print(f"{method}: near-miss generator {np.mean(vals):.4g}, relative seed-to-seed std "
              f"{np.std(vals) / abs(np.mean(vals)):.1%}; floor fresh {fresh:.3g} vs bootstrap "
              f"{boot:.3g}; {per_call * 1e3:.0f} ms per call (d={d}, {n} vs {n})")


def statuses(reps):
    rng = np.random.default_rng(0)
    x = np.arange(20)
    cases = {
        "plateau, 3% noise": lambda: 1 + 0.03 * rng.normal(size=20),
        "plateau, 10% noise": lambda: 1 + 0.1 * rng.normal(size=20),
        "plateau at floor 0.05 (noise 0.01)": lambda: np.abs(0.002 + 0.01 * rng.normal(size=20)),
        "decay 50e^-t/4+10, 3% noise": lambda: (50 * np.exp(-x / 4) + 10)
        * (1 + 0.03 * rng.normal(size=20)),
        "rise 50% over window, 3% noise": lambda: (1 + 0.5 * np.maximum(0, (x - 12) / 7))
        * (1 + 0.03 * rng.normal(size=20)),
        "oscillation ±30%": lambda: 1 + 0.3 * (-1.0) ** x + 0.05 * rng.normal(size=20),
    }
    for name, make in cases.items():
        floor = 0.05 if "floor" in name else 0.0
        c = collections.Counter(run_status(make(), floor=floor).status for _ in range(reps))
        print(f"{name}: " + ", ".join(f"{k} {v / reps:.1%}" for k, v in c.most_common()))


def optima(reps):
    grid = np.array([30, 100, 300, 1000, 3000, 10000, 30000])
    for n_seeds in (3, 5, 10):
        rng = np.random.default_rng(n_seeds)
        hits, err = 0, []
        for rep in range(reps):
            truth = rng.uniform(np.log2(100), np.log2(10000))
            table = ((1 + 0.15 * (np.log2(grid) - truth) ** 2)
                     * (1 + 0.1 * rng.normal(size=(n_seeds, 1)))
                     * (1 + 0.15 * rng.normal(size=(n_seeds, grid.size))))
            table[rng.random(table.shape) < 0.1] = np.nan
            est = estimate_optimum(grid, table, seed=rep, n_boot=500)
            lo, hi = np.log2(est.ci)
            hits += lo <= truth <= hi
            err.append(abs(np.log2(est.value) - truth))
        print(f"{n_seeds} seeds: 95% CI coverage {hits / reps:.1%}, median |error| "
              f"{np.median(err):.3f} in log2 C")


def laws(reps):
    q = np.geomspace(20, 200, 8)
    z = stats.norm.ppf(0.975)
    for truth in TRUTHS:
        rng = np.random.default_rng(0)
        c = collections.Counter()
        for _ in range(reps):
            y = np.exp(planted_knees(truth, q, 30.0, np.log(1000.0)) + 0.3 * rng.normal(size=8))
            ci = np.stack([y * np.exp(-z * 0.3), y * np.exp(z * 0.3)], axis=1)
            c[compare_laws(q, y, y_ci=ci, _with_ci=False).verdict] += 1
        print(f"{truth}: " + ", ".join(f"{v} {c[v] / reps:.1%}" for v in VERDICTS if c[v]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    reps = parser.parse_args().reps
    for title, fn, n in (("latent distances", latent, 20), ("run_status", statuses, reps * 5),
                         ("estimate_optimum (argmin diagnostic)", optima, reps),
                         ("compare_laws (per-Q points)", laws, reps)):
        print(f"## {title}")
        fn(n)


if __name__ == "__main__":
    main()
