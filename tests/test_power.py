"""Power simulation through the estimator chain, and the design helper."""
import numpy as np
import pytest

from qlsgan_tf.study import power

Q = np.geomspace(20.0, 200.0, 8)
GRID = [30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000]


def test_calibrated_noise_gives_the_requested_spread():
    low = power.calibrate_noise(0.1, GRID, 5)
    high = power.calibrate_noise(0.5, GRID, 5)
    assert 0 < low < high


def test_power_through_the_chain():
    res = power.simulate_power(Q, GRID, 5, 0.3, n_rep=60, truths=("exponential", "flat"))
    probs = res.probabilities
    assert sum(probs["exponential"].values()) == pytest.approx(1.0)
    # Through the whole chain (bootstrap intervals, not exact ones): lower than the 82 %
    # compare_laws reaches with exact per-point errors, but the verdict is still mostly right.
    assert probs["exponential"]["exponential"] >= 0.6
    assert probs["flat"]["no increase detected"] >= 0.8
    assert res.mc_error == pytest.approx(0.5 / np.sqrt(60))
    again = power.simulate_power(Q, GRID, 5, 0.3, n_rep=60, truths=("exponential", "flat"))
    assert again.probabilities == probs


def test_less_noise_more_power():
    kw = dict(n_rep=60, truths=("exponential",))
    noisy = power.simulate_power(Q, GRID, 5, 0.6, **kw).power["exponential"]
    clean = power.simulate_power(Q, GRID, 5, 0.1, **kw).power["exponential"]
    assert clean > noisy


def test_design_for_power_suggests_a_design_reaching_the_target():
    out = power.design_for_power(Q, GRID, 5, 0.4, n_rep=40)
    assert out["current"] < out["target"]
    assert out["suggestion"] is not None
    hit = next(c for c in out["candidates"] if c["design"] == out["suggestion"])
    assert hit["power"] >= out["target"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(q=[5.0], critic_grid=GRID, n_seeds=5, sigma=0.3), "distinct"),
    (dict(q=Q, critic_grid=[1, 2], n_seeds=5, sigma=0.3), "critic_grid"),
    (dict(q=Q, critic_grid=GRID, n_seeds=1, sigma=0.3), "n_seeds"),
    (dict(q=Q, critic_grid=GRID, n_seeds=5, sigma=0.0), "sigma"),
    (dict(q=Q, critic_grid=GRID, n_seeds=5, sigma=0.3, rise=1.0), "rise"),
])
def test_bad_designs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        power.simulate_power(**kwargs)


def test_describe_power_lines():
    lines = power.describe_power(Q, GRID, 5, 0.2, n_rep=20)
    assert "(measured on the finished runs)" in lines[0] and "Monte-Carlo error" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:5]] == [
        f"planted {t}" for t in power.TRUTHS]
    assumed = power.describe_power(Q, GRID, 5, None, n_rep=20)
    assert f"sigma = {power.ASSUMED_SIGMA:.3g}" in assumed[0] and "(assumed)" in assumed[0]
    assert "not simulated" in power.describe_power(Q[:3], GRID, 5, 0.2)[0]
