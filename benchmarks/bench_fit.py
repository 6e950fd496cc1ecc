"""Fitting the phase II trial: speed, convergence from many starts, and parameter recovery.

Run:  python benchmarks/bench_fit.py [--trials 200] [--workers 2] [--skip-recovery]

1. Time of one fit to data/krueger2007_phase2.csv (Krueger 2007): one local optimisation
   from the model file's values; the default fit (screening + 4 local runs + Hessian);
   and the full fit with 95% profile intervals. Baseline in the same process: the same
   likelihood minimised with scipy's L-BFGS-B on -2LL (finite-difference gradients) from
   the same screened starts, the usual hand-written approach.
2. Convergence: the default fit with 20 different start seeds (-2LL spread), and what
   single local runs from 20 uniform random points inside the bounds reach.
3. Parameter recovery: the phase II estimates are taken as the truth; --trials virtual
   phase II trials (64 patients per arm, seeded) are simulated and each is fitted with
   profiles. Prints how often each 95% profile interval covers the truth (expect ~95%;
   the acceptance band is 90-98%). Fits run in parallel on dask's process scheduler.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import pkpd
from pkpd.inference import FitProblem, Objective
from pkpd.inference._fit import _start_points, minimize as lm_minimize

PHASE2 = "krueger2007_phase2"


def timed(f):
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def baseline_lbfgsb(model, trial):
    """scipy L-BFGS-B on -2LL (finite-difference gradients) from the default fit's 4 start points."""
    obj = Objective(model, trial)
    problem = FitProblem.create(model)
    starts = _start_points(obj, problem, 4, 64, 0)
    best = min(minimize(lambda y: obj(problem.values(y)), y0, method="L-BFGS-B",
                        bounds=list(zip(problem.lower, problem.upper))).fun for y0 in starts)
    return best, obj.evaluations


def fit_one(counts: pd.DataFrame, truth: dict):
    warnings.simplefilter("ignore")
    result = pkpd.fit("ustekinumab_pasi", counts)
    return {n: (p["lower"] <= truth[n] <= p["upper"]) for n, p in result.profile.items()}, result.minus2ll


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--skip-recovery", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", pkpd.IdentifiabilityWarning)
    model = pkpd.load_model("ustekinumab_pasi")
    trial = pkpd.load_trial(PHASE2)

    print("1. Time of one fit (5 arms x 2 endpoints, 4 parameters, 1,024 nodes)")
    one, t_one = timed(lambda: pkpd.fit(model, trial, starts=1, profile=False))
    default, t_default = timed(lambda: pkpd.fit(model, trial, profile=False))
    full, t_full = timed(lambda: pkpd.fit(model, trial))
    (base_value, base_evals), t_base = timed(lambda: baseline_lbfgsb(model, trial))
    print(f"   one local optimisation (LM on deviance residuals):      {t_one:6.2f} s   -2LL {one.minus2ll:.4f}")
    print(f"   default fit (64-point screen, 4 local runs, Hessian):   {t_default:6.2f} s   -2LL {default.minus2ll:.4f}")
    print(f"   full fit with 95% profile intervals:                    {t_full:6.2f} s")
    print(f"   baseline: scipy L-BFGS-B on -2LL, same screen and 4 starts: {t_base:6.2f} s   -2LL {base_value:.4f} "
          f"({base_evals} evaluations) -> LM on deviance residuals is {t_base / t_default:.1f}x faster")

    print("\n2. Convergence")
    values = [pkpd.fit(model, trial, seed=s, profile=False).minus2ll for s in range(20)]
    print(f"   default fit, 20 start seeds: -2LL min {min(values):.6f}, max {max(values):.6f}, "
          f"spread {max(values) - min(values):.2e}")
    problem = FitProblem.create(model)
    obj = Objective(model, trial)
    rng = np.random.default_rng(1)
    raw = [lm_minimize(obj, problem, rng.uniform(problem.lower, problem.upper))[1] for _ in range(20)]
    best = min(values)
    hits = sum(abs(r - best) < 1e-4 for r in raw)
    print(f"   single LM runs from 20 uniform random points: {hits}/20 reach -2LL {best:.4f} (within 1e-4); "
          f"the others stop at {sorted({round(r, 2) for r in raw if abs(r - best) >= 1e-4})}")

    if args.skip_recovery:
        return
    print(f"\n3. Parameter recovery: {args.trials} virtual phase II trials, truth = the phase II estimates")
    truth = {n: full.values[n] for n in full.varying}
    sim = pkpd.simulate_trial(full.model, trial.regimens, [12], 64, n_trials=args.trials, seed=2024,
                              time_unit="week", endpoints=["PASI75", "PASI90"])
    tables = []
    for k in range(args.trials):
        rows = [dict(arm=a, regimen=str(trial.regimens[a]), n=64, week=12, endpoint=e,
                     responders=int(sim.responders.sel(trial=k, regimen=a, endpoint=e).item()))
                for a in trial.arms for e in ("PASI75", "PASI90")]
        tables.append(pd.DataFrame(rows))
    t0 = time.perf_counter()
    from pkpd.parallel import run_chunks
    results = run_chunks(fit_one, [(t, truth) for t in tables], scheduler="processes")
    print(f"   ({args.trials} fits with profiles in {time.perf_counter() - t0:.0f} s on dask processes)")
    for name in full.varying:
        covered = np.mean([r[0][name] for r in results])
        se = np.sqrt(0.95 * 0.05 / args.trials)
        print(f"   {name:<16} truth {truth[name]:.4g}   coverage of the 95% profile interval: {100 * covered:5.1f}% "
              f"(+-{200 * se:.1f}% expected from {args.trials} trials)")


if __name__ == "__main__":
    main()
