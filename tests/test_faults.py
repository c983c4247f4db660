"""Fault injection on a tiny study through the CLI: signals, SIGKILL, full disks, damaged state.

After every fault: each study file is whole or absent, the error is one line naming the file
and the fix, and a rerun resumes without losing or repeating a finished run. The disk-full
cases mount a small tmpfs (root only; skipped with the reason elsewhere).
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

GRID = ["--quantum_grid", "2x1", "--critic_capacities", "20,120", "--classical_capacities",
        "15", "--seeds", "0"]
# Run keys end in the learning rate (the smoke preset's one).
EXPECTED = sorted(f"{g}__c{c}__s0__lr0.0002" for g in ("q2x1", "c15@2") for c in (20, 120))
# Files every reader relies on; each must parse whenever it exists.
STATE = ("study.json", "prepared.json", "results.json")


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT",
                "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(key, None)
    return env


def _study(out, data, *extra):
    return [sys.executable, "-m", "qlsgan_tf.cli.main", "study", "--preset", "smoke", "--out",
            str(out), "--verbose", "0", "--data", str(data), *GRID, *extra]


def _start(cmd):
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _run(cmd, timeout=600):
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _wait_for(proc, condition, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"exited early:\n{proc.stderr.read()[-3000:]}"
        assert time.time() < deadline, "timed out waiting for the study"
        time.sleep(0.05)


def _error_line(stderr, command="study"):
    """The one line the CLI printed; nothing else from it, no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"qlsgan {command}:"), stderr[-3000:]
    return lines[0]


def _keys(out):
    return sorted(p.stem for p in (out / "runs").glob("*.json"))


def _snapshot(out):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "runs").glob("*.json")}


def _assert_whole(out):
    """Every record parses; no KerasTuner/temporary file would be read as one."""
    for path in list((out / "runs").glob("*.json")) + [out / name for name in STATE]:
        if path.exists():
            json.loads(path.read_text())
    for path in (out / "vae").rglob("vae.keras") if (out / "vae").exists() else []:
        assert path.read_bytes()[:4] == b"PK\x03\x04"


def _assert_resumes(out, data, finished):
    """A rerun completes, keeps every finished run untouched and trains only the rest."""
    proc = _run(_study(out, data))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _keys(out) == EXPECTED
    for name, (mtime, content) in finished.items():
        path = out / "runs" / name
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content
    assert json.loads((out / "results.json").read_text())["analysis"]["n_runs"] == len(EXPECTED)
    return proc


def _copy_prepared(base, dest):
    """The study directory as it was once prepared: VAE and prepared.json, no runs."""
    shutil.copytree(base, dest, ignore=shutil.ignore_patterns(
        "runs", "tuner", "logs", "plots", "results.json", "report.md", "trials.csv", ".lock"))
    for npy in (dest / "samples").glob("*.npy"):
        if npy.name != "real.npy":
            npy.unlink()
    return dest


@pytest.fixture(scope="module")
def base(tmp_path_factory, sat4_sample_dir):
    """A finished tiny study, made by SIGTERM during VAE training and a resume.

    Returns (out, the interrupted process's (returncode, stderr), files then).
    """
    out = tmp_path_factory.mktemp("faults") / "base"
    proc = _start(_study(out, sat4_sample_dir))
    _wait_for(proc, lambda: (out / "vae" / "latent2" / "logs").exists())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    state = {"vae.keras": (out / "vae" / "latent2" / "vae.keras").exists(),
             "prepared.json": (out / "prepared.json").exists()}
    _assert_whole(out)
    _assert_resumes(out, sat4_sample_dir, {})
    return out, (proc.returncode, stderr), state


def test_sigterm_during_vae_training_exits_130_and_resumes(base):
    _, (returncode, stderr), state = base
    assert returncode == 130
    assert "interrupted (SIGTERM); finished runs are kept" in _error_line(stderr)
    # Stopped within the VAE's training: neither it nor what follows it is kept.
    assert not state["prepared.json"] and not state["vae.keras"]


def test_sigint_during_data_loading(tmp_path, sat4_sample_dir):
    out = tmp_path / "study"
    proc = _start(_study(out, sat4_sample_dir))
    assert proc.stdout.readline().startswith("qlsgan study: preset smoke")  # then it loads
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "interrupted (SIGINT)" in _error_line(stderr)
    _assert_whole(out)
    assert not (out / "prepared.json").exists() and not _keys(out)


def test_sigint_during_a_run_records_only_whole_runs(base, tmp_path, sat4_sample_dir):
    out = _copy_prepared(base[0], tmp_path / "study")
    proc = _start(_study(out, sat4_sample_dir))
    _wait_for(proc, lambda: (out / "logs").exists() and any((out / "logs").iterdir()))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "interrupted (SIGINT)" in _error_line(stderr)
    _assert_whole(out)
    started = {p.name for p in (out / "logs").iterdir()}
    assert set(_keys(out)) < started  # the interrupted run is not recorded as finished


def test_sigterm_during_the_report_finishes_it_then_exits_130(base, tmp_path):
    out = tmp_path / "study"
    shutil.copytree(base[0], out)
    shutil.rmtree(out / "plots")
    for name in ("results.json", "report.md", "trials.csv"):
        (out / name).unlink()
    proc = subprocess.Popen([sys.executable, "-m", "qlsgan_tf.cli.main", "report", str(out)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _wait_for(proc, lambda: (out / "plots").exists())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "interrupted (SIGTERM)" in _error_line(stderr, "report")
    json.loads((out / "results.json").read_text())
    assert (out / "report.md").read_text().strip() and (out / "trials.csv").exists()
    assert not [p for p in out.rglob(".*") if p.is_file() and not p.name.endswith(".lock")]


def test_sigkill_at_random_moments_then_resume(base, tmp_path, sat4_sample_dir):
    """Killed twice at random moments (seeded), resumed each time: nothing lost or repeated."""
    out = _copy_prepared(base[0], tmp_path / "study")
    rng = random.Random(int(os.environ.get("QLSGAN_FAULT_SEED", "0")))
    finished = {}
    for _ in range(2):
        proc = _start(_study(out, sat4_sample_dir))
        # Once TF is up: somewhere in loading, a run, a record being written, or the report.
        assert proc.stdout.readline().startswith("qlsgan study:")
        time.sleep(rng.uniform(2.0, 20.0))
        if proc.poll() is not None:
            break
        proc.kill()
        proc.communicate()
        _assert_whole(out)
        for name, (_, content) in finished.items():  # earlier runs untouched
            assert (out / "runs" / name).read_bytes() == content
        finished = _snapshot(out)
    _assert_resumes(out, sat4_sample_dir, finished)


def test_damaged_tuner_state_is_rebuilt_from_the_run_store(base, tmp_path, sat4_sample_dir):
    out = tmp_path / "study"
    shutil.copytree(base[0], out)
    oracle = out / "tuner" / "capacity" / "oracle.json"
    oracle.write_text("")  # what a full disk left behind
    trial = next((out / "tuner" / "capacity").glob("trial_*/trial.json"))
    trial.write_text(trial.read_text()[: len(trial.read_text()) // 2])
    proc = _assert_resumes(out, sat4_sample_dir, _snapshot(out))
    assert f"tuner state damaged ({oracle} is empty or corrupt and 1 more)" in proc.stdout
    assert list(out.glob("tuner.damaged-*"))


def test_truncated_run_record_is_named_with_the_fix(base, tmp_path, sat4_sample_dir):
    out = tmp_path / "study"
    shutil.copytree(base[0], out)
    path = out / "runs" / f"{EXPECTED[0]}.json"
    path.write_text(path.read_text()[:40])
    proc = _run(_study(out, sat4_sample_dir))
    assert proc.returncode == 1
    line = _error_line(proc.stderr)
    assert str(path) in line and "corrupt JSON" in line and "delete the file" in line


def test_a_deleted_run_record_is_trained_again(base, tmp_path, sat4_sample_dir):
    """What the corrupt-record message tells the user to do: delete it and rerun."""
    out = tmp_path / "study"
    shutil.copytree(base[0], out)
    deleted = out / "runs" / f"{EXPECTED[0]}.json"
    deleted.unlink()
    kept = _snapshot(out)
    proc = _assert_resumes(out, sat4_sample_dir, kept)
    assert "the run store lacks some of their runs" in proc.stdout
    assert deleted.exists()
    assert "PARTIAL" not in (out / "report.md").read_text()


# ------------------------------------------------------------------------ full disks
@pytest.fixture()
def tmpfs(tmp_path):
    """mount(size) -> the mount point of a fresh tmpfs; remount(size) resizes it."""
    point = tmp_path / "tmpfs"
    point.mkdir()
    mounted = []

    def mount(size):
        opts = f"size={size}" if not mounted else f"remount,size={size}"
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}); "
                        "the disk-full cases need one")
        mounted.append(size)
        return point

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root; the disk-full cases need one")
    yield mount
    if mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_convert_data_on_a_full_disk(tmpfs, sat4_sample_dir):
    disk = tmpfs("64k")
    proc = subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", "convert-data",
                           str(sat4_sample_dir / "sat-4-sample.mat"), str(disk / "cache")],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # not SIGBUS (135)
    line = _error_line(proc.stderr, "convert-data")
    assert "space" in line and "free some space" in line
    assert list(disk.iterdir()) == []  # no cache, no hidden .partial directory


def _du(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_study_and_report_on_a_full_disk_then_resume(base, tmpfs, sat4_sample_dir):
    prepared = _copy_prepared(base[0], base[0].parent / "prepared-copy")
    # The prepared state, then room for about two of the four runs' records, logs and samples.
    room = _du(prepared) + 2**17
    disk = tmpfs(f"{room // 1024}k")
    out = disk / "study"
    shutil.copytree(prepared, out)
    shutil.rmtree(prepared)
    proc = _run(_study(out, sat4_sample_dir))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "space" in _error_line(proc.stderr).lower()
    _assert_whole(out)
    finished = _snapshot(out)
    assert len(finished) < len(EXPECTED)

    tmpfs("256m")
    _assert_resumes(out, sat4_sample_dir, finished)

    for name in ("results.json", "report.md", "trials.csv"):
        (out / name).unlink()
    free = shutil.disk_usage(disk).free
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, free - 64 * 1024)
    report = _run([sys.executable, "-m", "qlsgan_tf.cli.main", "report", str(out)])
    assert report.returncode == 1, report.stderr[-3000:]
    assert "No space left on device" in _error_line(report.stderr, "report")
    assert not [p for p in out.rglob(".*") if p.is_file() and not p.name.endswith(".lock")]
    for name in ("results.json", "report.md", "trials.csv"):
        assert not (out / name).exists() or (out / name).stat().st_size > 0
    filler.unlink()
    again = _run([sys.executable, "-m", "qlsgan_tf.cli.main", "report", str(out)])
    assert again.returncode == 0, again.stderr[-3000:]
