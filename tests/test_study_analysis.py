"""C*(Q), G*(Q) and their verdicts from recorded runs, on synthetic runs with a known answer."""
import json
import math

import numpy as np
import pytest

from qlsgan_tf.study import analysis, presets
from qlsgan_tf.tuning.results import RunResult

CRITICS = [10, 100, 1000, 10000, 100000]
# Quantum generators (label, L, Q, planted C*): interior optima, and one at the grid's low edge.
QUANTUM = [("q3x1", 1, 36, 10), ("q3x2", 2, 66, 300), ("q3x4", 4, 126, 1000),
           ("q3x6", 6, 186, 3000)]
CLASSICAL = [20, 80, 300, 1200]
CLASSICAL_SCORE = [3.0, 2.0, 1.2, 0.8]  # the quantum best score 1.0 is reached at 300-1200


def _run(generator, kind, cap, critic, seed, score, status="converged", lr=1e-3, layers=None):
    return {"generator": generator, "kind": kind, "n_qubits": 3 if kind == "quantum" else None,
            "n_layers": layers, "latent_dim": 3, "generator_capacity": cap,
            "critic_budget": critic, "seed": seed, "learning_rate": lr, "status": status,
            "score": score if status == "converged" else None,
            "fd_score": 10.0 * score if status == "converged" else None,
            "latent_floor": 0.01, "stable": status == "converged", "failed": status == "failed"}


def valley(critic, best):
    """Score of a critic around the planted optimum: a parabola in log10 capacity."""
    return 1.0 + 0.2 * (math.log10(critic) - math.log10(best)) ** 2


def synthetic_runs(seeds=(0, 1, 2), offsets=None, lrs=(1e-3,)):
    offsets = offsets or {s: 1.0 + 0.001 * s for s in seeds}
    runs = []
    for label, layers, q, best in QUANTUM:
        for critic in CRITICS:
            for seed in seeds:
                for lr in lrs:
                    runs.append(_run(label, "quantum", q, critic, seed,
                                     valley(critic, best) * offsets[seed], lr=lr, layers=layers))
    for cap, score in zip(CLASSICAL, CLASSICAL_SCORE):
        for critic in CRITICS:
            for seed in seeds:
                for lr in lrs:
                    runs.append(_run(f"c{cap}@3", "classical", cap, critic, seed,
                                     (score + 0.5 * (critic != 100)) * offsets[seed], lr=lr))
    return runs


def config(**kw):
    kw.setdefault("seeds", [0, 1, 2])
    return presets.make_config("smoke", quantum_grid=[(3, 1), (3, 2), (3, 4), (3, 6)],
                               critic_capacities=CRITICS, classical_capacities=CLASSICAL,
                               n_boot=200, **kw)


def records(runs):
    """The run dicts as the store reads them back."""
    return [RunResult.from_dict(r) for r in runs]


def _analyse(runs, cfg=None, **kw):
    return analysis.analyse(records(runs), cfg or config(), n_boot=kw.pop("n_boot", 200),
                            with_power=False, **kw)


def _by_gen(result):
    return {e["generator"]: e for e in result["quantum"]}


def test_continuous_optimum_and_edge_censoring():
    result, comparisons = _analyse(synthetic_runs())
    entries = _by_gen(result)
    for label, _, _, best in QUANTUM[1:]:
        e = entries[label]
        # The parabola in log C is exact: the continuous C* finds off-grid optima (300, 3000).
        assert e["critic_star"] == pytest.approx(best, rel=1e-6)
        assert e["critic_star_censored"] is None
        assert e["critic_star_ci"][0] <= e["critic_star"] <= e["critic_star_ci"][1]
    low = entries["q3x1"]  # planted at the smallest critic: flagged, one-sided interval
    assert low["critic_star_censored"] == "low" and low["critic_star"] == 10
    assert low["critic_star_ci"] == [0.0, 10.0]
    fit = result["fits"]["critic"]
    assert fit["censored"] == ["low", None, None, None] and fit["n_censored"] == 1
    assert fit["points"][1][1:] == pytest.approx([300.0, 1000.0, 3000.0], rel=1e-6)
    assert comparisons["critic"].verdict == fit["verdict"]
    json.dumps(result, allow_nan=False)  # JSON-ready: strict JSON, no NaN or inf


def test_generator_with_no_converged_run_gets_no_optimum():
    """A generator whose runs all failed must not get the smallest critic as C* (nor G*)."""
    runs = synthetic_runs()
    runs += [_run("q3x8", "quantum", 246, c, s, None, status=st, layers=8)
             for c in CRITICS for s, st in zip((0, 1, 2), ("unstable", "failed", "diverging"))]
    runs += [_run("c5000@3", "classical", 5000, c, 0, None, status="not_converged")
             for c in CRITICS]
    result, _ = _analyse(runs)
    assert "q3x8" not in _by_gen(result)
    assert 246.0 not in result["fits"]["critic"]["points"][0]
    assert 246.0 not in result["fits"]["classical_generator"]["points"][0]
    excluded = {row["generator"]: row for row in result["excluded"]}
    assert set(excluded) == {"q3x8", "c5000@3"}
    assert "no converged run" in excluded["q3x8"]["reason"]
    assert "5 unstable" in excluded["q3x8"]["reason"]
    assert 5000 not in [r["generator_capacity"] for r in result["classical"]["3"]]


def test_matching_classical_generator_is_interpolated_with_a_joint_seed_interval():
    # Each seed shifts every score by its own factor (quantum and classical alike): with the
    # same seed resample on both sides the crossing does not move, so G*'s interval is a point.
    offsets = {0: 1.0, 1: 1.5, 2: 0.7}
    result, _ = _analyse(synthetic_runs(offsets=offsets))
    # Quantum best score 1.0 x offset; classical at 300 scores 1.2, at 1200 0.8 (same offset):
    # linear in log capacity, the crossing is halfway: sqrt(300 * 1200) = 600.
    for e in result["quantum"]:
        assert e["generator_star"] == pytest.approx(600.0, rel=1e-6)
        assert e["generator_star_censored"] is None
        assert e["generator_star_ci"] == pytest.approx([600.0, 600.0], rel=1e-6)


def test_unmatched_generator_star_is_censored_and_kept_in_the_fit():
    runs = [r for r in synthetic_runs() if r["generator"] in
            ("q3x1", "q3x2", "q3x4", "q3x6", "c20@3", "c80@3")]
    result, comparisons = _analyse(runs)
    for e in result["quantum"]:  # the best classical generator (80) scores 2.0 > 1.0
        assert e["generator_star"] == 80 and e["generator_star_censored"] == "high"
        assert e["generator_star_ci"] == [80.0, None]
        assert e["classical_tried"] == [20, 80]
    g_fit = result["fits"]["classical_generator"]
    assert g_fit["censored"] == ["high"] * 4 and g_fit["n_censored"] == 4
    assert comparisons["classical_generator"].verdict == "insufficient data"


def test_seeds_are_resampled_jointly_across_points():
    """Seed 0 puts every C* at 100, seed 1 at 1000: resampled together, C*(Q) moves as a
    whole, so no resample shows a trend (independent resampling per point would)."""
    runs = []
    for label, layers, q, _ in QUANTUM:
        for critic in CRITICS:
            for seed, best in ((0, 100), (1, 1000)):
                runs.append(_run(label, "quantum", q, critic, seed, valley(critic, best),
                                 layers=layers))
    result, _ = _analyse(runs, n_boot=200)
    boot = result["fits"]["critic"]["cluster_bootstrap"]
    assert boot["n"] == analysis.FIT_BOOT
    assert boot["verdicts"] == {"no increase detected": 1.0}
    assert boot["tau_ci"][1] <= 0.0 or boot["tau_ci"] == [0.0, 0.0]
    # The same runs with each generator's seeds named apart: nothing ties one point's
    # resample to another's, so C*(Q) moves point by point and some resamples show a trend.
    apart = [dict(r, seed=r["seed"] + 2 * [g[0] for g in QUANTUM].index(r["generator"]))
             for r in runs]
    result, _ = _analyse(apart, config(seeds=list(range(8))), n_boot=200)
    verdicts = result["fits"]["critic"]["cluster_bootstrap"]["verdicts"]
    assert verdicts.get("no increase detected", 0.0) < 1.0


def test_best_learning_rate_is_chosen_per_critic():
    runs = synthetic_runs(lrs=(1e-3, 1e-2))
    for run in runs:  # the large rate is worse everywhere except at the largest critic
        if run["learning_rate"] == 1e-2:
            run["score"] = run["score"] * (0.9 if run["critic_budget"] == 100000 else 2.0)
    result, _ = _analyse(runs)
    e = _by_gen(result)["q3x4"]
    assert e["learning_rate"] == 1e-3
    assert e["scores_by_critic"]["100000"] == pytest.approx(0.9 * valley(100000, 1000), rel=0.01)
    for critic in CRITICS[:-1]:  # elsewhere the small rate's scores
        assert e["scores_by_critic"][str(critic)] == pytest.approx(valley(critic, 1000),
                                                                   rel=0.01)
    assert result["learning_rates"] == [1e-3, 1e-2]


def test_score_metric_fd_and_old_records():
    result, _ = _analyse(synthetic_runs(), config(score_metric="fd"), n_boot=50)
    assert result["score_metric"] == "fd"
    entry = _by_gen(result)["q3x4"]
    assert entry["score"] == pytest.approx(10.0, rel=0.01)
    # The report shows both scores: here the latent one at the best grid critic (1000).
    assert entry["other_score"] == {"metric": "latent", "value": pytest.approx(1.001)}
    old = []
    for run in synthetic_runs():  # a record written before statuses and learning rates
        run = {k: v for k, v in run.items() if k not in ("status", "learning_rate", "fd_score")}
        run["critic_capacity"] = run.pop("critic_budget")  # the budget's name then
        old.append(run)
    result, _ = _analyse(old)
    assert _by_gen(result)["q3x4"]["critic_star"] == pytest.approx(1000.0, rel=1e-6)
    assert result["status_counts"] == {"converged": len(old)}
    assert result["learning_rates"] == [config().learning_rate]  # the study's one rate
    # Its score was the FD-SAT4 score: the "fd" analysis reads it too.
    fd, _ = _analyse(old, config(score_metric="fd"))
    assert _by_gen(fd)["q3x4"]["critic_star"] == pytest.approx(1000.0, rel=1e-6)


def test_power_is_reported_at_the_measured_noise():
    rng = np.random.default_rng(0)
    runs = synthetic_runs(seeds=(0, 1, 2, 3))
    for run in runs:
        run["score"] *= float(np.exp(0.05 * rng.normal()))
    result, _ = analysis.analyse(records(runs), config(seeds=[0, 1, 2, 3]), n_boot=100,
                                 power_reps=20)
    sigma = result["noise"]["critic_log_sd"]
    assert sigma is not None and sigma > 0
    power = result["power"]
    assert power["computed"] and power["sigma"] == pytest.approx(max(sigma, 0.01))
    assert set(power["probabilities"]) == {"exponential", "power_law", "linear", "flat"}
    few, _ = _analyse([r for r in runs if r["generator"] in ("q3x1", "q3x2")])
    assert "power" not in few
    assert analysis.power_at_design([36, 66], CRITICS, 3, 0.2)["reason"] == "fewer than 4 Q values"


def test_most_stable_critic_rule():
    nan = math.nan
    # The share of converged seeds first, then the mean over them, then the smaller budget.
    assert analysis.most_stable_critic({10: [1.0, nan], 100: [5.0, 5.0]}) == 100
    assert analysis.most_stable_critic({10: [4.0, 4.0], 100: [2.0, 3.0]}) == 100
    assert analysis.most_stable_critic({100: [3.0, None], 10: [3.0, math.inf]}) == 10
    assert analysis.most_stable_critic({10: [nan], 100: [nan, nan]}) == 10
    with pytest.raises(ValueError, match="empty"):
        analysis.most_stable_critic({})
