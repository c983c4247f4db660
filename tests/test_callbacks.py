"""TensorBoard callbacks: event files read back and checked against independent computations."""
import glob
import json
import math
import os

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from qlsgan_tf.data import load_sat4, normalize
from qlsgan_tf.metrics import load_feature_net
from qlsgan_tf.training.callbacks import (
    FIDCallback,
    ImageGridCallback,
    NaNGuard,
    image_grid,
    log_hparams,
    write_hparams_config,
)

LATENT_DIM = 4


class TinyLatentModel(tf.keras.Model):
    """A small trainable Keras model with the LatentGAN sampling interface (not a mock:
    it really trains its generator, by regression of noise onto real latents)."""

    def __init__(self):
        super().__init__()
        self.generator = tf.keras.Sequential(
            [tf.keras.Input((LATENT_DIM,)), tf.keras.layers.Dense(LATENT_DIM, activation="tanh")])

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def sample_noise(self, n, seed=None):
        if seed is None:
            return tf.random.uniform([n, LATENT_DIM], -1.0, 1.0)
        return tf.random.stateless_uniform([n, LATENT_DIM], [seed, 0], -1.0, 1.0)

    def generate(self, n):
        return self.generator(self.sample_noise(n), training=False).numpy()


def _decoder():
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([
        tf.keras.Input((LATENT_DIM,)),
        tf.keras.layers.Dense(28 * 28 * 4, activation="tanh"),
        tf.keras.layers.Reshape((28, 28, 4))])


def _model():
    model = TinyLatentModel()
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), loss="mse")
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    return (rng.uniform(-1, 1, (n, LATENT_DIM)).astype(np.float32),
            rng.uniform(-0.5, 0.5, (n, LATENT_DIM)).astype(np.float32))


def _events(log_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(str(log_dir), "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.append((event.step, value.tag, value))
    return out


def _scalars(log_dir):
    res = {}
    for step, tag, value in _events(log_dir):
        if value.metadata.plugin_data.plugin_name == "scalars":
            res.setdefault(tag, []).append((step, float(tf.make_ndarray(value.tensor))))
    return res


def _gaussian_fd(a, b):
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2)
                 + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real))


@pytest.fixture(name="real", scope="module")
def fixture_real(sat4_sample_dir):
    return normalize(load_sat4(sat4_sample_dir, "train").images)


@pytest.fixture(name="net", scope="module")
def fixture_net():
    return load_feature_net()


def test_fid_callback_logs_values_equal_to_closed_form(real, net, tmp_path):
    decoder = _decoder()
    fixed = np.random.default_rng(1).uniform(-1, 1, (64, LATENT_DIM)).astype(np.float32)
    cb = FIDCallback(decoder, net, real, every_n_epochs=2, n_samples=64, log_dir=tmp_path,
                     sample_fn=lambda n: fixed[:n], floor=12.5)
    hist = _model().fit(*_data(), epochs=4, batch_size=16, verbose=0, callbacks=[cb])
    expected = _gaussian_fd(net.features(real), net.features(decoder(fixed).numpy()))
    assert [e for e, _, _ in cb.history] == [1, 3]
    for _, fd, kid in cb.history:
        assert fd == pytest.approx(expected, rel=1e-4) and np.isfinite(kid)
    scalars = _scalars(tmp_path / "eval")
    assert set(scalars) == {"fd_sat4", "kid", "kid_std", "fd_sat4_floor"}
    assert [s for s, _ in scalars["fd_sat4"]] == [1, 3]
    assert [v for _, v in scalars["fd_sat4"]] == pytest.approx([expected] * 2, rel=1e-4)
    assert [v for _, v in scalars["kid"]] == pytest.approx([k for _, _, k in cb.history],
                                                           rel=1e-5)
    assert [v for _, v in scalars["fd_sat4_floor"]] == [12.5, 12.5]
    # The values reach Keras' History (and so CSVLogger / the training engineer's metrics).
    assert hist.history["fd_sat4"] == pytest.approx([expected] * 2, rel=1e-4)
    texts = [v for _, tag, v in _events(tmp_path / "eval") if tag.startswith("fd_sat4/")]
    assert texts and b"test accuracy" in tf.make_ndarray(texts[0].tensor).item()
    np.testing.assert_array_equal(cb.fd_values, [fd for _, fd, _ in cb.history])


def test_fid_callback_uses_model_generate_and_final_epoch(real, net):
    cb = FIDCallback(_decoder(), net, real, every_n_epochs=2, n_samples=40)
    _model().fit(*_data(), epochs=3, batch_size=32, verbose=0, callbacks=[cb])
    assert [e for e, _, _ in cb.history] == [1, 2]  # epoch 2 evaluated at train end
    assert all(np.isfinite(fd) and fd > 0 for _, fd, _ in cb.history)
    assert cb.results[-1].n_fake == 40 and cb.results[-1].n_real == 50


def test_cached_real_activations_give_the_same_values(real, net):
    fixed = np.random.default_rng(2).uniform(-1, 1, (40, LATENT_DIM)).astype(np.float32)
    decoder = _decoder()
    by_images = FIDCallback(decoder, net, real, n_samples=40, sample_fn=lambda n: fixed)
    cached = FIDCallback(decoder, net, real_activations=net.features(real), n_samples=40,
                         sample_fn=lambda n: fixed)
    _model().fit(*_data(), epochs=1, verbose=0, callbacks=[by_images, cached])
    assert cached.history == by_images.history


def test_nan_generation_is_recorded_and_stops_with_guard(real, net):
    nan_latents = lambda n: np.full((n, LATENT_DIM), np.nan, np.float32)  # noqa: E731
    fid = FIDCallback(_decoder(), net, real, n_samples=40, sample_fn=nan_latents)
    guard = NaNGuard(monitor="fd_sat4")
    hist = _model().fit(*_data(), epochs=5, batch_size=32, verbose=0, callbacks=[fid, guard])
    assert len(hist.history["loss"]) == 1
    assert math.isnan(fid.history[0][1]) and fid.results == [None]
    assert guard.failed and "fd_sat4 is nan" in guard.reason and guard.epoch == 0


def test_nan_guard_stops_on_nan_loss():
    x, y = _data(64)
    x[40:] = np.nan  # batches 0 and 1 are finite, batch 2 is not
    guard = NaNGuard()
    model = _model()
    hist = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.failed and guard.epoch == 0 and "loss is nan" in guard.reason
    assert "batch 2" in guard.reason and len(hist.history["loss"]) == 1


def test_nan_guard_divergence_threshold_and_clean_run():
    guard = NaNGuard(max_abs=1e-6)
    _model().fit(*_data(), epochs=2, batch_size=16, verbose=0, callbacks=[guard])
    assert guard.failed and "diverged" in guard.reason
    ok = NaNGuard()  # the study's NaN rule: no finite value counts, however large
    ok.set_model(_model())
    ok.on_train_begin()
    ok.on_train_batch_end(0, {"c_loss": -3e9, "g_loss": 1e12})
    assert not ok.failed
    hist = _model().fit(*_data(), epochs=2, batch_size=16, verbose=0, callbacks=[ok])
    assert not ok.failed and ok.reason is None and len(hist.history["loss"]) == 2


def test_image_grid_layout():
    imgs = np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 4)).astype(np.float32)
    grid = image_grid(imgs, "rgb")
    assert grid.shape == (2 * 29 + 1, 3 * 29 + 1, 3)
    np.testing.assert_allclose(grid[1:29, 1:29], (imgs[0, ..., :3] + 1) / 2)
    nir = image_grid(imgs, "nir", cols=5)
    assert nir.shape == (29 + 1, 5 * 29 + 1, 3)
    np.testing.assert_allclose(nir[1:29, 30:58], (imgs[1][..., [3, 0, 1]] + 1) / 2)
    assert grid[0].min() == 1.0  # white border
    with pytest.raises(ValueError, match="bands"):
        image_grid(imgs, "cir")


def test_image_grid_callback_events_and_pngs(real, tmp_path):
    decoder = _decoder()
    model = _model()
    cb = ImageGridCallback(decoder, real_images=real, every_n_epochs=1, n_images=9,
                           log_dir=tmp_path, png_dir=tmp_path / "png", seed=5)
    model.fit(*_data(), epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    images = {(step, tag): v for step, tag, v in _events(tmp_path / "images")}
    assert set(images) == {(0, "real/rgb"), (0, "real/nir"), (0, "generated/rgb"),
                           (0, "generated/nir"), (1, "generated/rgb"), (1, "generated/nir")}
    # The last grid is the decoder's image of the fixed noise under the final generator.
    latents = model.generator(model.sample_noise(9, seed=5)).numpy()
    expected = image_grid(decoder(latents).numpy(), "nir")
    png = tf.make_ndarray(images[(1, "generated/nir")].tensor)[2]
    logged = tf.io.decode_png(png).numpy()
    np.testing.assert_allclose(logged / 255.0, expected, atol=1 / 255 + 1e-6)
    real_png = tf.io.decode_png(tf.make_ndarray(images[(0, "real/rgb")].tensor)[2]).numpy()
    np.testing.assert_allclose(real_png / 255.0, image_grid(real[:9], "rgb"), atol=1 / 255 + 1e-6)
    files = sorted(os.listdir(tmp_path / "png"))
    assert files == ["epoch0000_nir.png", "epoch0000_rgb.png", "epoch0001_nir.png",
                     "epoch0001_rgb.png", "real_nir.png", "real_rgb.png"]


def _hparams_plugin(log_dir):
    out = []
    for _, _, value in _events(log_dir):
        if value.metadata.plugin_data.plugin_name == "hparams":
            out.append(plugin_data_pb2.HParamsPluginData.FromString(
                value.metadata.plugin_data.content))
    return out


def test_log_hparams_reads_back(tmp_path):
    hparams = {"generator_capacity": 40, "critic_capacity": 1537, "generator": "quantum",
               "n_qubits": 5, "tuned_vae": True, "lr": np.float32(2e-4)}
    log_hparams(tmp_path, hparams, {"final_fd_sat4": 31.25, "final_kid": float("nan")})
    data = _hparams_plugin(tmp_path)
    experiments = [d.experiment for d in data if d.HasField("experiment")]
    sessions = [d.session_start_info for d in data if d.HasField("session_start_info")]
    assert len(experiments) == 1 and len(sessions) == 1
    assert {h.name for h in experiments[0].hparam_infos} == set(hparams)
    assert {m.name.tag for m in experiments[0].metric_infos} == {"final_fd_sat4", "final_kid"}
    hp = sessions[0].hparams
    assert hp["generator_capacity"].number_value == 40
    assert hp["critic_capacity"].number_value == 1537
    assert hp["generator"].string_value == "quantum" and hp["tuned_vae"].bool_value is True
    assert hp["lr"].number_value == pytest.approx(2e-4)
    scalars = _scalars(tmp_path)
    assert scalars["final_fd_sat4"] == [(0, 31.25)] and math.isnan(scalars["final_kid"][0][1])


def test_study_layout_config_once(tmp_path):
    write_hparams_config(tmp_path, ["critic_capacity"], ["final_fd_sat4"])
    log_hparams(tmp_path / "run0", {"critic_capacity": 10}, {"final_fd_sat4": 3.0},
                experiment_config=False)
    assert [d.HasField("experiment") for d in _hparams_plugin(tmp_path)] == [True]
    assert [d.HasField("session_start_info") for d in _hparams_plugin(tmp_path / "run0")] == [True]


@pytest.mark.parametrize("call,exc,match", [
    (lambda r, n: FIDCallback("nope", n, r), TypeError, "decoder must be callable"),
    (lambda r, n: FIDCallback(_decoder(), n, r, every_n_epochs=0), ValueError, "every_n_epochs"),
    (lambda r, n: FIDCallback(_decoder(), n, r, n_samples=1), ValueError, "n_samples"),
    (lambda r, n: FIDCallback(_decoder(), n, None), ValueError, "exactly one of"),
    (lambda r, n: FIDCallback(_decoder(), n, r, real_activations=np.zeros((5, 32))),
     ValueError, "exactly one of"),
    (lambda r, n: FIDCallback(_decoder(), n, real_activations=np.zeros((5, 8))), ValueError,
     r"shape \[N, 32\]"),
    (lambda r, n: FIDCallback(_decoder(), n, r[:1]), ValueError, ">= 2 images"),
    (lambda r, n: FIDCallback(_decoder(), n, r[..., :3]), ValueError, "4 bands"),
    (lambda r, n: ImageGridCallback(_decoder()), ValueError, "log_dir and/or png_dir"),
    (lambda r, n: NaNGuard(max_abs=-1), ValueError, "max_abs"),
    (lambda r, n: log_hparams("x", {"a": [1]}, {}), TypeError, r"hparams\['a'\]"),
    (lambda r, n: log_hparams("x", {}, {}), ValueError, "empty"),
])
def test_argument_errors(real, net, call, exc, match):
    with pytest.raises(exc, match=match):
        call(real, net)


def test_model_without_generate_needs_sample_fn(real, net):
    plain = tf.keras.Sequential([tf.keras.Input((LATENT_DIM,)), tf.keras.layers.Dense(4)])
    plain.compile("adam", "mse")
    cb = FIDCallback(_decoder(), net, real, n_samples=40)
    with pytest.raises(TypeError, match="no generate"):
        plain.fit(*_data(), epochs=1, verbose=0, callbacks=[cb])


def test_decoder_with_wrong_output_shape(real, net):
    bad = tf.keras.Sequential([tf.keras.Input((LATENT_DIM,)), tf.keras.layers.Dense(8)])
    cb = FIDCallback(bad, net, real, n_samples=40)
    with pytest.raises(ValueError, match=r"\[n, 28, 28, 4\]"):
        _model().fit(*_data(), epochs=1, verbose=0, callbacks=[cb])


def test_metrics_json_roundtrip_of_history(real, net):
    cb = FIDCallback(_decoder(), net, real, n_samples=40)
    _model().fit(*_data(), epochs=1, verbose=0, callbacks=[cb])
    assert json.loads(json.dumps(cb.history))[0][0] == 0


def test_callbacks_with_the_project_latent_gan(real, net, tmp_path):
    """FID, image grids, guard and HParams around a real WGAN-GP LatentGAN (MLP generator)."""
    from qlsgan_tf.models.mlp import MLPCritic, MLPGenerator
    from qlsgan_tf.training import LatentGAN

    tf.keras.utils.set_random_seed(0)
    gan = LatentGAN(MLPGenerator(LATENT_DIM, hidden_units=(8,), noise_dim=LATENT_DIM),
                    MLPCritic(hidden_units=(8,)), noise_dim=LATENT_DIM, n_critic=1)
    gan.compile()
    decoder = _decoder()
    fid = FIDCallback(decoder, net, real, every_n_epochs=1, n_samples=40, log_dir=tmp_path)
    grids = ImageGridCallback(decoder, real, n_images=4, log_dir=tmp_path)
    guard = NaNGuard()
    latents = tf.data.Dataset.from_tensor_slices(_data(32)[1]).batch(16)
    gan.fit(latents, epochs=2, verbose=0, callbacks=[fid, guard, grids])
    assert not guard.failed and [e for e, _, _ in fid.history] == [0, 1]
    assert all(np.isfinite(fd) for _, fd, _ in fid.history)
    log_hparams(tmp_path, {"generator_capacity": gan.generator_capacity,
                           "critic_params": gan.critic_params},
                {"final_fd_sat4": fid.history[-1][1]})
    assert [v for _, v in _scalars(tmp_path / "eval")["fd_sat4"]] == pytest.approx(
        [fd for _, fd, _ in fid.history])
    assert {tag for _, tag, _ in _events(tmp_path / "images")} >= {"generated/rgb",
                                                                   "generated/nir"}
    session = [d.session_start_info for d in _hparams_plugin(tmp_path)
               if d.HasField("session_start_info")][0]
    assert session.hparams["critic_params"].number_value == gan.critic_params
