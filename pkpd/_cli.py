"""The ``pkpd`` command line. Bad input ends with a one-line error and exit code 2."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._errors import PkpdError


def _summary(ds) -> str:
    """One line per regimen: median (5-95%) peak and final concentration."""
    lines = [f"{'regimen':<60} {'Cmax median (5-95%) mg/L':>28} {'C at end median (5-95%)':>28}"]
    for name in ds.regimen.values:
        c = ds.concentration.sel(regimen=name)
        peak, end = c.max("time").values, c.isel(time=-1).values

        def fmt(x):
            lo, mid, hi = np.quantile(x, [0.05, 0.5, 0.95])
            return f"{mid:.3g} ({lo:.3g}-{hi:.3g})"
        lines.append(f"{str(name)[:60]:<60} {fmt(peak):>28} {fmt(end):>28}")
    return "\n".join(lines)


def _simulate(args) -> int:
    from ._simulate import simulate
    if args.weeks <= 0:
        raise PkpdError(f"--weeks must be > 0, got {args.weeks}.")
    if args.step_days <= 0:
        raise PkpdError(f"--step-days must be > 0, got {args.step_days}.")
    times = np.arange(0.0, args.weeks * 7.0 + 1e-9, args.step_days)
    ds = simulate(args.model, args.regimen, times, n_subjects=args.n, seed=args.seed)
    print(_summary(ds))
    if args.out:
        ds.to_netcdf(args.out)
        print(f"wrote {args.out}")
    if args.plot:
        from ._plot import plot_concentrations
        plot_concentrations(ds, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _fit(args) -> int:
    import json

    from ._fit import fit
    result = fit(args.model, args.trial, vary=args.vary, likelihood=args.likelihood, starts=args.starts,
                 seed=args.seed, profile=not args.no_profile)
    path = result.save(args.out)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.report())
        print(f"\nwrote {path}")
    if args.plot:
        from ._plot import plot_fit
        plot_fit(result, args.plot)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pkpd", description="PK/PD of therapeutic antibodies.")
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="simulate concentrations for one or more regimens")
    sim.add_argument("--model", default="ustekinumab_pk", help="model name or .toml path")
    sim.add_argument("--regimen", action="append", required=True,
                     help="regimen text, e.g. '45 mg SC at weeks 0, 4 then every 12 weeks until week 52' "
                          "(repeat the option for several)")
    sim.add_argument("--weeks", type=float, default=24.0, help="simulate from week 0 to this week")
    sim.add_argument("--step-days", type=float, default=1.0, help="output grid step (days)")
    sim.add_argument("--n", type=int, default=None, help="virtual patients (default: the typical patient)")
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument("--out", help="write the dataset to this netCDF file")
    sim.add_argument("--plot", help="write a PNG of the concentration profiles")
    sim.set_defaults(run=_simulate)

    fit = sub.add_parser("fit", help="fit a PASI model to arm-level trial data")
    fit.add_argument("model", help="model name or .toml path, e.g. models/ustekinumab_pasi.toml")
    fit.add_argument("trial", help="trial table (CSV), e.g. data/krueger2007_phase2.csv")
    fit.add_argument("--out", required=True, help="write the fit (JSON) to this file")
    fit.add_argument("--vary", nargs="+", default=None,
                     help="parameters to estimate (default: kout IC50 Pmax omega_response)")
    fit.add_argument("--likelihood", choices=["multinomial", "binomial"], default="multinomial")
    fit.add_argument("--starts", type=int, default=4, help="local optimisations (default 4)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the start screening design")
    fit.add_argument("--no-profile", action="store_true", help="skip the profile-likelihood intervals")
    fit.add_argument("--json", action="store_true", help="print the fit as JSON instead of the report")
    fit.add_argument("--plot", help="write a PNG of observed vs predicted rates")
    fit.set_defaults(run=_fit)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (PkpdError, FileNotFoundError) as err:
        first = str(err).splitlines()[0]
        print(f"pkpd {args.command}: error: {first}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
