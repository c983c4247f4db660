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
        log(f"resuming the study in {out}: {len(store.keys())} of {config.n_runs()} "
            "training runs already finished")
    where = role()
    resources = None
    if where != "chief":  # the chief only serves the oracle
        resources = prepare_lib.prepare(config, data_path, out, log=log)
        if config.preset == "paper":
            log(describe_estimate(estimate(config, len(resources.real_images), store.keys())))
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

    bar = tqdm(total=config.n_runs(), initial=len(store.keys()), unit="run",
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


def estimate(config, n_reference, done=()):
    """Estimated wall time of the runs not in ``done`` (run keys), on this machine.

    Measures, for every critic capacity, the tracing time and the cost per generator step of
    the largest quantum and the largest classical generator, then sums over the remaining
    runs ``first call + steps per epoch x epochs x step cost`` (an upper bound for smaller
    generators; FD-SAT4 evaluations excluded). ``n_reference``: real latents per epoch.
    """
    from qlsgan_tf.tuning import capacity  # pylint: disable=import-outside-toplevel

    labels = config.generator_labels()

    def largest(prefix):
        return max((lbl for lbl in labels if lbl.startswith(prefix)),
                   key=lambda lbl: capacity.parse_generator(lbl, config)["capacity"])

    cost = {(kind, critic): capacity.time_training(config, largest(kind), critic)
            for kind in ("q", "c") for critic in config.critic_capacities}
    steps = config.steps_per_epoch or math.ceil(n_reference / config.batch_size)
    done = set(done)
    remaining = [(label[0], critic) for label in labels for critic in config.critic_capacities
                 for seed in config.seeds for lr in config.learning_rates
                 if store_lib.run_key(label, critic, seed, lr) not in done]
    seconds = sum(cost[key][0] + steps * config.epochs * cost[key][1] for key in remaining)
    step_ms = {kind: {critic: cost[(kind, critic)][1] * 1e3 for critic in config.critic_capacities}
               for kind in ("q", "c")}
    return {"runs": len(remaining), "steps_per_epoch": steps, "seconds": seconds,
            "step_ms": step_ms}


def describe_estimate(est):
    """One paragraph for the user: the estimate and what it rests on."""
    q, c = est["step_ms"]["q"], est["step_ms"]["c"]
    return (f"{est['runs']} runs x {est['steps_per_epoch']} steps/epoch: estimated at most "
            f"{_hms(est['seconds'])} on this machine; divide by the number of workers. "
            f"Measured ms per generator step (largest generator) from the smallest to the "
            f"largest critic: quantum {q[min(q)]:.1f} to {q[max(q)]:.1f}, classical "
            f"{c[min(c)]:.1f} to {c[max(c)]:.1f}; FD-SAT4 evaluations not included.")


def _hms(seconds):
    if not math.isfinite(seconds):
        return "unknown"
    seconds = int(seconds)
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s"
