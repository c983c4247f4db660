"""Runs a whole capacity study through KerasTuner: prepare, search, report.

One KerasTuner search covers the whole grid: the hyperparameter ``generator`` names a
quantum (``q{n}x{L}``) or classical (``c{capacity}@{latent}``) generator and
``critic_capacity`` a critic parameter budget; each trial trains every seed and scores the
configuration. KerasTuner keeps the oracle state (``OUT/tuner/``) and runs distributed with
its own chief/worker environment variables; our store (``OUT/runs/``) makes every finished
seed-run permanent, so a killed study resumes without losing or repeating finished runs.
"""
import contextlib
import math
import os
import pathlib

from qlsgan_tf.study import prepare as prepare_lib
from qlsgan_tf.study import report as report_lib
from qlsgan_tf.study import store as store_lib

PROJECT = "capacity"


def role():
    """"chief", "worker" or "local", from KerasTuner's distributed environment variables."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not tuner_id or "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if tuner_id == "chief" else "worker"


def run_study(config, data_path, out_dir, verbose=1, log=print):
    """Runs (or resumes) the study; returns the report paths (None on a worker)."""
    from qlsgan_tf.tuning import capacity  # pylint: disable=import-outside-toplevel

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = store_lib.ResultStore(out)
    if store.pin_config(config) is False:
        log(f"resuming the study in {out}: {len(store.all_runs())} of {config.n_runs()} "
            "training runs already finished")
    where = role()
    resources = None
    if where != "chief":  # the chief only serves the oracle
        resources = prepare_lib.prepare(config, data_path, out, log=log)
        if config.preset == "paper":
            seconds = estimate_seconds(config, resources)
            log(f"estimated time of the remaining runs on this machine: {_hms(seconds)} "
                "(measured per-epoch cost x epochs x runs; divide by the number of workers)")
    hypermodel = capacity.CapacityHyperModel(config)
    with _progress(config, store, enabled=verbose > 0 and where != "chief") as progress:
        tuner = capacity.make_tuner(config, hypermodel, directory=out / "tuner",
                                    project_name=PROJECT, run_store=store, progress=progress,
                                    verbose=0)
        tuner.search(resources=resources)
    if where == "worker":
        return None
    return report_lib.write_report(out)


@contextlib.contextmanager
def _progress(config, store, enabled):
    """A tqdm bar over the study's training runs (ETA included); yields the tuner callback."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel

    bar = tqdm(total=config.n_runs(), initial=len(store.all_runs()), unit="run",
               desc="capacity study", dynamic_ncols=True)

    def update(result, cached):
        if cached:
            return
        fd = result.get("final_fd", math.inf)
        bar.set_postfix_str(f"{result['generator']} critic {result['critic_capacity']} "
                            f"seed {result['seed']}: FD-SAT4 {fd:.3g}"
                            + ("" if result.get("stable") else " (unstable)"))
        bar.update(1)

    try:
        yield update
    finally:
        bar.close()


def estimate_seconds(config, resources):
    """Remaining wall time: measured seconds per epoch of the largest quantum and classical
    configurations, times epochs, times the runs not yet recorded."""
    from qlsgan_tf.tuning import capacity  # pylint: disable=import-outside-toplevel

    store = store_lib.ResultStore(resources.samples_dir.parent)
    done = {store_lib.run_key(r["generator"], r["critic_capacity"], r["seed"])
            for r in store.all_runs()}
    labels = config.generator_labels()

    def largest(prefix):
        return max((lbl for lbl in labels if lbl.startswith(prefix)),
                   key=lambda lbl: capacity.parse_generator(lbl, config)["capacity"])

    cost = {kind: capacity.time_one_epoch(config, largest(kind), max(config.critic_capacities),
                                          resources)
            for kind in ("q", "c")}
    remaining = 0.0
    for label in labels:
        for critic in config.critic_capacities:
            for seed in config.seeds:
                if store_lib.run_key(label, critic, seed) not in done:
                    remaining += cost[label[0]] * config.epochs
    return remaining


def _hms(seconds):
    if not math.isfinite(seconds):
        return "unknown"
    seconds = int(seconds)
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s"
