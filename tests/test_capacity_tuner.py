"""The capacity search space, the tuner and the resumable grid oracle."""
import dataclasses

import keras_tuner
import pytest

from qlsgan_tf.study import presets
from qlsgan_tf.tuning import capacity

#: The packing tests' grid (the quick preset's of an earlier release, pinned so that the
#: expected pack make-ups do not move with the preset): 10 runs per critic of a generator.
PACKING_GRID = dict(quantum_grid=[(3, layers) for layers in (1, 2, 3, 4, 5, 6, 8, 10)],
                    critic_capacities=[30, 200, 1500, 6000], classical_capacities=[20, 150, 1200],
                    seeds=[0, 1, 2, 3, 4], learning_rates=[2e-3, 4e-3])


def settings(preset="smoke", **kw):
    if preset == "quick":
        kw = {**PACKING_GRID, **kw}
    return presets.make_config(preset, **kw).training_settings()


def test_the_search_space_is_the_studys_generators():
    config = presets.make_config("smoke")
    s = config.training_settings()
    assert s.generators == tuple(config.generator_labels())
    assert s.critic_budgets == tuple(config.critic_capacities)
    hp = capacity.search_space(s)
    assert [h.name for h in hp.space] == ["generator"]
    assert hp.space[0].values == list(s.generators)
    with pytest.raises(TypeError, match="TrainingSettings"):
        capacity.search_space(config)
    with pytest.raises(ValueError, match="generators is empty"):
        capacity.search_space(capacity.TrainingSettings())  # no generators


def test_the_tuner_is_a_documented_custom_training_tuner(tmp_path):
    # KerasTuner's custom-training form: run_trial overridden, no hypermodel, the search
    # space on the oracle.
    s = settings()
    tuner = capacity.make_tuner(s, directory=tmp_path, verbose=0)
    assert isinstance(tuner, keras_tuner.Tuner) and tuner.hypermodel is None
    assert type(tuner).run_trial is not keras_tuner.Tuner.run_trial
    assert tuner.oracle.get_space().space[0].values == list(s.generators)


def test_no_module_imports_keras_tuner_internals():
    import pathlib

    root = pathlib.Path(capacity.__file__).resolve().parents[1]
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "keras_tuner.src" in p.read_text()]
    assert offenders == []


@pytest.mark.parametrize("label, kind", [("q2x2", "quantum"), ("c60@2", "classical")])
def test_a_single_run_model_has_the_asked_capacities(label, kind):
    s = settings()
    gan = capacity.single_run_model(s, label, 120)
    spec = s.generator_spec(label)
    assert spec.kind == kind
    assert gan.generator_capacity == spec.capacity
    assert abs(gan.critic_params - 120) / 120 < 0.15
    assert gan.g_optimizer is not None and gan.c_optimizer is not None
    assert gan.generate(5).shape == (5, spec.output_dim)


def _grid_tuner(directory):
    """A tuner with the resumable grid oracle over two hyperparameters, in ``directory``;
    it reloads the oracle's state when the directory holds a saved tuner."""
    hps = keras_tuner.HyperParameters()
    hps.Choice("generator", ["a", "b", "c"])
    hps.Choice("critic_budget", [1, 2], ordered=True)
    oracle = capacity.GridOracle(
        objective=keras_tuner.Objective("score", "min"), hyperparameters=hps, seed=0)
    return keras_tuner.Tuner(oracle=oracle, hypermodel=lambda hp: None,
                             directory=str(directory), project_name="p")


def _finish(oracle, trial):
    oracle.update_trial(trial.trial_id, {"score": 1.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def _values(trial):
    return trial.hyperparameters.get("generator"), trial.hyperparameters.get("critic_budget")


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
    return _grid_tuner(directory).oracle


GRID = {(g, c) for g in "abc" for c in (1, 2)}


def test_grid_oracle_resumes_after_an_interruption_mid_trial(tmp_path):
    first = _grid_tuner(tmp_path)
    done = _run_trials(first.oracle, 3)
    running = first.oracle.create_trial("tuner0")  # the process dies during this trial
    first.save()

    seen = _run_trials(_reloaded(tmp_path))
    assert seen[0] == _values(running)  # the interrupted trial re-runs
    assert set(done + seen) == GRID
    assert len(done) + len(seen) == 6  # every combination exactly once


def test_grid_oracle_resumes_after_an_interruption_between_trials(tmp_path):
    first = _grid_tuner(tmp_path)
    first.save()  # the tuner's file: a later tuner in this directory reloads
    done = _run_trials(first.oracle, 2)
    # Killed after the trial ended but before the next one was created. KerasTuner saved
    # its state before it marked the last trial ended, so that trial is offered again (the
    # study's run store then returns its recorded runs instead of training them again).
    seen = _run_trials(_reloaded(tmp_path))
    assert set(done + seen) == GRID
    assert seen[0] == done[-1] and len(seen) == 5


def test_only_the_grid_oracle_is_offered(tmp_path):
    # Minimising the score over generators would starve weak generators (each trial is one
    # generator with all its critics); the grid is the only oracle offered, and the only
    # choice of the setting (so of the flag).
    assert capacity.TUNERS == ("grid",)
    with pytest.raises(ValueError, match=r"tuner must be one of \('grid',\)"):
        settings(tuner="bayesian", max_trials=3)
    s = dataclasses.replace(settings(), tuner="bayesian")
    with pytest.raises(ValueError, match="tuner must be one of"):
        capacity.make_tuner(s, directory=tmp_path, verbose=0)


def test_a_trial_is_one_generator_with_all_its_runs(tmp_path):
    s = settings(learning_rates=[1e-3, 2e-3])
    tuner = capacity.make_tuner(s, directory=tmp_path, verbose=0)
    assert set(tuner.oracle.hyperparameters.values) == {"generator"}
    runs = capacity.packs.plan_runs(s, "q2x1")
    assert len(runs) == len(s.critic_budgets) * len(s.seeds) * 2
    assert runs[0].key == "q2x1__c20__s0__lr0.001"


def test_pack_groups_pad_small_critics_together_and_split_wide_ones():
    quick = settings("quick")
    runs = capacity.packs.plan_runs(quick, "q3x2")
    groups = capacity.packs.pack_groups(quick, runs, 3)
    # 10 runs per critic: the three small critics share one padded pack, the widest its own.
    assert [sorted({r.critic_budget for r in g}) for g in groups] == [[30, 200, 1500], [6000]]
    small = settings("quick", seeds=[0, 1], learning_rates=[1e-3],
                     critic_capacities=[30, 150, 800, 4000])
    runs = capacity.packs.plan_runs(small, "q3x2")
    assert [len(g) for g in capacity.packs.pack_groups(small, runs, 3)] == [len(runs)]
    wide = settings("quick", seeds=[0, 1, 2, 3, 4], learning_rates=[5e-4, 1e-3, 2e-3])
    groups = capacity.packs.pack_groups(wide, capacity.packs.plan_runs(wide, "q3x2"), 3)
    assert sorted(r.key for g in groups for r in g) == sorted(
        r.key for r in capacity.packs.plan_runs(wide, "q3x2"))
    assert len(groups) > 1 and all(len(g) <= capacity.packs.MAX_PACK for g in groups)
    assert {r.critic_budget for r in groups[-1]} == {6000}
    paper = settings("paper")
    groups = capacity.packs.pack_groups(paper, capacity.packs.plan_runs(paper, "q3x1"), 3)
    assert {r.critic_budget for r in groups[-1]} == {300000}
    one = settings("quick", pack=1)
    assert all(len(g) == 1 for g in capacity.packs.pack_groups(
        one, capacity.packs.plan_runs(one, "q3x2"), 3))


def test_plan_lanes_deal_each_pack_group_into_packs_of_the_same_make_up():
    quick = settings("quick", lanes=2)
    runs = capacity.packs.plan_runs(quick, "q3x2")
    plan = capacity.packs.plan_lanes(quick, runs, 3)
    assert len(plan) == 2
    for lane in plan:  # 5 runs of each small critic padded together; the widest apart
        assert [sorted(r.critic_budget for r in p) for p in lane] == [
            sorted([30, 200, 1500] * 5), [6000] * 5]
    assert sorted(r.key for lane in plan for p in lane for r in p) == sorted(r.key for r in runs)
    # Another generator of the family gets the same pack shapes in the same lanes.
    other = capacity.packs.plan_lanes(quick, capacity.packs.plan_runs(quick, "q3x8"), 3)
    assert [[[r.critic_budget for r in p] for p in lane] for lane in other] == [
        [[r.critic_budget for r in p] for p in lane] for lane in plan]
    # One lane: the pack groups unchanged.
    assert capacity.packs.plan_lanes(quick, runs, 3, lanes=1) == [
        capacity.packs.pack_groups(quick, runs, 3)]
    # An explicit pack size keeps its packs whole; they go to the least-loaded lane.
    fixed = settings("quick", pack=8, lanes=2)
    plan = capacity.packs.plan_lanes(fixed, capacity.packs.plan_runs(fixed, "q3x2"), 3)
    assert sorted(len(p) for lane in plan for p in lane) == [8] * 5
    assert sorted(len(lane) for lane in plan) == [2, 3]
    # More lanes than runs: no empty lane.
    few = settings("quick", seeds=[0], learning_rates=[1e-3], critic_capacities=[30], lanes=4)
    assert capacity.packs.plan_lanes(few, capacity.packs.plan_runs(few, "q3x2"), 3) == [
        [capacity.packs.plan_runs(few, "q3x2")]]
    with pytest.raises(ValueError, match="lanes"):
        capacity.packs.plan_lanes(quick, runs, 3, lanes=0)
