"""Prediction speed: 20 regimens x 3 weeks with 500 parameter draws, from the saved phase II fit.

Run:  python benchmarks/bench_predict.py [--draws 500]

Prints the time of pkpd.predict with parameter uncertainty (goal: under 5 s on this
machine) and, in the same process, the naive approach: one full point prediction per
parameter draw (timed on 20 draws, scaled to --draws), with the ratio. Also checks that
the batched intervals agree with the naive ones.
"""

import argparse
import time

import numpy as np

import dataclasses

import pkpd

FIT = "ustekinumab_phase2"  # the library's phase II fit
# 20 regimens: four doses x five maintenance intervals, loading at weeks 0 and 4.
REGIMENS = {f"{dose} mg q{every}w": f"{dose} mg SC at weeks 0, 4 then every {every} weeks until week 52"
            for dose in (22.5, 45, 90, 135) for every in (4, 6, 8, 10, 12)}
WEEKS = [12, 28, 52]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args(argv)
    fit = pkpd.load_fit(FIT)
    pkpd.predict(fit, {"warm-up": "45 mg SC at week 0"}, [12], time_unit="week", n_draws=5)
    t0 = time.perf_counter()
    ds = pkpd.predict(fit, REGIMENS, WEEKS, time_unit="week", n_draws=args.draws)
    fast = time.perf_counter() - t0
    print(f"pkpd.predict: {len(REGIMENS)} regimens x {len(WEEKS)} weeks x 4 endpoints, {args.draws} parameter draws: "
          f"{fast:.2f} s")

    n_naive = 20
    draws = {name[5:]: ds[name].values[:n_naive] for name in ds.data_vars if name.startswith("draw_")}
    t0 = time.perf_counter()
    naive = np.stack([pkpd.predict(dataclasses.replace(fit, model=fit.model.replace(
        {k: float(v[i]) for k, v in draws.items()})), REGIMENS, WEEKS, time_unit="week").rate.values
        for i in range(n_naive)])
    naive_time = (time.perf_counter() - t0) / n_naive * args.draws
    print(f"naive: one point prediction per draw (timed on {n_naive}, scaled): {naive_time:.1f} s "
          f"-> {naive_time / fast:.0f}x slower")
    batched = ds.rate_draw.values[:n_naive]
    print(f"largest difference between batched and naive draw rates: {np.abs(batched - naive).max():.1e} "
          "(the batched draws use a coarser design, shifted at the estimates; see pkpd/predict/_predict.py)")


if __name__ == "__main__":
    main()
