"""PackedLatentGAN: a run in a pack equals the same run as a pack of one and as ``LatentGAN``
(the one step of ``training.gan_step``); one trace per shape."""
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator
from qlsgan_tf.models import MLPCritic, MLPGenerator
from qlsgan_tf.training import LatentGAN, PackedLatentGAN
from qlsgan_tf.training.packed import batch_indices
from qlsgan_tf.tuning import lanes

STEPS = 10
BATCH = 16
CRITICS = [(6, 4), (12, 8), (3, 5)]
SEEDS = [11, 7, 5]
LRS = [1e-3, 2e-3, 5e-4]


def _latents(dim, n=40):
    return np.random.default_rng(0).uniform(-0.8, 0.8, (n, dim)).astype(np.float32)


def _keras_pair(kind, k, latent_dim):
    tf.keras.utils.set_random_seed(100 + k)
    if kind == "quantum":
        generator = tf.keras.Sequential(
            [tf.keras.Input((latent_dim,)),
             StyleQuantumGenerator(latent_dim, 2, backend="fast")])
    else:
        generator = MLPGenerator(latent_dim, hidden_units=(5,), noise_dim=2)
    return generator, MLPCritic(hidden_units=CRITICS[k], input_dim=latent_dim)


def _spec(kind, latent_dim):
    if kind == "quantum":
        return {"kind": "quantum", "n_qubits": latent_dim, "n_layers": 2}
    return {"kind": "classical", "units": (5,), "noise_dim": 2, "output_dim": latent_dim}


@pytest.mark.parametrize("kind,loss,noise,layered", [("quantum", "wgan-gp", "uniform", None),
                                                     ("classical", "wgan-gp", "normal", None),
                                                     ("quantum", "bce", "normal", None),
                                                     ("classical", "bce", "uniform", None),
                                                     ("quantum", "wgan-gp", "normal", False)])
def test_run_in_pack_equals_run_alone(kind, loss, noise, layered):
    dim = 3
    latents = _latents(dim)
    pack = PackedLatentGAN(_spec(kind, dim), CRITICS, latent_dim=dim, batch_size=BATCH,
                           loss=loss, n_critic=3, noise=noise, layered=layered)
    assert pack.layered == (kind == "quantum" and layered is None)
    pack.reset(seeds=SEEDS, c_lr=LRS, g_lr=[2 * lr for lr in LRS])
    alone = []
    for k in range(len(CRITICS)):
        generator, critic = _keras_pair(kind, k, dim)
        pack.set_run(k, generator, critic)
        alone.append((generator, critic))
    packed_losses = pack.train(latents, STEPS)
    idx = batch_indices(len(latents), BATCH, SEEDS, 0, STEPS)
    for k in (0, 1):  # two runs of the pack, each against its own run alone
        generator, critic = alone[k]
        gan = LatentGAN(generator, critic, noise_dim=pack.noise_dim, loss=loss,
                        n_critic=3, noise=noise, seed=SEEDS[k])
        gan.compile(g_optimizer=tf.keras.optimizers.Adam(2 * LRS[k], beta_1=0.5, beta_2=0.9),
                    c_optimizer=tf.keras.optimizers.Adam(LRS[k], beta_1=0.5, beta_2=0.9))
        data = tf.data.Dataset.from_tensor_slices(latents[idx[:, k]])
        gan.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0)
        g_packed, c_packed = pack.run_weights(k)
        for got, want in zip(g_packed + c_packed, generator.get_weights() + critic.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
        assert max(np.abs(w).max() for w in c_packed) > 0.01
    # The same run as a pack of one (what `--pack 1` trains): the same weights again.
    one = PackedLatentGAN(_spec(kind, dim), [CRITICS[1]], latent_dim=dim, batch_size=BATCH,
                          loss=loss, n_critic=3, noise=noise, layered=layered)
    one.reset(seeds=[SEEDS[1]], c_lr=LRS[1], g_lr=2 * LRS[1])
    one.set_run(0, *_keras_pair(kind, 1, dim))
    losses = one.train(latents, STEPS)
    for got, want in zip(sum(one.run_weights(0), []), sum(pack.run_weights(1), [])):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(losses[:, 0], packed_losses[:, 1], atol=1e-4, rtol=1e-4)
    # The extracted Keras generator computes what the pack computes.
    noise = np.random.default_rng(1).uniform(-1, 1, (3, 5, pack.noise_dim)).astype(np.float32)
    np.testing.assert_allclose(pack.run_generator(2)(noise[2]).numpy(), pack(noise)[2].numpy(),
                               atol=1e-5)


def test_one_trace_per_shape_and_reset_by_assignment():
    latents = _latents(3)
    spec = _spec("quantum", 3)
    pack = lanes.lane(0).pack(spec, CRITICS, 3, batch_size=BATCH, n_critic=2)
    assert lanes.lane(0).pack(spec, CRITICS, 3, batch_size=BATCH, n_critic=2) is pack
    pack.reset(seeds=SEEDS, c_lr=1e-3, g_lr=1e-3)
    first = pack.train(latents, 4)
    pack.sample(50)
    weights = pack.run_weights(1)
    pack.reset(seeds=SEEDS, c_lr=1e-3, g_lr=1e-3)
    again = pack.train(latents[:30], 2)
    pack.train(latents[:30], 2)
    pack.sample(70, index=3)
    assert pack.trace_count == 1 and pack.sample_trace_count == 1
    assert pack.first_call_s > 0  # the one call that traced and compiled, timed
    # Reset restores the same starting point: same losses, and steps split over calls agree.
    pack.reset(seeds=SEEDS, c_lr=1e-3, g_lr=1e-3)
    split = np.concatenate([pack.train(latents, 1), pack.train(latents, 3)])
    np.testing.assert_allclose(split, first, rtol=1e-5, atol=1e-6)
    for got, want in zip(pack.run_weights(1)[0], weights[0]):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert again.shape == (2, 3, 4)
    other = lanes.lane(0).pack(spec, CRITICS[:2], 3, batch_size=BATCH, n_critic=2)
    assert other is not pack


def test_nan_run_is_frozen_and_others_go_on():
    latents = _latents(3)
    pack = PackedLatentGAN(_spec("classical", 3), CRITICS, latent_dim=3, batch_size=BATCH,
                           n_critic=2)
    pack.reset(seeds=SEEDS, c_lr=1e-3)
    pack.c_vars[0][1].assign(tf.fill(pack.c_vars[0].shape[1:], np.nan))
    history = pack.train(latents, 3)
    assert pack.failed.numpy().tolist() == [False, True, False]
    assert pack.active.numpy().tolist() == [True, False, True]
    assert np.all(np.isfinite(history[:, [0, 2]]))
    assert all(np.all(np.isfinite(w)) for w in pack.run_weights(0)[1] + pack.run_weights(2)[1])
    # A frozen run keeps its weights.
    frozen = pack.run_weights(2)
    pack.active.assign([True, False, False])
    pack.train(latents, 2)
    for got, want in zip(pack.run_weights(2)[0], frozen[0]):
        np.testing.assert_array_equal(got, want)


def test_bad_inputs_are_named():
    spec = _spec("classical", 3)
    with pytest.raises(ValueError, match="same depth"):
        PackedLatentGAN(spec, [(4,), (4, 4)], latent_dim=3)
    with pytest.raises(ValueError, match="latent_dim"):
        PackedLatentGAN(spec, [(4,)], latent_dim=4)
    with pytest.raises(ValueError, match="loss"):
        PackedLatentGAN(spec, [(4,)], latent_dim=3, loss="hinge")
    pack = PackedLatentGAN(spec, [(4,)], latent_dim=3, batch_size=4)
    with pytest.raises(ValueError, match="c_lr"):
        pack.reset(c_lr=-1.0)
    with pytest.raises(ValueError, match="latents"):
        pack.train(np.zeros((5, 2), np.float32), 1)
    config = pack.get_config()
    assert PackedLatentGAN.from_config(config).get_config() == config


def test_batch_indices_are_per_run_epoch_permutations():
    idx = batch_indices(10, 4, [3, 4], 0, 5)  # 20 draws = two epochs per run
    assert idx.shape == (5, 2, 4)
    for k in range(2):
        flat = idx[:, k].ravel()
        assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert not np.array_equal(idx[:, 0], idx[:, 1])
    np.testing.assert_array_equal(batch_indices(10, 4, [3, 4], 2, 3), idx[2:])


def test_a_packed_run_saves_and_reloads_as_keras_models(tmp_path):
    pack = PackedLatentGAN(_spec("quantum", 3), CRITICS, latent_dim=3, batch_size=BATCH,
                           n_critic=1)
    pack.reset(seeds=SEEDS, c_lr=1e-3, g_lr=1e-3)
    pack.train(_latents(3), 2)
    generator, critic = pack.run_generator(1), pack.run_critic(1)
    generator.save(tmp_path / "generator.keras")
    critic.save(tmp_path / "critic.keras")
    noise = np.random.default_rng(2).uniform(-1, 1, (3, 7, 3)).astype(np.float32)
    expected = pack(noise)[1].numpy()
    reloaded = tf.keras.models.load_model(tmp_path / "generator.keras")
    np.testing.assert_allclose(reloaded(noise[1]).numpy(), expected, atol=1e-5)
    latents = pack(noise).numpy()
    np.testing.assert_allclose(
        tf.keras.models.load_model(tmp_path / "critic.keras")(latents[1]).numpy()[:, 0],
        pack.critic_batched(tf.constant(latents))[1].numpy(), atol=1e-5)
    assert critic.hidden_units == CRITICS[1]


@pytest.mark.parametrize("kind", ["quantum", "classical"])
def test_padded_smaller_generators_equal_their_runs_alone(kind):
    """Generators of several sizes share one pack (one compiled step): a circuit of fewer
    layers than the pack's, an MLP narrower than the pack's, each equals its run alone."""
    dim = 3
    latents = _latents(dim)
    if kind == "quantum":
        shape = {"kind": "quantum", "n_qubits": dim, "n_layers": 4}
        runs = [dict(shape, n_layers=layers) for layers in (1, 4, 2)]
    else:
        shape = {"kind": "classical", "units": (9,), "noise_dim": 2, "output_dim": dim}
        runs = [dict(shape, units=(u,)) for u in (3, 9, 6)]
    pack = PackedLatentGAN(shape, CRITICS, latent_dim=dim, batch_size=BATCH, n_critic=3)
    pack.reset(seeds=SEEDS, c_lr=LRS, g_lr=LRS, generators=runs)
    initial = [pack.run_weights(k) for k in range(3)]
    pack.train(latents, STEPS)
    idx = batch_indices(len(latents), BATCH, SEEDS, 0, STEPS)
    for k in (0, 2):  # the shallow / narrow runs, padded
        generator, critic = pack.run_generator(k), pack.run_critic(k)
        assert [w.shape for w in generator.get_weights()] == \
            [w.shape for w in initial[k][0]]
        generator.set_weights(initial[k][0])
        critic.set_weights(initial[k][1])
        gan = LatentGAN(generator, critic, noise_dim=pack.noise_dim, n_critic=3,
                        seed=SEEDS[k])
        gan.compile(g_optimizer=tf.keras.optimizers.Adam(LRS[k], beta_1=0.5, beta_2=0.9),
                    c_optimizer=tf.keras.optimizers.Adam(LRS[k], beta_1=0.5, beta_2=0.9))
        gan.fit(tf.data.Dataset.from_tensor_slices(latents[idx[:, k]]), epochs=1,
                steps_per_epoch=STEPS, verbose=0)
        g_packed, c_packed = pack.run_weights(k)
        for got, want in zip(g_packed + c_packed, generator.get_weights() + critic.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
        assert max(np.abs(a - b).max() for a, b in zip(g_packed, initial[k][0])) > 1e-3
    # The padding stays exactly zero.
    full = [v[0].numpy() for v in pack.g_vars]
    mask = [m[0].numpy() for m in pack.g_masks]
    assert all(np.all(w[m == 0] == 0) for w, m in zip(full, mask))
    assert any(np.any(m == 0) for m in mask)
    # One pack shape serves every generator of the family: no new trace after a reset.
    pack.reset(seeds=SEEDS, generators=runs[::-1])
    pack.train(latents, 2)
    assert pack.trace_count == 1
    with pytest.raises(ValueError, match="does not fit"):
        pack.reset(generators=[dict(runs[0], **({"n_layers": 5} if kind == "quantum"
                                                 else {"units": (10,)}))] * 3)
