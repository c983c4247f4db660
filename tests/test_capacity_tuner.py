"""The capacity search space, its HyperModel and the resumable grid oracle."""
import keras_tuner
import pytest

from qlsgan_tf.study import presets
from qlsgan_tf.tuning import capacity


def settings(**kw):
    return presets.make_config("smoke", **kw)


def test_generator_labels_decode_to_capacities():
    s = settings(readout="z")
    q = capacity.parse_generator("q3x2", s)
    assert q == {"kind": "quantum", "n_qubits": 3, "n_layers": 2, "noise_dim": 3,
                 "latent_dim": 3, "capacity": 2 * 3 * 11}
    c = capacity.parse_generator("c300@3", s)
    assert c["kind"] == "classical" and c["latent_dim"] == 3 and c["noise_dim"] == 3
    # The realised capacity is the nearest reachable parameter count of that shape.
    assert abs(c["capacity"] - 300) / 300 < 0.1
    xz = capacity.parse_generator("q3x2", settings(readout="xz"))
    assert xz["latent_dim"] == 6 and xz["noise_dim"] == 3
    with pytest.raises(ValueError, match="unknown generator label 'x3'"):
        capacity.parse_generator("x3", s)


@pytest.mark.parametrize("label, kind", [("q2x2", "quantum"), ("c60@2", "classical")])
def test_hypermodel_builds_a_compiled_gan_of_the_asked_capacities(label, kind):
    s = settings()
    hp = keras_tuner.HyperParameters()
    hp.Fixed("generator", label)
    hp.Fixed("critic_capacity", 120)
    gan = capacity.CapacityHyperModel(s).build(hp, seed=0)
    spec = capacity.parse_generator(label, s)
    assert gan.generator_capacity == spec["capacity"]
    assert abs(gan.critic_capacity - 120) / 120 < 0.15
    assert gan.g_optimizer is not None and gan.c_optimizer is not None
    assert gan.generate(5).shape == (5, spec["latent_dim"])


def _grid_oracle(directory):
    hps = keras_tuner.HyperParameters()
    hps.Choice("generator", ["a", "b", "c"])
    hps.Choice("critic_capacity", [1, 2], ordered=True)
    oracle = capacity.ResumableGridSearchOracle(
        objective=keras_tuner.Objective("score", "min"), hyperparameters=hps, seed=0)
    oracle._set_project_dir(str(directory), "p")
    return oracle


def _finish(oracle, trial):
    oracle.update_trial(trial.trial_id, {"score": 1.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def _values(trial):
    return trial.hyperparameters.get("generator"), trial.hyperparameters.get("critic_capacity")


def _run_trials(oracle, n=None):
    """Creates and finishes trials (n of them, or until the oracle stops); their values."""
    seen = []
    while n is None or len(seen) < n:
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        seen.append(_values(trial))
        _finish(oracle, trial)
    return seen


def _reloaded(directory):
    oracle = _grid_oracle(directory)
    oracle.reload()
    return oracle


GRID = {(g, c) for g in "abc" for c in (1, 2)}


def test_grid_oracle_resumes_after_an_interruption_mid_trial(tmp_path):
    first = _grid_oracle(tmp_path)
    done = _run_trials(first, 3)
    running = first.create_trial("tuner0")  # the process dies during this trial
    first.save()

    seen = _run_trials(_reloaded(tmp_path))
    assert seen[0] == _values(running)  # the interrupted trial re-runs
    assert set(done + seen) == GRID
    assert len(done) + len(seen) == 6  # every combination exactly once


def test_grid_oracle_resumes_after_an_interruption_between_trials(tmp_path):
    done = _run_trials(_grid_oracle(tmp_path), 2)
    # Killed after the trial ended but before the next one was created. KerasTuner saved
    # its state before it marked the last trial ended, so that trial is offered again (the
    # study's run store then returns its recorded runs instead of training them again).
    seen = _run_trials(_reloaded(tmp_path))
    assert set(done + seen) == GRID
    assert seen[0] == done[-1] and len(seen) == 5


def test_bayesian_tuner_is_refused_with_the_reason(tmp_path):
    # Minimising the score over generators would starve weak generators (each trial is one
    # generator with all its critics); the grid is the only oracle offered.
    with pytest.raises(ValueError, match="starve"):
        settings(tuner="bayesian", max_trials=3)
    s = settings()
    s.tuner = "bayesian"
    with pytest.raises(ValueError, match="not offered"):
        capacity.make_tuner(s, capacity.CapacityHyperModel(s), directory=tmp_path, verbose=0)


def test_a_trial_is_one_generator_with_all_its_runs(tmp_path):
    s = settings(learning_rates=[1e-3, 2e-3])
    tuner = capacity.make_tuner(s, capacity.CapacityHyperModel(s), directory=tmp_path,
                                verbose=0)
    assert set(tuner.oracle.hyperparameters.values) == {"generator"}
    runs = capacity.packs.plan_runs(s, "q2x1")
    assert len(runs) == len(s.critic_capacities) * len(s.seeds) * 2
    assert runs[0].key == "q2x1__c20__s0__lr0.001"


def test_pack_groups_pad_small_critics_together_and_split_wide_ones():
    quick = presets.make_config("quick")
    runs = capacity.packs.plan_runs(quick, "q3x2")
    groups = capacity.packs.pack_groups(quick, runs, 3)
    # 10 runs per critic: the three small critics share one padded pack, the widest its own.
    assert [sorted({r.critic_capacity for r in g}) for g in groups] == [[30, 200, 1500], [6000]]
    small = presets.make_config("quick", seeds=[0, 1], learning_rates=[1e-3],
                                critic_capacities=[30, 150, 800, 4000])
    runs = capacity.packs.plan_runs(small, "q3x2")
    assert [len(g) for g in capacity.packs.pack_groups(small, runs, 3)] == [len(runs)]
    wide = presets.make_config("quick", seeds=[0, 1, 2, 3, 4], learning_rates=[5e-4, 1e-3, 2e-3])
    groups = capacity.packs.pack_groups(wide, capacity.packs.plan_runs(wide, "q3x2"), 3)
    assert sorted(r.key for g in groups for r in g) == sorted(
        r.key for r in capacity.packs.plan_runs(wide, "q3x2"))
    assert len(groups) > 1 and all(len(g) <= capacity.packs.MAX_PACK for g in groups)
    assert {r.critic_capacity for r in groups[-1]} == {6000}
    paper = presets.make_config("paper")
    groups = capacity.packs.pack_groups(paper, capacity.packs.plan_runs(paper, "q3x1"), 3)
    assert {r.critic_capacity for r in groups[-1]} == {300000}
    one = presets.make_config("quick", pack=1)
    assert all(len(g) == 1 for g in capacity.packs.pack_groups(
        one, capacity.packs.plan_runs(one, "q3x2"), 3))
