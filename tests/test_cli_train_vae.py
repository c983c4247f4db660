"""Tests for ``qlsgan train-vae`` run as a user would (subprocess)."""
import json
import os
import subprocess
import sys

import pytest

SMALL = json.dumps({"base_filters": 8, "dense_units": 32})


def _qlsgan(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "qlsgan_tf.cli.main", "train-vae", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


@pytest.mark.slow
def test_train_vae_command_writes_outputs_and_refuses_overwrite(sat4_sample_dir, tmp_path):
    out = tmp_path / "vae"
    args = (sat4_sample_dir, "--out", out, "--epochs", 2, "--latent_dim", 3, "--seed", 2,
            "--noaugment", "--hyperparameters", SMALL, "--verbose", 0)
    result = _qlsgan(*args)
    assert result.returncode == 0, result.stderr
    assert "nominal VAE (latent 3" in result.stdout and "test" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["latent_dim"] == 3 and metrics["seed"] == 2
    assert metrics["hyperparameters"]["base_filters"] == 8
    assert metrics["epochs_run"] <= 2
    assert (out / "vae.keras").is_file() and (out / "reconstructions.png").is_file()
    assert (out / "logs" / "train").is_dir()

    again = _qlsgan(*args)
    assert again.returncode == 1
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("args,code,message", [
    (["--epochs", "0"], 2, "epochs"),
    (["--latent_dim", "-1"], 2, "latent_dim"),
    (["--max_trials", "3"], 2, "--max_trials only applies with --tune"),
    (["--hyperparameters", "{beta: 1"], 2, "not valid JSON"),
    (["--val_fraction", "1.0"], 2, "val_fraction"),
])
def test_bad_flags_are_usage_errors(sat4_sample_dir, tmp_path, args, code, message):
    result = _qlsgan(sat4_sample_dir, "--out", tmp_path / "o", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_out_and_data(tmp_path):
    result = _qlsgan(tmp_path)
    assert result.returncode == 2 and "--out DIR is required" in result.stderr
    result = _qlsgan("--out", tmp_path / "o")
    assert result.returncode == 2 and "expected one DATA path" in result.stderr
    result = _qlsgan(tmp_path / "nowhere.mat", "--out", tmp_path / "o", "--epochs", 1)
    assert result.returncode == 1, result.stderr
    assert "train-vae: error:" in result.stderr and "Traceback" not in result.stderr
    assert "nowhere.mat" in result.stderr


@pytest.mark.slow
def test_unknown_hyperparameter_is_one_line_error(sat4_sample_dir, tmp_path):
    result = _qlsgan(sat4_sample_dir, "--out", tmp_path / "o", "--hyperparameters",
                     '{"dropout": 0.5}')
    assert result.returncode == 1
    assert "unknown VAE hyperparameter" in result.stderr and "Traceback" not in result.stderr
