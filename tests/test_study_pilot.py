"""The pilot world a design's power is simulated in: a finished study's fitted surface, or
the bundled quick study's."""
import numpy as np
import pytest
from knee_runs import CLASSICAL, CRITICS, QUANTUM, synthetic_runs

from qlsgan_tf import analysis as stats_lib
from qlsgan_tf import jsoncodec
from qlsgan_tf.study import analysis, pilot, presets
from qlsgan_tf.study import store as store_lib


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pilot")
    config = presets.make_config("smoke", quantum_grid=[(3, L) for _, L, _, _ in QUANTUM],
                                 critic_capacities=CRITICS,
                                 classical_capacities=[c for c, _ in CLASSICAL],
                                 seeds=[0, 1, 2, 3])
    store = store_lib.ResultStore(out)
    store.pin_config(config)
    for run in synthetic_runs():
        store.put(run)
    return out


def test_a_finished_study_is_a_pilot_world_that_round_trips(study_dir):
    world, source = pilot.study_world(study_dir)
    assert str(study_dir) in source
    assert world.q.tolist() == [float(q) for _, _, q, _ in QUANTUM]
    again = stats_lib.World.from_dict(jsoncodec.loads(jsoncodec.dumps(world.to_dict())))
    np.testing.assert_allclose(again.knees, world.knees)
    moved = again.redesign([36.0, 96.0, 156.0, 216.0, 276.0], CRITICS, 3)
    rates = stats_lib.simulate_power(moved, n_rep=3, seed=0)
    assert set(rates) == {"exponential", "power law", "flat"}


def test_bundled_world_loads_and_says_what_it_is():
    world, source = pilot.bundled_world()
    assert "bundled quick study" in source
    assert world.q.size >= 4 and np.all(np.isfinite(world.level))
    cfg = presets.make_config("paper")
    q = [s.capacity for s in cfg.generator_specs() if s.kind == "quantum"]
    moved = world.redesign(q, cfg.critic_capacities, len(cfg.seeds))
    assert moved.q.size == len(q) and moved.n_seeds == len(cfg.seeds)
    power = analysis.power_of(moved, n_rep=2, seed=0, candidates={
        "seeds": [len(cfg.seeds)], "q_sets": [q], "critic_sets": [cfg.critic_capacities]})
    assert power["computed"]


def test_a_pilot_that_is_not_a_study_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a study directory"):
        pilot.study_world(tmp_path)
    with pytest.raises(ValueError, match="not a study directory"):
        pilot.world_for(str(tmp_path / "missing"))
