"""A study's identity, reproducible tuning, bounded inputs, and model files that hold data only.

One test (or more) per way a study was found mixed, irreproducible or unbounded; most run
without training (a pinned study directory, a crafted file), the CLI through
``python -m qlsgan_tf.cli.main`` from this checkout.
"""
import io
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
import scipy.io

from qlsgan_tf import interrupts
from qlsgan_tf.study import identity as identity_lib
from qlsgan_tf.study import lock as lock_lib
from qlsgan_tf.study import presets, runner, tuner_state
from qlsgan_tf.study import store as store_lib
from qlsgan_tf.tuning.results import RunResult

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--preset", "smoke", "--quantum_grid", "2x1", "--critic_capacities", "20",
        "--classical_capacities", "15", "--verbose", "0"]


def qlsgan(*args, env=None, timeout=300):
    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO))
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT",
                "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          check=False, cwd=REPO)


def _one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


@pytest.fixture()
def other_mat(tmp_path, sat4_sample_dir):
    """The sample with inverted pixels: another data set of the same shape."""
    sample = scipy.io.loadmat(sat4_sample_dir / "sat-4-sample.mat")
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {k: (255 - v if k.endswith("_x") else v) for k, v in sample.items()
                            if not k.startswith("__")})
    return path


# --------------------------------------------------------------- 1, 11: identity
def _config(**overrides):
    return presets.make_config("smoke", quantum_grid=[(2, 1)], critic_capacities=[20],
                               classical_capacities=[15], **overrides)


def test_resume_with_other_data_is_refused_naming_it(tmp_path, sat4_sample_dir, other_mat):
    out = tmp_path / "study"
    config = _config()
    store_lib.ResultStore(out).pin_config(
        config, identity_lib.study_identity(config, sat4_sample_dir))
    pinned = (out / "study.json").read_bytes()
    proc = qlsgan("study", *TINY, "--out", out, "--data", other_mat)
    assert proc.returncode == 1
    line = _one_line(proc.stderr)
    assert "other settings or inputs: the data (--data) differ" in line
    assert (out / "study.json").read_bytes() == pinned
    assert sorted(p.name for p in out.iterdir()) == [".lock", "study.json"]


def test_identity_items_each_named_and_old_study_json_adopts_them(tmp_path, sat4_sample_dir,
                                                                  other_mat):
    config = _config()
    ident = identity_lib.study_identity(config, sat4_sample_dir)
    assert ident["data"] != identity_lib.study_identity(config, other_mat)["data"]
    store = store_lib.ResultStore(tmp_path)
    # A study.json written before the identity was recorded: adopted on the first resume.
    store_lib.atomic_write_json(store.config_path, {"fingerprint": config.fingerprint(),
                                                    "config": config.to_dict()})
    assert store.pin_config(config, ident) is False
    assert store_lib.read_json(store.config_path)["identity"]["data"] == ident["data"]
    with pytest.raises(ValueError, match=r"the data \(--data\), the feature network's weights "
                                         r"\(--feature_net\) differ"):
        store.pin_config(config, dict(ident, data="sha256:x", feature_net="sha256:y"))
    assert store.pin_config(config, ident) is False


@pytest.mark.parametrize("flag, value, expected", [
    ("--vae", "/nonexistent", "--vae /nonexistent: no trained VAE"),
    ("--feature_net", "/nonexistent", "--feature_net /nonexistent: not a feature network"),
    ("--seeds", "-1", "--seeds: seeds entry must be an int in [0, 2147483647], got -1"),
])
def test_a_typo_writes_nothing(tmp_path, flag, value, expected):
    out = tmp_path / "study"
    proc = qlsgan("study", *TINY, "--out", out, flag, value)
    assert proc.returncode in (1, 2)
    assert expected in _one_line(proc.stderr)
    assert not out.exists()


# ------------------------------------------------------------------ 4, 8: bounds
@pytest.mark.parametrize("override, message", [
    (dict(lanes=10**9), "lanes must be an int <= 64"),
    (dict(refine_points=10**9), "refine_points must be an int <= 64"),
    (dict(quantum_grid=[(26, 1)]), "quantum_grid entry 26x1 is too large: at most 20 qubits"),
    (dict(quantum_grid=[(40, 1)]), "quantum_grid entry 40x1 is too large"),
    (dict(quantum_grid=[(2, 1), (2, 1)]), "quantum_grid has repeated entries: 2x1"),
    (dict(seeds=[99999999999999999999]), "seeds entry must be an int in"),
    (dict(seeds=[-1]), "seeds entry must be an int in"),
    (dict(critic_capacities=[10**12]), "critic_capacities entry must be an int in"),
    (dict(epochs=10**9), "epochs must be an int <= "),
])
def test_every_setting_is_bounded(override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        presets.make_config("smoke", **override)


def test_bounds_are_checked_before_any_work_and_name_the_flag(tmp_path):
    start = time.monotonic()
    proc = qlsgan("study", *TINY, "--out", tmp_path / "x", "--lanes", "1000000000",
                  "--dry_run")
    assert proc.returncode == 2 and time.monotonic() - start < 120
    assert "--lanes: lanes must be an int <= 64" in _one_line(proc.stderr)
    proc = qlsgan("study", "--preset", "smoke", "--out", tmp_path / "x", "--quantum_grid",
                  "2x1,2x1")
    assert proc.returncode == 2
    assert "--quantum_grid: quantum_grid has repeated entries: 2x1" in _one_line(proc.stderr)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------- 2: reproducible tuning
def test_every_oracle_gets_an_explicit_nonzero_seed(tmp_path):
    from qlsgan_tf.tuning import capacity

    settings = _config(seeds=[0]).training_settings()
    tuner = capacity.make_tuner(settings, tmp_path)
    assert tuner.oracle.seed == 1
    settings = _config(seeds=[7]).training_settings()
    tuner = capacity.make_tuner(settings, tmp_path / "b")
    assert tuner.oracle.seed == 8


def test_the_same_command_gives_the_same_tuned_vae(tmp_path, sat4_sample_dir):
    from qlsgan_tf.data import load_sat4
    from qlsgan_tf.training import vae_fit
    from qlsgan_tf.tuning.vae import tune_vae

    train = load_sat4(sat4_sample_dir, split="train", max_images=24)
    test = load_sat4(sat4_sample_dir, split="test", max_images=8)
    results = []
    for name in ("a", "b"):
        _, metrics = tune_vae(train, tmp_path / name, test_data=test, max_trials=2,
                              tuning_epochs=1, epochs=1, latent_dim=2, seed=0, augment=False,
                              verbose=0)
        model = vae_fit.load_vae(tmp_path / name)
        results.append((metrics["hyperparameters"], model.get_weights()))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- 3: the run store
def test_a_trial_counted_done_whose_runs_are_missing_is_rebuilt(tmp_path):
    tuner = tmp_path / "tuner"
    for i, label in enumerate(("q2x1", "c15@2")):
        trial = tuner / "capacity" / f"trial_{i}"
        trial.mkdir(parents=True)
        (trial / "trial.json").write_text(json.dumps({
            "trial_id": str(i), "status": "COMPLETED",
            "hyperparameters": {"values": {"generator": label}}}))
    assert tuner_state.reconcile_with_runs(tuner, {"q9x9"}) is None  # agrees with the store
    lines = []
    aside = tuner_state.reconcile_with_runs(tuner, {"c15@2"}, log=lines.append)
    assert not tuner.exists() and aside.name.startswith("tuner.stale-")
    assert len(lines) == 1 and "counts c15@2 as done" in lines[0]


def test_the_resume_line_counts_grid_runs_only():
    config = _config(seeds=[0, 1])
    grid = runner.grid_keys(config)
    assert len(grid) == config.n_runs() == 4
    assert all(key.endswith("__lr0.0002") for key in grid)


# ------------------------------------------------------------- 5: distributed
def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker_env(port, timeout):
    env = dict(os.environ, PYTHONPATH=str(REPO), KERASTUNER_TUNER_ID="tuner0",
               KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
               QLSGAN_CHIEF_TIMEOUT=str(timeout))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def test_a_worker_without_its_chief_fails_in_bounded_time(tmp_path):
    cmd = [sys.executable, "-m", "qlsgan_tf.cli.main", "study", *TINY, "--out",
           tmp_path / "study"]
    start = time.monotonic()
    proc = subprocess.run(list(map(str, cmd)), env=_worker_env(_free_port(), 3),
                          capture_output=True, text=True, timeout=200, cwd=REPO)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert time.monotonic() - start < 150
    line = _one_line(proc.stderr)
    assert "no answer from the chief oracle at 127.0.0.1:" in line and "for 3 s" in line
    assert not (tmp_path / "study" / "prepared.json").exists()  # nothing prepared first


def test_sigterm_ends_a_worker_waiting_for_its_chief(tmp_path):
    cmd = [sys.executable, "-m", "qlsgan_tf.cli.main", "study", *TINY, "--out",
           tmp_path / "study"]
    proc = subprocess.Popen(list(map(str, cmd)), env=_worker_env(_free_port(), 300),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    waiting = threading.Event()

    def watch():
        for line in proc.stdout:
            if "waiting for the chief oracle" in line:
                waiting.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        # A worker that never says it waits is signalled all the same after the deadline.
        waiting.wait(timeout=180)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker ignored SIGTERM while waiting for its chief")
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert waiting.is_set(), "the worker never said it was waiting for its chief"
    assert proc.returncode == 130
    assert "interrupted (SIGTERM)" in _one_line(stderr)


def test_a_dead_chief_is_detected_and_a_stop_is_honoured():
    import grpc

    from qlsgan_tf.tuning import chief

    class Unavailable(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.UNAVAILABLE

        def details(self):
            return "connection refused"

    calls = []

    def rpc(timeout):
        calls.append(timeout)
        raise Unavailable()

    with pytest.raises(chief.ChiefUnreachableError, match="no answer from the chief oracle"):
        chief.call_chief(rpc, "CreateTrial", limit=0.5)
    assert calls and max(calls) <= chief.ATTEMPT_S
    interrupts.request_stop("SIGTERM")
    try:
        with pytest.raises(interrupts.StudyInterrupted):
            chief.call_chief(rpc, "CreateTrial", limit=60)
    finally:
        interrupts.reset()


# ------------------------------------------------------------- 6, 7: model files
def _saved_model(path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    model.save(path)
    return path


def _rewrite(src, dest, config=None, extra=()):
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dest, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name == "config.json" and config is not None:
                data = json.dumps(config(json.loads(data))).encode()
            new.writestr(name, data)
        for name, data in extra:
            new.writestr(name, data)
    return dest


def test_a_model_file_cannot_import_a_module(tmp_path, monkeypatch):
    from qlsgan_tf.safe_load import load_keras_model

    marker = tmp_path / "imported"
    (tmp_path / "payload_mod.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    base = _saved_model(tmp_path / "base.keras")
    for module in ("payload_mod", "this"):
        evil = _rewrite(base, tmp_path / f"{module}.keras",
                        config=lambda c, m=module: dict(c, module=m))
        stdout = io.StringIO()
        with pytest.raises(ValueError) as err, pytest.MonkeyPatch.context() as mp:
            mp.setattr(sys, "stdout", stdout)
            load_keras_model(evil)
        message = str(err.value)
        assert f"'{module}'.'Sequential' is neither one of Keras' classes" in message
        assert len(message) < 400 and "\n" not in message
        assert "Beautiful is better" not in stdout.getvalue()
    assert not marker.exists() and "payload_mod" not in sys.modules


def test_sample_refuses_the_module_trick_in_one_short_line(tmp_path):
    base = _saved_model(tmp_path / "base.keras")
    evil = _rewrite(base, tmp_path / "hybrid.keras", config=lambda c: dict(c, module="this"))
    proc = qlsgan("sample", evil, "--out", tmp_path / "s.png")
    assert proc.returncode == 1
    assert "Beautiful is better" not in proc.stdout + proc.stderr
    line = _one_line(proc.stderr)
    assert "'this'" in line and len(line) < 500


def test_a_large_member_is_refused_before_extraction(tmp_path):
    from qlsgan_tf.safe_load import load_keras_model

    base = _saved_model(tmp_path / "base.keras")
    bomb = tmp_path / "bomb.keras"
    shutil.copy(base, bomb)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("assets/zeros.bin", "w", force_zip64=True) as member:
        block = bytes(2**20)
        for _ in range(100):  # 100 MiB of zeros: about 100 KB in the archive
            member.write(block)
    assert bomb.stat().st_size < 2 * 2**20
    before = set(os.listdir(tmp_path))
    with pytest.raises(ValueError, match="uncompressed, more than .*refusing to extract it"):
        load_keras_model(bomb)
    assert set(os.listdir(tmp_path)) == before


def test_keras_staging_directories_are_private_and_removed(tmp_path, monkeypatch):
    import tempfile

    from keras.src.saving import saving_lib

    from qlsgan_tf.safe_load import load_keras_model, save_keras_model

    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    base = _saved_model(tmp_path / "base.keras")
    four = _rewrite(base, tmp_path / "four.keras", extra=[("assets/note.txt", b"x")])
    load_keras_model(four)  # Keras extracts a 4-member archive whole
    assert list(system_tmp.iterdir()) == []

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(saving_lib, "_save_state", full_disk)
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space"):
        save_keras_model(model, out / "vae.keras")
    assert list(system_tmp.iterdir()) == [] and list(out.iterdir()) == []


# ------------------------------------------------------------------- 9: reports
def _run(critic, seed):
    return RunResult(generator="q2x1", kind="quantum", latent_dim=2, generator_capacity=8,
                     critic_budget=critic, seed=seed, learning_rate=2e-4, status="converged",
                     score=0.1, fd_score=2.0, final_fd=2.0)


def test_a_late_report_never_replaces_one_made_from_more_runs(tmp_path):
    from qlsgan_tf.study import report

    store = store_lib.ResultStore(tmp_path)
    store.pin_config(_config())
    store.put(_run(20, 0))
    store_lib.atomic_write_json(tmp_path / "prepared.json", {
        "vaes": {}, "floor": {"fd": 1.0}, "data": {}, "feature_net": {}, "baselines": {}})
    final = {"analysis": {"n_runs": 2}, "plots": {"scores": "plots/scores.png"}}
    store_lib.atomic_write_json(tmp_path / "results.json", final)
    (tmp_path / "report.md").write_text("final report\n")
    paths = report.write_report(tmp_path)  # a report of 1 run, after one of 2
    assert paths["report"] == tmp_path / "report.md"
    assert paths["scores"] == tmp_path / "plots" / "scores.png"
    assert json.loads((tmp_path / "results.json").read_text()) == final
    assert (tmp_path / "report.md").read_text() == "final report\n"


# ----------------------------------------------------------------- 10: the lock
def test_the_lock_covers_a_vae_comparison(tmp_path, sat4_sample_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from qlsgan_tf.study.lock import study_lock\n"
         f"with study_lock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert holder.stdout.readline().strip() == "held"
        for vaes in (("nominal", "tuned"), ("tuned", "nominal")):
            with pytest.raises(lock_lib.StudyLockedError, match="another study process"):
                runner.run_vae_comparison(_config(), vaes, sat4_sample_dir, tmp_path)
        assert not list(tmp_path.glob("vae-*"))
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------- 12: cosmetics
def test_no_reloading_banner_on_stdout(tmp_path, capsys):
    from qlsgan_tf.tuning import capacity

    settings = _config().training_settings()
    for _ in range(2):
        tuner = capacity.make_tuner(settings, tmp_path)
        tuner.save()
    assert "Reloading" not in capsys.readouterr().out


def test_a_copied_study_reports_its_own_files():
    from qlsgan_tf.study import prepare

    old = {"vaes": {"2": {"kind": "nominal", "path": "/old/place/vae/latent2"},
                    "3": {"kind": "given", "path": "/models/vae"}},
           "feature_net": {"source": "trained on the study's data (/old/place/feature_net)"}}
    shown = json.dumps(prepare.portable(old))
    assert "/old/place" not in shown and "vae/latent2" in shown and "/models/vae" in shown


def test_a_cache_file_linked_outside_the_cache_is_refused(tmp_path, sat4_sample_dir):
    from qlsgan_tf.data import Sat4FormatError, convert_to_cache, load_sat4

    cache = tmp_path / "cache"
    convert_to_cache(sat4_sample_dir / "sat-4-sample.mat", cache)
    outside = tmp_path / "outside.npy"
    images = next(cache.glob("train_images*.npy"))
    shutil.move(images, outside)
    images.symlink_to(outside)
    with pytest.raises(Sat4FormatError, match="a link leading outside the cache directory"):
        load_sat4(cache, split="train")


def test_report_regenerates_a_vae_comparison(tmp_path):
    for name in ("nominal", "tuned"):
        out = tmp_path / f"vae-{name}"
        store = store_lib.ResultStore(out)
        store.pin_config(_config(vae=name))
        store.put(_run(20, 0))
        store_lib.atomic_write_json(out / "prepared.json", {
            "vaes": {"2": {"kind": name, "test_mse": 0.1}}, "floor": {"fd": 1.0}, "data": {},
            "feature_net": {}, "baselines": {}})
        # Reports made from more runs are kept (test above): only the comparison is new.
        store_lib.atomic_write_json(out / "results.json", {"analysis": {"n_runs": 9}})
    proc = qlsgan("report", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "vae_comparison.md").exists()
    assert "nominal report:" in proc.stdout and "vae comparison:" in proc.stdout
