"""Power from the fitted world: serialisation, reported vs realised rates, design search."""
import json
import math

import numpy as np
import pytest

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


def test_world_carries_the_fits_sampling_error():
    fit = fit_surface(*_study("exponential", 4), n_boot=0)
    world = fit.world()
    assert world.draws is not None
    assert world.draws["level"].shape == (200, 10) and world.draws["sharpness"].shape == (200,)
    assert np.all(world.draws["upturn"] >= 0) and np.all(world.draws["noise_scale"] > 0)
    back = World.from_dict(json.loads(json.dumps(world.to_dict())))
    assert np.allclose(back.draws["steepness"], world.draws["steepness"])
    small = world.redesign(fit.q[::2], np.geomspace(30, 24000, 6), 5)
    assert small.draws["level"].shape == (200, 5)
    assert [t.shape for t in small.simulate(np.random.default_rng(0), small.knees)] == [(5, 6)] * 5


_CALIBRATION_GAPS = {  # measured gaps above 0.10 (docs/method-knee.md): known, not yet closed
    "10x8x10 saturating": "power law reported 0.40 vs realised 0.25",
    "8x6x5 saturating": "5 seeds: exponential reported 0.33 vs realised 0.70",
    "9x7x8 saturating, spread 0.8": "steepness spread: exponential 0.78 vs 0.33",
}


@pytest.mark.slow
@pytest.mark.parametrize("world", [
    pytest.param(w, marks=pytest.mark.xfail(reason=_CALIBRATION_GAPS[w], strict=False))
    if w in _CALIBRATION_GAPS else w for w in planted.CALIBRATION_WORLDS])
def test_reported_power_within_ten_points_of_realised(world):
    res = planted.power_calibration(world, n_rep=40, seed=0)
    gaps = {law: abs(a - b) for law, (a, b) in res.items()}
    assert max(gaps.values()) <= 0.10 + 1e-9, res
