"""From recorded runs to the knee C*(Q), G*(Q), exploratory verdicts and power, on synthetic
runs with a planted answer (knee-shaped score surfaces, as the real runs are)."""
import json
import math

import numpy as np
import pytest
from knee_runs import CLASSICAL, CRITICS, Q_PLATEAU, QUANTUM, synthetic_runs

from qlsgan_tf import jsoncodec
from qlsgan_tf.study import analysis, presets


def config(**kw):
    kw.setdefault("seeds", [0, 1, 2, 3])
    return presets.make_config("smoke", quantum_grid=[(3, L) for _, L, _, _ in QUANTUM],
                               critic_capacities=CRITICS,
                               classical_capacities=[c for c, _ in CLASSICAL], n_boot=30, **kw)


@pytest.fixture(scope="module")
def analysed():
    return analysis.analyse(synthetic_runs(), config(), n_boot=30, with_power=False)


def test_knees_recover_the_planted_knees_with_intervals(analysed):
    result, fit = analysed
    by_gen = {e["generator"]: e for e in result["quantum"]}
    for label, _, _, knee in QUANTUM:
        e = by_gen[label]
        # Plumbing, not statistics (tests/test_analysis_*.py check coverage on planted data).
        assert e["critic_star"] == pytest.approx(knee, rel=0.35)
        assert e["critic_star_censored"] is None
        lo, hi = e["critic_star_ci"]
        assert lo <= e["critic_star"] <= hi
        assert e["plateau"] == pytest.approx(Q_PLATEAU, rel=0.05)
        # The argmin diagnostic is kept beside the knee, labelled as such.
        assert "argmin_critic" in e and "argmin_censored" in e
    assert len(fit.knees) == len(QUANTUM)


def test_primary_verdict_finds_the_rise_and_names_the_endpoint(analysed):
    result, _ = analysed
    primary = result["primary"]
    assert primary["verdict"] in ("exponential", "power law", "linear",
                                  "increasing, form undetermined")
    assert primary["p_value"] is not None and primary["p_value"] < 0.05
    assert "knee" in primary["endpoint"] and "latent score" in primary["endpoint"]
    assert set(primary["laws"]) == {"exponential", "power law", "linear"}
    assert "free" not in primary["laws"]
    assert set(primary["sensitivity"]) == {"0.02", "0.1"}
    assert set(primary["rules"]) == set(analysis.RULES)


def test_generator_star_matches_the_plateaus(analysed):
    result, _ = analysed
    for e in result["quantum"]:
        # The quantum plateau 0.2 lies between the classical plateaus of 40 (0.4) and 160
        # (0.15), linear in log capacity: G* = exp(log 40 + (0.4 - 0.2) / 0.25 * log 4).
        expected = math.exp(math.log(40) + 0.8 * math.log(4))
        assert e["generator_star"] == pytest.approx(expected, rel=0.15)
        assert e["generator_star_censored"] is None
        lo, hi = e["generator_star_ci"]
        assert lo <= e["generator_star"] <= hi
    rows = result["classical"]["3"]
    assert [r["generator_capacity"] for r in rows] == [c for c, _ in CLASSICAL]
    for r, (_, plateau) in zip(rows, CLASSICAL):
        assert r["plateau"] == pytest.approx(plateau, rel=0.05)


def test_exploratory_verdicts_are_holm_adjusted(analysed):
    result, _ = analysed
    rows = result["exploratory"]
    assert [r["key"] for r in rows] == ["argmin", "classical_generator", "other_score"]
    for r in rows:
        if r["p_value"] is not None:
            assert r["p_holm"] >= r["p_value"]


def test_holm_adjustment():
    assert analysis.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert analysis.holm([None, 0.02]) == [None, 0.02]
    assert analysis.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_generator_without_counted_runs_is_excluded_with_its_reason():
    result, _ = analysis.analyse(synthetic_runs(failed_q="q3x5"), config(), n_boot=0,
                                 with_power=False)
    assert "q3x5" not in [e["generator"] for e in result["quantum"]]
    assert result["excluded"] == [{"generator": "q3x5", "kind": "quantum",
                                   "reason": "no converged run (24 diverging)"}]
    assert len(result["primary"]["knees"]) == 4


def test_learning_rate_cells_take_the_better_rate():
    runs = synthetic_runs(lrs=(1e-3, 2e-3))
    table = analysis.RunTable(runs)
    critics, scores, lrs = table.cells("q3x2")
    assert critics == CRITICS and scores.shape == (4, len(CRITICS))
    assert lrs == [1e-3] * len(CRITICS)  # the second rate scores 1.5x worse everywhere
    _, tab = table.table("q3x2")
    np.testing.assert_array_equal(scores, tab[0])


def test_result_is_json_ready_and_has_no_nan_surprises(analysed):
    result, _ = analysed
    text = jsoncodec.dumps(result)
    assert json.loads(text)["primary"]["verdict"] == result["primary"]["verdict"]


def test_no_quantum_run_counted_is_insufficient_data_not_an_error():
    runs = [r for r in synthetic_runs() if r.kind == "classical"]
    result, fit = analysis.analyse(runs, config(), n_boot=0, with_power=True)
    assert fit is None and result["quantum"] == []
    assert result["primary"]["verdict"] == "insufficient data"
    assert result["power"] == {"computed": False,
                               "reason": "no quantum generator has a counted run"}


def test_power_is_simulated_from_the_fitted_world(analysed):
    _, fit = analysed
    power = analysis.power_of(fit, n_rep=6, seed=1,
                              candidates={"seeds": [4], "q_sets": [[36, 66, 96, 126, 156]],
                                          "critic_sets": [CRITICS]})
    assert power["computed"] and power["n_rep"] == 6
    assert set(power["rates"]) == {"exponential", "power law", "flat"}
    for rates in power["rates"].values():
        assert sum(rates.values()) == pytest.approx(1.0)


def test_design_candidates_fix_n_and_stay_feasible():
    cfg = presets.make_config("quick")
    cand = analysis.design_candidates(cfg)
    n = cfg.quantum_grid[0][0]
    allowed = {2 * n * (5 * L + 1) for L in range(1, analysis.MAX_DESIGN_LAYERS + 1)}
    for qs in cand["q_sets"]:
        assert set(qs) <= allowed
    for cs in cand["critic_sets"]:
        assert max(cs) <= analysis.MAX_DESIGN_CRITIC * 1.0001
    assert cand["seeds"][0] == len(cfg.seeds)


def test_crossing_interpolates_and_censors():
    x = np.log([10.0, 100.0, 1000.0])
    xs, c = analysis.crossing(x, np.array([3.0, 2.0, 1.0]), np.float64(1.5))
    assert c == 0 and float(np.exp(xs)) == pytest.approx(math.sqrt(100 * 1000))
    xs, c = analysis.crossing(x, np.array([3.0, 2.0, 1.0]), np.float64(0.5))
    assert c == 1 and float(np.exp(xs)) == pytest.approx(1000)
    xs, c = analysis.crossing(x, np.array([3.0, 2.0, 1.0]), np.float64(5.0))
    assert c == -1 and float(np.exp(xs)) == pytest.approx(10)


def test_most_stable_critic_rule():
    nan = math.nan
    assert analysis.most_stable_critic({10: [1.0, nan], 100: [5.0, 5.0]}) == 100
    assert analysis.most_stable_critic({10: [4.0, 4.0], 100: [2.0, 3.0]}) == 100
    assert analysis.most_stable_critic({100: [3.0, None], 10: [3.0, math.inf]}) == 10
    with pytest.raises(ValueError):
        analysis.most_stable_critic({})
