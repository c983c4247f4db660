"""Run records: RunResult's JSON round trip (inf and NaN included), the one codec, and run
files of earlier versions of the study still loading."""
import json
import math

import pytest

from qlsgan_tf import jsoncodec
from qlsgan_tf.study import presets, records
from qlsgan_tf.study import store as store_lib
from qlsgan_tf.tuning.results import RecordError, RunResult


def diverged():
    """A run that blew up: inf and NaN in its measurements, no score."""
    return RunResult(
        generator="q3x2", kind="quantum", n_qubits=3, n_layers=2, latent_dim=3,
        generator_capacity=66, critic_budget=200, critic_params=197, critic_units=(12, 8),
        seed=1, learning_rate=2e-3, status="failed", status_reasons=("losses turned NaN/inf",),
        latent_method="swd", latent_floor=0.02,
        latent_score_history=((20, 0.5), (40, math.nan)),
        fd_history=((1, 30.0, 0.1), (2, math.inf, math.nan)), fd_score=None,
        final_fd=math.inf, fd_std_last_k=math.inf, final_kid=math.nan, latent_fd=-math.inf,
        c_loss_history=(1.0, math.nan), g_loss_history=(0.5, math.inf), epochs_run=2,
        time_s=3.0, pack_size=8, tuner_id="tuner0")


def same(a, b):
    """Equal field by field, NaN equal to NaN."""
    return jsoncodec.dumps(a.to_dict(), sort_keys=True) == jsoncodec.dumps(b.to_dict(),
                                                                            sort_keys=True)


def test_json_round_trip_keeps_inf_and_nan():
    run = diverged()
    text = jsoncodec.dumps(run.to_dict())
    raw = json.loads(text, parse_constant=pytest.fail)  # strict JSON: no bare NaN/Infinity
    assert raw["final_fd"] == "inf" and raw["final_kid"] == "nan" and raw["latent_fd"] == "-inf"
    assert raw["fd_score"] is None and raw["critic_budget"] == 200 and raw["critic_params"] == 197
    back = RunResult.from_dict(jsoncodec.loads(text))
    assert same(back, run)
    assert back.final_fd == math.inf and math.isnan(back.final_kid)
    assert math.isnan(back.latent_score_history[1][1]) and back.fd_history[1][1] == math.inf
    assert back.failed and not back.stable and back.failure_reason == "losses turned NaN/inf"
    assert back.time_per_epoch_s == 1.5 and math.isnan(back.metric_score("latent"))


def test_store_writes_and_reads_results(tmp_path):
    store = store_lib.ResultStore(tmp_path)
    run = diverged()
    path = store.put(run)
    assert path.name == f"{run.key}.json" == "q3x2__c200__s1__lr0.002.json"
    assert same(store.get("q3x2", 200, 1, 2e-3), run)
    assert same(records.load_runs(store)[0], run)


def test_converged_run_scores_by_metric():
    run = RunResult(generator="c60@3", kind="classical", latent_dim=3, generator_capacity=61,
                    critic_budget=30, seed=0, status="converged", score=0.2, fd_score=12.0)
    assert run.metric_score("latent") == 0.2 and run.metric_score("fd") == 12.0
    assert run.stable and not run.failed and run.failure_reason == ""
    with pytest.raises(ValueError, match="metric must be one of"):
        run.metric_score("kid")


OLD_RUN = """{
  "generator": "q2x1", "kind": "quantum", "n_qubits": 2, "n_layers": 1, "latent_dim": 2,
  "generator_capacity": 24, "critic_capacity": 20, "seed": 0, "stable": true,
  "failed": false, "score": 31.5, "final_fd": %s, "fd_history": [[0, 40.0, 0.2], [1, %s, 0.1]]
}"""


@pytest.mark.parametrize("final_fd, history_fd, expect", [
    ('"inf"', '"nan"', (math.inf, math.nan)),  # the store's strings
    ("Infinity", "NaN", (math.inf, math.nan)),  # Python's bare tokens
    ("null", "null", (math.nan, math.nan)),  # null in a measured float: nothing measured
])
def test_run_files_of_earlier_versions_load(tmp_path, final_fd, history_fd, expect):
    store = store_lib.ResultStore(tmp_path)
    store.pin_config(presets.make_config("smoke"))
    store.runs_dir.mkdir()
    (store.runs_dir / "q2x1__c20__s0.json").write_text(OLD_RUN % (final_fd, history_fd))
    (run,) = records.load_runs(store)
    assert run.critic_budget == 20 and run.critic_params is None  # critic_capacity: the budget
    assert run.status == "converged" and run.learning_rate is None
    assert run.score == 31.5 and run.fd_score == 31.5  # before statuses, the score was FD-SAT4's
    for got, want in zip((run.final_fd, run.fd_history[1][1]), expect):
        assert got == want or (math.isnan(got) and math.isnan(want))
    assert store.get("q2x1", 20, 0).key == "q2x1__c20__s0"


def test_statuses_of_records_without_one():
    base = {"generator": "q2x1", "kind": "quantum", "latent_dim": 2, "generator_capacity": 24,
            "critic_capacity": 20, "seed": 0, "score": None}
    assert RunResult.from_dict(dict(base, stable=False, failed=True)).status == "failed"
    assert RunResult.from_dict(dict(base, stable=False)).status == "unstable"
    with pytest.raises(RecordError, match="no 'status' and no 'stable'"):
        RunResult.from_dict(base)


@pytest.mark.parametrize("record, message", [
    ([1, 2], "not a run record"),
    ({"generator": "q2x1", "critic_capacity": 20, "seed": 0}, "no 'kind'"),
    ({"generator": "q2x1", "kind": "quantum", "latent_dim": 2, "generator_capacity": 24,
      "critic_budget": 20, "seed": "0", "score": None, "status": "failed"}, "'seed' is '0'"),
    ({"generator": "q2x1", "kind": "quantum", "latent_dim": True, "generator_capacity": 24,
      "critic_budget": 20, "seed": 0, "score": None, "status": "failed"}, "'latent_dim' is True"),
])
def test_records_that_are_not_runs_are_named(tmp_path, record, message):
    with pytest.raises(RecordError, match=message):
        RunResult.from_dict(record)
    path = tmp_path / "runs" / "x.json"
    store_lib.atomic_write_json(path, record)
    with pytest.raises(ValueError, match=r"x.json: .*delete the file"):
        store_lib.read_run(path)


def test_codec_encodes_numpy_and_refuses_unknown_objects():
    import numpy as np

    assert jsoncodec.dumps({"a": np.float32(np.inf), "b": np.array([1.0, np.nan]),
                            "c": (np.int64(3),)}) == '{"a": "inf", "b": [1.0, "nan"], "c": [3]}'
    with pytest.raises(TypeError):
        jsoncodec.dumps({"a": object()})
