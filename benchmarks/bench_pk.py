"""Speed of the linear PK engine: 10,000 virtual patients, one year on a daily grid, six doses.

Run:  python benchmarks/bench_pk.py [--n 10000] [--baseline-n 200]

Prints the vectorised closed-form time (best of 3) and, in the same process, a per-patient
loop of scipy.integrate.solve_ivp on the same problem (the textbook approach). The loop is
timed on --baseline-n patients and scaled to n (its cost is linear in patients); the ratio
is the speed-up. Both are checked to agree before timing counts.
"""

import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

import pkpd

REGIMEN = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"  # six doses in one year


def per_patient_loop(p, weight_amounts, dose_times, times):
    """The baseline: one solve_ivp per patient, segment by segment between doses."""
    out = np.empty((len(p["CL"]), times.size))
    for i in range(len(p["CL"])):
        ka, k, F, V = p["ka"][i], p["CL"][i] / p["V"][i], p["F"][i], p["V"][i]
        y = np.zeros(2)
        marks = list(dose_times) + [times[-1]]
        for j, start in enumerate(dose_times):
            y[0] += F * weight_amounts[i]
            stop = marks[j + 1]
            sel = (times >= start) & ((times < stop) if j + 1 < len(dose_times) else (times <= stop))
            if stop == start:  # a dose on the last output time
                out[i, sel] = y[1] / V
                continue
            t_eval = np.unique(np.append(times[sel], stop))
            sol = solve_ivp(lambda t, s: [-ka * s[0], ka * s[0] - k * s[1]], (start, stop), y,
                            t_eval=t_eval, rtol=1e-8, atol=1e-10)
            out[i, sel] = sol.y[1, np.isin(sol.t, times[sel])] / V
            y = sol.y[:, -1]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--baseline-n", type=int, default=200)
    args = parser.parse_args(argv)

    model = pkpd.load_model("ustekinumab_pk")
    pop = pkpd.sample_population(model, args.n, seed=1)
    times = np.arange(0.0, 365.0)
    pkpd.simulate(model, REGIMEN, times, population=pop)  # warm-up
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        ds = pkpd.simulate(model, REGIMEN, times, population=pop)
        best = min(best, time.perf_counter() - t0)

    p = pop.individual(model)
    sub = {k: v[: args.baseline_n] for k, v in p.items()}
    dose_times = pkpd.parse_regimen(REGIMEN).dose_times()
    amounts = np.full(args.baseline_n, 45.0)
    t0 = time.perf_counter()
    loop = per_patient_loop(sub, amounts, dose_times, times)
    loop_time = (time.perf_counter() - t0) * args.n / args.baseline_n
    exact = ds.concentration.values[0, : args.baseline_n]
    err = np.max(np.abs(loop - exact) / np.maximum(exact, 1e-3 * exact.max()))

    print(f"problem: {args.n} patients x {times.size} daily times x {dose_times.size} doses ({REGIMEN})")
    print(f"closed form, vectorised (simulate, best of 3): {best:8.3f} s")
    print(f"per-patient solve_ivp loop (timed on {args.baseline_n}, scaled): {loop_time:8.1f} s")
    print(f"speed-up: {loop_time / best:,.0f}x   (loop vs closed form max rel. difference {err:.1e})")


if __name__ == "__main__":
    main()
