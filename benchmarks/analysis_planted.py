"""Planted knee surfaces: the old two-stage chain beside the joint knee fit, knee-interval
coverage, and power reported from one realisation's fit vs realised on the true world.

    python benchmarks/analysis_planted.py --n 40 --shapes saturating,hinge,valley,asymmetric
    python benchmarks/analysis_planted.py --n 0 --coverage_rep 12 --power_rep 40
    python benchmarks/analysis_planted.py --n 0 --coverage_rep 0 --power_rep 0 --reliability 100

Rates: 10 Q (12..120) x 8 even log-spaced critics (30..24,000) x 10 seeds, knees rising
30-fold over Q (flat: none) about 1,500, run noise --noise (log sd), --tails normal|t3,
--nan_rate failed runs; verdict rates per planted law for both chains on the same tables.
Coverage: ``planted.knee_coverage`` (conditions ``planted.COVERAGE_CONDITIONS``: run noise
5-20 %, normal and t3 tails, 10-20 % NaN runs, knees centred from 100 to 8,000 so that some lie
beyond the grid). Power: ``planted.power_calibration(interval=True)`` (``power_interval``)
over ``planted.CALIBRATION_WORLDS``. Reliability: ``planted.power_reliability`` (reported
power vs the rate the tool then returns that verdict, over planted worlds drawn from
``planted.RELIABILITY_RANGES``, every fifth one the bundled pilot world), binned by the
reported power.
"""
import argparse
import math
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from qlsgan_tf.analysis import fit_surface, planted
from qlsgan_tf.analysis.twostage import two_stage

TRUTHS = ("exponential", "power law", "flat")
RIGHT = {"exponential": "exponential", "power law": "power law",
         "flat": "no increase detected"}


def rates(shape, tails, noise, nan_rate, n, seed, two_stage_boot):
    q, caps = planted.design()
    rng = np.random.default_rng(seed)
    out = {}
    for truth in TRUTHS:
        kap = planted.planted_knees(truth, q, 30.0, math.log(1500.0))
        new, old = {}, {}
        for _ in range(n):
            tabs = planted.planted_table(rng, q, caps, kap, shape=shape, tails=tails,
                                         noise=noise, nan_rate=nan_rate)
            v = fit_surface(q, caps, tabs, n_boot=0).verdict
            new[v] = new.get(v, 0) + 1 / n
            if two_stage_boot:
                w = two_stage(q, caps, tabs, n_boot=two_stage_boot)[0].verdict
                old[w] = old.get(w, 0) + 1 / n
        out[truth] = (new, old)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="replicates per law and shape (0: skip)")
    ap.add_argument("--shapes", default="saturating,hinge,valley,asymmetric")
    ap.add_argument("--tails", default="normal")
    ap.add_argument("--noise", type=float, default=0.13)
    ap.add_argument("--nan_rate", type=float, default=0.1)
    ap.add_argument("--two_stage_boot", type=int, default=50, help="0: joint fit only")
    ap.add_argument("--coverage_rep", type=int, default=12, help="studies per shape (0: skip)")
    ap.add_argument("--coverage_boot", type=int, default=60)
    ap.add_argument("--power_rep", type=int, default=40, help="0: skip")
    ap.add_argument("--reliability", type=int, default=0,
                    help="planted worlds of the reliability table (0: skip)")
    ap.add_argument("--reliability_rep", type=int, default=16,
                    help="simulated studies behind each reported power")
    ap.add_argument("--reliability_fresh", type=int, default=2,
                    help="fresh studies per world and law for the realised rate")
    ap.add_argument("--seed", type=int, default=1, help="seed of the reliability worlds")
    args = ap.parse_args()
    shapes = args.shapes.split(",")
    if args.n:
        print("Verdict rates (right / called exponential), joint fit vs two-stage chain")
        for shape in shapes:
            t = time.perf_counter()
            res = rates(shape, args.tails, args.noise, args.nan_rate, args.n, 0,
                        args.two_stage_boot)
            print(f"\n{shape}, {args.tails} noise {args.noise}, NaN {args.nan_rate}, "
                  f"{args.n} replicates ({time.perf_counter() - t:.0f} s)")
            for truth, (new, old) in res.items():
                line = (f"  {truth:12s} joint: right {new.get(RIGHT[truth], 0):.2f} "
                        f"exp {new.get('exponential', 0):.2f}")
                if old:
                    line += (f"   two-stage: right {old.get(RIGHT[truth], 0):.2f} "
                             f"exp {old.get('exponential', 0):.2f}")
                print(line)
    if args.coverage_rep:
        print(f"\nKnee-interval coverage (bracketed knees, {args.coverage_rep} studies per shape,"
              f" {args.coverage_boot} bootstrap resamples)")
        for shape in shapes:
            c = planted.knee_coverage(shape, n_rep=args.coverage_rep,
                                      n_boot=args.coverage_boot, seed=5)
            print(f"  {shape:11s} {c['coverage']:.3f} of {int(c['n'])} knees, median width "
                  f"{c['median_width']:.2f} (ln C)")
    if args.power_rep:
        print(f"\nPower reported from one realisation's fit (power_interval, 10 drawn worlds) "
              f"vs realised, reported [10-90 % interval] / realised ({args.power_rep} "
              "replicates each)")
        gaps, inside, n_pairs = [], 0, 0
        for world in planted.CALIBRATION_WORLDS:
            res = planted.power_calibration(world, n_rep=args.power_rep, seed=0, interval=True)
            cells = []
            for law, (a, b, (lo, hi)) in res.items():
                gaps.append(abs(a - b))
                n_pairs += 1
                inside += int(lo - 1e-9 <= b <= hi + 1e-9)
                cells.append(f"{law} {a:.2f} [{lo:.2f}, {hi:.2f}] / {b:.2f}")
            print(f"  {world:30s} " + "  ".join(cells))
        print(f"  gap |reported - realised|: mean {np.mean(gaps):.3f}, max {np.max(gaps):.3f}; "
              f"realised inside the interval: {inside} of {n_pairs}")
    if args.reliability:
        reliability(args)


def reliability(args):
    """The reliability table of the reported power over planted worlds."""
    from qlsgan_tf.study.pilot import bundled_world

    pilot = bundled_world()[0]
    pilot.draws = None          # the true world is the fitted point surface
    t = time.perf_counter()
    res = planted.power_reliability(args.reliability, n_rep=args.reliability_rep,
                                    n_fresh=args.reliability_fresh, seed=args.seed,
                                    pilot=pilot)
    print(f"\nReliability of the reported power ({args.reliability} worlds, seed {args.seed}, "
          f"{args.reliability_rep} simulated studies per reported power, "
          f"{args.reliability_fresh} fresh studies per world and law; "
          f"{time.perf_counter() - t:.0f} s; {res['failed']} worlds without a surface)")
    print("  reported power bin  pairs  mean reported  realised  95 % Wilson")
    for b in res["bins"]:
        lo, hi = b["range"]
        w_lo, w_hi = b["wilson"]
        print(f"  [{lo:.1f}, {hi:.1f}]          {b['pairs']:5d}  {b['reported']:13.3f}  "
              f"{b['realised']:8.3f}  [{w_lo:.2f}, {w_hi:.2f}]")
    for law in ("exponential", "power law", "flat"):
        sel = [p for p in res["pairs"] if p[1] == law]
        if sel:
            print(f"  {law:12s} mean reported {np.mean([p[2] for p in sel]):.3f}, realised "
                  f"{sum(p[3] for p in sel) / sum(p[4] for p in sel):.3f} ({len(sel)} worlds)")
    print(f"  max |mean reported - realised| over bins with >= 30 pairs: {res['max_gap']:.3f}")

if __name__ == "__main__":
    main()
