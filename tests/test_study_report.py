"""The report on a synthetic study directory (no training): every section the method needs."""
import json
import math

import numpy as np
import pytest

from qlsgan_tf import constants
from qlsgan_tf.study import analysis, presets, report
from qlsgan_tf.study import store as store_lib
from qlsgan_tf.tuning.results import RunResult

CRITICS = [30, 100, 300, 1000, 3000, 10000, 30000]
CLASSICAL = [20, 80, 300, 1200]
LAYERS = list(range(1, 9))  # 8 quantum capacities, n = 3


def _record(generator, kind, cap, critic, seed, score, layers=None, status="converged"):
    return {"generator": generator, "kind": kind, "n_qubits": 3 if kind == "quantum" else None,
            "n_layers": layers, "latent_dim": 3, "generator_capacity": cap,
            "critic_budget": critic, "seed": seed, "learning_rate": 1e-3, "status": status,
            "score": score if status == "converged" else None,
            "fd_score": None if score is None else 20.0 * score, "latent_floor": 0.02,
            "stable": status == "converged", "failed": False, "time_s": 1.0,
            "latent_score_history": [[10, 1.0], [20, score or 1.0]],
            "fd_history": [[1, 30.0, 0.1], [2, 20.0 * (score or 1.0), 0.05]]}


@pytest.fixture(name="study_dir")
def fixture_study_dir(tmp_path):
    config = presets.make_config(
        "smoke", quantum_grid=[(3, layers) for layers in LAYERS], critic_capacities=CRITICS,
        classical_capacities=CLASSICAL, seeds=[0, 1, 2, 3], n_boot=200)
    store = store_lib.ResultStore(tmp_path)
    store.pin_config(config)
    rng = np.random.default_rng(0)
    qs = [constants.quantum_capacity(3, layers, "bel") for layers in LAYERS]
    for layers, q in zip(LAYERS, qs):
        # Planted: C* rises exponentially from 100 to 3000 over the Q range.
        cstar = 100.0 * 30.0 ** ((q - qs[0]) / (qs[-1] - qs[0]))
        for critic in CRITICS:
            for seed in range(4):
                score = (1.0 + 0.05 * (critic / cstar) ** -1.5) * math.exp(
                    0.02 * rng.normal())
                status = "converged" if layers < 8 else "unstable"
                store.put(RunResult.from_dict(_record(f"q3x{layers}", "quantum", q, critic,
                                                      seed, score, layers, status)))
    for cap, base in zip(CLASSICAL, (3.0, 2.0, 1.1, 0.9)):
        for critic in CRITICS:
            for seed in range(4):
                store.put(RunResult.from_dict(_record(
                    f"c{cap}@3", "classical", cap, critic, seed,
                    base * (1.0 + 0.05 * (critic / 300.0) ** -1.5))))
    return tmp_path


def test_report_shows_the_method_and_its_answers(study_dir, monkeypatch):
    monkeypatch.setattr(analysis, "POWER_REPS", 8)
    monkeypatch.setattr(analysis, "DESIGN_REPS", 4)
    monkeypatch.setattr(analysis, "G_BOOT", 4)
    paths = report.write_report(study_dir)
    text = paths["report"].read_text()
    for needle in ("## Design", "Quantum capacities Q", "## Primary endpoint and decision rule",
                   "`no_trend`", "converged", "C\\*(Q) knee", "knee 95% CI", "plateau",
                   "argmin (diagnostic)", "G\\*(Q) (exploratory)", "Excluded generators",
                   "`q3x8` (quantum): no converged run (28 unstable)", "Trend test",
                   "**Verdict:", "Sensitivity to the knee's tolerance",
                   "### Exploratory verdicts (Holm-adjusted p-values)",
                   "## Power of this design", "Monte-Carlo error"):
        assert needle in text, needle
    results = json.loads(paths["results"].read_text())["analysis"]
    assert len(results["quantum"]) == 7 and results["excluded"][0]["generator"] == "q3x8"
    primary = results["primary"]
    assert primary["verdict"] in ("exponential", "increasing, form undetermined")
    assert primary["trend"]["p_value"] < 0.05
    assert results["power"]["computed"] and results["power"]["n_rep"] == 8
    for name in ("critic_scaling", "score_vs_critic", "score_surface",
                 "classical_generator_scaling"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = paths["trials"].read_text().splitlines()[0].split(",")
    assert {"status", "learning_rate", "critic_budget", "critic_params"} <= set(header)


def test_report_with_the_fd_score(study_dir, monkeypatch):
    monkeypatch.setattr(analysis, "POWER_REPS", 4)
    monkeypatch.setattr(analysis, "DESIGN_REPS", 2)
    monkeypatch.setattr(analysis, "G_BOOT", 2)
    paths = report.write_report(study_dir, score_metric="fd")
    results = json.loads(paths["results"].read_text())
    assert results["analysis"]["score_metric"] == "fd"
    assert results["config"]["score_metric"] == "fd"
    best = min(e["score"] for e in results["analysis"]["quantum"])
    assert best == pytest.approx(20.0, rel=0.1)
    with pytest.raises(ValueError, match="score_metric"):
        report.write_report(study_dir, score_metric="kid")
