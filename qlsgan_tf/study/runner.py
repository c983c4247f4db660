"""Runs a whole capacity study through KerasTuner: prepare, search, report.

One KerasTuner search covers the whole grid: the hyperparameter ``generator`` names a
quantum (``q{n}x{L}``) or classical (``c{capacity}@{latent}``) generator; each trial trains
its critic grid x seeds x learning rates, then the adaptive critic search's rounds
(``study.search``) for that generator. KerasTuner keeps the oracle state (``OUT/tuner/``)
and runs distributed with its own chief/worker environment variables; our store
(``OUT/runs/``) makes every finished run permanent, so a killed study resumes without
losing or repeating finished runs.
"""
import contextlib
import math
import os
import pathlib
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from qlsgan_tf import interrupts
from qlsgan_tf.fsutil import StrPath
from qlsgan_tf.study import evaluation, tuner_state, vae_compare
from qlsgan_tf.study import identity as identity_lib
from qlsgan_tf.study import lock as lock_lib
from qlsgan_tf.study import prepare as prepare_lib
from qlsgan_tf.study import report as report_lib
from qlsgan_tf.study import search as search_lib
from qlsgan_tf.study import store as store_lib

if TYPE_CHECKING:
    from qlsgan_tf.study.presets import StudyConfig
    from qlsgan_tf.tuning.results import RunResult
    from qlsgan_tf.tuning.settings import TrainingSettings

Log = Callable[[str], object]

PROJECT = "capacity"


def role() -> str:
    """"chief", "worker" or "local", from KerasTuner's distributed environment variables."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not tuner_id or "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if tuner_id == "chief" else "worker"


def run_study(config: "StudyConfig", data_path: StrPath, out_dir: StrPath, verbose: int = 1,
              log: Log = print) -> Optional[Dict[str, pathlib.Path]]:
    """Runs (or resumes) the study; returns the report paths (None on a worker).

    One plain process per ``out_dir`` (a lock; KerasTuner workers are exempt). Raises
    ``interrupts.StudyInterrupted`` at a safe point once a stop was requested.
    """
    out = pathlib.Path(out_dir)
    identity = identity_lib.study_identity(config, data_path)  # every input, before a write
    out.mkdir(parents=True, exist_ok=True)
    with lock_lib.study_lock(out, role()):
        return _run_study(config, data_path, out, verbose, log, identity)


def run_vae_comparison(config: "StudyConfig", vaes: Sequence[str], data_path: StrPath,
                       out_dir: StrPath, verbose: int = 1, log: Log = print
                       ) -> Dict[str, pathlib.Path]:
    """Runs (or resumes) the study once per VAE in ``vaes`` (e.g. ``("nominal", "tuned")``),
    in ``OUT/vae-<name>/``, and compares them (``study.vae_compare``); returns the paths.

    The FD-SAT4 feature network is shared: with ``feature_net="train"`` the first study trains
    it and the others reuse it, so FD-SAT4 compares the VAEs and nothing else. One process
    (chief/worker mode runs one study per directory: run each VAE with its own ``--vae``).
    """
    if role() != "local":
        raise ValueError("--vae with several VAEs runs one study after the other in one "
                         "process; in chief/worker mode run one study per VAE (--vae nominal, "
                         "--vae tuned, each with its own --out)")
    if len(set(vaes)) != len(vaes) or len(vaes) != 2:
        raise ValueError(f"--vae compares two different VAEs, e.g. nominal,tuned; got "
                         f"{','.join(vaes)}")
    out = pathlib.Path(out_dir)
    for vae in vaes:  # every input checked before anything is written
        identity_lib.study_identity(config.replace(vae=vae), data_path)
    out.mkdir(parents=True, exist_ok=True)
    with lock_lib.study_lock(out, role()):  # the whole comparison: one process per --out
        return _compare_vaes(config, vaes, data_path, out, verbose, log)


def _compare_vaes(config: "StudyConfig", vaes: Sequence[str], data_path: StrPath,
                  out: pathlib.Path, verbose: int, log: Log) -> Dict[str, pathlib.Path]:
    dirs: Dict[str, pathlib.Path] = {}
    paths: Dict[str, pathlib.Path] = {}
    feature_net = config.feature_net
    for vae in vaes:
        dirs[vae] = vae_compare.variant_dir(out, vae)
        variant = config.replace(vae=vae, feature_net=feature_net)
        log(f"study with the {vae} VAE -> {dirs[vae]}")
        report = run_study(variant, data_path, dirs[vae], verbose=verbose, log=log)
        assert report is not None  # a local study (checked above) always writes its report
        paths.update({f"{vae}_{k}": v for k, v in report.items()
                      if k in ("report", "results", "trials")})
        if feature_net == "train":  # the next VAE's study reuses this feature network
            feature_net = str(dirs[vae] / "feature_net")
    paths.update(vae_compare.write_comparison(out, dirs))
    return paths


def grid_keys(config: "StudyConfig") -> Set[str]:
    """The run keys of the study's grid (not the adaptive critic search's runs)."""
    from qlsgan_tf.tuning.keys import run_key

    return {run_key(label, c, s, lr) for label in config.generator_labels()
            for c in config.critic_capacities for s in config.seeds
            for lr in config.learning_rates}


def _run_study(config: "StudyConfig", data_path: StrPath, out: pathlib.Path, verbose: int,
               log: Log, identity: Optional[Dict[str, Any]] = None
               ) -> Optional[Dict[str, pathlib.Path]]:
    from qlsgan_tf.tuning import capacity, chief

    store = store_lib.ResultStore(out)
    store.remove_dead_partials()
    if store.pin_config(config, identity) is False:
        keys = store.keys()
        grid = grid_keys(config)
        extra = len(keys - grid)
        log(f"resuming the study in {out}: {len(keys & grid)} of {len(grid)} grid training "
            "runs already finished" + (f" (and {extra} of the adaptive critic search)"
                                       if extra else ""))
    where = role()
    resources = None
    if where == "worker":  # a worker without its chief fails early, in bounded time
        chief.wait_for_chief(log=log)
    if where != "chief":  # the chief only serves the oracle
        resources = prepare_lib.prepare(config, data_path, out, log=log)
        if config.preset == "paper":
            log(describe_estimate(estimate(config, len(resources.real_images), store.keys())))
    settings = config.training_settings()
    interrupts.check_stop()
    if where != "worker":  # the run store is the truth: damaged tuner state is rebuilt
        tuner_state.repair_tuner_state(out / "tuner", log=log)
        done = store.keys()
        unfinished = {key.split("__")[0] for key in grid_keys(config) - done}
        tuner_state.reconcile_with_runs(out / "tuner", unfinished, log=log)
    with _progress(config, store, enabled=verbose > 0 and where != "chief") as progress:
        tuner = capacity.make_tuner(settings, directory=out / "tuner",
                                    project_name=PROJECT, run_store=store, progress=progress,
                                    verbose=0, refine=search_lib.refiner(config))
        evaluator = (None if resources is None
                     else evaluation.RunEvaluator(settings, resources))
        tuner.search(resources=resources, evaluator=evaluator)
    if where == "worker":
        return None
    interrupts.check_stop()
    return report_lib.write_report(out)


@contextlib.contextmanager
def _progress(config: "StudyConfig", store: store_lib.ResultStore, enabled: bool
              ) -> Iterator[Optional[Callable[["RunResult", bool], None]]]:
    """A tqdm bar over the study's training runs (ETA included); yields the tuner callback."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    # The total counts the grid and the most the adaptive critic search may add.
    bar = tqdm(total=config.n_runs() + config.n_refine_runs(), initial=len(store.keys()),
               unit="run", desc="capacity study", dynamic_ncols=True)

    def update(result: "RunResult", cached: bool) -> None:
        if cached:
            return
        bar.set_postfix_str(f"{result.generator} critic {result.critic_budget} "
                            f"seed {result.seed}: FD-SAT4 {result.final_fd:.3g}"
                            + ("" if result.stable else " (unstable)"))
        bar.update(1)

    try:
        yield update
    finally:
        bar.close()


def estimate(config: "StudyConfig", n_reference: int, done: Iterable[str] = ()
             ) -> Dict[str, Any]:
    """Estimated wall time of the runs not in ``done`` (run keys), on this machine.

    For the largest quantum and the largest classical generator, builds its packs and trains
    them as the study does (``tuning.packs.time_lanes``: the lanes at the same time; with
    ``pack == 1`` one pack of one per critic capacity) and measures the time to build, trace
    and compile them and the cost of a generator step; every generator of that kind is
    charged the same steps (an upper bound for smaller ones), scaled by its share of
    unfinished runs, and every family (``tuning.packs.family_spec``) the compilations once
    (with ``pack == 1``, once per critic capacity: packs of one of a shape are reused).
    Evaluations (``study.evaluation.time_evaluation``: latent score every epoch, FD-SAT4
    when due) are charged per run, shared by the lanes. ``n_reference``: real latents per
    epoch. Runs still improving may train up to ``max_epochs``; the estimate counts
    ``epochs``. Returns ``seconds`` and its parts ``compile_s`` and ``evaluate_s``.
    """
    from qlsgan_tf.tuning import packs

    settings = config.training_settings()
    labels = config.generator_labels()
    specs = dict(zip(labels, config.generator_specs()))
    steps = config.steps_per_epoch or math.ceil(n_reference / config.batch_size)
    done = set(done)
    lanes = packs.lane_count(settings)
    left = {label: [r for r in packs.plan_runs(settings, label) if r.key not in done]
            for label in labels}
    seconds, compile_total = 0.0, 0.0
    step_ms: Dict[str, Dict[int, float]] = {}
    for kind in ("q", "c"):
        of_kind = [lbl for lbl in labels if specs[lbl].kind[0] == kind]
        train_s, compile_s, step_ms[kind] = _estimate_training(config, settings, specs, of_kind,
                                                               left, steps * config.epochs)
        seconds += train_s + compile_s
        compile_total += compile_s
    evaluate_s = _estimate_evaluation(settings, specs, left, n_reference) / lanes
    return {"runs": sum(len(runs) for runs in left.values()), "steps_per_epoch": steps,
            "seconds": seconds + evaluate_s, "compile_s": compile_total,
            "evaluate_s": evaluate_s, "step_ms": step_ms, "packed": config.pack != 1,
            "lanes": lanes}


def _estimate_training(config: "StudyConfig", settings: "TrainingSettings",
                       specs: Mapping[str, Any], labels: Sequence[str],
                       left: Mapping[str, list], steps: int
                       ) -> Tuple[float, float, Dict[int, float]]:
    """(training seconds, compilation seconds, step ms per critic) of the unfinished runs
    ``left`` of the generators ``labels`` (one kind), timed on the largest of them."""
    from qlsgan_tf.tuning import packs

    label = max(labels, key=lambda lbl: specs[lbl].capacity)
    families = {repr(sorted(packs.family_spec(settings, specs[lbl]).items()))
                for lbl in labels if left[lbl]}
    if config.pack == 1:
        one_each = [packs.plan_runs(settings, label, critics=[c])[0]
                    for c in config.critic_capacities]
        _, _, timed = packs.time_lanes(settings, label, one_each)
        cost = {chunk[0].critic_budget: (first, step) for chunk, first, step in timed}
        compile_s = sum(first for first, _ in cost.values()) * len(families)
        train_s = sum(steps * cost[r.critic_budget][1] for lbl in labels for r in left[lbl])
        return train_s, compile_s, {c: cost[c][1] * 1e3 for c in cost}
    runs = packs.plan_runs(settings, label)
    first_s, step, timed = packs.time_lanes(settings, label, runs)
    train_s = sum(steps * step * len(left[lbl]) / len(runs) for lbl in labels)
    step_ms = {max(r.critic_budget for r in chunk): pack_step * 1e3 / len(chunk)
               for chunk, _, pack_step in timed}
    return train_s, first_s * len(families), step_ms


def _estimate_evaluation(settings: "TrainingSettings", specs: Mapping[str, Any],
                         left: Mapping[str, list], n_reference: int) -> float:
    """Seconds of the scheduled evaluations of the unfinished runs ``left`` (one lane)."""
    n_latent, n_fd = evaluation.evaluations_per_run(settings)
    total = 0.0
    for dim in sorted({spec.latent_dim for spec in specs.values()}):
        latent_s, fd_s = evaluation.time_evaluation(settings, dim, n_reference)
        n_runs = sum(len(runs) for lbl, runs in left.items() if specs[lbl].latent_dim == dim)
        total += n_runs * (n_latent * latent_s + n_fd * fd_s)
    return total


def describe_estimate(est: Mapping[str, Any]) -> str:
    """One paragraph for the user: the estimate and what it rests on."""
    q, c = est["step_ms"]["q"], est["step_ms"]["c"]
    lanes = est.get("lanes", 1)
    unit = "ms per run and generator step in a pack" if est.get("packed") else \
        "ms per generator step"
    where = "largest generator" + (f"; {lanes} lanes of packs at the same time"
                                   if est.get("packed") and lanes > 1 else "")
    return (f"{est['runs']} runs x {est['steps_per_epoch']} steps/epoch: estimated at most "
            f"{_hms(est['seconds'])} on this machine (of which tracing and compiling "
            f"{_hms(est['compile_s'])}, latent-score and FD-SAT4 evaluations "
            f"{_hms(est['evaluate_s'])}); divide by the number of workers. "
            f"Measured {unit} ({where}), from the smallest to the largest critic: "
            f"quantum {q[min(q)]:.2f} to {q[max(q)]:.2f}, classical {c[min(c)]:.2f} to "
            f"{c[max(c)]:.2f}.")


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    seconds = int(seconds)
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s"
