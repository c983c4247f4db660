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


def _runs(config, score_of, generator="q3x2", kind="quantum", status="converged", seed=0):
    """Run records of one generator whose score at critic c is ``score_of(log c)`` + noise."""
    rng = np.random.default_rng(seed)
    runs = []
    for c in config.critic_capacities:
        for s in config.seeds:
            runs.append(RunResult(
                generator=generator, kind=kind, latent_dim=3, generator_capacity=96,
                n_qubits=3, n_layers=2, critic_budget=c, seed=s, learning_rate=1e-3,
                status=status, score=score_of(math.log(c)) + 0.01 * rng.standard_normal()))
    return runs


def test_an_interior_optimum_gets_golden_section_points_on_both_sides():
    config = _config()
    runs = _runs(config, lambda x: (x - math.log(1000)) ** 2)
    new = search.next_critics(config, "q3x2", runs, 1)
    assert len(new) == 2
    below, above = new
    # Golden-section points: 0.382 of the way from the best grid critic (1000) to each neighbour.
    x = math.log(1000)
    assert below == pytest.approx(math.exp(x + 0.382 * math.log(200 / 1000)), rel=0.02)
    assert above == pytest.approx(math.exp(x + 0.382 * math.log(5000 / 1000)), rel=0.02)


def test_a_censored_optimum_extends_the_grid_within_the_limits():
    config = _config()
    rising = _runs(config, lambda x: -x)  # the largest critic is best: censored high
    # One grid step (x5) beyond the edge; a second step is beyond the default limit.
    assert search.next_critics(config, "q3x2", rising, 1) == [25000]
    falling = _runs(config, lambda x: x)  # the smallest is best: censored low
    assert search.next_critics(config, "q3x2", falling, 1) == [8]  # 40 / 5; 1.6 < the floor
    assert search.critic_limits(config) == (8, 25000)
    wider = _config(refine_max_critic=200000)
    assert search.next_critics(wider, "q3x2", _runs(wider, lambda x: -x), 1) == [25000, 125000]


def test_no_suggestion_without_a_converged_run_for_other_kinds_or_after_the_last_round():
    config = _config()
    assert search.next_critics(config, "q3x2", _runs(config, lambda x: x, status="unstable"),
                               1) == []
    classical = _runs(config, lambda x: (x - 7) ** 2, generator="c150@3", kind="classical")
    assert search.next_critics(config, "c150@3", classical, 1) == []
    assert search.next_critics(_config(refine_kinds="all"), "c150@3", classical, 1)
    runs = _runs(config, lambda x: (x - 7) ** 2)
    assert search.next_critics(config, "q3x2", runs, 3) == []  # refine_rounds = 2
    assert search.refiner(_config(refine_rounds=0)) is None


def test_suggestions_realising_a_critic_already_tried_are_dropped():
    config = _config(critic_capacities=[40, 41, 5000])
    runs = _runs(config, lambda x: (x - math.log(41)) ** 2)
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


def test_planted_optima_beyond_the_grid_the_search_halves_censoring_and_error():
    """Known truth: optima drawn over 30..20000 while the grid stops at 6000 (as in the demo,
    where most C* were censored at the largest critic)."""
    res = search.simulate_search([30, 200, 1500, 6000], 5, truth_range=(60, 20000),
                                 n_rep=150, limits=(8, 24000))
    grid, adaptive, even = res["grid"], res["adaptive"], res["even"]
    assert adaptive["censored"] < 0.5 * grid["censored"]
    assert adaptive["censored"] < 0.5 * even["censored"]  # at equal run budget
    assert adaptive["rms_err"] < 0.8 * grid["rms_err"]
    assert adaptive["rms_err"] < even["rms_err"]
    assert adaptive["coverage"] >= 0.85


def test_simulated_search_rejects_an_unknown_valley():
    with pytest.raises(ValueError, match="valley must be one of"):
        search.simulate_search([30, 200, 1500], 3, truth_range=(60, 1000), valley="w", n_rep=1)
