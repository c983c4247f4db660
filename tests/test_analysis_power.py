"""Power from the fitted world: serialisation, reported vs realised rates, design search."""
import json
import math

import numpy as np
import pytest

from qlsgan_tf.analysis import (
    World,
    design_for_power,
    fit_surface,
    planted,
    power_interval,
    simulate_power,
)
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


def test_power_interval_shape_and_bounds():
    fit = fit_surface(*_study("exponential", 5), n_boot=0)
    out = power_interval(fit, n_rep=12, n_worlds=4, seed=2, laws=("exponential", "flat"))
    assert set(out) == {"exponential", "flat"}
    for v in out.values():
        lo, hi = v["interval"]
        assert 0.0 <= lo <= v["power"] <= hi <= 1.0
        assert len(v["world_rates"]) == 4 and abs(sum(v["rates"].values()) - 1.0) < 1e-9
    with pytest.raises(ValueError):
        power_interval(fit, n_rep=3, n_worlds=5)
    assert simulate_power(fit, n_rep=2, laws=("flat",)).keys() == {"flat"}


def _wilson(p, n, z=1.2816):
    """80 % Wilson interval of a rate p out of n."""
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


#: Worlds whose reported power was measured more than 10 points from the realised rate (40
#: replicates a side, seed 0; docs/method.md): there only the interval is checked.
_CALIBRATION_GAPS = {
    "8x6x5 saturating": "5 seeds: exponential reported 0.50 vs realised 0.70",
    "9x7x8 saturating, spread 0.8": "steepness spread: exponential 0.62 vs 0.33",
    "10x8x6 saturating, NaN 0.2": "power law 0.33 vs 0.07, exponential 0.60 vs 0.72",
}


@pytest.mark.slow
@pytest.mark.parametrize("world", list(planted.CALIBRATION_WORLDS))
def test_reported_power_interval_holds_the_realised_rate(world):
    """The reported 10-90 % power interval meets the realised rate's own 80 % interval in
    every world; the point power is within 10 points where that was measured to hold."""
    n = 40
    res = planted.power_calibration(world, n_rep=n, seed=0, interval=True)
    for law, (_reported, realised, (lo, hi)) in res.items():
        r_lo, r_hi = _wilson(realised, n)
        assert lo <= r_hi + 1e-9 and r_lo <= hi + 1e-9, (law, res)
    if world not in _CALIBRATION_GAPS:
        assert max(abs(a - b) for a, b, _ in res.values()) <= 0.10 + 1e-9, res


def test_power_reliability_bins_and_errors():
    from qlsgan_tf.analysis.power import PLANTED
    res = planted.power_reliability(2, n_rep=2, n_fresh=1, seed=4, n_bins=4, min_count=1)
    assert res["failed"] == 0 and len(res["pairs"]) == 2 * len(PLANTED)
    assert [b["range"] for b in res["bins"]] == [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75),
                                                  (0.75, 1.0)]
    assert sum(b["pairs"] for b in res["bins"]) == len(res["pairs"])
    for b in res["bins"]:
        if b["pairs"]:
            assert b["range"][0] <= b["reported"] <= b["range"][1]
            assert b["wilson"][0] - 1e-9 <= b["realised"] <= b["wilson"][1] + 1e-9
    assert 0.0 <= res["max_gap"] <= 1.0
    with pytest.raises(ValueError, match="n_fresh"):
        planted.power_reliability(2, n_fresh=0)


@pytest.mark.slow
def test_reported_power_is_calibrated_over_planted_worlds():
    """Reliability over planted worlds shaped like real runs (and the bundled pilot world):
    among studies reporting power p, the verdict comes back at rate p within 10 points in
    every third of [0, 1] holding >= 20 world/law pairs (docs/method.md: 0.090 over five
    bins at 600 pairs)."""
    from qlsgan_tf.study.pilot import bundled_world

    pilot = bundled_world()[0]
    pilot.draws = None
    res = planted.power_reliability(30, n_rep=12, n_fresh=2, seed=7, pilot=pilot, n_bins=3,
                                    min_count=20)
    full = [b for b in res["bins"] if b["pairs"] >= 20]
    assert full and res["max_gap"] <= 0.10, res["bins"]
