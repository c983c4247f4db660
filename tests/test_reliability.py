"""Reliability and security: safe model loading, stopping, locks, file modes, one-line errors.

Each test reproduces one way a hostile but realistic user broke the tools; the fault-injection
suite (full disks, kills, signals on a running study) is ``test_faults.py``.
"""
import errno
import json
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf import fsutil, interrupts
from qlsgan_tf.cli.common import clear_errors, describe_error
from qlsgan_tf.data import Sat4FormatError, convert_to_cache, load_sat4
from qlsgan_tf.safe_load import load_keras_model
from qlsgan_tf.study import lock as lock_lib
from qlsgan_tf.study import store as store_lib
from qlsgan_tf.study import tuner_state
from qlsgan_tf.training.callbacks import NaNGuard, StopOnRequest

REPO = pathlib.Path(__file__).resolve().parents[1]


def qlsgan(*args, env=None, timeout=300):
    """Runs the console entry point; TF_CPP_MIN_LOG_LEVEL left to the CLI."""
    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def _one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


# ------------------------------------------------------------------ loading model files
def _payload_model(marker):
    """A model whose Lambda layer touches ``marker`` when it is rebuilt from its bytecode."""
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]"
    return tf.keras.Sequential([tf.keras.Input((2,)),
                                tf.keras.layers.Lambda(eval(code))])  # noqa: S307


@pytest.fixture()
def hdf5_payload(tmp_path):
    """(HDF5 model file with a code payload, the payload's marker file)."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.h5"
    _payload_model(marker).save(path, save_format="h5")
    marker.unlink(missing_ok=True)
    return path, marker


def test_keras_own_loader_runs_the_payload(hdf5_payload):
    """The reference: Keras' load_model falls back to HDF5 and runs the Lambda's code."""
    path, marker = hdf5_payload
    tf.keras.models.load_model(path)
    assert marker.exists()


def test_hdf5_model_is_refused_under_any_name(hdf5_payload, tmp_path):
    from qlsgan_tf.training.run_dir import load_hybrid
    from qlsgan_tf.training.vae_fit import load_vae

    path, marker = hdf5_payload
    with pytest.raises(ValueError, match="evil.h5: not a .keras file"):
        load_keras_model(path)
    for name, loader in (("hybrid.keras", load_hybrid), ("vae.keras", load_vae)):
        run_dir = tmp_path / name.split(".")[0]
        run_dir.mkdir()
        shutil.copy(path, run_dir / name)
        with pytest.raises(ValueError, match=f"{name}: not a Keras .keras zip archive"):
            loader(run_dir)
    assert not marker.exists()


def test_keras_zip_with_lambda_is_refused_by_safe_mode(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "lambda.keras"
    _payload_model(marker).save(path)
    marker.unlink(missing_ok=True)
    with pytest.raises(ValueError, match="lambda.keras: not a readable Keras model"):
        load_keras_model(path)
    assert not marker.exists()


def test_safe_loader_reloads_a_real_model_and_checks_its_type(tmp_path):
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    path = tmp_path / "dense.keras"
    model.save(path)
    again = load_keras_model(path, expected_type=tf.keras.Sequential)
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy())
    with pytest.raises(ValueError, match="dense.keras holds a Sequential, not a Dense"):
        load_keras_model(path, expected_type=tf.keras.layers.Dense)
    fake = tmp_path / "fake.keras"
    with open(fake, "wb") as handle:
        handle.write(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="fake.keras: corrupt or truncated .keras archive"):
        load_keras_model(fake)


def test_cache_manifest_may_name_files_inside_the_cache_only(tmp_path, sat4_sample_dir):
    cache = tmp_path / "cache"
    convert_to_cache(sat4_sample_dir / "sat-4-sample.mat", cache)
    outside = tmp_path / "outside.npy"
    shutil.copy(cache / "train_images.npy", outside)
    manifest = json.loads((cache / "manifest.json").read_text())
    for name in (str(outside), "../outside.npy"):
        manifest["splits"]["train"]["images"] = name
        (cache / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(Sat4FormatError, match="not a file name inside the cache"):
            load_sat4(cache, "train")


# --------------------------------------------------------------------------- stopping
def test_signals_only_set_the_flag_and_handlers_are_restored():
    interrupts.reset()
    before = signal.getsignal(signal.SIGTERM)
    try:
        with interrupts.handle_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            assert interrupts.stop_requested() and interrupts.stop_reason() == "SIGTERM"
            with pytest.raises(interrupts.StudyInterrupted, match="SIGTERM"):
                try:
                    interrupts.check_stop()
                except Exception:  # noqa: BLE001  what KerasTuner does with trial errors
                    pytest.fail("StudyInterrupted was caught by `except Exception`")
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        interrupts.reset()
    assert not interrupts.stop_requested()


def test_stop_on_request_ends_fit_after_the_current_batch():
    class RequestAt(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == 3:
                interrupts.request_stop("test")

    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    counter, stopper = RequestAt(), StopOnRequest()
    try:
        history = model.fit(np.ones((64, 2)), np.ones(64), batch_size=4, epochs=5, verbose=0,
                            callbacks=[counter, stopper])
    finally:
        interrupts.reset()
    assert counter.batches == 3 and stopper.stopped and len(history.history["loss"]) == 1


# ------------------------------------------------------------------------ NaN guard
def test_nan_guard_ignores_kid_std_but_not_losses_or_fd():
    model = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
    guard = NaNGuard()
    guard.set_model(model)
    guard.on_train_begin()
    guard.on_epoch_end(0, {"c_loss": 0.5, "fd_sat4": 3.0, "kid": 0.1, "kid_std": float("nan")})
    assert not guard.failed
    guard.on_epoch_end(1, {"c_loss": 0.5, "fd_sat4": float("nan"), "kid_std": float("nan")})
    assert guard.failed and "fd_sat4" in guard.reason


# --------------------------------------------------------------------- tuner state
def test_damaged_tuner_state_is_set_aside_with_the_file_named(tmp_path):
    tuner = tmp_path / "tuner"
    (tuner / "capacity" / "trial_0000").mkdir(parents=True)
    (tuner / "capacity" / "oracle.json").write_text('{"ok": 1}')
    (tuner / "capacity" / "trial_0000" / "trial.json").write_text("")
    assert tuner_state.repair_tuner_state(tmp_path / "missing") is None
    lines = []
    aside = tuner_state.repair_tuner_state(tuner, log=lines.append)
    assert not tuner.exists() and (aside / "capacity" / "oracle.json").exists()
    assert len(lines) == 1 and "trial_0000/trial.json is empty or corrupt" in lines[0]
    assert tuner_state.damaged_files(aside) == [aside / "capacity" / "trial_0000" / "trial.json"]


# ---------------------------------------------------------------------------- lock
def test_second_plain_process_on_one_directory_is_refused(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from qlsgan_tf.study.lock import study_lock\n"
         f"with study_lock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(lock_lib.StudyLockedError,
                           match=f"another study process is using {tmp_path} "
                                 f"\\(pid {holder.pid}\\)"):
            with lock_lib.study_lock(tmp_path):
                pass
        with lock_lib.study_lock(tmp_path, role="worker"):  # workers share it by design
            pass
        proc = qlsgan("study", "--preset", "smoke", "--out", tmp_path)
        assert proc.returncode == 1
        line = _one_line(proc.stderr)
        assert f"another study process is using {tmp_path} (pid {holder.pid})" in line
    finally:
        holder.kill()
        holder.wait()
    with lock_lib.study_lock(tmp_path):  # released when its holder died
        pass


# ---------------------------------------------------------------------- file modes
@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_outputs_follow_the_umask(tmp_path, sat4_sample_dir, mask):
    from qlsgan_tf.training.images import plot_image_grid

    old = os.umask(mask)
    try:
        json_path = store_lib.atomic_write_json(tmp_path / "runs" / "r.json", {"a": 1})
        png = plot_image_grid(np.zeros((4, 28, 28, 4), np.uint8), tmp_path / "grid.png", "t")
        cache = tmp_path / "cache"
        convert_to_cache(sat4_sample_dir / "sat-4-sample.mat", cache)
    finally:
        os.umask(old)
    for path in (json_path, png, cache / "manifest.json", cache / "train_images.npy"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
    assert stat.S_IMODE(cache.stat().st_mode) == 0o777 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_a_write_killed_midway_is_neither_a_run_nor_left_behind(tmp_path):
    """SIGKILL between mkstemp and rename leaves a half-written ``.json`` temporary: the store
    does not list it as a run, and the next study start removes it (a live writer's stays)."""
    store = store_lib.ResultStore(tmp_path)
    store_lib.atomic_write_json(store.runs_dir / "a.json", {"a": 1})
    writer = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; from qlsgan_tf.study import store as s\n"
         "def write(tmp):\n    open(tmp, 'w').write('{\"half')\n    os.kill(os.getpid(), 9)\n"
         "s.atomic_write_file(sys.argv[1], write)", str(store.runs_dir / "b.json")],
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert writer.wait(timeout=120) == -signal.SIGKILL
    live = store.runs_dir / f"{fsutil.partial_prefix('c.json')}x1y2.json"  # this process's
    live.write_text("{")
    left = [p for p in store.runs_dir.iterdir() if p.name.startswith(".b.json")]
    assert len(left) == 1 and left[0].suffix == ".json"
    assert store.keys() == {"a"}
    assert store.remove_dead_partials() == left
    assert sorted(p.name for p in store.runs_dir.iterdir()) == [live.name, "a.json"]


# ----------------------------------------------------------------- one-line errors
def _boundary_line(capsys, error):
    with pytest.raises(SystemExit) as exit_info:
        with clear_errors("study"):
            raise error
    return exit_info.value.code, _one_line(capsys.readouterr().err)


def test_every_expected_failure_is_one_line(capsys):
    import keras_tuner

    full = OSError(errno.ENOSPC, "No space left on device", "/out/runs/x.json")
    code, line = _boundary_line(capsys, full)
    assert code == 1 and "/out/runs/x.json: No space left on device; free some space" in line
    try:
        raise keras_tuner.errors.FatalError("trial 3 stopped the search") from full
    except keras_tuner.errors.FatalError as wrapped:
        code, line = _boundary_line(capsys, wrapped)
    assert code == 1 and "No space left on device" in line
    code, line = _boundary_line(capsys, tf.errors.ResourceExhaustedError(
        None, None, "{{function_node __wrapped__FlushSummaryWriter}} /out/logs/events; No "
                    "space left on device\n  more detail"))
    assert code == 1 and line.endswith("ResourceExhaustedError: /out/logs/events; No space "
                                       "left on device; free some space and rerun (finished "
                                       "work is kept)")
    code, line = _boundary_line(capsys, interrupts.StudyInterrupted("SIGTERM"))
    assert code == 130 and "interrupted (SIGTERM)" in line
    assert describe_error(RuntimeError("a bug")) is None  # bugs keep their traceback


def test_usage_error_before_the_handler_is_one_line(tmp_path):
    proc = qlsgan("study", "--out", tmp_path / "x", "extra")
    assert proc.returncode == 2
    assert "unexpected arguments: extra" in _one_line(proc.stderr)


def test_tf_start_up_logs_are_silenced(tmp_path):
    proc = qlsgan("sample", tmp_path / "missing.keras")
    assert proc.returncode == 1 and "no saved hybrid model" in _one_line(proc.stderr)


def _study_dir(tmp_path):
    from qlsgan_tf.study import presets

    out = tmp_path / "study"
    store_lib.ResultStore(out).pin_config(presets.make_config("smoke"))
    return out


def test_report_names_a_run_file_without_its_keys(tmp_path):
    from qlsgan_tf.study import report

    out = _study_dir(tmp_path)
    store_lib.atomic_write_json(out / "runs" / "q2x1__c20__s0.json",
                                {"generator": "q2x1", "critic_capacity": 20, "seed": 0})
    with pytest.raises(ValueError, match=r"q2x1__c20__s0.json: not a finished-run record "
                                         r"\(no 'kind'\); delete the file"):
        report.write_report(out)
    proc = qlsgan("report", out)
    assert proc.returncode == 1 and "q2x1__c20__s0.json" in _one_line(proc.stderr)


def test_report_names_a_prepared_json_that_is_a_list(tmp_path):
    from qlsgan_tf.study import records

    (tmp_path / "prepared.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="prepared.json: corrupt .a JSON list, expected an "
                                         "object.; delete it and rerun"):
        records.load_prepared(tmp_path / "prepared.json")


def test_train_gan_rejects_infinite_learning_rates(tmp_path):
    proc = qlsgan("train-gan", tmp_path, "--vae", tmp_path, "--out", tmp_path / "o",
                  "--g_lr", "inf")
    assert proc.returncode == 2 and "--g_lr must be a finite number > 0" in _one_line(proc.stderr)


# ---------------------------------------------------------------- cache integrity
@pytest.fixture()
def flipped_cache(tmp_path, sat4_sample_dir):
    cache = tmp_path / "cache"
    convert_to_cache(sat4_sample_dir / "sat-4-sample.mat", cache)
    raw = bytearray((cache / "train_images.npy").read_bytes())
    raw[-7] ^= 0x10
    (cache / "train_images.npy").write_bytes(bytes(raw))
    return cache


def test_data_info_verify_and_convert_refuse_a_corrupt_cache(tmp_path, flipped_cache):
    proc = qlsgan("data-info", flipped_cache, "--verify")
    assert proc.returncode == 1 and "sha256 checksum mismatch" in _one_line(proc.stderr)
    proc = qlsgan("convert-data", flipped_cache, tmp_path / "again")
    assert proc.returncode == 1 and "train_images.npy: corrupt cache" in _one_line(proc.stderr)
    assert not (tmp_path / "again").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_cache_with_extra_bytes_is_refused(flipped_cache):
    with open(flipped_cache / "test_images.npy", "ab") as handle:
        handle.write(b"\0" * 3136)
    with pytest.raises(Sat4FormatError, match="test_images.npy: corrupt cache file: .* bytes"):
        load_sat4(flipped_cache, "test", verify=False)


# ----------------------------------------------------------- unreadable and odd files
def test_fifo_is_refused_not_hung_on(tmp_path):
    fifo = tmp_path / "sat.mat"
    os.mkfifo(fifo)
    code = ("from qlsgan_tf.data import load_sat4\n"
            f"try:\n    load_sat4({str(fifo)!r})\nexcept ValueError as err:\n    print(err)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert "not a regular file (a FIFO, device or socket)" in proc.stdout, proc.stderr


def test_unreadable_file_is_permission_denied_not_corrupt(sat4_sample_dir):
    """As root (who reads everything) the check runs with an unprivileged effective uid."""
    where = pathlib.Path(tempfile.mkdtemp(prefix="qlsgan-perm-"))  # reachable by any user
    os.chmod(where, 0o755)
    paths, messages = [], []
    as_root = os.geteuid() == 0
    try:
        shutil.copy(sat4_sample_dir / "y_train_sat4.csv", where / "y_train_sat4.csv")
        for name in ("sat-4-sample.mat", "X_train_sat4.csv"):
            shutil.copy(sat4_sample_dir / name, where / name)
            load_sat4(where / name)  # readable: loads (and imports every reader module)
            os.chmod(where / name, 0o000)
            paths.append(where / name)
        if as_root:
            try:
                os.seteuid(65534)
            except OSError as err:  # a user-namespace sandbox (Bazel's) maps no other uid
                pytest.skip(f"cannot drop root privileges here ({err}), and root reads any file")
        try:
            for path in paths:
                with pytest.raises(PermissionError) as info:
                    load_sat4(path)
                messages.append(str(info.value))
        finally:
            if as_root:
                os.seteuid(0)
    finally:
        shutil.rmtree(where)
    for path, message in zip(paths, messages):
        assert message == f"{path}: permission denied (unreadable SAT-4 data file)"


# ------------------------------------------------------------------- trial errors
def test_a_trial_error_ends_the_search_instead_of_an_invalid_trial(tmp_path):
    import keras_tuner

    from qlsgan_tf.tuning.trial_errors import FailFast

    class FullDiskTuner(FailFast, keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r.json"))

    def build(hp):
        hp.Int("x", 0, 3)
        return None

    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("score", "min"), max_trials=3, seed=0)
    tuner = FullDiskTuner(oracle=oracle, hypermodel=build, directory=str(tmp_path),
                          project_name="p")
    with pytest.raises(keras_tuner.errors.FatalError) as info:
        tuner.search()
    assert isinstance(info.value.__cause__, OSError)
    assert describe_error(info.value).startswith(f"{tmp_path / 'r.json'}: No space left")


def test_convert_removes_partial_caches_of_killed_conversions(tmp_path, sat4_sample_dir):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".cache.partial-{dead.stdout.strip()}-abc123"
    stale.mkdir()
    (stale / "train_images.npy").write_bytes(b"\0" * 100)
    alive = tmp_path / f".cache.partial-{os.getpid()}-def456"  # a conversion still running
    alive.mkdir()
    convert_to_cache(sat4_sample_dir / "sat-4-sample.mat", tmp_path / "cache")
    assert not stale.exists() and alive.exists()
