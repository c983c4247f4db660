"""The study's FD-SAT4 feature network: bundled, learnt from the study's own data, or given."""
import numpy as np
import pytest

from qlsgan_tf.data import load_sat4, normalize
from qlsgan_tf.study import prepare, presets


@pytest.fixture(name="splits", scope="module")
def fixture_splits(sat4_sample_dir):
    return load_sat4(sat4_sample_dir, "train"), load_sat4(sat4_sample_dir, "test")


def test_feature_net_is_trained_on_the_study_data_once_then_reused(tmp_path, splits,
                                                                  sat4_sample_dir):
    train, test = splits
    config = presets.make_config("smoke", feature_net="train", feature_net_epochs=1)
    logs = []
    net, source = prepare._feature_net_for(config, sat4_sample_dir, train, test, tmp_path,
                                           logs.append)
    manifest = tmp_path / "feature_net" / "manifest.json"
    assert manifest.exists() and source.startswith("trained on the study's data")
    assert str(sat4_sample_dir) in net.manifest["data"]
    assert net.manifest["n_train"] == len(train.images)
    assert net.manifest["n_test"] == len(test.images)
    stamp = manifest.stat().st_mtime_ns
    again, _ = prepare._feature_net_for(config, sat4_sample_dir, train, test, tmp_path,
                                        logs.append)
    assert manifest.stat().st_mtime_ns == stamp and len(logs) == 1  # reused, not retrained
    images = normalize(train.images[:4])
    np.testing.assert_allclose(again.features(images), net.features(images), rtol=1e-5)

    given = presets.make_config("smoke", feature_net=str(tmp_path / "feature_net"))
    loaded, where = prepare._feature_net_for(given, sat4_sample_dir, train, test,
                                             tmp_path / "other", logs.append)
    assert where == str(tmp_path / "feature_net")
    np.testing.assert_allclose(loaded.features(images), net.features(images), rtol=1e-5)


def test_bundled_feature_net_is_the_default_of_the_demo(tmp_path, splits, sat4_sample_dir):
    config = presets.make_config("quick")
    assert config.feature_net == "bundled"
    net, source = prepare._feature_net_for(config, sat4_sample_dir, *splits, tmp_path, print)
    assert source.startswith("bundled") and net.manifest["n_train"] == 50
    assert not (tmp_path / "feature_net").exists()


def test_paper_preset_tunes_the_vae_and_learns_its_feature_net():
    paper = presets.make_config("paper")
    assert paper.vae == "tuned" and paper.feature_net == "train"


@pytest.mark.parametrize("value", ["", None, 3])
def test_a_bad_feature_net_setting_is_one_clear_error(value):
    with pytest.raises(ValueError, match="feature_net must be"):
        presets.make_config("smoke", feature_net=value if value is not None else "")
