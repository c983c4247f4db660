"""The joint knee-surface fit: input checks, result API, planted-truth rates and coverage."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from qlsgan_tf.analysis import TOLERANCE, VERDICTS, fit_surface, planted


def _study(truth="exponential", seed=0, centre=1500.0, **kw):
    rng = np.random.default_rng(seed)
    q, caps = planted.design()
    kap = planted.planted_knees(truth, q, 30.0, math.log(centre))
    return q, caps, planted.planted_table(rng, q, caps, kap, **kw), kap


def test_imports_without_tensorflow():
    code = ("import sys, qlsgan_tf.analysis, qlsgan_tf.analysis.twostage; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("args, name", [
    (([1.0, 2.0], [[1, 2]], [np.ones((2, 2))]), "capacities"),
    (([1.0], [[1, 2]], [np.ones((2, 3))]), "scores"),
    (([1.0], [[0, 2]], [np.ones((2, 2))]), "capacities"),
    (([1.0], [[1, 2]], [-np.ones((2, 2))]), "scores"),
    (([math.nan], [[1, 2]], [np.ones((2, 2))]), "q"),
    (([1.0], [[1, 2]], [[[1.0, 2.0], [1.0]]]), "scores"),
])
def test_bad_input_names_argument(args, name):
    with pytest.raises(ValueError, match=name):
        fit_surface(*args, n_boot=0)


def test_all_nan_is_insufficient():
    q, caps = planted.design(n_q=5)
    fit = fit_surface(q, caps, [np.full((4, 8), np.nan)] * 5, n_boot=0)
    assert fit.verdict == "insufficient data" and fit.trend is None


def test_result_api_and_verdict_independent_of_n_boot():
    q, caps, tabs, _ = _study()
    fit0 = fit_surface(q, caps, tabs, n_boot=0)
    fit = fit_surface(q, caps, tabs, n_boot=20, seed=1)
    assert fit.verdict == fit0.verdict == "exponential"
    assert fit.verdict in VERDICTS and fit.trend.p_value < 0.05
    assert all(math.isnan(k.ci[0]) for k in fit0.knees if k.censored is None)
    assert all(k.ci[0] <= k.value <= k.ci[1] for k in fit.knees if k.censored is None)
    assert set(fit.laws) == {"exponential", "power law", "linear"}
    assert fit.laws["exponential"].delta == 0.0
    json.dumps(fit.to_dict())
    curve = fit.curve(0, caps[0])
    assert curve.shape == (8,) and curve[0] > curve[-1]
    assert np.all(fit.knees_at(0.02) > fit.knees_at(0.10))
    assert np.allclose(fit.knees_at(TOLERANCE), [k.value for k in fit0.knees])
    assert fit.plateaus.shape == (10,)


def test_sensitivity_verdicts():
    q, caps, tabs, _ = _study(seed=4)
    assert set(fit_surface(q, caps, tabs, n_boot=0).sensitivity) == {0.02, 0.10}


def test_timing_one_fit_under_a_second():
    import time
    q, caps, tabs, _ = _study(seed=5)
    t = time.perf_counter()
    fit_surface(q, caps, tabs, n_boot=0)
    assert time.perf_counter() - t < 1.0


def test_planted_rates():
    """10 Q x 8 critics x 10 seeds, 13 % run noise, 10 % NaN runs, rise 30."""
    n = 25
    rates = {}
    for truth in ("exponential", "power law", "flat"):
        verdicts = [fit_surface(*_study(truth, seed=100 + r)[:3], n_boot=0).verdict
                    for r in range(n)]
        rates[truth] = {v: verdicts.count(v) / n for v in set(verdicts)}
    assert rates["exponential"].get("exponential", 0) >= 0.7, rates
    assert rates["power law"].get("exponential", 0) <= 0.05, rates
    assert rates["flat"].get("no increase detected", 0) >= 0.85, rates


def test_censored_knees_get_covering_one_sided_bounds():
    hits, n = 0, 0
    for r in range(4):
        q, caps, tabs, kap = _study("flat", seed=200 + r, centre=60000.0)
        fit = fit_surface(q, caps, tabs, n_boot=0)
        for k, t in zip(fit.knees, np.exp(kap)):
            if k.censored == "high":
                n += 1
                hits += k.ci[0] <= t <= k.ci[1]
        assert fit.verdict == "insufficient data"
    assert n >= 20 and hits / n >= 0.9


def test_rules_listed_in_order_for_every_rule():
    from qlsgan_tf.analysis import surface
    assert list(surface.RULES) == ["too_few_q", "censored", "no_trend", "aic", "aic_close"]
    assert all(isinstance(t, str) and t for t in surface.RULES.values())
    q, caps, tabs, _ = _study(seed=6)
    assert fit_surface(q, caps, tabs, n_boot=0).rule in surface.RULES


@pytest.mark.parametrize("n_q", [1, 2, 3])
def test_fewer_generators_still_get_their_knees(n_q):
    q, caps, tabs, kap = _study(seed=7)
    fit = fit_surface(q[:n_q], caps[:n_q], tabs[:n_q], n_boot=20, seed=1)
    assert (fit.verdict, fit.rule) == ("insufficient data", "too_few_q")
    assert len(fit.knees) == n_q
    for i, k in enumerate(fit.knees):
        assert np.isfinite(k.value) and k.plateau > 0 and k.counted_runs > 0
        if k.censored is None:
            assert k.ci[0] <= k.value <= k.ci[1]
        curve = fit.curve(i, caps[i])
        assert curve.shape == (8,) and np.all(np.isfinite(curve))


def test_generator_with_too_few_critics_gets_a_nan_knee():
    from qlsgan_tf.analysis import MIN_CRITICS
    q, caps, tabs, _ = _study(seed=8)
    caps = [c.copy() for c in caps]
    tabs = [t.copy() for t in tabs]
    caps[2], tabs[2] = caps[2][:MIN_CRITICS - 1], tabs[2][:, :MIN_CRITICS - 1]
    tabs[5][:, 3:] = np.nan            # counted at 3 critics only
    fit = fit_surface(q, caps, tabs, n_boot=15, seed=2)
    for i in (2, 5):
        assert math.isnan(fit.knees[i].value) and fit.knees[i].censored is None
        assert fit.knees[i].counted_runs > 0
        assert np.all(np.isnan(fit.curve(i, caps[i])))
    others = [k for i, k in enumerate(fit.knees) if i not in (2, 5)]
    assert all(np.isfinite(k.value) for k in others)
    assert fit.verdict != "insufficient data"
    one = fit_surface(q[2:3], caps[2:3], tabs[2:3], n_boot=0)
    assert one.rule == "too_few_q" and math.isnan(one.knees[0].value)


@pytest.mark.parametrize("shape, bias", [("hinge", 0.25), ("valley", 0.5)])
def test_knee_bias_on_hinge_and_valley(shape, bias):
    """The corner's softness is fitted (hinge: ~2 in ln C high with the saturating curve
    alone); on the planted valley the knee reads ~0.4 high (the upturn is read against the
    plateau level unless it lifts the minimum by a tolerance), see docs/method.md."""
    errs = []
    for r in range(3):
        q, caps, tabs, kap = _study(seed=30 + r, shape=shape)
        fit = fit_surface(q, caps, tabs, n_boot=0)
        errs += [math.log(k.value) - t for k, t in zip(fit.knees, kap) if k.censored is None]
    assert abs(np.median(errs)) < bias, np.median(errs)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["saturating", "hinge", "valley", "asymmetric"])
def test_knee_intervals_cover_on_planted_shapes(shape):
    """Bracketed knees over run noise 5-20 %, normal and t3 tails, 10-20 % NaN runs and knees
    near and beyond the grid (planted.COVERAGE_CONDITIONS); the asymmetric fall (fast drop,
    slow 5 % tail) is covered through the profile over the tail's shape."""
    cov = planted.knee_coverage(shape, n_rep=6, n_boot=40, seed=5)
    assert cov["n"] >= 40 and cov["coverage"] >= 0.90, cov


@pytest.mark.parametrize("weight, rate", [(0.0, 1.0), (0.5, 0.2), (0.9, 0.05)])
def test_slow_tail_keeps_the_knee_where_the_excess_is_the_tolerance(weight, rate):
    from qlsgan_tf.analysis.surface import _effective, curve_log
    x = np.linspace(0.0, 12.0, 241)
    log_s = curve_log(x, -1.5, 2.0, 6.0, 0.0, TOLERANCE, 1.1, weight, rate)
    assert np.all(np.diff(log_s) < 0)
    at_knee = curve_log(np.array([6.0]), -1.5, 2.0, 6.0, 0.0, TOLERANCE, 1.1, weight, rate)
    assert np.isclose(at_knee[0] + 1.5, math.log1p(TOLERANCE))
    # At another tolerance the knee moves the right way; the slow tail moves it further.
    k10 = _effective(2.0, 6.0, 0.0, TOLERANCE, 1.1, 0.10, weight, rate)[0]
    k02 = _effective(2.0, 6.0, 0.0, TOLERANCE, 1.1, 0.02, weight, rate)[0]
    assert k10 < 6.0 < k02
    ex = curve_log(np.array([k02]), -1.5, 2.0, 6.0, 0.0, TOLERANCE, 1.1, weight, rate)
    assert np.isclose(ex[0] + 1.5, math.log1p(0.02))


def test_tail_profile_only_widens_the_intervals():
    """The profile over the tail's shape joins knees to the interval; the knees, verdict and
    the n_boot = 0 fit are those of the fit without it."""
    from qlsgan_tf.analysis import surface
    q, caps, tabs, kap = _study(seed=11, shape="asymmetric")
    fit = fit_surface(q, caps, tabs, n_boot=15, seed=3)
    saved = surface.TAIL_PROFILE
    try:
        surface.TAIL_PROFILE = None
        plain = fit_surface(q, caps, tabs, n_boot=15, seed=3)
    finally:
        surface.TAIL_PROFILE = saved
    assert fit.verdict == plain.verdict
    for k, p in zip(fit.knees, plain.knees):
        assert k.value == p.value
        if k.censored is None:
            assert k.ci[0] <= p.ci[0] and k.ci[1] >= p.ci[1]
    widened = [math.log(k.ci[1] / p.ci[1]) for k, p in zip(fit.knees, plain.knees)
               if k.censored is None]
    assert max(widened) > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["saturating", "valley"])
def test_planted_rates_10x8x10(shape):
    """10 Q x 8 even log critics x 10 seeds, 13 % noise, 10 % NaN runs, rise 30."""
    n = 40
    rng = np.random.default_rng(2024)
    q, caps = planted.design()
    rates = {}
    for truth in ("exponential", "power law", "flat"):
        kap = planted.planted_knees(truth, q, 30.0, math.log(1500.0))
        verdicts = [fit_surface(q, caps, planted.planted_table(rng, q, caps, kap, shape=shape),
                                n_boot=0).verdict for _ in range(n)]
        rates[truth] = {v: verdicts.count(v) / n for v in set(verdicts)}
    assert rates["exponential"].get("exponential", 0) >= 0.70, rates
    assert rates["power law"].get("exponential", 0) <= 0.05, rates
    assert rates["flat"].get("no increase detected", 0) >= 0.90, rates
