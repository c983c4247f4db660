"""Study presets, config validation and the atomic, resumable result store."""
import json
import math
import os

import pytest

from qlsgan_tf import constants
from qlsgan_tf.study import presets, store
from qlsgan_tf.tuning.results import RunResult


def test_presets_validate_and_roundtrip():
    for name in presets.PRESETS:
        config = presets.make_config(name)
        again = presets.StudyConfig.from_dict(json.loads(json.dumps(config.to_dict())))
        assert again == config
        assert again.fingerprint() == config.fingerprint()


def test_quick_preset_meets_the_demo_brief():
    config = presets.make_config("quick")
    assert len(config.quantum_grid) >= 3
    assert len(config.critic_capacities) >= 4
    assert len(config.seeds) >= 2
    assert len(config.classical_capacities) >= 2


def test_paper_preset_has_five_seeds_and_a_wide_critic_range():
    config = presets.make_config("paper")
    assert len(config.seeds) >= 5
    assert min(config.critic_capacities) <= 50
    # D -> 512 -> 256 -> 1 for D = 6 has 135,681 parameters: the grid goes beyond it.
    assert max(config.critic_capacities) > 6 * 512 + 512 + 512 * 256 + 256 + 257


def test_quantum_capacity_matches_the_ansatz_angle_count():
    assert constants.quantum_capacity(5, 2, "bel") == 2 * 5 * 11
    assert constants.quantum_capacity(4, 3, "simple") == 2 * 12


def test_generator_specs_follow_the_settings():
    config = presets.make_config("smoke", quantum_grid=[(3, 2)], readout="xz",
                                 ansatz="simple", generator_depth=2,
                                 classical_capacities=[30, 60])
    quantum, *classical = config.generator_specs()
    assert (quantum.label, quantum.capacity, quantum.output_dim) == ("q3x2", 2 * 3 * 2, 6)
    assert [s.label for s in classical] == ["c30@6", "c60@6"] == config.generator_labels()[1:]
    assert all(len(s.hidden_units) == 2 and s.noise_dim == 3 for s in classical)
    assert config.latent_dims == [6]


def test_training_settings_carry_what_the_search_reads():
    config = presets.make_config("quick", learning_rates=[1e-3, 2e-3])
    settings = config.training_settings()
    assert settings.generators == tuple(config.generator_labels())
    assert settings.critic_budgets == tuple(config.critic_capacities)
    assert settings.learning_rates == (1e-3, 2e-3) and settings.seeds == tuple(config.seeds)
    for name in ("epochs", "max_epochs", "steps_per_epoch", "batch_size", "n_critic", "loss",
                 "gp_weight", "noise", "pack", "fid_every", "k_last", "n_fid_samples",
                 "n_latent_samples", "critic_depth", "generator_depth", "readout", "ansatz"):
        assert getattr(settings, name) == getattr(config, name), name
    assert settings.generator_spec("q3x2") == config.generator_specs()[1]


def test_generator_labels_and_run_count():
    config = presets.make_config("smoke")
    labels = config.generator_labels()
    assert labels[:3] == ["q2x1", "q2x2", "q2x3"]
    assert [lbl for lbl in labels if lbl.startswith("c")] == ["c15@2", "c60@2"]
    assert config.n_runs() == len(labels) * 2 * 1
    assert presets.make_config("smoke", learning_rates=[1e-3, 2e-3]).n_runs() == \
        len(labels) * 2 * 2


def test_configs_written_with_one_learning_rate_still_load():
    data = presets.make_config("smoke").to_dict()
    data.pop("learning_rates")
    data["learning_rate"] = 1e-3
    config = presets.StudyConfig.from_dict(data)
    assert config.learning_rates == [1e-3] and config.learning_rate == 1e-3
    # pack only decides how runs are batched, not their results: a study resumes with another
    assert presets.make_config("smoke", pack=1).fingerprint() == \
        presets.make_config("smoke").fingerprint()


@pytest.mark.parametrize("override, message", [
    (dict(quantum_grid=[]), "quantum_grid is empty"),
    (dict(quantum_grid=[(1, 2)]), "n_qubits >= 2"),
    (dict(ansatz="nope"), "ansatz must be one of"),
    (dict(readout="y"), "readout must be one of"),
    (dict(critic_capacities=[10, 10]), "repeated"),
    (dict(seeds=[]), "seeds is empty"),
    (dict(epochs=2, fid_every=1, k_last=3), "k_last=3"),
    (dict(learning_rates=[float("nan")]), "learning_rates"),
    (dict(learning_rates=[1e-3, 1e-3]), "repeated"),
    (dict(tuner="bayesian"), "tuner must be one of"),
    (dict(pack=-1), "pack must be a non-negative int"),
    (dict(max_epochs=2), "max_epochs=2"),
])
def test_bad_settings_are_rejected_with_a_clear_message(override, message):
    with pytest.raises(ValueError, match=message):
        presets.make_config("smoke", **override)


def test_unknown_preset_and_setting():
    with pytest.raises(ValueError, match="unknown preset"):
        presets.make_config("huge")
    with pytest.raises(ValueError, match="unknown study settings: colour"):
        presets.StudyConfig.from_dict({"colour": 1})


def test_atomic_json_roundtrip_keeps_non_finite_floats(tmp_path):
    data = {"score": math.inf, "fd": [1.0, math.nan], "neg": -math.inf, "k": "x"}
    path = store.atomic_write_json(tmp_path / "a" / "r.json", data)
    back = store.read_json(path)
    assert back["score"] == math.inf and back["neg"] == -math.inf
    assert math.isnan(back["fd"][1]) and back["k"] == "x"
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]


def test_corrupt_and_missing_json_have_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: corrupt JSON"):
        store.read_json(bad)
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        store.read_json(tmp_path / "nothing.json")


def test_store_records_runs_and_pins_the_config(tmp_path):
    config = presets.make_config("smoke")
    results = store.ResultStore(tmp_path)
    assert results.pin_config(config) is True
    assert results.pin_config(config) is False  # same settings: resume
    assert results.load_config() == config
    other = presets.make_config("smoke", epochs=5)
    with pytest.raises(ValueError, match="other settings"):
        results.pin_config(other)
    # A budget-only change (the tuner's trial budget) is the same study.
    assert results.pin_config(presets.make_config("smoke", max_trials=3)) is False

    assert results.get("q2x1", 20, 0) is None
    assert results.keys() == set()
    run = RunResult(generator="q2x1", kind="quantum", latent_dim=2, generator_capacity=24,
                    critic_budget=20, critic_params=23, seed=0, status="converged", score=0.5)
    results.put(run)
    assert results.get("q2x1", 20, 0) == run
    assert results.all_runs() == [run]
    assert results.keys() == {store.run_key("q2x1", 20, 0)} == {run.key}
    with pytest.raises(TypeError, match="RunResult"):
        results.put(run.to_dict())


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    class Boom:  # json.dumps fails half-way through the object
        def __repr__(self):
            return "Boom"

    with pytest.raises(TypeError):
        store.atomic_write_json(tmp_path / "r.json", {"a": Boom()})
    assert list(tmp_path.iterdir()) == []
