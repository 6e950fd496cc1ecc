"""Individual dose times cost about what a shared regimen costs: 10,000 subjects in closed form.

Run:  python benchmarks/bench_dose_tables.py [--n 10000]

Shared: ``simulate(model, regimen, times, population=...)``, every subject the same six
doses (45 mg SC at weeks 0, 4, then every 12 weeks to week 52). Individual: a NONMEM
dataset in which every subject has its own first-dose day (0-13) and its own absorption
lag (0-1 day, a per-record TLAG column), simulated with ``simulate(model, dataset,
times=...)``. Both give 10,000 subjects x 365 daily outputs, with between-subject
variability and body weight, in the same process; each time is the best of 3, and the
ratio is individual / shared. Reading the dataset is timed apart. A sample of subjects is
checked against simulating each alone with its own shifted regimen and lag.
"""

import argparse
import time

import numpy as np
import pandas as pd

import pkpd

REGIMEN = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"


def best_of(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args(argv)
    n = args.n

    model = pkpd.load_model("ustekinumab_pk")
    times = np.arange(0.0, 365.0)
    pop = pkpd.sample_population(model, n, seed=1)
    rng = np.random.default_rng(2)
    first, lag = rng.integers(0, 14, n).astype(float), rng.uniform(0.0, 1.0, n)
    doses = pkpd.parse_regimen(REGIMEN).dose_times()
    table = pd.DataFrame({"ID": np.repeat(np.arange(1, n + 1), doses.size),
                          "TIME": (first[:, None] + doses[None, :]).ravel(), "AMT": 45.0, "EVID": 1, "CMT": 1,
                          "WT": np.repeat(pop.weight, doses.size), "TLAG": np.repeat(lag, doses.size),
                          "diabetes": np.repeat(pop.covariates["diabetes"], doses.size)})
    t0 = time.perf_counter()
    data = pkpd.read_nonmem(table, time_unit="day", parameters={"tlag": "TLAG"})
    read_time = time.perf_counter() - t0

    pkpd.simulate(model, REGIMEN, times, population=pop)  # warm-up
    shared, _ = best_of(lambda: pkpd.simulate(model, REGIMEN, times, population=pop))
    individual, ds = best_of(lambda: pkpd.simulate(model, data, times=times, seed=1))

    # Check a sample against one subject at a time (its own regimen, lag and parameters).
    worst = 0.0
    for i in rng.choice(n, 20, replace=False):
        one = model.replace(tlag=lag[i], CL=float(ds.CL[i]), V=float(ds.V[i]))
        reg = pkpd.Regimen((pkpd.Course(45, "sc", times=(first[i], first[i] + 28.0), every=84.0,
                                        start=first[i] + 112.0, count=4),))
        alone = pkpd.simulate(one.replace(weight_exponent_CL=0.0, weight_exponent_V=0.0), reg, times,
                              weight=90.0).concentration.values[0, 0]
        c = ds.concentration.values[i]
        mask = alone > 1e-12 * alone.max()
        worst = max(worst, float(np.max(np.abs(c[mask] - alone[mask]) / alone[mask])))

    print(f"problem: {n} subjects x {times.size} daily outputs x {doses.size} doses ({REGIMEN}), closed form")
    print(f"shared regimen (simulate, best of 3):                          {shared:8.3f} s")
    print(f"individual first-dose day and lag (dataset, best of 3):         {individual:8.3f} s")
    print(f"ratio individual / shared:                                     {individual / shared:8.2f}x")
    print(f"reading the {len(table):,}-record dataset (read_nonmem, once):        {read_time:8.3f} s")
    print(f"check: 20 subjects simulated alone, max relative difference    {worst:8.1e}")


if __name__ == "__main__":
    main()
