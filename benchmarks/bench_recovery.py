"""Parameter recovery of each response structure on phase II-like trials: coverage of the 95% intervals.

For each structure, the truth is its maximum-likelihood fit to the phase II trial (Krueger
2007; library trial ``krueger2007_phase2``), except parameters that fit ends on the edge
of their range (there the structure becomes a simpler one and nothing is left to recover):
those are set inside, as ASSUMPTIONS of this benchmark (Imax 0.9 for the Hill structure,
a 15% non-responder class). Each simulated trial has the phase II design (five arms of 64
patients, PASI75 and PASI90 at week 12), counts drawn from the model at the truth
(:func:`pkpd.recovery`), and is refitted with 95% profile-likelihood intervals.

With ``--weeks 4,8,12,16,20,24`` each simulated trial has the same arms and patients with
visits at those weeks instead of week 12 alone (ASSUMPTION of this benchmark: the phase II
trial went on beyond week 12, with an extra dose at week 16 if needed and placebo crossing
over at week 20, but its abstract reports week 12 only; the simulated arms keep their first
regimen throughout). Week 12 alone does not identify every parameter of the richer
structures (kout of the Hill structure, ke0 of the effect compartment: their intervals reach
the parameter's bounds), and no interval can cover a parameter the data do not inform 95% of
the time: it is the whole range, or it is wrong. The time course identifies them, so the
intervals' calibration can be checked for every parameter; the counts at each visit are
independent draws, as the fit's likelihood treats them.

Acceptance (issue 11): at least 100 trials per structure, coverage within 90-98% per
parameter. The binomial SE of a coverage of 95% over 100 trials is 2.2 points.

Run:  python benchmarks/bench_recovery.py [--trials 100] [--nodes 256] [--workers 2] [--structures NAME ...]
                                          [--weeks 4,8,12,16,20,24]

Prints, per structure: the truth, each parameter's coverage with its SE, the share of open
(one-sided) intervals, the median relative error of the estimates, failed refits, and the
time. Refits run in chunks on a dask LocalCluster of ``--workers`` processes (threads when 0).
"""

import argparse
import time
import warnings

import pandas as pd

import pkpd
from pkpd.design import Design

TRIAL = "krueger2007_phase2"
STRUCTURES = ["ustekinumab_pasi", "ustekinumab_pasi_hill", "ustekinumab_pasi_nonresponders",
              "ustekinumab_pasi_effect", "ustekinumab_pasi_sensitivity"]
INSIDE = {"Imax": 0.9, "nonresponders": 0.15}  # ASSUMPTION: truths inside the range where the fit hit its edge


def truth(name: str, design: Design):
    """The structure's MLE on phase II, with parameters that ended on an edge moved inside, as a fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pkpd.fit(name, TRIAL, design=design, profile=False, priors=False)
        problem = fit.problem()
        edges = problem.at_bound(problem.to_fit(fit.values))
        if not edges:
            return fit
        moved = fit.model.replace({n: INSIDE[n] for n in edges})
        others = [n for n in fit.varying if n not in edges]
        # refit the others with the moved parameters held, so that the truth is a fit of its own
        held = pkpd.fit(moved, TRIAL, design=design, profile=False, priors=False, vary=others)
        import dataclasses
        return dataclasses.replace(held, varying=fit.varying, transforms=fit.transforms, covariance=None)


def visits(weeks: list[float]) -> pkpd.inference.TrialData:
    """The phase II design (its arms, regimens and patients) with PASI75 and PASI90 at ``weeks``;
    the counts are placeholders (a design for the simulated trials)."""
    table = pkpd.load_trial(TRIAL).table[["arm", "regimen", "n", "endpoint"]]
    return pkpd.load_trial(pd.concat([rows.assign(week=week, responders=0) for _, rows in table.groupby(
        "arm", sort=False) for week in weeks], ignore_index=True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=256, help="Sobol nodes of the rates (fits and simulation)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster processes (0: threads)")
    parser.add_argument("--structures", nargs="*", default=STRUCTURES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weeks", default="", help="visits of the simulated trials, e.g. 4,8,12,16,20,24 "
                        "(default: the phase II trial's, week 12)")
    args = parser.parse_args(argv)
    weeks = [float(w) for w in args.weeks.split(",")] if args.weeks else None
    design_trial = visits(weeks) if weeks else None
    design = Design(n_nodes=args.nodes)
    client = None
    if args.workers:
        from dask.distributed import Client, LocalCluster
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True))
    print(f"Parameter recovery: {args.trials} simulated phase II-like trials per structure (PASI75 and PASI90 at "
          f"week{'s ' + ', '.join(f'{w:g}' for w in weeks) if weeks else ' 12'}), {args.nodes} Sobol nodes, 95% "
          "profile-likelihood intervals")
    try:
        for name in args.structures:
            t0 = time.perf_counter()
            fit = truth(name, design)
            result = pkpd.recovery(fit, args.trials, trial=design_trial, seed=args.seed, client=client, chunk=2)
            summary = result.summary()
            elapsed = time.perf_counter() - t0
            print(f"\n{name} ({fit.model.pd['type']}): truth " + ", ".join(
                f"{n} {fit.values[n]:.4g}" for n in fit.varying) + f"; {len(result.failed)} failed refits; "
                  f"{elapsed:.0f} s")
            print(f"  {'parameter':<16} {'coverage':>9} {'SE':>6} {'open':>6} {'median rel. error':>18}  in 90-98%")
            for row in summary.itertuples():
                ok = 0.90 <= row.coverage <= 0.98
                print(f"  {row.parameter:<16} {100 * row.coverage:8.1f}% {100 * row.coverage_se:5.1f} "
                      f"{100 * row.open_intervals:5.0f}% {100 * row.median_relative_error:17.1f}%  "
                      f"{'yes' if ok else 'NO'}")
            for index, message in result.failed[:3]:
                print(f"  failed refit {index}: {message[:150]}")
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    main()
