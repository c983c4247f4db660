"""Stability metrics on synthetic FD-SAT4 / critic-loss trajectories."""
import math

import numpy as np
import pytest

from qlsgan_tf.metrics.stability import (
    check_stability,
    is_stable,
    optimality_score,
    oscillation,
    relative_std,
    trajectory_summary,
)

RNG = np.random.default_rng(0)
CONVERGING = 50.0 * np.exp(-np.arange(20) / 4.0) + 10.0 + RNG.normal(scale=0.2, size=20)
STEADY_LOSS = -2.0 + RNG.normal(scale=0.1, size=20)
DIVERGING = 10.0 * np.exp(np.arange(20) / 3.0)
OSCILLATING = 20.0 + 15.0 * (-1.0) ** np.arange(20)
FLIP_LOSS = 3.0 * (-1.0) ** np.arange(20)


def test_trajectory_summary_matches_numpy():
    summ = trajectory_summary(CONVERGING, k=5)
    tail = CONVERGING[-5:]
    assert summ == pytest.approx({"mean": tail.mean(), "std": tail.std(), "min": tail.min(),
                                  "last": tail[-1], "k": 5, "n": 20})


def test_trajectory_summary_short_uses_all():
    summ = trajectory_summary([3.0, 5.0], k=5)
    assert summ["k"] == 2 and summ["mean"] == 4.0 and summ["std"] == 1.0


def test_oscillation_values():
    assert oscillation([1.0, 3.0, 1.0, 3.0], k=4, relative=False) == 2.0
    assert oscillation([1.0, 3.0, 1.0, 3.0], k=4) == pytest.approx(1.0)
    assert oscillation(FLIP_LOSS, k=5) == pytest.approx(2.0)
    assert oscillation([5.0], k=5) == 0.0
    assert oscillation([0.0, 0.0, 0.0]) == 0.0
    assert math.isnan(oscillation([1.0, np.nan, 2.0]))
    assert relative_std([2.0, 4.0], k=2) == pytest.approx(1.0 / 3.0)


def test_stable_run():
    stable, reasons = check_stability(CONVERGING, STEADY_LOSS, k=5)
    assert stable and reasons == []
    assert is_stable(CONVERGING, STEADY_LOSS)
    score = optimality_score(CONVERGING, STEADY_LOSS, k=5, std_penalty=2.0)
    tail = CONVERGING[-5:]
    assert score == pytest.approx(tail.mean() + 2.0 * tail.std())


def test_diverging_fid_is_unstable():
    stable, reasons = check_stability(DIVERGING, STEADY_LOSS, k=5)
    assert not stable and "FD-SAT4 relative std" in reasons[0]
    assert optimality_score(DIVERGING, STEADY_LOSS) == math.inf


def test_oscillating_fid_and_loss_are_unstable():
    assert not is_stable(OSCILLATING, STEADY_LOSS)
    stable, reasons = check_stability(CONVERGING, FLIP_LOSS)
    assert not stable and "critic-loss oscillation" in reasons[0]
    # A looser threshold accepts it; None skips the test.
    assert is_stable(CONVERGING, FLIP_LOSS, max_loss_oscillation=3.0)
    assert is_stable(CONVERGING, FLIP_LOSS, max_loss_oscillation=None)


@pytest.mark.parametrize("fid,loss", [
    (np.r_[CONVERGING[:10], np.nan, CONVERGING[11:]], STEADY_LOSS),
    (CONVERGING, np.r_[STEADY_LOSS[:3], np.inf, STEADY_LOSS[4:]]),
])
def test_nan_or_inf_anywhere_is_unstable(fid, loss):
    stable, reasons = check_stability(fid, loss)
    assert not stable and "NaN/inf" in reasons[0]
    assert optimality_score(fid, loss) == math.inf


def test_better_run_scores_lower():
    worse = CONVERGING + 5.0
    assert optimality_score(CONVERGING, STEADY_LOSS) < optimality_score(worse, STEADY_LOSS)
    noisier = CONVERGING + np.r_[np.zeros(15), [1.5, -1.5, 1.5, -1.5, 1.5]]
    assert optimality_score(CONVERGING) < optimality_score(noisier)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: trajectory_summary([]), ValueError, "empty"),
    (lambda: trajectory_summary([1.0], k=0), ValueError, "k must be a positive int"),
    (lambda: trajectory_summary([[1.0, 2.0]]), ValueError, "one-dimensional"),
    (lambda: trajectory_summary(["a"]), TypeError, "sequence of numbers"),
    (lambda: is_stable([1.0], max_fid_rel_std=-1), ValueError, "max_fid_rel_std"),
    (lambda: optimality_score([1.0], std_penalty=-1), ValueError, "std_penalty"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
