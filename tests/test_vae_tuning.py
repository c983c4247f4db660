"""The VAE: its hypermodel (tuning.vae), train_vae outputs, tuning, load_vae (training.vae_fit)."""
import json
import pathlib

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.data import load_sat4, normalize
from qlsgan_tf.models import SatVAE
from qlsgan_tf.training.vae_fit import NOMINAL_HYPERPARAMETERS, build_vae, load_vae, train_vae
from qlsgan_tf.tuning.vae import SatVAEHyperModel, tune_vae

# Small networks so that each training takes seconds on a shared CPU.
SMALL = {"base_filters": 16, "dense_units": 64}


@pytest.fixture(scope="module")
def sample(sat4_sample_dir):
    return (load_sat4(sat4_sample_dir, split="train"),
            load_sat4(sat4_sample_dir, split="test"))


def test_hypermodel_defaults_are_the_nominal_vae():
    vae = SatVAEHyperModel(latent_dim=6).build(kt.HyperParameters())
    assert isinstance(vae, SatVAE) and vae.optimizer is not None
    assert vae.get_config() == SatVAE(
        latent_dim=6, beta=NOMINAL_HYPERPARAMETERS["beta"],
        filters=(NOMINAL_HYPERPARAMETERS["base_filters"],
                 2 * NOMINAL_HYPERPARAMETERS["base_filters"]),
        dense_units=NOMINAL_HYPERPARAMETERS["dense_units"], name=vae.name).get_config()
    assert float(vae.optimizer.learning_rate) == pytest.approx(
        NOMINAL_HYPERPARAMETERS["learning_rate"])


def test_hypermodel_search_space_and_conditional_scale():
    hp = kt.HyperParameters()
    SatVAEHyperModel().build(hp)
    names = {p.name for p in hp.space}
    assert names >= {"latent_activation", "tanh_scale", "linear_scale", "beta", "base_filters",
                     "dense_units", "learning_rate"}
    vae, values = build_vae(4, {"latent_activation": "linear", "linear_scale": 0.25,
                                "beta": 0.3, **SMALL})
    assert (vae.latent_activation, vae.latent_scale, vae.beta) == ("linear", 0.25, 0.3)
    assert vae.filters == (16, 32) and vae.dense_units == 64
    assert "tanh_scale" not in values  # inactive under the linear branch
    with pytest.raises(ValueError, match="unknown VAE hyperparameter"):
        build_vae(4, {"dropout": 0.1})
    with pytest.raises(ValueError, match="latent_dim"):
        SatVAEHyperModel(latent_dim=0)


def _read_scalars(log_dir):
    tags = set()
    for path in pathlib.Path(log_dir).rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.add(value.tag)
    return tags


@pytest.mark.slow
def test_train_vae_writes_model_metrics_png_and_logs(sample, tmp_path):
    train, test = sample
    out = tmp_path / "vae"
    vae, metrics = train_vae(train, out, test_data=test, latent_dim=4, epochs=3, seed=1,
                             hyperparameters=SMALL, verbose=0)
    assert sorted(p.name for p in out.iterdir()) == [
        "logs", "metrics.json", "reconstructions.png", "vae.keras"]
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["kind"] == "nominal" and metrics["tuning"] is None
    assert metrics["hyperparameters"]["base_filters"] == 16
    data = metrics["data"]
    assert (data["n_train"], data["n_val"], data["n_test"]) == (40, 10, 20)
    assert data["n_train_augmented"] == 8 * 40

    # Metrics agree with an independent evaluation of the reloaded model.
    again = load_vae(out)
    x_test = normalize(test.images)
    np.testing.assert_array_equal(again.encode(x_test), vae.encode(x_test))
    err = (again.reconstruct(x_test) - x_test) ** 2
    assert metrics["test_mse"] == pytest.approx(float(err.mean()), rel=1e-5)
    per_band = err.mean(axis=(0, 1, 2))
    assert [metrics["test_per_band_mse"][b] for b in ("R", "G", "B", "NIR")] == \
        pytest.approx(per_band.tolist(), rel=1e-5)
    mean, log_var = (t.numpy().astype(np.float64) for t in again.encoder(x_test))
    kl = np.mean(0.5 * np.sum(mean**2 + np.exp(log_var) - 1 - log_var, axis=1))
    assert metrics["test_kl"] == pytest.approx(kl, rel=1e-4) and kl > 0

    png = (out / "reconstructions.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"epoch_reconstruction_loss", "epoch_kl_loss", "epoch_loss"} <= _read_scalars(
        out / "logs" / "train")

    # Refuses to overwrite (before any training), replaces when asked.
    with pytest.raises(FileExistsError, match="overwrite"):
        train_vae(train, out, test_data=test, latent_dim=4, epochs=1, verbose=0)
    train_vae(train, out, test_data=test, latent_dim=4, epochs=1, hyperparameters=SMALL,
              augment=False, overwrite=True, verbose=0)
    assert json.loads((out / "metrics.json").read_text())["data"]["augment"] is None
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.slow
def test_train_vae_from_path_is_deterministic(sat4_sample_dir, tmp_path):
    kwargs = dict(latent_dim=3, epochs=2, seed=7, hyperparameters=SMALL, augment=False,
                  verbose=0)
    _, first = train_vae(sat4_sample_dir, tmp_path / "a", **kwargs)
    _, second = train_vae(sat4_sample_dir, tmp_path / "b", **kwargs)
    assert "train split" in first["data"]["train"]
    assert first["test_mse"] == pytest.approx(second["test_mse"], rel=1e-6)


@pytest.mark.slow
def test_train_vae_tunes_then_trains_the_best(sample, tmp_path):
    train, test = sample
    out = tmp_path / "tuned"
    vae, metrics = tune_vae(train, out, test_data=test, latent_dim=4, max_trials=2,
                            tuning_epochs=1, epochs=2, seed=3, hyperparameters=SMALL,
                            augment=False, verbose=0)
    assert metrics["kind"] == "tuned"
    tuning = metrics["tuning"]
    assert tuning["trials_completed"] == 2
    scores = [t["val_reconstruction_loss"] for t in tuning["trials"]]
    assert scores == sorted(scores)
    best = tuning["trials"][0]["hyperparameters"]
    assert metrics["hyperparameters"] == best
    assert best["base_filters"] == 16 and best["dense_units"] == 64  # held fixed
    assert vae.beta == best["beta"]
    assert (out / "tuning").is_dir() and (out / "vae.keras").exists()
    assert _read_scalars(out / "logs" / "tuning")


def test_bad_inputs(sample, tmp_path):
    train, test = sample
    with pytest.raises(ValueError, match="test_data is required"):
        train_vae(train, tmp_path / "x", epochs=1, verbose=0)
    with pytest.raises(TypeError, match="uint8"):
        train_vae(normalize(train.images), tmp_path / "x", test_data=test, verbose=0)
    with pytest.raises(ValueError, match=r"\[N, 28, 28, 4\]"):
        train_vae(train.images[..., :3], tmp_path / "x", test_data=test, verbose=0)
    with pytest.raises(ValueError, match="unknown VAE hyperparameter"):
        train_vae(train, tmp_path / "x", test_data=test, hyperparameters={"lr": 1}, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        train_vae(train, tmp_path / "x", test_data=test, epochs=0, verbose=0)
    with pytest.raises(ValueError, match="validation"):
        train_vae(train.images[:1], tmp_path / "x", test_data=test, verbose=0)
    with pytest.raises(FileNotFoundError):
        train_vae(tmp_path / "missing.mat", tmp_path / "x", verbose=0)
    assert not (tmp_path / "x").exists()


def test_load_vae_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained VAE"):
        load_vae(tmp_path)
    (tmp_path / "vae.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="vae.keras: not a Keras .keras zip archive"):
        load_vae(tmp_path)
