"""Whole ``qlsgan study`` processes: the default engine (packs in lanes) vs ``--pack 1``.

What a user waits for: each study is a fresh ``qlsgan study`` process in a fresh output
directory (start-up, data, VAE loading, compilation, training, evaluation and report all
counted), given one VAE trained once before (``--vae DIR``; trained here when not given) so
that no study trains one. Per design the two modes run one after the other, never at the same
time (two cores), alternating which goes first over ``--repeats`` rounds; the figure is the
wall time per finished run, and the ratio of each mode's to the default engine's
(``--modes``: ``pack1``, one run at a time; ``every_epoch``, the default engine scoring every
epoch as before the study scored only what it reads).

Designs (``--design``):

- ``quick``: the quick preset (``make demo``'s) with ``--steps_per_epoch 25``; ``--pack 1``
  trains one seed of it (every generator x critic), as the whole preset one run at a time
  would take hours.
- ``small``: 48 runs of about 100 steps (4 quantum and 2 classical generators x 4 critics x
  2 seeds, 8 steps per epoch), both modes all 48.

    python benchmarks/whole_study.py --design small
    python benchmarks/whole_study.py --design quick,small --repeats 1 --vae VAE_DIR
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "whole_study.json"
SAMPLE = REPO / "qlsgan_tf" / "data" / "sample" / "sat-4-sample.mat"

DESIGNS = {
    "quick": {"flags": ["--preset", "quick", "--steps_per_epoch", "25"],
              "pack1_flags": ["--seeds", "0"]},
    "small": {"flags": ["--preset", "quick", "--quantum_grid", "3x1,3x2,3x3,3x4",
                        "--classical_capacities", "20,150",
                        "--critic_capacities", "30,120,480,1920", "--seeds", "0,1",
                        "--learning_rates", "2e-3", "--steps_per_epoch", "8"],
              "pack1_flags": []},
}


MODES = {
    "packed": [],  # the default engine
    "pack1": ["--pack", "1"],  # one run at a time (packs of one)
    "every_epoch": ["--evaluate_every_epoch"],  # packed, scoring every epoch (the old way)
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--design", default="small",
                        help=f"comma-separated designs: {', '.join(DESIGNS)}")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the modes")
    parser.add_argument("--modes", default="packed,pack1",
                        help=f"comma-separated modes: {', '.join(MODES)} (packed first)")
    parser.add_argument("--vae", type=pathlib.Path, default=None,
                        help="a VAE directory from `qlsgan train-vae` (latent size 3)")
    parser.add_argument("--work", type=pathlib.Path, default=None,
                        help="where the study directories go (default: a temporary one)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON output")
    args = parser.parse_args(argv)
    args.design = [d for d in args.design.split(",") if d]
    unknown = set(args.design) - set(DESIGNS)
    if unknown or not args.design:
        parser.error(f"unknown designs: {', '.join(sorted(unknown)) or '(none)'}; "
                     f"choose from {', '.join(DESIGNS)}")
    args.modes = [m for m in args.modes.split(",") if m]
    if set(args.modes) - set(MODES) or args.modes[:1] != ["packed"]:
        parser.error(f"--modes: packed first, then any of {', '.join(MODES)}")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.vae is not None and not (args.vae / "vae.keras").exists():
        parser.error(f"--vae {args.vae}: no vae.keras there (train one with qlsgan train-vae)")
    return args


def _qlsgan(*args):
    return [sys.executable, "-m", "qlsgan_tf.cli.main", *map(str, args)]


def timed(cmd):
    """(wall s, user+sys CPU s of the child, 1-min load at start, at end) of one process."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load0, os.getloadavg()[0]


def records(out):
    """{run key: record} of a finished study directory."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))
            if not p.name.startswith(".")}


def agreement(packed, alone):
    """Of the runs both trained: how many have the same status, and the same score within
    1e-3 relative (None scores equal)."""
    common = sorted(set(packed) & set(alone))
    same_status = sum(packed[k]["status"] == alone[k]["status"] for k in common)

    def close(a, b):
        if a is None or b is None:
            return a is b
        return abs(a - b) <= 1e-3 * max(1.0, abs(b))

    same_score = sum(close(packed[k].get("score"), alone[k].get("score")) for k in common)
    return {"runs": len(common), "same_status": same_status, "same_score": same_score}


def main(argv=None):
    args = parse_args(argv)
    work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="whole-study-"))
    work.mkdir(parents=True, exist_ok=True)
    vae = args.vae
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "designs": {}}
    if vae is None:
        vae = work / "vae"
        wall, cpu, l0, l1 = timed(_qlsgan("train-vae", SAMPLE, "--latent_dim", 3, "--epochs", 5,
                                          "--out", vae, "--verbose", 0))
        result["vae_s"] = wall
    for design in args.design:
        flags = DESIGNS[design]["flags"] + ["--vae", vae, "--verbose", 0]
        modes = {m: flags + MODES[m] + (DESIGNS[design]["pack1_flags"] if m == "pack1" else [])
                 for m in args.modes}
        rows = []
        for rep in range(args.repeats):
            order = list(modes) if rep % 2 == 0 else list(reversed(modes))
            runs = {}
            for mode in order:
                out = work / f"{design}-{mode}-{rep}"
                wall, cpu, l0, l1 = timed(_qlsgan("study", "--out", out, *modes[mode]))
                runs[mode] = records(out)
                row = {"design": design, "mode": mode, "round": rep, "wall_s": wall,
                       "cpu_s": cpu, "load_start": l0, "load_end": l1, "runs": len(runs[mode]),
                       "wall_per_run_s": wall / max(1, len(runs[mode]))}
                rows.append(row)
                print(f"{design:6s} {mode:7s} round {rep}: {wall:8.1f} s wall, {cpu:8.1f} s CPU, "
                      f"{row['runs']} runs, {row['wall_per_run_s']:.2f} s/run "
                      f"(load {l0:.1f} -> {l1:.1f})", flush=True)
            for mode in [m for m in modes if m != "packed"]:
                rows.append({"design": design, "round": rep, "mode_vs_packed": mode,
                             "agreement": agreement(runs["packed"], runs[mode])})
        per_run = {m: [r["wall_per_run_s"] for r in rows if r.get("mode") == m] for m in modes}
        ratios = {m: sum(per_run[m]) / sum(per_run["packed"]) for m in modes if m != "packed"}
        result["designs"][design] = {"rows": rows, "ratio_per_run": ratios}
        for mode, ratio in ratios.items():
            agree = [r["agreement"] for r in rows if r.get("mode_vs_packed") == mode][-1]
            print(f"{design}: {mode} / packed wall per run = {ratio:.2f}x; same as packed: "
                  f"{agree}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
