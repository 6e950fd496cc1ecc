"""PASI response rates: speed of one evaluation, and accuracy against a large Monte Carlo.

Run:  python benchmarks/bench_pasi.py [--mc 1000000]

1. Time to compute the five phase II arms' rates (Krueger 2007 arms) over weeks 0-24:
   - at week 12 only, for PASI75 and PASI90: the evaluation a fit repeats;
   - at every week 0-24 for PASI50/75/90/100;
   - at every day 0-168 for PASI50/75/90/100;
   each with cached concentrations (as in a fit, where PK is fixed) and from scratch.
   The baseline in the same process is the textbook way: a solve_ivp of the turnover ODE
   per virtual patient (timed on 100 patients of one arm, scaled to the same work).
2. The deterministic rates (1,024 Sobol nodes) against a Monte-Carlo virtual trial of
   --mc patients per arm: difference and standard error per arm and endpoint.
"""

import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

import pkpd
from pkpd.design import Design, RateEngine

ARMS = {"45 mg x1": "45 mg SC at week 0", "90 mg x1": "90 mg SC at week 0",
        "45 mg x4": "45 mg SC weekly x4", "90 mg x4": "90 mg SC weekly x4", "placebo": "placebo"}
VALUES = dict(kout=0.04, IC50=0.3, Pmax=0.15, omega_response=0.6, Imax=0.95)  # a fit-like point


def best_of(f, repeat=20):
    f()
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def per_patient_ode(model, n):
    """Baseline: each patient's turnover ODE solved with solve_ivp on interpolated C(t)."""
    pop = pkpd.sample_population(model, n, seed=0)
    grid = np.arange(0.0, 85.0, 0.25)
    conc = pkpd.simulate(model, ARMS["90 mg x4"], grid, population=pop).concentration.values[0]
    v = model.values
    for i in range(n):
        def rhs(t, r, c=conc[i]):
            ci = np.interp(t, grid, c)
            inh = 1 - (1 - pkpd.inhibition(ci, v["Imax"], v["IC50"])) * (1 - v["Pmax"])
            return v["kout"] * (1 - inh) - v["kout"] * r
        solve_ivp(rhs, (0, 84), [1.0], t_eval=[84.0], rtol=1e-6, atol=1e-9)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--mc", type=int, default=1_000_000, help="Monte-Carlo patients per arm")
    args = parser.parse_args(argv)
    model = pkpd.load_model("ustekinumab_pasi").replace(VALUES)
    nodes = pkpd.sample_population(model, 1024, seed=0, method="sobol")

    print("1. Five phase II arms, 1,024 nodes per arm")
    design = Design()
    cases = [("week 12, PASI75/90 (the fit's evaluation)", np.array([84.0]), ["PASI75", "PASI90"]),
             ("weeks 0-24 weekly, PASI50/75/90/100", np.arange(0, 25) * 7.0, None),
             ("days 0-168 daily, PASI50/75/90/100", np.arange(0, 169.0), None)]
    for label, times, names in cases:
        ends = model.select_endpoints(names)
        engine = RateEngine(model, ARMS, times, nodes, design)
        cached = best_of(lambda: engine.rates({"IC50": 0.3 + np.random.rand() * 1e-6}, ends))
        scratch = best_of(lambda: RateEngine(model, ARMS, times, nodes, design).rates(endpoints=ends), repeat=5)
        print(f"   {label:<45} cached PK {cached * 1e3:7.2f} ms   from scratch {scratch * 1e3:7.1f} ms")
    t0 = time.perf_counter()
    per_patient_ode(model, 100)
    ode = (time.perf_counter() - t0) / 100 * 1024 * len(ARMS)
    engine = RateEngine(model, ARMS, np.array([84.0]), nodes, design)
    ends = model.select_endpoints(["PASI75", "PASI90"])
    fast = best_of(lambda: engine.rates({"IC50": 0.3 + np.random.rand() * 1e-6}, ends))
    print(f"   baseline: per-patient solve_ivp of the turnover, same 5 x 1,024 patients: {ode:.2f} s "
          f"-> {ode / fast:,.0f}x slower than the cached evaluation")

    print(f"\n2. Deterministic rates vs Monte Carlo with {args.mc:,} patients per arm, week 12")
    det = pkpd.response_rates(model, ARMS, [12], time_unit="week").rate.isel(time=0)
    t0 = time.perf_counter()
    mc = pkpd.simulate_trial(model, ARMS, [12], args.mc, seed=2007, time_unit="week").rate.isel(trial=0, time=0)
    print(f"   (Monte Carlo took {time.perf_counter() - t0:.1f} s, chunked on dask threads)")
    print(f"   {'arm':<10} {'endpoint':<8} {'deterministic':>13} {'Monte Carlo':>12} {'diff':>9} {'SE':>8} {'|diff|/SE':>9}")
    worst = 0.0
    for arm in det.regimen.values:
        for end in det.endpoint.values:
            d, m = float(det.sel(regimen=arm, endpoint=end)), float(mc.sel(regimen=arm, endpoint=end))
            se = np.sqrt(max(d * (1 - d), 1e-12) / args.mc)
            worst = max(worst, abs(m - d) / se)
            print(f"   {arm:<10} {end:<8} {d:13.5f} {m:12.5f} {m - d:9.5f} {se:8.5f} {abs(m - d) / se:9.2f}")
    print(f"   largest |diff|/SE: {worst:.2f} over {det.size} rates")


if __name__ == "__main__":
    main()
