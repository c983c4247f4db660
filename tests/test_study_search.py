"""The adaptive critic search: where it suggests new critics, and its limits."""
import math

import numpy as np
import pytest

from qlsgan_tf.study import presets, search
from qlsgan_tf.tuning.results import RunResult


def _config(**overrides):
    values = dict(critic_capacities=[40, 200, 1000, 5000], seeds=[0, 1, 2, 3, 4],
                  learning_rates=[1e-3], refine_rounds=2, refine_points=2)
    values.update(overrides)
    return presets.make_config("smoke", **values)


def _runs(config, score_of, generator="q3x2", kind="quantum", status="converged", seed=0,
          noise=0.01):
    """Run records of one generator whose score at critic c is ``score_of(log c)`` + noise."""
    rng = np.random.default_rng(seed)
    runs = []
    for c in config.critic_capacities:
        for s in config.seeds:
            runs.append(RunResult(
                generator=generator, kind=kind, latent_dim=3, generator_capacity=96,
                n_qubits=3, n_layers=2, critic_budget=c, seed=s, learning_rate=1e-3,
                status=status,
                score=score_of(math.log(c)) * math.exp(noise * rng.standard_normal())))
    return runs


def knee(k):
    """Score at log critic x of a knee at critic k: 1 + 0.05 (C / k)^-1.5."""
    return lambda x: 1.0 + 0.05 * math.exp(-1.5 * (x - math.log(k)))


def test_a_bracketed_knee_is_densified_at_the_nearest_log_midpoints():
    config = _config()
    new = search.next_critics(config, "q3x2", _runs(config, knee(600), noise=0.002), 1)
    # Log midpoints of the grid intervals, nearest the knee first: 447 (200-1000), 2236.
    assert new == [447, 2236]


def test_a_censored_knee_extends_the_grid_by_whole_steps_within_the_limits():
    config = _config()
    high = _runs(config, knee(200000), noise=0.002)  # still falling at the largest critic
    # One grid step (x5) beyond the edge; a second step is beyond the default limit.
    assert search.next_critics(config, "q3x2", high, 1) == [25000]
    low = _runs(config, lambda x: 1.0, noise=0.002)  # flat: at its plateau from the smallest
    assert search.next_critics(config, "q3x2", low, 1) == [8]  # 40 / 5; 1.6 < the floor
    assert search.critic_limits(config) == (8, 25000)
    wider = _config(refine_max_critic=200000)
    assert search.next_critics(wider, "q3x2", _runs(wider, knee(200000), noise=0.002),
                               1) == [25000, 125000]


def test_suggest_critics_on_its_own():
    grid = [40, 200, 1000, 5000]
    step = math.log(5)
    assert search.suggest_critics(grid, 600.0, None, 1, step) == [447]
    assert search.suggest_critics(grid, 5000.0, "high", 2, step) == [25000, 125000]
    assert search.suggest_critics(grid, 40.0, "low", 1, step) == [8]
    assert search.suggest_critics(grid, None, None, 2, step) == []


def test_no_suggestion_without_a_converged_run_for_other_kinds_or_after_the_last_round():
    config = _config()
    assert search.next_critics(config, "q3x2", _runs(config, lambda x: 1.0 + x, status="unstable"),
                               1) == []
    classical = _runs(config, lambda x: 1.0 + (x - 7) ** 2, generator="c150@3", kind="classical")
    assert search.next_critics(config, "c150@3", classical, 1) == []
    assert search.next_critics(_config(refine_kinds="all"), "c150@3", classical, 1)
    runs = _runs(config, lambda x: 1.0 + (x - 7) ** 2)
    assert search.next_critics(config, "q3x2", runs, 3) == []  # refine_rounds = 2
    assert search.refiner(_config(refine_rounds=0)) is None


def test_suggestions_realising_a_critic_already_tried_are_dropped():
    config = _config(critic_capacities=[40, 41, 5000])
    runs = _runs(config, lambda x: 1.0 + (x - math.log(41)) ** 2)
    new = search.next_critics(config, "q3x2", runs, 1)
    tried = {search.realised_critic(config, 3, c) for c in config.critic_capacities}
    assert all(search.realised_critic(config, 3, c) not in tried for c in new)
    assert len({search.realised_critic(config, 3, c) for c in new}) == len(new)


def test_refinement_settings_are_checked():
    with pytest.raises(ValueError, match="refine_kinds must be one of"):
        _config(refine_kinds="both")
    with pytest.raises(ValueError, match="refine_rounds must be a non-negative int"):
        _config(refine_rounds=-1)
    with pytest.raises(ValueError, match="refine_max_critic=100 is below the largest grid"):
        _config(refine_max_critic=100)
    assert _config().n_refine_runs() == 2 * 2 * 3 * 5 * 1  # rounds x points x q gens x seeds
