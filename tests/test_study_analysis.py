"""C*(Q), G*(Q) and their fits from recorded runs, on synthetic runs with a known answer."""
import math

import numpy as np
import pytest

from qlsgan_tf.study import analysis, presets

CRITICS = [10, 100, 1000, 10000]
# Quantum generators (label, n, L, Q) and the critic each one is built to prefer.
QUANTUM = [("q3x1", 3, 1, 36, 10), ("q3x2", 3, 2, 66, 100), ("q3x4", 3, 4, 126, 1000),
           ("q3x6", 3, 6, 186, 10000)]
CLASSICAL = [20, 80, 300, 1200]


def _run(generator, kind, q, critic, seed, fd, stable=True, n=3, layers=None):
    return {"generator": generator, "kind": kind, "n_qubits": n if kind == "quantum" else None,
            "n_layers": layers, "latent_dim": 3, "generator_capacity": q,
            "critic_capacity": critic, "seed": seed, "stable": stable, "failed": not stable,
            "score": fd if stable else math.inf, "final_fd": fd if stable else math.inf}


def synthetic_runs(seeds=(0, 1, 2)):
    runs = []
    for label, n, layers, q, best in QUANTUM:
        for critic in CRITICS:
            for seed in seeds:
                # FD grows with the log-distance from the preferred critic; small seed noise.
                fd = 1.0 + abs(math.log10(critic) - math.log10(best)) + 0.01 * seed
                runs.append(_run(label, "quantum", q, critic, seed, fd, n=n, layers=layers))
    # Classical generators: FD falls with capacity, reaching the quantum FD ~1.0 at 300.
    for cap, fd in zip(CLASSICAL, [3.0, 2.0, 1.05, 0.9]):
        for critic in CRITICS:
            for seed in seeds:
                runs.append(_run(f"c{cap}@3", "classical", cap, critic, seed,
                                 fd + 0.5 * (critic != 100) + 0.01 * seed))
    return runs


def config():
    return presets.make_config("smoke", quantum_grid=[(3, 1), (3, 2), (3, 4), (3, 6)],
                               critic_capacities=CRITICS, classical_capacities=CLASSICAL,
                               seeds=[0, 1, 2], n_boot=200)


def test_optimal_critic_and_matching_classical_generator():
    result, comparisons = analysis.analyse(synthetic_runs(), config(), n_boot=200)
    stars = {e["generator"]: e["critic_star"] for e in result["quantum"]}
    assert stars == {label: best for label, *_, best in QUANTUM}
    for e in result["quantum"]:
        assert e["critic_star_ci"] == [e["critic_star"], e["critic_star"]]  # seed noise is tiny
        assert e["fd"] == pytest.approx(1.01)
        lo, hi = e["fd_band"]
        assert lo <= e["fd"] <= hi
        # c300 (FD 1.06 with critic 100) is above the band [1.00, 1.02]; c1200 (0.91) matches.
        assert e["generator_star"] == 1200 and not e["generator_star_censored"]
    # C* grows by 10x per step in Q: 36, 66, 126, 186 is not evenly spaced, so the law
    # comparison is real; the exponential and power-law fits both exist.
    critic_fit = result["fits"]["critic"]
    assert set(critic_fit["fits"]) == {"exponential", "power_law", "linear"}
    assert critic_fit["points"][1] == [10.0, 100.0, 1000.0, 10000.0]
    assert comparisons["critic"] is not None
    # G* is constant in Q: "exponential" growth must not be claimed with a positive rate.
    g_fit = result["fits"]["classical_generator"]
    assert g_fit["points"][1] == [1200.0] * 4


def test_unstable_seeds_rank_below_stable_ones():
    runs = synthetic_runs()
    for run in runs:  # make the preferred critic of q3x1 unstable for one seed
        if run["generator"] == "q3x1" and run["critic_capacity"] == 10 and run["seed"] == 0:
            run.update(stable=False, score=math.inf, final_fd=math.inf)
    result, _ = analysis.analyse(runs, config(), n_boot=50)
    q1 = next(e for e in result["quantum"] if e["generator"] == "q3x1")
    assert q1["critic_star"] == 100  # all-stable configuration wins over a faster unstable one
    assert q1["stable_fraction"] == 1.0


def test_censored_match_and_too_few_points():
    runs = [r for r in synthetic_runs() if r["generator"] in ("q3x1", "q3x2", "c20@3")]
    result, comparisons = analysis.analyse(runs, config(), n_boot=50)
    for e in result["quantum"]:
        assert e["generator_star"] is None and e["generator_star_censored"]
        assert e["classical_tried"] == [20]
    assert "too few points" in result["fits"]["critic"]["verdict"]
    assert comparisons["critic"] is None
    assert result["fits"]["classical_generator"]["verdict"] == "no points to fit"


def test_bootstrap_reflects_seed_disagreement():
    runs = synthetic_runs(seeds=(0, 1))
    for run in runs:  # seed 1 of q3x2 prefers critic 1000 instead of 100
        if run["generator"] == "q3x2" and run["seed"] == 1:
            run["score"] = run["final_fd"] = (
                1.0 + abs(math.log10(run["critic_capacity"]) - 3.0))
        if run["generator"] == "q3x2" and run["seed"] == 0 and run["critic_capacity"] == 1000:
            run["score"] = run["final_fd"] = 1.2
    result, _ = analysis.analyse(runs, config(), n_boot=400, seed=1)
    e = next(e for e in result["quantum"] if e["generator"] == "q3x2")
    lo, hi = e["critic_star_ci"]
    assert lo == 100 and hi == 1000
    assert np.isfinite(e["fd"])
