"""``qlsgan train-feature-net`` end to end on the real sample, and its usage errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from qlsgan_tf.data import load_sat4, normalize


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", "train-feature-net",
                           *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.slow
def test_trains_and_writes_loadable_net(sat4_sample_dir, tmp_path):
    out = tmp_path / "fn"
    res = _run(sat4_sample_dir, "--out", out, "--epochs", 2, "--seed", 1, "--feature_dim", 6,
               "--verbose", 0)
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["feature_dim"] == 6 and manifest["seed"] == 1 and manifest["epochs"] == 2
    assert manifest["n_train"] == 50 and manifest["n_test"] == 20
    assert str(sat4_sample_dir) in manifest["data"]

    from qlsgan_tf.metrics import load_feature_net

    net = load_feature_net(out)
    test = load_sat4(sat4_sample_dir, "test")
    assert net.accuracy(normalize(test.images), test.labels) == pytest.approx(
        manifest["test_accuracy"])
    assert np.isfinite(net.features(normalize(test.images))).all()

    # A second run into the same directory needs --overwrite.
    again = _run(sat4_sample_dir, "--out", out, "--epochs", 1)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize("args,code,match", [
    (["--epochs", 1], 2, "expected one DATA path"),
    (["DATA", "--epochs", 1], 2, "--out DIR is required"),
    (["DATA", "--out", "x", "--epochs", 0], 2, "epochs"),
    (["DATA", "--out", "x", "--learning_rate", 0], 2, "learning_rate"),
])
def test_usage_errors(args, code, match):
    res = _run(*args)
    assert res.returncode == code and match in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_missing_data_is_one_line(tmp_path):
    res = _run(tmp_path / "nope.mat", "--out", tmp_path / "o")
    assert res.returncode == 1 and "nope.mat" in res.stderr and "Traceback" not in res.stderr
