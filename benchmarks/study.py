"""Wall time of GAN training in the study: one epoch per generator kind, and whole presets.

Part 1 (always): one ``LatentGAN`` training epoch (``--steps`` generator steps, n_critic
critic steps each) for the hybrid with the fast backend, the hybrid with the TFQ backend and
a classical MLP generator, each with the same critic, built by the study's own
``tuning.capacity.single_run_model``. The configurations are measured interleaved, round by
round, so machine noise hits all alike; the first epoch (tracing) is reported separately as
``first_epoch_s``; times are medians over ``--repeats`` rounds. Real latents are not needed
for timing, so the critics see uniform latents in [-1, 1] of the VAE's latent size.

Part 2 (``--presets smoke[,quick]``): the wall time of ``qlsgan study --preset P`` on the
bundled sample, each in a fresh process and a fresh output directory.

    python benchmarks/study.py                       # epochs only (about a minute)
    python benchmarks/study.py --presets smoke       # + the smoke preset (minutes)
    python benchmarks/study.py --presets smoke,quick # + the demo (up to 15 minutes)
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "study.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qubits", type=int, default=5, help="quantum generator qubits")
    parser.add_argument("--layers", type=int, default=2, help="quantum generator layers")
    parser.add_argument("--critic", type=int, default=800, help="critic parameter budget")
    parser.add_argument("--classical", type=int, default=300,
                        help="classical generator parameter budget")
    parser.add_argument("--steps", type=int, default=25, help="generator steps per epoch")
    parser.add_argument("--batch", type=int, default=64, help="batch size")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per config")
    parser.add_argument("--presets", default="", help="comma-separated presets to time")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON output")
    args = parser.parse_args(argv)
    for name in ("qubits", "layers", "critic", "classical", "steps", "batch", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    args.presets = [p for p in args.presets.split(",") if p]
    unknown = set(args.presets) - {"smoke", "quick", "paper"}
    if unknown:
        parser.error(f"unknown presets: {', '.join(sorted(unknown))}")
    return args


def time_epochs(args):
    import numpy as np
    import tensorflow as tf

    from qlsgan_tf.study import presets
    from qlsgan_tf.training.latents import latent_dataset
    from qlsgan_tf.training.spec import GeneratorSpec
    from qlsgan_tf.tuning.capacity import single_run_model

    quantum = GeneratorSpec.quantum(args.qubits, args.layers).label
    classical = GeneratorSpec.sized(args.classical, args.qubits, depth=1).label
    configs = {
        "hybrid-fast": ("fast", quantum),
        "hybrid-tfq": ("tfq", quantum),
        "classical": ("fast", classical),
    }
    rng = np.random.default_rng(0)
    latents = rng.uniform(-1, 1, size=(args.batch * args.steps, args.qubits)).astype("float32")
    data = latent_dataset(latents, args.batch, seed=0, repeat=True)
    models, first = {}, {}
    for name, (backend, label) in configs.items():
        settings = presets.make_config(
            "quick", quantum_grid=[(args.qubits, args.layers)], backend=backend,
            classical_capacities=[args.classical], critic_capacities=[args.critic],
            batch_size=args.batch)
        tf.keras.utils.set_random_seed(0)
        models[name] = single_run_model(settings.training_settings(), label, args.critic)
        start = time.perf_counter()
        models[name].fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
        first[name] = time.perf_counter() - start
    times = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
            times[name].append(time.perf_counter() - start)
    rows = {}
    for name, values in times.items():
        rows[name] = {
            "label": configs[name][1], "backend": configs[name][0],
            "generator_capacity": int(models[name].generator_capacity),
            "critic_params": int(models[name].critic_params),
            "epoch_s": statistics.median(values), "epoch_s_all": values,
            "first_epoch_s": first[name],
        }
    base = rows["hybrid-tfq"]["epoch_s"]
    for row in rows.values():
        row["speedup_vs_hybrid_tfq"] = base / row["epoch_s"]
    return rows


def time_presets(names):
    rows = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"qlsgan-bench-{name}-") as tmp:
            cmd = [sys.executable, "-m", "qlsgan_tf.cli.main", "study", "--preset", name,
                   "--out", str(pathlib.Path(tmp) / "study"), "--verbose", "0"]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            rows[name] = {"wall_s": seconds, "returncode": proc.returncode}
            if proc.returncode:
                rows[name]["stderr_tail"] = proc.stderr[-2000:]
    return rows


def main(argv=None):
    args = parse_args(argv)
    epochs = time_epochs(args)
    print(f"\nOne training epoch: {args.steps} generator steps, batch {args.batch}, "
          f"critic budget {args.critic}; median of {args.repeats} interleaved rounds")
    print(f"{'config':<12} {'generator':<10} {'Q/G params':>10} {'critic params':>13} "
          f"{'epoch s':>8} {'first s':>8} {'vs hybrid-tfq':>14}")
    for name, row in epochs.items():
        print(f"{name:<12} {row['label']:<10} {row['generator_capacity']:>10} "
              f"{row['critic_params']:>13} {row['epoch_s']:>8.3f} "
              f"{row['first_epoch_s']:>8.2f} {row['speedup_vs_hybrid_tfq']:>13.1f}x")
    result = {"args": {k: (str(v) if isinstance(v, pathlib.Path) else v)
                       for k, v in vars(args).items()}, "epochs": epochs}
    if args.presets:
        result["presets"] = time_presets(args.presets)
        print("\nWhole presets (fresh process each, bundled sample):")
        for name, row in result["presets"].items():
            status = "ok" if row["returncode"] == 0 else f"FAILED (exit {row['returncode']})"
            print(f"  {name:<6} {row['wall_s']:8.1f} s  {status}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    failed = [n for n, r in result.get("presets", {}).items() if r["returncode"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
