"""Synthetic run records with a planted knee-shaped score surface (shared by the tests of the
study's analysis, report and pilot world)."""
import math

import numpy as np

from qlsgan_tf.tuning.results import RunResult

CRITICS = [30, 120, 480, 1920, 7680, 30720]
# Quantum generators (label, L, Q, planted knee): the knee rises with Q.
QUANTUM = [("q3x1", 1, 36, 150), ("q3x2", 2, 66, 300), ("q3x3", 3, 96, 600),
           ("q3x4", 4, 126, 1200), ("q3x5", 5, 156, 2400)]
Q_PLATEAU = 0.2
CLASSICAL = [(10, 0.6), (40, 0.4), (160, 0.15), (640, 0.1)]  # (capacity, plateau)
TOL = 0.05


def knee_score(critic, knee, plateau):
    """The planted surface: plateau * (1 + tol * (C / knee)^-1.5): within tol of the plateau
    exactly at the knee."""
    return plateau * (1.0 + TOL * (critic / knee) ** -1.5)


def _run(generator, kind, cap, critic, seed, score, status="converged", lr=1e-3, layers=None):
    return {"generator": generator, "kind": kind, "n_qubits": 3 if kind == "quantum" else None,
            "n_layers": layers, "latent_dim": 3, "generator_capacity": cap,
            "critic_budget": critic, "seed": seed, "learning_rate": lr, "status": status,
            "score": score if status == "converged" else None,
            "fd_score": 10.0 * score if status == "converged" else None,
            "latent_floor": 0.01, "stable": status == "converged", "failed": status == "failed"}


def synthetic_runs(seeds=(0, 1, 2, 3), noise=0.01, lrs=(1e-3,), seed=0, failed_q=None):
    rng = np.random.default_rng(seed)
    runs = []
    for label, layers, q, knee in QUANTUM:
        for critic in CRITICS:
            for s in seeds:
                for k, lr in enumerate(lrs):
                    score = knee_score(critic, knee, Q_PLATEAU) * (1 + 0.5 * k) * math.exp(
                        noise * rng.standard_normal())
                    status = "diverging" if label == failed_q else "converged"
                    runs.append(_run(label, "quantum", q, critic, s, score, status, lr, layers))
    for cap, plateau in CLASSICAL:
        for critic in CRITICS:
            for s in seeds:
                for lr in lrs:
                    score = knee_score(critic, 200, plateau) * math.exp(
                        noise * rng.standard_normal())
                    runs.append(_run(f"c{cap}@3", "classical", cap, critic, s, score, lr=lr))
    return [RunResult.from_dict(r) for r in runs]
