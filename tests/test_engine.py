"""The one engine's parts: Adam over runs, the step with a run axis, the NaN rule, typed
histories, and placement on a GPU where TensorFlow sees one."""
import math

import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf import convergence
from qlsgan_tf.constants import n_angles
from qlsgan_tf.training import gan_step, losses, optim
from qlsgan_tf.tuning import packs
from qlsgan_tf.tuning.results import EpochLosses, FDPoint, LatentPoint, RunHistory, RunResult


def test_losses_keep_a_run_axis_and_equal_each_run_alone():
    rng = np.random.default_rng(0)
    real, fake = (rng.normal(0, 2, (3, 7, 1)).astype(np.float32) for _ in "rf")
    for loss in losses.LOSSES.values():
        per_run = loss.critic(real, fake).numpy()
        assert per_run.shape == (3,)
        np.testing.assert_allclose(per_run, [float(loss.critic(real[k], fake[k]))
                                             for k in range(3)], rtol=1e-6)
        np.testing.assert_allclose(loss.generator(fake).numpy(),
                                   [float(loss.generator(fake[k])) for k in range(3)],
                                   rtol=1e-6)
    with pytest.raises(ValueError, match="critic scores"):
        losses.wgan_generator_loss(np.zeros((2, 3, 4, 1), np.float32))


def test_run_gradient_penalty_is_each_runs_penalty():
    w = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], np.float32)  # a linear critic per run
    rng = np.random.default_rng(1)
    real, fake = (rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32) for _ in "rf")
    alpha = rng.uniform(0, 1, (2, 5, 1)).astype(np.float32)
    gp = losses.run_gradient_penalty(lambda x: tf.reduce_sum(x * w[:, None, :], 2, True),
                                     real, fake, alpha).numpy()
    np.testing.assert_allclose(gp, (np.linalg.norm(w, axis=1) - 1.0) ** 2, rtol=1e-5)


def test_run_adam_equals_keras_adam_per_run_and_keeps_frozen_runs():
    rng = np.random.default_rng(2)
    start = rng.normal(size=(3, 4)).astype(np.float32)
    stacked = tf.Variable(start)
    opt = optim.RunAdam([stacked])
    lrs = np.array([1e-3, 5e-3, 2e-2], np.float32)
    singles = [tf.Variable(start[k]) for k in range(3)]
    keras = [optim.adam(float(lr)) for lr in lrs]
    for _ in range(4):
        grads = rng.normal(size=(3, 4)).astype(np.float32)
        opt.apply([tf.constant(grads)], tf.constant(lrs), tf.constant([True, True, False]))
        for k in (0, 1):
            keras[k].apply_gradients([(tf.constant(grads[k]), singles[k])])
    for k in (0, 1):
        np.testing.assert_allclose(stacked[k].numpy(), singles[k].numpy(), atol=1e-6)
    np.testing.assert_array_equal(stacked[2].numpy(), start[2])
    assert opt.t.numpy().tolist() == [4.0, 4.0, 0.0]
    opt.reset(1)
    assert opt.t.numpy().tolist() == [4.0, 0.0, 0.0]
    assert not np.any(opt.m[0][1].numpy())
    with pytest.raises(ValueError, match="leading run axis"):
        optim.RunAdam([tf.Variable(tf.zeros([2, 1])), tf.Variable(tf.zeros([3, 1]))])


def test_finite_runs_and_the_nan_rule():
    finite = gan_step.finite_runs(tf.constant([1.0, np.nan, 2.0]),
                                  tf.constant([0.0, 1.0, np.inf]))
    assert finite.numpy().tolist() == [True, False, False]
    assert convergence.diverged(False, 0.3) == ()
    assert convergence.diverged(True, 0.3) == ("losses turned NaN/inf",)
    assert convergence.diverged(False, math.nan) == ("latent score turned NaN/inf",)
    assert len(convergence.diverged(True, math.inf)) == 2


def test_run_history_is_typed_and_gives_the_records_json_rows():
    hist = RunHistory()
    hist.losses += [EpochLosses(1.0, -0.5, 0.1, 0.2), EpochLosses(0.5, -0.25, 0.05, 0.1)]
    hist.latent += [LatentPoint(10, 0.4), LatentPoint(20, 0.3)]
    hist.fd.append(FDPoint(1, 12.0, 0.01))
    assert hist.latent_scores == [0.4, 0.3] and hist.critic_losses == [1.0, 0.5]
    fields = hist.result_fields()
    record = RunResult(generator="q3x2", kind="quantum", latent_dim=3, generator_capacity=60,
                       critic_budget=30, seed=0, status="converged", score=0.3, **fields)
    data = record.to_dict()
    assert data["latent_score_history"] == [[10, 0.4], [20, 0.3]]
    assert data["fd_history"] == [[1, 12.0, 0.01]]
    assert data["c_loss_history"] == [1.0, 0.5] and data["epochs_run"] == 2
    assert RunResult.from_dict(data) == record


def test_fast_simulator_and_packed_step_place_on_a_gpu():
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        pytest.skip("TensorFlow sees no GPU on this machine (tf.config.list_logical_devices)")
    from qlsgan_tf.layers import fast_sim
    from qlsgan_tf.training import PackedLatentGAN

    angles = tf.random.uniform([8, n_angles(3, 2, "bel")])
    out = fast_sim.style_expectations(angles, 3, 2, "bel", "z")
    assert "GPU" in out.device and out.dtype == tf.float32
    pack = PackedLatentGAN({"kind": "quantum", "n_qubits": 3, "n_layers": 2}, [(8,), (4,)],
                           latent_dim=3, batch_size=16, n_critic=2)
    pack.reset(seeds=[0, 1], c_lr=1e-3, g_lr=1e-3)
    assert all("GPU" in v.device for v in pack.g_vars + pack.c_vars)
    history = pack.train(np.random.default_rng(0).uniform(-1, 1, (40, 3)), 3)
    assert history.dtype == np.float32 and np.all(np.isfinite(history))
    assert pack.sample(10).dtype == np.float32


@pytest.mark.parametrize("kind", ["quantum", "classical"])
def test_a_run_goes_on_alike_after_its_pack_shrinks(kind):
    """A run's trajectory does not depend on its pack-mates: trained 4 steps in a pack of 3,
    moved (``take_runs``) into a smaller pack (with a spare frozen row) and trained 6 more, it
    equals the same run as a pack of one trained 10 steps."""
    from qlsgan_tf.training import PackedLatentGAN
    from qlsgan_tf.tuning import lanes

    spec = ({"kind": "quantum", "n_qubits": 3, "n_layers": 2} if kind == "quantum" else
            {"kind": "classical", "units": (5,), "noise_dim": 2, "output_dim": 3})
    critics, seeds, lrs = [(6, 4), (12, 8), (3, 5)], [11, 7, 5], [1e-3, 2e-3, 5e-4]
    latents = np.random.default_rng(0).uniform(-0.8, 0.8, (40, 3)).astype(np.float32)
    big = PackedLatentGAN(spec, critics, latent_dim=3, batch_size=16, n_critic=2)
    big.reset(seeds=seeds, c_lr=lrs, g_lr=lrs)
    big.train(latents, 4)
    small = lanes.lane(3).pack(spec, [critics[2], (12, 8)], 3, batch_size=16, n_critic=2)
    small.take_runs(big, [2])
    assert small.active.numpy().tolist() == [True, False]
    small.train(latents, 6)
    one = PackedLatentGAN(spec, [critics[2]], latent_dim=3, batch_size=16, n_critic=2)
    one.reset(seeds=seeds[2:], c_lr=lrs[2], g_lr=lrs[2])
    one.train(latents, 10)
    for got, want in zip(sum(small.run_weights(0), []), sum(one.run_weights(0), [])):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    assert int(small.step.numpy()) == 10
    # The same compiled instance serves other critics of the same padded widths.
    again = lanes.lane(3).pack(spec, [(12, 8), (1, 1)], 3, batch_size=16, n_critic=2)
    assert again is small and again.critic_units == [(12, 8), (1, 1)]
    with pytest.raises(ValueError, match="cannot take"):
        small.take_runs(big, [0])  # run 0's critic is not the pack's first
    with pytest.raises(ValueError, match="padded widths"):
        small.set_critics([(3, 5), (3, 5)])


def test_a_study_pack_shrinks_and_its_runs_go_on_as_alone():
    """``tuning.packs.Pack``: two of four runs finish, the pack shrinks to a compiled pack of
    two rows, arrays stay indexed by the runs as given, and a live run's samples equal those
    of the same run trained as a pack of one."""
    from qlsgan_tf.study import presets
    from qlsgan_tf.tuning import lanes

    settings = presets.make_config(
        "smoke", quantum_grid=[(2, 1)], critic_capacities=[20, 120], classical_capacities=[15],
        seeds=[0, 1], learning_rates=[1e-3]).training_settings()
    spec = settings.generator_spec("q2x1")
    runs = packs.plan_runs(settings, "q2x1")
    assert len(runs) == 4
    latents = np.random.default_rng(0).uniform(-0.8, 0.8, (40, 2)).astype(np.float32)
    pack = packs.Pack(settings, spec, runs, lanes.lane(4))
    pack.train(latents, 3)
    assert not pack.shrink()  # all four still train
    pack.freeze([0, 2])
    assert not pack.shrink(steps_left=1)  # compiling a smaller pack would not pay
    assert pack.shrink() and pack.gan.n_runs == 2 and pack.rows.tolist() == [1, 3]
    assert pack.active.tolist() == [False, True, False, True]
    losses = pack.train(latents, 4)
    assert losses.shape == (4, 4, 4) and np.all(np.isnan(losses[:, [0, 2]]))
    fakes = pack.sample(20)
    assert fakes.shape == (4, 20, 2) and not np.any(fakes[[0, 2]])
    pack.freeze([3])
    assert pack.shrink() and pack.gan.n_runs == 1 and pack.rows.tolist() == [1]
    alone = packs.Pack(settings, spec, [runs[1]], lanes.lane(5))
    alone.train(latents, 7)
    np.testing.assert_allclose(fakes[1], alone.sample(20)[0], atol=1e-4)
    np.testing.assert_allclose(pack.sample(20)[1], alone.sample(20)[0], atol=1e-4)
    # Where the lane holds the smaller pack compiled already, shrinking always pays.
    again = packs.Pack(settings, spec, runs, lanes.lane(4))
    again.freeze([1, 2])
    assert again.shrink(steps_left=1) and again.rows.tolist() == [0, 3]
