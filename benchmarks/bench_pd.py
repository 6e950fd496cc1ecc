"""Exact PD on the reference problem of simulator benchmarks, against libRoadRunner.

Problem: 1-cmt SC PK (ustekinumab: CL, V, ka of the library model; log-normal variability
on CL and V from the model and on ka, 30% CV, an ASSUMPTION of this benchmark), indirect
response type I: dR/dt = kin (1 - Imax C/(IC50 + C)) - kout R, kout 0.1/day, Imax 0.95,
IC50 0.5 mg/L, R0 1; 45 mg at days 0, 28, 112, 196, 280, 364; daily output to day 392;
10,000 patients; one thread.

Run:  pip install -e '.[bench]' && python benchmarks/bench_pd.py [--n 10000] [--rr 200]

Prints, in one process: the error of each method against an exact reference (DOP853 at
rtol 1e-12 on the ODE driven by the closed-form concentration, restarted at every dose,
for 20 patients), pkpd's time for all patients, libRoadRunner's (CVODE at the tolerances
that reach the same accuracy class, timed on --rr patients and scaled), and the ratio.
Without libroadrunner installed it prints pkpd's figures only.
"""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import pkpd  # noqa: E402
from pkpd.model import Parameter  # noqa: E402

DOSES = [0.0, 28.0, 112.0, 196.0, 280.0, 364.0]
TIMES = np.arange(0.0, 393.0)
KOUT, IMAX, IC50 = 0.1, 0.95, 0.5


def model_and_patients(n):
    base = pkpd.load_model("ustekinumab_pk")
    # The library model as it is (covariate effects included), with variability on ka added.
    model = dataclasses.replace(base, parameters=base.parameters + (
        Parameter("bsv_ka", 0.30, "CV", source="ASSUMPTION: benchmark"),))
    pop = pkpd.sample_population(model, n, seed=1, weight=90.0)
    return model, pop, pop.individual(model)


def exact_reference(p, i):
    """DOP853 at rtol 1e-12 with the closed-form concentration of patient i."""
    CL, V, ka, F = p["CL"][i], p["V"][i], p["ka"][i], p["F"][i]
    k = CL / V

    def conc(t):
        return sum(F * 45 * ka / (V * (ka - k)) * (math.exp(-k * (t - d)) - math.exp(-ka * (t - d)))
                   for d in DOSES if t > d)

    def rhs(t, r):
        c = conc(t)
        return KOUT * (1 - IMAX * c / (IC50 + c)) - KOUT * r
    out, y, t0 = {0.0: 1.0}, [1.0], 0.0
    for stop in DOSES[1:] + [TIMES[-1]]:
        wanted = np.union1d(TIMES[(TIMES > t0) & (TIMES <= stop)], [stop])
        sol = solve_ivp(rhs, (t0, stop), y, t_eval=wanted, rtol=1e-12, atol=1e-14, method="DOP853")
        out.update(zip(sol.t, sol.y[0]))
        y, t0 = sol.y[:, -1], stop
    return np.array([out[t] for t in TIMES])


def roadrunner_runner(rtol, atol):
    import antimony
    import roadrunner
    doses = "\n".join(f"  E{j}: at (time >= {d}): depot = depot + 45 * F;" for j, d in enumerate(DOSES[1:]))
    text = f"""
model ref
  depot = 45 * F; A = 0; R = 1;
  CL = 0.3; V = 9; ka = 0.35; F = 0.572;
  kout = {KOUT}; kin = {KOUT}; Imax = {IMAX}; IC50 = {IC50};
  C := A / V;
  J1: depot -> A; ka * depot;
  J2: A -> ; CL / V * A;
  J3: -> R; kin * (1 - Imax * C / (IC50 + C));
  J4: R -> ; kout * R;
{doses}
end
"""
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise RuntimeError(antimony.getLastError())
    rr = roadrunner.RoadRunner(antimony.getSBMLString("ref"))
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol

    def run(p, i):
        rr.resetAll()
        rr["CL"], rr["V"], rr["ka"], rr["F"] = p["CL"][i], p["V"][i], p["ka"][i], p["F"][i]
        rr["depot"] = 45 * p["F"][i]
        return rr.simulate(0, TIMES[-1], TIMES.size, ["R"])[:, 0]
    return run


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rr", type=int, default=200, help="patients timed for libRoadRunner (scaled to --n)")
    args = parser.parse_args(argv)
    model, pop, p = model_and_patients(args.n)
    idr = pkpd.IndirectResponse("I", kout=KOUT, Imax=IMAX, IC50=IC50)
    regimen = "45 mg SC at days " + ", ".join(f"{d:g}" for d in DOSES)
    check = np.linspace(0, args.n - 1, 20).astype(int)
    reference = np.array([exact_reference(p, i) for i in check])

    print(f"Reference problem: {args.n:,} patients x {TIMES.size} daily outputs, 6 SC doses, IDR type I, one thread")
    small = pkpd.sample_population(model, 8, seed=1, weight=90.0)
    pkpd.simulate_response(model, regimen, TIMES, idr, population=small)  # compile the kernels
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        ds = pkpd.simulate_response(model, regimen, TIMES, idr, population=pop)
        best = min(best, time.perf_counter() - t0)
    err = np.max(np.abs(ds.response.values[0, check] / reference - 1))
    print(f"  pkpd.simulate_response (exact PD, default design): {1e3 * best:8.1f} ms   max rel. error {err:.1e}")
    grid = pkpd.simulate(model, regimen, TIMES, population=pop).concentration.values[0]
    t0 = time.perf_counter()
    sampled = pkpd.indirect_response(TIMES, grid, "I", kout=KOUT, Imax=IMAX, IC50=IC50)
    t_sampled = time.perf_counter() - t0
    err_s = np.max(np.abs(sampled[check] / reference - 1))
    print(f"  pkpd.indirect_response on daily samples (0.1's method): {1e3 * t_sampled:6.1f} ms   "
          f"max rel. error {err_s:.1e} (the effect taken as linear between samples)")
    try:
        import roadrunner  # noqa: F401
    except ImportError:
        print("  libRoadRunner not installed (pip install -e '.[bench]'): no comparison")
        return
    for rtol, atol in ((1e-6, 1e-10), (1e-8, 1e-12)):
        run = roadrunner_runner(rtol, atol)
        rr_err = np.max([np.abs(run(p, i) / reference[j] - 1).max() for j, i in enumerate(check)])
        n_rr = min(args.rr, args.n)
        t0 = time.perf_counter()
        for i in range(n_rr):
            run(p, i)
        t_rr = (time.perf_counter() - t0) / n_rr * args.n
        print(f"  libRoadRunner CVODE rtol {rtol:g} atol {atol:g}: {t_rr:8.2f} s (timed on {n_rr}, scaled)   "
              f"max rel. error {rr_err:.1e}   -> pkpd is {t_rr / best:,.0f}x faster")


if __name__ == "__main__":
    main()
