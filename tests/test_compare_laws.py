"""compare_laws (the two-stage chain's law comparison, kept for the exploratory point laws):
planted laws at the study's design, censoring, per-point errors, the rules."""
import collections
import math

import numpy as np
import pytest
from scipy import stats

from qlsgan_tf.analysis import twostage as fits
from qlsgan_tf.analysis.planted import planted_knees
from qlsgan_tf.analysis.twostage import VERDICTS, compare_laws


def planted_law(truth, q, rise, centre):
    """C*(Q) of a planted law rising ``rise``-fold over ``q``, geometric mean ``centre``."""
    return np.exp(planted_knees(truth.replace("_", " "), q, rise, math.log(centre)))

Q = np.geomspace(20.0, 200.0, 8)  # 8 Q points over a 10x range
SIGMA = 0.3  # noise of log C*
Z = stats.norm.ppf(0.975)


def _verdicts(truth, reps=150, seed=0):
    rng = np.random.default_rng(seed)
    counts = collections.Counter()
    for _ in range(reps):
        y = planted_law(truth, Q, 30.0, 1000.0) * np.exp(SIGMA * rng.normal(size=Q.size))
        ci = np.stack([y * np.exp(-Z * SIGMA), y * np.exp(Z * SIGMA)], axis=1)
        counts[compare_laws(Q, y, y_ci=ci, _with_ci=False).verdict] += 1
    return {v: counts[v] / reps for v in VERDICTS}


def test_exponential_rising_30x_is_called_exponential():
    assert _verdicts("exponential")["exponential"] >= 0.80


def test_power_law_is_rarely_called_exponential():
    assert _verdicts("power_law")["exponential"] <= 0.05


def test_flat_is_no_increase():
    assert _verdicts("flat")["no increase detected"] >= 0.80


@pytest.mark.parametrize("name", ["exponential", "power_law", "linear"])
def test_laws_recover_their_curves(name):
    y = planted_law(name, Q, 30.0, 1000.0)
    out = compare_laws(Q, y)
    assert out.verdict == fits.LAW_LABELS[name] and out.rule == "aicc"
    assert np.allclose(out.fits[name].predict(Q), y, rtol=1e-3)
    noisy = y * np.exp(0.02 * np.random.default_rng(1).normal(size=Q.size))
    fit = compare_laws(Q, noisy).fits[name]
    assert fit.ci["b"][0] < fit.params["b"] < fit.ci["b"][1]
    assert np.allclose(fit.predict(Q), y, rtol=0.05)


def test_exponential_rate():
    out = compare_laws(Q, 5.0 * np.exp(0.02 * Q))
    assert out.fits["exponential"].params["b"] == pytest.approx(0.02, rel=1e-3)


def test_censored_points_enter_through_an_interval_likelihood():
    y = planted_law("exponential", Q, 30.0, 1000.0)
    capped = np.minimum(y, 3000.0)  # the critic grid ends at 3000: the top points are censored
    cens = [None if v < 3000.0 else "high" for v in y]
    with_cens = compare_laws(Q, capped, censored=cens).fits["exponential"]
    as_exact = compare_laws(Q, capped).fits["exponential"]
    # Treating the bound as the value flattens the law; the censored likelihood does not.
    assert with_cens.params["b"] > as_exact.params["b"]
    assert with_cens.predict(Q[-1:])[0] >= 3000.0
    # A censored point contributes log Φ, which is <= 0, and the comparison still counts it.
    assert compare_laws(Q, capped, censored=cens).n_censored == sum(c is not None for c in cens)


def test_point_errors_are_used():
    rng = np.random.default_rng(5)
    y = planted_law("exponential", Q, 30.0, 1000.0) * np.exp(0.1 * rng.normal(size=Q.size))
    ci = np.stack([y / 1.2, y * 1.2], axis=1)
    wide = np.stack([y / 20.0, y * 20.0], axis=1)
    narrow_fit = compare_laws(Q, y, y_ci=ci).fits["exponential"]
    wide_fit = compare_laws(Q, y, y_ci=wide).fits["exponential"]
    # Wide point intervals widen the law's parameter interval and make ΔAICc smaller.
    assert np.ptp(wide_fit.ci["b"]) > 2 * np.ptp(narrow_fit.ci["b"])
    assert narrow_fit.params["sigma"] < 0.2


def test_rules_insufficient_trend_and_few_points():
    assert compare_laws(Q[:3], Q[:3]).verdict == "insufficient data"
    cens = ["high"] * 6 + [None, None]
    out = compare_laws(Q, Q, censored=cens)
    assert out.verdict == "insufficient data" and out.rule == "insufficient"
    flat = compare_laws(Q, np.full(Q.size, 100.0))
    assert flat.verdict == "no increase detected" and flat.rule == "no_trend"
    assert flat.trend.p_value >= fits.TREND_ALPHA
    falling = compare_laws(Q, 1e4 / Q)
    assert falling.verdict == "no increase detected" and falling.trend.tau == pytest.approx(-1.0)
    few = compare_laws(Q[:4], 10.0 * Q[:4])
    assert few.verdict == "increasing, form undetermined" and few.rule == "few_for_aicc"
    tau = stats.kendalltau(Q, np.exp(Q / 50.0)).statistic
    assert compare_laws(Q, np.exp(Q / 50.0)).trend.tau == pytest.approx(tau)


def test_to_dict_names_the_rule():
    out = compare_laws(Q, planted_law("exponential", Q, 30.0, 1000.0)).to_dict()
    assert out["verdict"] == "exponential" and out["rule_text"] == fits.RULES["aicc"]
    assert set(out["fits"]) == set(fits.LAWS)
    assert out["fits"]["exponential"]["delta_aicc"] == 0.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(q=Q, y=Q[:-1]), "same length"),
    (dict(q=Q, y=-Q), "positive"),
    (dict(q=Q, y=Q, censored=["up"] * Q.size), "None, 'low' or 'high'"),
    (dict(q=Q, y=Q, censored=[None]), "entries for"),
    (dict(q=Q, y=Q, y_ci=np.ones((3, 2))), "shape"),
    (dict(q=Q, y=Q, y_ci=np.stack([Q * 2, Q], axis=1)), "not a positive interval"),
    (dict(q=Q, y=np.r_[Q[:-1], np.nan]), "non-finite"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_laws(**kwargs)


def test_linear_law_is_fitted():
    assert math.isfinite(compare_laws(Q, 5.0 * Q).fits["linear"].aicc)


@pytest.mark.parametrize("name", ["exponential", "power_law", "linear"])
def test_a_degenerate_fit_reports_inf_instead_of_crashing_the_report(name):
    """A power simulation once fitted a law whose ``a = e^(θ0 - b·lo)`` overflowed a float:
    ``OverflowError`` ended ``qlsgan study`` after every run had trained. Such a parameter is
    reported as inf (or nan where inf - inf), never raised."""
    params = fits._law_params(name, np.array([800.0, 900.0, 0.0]), (1.0, 16.0))
    assert set(params) == {"a", "b"}
    assert all(math.isinf(v) or math.isnan(v) or abs(v) < 1e300 for v in params.values())
    assert math.isinf(params["a"]) or math.isnan(params["a"])
    assert fits.safe_exp(710.0) == math.inf and fits.safe_exp(1.0) == math.e
