"""The whole study end to end through the CLI: smoke run, SIGKILL + resume, chief + workers."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

SMALL = ["--quantum_grid", "2x1,2x2,2x3", "--critic_capacities", "20,120",
         "--classical_capacities", "15,60", "--seeds", "0"]


def _cmd(out, *extra, data=None):
    cmd = [sys.executable, "-m", "qlsgan_tf.cli.main", "study", "--preset", "smoke",
           "--out", str(out), "--verbose", "0", *extra]
    if data:
        cmd += ["--data", str(data)]
    return cmd


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(key, None)
    env.update(extra)
    return env


def _run_keys(out):
    return sorted(p.stem for p in (out / "runs").glob("*.json"))


EXPECTED = sorted(f"{g}__c{c}__s0__lr0.0002"
                  for g in ("q2x1", "q2x2", "q2x3", "c15@2", "c60@2") for c in (20, 120))


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory, sat4_sample_dir):
    """One uninterrupted smoke study, shared by the tests below."""
    out = tmp_path_factory.mktemp("smoke")
    proc = subprocess.run(_cmd(out, *SMALL, data=sat4_sample_dir), env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_smoke_study_writes_the_full_report(smoke_study):
    out, proc = smoke_study
    assert "report:" in proc.stdout
    assert _run_keys(out) == EXPECTED
    results = json.loads((out / "results.json").read_text())
    analysis = results["analysis"]
    assert analysis["n_runs"] == len(EXPECTED) and results["analysis"]["complete"]
    # Every quantum generator has an entry, or is listed as excluded with its reason.
    excluded = [row["generator"] for row in analysis["excluded"]]
    assert sorted([e["generator"] for e in analysis["quantum"]]
                  + [g for g in excluded if g.startswith("q")]) == ["q2x1", "q2x2", "q2x3"]
    for e in analysis["quantum"]:
        # Two critics cannot place a knee; the argmin diagnostic is a grid edge.
        assert e["critic_star"] is None
        assert e["argmin_critic"] in (20, 120) and e["argmin_censored"] in ("low", "high")
    assert analysis["primary"]["verdict"] == "insufficient data"  # 3 Q values, 2 critics
    assert results["prepared"]["floor"]["fd"] >= 0
    bounds = results["prepared"]["baselines"]["2"]
    assert bounds["random_latents"]["fd"] > 0 and bounds["reconstructions"]["fd"] > 0
    for path in (out / "runs").glob("*.json"):
        run = json.loads(path.read_text())
        assert run["stable"] is False or 0 <= run["latent_fd"] < float("inf")
    report = (out / "report.md").read_text()
    for needle in ("Definitions", "C\\*(Q)", "Verdict", "Real-vs-real floor", "FD-SAT4",
                   "## Design", "## Primary endpoint and decision rule",
                   "## Power of this design"):
        assert needle in report
    header = (out / "trials.csv").read_text().splitlines()[0]
    assert header.startswith("generator,kind,")
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "fid_trajectories.png" in pngs and "score_vs_critic_capacity.png" in pngs
    assert "samples_best_hybrid.png" in pngs and "samples_real.png" in pngs
    for png in (out / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Every run has its own TensorBoard directory.
    assert len([p for p in (out / "logs").iterdir() if p.is_dir()]) == len(EXPECTED)


def test_report_command_rewrites_the_report(smoke_study, tmp_path):
    out, _ = smoke_study
    before = json.loads((out / "results.json").read_text())["analysis"]
    proc = subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", "report", str(out)],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = json.loads((out / "results.json").read_text())["analysis"]
    assert after["quantum"] == before["quantum"]
    bad = subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", "report", str(tmp_path)],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "not a study directory" in bad.stderr


def test_sigkill_then_resume_loses_and_repeats_nothing(smoke_study, tmp_path, sat4_sample_dir):
    out = tmp_path / "study"
    proc = subprocess.Popen(_cmd(out, *SMALL, data=sat4_sample_dir), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while len(_run_keys(out)) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the study finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: (p.stat().st_mtime_ns, p.read_bytes())
                for p in (out / "runs").glob("*.json")}
    assert 3 <= len(finished) < len(EXPECTED)

    again = subprocess.run(_cmd(out, *SMALL, data=sat4_sample_dir), env=_env(),
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    for name, (mtime, content) in finished.items():  # neither lost nor re-run
        path = out / "runs" / name
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content
    assert _run_keys(out) == _run_keys(smoke_study[0]) == EXPECTED
    results = json.loads((out / "results.json").read_text())
    assert results["analysis"]["n_runs"] == len(EXPECTED)


def test_packed_and_one_at_a_time_write_the_same_runs(tmp_path, sat4_sample_dir):
    """--pack 1 trains each run as a pack of one; the default packs them (here in two lanes,
    two packs of 4 per generator at the same time): same run keys, and (the same step, initial
    weights, noise and data order) the same latent scores."""
    tiny = ["--quantum_grid", "2x1", "--critic_capacities", "20,120", "--classical_capacities",
            "15", "--seeds", "0,1", "--learning_rates", "1e-3,2e-3", "--max_epochs", "5"]
    runs = {}
    for pack in ("0", "1"):
        out = tmp_path / f"pack{pack}"
        proc = subprocess.run(_cmd(out, *tiny, "--pack", pack, "--lanes", "2",
                                   data=sat4_sample_dir),
                              env=_env(), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[pack] = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    assert sorted(runs["0"]) == sorted(runs["1"]) and len(runs["0"]) == 16
    for key, packed in runs["0"].items():
        alone = runs["1"][key]
        assert packed["pack_size"] == 4 and alone["pack_size"] == 1
        assert packed["status"] == alone["status"]
        assert packed["epochs_run"] == alone["epochs_run"]
        # Runs still improving after 3 epochs train on; at the budget they are not converged.
        assert 3 <= packed["epochs_run"] <= 5
        assert packed["status"] != "not_converged" or packed["epochs_run"] == 5
        assert packed["status"] != "improving"
        assert (packed["score"] is None) == (packed["status"] != "converged")
        for (step_p, value_p), (step_a, value_a) in zip(packed["latent_score_history"],
                                                        alone["latent_score_history"]):
            assert step_p == step_a and abs(value_p - value_a) <= 1e-3 * max(1.0, value_a)


def test_resume_with_other_settings_is_refused(smoke_study, sat4_sample_dir):
    out, _ = smoke_study
    proc = subprocess.run(_cmd(out, *SMALL, "--epochs", "4", data=sat4_sample_dir), env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "other settings" in proc.stderr and "Traceback" not in proc.stderr


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_chief_and_two_workers_on_localhost(tmp_path, sat4_sample_dir):
    out = tmp_path / "dist"
    port = str(_free_port())
    tiny = ["--quantum_grid", "2x1,2x2", "--critic_capacities", "20",
            "--classical_capacities", "15,60", "--seeds", "0"]
    procs = {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = _env(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=port)
        procs[tuner_id] = subprocess.Popen(
            _cmd(out, *tiny, data=sat4_sample_dir), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        if tuner_id == "chief":
            time.sleep(3)  # let the chief's oracle start serving
    outputs = {k: p.communicate(timeout=900) for k, p in procs.items()}
    for tuner_id, proc in procs.items():
        assert proc.returncode == 0, (tuner_id, outputs[tuner_id][1][-3000:])
    runs = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert sorted(f"{r['generator']}__c{r['critic_budget']}" for r in runs) == sorted(
        f"{g}__c20" for g in ("q2x1", "q2x2", "c15@2", "c60@2"))
    assert {r["tuner_id"] for r in runs} <= {"tuner0", "tuner1"}  # workers train, chief serves
    assert "report:" in outputs["chief"][0]
    assert (out / "report.md").exists()


def test_dry_run_prints_the_estimate_and_trains_nothing(tmp_path, sat4_sample_dir):
    out = tmp_path / "dry"
    proc = subprocess.run(_cmd(out, *SMALL, "--dry_run", data=sat4_sample_dir), env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "grid: 5 generators x 2 critics x 1 seeds" in proc.stdout
    assert "10 runs x 4 steps/epoch: estimated at most" in proc.stdout
    assert "power: not simulated (needs >= 4 Q values" in proc.stdout  # 3 Q values here
    assert not out.exists()


@pytest.mark.slow
def test_dry_run_prints_the_power_in_the_pilot_world(tmp_path, sat4_sample_dir):
    """Four Q values: the design's power simulated in the bundled quick study's world, and in
    a given pilot's; a pilot that is not a study is one line."""
    out = tmp_path / "dry4"
    grid = ["--quantum_grid", "2x1,2x2,2x3,2x4", "--critic_capacities", "20,60,180,540",
            "--classical_capacities", "15", "--seeds", "0,1"]
    proc = subprocess.run(_cmd(out, *grid, "--dry_run", data=sat4_sample_dir), env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "simulated in the bundled quick study's fitted world" in proc.stdout
    assert "| planted law |" in proc.stdout and "| exponential |" in proc.stdout
    assert not out.exists()
    bad = subprocess.run(_cmd(out, *grid, "--dry_run", "--pilot", str(tmp_path),
                              data=sat4_sample_dir), env=_env(), capture_output=True,
                         text=True, timeout=900)
    assert bad.returncode != 0 and "not a study directory" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_ctrl_c_stops_cleanly_and_keeps_finished_runs(tmp_path, sat4_sample_dir):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(_cmd(out, *SMALL, data=sat4_sample_dir), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while not _run_keys(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the study finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted (SIGINT); finished runs are kept" in stderr and "Traceback" not in stderr
    for path in (out / "runs").glob("*.json"):
        json.loads(path.read_text())  # every recorded run is whole
    assert _run_keys(out)


def test_adaptive_critic_search_trains_its_suggestions_once(tmp_path, sat4_sample_dir):
    out = tmp_path / "refine"
    args = ["--quantum_grid", "2x1,2x2", "--critic_capacities", "40,120,360",
            "--classical_capacities", "15", "--seeds", "0,1", "--refine_rounds", "1",
            "--refine_points", "1"]
    proc = subprocess.run(_cmd(out, *args, data=sat4_sample_dir), env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    grid = [r for r in runs if r["critic_budget"] in (40, 120, 360)]
    assert len(grid) == 3 * 3 * 2 and all(r["search_round"] == 0 for r in grid)
    from qlsgan_tf.study import search, store
    from qlsgan_tf.tuning.results import RunResult

    config = store.ResultStore(out).load_config()
    for label in ("q2x1", "q2x2"):
        expected = search.next_critics(
            config, label, [RunResult.from_dict(r) for r in grid if r["generator"] == label], 1)
        refined = sorted({r["critic_budget"] for r in runs
                          if r["generator"] == label and r["search_round"] == 1})
        assert refined == expected  # the search trained exactly what it suggested
        assert len([r for r in runs if r["generator"] == label
                    and r["critic_budget"] in expected]) == 2 * len(expected)  # both seeds
    assert not [r for r in runs if r["generator"] == "c15@2" and r["search_round"] != 0]
    results = json.loads((out / "results.json").read_text())["analysis"]
    for e in results["quantum"]:
        tried = {int(c) for c in e["scores_by_critic"]}
        assert tried == {r["critic_budget"] for r in runs if r["generator"] == e["generator"]}
    assert "Adaptive critic search: 1 round(s)" in (out / "report.md").read_text()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    again = subprocess.run(_cmd(out, *args, data=sat4_sample_dir), env=_env(),
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")} == before


def test_vae_nominal_and_tuned_run_two_studies_and_compare_them(tmp_path, sat4_sample_dir):
    out = tmp_path / "vaes"
    tiny = ["--quantum_grid", "2x1,2x2", "--critic_capacities", "20,120",
            "--classical_capacities", "15", "--seeds", "0", "--vae", "nominal,tuned"]
    proc = subprocess.run(_cmd(out, *tiny, data=sat4_sample_dir), env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vae comparison:" in proc.stdout
    for vae in ("nominal", "tuned"):
        prepared = json.loads((out / f"vae-{vae}" / "prepared.json").read_text())
        assert prepared["vaes"]["2"]["kind"] == vae
        assert len(_run_keys(out / f"vae-{vae}")) == 3 * 2
        assert (out / f"vae-{vae}" / "report.md").exists()
    result = json.loads((out / "vae_comparison.json").read_text())
    assert result["variants"] == ["nominal", "tuned"] and result["n_paired_runs"] == 6
    assert "# VAE comparison: nominal vs tuned" in (out / "vae_comparison.md").read_text()
