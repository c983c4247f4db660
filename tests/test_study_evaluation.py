"""The study's run evaluator: scores equal the metrics alone, judging, records and samples."""
import types

import numpy as np
import pytest

from qlsgan_tf.metrics import latent_score, stability
from qlsgan_tf.metrics.distances import fd_sat4_from_activations
from qlsgan_tf.metrics.feature_net import load_feature_net
from qlsgan_tf.study import evaluation, presets
from qlsgan_tf.training.spec import GeneratorSpec
from qlsgan_tf.tuning import capacity
from qlsgan_tf.tuning.results import EpochLosses, FDPoint, LatentPoint, RunHistory


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    rng = np.random.default_rng(0)
    real_latents = rng.uniform(-1, 1, (300, 3)).astype(np.float32)
    weights = rng.normal(size=(3, 28 * 28 * 4)).astype(np.float32) / 3

    def decode(z):  # a fixed, deterministic stand-in decoder: latents -> images in [-1, 1]
        return np.tanh(np.asarray(z) @ weights).reshape(-1, 28, 28, 4)

    net = load_feature_net(None)
    real_images = decode(real_latents[:100])
    resources = capacity.Resources(
        real_images=real_images, real_activations=net.features(real_images), feature_net=net,
        latents={3: real_latents}, decoders={3: decode},
        samples_dir=tmp_path_factory.mktemp("samples"), logs_dir=None)
    settings = presets.make_config("smoke", n_latent_samples=200, n_fid_samples=40,
                                   quantum_grid=[(3, 1)]).training_settings()
    return evaluation.RunEvaluator(settings, resources)


def test_scores_equal_the_metrics_computed_run_by_run(evaluator):
    rng = np.random.default_rng(1)
    fakes = rng.uniform(-1, 1, (3, 200, 3)).astype(np.float32)
    fakes[2, 0, 0] = np.nan  # a diverged run: no score, the others unaffected
    spec = GeneratorSpec.parse("q3x1", ansatz="bel", readout="z", generator_depth=1)
    scores, fds = evaluator.evaluate(spec, fakes, with_fd=True)
    real = evaluator.resources.latents[3]
    for k in range(2):
        assert scores[k] == pytest.approx(latent_score.latent_distance(real, fakes[k]), abs=1e-6)
        images = evaluator.resources.decoders[3](fakes[k][:40])
        alone = fd_sat4_from_activations(evaluator.resources.real_activations,
                                         evaluator.resources.feature_net.features(images))
        assert fds[k][0] == pytest.approx(alone.fd, rel=1e-5)
        assert fds[k][1] == pytest.approx(alone.kid, rel=1e-5, abs=1e-8)
    assert np.isnan(scores[2]) and all(np.isnan(v) for v in fds[2])
    assert evaluator.evaluate(spec, fakes[:2], with_fd=False)[1] == {}
    floor = evaluator.floor(3)
    assert floor == latent_score.latent_floor(real, 200, method="swd", seed=0)
    assert evaluator.floor(3) == floor  # cached


def test_judging_trains_improving_runs_on_and_ends_them_at_the_budget(evaluator):
    improving = list(np.linspace(1.0, 0.2, 8))
    assert evaluator.judge(improving, [0.0] * 8, 0.0, final=False) is None
    assert evaluator.judge(improving, [0.0] * 8, 0.0, final=True).status == "not_converged"
    flat = [0.5, 0.51, 0.49, 0.5, 0.5, 0.51, 0.49, 0.5]
    alone = stability.run_status(flat, [0.0] * 8, k=evaluation.status_k(evaluator.settings),
                                 floor=0.0)
    assert evaluator.judge(flat, [0.0] * 8, 0.0, final=False) == alone


def test_a_record_carries_the_history_and_saves_decoded_samples(evaluator):
    spec = GeneratorSpec.parse("q3x1", ansatz="bel", readout="z", generator_depth=1)
    run = types.SimpleNamespace(generator="q3x1", critic_budget=20, seed=0, learning_rate=1e-3,
                                key="q3x1__c20__s0__lr0.001")
    hist = RunHistory(
        status=stability.RunStatus("converged", (), 0.25),
        latent=[LatentPoint(4, 0.3), LatentPoint(8, 0.25)],
        fd=[FDPoint(0, 9.0, 0.1), FDPoint(1, 8.0, 0.05)],
        losses=[EpochLosses(1.0, 2.0, 0.1, 0.5)] * 2,
        fakes=np.random.default_rng(2).uniform(-1, 1, (200, 3)).astype(np.float32))
    meta = {"critic_units": (2, 1), "critic_params": 11, "time_s": 1.5, "pack_size": 4}
    record = evaluator.record(spec, run, hist, 0.05, meta)
    assert (record.status, record.score, record.final_fd, record.epochs_run) == (
        "converged", 0.25, 8.0, 2)
    assert record.fd_score == pytest.approx(8.5) and record.latent_floor == 0.05
    assert record.latent_score_history == ((4, 0.3), (8, 0.25))
    assert record.fd_history == ((0, 9.0, 0.1), (1, 8.0, 0.05))
    saved = np.load(evaluator.resources.samples_dir / f"{run.key}.npy")
    assert saved.shape == (16, 28, 28, 4) and saved.dtype == np.uint8


def test_evaluations_per_run_follow_the_convergence_schedule():
    every = dict(evaluate_every_epoch=True)
    settings = presets.make_config("quick", epochs=12, fid_every=2, **every).training_settings()
    assert evaluation.evaluations_per_run(settings) == (12, 6)
    settings = presets.make_config("quick", epochs=7, fid_every=2, **every).training_settings()
    assert evaluation.evaluations_per_run(settings) == (7, 4)  # epochs 2, 4, 6 and the judgement
    # Only what the rule reads: the judged window of 8 and the last k_last=3 FD-SAT4.
    settings = presets.make_config("quick", epochs=12, fid_every=2).training_settings()
    assert [evaluation.schedule(settings, e) for e in (4, 5, 6, 8, 12, 13, 14)] == [
        (False, False), (True, False), (True, False), (True, True), (True, True),
        (True, False), (True, True)]
    assert evaluation.evaluations_per_run(settings) == (8, 3)
    settings = presets.make_config("paper").training_settings()  # 100 epochs, FD every 5
    assert evaluation.evaluations_per_run(settings) == (8, 5)


def test_evaluating_only_where_the_rule_reads_changes_no_status_or_score(evaluator, tmp_path):
    """The same pack trained twice, scored every epoch and only on the convergence schedule:
    the same statuses, scores, FD-SAT4 scores and epochs; the sparse histories are the full
    ones at the epochs the rule reads."""
    from qlsgan_tf.tuning import lanes, packs

    records = {}
    for every in (True, False):
        settings = presets.make_config(
            "smoke", quantum_grid=[(3, 1)], critic_capacities=[20, 120], seeds=[0, 1],
            learning_rates=[2e-3], epochs=6, max_epochs=8, fid_every=2, k_last=2, status_k=3,
            steps_per_epoch=3, n_latent_samples=200, n_fid_samples=40,
            evaluate_every_epoch=every).training_settings()
        spec = settings.generator_spec("q3x1")
        runs = packs.plan_runs(settings, "q3x1")
        found = []
        judge = evaluation.RunEvaluator(settings, evaluator.resources)
        packs.train_pack(settings, spec, runs, packs.Pack(settings, spec, runs, lanes.lane(6)),
                         evaluator.resources, found.append, judge)
        records[every] = {r.key: r for r in found}
    full, sparse = records[True], records[False]
    assert sorted(full) == sorted(sparse) and len(full) == 4
    for key, rec in sparse.items():
        other = full[key]
        for name in ("status", "score", "epochs_run", "c_loss_history"):
            assert getattr(rec, name) == getattr(other, name), (key, name)
        for name in ("fd_score", "final_fd", "final_kid"):  # decoded in other batches
            assert getattr(rec, name) == pytest.approx(getattr(other, name), rel=1e-5)
        steps = [int(p[0]) // 3 for p in rec.latent_score_history]  # epochs scored
        assert steps == [e for e in range(1, rec.epochs_run + 1) if e > 6 - 3]
        assert set(rec.latent_score_history) <= set(other.latent_score_history)
        # FD-SAT4 only of the last k_last=2 evaluations, computed when the run finished.
        assert [int(p[0]) + 1 for p in rec.fd_history] == [
            e for e in range(1, rec.epochs_run + 1) if e % 2 == 0][-2:]
        every = {p[0]: p for p in other.fd_history}
        for point in rec.fd_history:
            assert point == pytest.approx(every[point[0]], rel=1e-5)
        assert len(other.latent_score_history) == other.epochs_run
        assert len(other.fd_history) == other.epochs_run // 2


def test_time_evaluation_measures_both_evaluations_per_run():
    settings = presets.make_config("smoke", n_latent_samples=200,
                                   n_fid_samples=40).training_settings()
    latent_s, fd_s = evaluation.time_evaluation(settings, 3, n_reference=300, n_runs=2)
    assert 0.0 < latent_s < 60.0 and 0.0 <= fd_s < 60.0
