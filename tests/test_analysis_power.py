"""Power from the fitted world: serialisation, reported vs realised rates, design search."""
import json
import math

import numpy as np

from qlsgan_tf.analysis import World, design_for_power, fit_surface, planted, simulate_power
from qlsgan_tf.analysis.twostage import two_stage


def _study(truth, seed):
    rng = np.random.default_rng(seed)
    q, caps = planted.design()
    kap = planted.planted_knees(truth, q, 30.0, math.log(1500.0))
    return q, caps, planted.planted_table(rng, q, caps, kap)


def test_world_round_trip_and_simulation():
    fit = fit_surface(*_study("exponential", 1), n_boot=0)
    world = World.from_dict(json.loads(json.dumps(fit.world().to_dict())))
    tabs = world.simulate(np.random.default_rng(0), world.knees)
    assert [t.shape for t in tabs] == [(10, 8)] * 10
    assert np.array_equal(np.isnan(tabs[3]), ~world.mask[3])
    out = simulate_power(world, n_rep=3, seed=1)
    assert set(out) == {"exponential", "power law", "flat"}
    assert all(abs(sum(v.values()) - 1.0) < 1e-9 for v in out.values())


def test_reported_power_matches_realised():
    """Power reported from one realisation's fit vs the rate on fresh data of that world."""
    n = 40
    fit = fit_surface(*_study("exponential", 7), n_boot=0)
    reported = simulate_power(fit, n_rep=n, seed=3, laws=("exponential",))
    verdicts = [fit_surface(*_study("exponential", 300 + r), n_boot=0).verdict
                for r in range(n)]
    realised = verdicts.count("exponential") / n
    assert abs(reported["exponential"].get("exponential", 0.0) - realised) <= 0.10 + 1e-9


def test_design_for_power_restricted_candidates():
    fit = fit_surface(*_study("exponential", 2), n_boot=0)
    q = fit.q
    out = design_for_power(fit, seeds=[3, 10], q_sets=[q[::3].tolist(), q.tolist()],
                           critic_sets=[np.geomspace(30, 24000, 8).tolist()], n_rep=8)
    runs = [e["runs"] for e in out["evaluated"]]
    assert runs == sorted(runs)
    if out["design"] is not None:
        assert out["power"] >= 0.8 and out["design"] == out["evaluated"][-1]


def test_two_stage_chain_runs_on_the_same_table():
    comparison, estimates = two_stage(*_study("exponential", 3), n_boot=20)
    assert len(estimates) == 10 and comparison.verdict
