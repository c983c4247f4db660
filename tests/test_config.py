"""The configuration tree (qlsgan_tf.config): declarations, validation, generated flags, the
JSON form, the fingerprint and old study.json files."""
import dataclasses
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from qlsgan_tf import config as config_lib
from qlsgan_tf import data as data_lib
from qlsgan_tf.study import identity, presets, store
from qlsgan_tf.tuning.settings import TrainingSettings

REPO = pathlib.Path(__file__).resolve().parents[1]
OLD_STUDY = pathlib.Path(__file__).parent / "data" / "study-v1" / "study.json"

# What `qlsgan study` defines: every flag's name, default, help and choices (absl's flags are
# process-global, so they are read in a fresh process).
_DUMP = """
import json, sys
from absl import flags
from qlsgan_tf.cli.commands import {module} as command
out = {{}}
for flag in flags.FLAGS.get_flags_for_module(command.__name__):
    out[flag.name] = {{"default": flag.default, "help": flag.help,
                      "choices": list(getattr(flag.parser, "enum_values", None) or []) or None}}
json.dump({{"flags": out, "command": list(getattr(command, "COMMAND_FLAGS", ()))}}, sys.stdout)
"""


def _flags_of(module):
    proc = subprocess.run([sys.executable, "-c", _DUMP.format(module=module)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def study_flags():
    return _flags_of("study")


def _settable():
    return {e.flag: e for e in config_lib.settings_of(presets.StudyConfig) if e.spec.cli}


def test_every_setting_has_one_flag_and_every_flag_one_setting(study_flags):
    settable = _settable()
    defined = set(study_flags["flags"]) - set(study_flags["command"])
    assert defined == set(settable)
    # The embedded training settings are in the tree, not copied: all of them have flags
    # but the generators (derived from the grid).
    training = {e.name for e in config_lib.settings_of(TrainingSettings)}
    assert training <= {e.name for e in settable.values()}
    assert {f.name for f in dataclasses.fields(TrainingSettings)} - {
        e.path[-1] for e in config_lib.settings_of(TrainingSettings)} == {"generators"}
    # Every field of the study's own section is a setting or the training section.
    own = {f.name for f in dataclasses.fields(presets.StudyConfig)} - {"training"}
    assert own == {e.path[0] for e in config_lib.settings_of(presets.StudyConfig)
                   if len(e.path) == 1}


def test_help_shows_each_flags_default_as_each_preset_has_it(study_flags):
    values = {name: presets.make_config(name).to_dict() for name in presets.PRESETS}
    for flag, entry in _settable().items():
        shown = study_flags["flags"][flag]
        assert shown["default"] is None, flag  # not given: the preset's value
        help_text = " ".join(shown["help"].split())
        assert "(default: " in help_text, flag
        for name in presets.PRESETS:
            described = _describe(values[name][entry.name])
            assert described in help_text, (flag, name, described, help_text)


def _describe(value):
    from qlsgan_tf.cli.settings_flags import describe

    return describe(value)


def test_defaults_agree_between_the_tree_and_its_sections():
    # The study's defaults are the training section's: one declaration each.
    study = config_lib.defaults(presets.StudyConfig)
    for entry in config_lib.settings_of(TrainingSettings):
        assert study[entry.name] == config_lib.jsonable(
            getattr(TrainingSettings(), entry.path[-1])), entry.name
    assert presets.StudyConfig().validate().to_dict() == dict(study, preset="custom")


def test_no_offered_choice_is_refused(study_flags):
    settable = _settable()
    for flag, shown in study_flags["flags"].items():
        if flag in study_flags["command"] or not shown["choices"]:
            continue
        for choice in shown["choices"]:
            config = presets.make_config("smoke", **{settable[flag].name: choice})
            assert config.to_dict()[settable[flag].name] == choice


def test_train_gan_shares_the_declarations_of_its_training_settings():
    shown = _flags_of("train_gan")["flags"]
    entries = config_lib.entries_by_name(TrainingSettings)
    own_defaults = {"epochs": 10}  # the command's, where they differ
    for name in ("ansatz", "readout", "epochs", "batch_size", "n_critic", "loss",
                 "gp_weight", "noise", "fid_every", "n_fid_samples"):
        entry = entries[name]
        assert shown[name]["help"].endswith(entry.spec.help), name
        assert shown[name]["default"] == own_defaults.get(name, entry.default), name
        assert shown[name]["choices"] == (list(entry.spec.choices) if entry.spec.choices
                                          else None), name


def test_report_shares_the_declarations_of_its_settings():
    shown = _flags_of("report")["flags"]
    entries = config_lib.entries_by_name(presets.StudyConfig)
    for name in ("n_boot", "score_metric"):
        entry = entries[name]
        assert entry.spec.fingerprint == config_lib.NEVER  # a report may change it
        flag = shown[entry.flag]
        assert flag["default"] is None  # the study's own
        assert flag["help"].endswith(f"{entry.spec.help} (default: the study's)")
        assert flag["choices"] == (list(entry.spec.choices) if entry.spec.choices else None)


def test_presets_are_expressed_on_the_tree():
    names = set(config_lib.entries_by_name(presets.StudyConfig))
    for preset, values in presets.PRESETS.items():
        assert set(values) <= names, preset


def test_validation_follows_the_declarations():
    for entry in config_lib.settings_of(presets.StudyConfig):
        spec = entry.spec
        if spec.kind is int and not spec.many and spec.maximum is not None:
            with pytest.raises(ValueError, match=f"^{entry.name} must be an int <= "):
                presets.make_config("smoke", **{entry.name: int(spec.maximum) + 1})
        if spec.kind is int and not spec.many and spec.minimum is not None:
            with pytest.raises(ValueError, match=f"^{entry.name} must be "):
                presets.make_config("smoke", **{entry.name: int(spec.minimum) - 1})
        if spec.choices:
            with pytest.raises(ValueError, match=f"^{entry.name} must be one of"):
                presets.make_config("smoke", **{entry.name: "no-such-choice"})
        if spec.kind is int and spec.many:
            with pytest.raises(ValueError, match=f"^{entry.name} entry must be an int in"):
                presets.make_config("smoke", **{entry.name: [int(spec.maximum) + 1]})


def test_the_json_form_is_flat_and_round_trips():
    config = presets.make_config("quick", learning_rates=[1e-3, 2e-3], latent_method="mmd")
    data = json.loads(json.dumps(config.to_dict()))
    assert set(data) == set(config_lib.entries_by_name(presets.StudyConfig))
    assert data["critic_capacities"] == config.critic_capacities
    again = presets.StudyConfig.from_dict(data)
    assert again == config and again.training is not config.training
    assert again.training == config.training_settings()


def test_training_settings_are_embedded_and_read_through():
    config = presets.make_config("smoke", epochs=5, seeds=[2, 1])
    assert config.training.epochs == config.epochs == 5
    assert config.seeds == [2, 1] and config.training.seeds == (2, 1)
    assert config.training_settings() == config.training
    with pytest.raises(AttributeError, match="replace"):
        config.epochs = 6
    assert config.replace(epochs=6).training.epochs == 6
    with pytest.raises(AttributeError):
        config.no_such_setting  # noqa: B018


def test_fingerprint_follows_the_declarations():
    base = presets.make_config("smoke")
    for name, value in (("pack", 1), ("lanes", 2), ("max_trials", 3), ("n_boot", 10),
                        ("score_metric", "fd")):  # budgets and presentation
        assert presets.make_config("smoke", **{name: value}).fingerprint() == \
            base.fingerprint(), name
    for name, value in (("epochs", 5), ("vae_epochs", 4), ("latent_method", "mmd"),
                        ("status_k", 4)):
        assert presets.make_config("smoke", **{name: value}).fingerprint() != \
            base.fingerprint(), name
    # A setting added later enters only when changed: recorded studies keep theirs.
    assert presets.make_config("smoke", status_k=0).fingerprint() == base.fingerprint()


def test_an_old_study_json_still_loads_and_resumes(tmp_path):
    # tests/data/study-v1/study.json: written by the release before the configuration
    # tree (a flat config with the retired std_penalty, max_fid_rel_std and
    # max_loss_oscillation), for make_config("smoke", epochs=4, seeds=[0, 1],
    # learning_rates=[1e-3, 2e-3]) on the bundled sample.
    recorded = json.loads(OLD_STUDY.read_text())
    assert set(presets.RETIRED) <= set(recorded["config"])
    shutil.copy(OLD_STUDY, tmp_path / "study.json")
    results = store.ResultStore(tmp_path)
    config = presets.make_config("smoke", epochs=4, seeds=[0, 1], learning_rates=[1e-3, 2e-3])
    assert results.load_config() == config
    assert config.fingerprint() == recorded["fingerprint"]
    current = identity.study_identity(config, str(data_lib.sample_path()))
    assert results.pin_config(config, current) is False  # the same study: resumed
    with pytest.raises(ValueError, match="other settings"):
        results.pin_config(config.replace(epochs=5), current)


def test_retired_settings_are_read_and_dropped():
    data = dict(presets.make_config("smoke").to_dict(), std_penalty=1.0)
    assert presets.StudyConfig.from_dict(data) == presets.make_config("smoke")
    assert "std_penalty" not in config_lib.entries_by_name(presets.StudyConfig)


@pytest.mark.parametrize("flag, value, expected", [
    ("--quantum_grid", "3y2", "--quantum_grid: quantum_grid takes NxL pairs such as 3x2; "
                              "got '3y2'"),
    ("--seeds", "0,a", "--seeds takes integers separated by commas; got 0,a"),
    ("--learning_rates", "fast", "--learning_rates takes numbers separated by commas"),
    ("--gp_weight", "-1", "--gp_weight: gp_weight must be a finite number >= 0.0, got -1.0"),
])
def test_a_bad_flag_is_one_line_naming_it(tmp_path, flag, value, expected):
    proc = subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", "study", "--preset",
                           "smoke", "--out", str(tmp_path / "x"), "--dry_run", flag, value],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert expected in lines[0]
    assert not (tmp_path / "x").exists()
