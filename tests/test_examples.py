"""The runnable examples in examples/, each run as a user would (a child process), at tiny size."""
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.skipif(
    not EXAMPLES.is_dir(), reason="examples/ is not in this tree (Bazel runfiles)")


def _run(script, *args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_quantum_generator_fits_inside_a_keras_model_and_reloads():
    out = _run("quantum_generator_in_keras.py", "--qubits", "2", "--layers", "1",
               "--epochs", "8")
    before, after = [float(v) for v in
                     out.split("mean squared error: ")[1].split(" after")[0]
                     .replace(" before training,", "").split()]
    assert after < 0.5 * before
    assert "largest output difference 0.00e+00" in out
    assert "capacity (trainable parameters): 24" in out  # 2 * n (5 L + 1) for n=2, L=1


def test_tfgan_estimator_example_trains_resumes_and_predicts(tmp_path):
    out = _run("tfgan_estimator.py", "--qubits", "2", "--layers", "1", "--steps", "4",
               "--vae_epochs", "1", "--model_dir", str(tmp_path / "est"))
    assert "trained 4 estimator steps" in out
    assert "shape (256, 2)" in out
    assert any(p.name.startswith("model.ckpt-4") for p in (tmp_path / "est").iterdir())


def test_critic_capacity_search_example_scores_every_budget(tmp_path):
    out = _run("tune_critic_capacity.py", "--qubits", "2", "--layers", "1",
               "--capacities", "30,300", "--epochs", "1", "--vae_epochs", "1",
               "--directory", str(tmp_path))
    lines = [ln for ln in out.splitlines() if ln.startswith("critic budget")]
    assert len(lines) == 2 and "best critic budget:" in out
    assert (tmp_path / "critic_capacity" / "oracle.json").exists()


@pytest.mark.slow
def test_tensorboard_example_reads_every_run_of_a_smoke_study(tmp_path):
    out = _run("read_study_in_tensorboard.py", "--max_runs", "1", timeout=900)
    assert "TensorBoard runs with scalars" in out
    assert int(out.split(" TensorBoard runs")[0].split()[-1]) >= 10
