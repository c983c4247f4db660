"""Nominal vs tuned VAE comparison: paired tests on recorded runs."""
import json

import numpy as np
import pytest
from scipy import stats

from qlsgan_tf.study import store as store_lib
from qlsgan_tf.study import vae_compare
from qlsgan_tf.tuning.results import RunResult


def _study(root, name, fds, converged, test_mse):
    """A study directory with one run per (critic, seed) and a prepared.json."""
    out = vae_compare.variant_dir(root, name)
    store = store_lib.ResultStore(out)
    i = 0
    for critic in (30, 200):
        for seed in range(len(fds) // 2):
            store.put(RunResult(
                generator="q3x2", kind="quantum", latent_dim=3, generator_capacity=96,
                critic_budget=critic, seed=seed, learning_rate=1e-3,
                status="converged" if converged[i] else "improving",
                score=0.1 if converged[i] else None,
                fd_score=fds[i] if converged[i] else None, final_fd=fds[i]))
            i += 1
    store_lib.atomic_write_json(out / "prepared.json", {
        "vaes": {"3": {"kind": name, "train_mse": test_mse, "test_mse": test_mse}},
        "floor": {"fd": 1.5}, "data": {}, "feature_net": {}, "baselines": {}})
    return out


def test_comparison_pairs_runs_and_tests_both_convergence_and_fd(tmp_path):
    rng = np.random.default_rng(0)
    fd_a = rng.uniform(20, 30, 10)
    fd_b = fd_a - rng.uniform(2, 6, 10)  # the tuned VAE: lower FD-SAT4 for every pair
    conv_a = [True, False, False, True, False, True, False, False, True, False]
    conv_b = [True] * 10
    dirs = {"nominal": _study(tmp_path, "nominal", fd_a, conv_a, 0.04),
            "tuned": _study(tmp_path, "tuned", fd_b, conv_b, 0.03)}
    result = vae_compare.compare(dirs)
    assert result["n_paired_runs"] == 10
    s = result["summaries"]
    assert s["nominal"]["n_converged"] == 4 and s["tuned"]["n_converged"] == 10
    assert s["tuned"]["vae"]["3"]["test_mse"] == 0.03
    conv = result["convergence"]
    assert (conv["converged_only_first"], conv["converged_only_second"]) == (0, 6)
    assert conv["p_value"] == pytest.approx(stats.binomtest(0, 6, 0.5).pvalue)
    fd = result["final_fd"]
    assert fd["n_pairs"] == 10
    assert fd["median_difference"] == pytest.approx(np.median(fd_b - fd_a))
    assert fd["p_value"] == pytest.approx(stats.wilcoxon(fd_b - fd_a).pvalue)
    assert fd["ci"][0] <= fd["median_difference"] <= fd["ci"][1] < 0
    assert s["tuned"]["best_fd_by_generator"]["q3x2"] == pytest.approx(fd_b.min())
    paths = vae_compare.write_comparison(tmp_path, dirs)
    text = paths["vae_comparison"].read_text()
    assert "McNemar" in text and "Wilcoxon" in text and "| converged runs | 4 | 10 |" in text
    assert json.loads(paths["vae_comparison_json"].read_text())["n_paired_runs"] == 10


def test_comparison_needs_two_variants(tmp_path):
    with pytest.raises(ValueError, match="compare two VAE variants"):
        vae_compare.compare({"nominal": tmp_path})
