"""Prediction speed and memory: regimens x weeks x parameter draws, from the phase II fit.

Run:  python benchmarks/bench_predict.py [--draws 500] [--regimens 200]

Prints, in one process:
1. pkpd.predict of --regimens regimens (doses 15-180 mg x maintenance every 4-23 weeks,
   loading at weeks 0 and 4, to week 52) at 10 weeks with --draws parameter draws: the
   time and the peak resident memory of the process (goals: under 5 s and 500 MB);
2. the naive approach on 20 regimens: one full point prediction per parameter draw (timed
   on 20 draws, scaled to --draws), against the batched draws for the same 20 regimens,
   with the ratio and the largest difference between batched and naive draw rates.
"""

import argparse
import dataclasses
import resource
import time

import numpy as np

import pkpd

FIT = "ustekinumab_phase2"  # the library's phase II fit
WEEKS = [4, 8, 12, 16, 20, 24, 28, 36, 44, 52]


def regimens(n):
    doses = (15, 22.5, 30, 45, 60, 67.5, 90, 112.5, 135, 180)
    every = range(4, 24)
    out = {f"{d} mg q{e}w": f"{d} mg SC at weeks 0, 4 then every {e} weeks until week 52" for d in doses for e in every}
    return dict(list(out.items())[:n])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--regimens", type=int, default=200)
    args = parser.parse_args(argv)
    fit = pkpd.load_fit(FIT)
    pkpd.predict(fit, {"warm-up": "45 mg SC at week 0"}, [12], time_unit="week", n_draws=5)
    regs = regimens(args.regimens)
    t0 = time.perf_counter()
    ds = pkpd.predict(fit, regs, WEEKS, time_unit="week", n_draws=args.draws)
    fast = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"1. pkpd.predict: {len(regs)} regimens x {len(WEEKS)} weeks x 4 endpoints, {args.draws} parameter draws: "
          f"{fast:.2f} s, peak resident memory {peak:.0f} MB (the process's own accounting)")

    few = dict(list(regs.items())[:20])
    t0 = time.perf_counter()
    batched = pkpd.predict(fit, few, WEEKS, time_unit="week", n_draws=args.draws)
    t_batched = time.perf_counter() - t0
    n_naive = 20
    draws = {name[5:]: batched[name].values[:n_naive] for name in batched.data_vars if name.startswith("draw_")}
    t0 = time.perf_counter()
    naive = np.stack([pkpd.predict(dataclasses.replace(fit, model=fit.model.replace(
        {k: float(v[i]) for k, v in draws.items()})), few, WEEKS, time_unit="week").rate.values
        for i in range(n_naive)])
    naive_time = (time.perf_counter() - t0) / n_naive * args.draws
    print(f"2. 20 regimens: batched draws {t_batched:.2f} s; naive, one point prediction per draw (timed on "
          f"{n_naive}, scaled): {naive_time:.1f} s -> {naive_time / t_batched:.0f}x slower")
    diff = np.abs(batched.rate_draw.values[:n_naive] - naive).max()
    print(f"   largest difference between batched and naive draw rates: {diff:.1e} (the batched draws use a "
          "coarser design, shifted at the estimates; see pkpd/predict/_predict.py)")


if __name__ == "__main__":
    main()
