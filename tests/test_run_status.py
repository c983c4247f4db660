"""run_status on simulated score trajectories with known truth, and measured error rates."""
import collections
import math

import numpy as np
import pytest

from qlsgan_tf.metrics.stability import STATUSES, RunStatus, run_status

N_EVAL = 20
X = np.arange(N_EVAL)
REPS = 400


def _rates(make, seed, **kwargs):
    rng = np.random.default_rng(seed)
    counts = collections.Counter(run_status(make(rng), **kwargs).status for _ in range(REPS))
    return {s: counts[s] / REPS for s in STATUSES}


@pytest.mark.parametrize("noise", [0.03, 0.1])
def test_plateau_with_noise_is_converged(noise):
    rates = _rates(lambda rng: 10.0 * (1.0 + noise * rng.normal(size=N_EVAL)), seed=1)
    assert rates["converged"] >= 0.90
    # A good run discarded as diverging must be rare (stricter level than "improving").
    assert rates["diverging"] <= 0.02
    assert rates["improving"] <= 0.08


def test_plateau_at_the_floor_is_not_punished_for_being_near_zero():
    def near_zero(rng):
        return np.abs(0.002 + 0.01 * rng.normal(size=N_EVAL))

    rates = _rates(near_zero, seed=2, floor=0.05)
    assert rates["converged"] >= 0.90 and rates["unstable"] == 0.0
    # Without the floor the same run looks like noise around 0: the floor is what protects it.
    assert _rates(near_zero, seed=2)["unstable"] > 0.5


@pytest.mark.parametrize("rate", [4.0, 8.0])
def test_decaying_run_is_improving(rate):
    rates = _rates(lambda rng: (50.0 * np.exp(-X / rate) + 10.0)
                   * (1.0 + 0.03 * rng.normal(size=N_EVAL)), seed=3)
    assert rates["improving"] >= 0.95 and rates["converged"] <= 0.05


def test_rising_run_is_diverging():
    rates = _rates(lambda rng: (1.0 + 0.5 * np.maximum(0.0, (X - 12) / 7.0))
                   * (1.0 + 0.03 * rng.normal(size=N_EVAL)), seed=4)
    assert rates["diverging"] >= 0.95


def test_oscillating_run_is_unstable():
    rates = _rates(lambda rng: 1.0 + 0.3 * (-1.0) ** X + 0.05 * rng.normal(size=N_EVAL), seed=5)
    assert rates["unstable"] >= 0.95


def test_converged_score_is_the_window_mean():
    scores = [5.0, 3.0, 2.0, 1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99]
    st = run_status(scores, k=8)
    assert st == RunStatus("converged", (), pytest.approx(np.mean(scores[-8:])))
    assert st.converged


def test_failed_and_short_and_critic_loss():
    st = run_status([1.0, np.nan, 1.0], critic_losses=[0.1, np.inf, 0.2])
    assert st.status == "failed" and len(st.reasons) == 2 and math.isnan(st.score)
    short = run_status([3.0, 2.0, 1.0], k=8)
    assert short.status == "improving" and "only 3 evaluations" in short.reasons[0]
    flat = np.ones(12)
    # A critic loss settling near 0 is fine; one flipping sign at full size is not.
    settle = np.r_[-5.0 * np.ones(4), 0.01 * (-1.0) ** np.arange(8)]
    assert run_status(flat, critic_losses=settle).status == "converged"
    flip = 3.0 * (-1.0) ** np.arange(12)
    st = run_status(flat, critic_losses=flip)
    assert st.status == "unstable" and "critic-loss" in st.reasons[0]
    assert run_status(flat, critic_losses=flip, max_critic_oscillation=None).converged
    assert run_status(np.zeros(10)).converged


@pytest.mark.parametrize("kwargs,match", [
    ({"k": 2}, "k must be >= 3"),
    ({"k": 0}, "positive int"),
    ({"floor": -1.0}, "floor"),
    ({"improving_alpha": 2.0}, "improving_alpha"),
    ({"max_critic_oscillation": "x"}, "max_critic_oscillation"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_status(np.ones(10), **kwargs)


def test_bad_scores():
    with pytest.raises(ValueError, match="one-dimensional"):
        run_status(np.ones((3, 3)))
    with pytest.raises(TypeError, match="sequence of numbers"):
        run_status(["a", "b"])
