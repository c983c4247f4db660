"""Planted knee surfaces: the old two-stage chain beside the joint knee fit, and power checks.

    python benchmarks/analysis_planted.py --n 40 --shapes saturating,hinge,valley,asymmetric

Design: 10 Q (12..120) x 8 even log-spaced critics (30..24,000) x 10 seeds, knees rising
30-fold over Q (flat: none) about 1,500, run noise --noise (log sd), --tails normal|t3,
--nan_rate failed runs. Prints verdict rates per planted law for both chains.
"""
import argparse
import math
import time

import numpy as np

from qlsgan_tf.analysis import fit_surface, planted, simulate_power
from qlsgan_tf.analysis.twostage import two_stage

TRUTHS = ("exponential", "power law", "flat")


def rates(shape, tails, noise, nan_rate, n, seed):
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
            w = two_stage(q, caps, tabs, n_boot=50)[0].verdict
            new[v] = new.get(v, 0) + 1 / n
            old[w] = old.get(w, 0) + 1 / n
        out[truth] = (new, old)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--shapes", default="saturating,hinge,valley,asymmetric")
    ap.add_argument("--tails", default="normal")
    ap.add_argument("--noise", type=float, default=0.13)
    ap.add_argument("--nan_rate", type=float, default=0.1)
    ap.add_argument("--power_rep", type=int, default=40)
    args = ap.parse_args()
    right = {"exponential": "exponential", "power law": "power law",
             "flat": "no increase detected"}
    for shape in args.shapes.split(","):
        t = time.perf_counter()
        res = rates(shape, args.tails, args.noise, args.nan_rate, args.n, 0)
        print(f"\n{shape}, {args.tails} noise {args.noise}, NaN {args.nan_rate} "
              f"({time.perf_counter() - t:.0f} s)")
        for truth, (new, old) in res.items():
            print(f"  {truth:12s} joint: right {new.get(right[truth], 0):.2f} "
                  f"exp {new.get('exponential', 0):.2f}   two-stage: right "
                  f"{old.get(right[truth], 0):.2f} exp {old.get('exponential', 0):.2f}")
    q, caps = planted.design()
    rng = np.random.default_rng(9)
    kap = planted.planted_knees("exponential", q, 30.0, math.log(1500.0))
    fit = fit_surface(q, caps, planted.planted_table(rng, q, caps, kap), n_boot=0)
    rep = simulate_power(fit, n_rep=args.power_rep, seed=1)
    for truth in TRUTHS:
        k = planted.planted_knees(truth, q, 30.0, math.log(1500.0))
        v = [fit_surface(q, caps, planted.planted_table(rng, q, caps, k), n_boot=0).verdict
             for _ in range(args.power_rep)]
        print(f"power {truth:12s} reported {rep[truth].get(right[truth], 0):.2f} "
              f"realised {v.count(right[truth]) / len(v):.2f}")


if __name__ == "__main__":
    main()
