"""What packing can gain at most: the steady-state cost of one generator step per run, a pack
of one (``--pack 1``) vs a pack of ``K`` runs of the same critic, for every generator x critic
of a preset.

A pack of ``K`` same-critic runs has no padding, so its per-run step cost is the least any
packing of those runs can reach; the ratio ``pack of one / (pack of K / K)`` bounds what packing
saves in training, whatever else the study does. The figure excludes the first calls (tracing,
XLA compilation) and every evaluation: those are timed by ``benchmarks/packed.py`` and
``benchmarks/whole_study.py``.

Protocol: the study's own shapes (``tuning.packs.family_spec``: the generators of one family
share one compiled step, ``tuning.packs.critic_units`` for the critics); per family and critic,
one compiled pack of one and one of ``K``, each loaded generator by generator with
``PackedLatentGAN.reset`` (no retracing), warmed by ``--warmup`` steps, then timed
``--rounds`` times over ``--steps`` steps, the two sizes interleaved; the figure is the
fastest round (the least-disturbed one on a shared machine). One thread (as one lane of the
study: a compiled step runs on one core). Uniform stand-in latents of the VAE's latent size.

Also printed: the per-run training time of the whole grid at the preset's steps (each run
weighted alike), one at a time and packed, and their ratio.

    python benchmarks/step_cost.py                         # quick preset, K = its seeds x rates
    python benchmarks/step_cost.py --generators q3x1,q3x16,c1200@3 --k 7,28
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "step_cost.json"
N_LATENTS = 400  # the bundled sample's 50 training patches x 8 dihedral copies


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--generators", default="", help="labels (default: the preset's)")
    parser.add_argument("--critics", default="", help="critic capacities (default: the preset's)")
    parser.add_argument("--k", default="", help="pack sizes (default: the preset's seeds x "
                                                "learning rates, the runs of one critic)")
    parser.add_argument("--steps", type=int, default=20, help="generator steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps after the first call")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    return parser.parse_args(argv)


def _round(gan, latents, steps):
    start = time.perf_counter()
    gan.train(latents, steps)
    return (time.perf_counter() - start) / steps


def measure(settings, labels, critics, sizes, args, latents):
    """Rows ``{generator, critic, units, k, step_ms_per_run, first_call_s}`` per pack size."""
    from qlsgan_tf.training.packed import PackedLatentGAN
    from qlsgan_tf.tuning import packs

    specs = [settings.generator_spec(label) for label in labels]
    families = {}
    for spec in specs:
        family = packs.family_spec(settings, spec)
        families.setdefault(json.dumps(family, sort_keys=True, default=str), (family, []))[1] \
            .append(spec)
    rows = []
    for family, members in families.values():
        latent_dim = members[0].latent_dim
        for critic in critics:
            units = packs.critic_units(settings, latent_dim, critic)
            gans = {}
            for k in (1, *sizes):
                start = time.perf_counter()
                gans[k] = PackedLatentGAN(family, [units] * k, latent_dim,
                                          batch_size=settings.batch_size, loss=settings.loss,
                                          gp_weight=settings.gp_weight, n_critic=settings.n_critic,
                                          noise=settings.noise)
                gans[k].train(latents[latent_dim], 1)  # trace and compile
                gans[k].first_call_s_total = time.perf_counter() - start
            for spec in members:
                best = {}
                for k, gan in gans.items():
                    gan.reset(seeds=list(range(k)), c_lr=settings.learning_rates[0],
                              g_lr=settings.learning_rates[0], generators=[spec.pack_config()] * k)
                    gan.train(latents[latent_dim], args.warmup)
                for _ in range(args.rounds):  # the sizes interleaved
                    for k, gan in gans.items():
                        cost = _round(gan, latents[latent_dim], args.steps) / k
                        best[k] = min(best.get(k, float("inf")), cost)
                for k, gan in gans.items():
                    rows.append({"generator": spec.label, "critic": critic,
                                 "units": list(units), "k": k,
                                 "step_ms_per_run": best[k] * 1e3,
                                 "first_call_s": gan.first_call_s_total})
                print(f"{spec.label:>9} critic {critic:>6} {str(units):>12}: "
                      + ", ".join(f"K={k} {best[k] * 1e3:.2f} ms/run-step" for k in gans)
                      + f"  (bound {best[1] / min(best[k] for k in sizes):.2f}x)", flush=True)
    return rows


def summarise(rows, steps_per_run, sizes):
    """Per-run training seconds of the grid (each run alike) one at a time and packed."""
    def total(k):
        return sum(r["step_ms_per_run"] for r in rows if r["k"] == k) / 1e3 * steps_per_run

    n = sum(1 for r in rows if r["k"] == 1)
    alone = total(1) / n
    packed = {k: total(k) / n for k in sizes}
    return {"configurations": n, "steps_per_run": steps_per_run, "alone_s_per_run": alone,
            "packed_s_per_run": packed,
            "bound": {k: alone / packed[k] for k in sizes}}


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    import numpy as np
    import tensorflow as tf

    from qlsgan_tf.study import presets

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    config = presets.make_config(args.preset)
    settings = config.training_settings()
    labels = args.generators.split(",") if args.generators else config.generator_labels()
    critics = ([int(c) for c in args.critics.split(",")] if args.critics
               else list(config.critic_capacities))
    sizes = ([int(k) for k in args.k.split(",")] if args.k
             else [len(config.seeds) * len(config.learning_rates)])
    rng = np.random.default_rng(0)
    latents = {d: rng.uniform(-1, 1, (N_LATENTS, d)).astype(np.float32)
               for d in config.latent_dims}
    load = [os.getloadavg()[0]]
    rows = measure(settings, labels, critics, sizes, args, latents)
    load.append(os.getloadavg()[0])
    steps_per_run = config.epochs * (config.steps_per_epoch or 1)
    summary = summarise(rows, steps_per_run, sizes)
    print(f"\n{summary['configurations']} configurations, {steps_per_run} steps per run: "
          f"training {summary['alone_s_per_run']:.2f} s per run one at a time, "
          + ", ".join(f"{summary['packed_s_per_run'][k]:.2f} s in packs of {k} "
                      f"({summary['bound'][k]:.2f}x)" for k in sizes)
          + f"; 1-min load {load[0]:.1f} -> {load[1]:.1f}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                               "load": load, "args": vars(args), "rows": rows,
                               "summary": summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
