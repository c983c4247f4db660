"""``qlsgan train-gan`` and ``qlsgan sample`` through the console entry point (subprocesses)."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf import jsoncodec
from qlsgan_tf.layers import StyleQuantumGenerator
from qlsgan_tf.training import LatentStyleGAN

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def qlsgan(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout, check=False)


def _png_size(path):
    """(width, height) read from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def saved_hybrid(tmp_path_factory):
    from qlsgan_tf.models import SatVAE

    tf.keras.utils.set_random_seed(0)
    vae = SatVAE(latent_dim=3, filters=(4, 8), dense_units=16)
    vae.build((None, 28, 28, 4))
    generator = tf.keras.Sequential([tf.keras.Input((3,)), StyleQuantumGenerator(3, 1)])
    hybrid = LatentStyleGAN(generator, vae.decoder, noise_dim=3)
    path = tmp_path_factory.mktemp("hybrid") / "hybrid.keras"
    hybrid.save(path)
    return hybrid, path


@pytest.mark.slow
def test_sample_writes_grid_and_the_models_images(tmp_path, saved_hybrid):
    hybrid, path = saved_hybrid
    out, npy = tmp_path / "grid.png", tmp_path / "images.npy"
    proc = qlsgan("sample", path, "--n", 9, "--out", out, "--seed", 5, "--npy", npy)
    assert proc.returncode == 0, proc.stderr
    width, height = _png_size(out)
    assert width >= 400 and height >= 200
    images = np.load(npy)
    assert images.shape == (9, 28, 28, 4) and images.dtype == np.uint8
    expected = np.clip(np.round(hybrid.sample(9, seed=5) * 127.5 + 127.5), 0, 255)
    np.testing.assert_allclose(images, expected, atol=1)


@pytest.mark.parametrize("args, code, message", [
    (["missing.keras"], 1, "no saved hybrid model"),
    (["{model}", "--out", "grid.jpg"], 2, "--out must name a .png"),
    (["{model}", "--n", "0"], 2, "--n"),
    ([], 2, "expected one MODEL"),
])
def test_sample_bad_input_is_one_clear_line(tmp_path, saved_hybrid, args, code, message):
    args = [a.format(model=saved_hybrid[1]) for a in args]
    proc = qlsgan("sample", *args)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sample_rejects_a_model_that_is_not_a_hybrid(tmp_path):
    path = tmp_path / "plain.keras"
    tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)]).save(path)
    proc = qlsgan("sample", path, "--out", tmp_path / "g.png")
    assert proc.returncode == 1 and "not a LatentStyleGAN" in proc.stderr, proc.stderr


# --------------------------------------------------------------- train_latent_gan (the run)
def _scalars(log_dir):
    """{tag: [(step, value)]} of every TF2 summary scalar under ``log_dir``."""
    out = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    out.setdefault(value.tag, []).append(
                        (event.step, float(tf.make_ndarray(value.tensor))))
    return out


@pytest.fixture(scope="module")
def tiny_vae_and_data(sat4_sample_dir):
    from qlsgan_tf.data import load_sat4
    from qlsgan_tf.models import SatVAE

    tf.keras.utils.set_random_seed(0)
    vae = SatVAE(latent_dim=3, filters=(4, 8), dense_units=16)
    vae.build((None, 28, 28, 4))
    return (vae, load_sat4(sat4_sample_dir, "train").images,
            load_sat4(sat4_sample_dir, "test").images)


def test_train_latent_gan_writes_a_complete_run(tmp_path, tiny_vae_and_data):
    from qlsgan_tf.metrics.distances import fd_sat4
    from qlsgan_tf.models import MLPCritic
    from qlsgan_tf.training.gan_run import train_latent_gan

    vae, train, test = tiny_vae_and_data
    tf.keras.utils.set_random_seed(1)
    generator = tf.keras.Sequential([tf.keras.Input((3,)), StyleQuantumGenerator(3, 1)])
    result = train_latent_gan(generator, MLPCritic((8,), input_dim=3), tmp_path, vae=vae,
                              real_images=train, test_images=test, epochs=3, batch_size=16,
                              n_critic=2, fid_every=2, n_fid_samples=40, seed=3, verbose=0,
                              hparams={"generator": "quantum"})
    assert not result.failed and result.epochs_run == 3
    # FD at epoch index 1 (every 2nd epoch) and after the last epoch (index 2).
    assert [e for e, _, _ in result.fd_history] == [1, 2]
    assert result.generator_capacity == 2 * 3 * 6 and result.critic_params == 41
    assert len(result.c_loss_history) == 3 and result.time_per_epoch_s > 0
    assert result.samples.shape == (16, 28, 28, 4) and result.samples.dtype == np.uint8

    # metrics.json is strict JSON and agrees with the returned dict.
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["final_fd"] == pytest.approx(result.fd_history[-1][1])
    assert metrics["floor_fd"] > 0 and metrics["hparams"]["n_critic"] == 2
    assert _png_size(tmp_path / "samples.png")[0] >= 400
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is not None

    # TensorBoard: losses per epoch, FD-SAT4 at the evaluated epochs, the HParams metrics.
    scalars = _scalars(tmp_path / "logs")
    assert [s for s, _ in scalars["epoch_c_loss"]] == [0, 1, 2]
    fd_logged = dict(scalars["fd_sat4"])
    assert sorted(fd_logged) == [1, 2]
    assert fd_logged[2] == pytest.approx(result.final_fd, rel=1e-5)
    assert scalars["final_fd_sat4"][0][1] == pytest.approx(result.final_fd, rel=1e-5)

    # The saved hybrid reproduces the trained generator + decoder, and its FD-SAT4 is the
    # metric's own value on its samples (independent recomputation).
    from qlsgan_tf.training.run_dir import load_hybrid

    hybrid = load_hybrid(tmp_path)
    noise = hybrid.sample_noise(8, seed=0)
    np.testing.assert_allclose(hybrid(noise).numpy(), vae.decoder(generator(noise)).numpy(),
                               atol=1e-5)
    again = fd_sat4(train.astype(np.float32) / 127.5 - 1, hybrid.sample(40, seed=9))
    assert np.isfinite(again.fd) and again.fd > 0


def test_diverging_run_is_marked_failed_not_crashed(tmp_path, tiny_vae_and_data):
    from qlsgan_tf.training.gan_run import train_latent_gan

    vae, train, _ = tiny_vae_and_data
    generator = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(3)])
    generator.layers[0].set_weights([np.full((3, 3), np.nan, np.float32), np.zeros(3)])
    critic = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    result = train_latent_gan(generator, critic, tmp_path, vae=vae, real_images=train,
                              epochs=3, batch_size=16, n_fid_samples=8, verbose=0)
    assert result.failed and "nan" in result.failure_reason.lower()
    assert result.epochs_run == 1 and result.samples is None
    text = (tmp_path / "metrics.json").read_text()
    assert '"final_fd": "nan"' in text  # strict JSON: non-finite floats as strings
    metrics = jsoncodec.loads(text)
    assert metrics["failed"] is True and math.isnan(metrics["final_fd"])
    assert not (tmp_path / "samples.png").exists()
    # No model is saved with NaN weights; the checkpoints are named as failed.
    assert not (tmp_path / "hybrid.keras").exists() and not (tmp_path / "generator.keras").exists()
    assert (tmp_path / "checkpoints.failed").is_dir() and not (tmp_path / "checkpoints").exists()


def test_latent_width_mismatch_is_named(tmp_path, tiny_vae_and_data):
    from qlsgan_tf.training.gan_run import train_latent_gan

    vae, train, _ = tiny_vae_and_data
    generator = tf.keras.Sequential([tf.keras.Input((2,)), StyleQuantumGenerator(2, 1)])
    critic = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="generator outputs 2 values.*latents have shape"):
        train_latent_gan(generator, critic, tmp_path, vae=vae, real_images=train, epochs=1)


# ------------------------------------------------------------------------- qlsgan train-gan
@pytest.fixture(scope="module")
def trained_vae_dir(tmp_path_factory, sat4_sample_dir):
    """A VAE with a 3-d latent, trained for 2 epochs by `qlsgan train-vae`."""
    out = tmp_path_factory.mktemp("vae")
    proc = qlsgan("train-vae", sat4_sample_dir, "--out", out, "--epochs", 2, "--latent_dim", 3,
                  "--noaugment", "--verbose", 0,
                  "--hyperparameters", '{"base_filters": 16, "dense_units": 64}')
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_train_gan_then_sample_end_to_end(tmp_path, sat4_sample_dir, trained_vae_dir):
    out = tmp_path / "run"
    proc = qlsgan("train-gan", sat4_sample_dir, "--vae", trained_vae_dir, "--out", out,
                  "--generator", "quantum", "--qubits", 3, "--layers", 1, "--epochs", 2,
                  "--batch_size", 16, "--n_critic", 2, "--n_fid_samples", 40, "--verbose", 0)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["failed"] is False and metrics["epochs_run"] == 2
    assert [e for e, _, _ in metrics["fd_history"]] == [0, 1]
    assert metrics["final_fd"] > 0 and metrics["floor_fd"] > 0
    assert metrics["generator_capacity"] == 36 and metrics["time_per_epoch_s"] > 0
    assert metrics["hparams"]["n_qubits"] == 3 and metrics["hparams"]["readout"] == "z"
    assert "fd_sat4" in _scalars(out / "logs")
    for name in ("samples.png", "hybrid.keras", "generator.keras", "history.csv"):
        assert (out / name).exists(), name
    # A second run into the same directory is refused unless --overwrite.
    again = qlsgan("train-gan", sat4_sample_dir, "--vae", trained_vae_dir, "--out", out,
                   "--qubits", 3, "--layers", 1, "--epochs", 1)
    assert again.returncode == 1 and "--overwrite" in again.stderr

    grid = tmp_path / "grid.png"
    proc = qlsgan("sample", out, "--n", 16, "--out", grid, "--seed", 0)
    assert proc.returncode == 0, proc.stderr
    assert _png_size(grid)[0] >= 400


@pytest.mark.slow
def test_train_gan_classical_generator(tmp_path, sat4_sample_dir, trained_vae_dir):
    out = tmp_path / "classical"
    proc = qlsgan("train-gan", sat4_sample_dir, "--vae", trained_vae_dir, "--out", out,
                  "--generator", "classical", "--gen_units", "8", "--critic_units", "8",
                  "--epochs", 1, "--batch_size", 32, "--n_critic", 1, "--loss", "bce",
                  "--n_fid_samples", 20, "--verbose", 0)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    # MLPGenerator 3 -> 8 -> 3 and MLPCritic 3 -> 8 -> 1.
    assert metrics["generator_capacity"] == 3 * 8 + 8 + 8 * 3 + 3
    assert metrics["critic_params"] == 3 * 8 + 8 + 8 + 1
    assert metrics["gp_history"] == [] and metrics["hparams"]["loss"] == "bce"


@pytest.mark.parametrize("args, code, message", [
    (["--qubits", 2], 2, "latent_dim 3, but a 2-qubit generator with --readout z outputs 2"),
    (["--qubits", 3, "--readout", "xz"], 2, "outputs 6 values"),
    (["--generator", "classical", "--qubits", 3], 2, "apply to --generator quantum"),
    (["--gen_units", "8"], 2, "apply to --generator classical"),
    (["--critic_units", "8,x"], 2, "--critic_units must be comma-separated"),
    (["--loss", "hinge"], 2, "--loss"),
    (["--g_lr", "0"], 2, "--g_lr must be a finite number > 0"),
])
def test_train_gan_bad_flags_are_one_clear_line(tmp_path, sat4_sample_dir, trained_vae_dir,
                                                args, code, message):
    proc = qlsgan("train-gan", sat4_sample_dir, "--vae", trained_vae_dir,
                  "--out", tmp_path / "o", "--epochs", 1, *args)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_train_gan_missing_inputs(tmp_path, sat4_sample_dir):
    proc = qlsgan("train-gan", sat4_sample_dir, "--vae", tmp_path / "nope", "--out", tmp_path)
    assert proc.returncode == 1 and "--vae" in proc.stderr and "does not exist" in proc.stderr
    proc = qlsgan("train-gan", sat4_sample_dir, "--out", tmp_path)
    assert proc.returncode == 2 and "--vae DIR is required" in proc.stderr
    proc = qlsgan("train-gan", "--vae", tmp_path, "--out", tmp_path)
    assert proc.returncode == 2 and "expected one DATA path" in proc.stderr


def test_fit_with_fd_as_the_study_calls_it(tmp_path, tiny_vae_and_data):
    """Decoder as a bound method, cached real activations, fixed steps per epoch, a floor."""
    from qlsgan_tf.data import normalize
    from qlsgan_tf.metrics.distances import default_feature_net, real_floor
    from qlsgan_tf.models import MLPCritic, MLPGenerator
    from qlsgan_tf.training import LatentGAN, encode_latents, fit_with_fd

    vae, train, test = tiny_vae_and_data
    reals = normalize(train)
    net = default_feature_net()
    floor = real_floor(reals, normalize(test), feature_net=net)
    gan = LatentGAN(MLPGenerator(3, hidden_units=(8,), noise_dim=3), MLPCritic((8,), input_dim=3),
                    noise_dim=3, n_critic=1)
    gan.compile()
    run = fit_with_fd(gan, encode_latents(vae, reals), decoder=vae.decode, feature_net=net,
                      real_images=reals, real_activations=net.features(reals), floor=floor,
                      epochs=2, batch_size=8, steps_per_epoch=3, fid_every=1, n_fid_samples=30,
                      seed=0, log_dir=tmp_path / "logs", verbose=0,
                      hparams={"generator": "c", "kind": "classical", "seed": 0})
    assert int(gan.g_optimizer.iterations) == 6  # 2 epochs x 3 steps
    assert [e for e, _, _ in run.fd_history] == [0, 1] and not run.failed
    scalars = _scalars(tmp_path / "logs")
    assert scalars["fd_sat4_floor"][0][1] == pytest.approx(floor.fd, rel=1e-6)
    with pytest.raises(ValueError, match="real_activations were given without real_images"):
        fit_with_fd(gan, encode_latents(vae, reals), decoder=vae.decode,
                    real_activations=net.features(reals), epochs=1)


@pytest.mark.slow
def test_failed_train_gan_prints_valid_json_and_saves_no_model(tmp_path, sat4_sample_dir,
                                                                trained_vae_dir):
    out = tmp_path / "run"
    proc = qlsgan("train-gan", sat4_sample_dir, "--vae", trained_vae_dir, "--out", out,
                  "--generator", "classical", "--gen_units", 8, "--critic_units", 8,
                  "--g_lr", 1e30, "--c_lr", 1e30, "--epochs", 2, "--batch_size", 16,
                  "--n_critic", 1, "--n_fid_samples", 20, "--verbose", 0)
    assert proc.returncode == 1 and "training failed" in proc.stderr.splitlines()[-1]
    summary, _, wrote = proc.stdout.partition("\nwrote ")
    summary = json.loads(summary[summary.index("{"):], parse_constant=pytest.fail)  # strict
    assert summary["failed"] is True
    assert "samples.png" not in wrote and "hybrid.keras" not in wrote
    assert "checkpoints.failed/" in wrote and not (out / "hybrid.keras").exists()
    json.loads((out / "metrics.json").read_text(), parse_constant=pytest.fail)
