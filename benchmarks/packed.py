"""Runs per hour of the capacity study's training: packed (``PackedLatentGAN``) vs one run at a
time (``--pack 1``: packs of one), on the quick preset's configurations.

The packed side trains as the study does: its packs in lanes (``tuning.packs.plan_lanes``,
``tuning.lanes.run``),
the lanes at the same time in threads of their own (``--lanes``, default the study's choice:
one per core, at most 2); ``--lanes 1`` measures packing alone. The one-at-a-time side is the
study's ``--pack 1`` path, one run after another in one thread.

Both paths go through the study's own code (``tuning.packs``): the same runs (generator x
critic capacity x seed x learning rate), the same steps (``epochs x steps_per_epoch``, one
``train`` call per epoch as the study makes), the same real latents (uniform in [-1, 1] of
the VAE latent size: the cost does not depend on their values) and the same initial weights.
Tracing and XLA compilation are included: every pack shape and every single run starts
untraced, as in a fresh study process (the packed side's cache of compiled packs is cleared
once, at the start: as in a study, the generators of one family - quantum circuits of one
qubit count, classical MLPs of one latent size - share their compiled pack steps, so the first
generator of a family pays its compilations). Evaluation (latent score, FD-SAT4) is excluded;
``--evaluate`` times one latent-score evaluation of each pack separately (sampling
``n_latent_samples`` latents per run and scoring them all, as the study does every epoch).

The two paths are measured interleaved, generator by generator, so machine noise hits both
alike. One-at-a-time runs are slow, so by default only ``--single_per_generator`` runs per
generator are timed alone (the smallest and the largest critic); runs per hour are computed
from each side's own time per run.

    python benchmarks/packed.py                                  # quick preset, all generators
    python benchmarks/packed.py --steps_per_epoch 25             # 300-step runs
    python benchmarks/packed.py --generators q3x2,c300@3 --seeds 0,1,2,3,4 \\
        --learning_rates 5e-4,1e-3,2e-3
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "packed.json"
N_LATENTS = 400  # the bundled sample's 50 training patches x 8 dihedral copies


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--generators", default="", help="labels (default: the preset's)")
    parser.add_argument("--seeds", default="", help="seeds (default: the preset's)")
    parser.add_argument("--learning_rates", default="", help="default: the preset's")
    parser.add_argument("--single_per_generator", type=int, default=2,
                        help="runs per generator timed one at a time (0: all)")
    parser.add_argument("--pack", type=int, default=0, help="packed side's pack setting")
    parser.add_argument("--steps_per_epoch", type=int, default=0,
                        help="generator steps per epoch (0: the preset's; the quick preset "
                             "trains 12 epochs: 25 makes 300-step runs)")
    parser.add_argument("--lanes", type=int, default=0,
                        help="packed side's lanes (0: the study's automatic choice)")
    parser.add_argument("--evaluate", action="store_true",
                        help="also time one latent-score evaluation per pack")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON output")
    return parser.parse_args(argv)


def _config(args, pack, lanes=0):
    from qlsgan_tf.study import presets

    overrides = {"pack": pack, "lanes": lanes}
    if args.seeds:
        overrides["seeds"] = [int(s) for s in args.seeds.split(",")]
    if args.learning_rates:
        overrides["learning_rates"] = [float(v) for v in args.learning_rates.split(",")]
    if args.steps_per_epoch:
        overrides["steps_per_epoch"] = args.steps_per_epoch
    return presets.make_config(args.preset, **overrides)


def _train(config, spec, chunk, trainer, latents):
    steps = config.steps_per_epoch or -(-len(latents) // config.batch_size)
    for _ in range(config.epochs):
        trainer.train(latents, steps)


def time_packed(config, label, latents, evaluate=False):
    """Seconds to train every run of ``label`` in packs as the study does (its lanes at the
    same time; compiled pack steps of the family reused, as in a study process)."""
    from qlsgan_tf.metrics import latent_score
    from qlsgan_tf.tuning import lanes, packs

    settings = config.training_settings()
    spec = settings.generator_spec(label)
    runs = packs.plan_runs(settings, label)
    plan = packs.plan_lanes(settings, runs, spec.output_dim)
    trainers = []

    def work(lane, chunk, _should_stop):
        trainer = packs.make_trainer(settings, spec, chunk, lane)
        before = trainer.gan.first_call_s
        _train(config, spec, chunk, trainer, latents[spec.output_dim])
        trainers.append((trainer, before))

    start = time.perf_counter()
    lanes.run(plan, work)
    seconds, eval_s = time.perf_counter() - start, []
    # The calls that traced and compiled for this generator (each compiled instance once; a
    # family's later generators reuse them: nothing new).
    compiled = {}
    for trainer, before in trainers:  # an instance's first use in its lane comes first
        compiled.setdefault(id(trainer.gan), (trainer.gan, before))
    first_call_s = sum(gan.first_call_s - before for gan, before in compiled.values())
    for trainer, _ in trainers if evaluate else ():  # after training: not in the time above
        t0 = time.perf_counter()
        fakes = trainer.sample(config.n_latent_samples)
        latent_score.latent_distances(latents[spec.output_dim], fakes)
        eval_s.append(time.perf_counter() - t0)
    return (seconds, len(runs), [[len(chunk) for chunk in lane] for lane in plan], eval_s,
            first_call_s)


def time_single(config, label, latents, n_runs):
    """Seconds per run trained alone, as ``--pack 1`` trains it (a pack of one; building and
    tracing included, compiled steps of earlier runs of the same shape reused as in a study
    process)."""
    from qlsgan_tf.tuning import lanes, packs

    settings = config.training_settings()
    spec = settings.generator_spec(label)
    runs = packs.plan_runs(settings, label)
    if n_runs:
        by_critic = sorted(runs, key=lambda r: r.critic_budget)
        runs = [by_critic[0], by_critic[-1]][:n_runs] if n_runs <= 2 else by_critic[:n_runs]
    times = []
    for run in runs:
        start = time.perf_counter()
        trainer = packs.make_trainer(settings, spec, [run], lanes.lane(0))
        _train(config, spec, [run], trainer, latents[spec.output_dim])
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    import numpy as np

    from qlsgan_tf.tuning import lanes

    lanes.clear()  # (cold start, as a new process)
    packed_cfg, single_cfg = _config(args, args.pack, args.lanes), _config(args, 1)
    labels = args.generators.split(",") if args.generators else packed_cfg.generator_labels()
    rng = np.random.default_rng(0)
    latents = {d: rng.uniform(-1, 1, (N_LATENTS, d)).astype(np.float32)
               for d in (3, 6, *packed_cfg.latent_dims)}
    load = [os.getloadavg()[0]]
    rows = []
    for label in labels:  # interleaved: packed, then alone, generator by generator
        seconds, n_runs, sizes, eval_s, first_s = time_packed(packed_cfg, label, latents,
                                                              args.evaluate)
        single = time_single(single_cfg, label, latents, args.single_per_generator)
        row = {"generator": label, "runs": n_runs, "pack_sizes": sizes,
               "packed_s": seconds, "packed_s_per_run": seconds / n_runs,
               "single_s_per_run": statistics.mean(single), "single_s": single,
               "eval_s_per_pack": eval_s, "packed_first_calls_s": first_s}
        row["speedup"] = row["single_s_per_run"] / row["packed_s_per_run"]
        rows.append(row)
        print(f"{label:>9}: {n_runs} runs in packs {sizes} (one list per lane): "
              f"{row['packed_s_per_run']:.2f} s/run (calls that traced and compiled: "
              f"{first_s:.1f} s, in lanes at the same time); "
              f"alone {row['single_s_per_run']:.2f} s/run ({len(single)} timed); "
              f"x{row['speedup']:.1f}", flush=True)
    load.append(os.getloadavg()[0])
    packed_per_run = sum(r["packed_s"] for r in rows) / sum(r["runs"] for r in rows)
    eval_per_run = (sum(sum(r["eval_s_per_pack"]) for r in rows)
                    / sum(r["runs"] for r in rows)) if args.evaluate else None
    single_per_run = (sum(r["single_s_per_run"] * r["runs"] for r in rows)
                      / sum(r["runs"] for r in rows))
    summary = {
        "steps_per_run": packed_cfg.epochs * packed_cfg.steps_per_epoch,
        "packed_s_per_run": packed_per_run, "single_s_per_run": single_per_run,
        "packed_runs_per_hour": 3600 / packed_per_run,
        "single_runs_per_hour": 3600 / single_per_run,
        "speedup": single_per_run / packed_per_run,
        "eval_s_per_run_and_epoch": eval_per_run,
    }
    print(f"packed {summary['packed_runs_per_hour']:.0f} runs/h ({packed_per_run:.2f} s/run), "
          f"one at a time {summary['single_runs_per_hour']:.0f} runs/h "
          f"({single_per_run:.2f} s/run): x{summary['speedup']:.1f}; "
          f"load {load[0]:.1f} -> {load[1]:.1f}"
          + (f"; one latent-score evaluation {eval_per_run * 1e3:.0f} ms per run"
             if args.evaluate else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": load},
        "args": {k: str(v) for k, v in vars(args).items()}, "summary": summary,
        "generators": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
