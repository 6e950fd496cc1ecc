"""The ``pkpd`` command line. Bad input ends with a one-line error and exit code 2; warnings
print as one line each (``pkpd fit: warning: ...``)."""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import xarray as xr

from ._errors import PkpdError
from ._version import __version__


def _summary(ds, peaks=None) -> str:
    """One line per regimen: median (5-95%) of each patient's peak and final concentration.

    ``peaks`` (regimen, subject): each patient's exact peak over the simulated range (an
    infusion's end falls between grid times); without it, for a simulation too large to
    hold, the largest value on the grid, computed chunk by chunk with the final values."""
    from .parallel import compute
    head = "Cmax median (5-95%) mg/L" if peaks is not None else "grid max median (5-95%)"
    lines = [f"{'regimen':<60} {head:>28} {'C at end median (5-95%)':>28}"]
    for r, name in enumerate(ds.regimen.values):
        c = ds.concentration.sel(regimen=name)
        # One pass over a lazy simulation's chunks for both figures.
        both = compute(xr.Dataset({"peak": c.max("time"), "end": c.isel(time=-1)}))
        end = both.end.values
        peak = both.peak.values if peaks is None else peaks[r]

        def fmt(x):
            lo, mid, hi = np.quantile(x, [0.05, 0.5, 0.95])
            return f"{mid:.3g} ({lo:.3g}-{hi:.3g})"
        lines.append(f"{str(name)[:60]:<60} {fmt(peak):>28} {fmt(end):>28}")
    return "\n".join(lines)


def _models(args) -> int:
    from .model import library, load_model
    if args.name is None:
        print(f"{'model':<24} {'response':<16} description")
        for name in library.names("models"):
            m = load_model(name)
            print(f"{name:<24} {m.pd.get('type', '(PK only)'):<16} {m.description}")
        print("\ntrials: " + ", ".join(library.names("trials")) + "\nfits:   " + ", ".join(library.names("fits")))
        return 0
    model = load_model(args.name)
    if args.toml:
        print(model.sources[0][1], end="")
        return 0
    structure = f"{model.structure}, {model.absorption} absorption, {model.elimination} elimination"
    print(f"{model.name}: {model.description}\nstructure: {structure}"
          + (f"\nresponse model: {model.pd['type']}; endpoints: {', '.join(model.endpoints.names)}" if model.pd else ""))
    print(f"\n{'parameter':<20} {'value':>10} {'unit':<7} {'as given':<14} source")
    for p in model.parameters:
        print(f"{p.name:<20} {p.value:>10.5g} {p.unit:<7} {p.given:<14} {p.source}")
    for name, covariate in model.population.items():
        print(f"\n{'body weight' if name == 'weight' else name}: {covariate.describe()} ({covariate.source})")
    for e in model.covariate_effects:
        print(f"effect: {e.describe()}")
    return 0


def _times(args) -> np.ndarray:
    from ._checks import number
    if args.times_days is not None and args.times_weeks is not None:
        raise PkpdError("Give --times-days or --times-weeks, not both.")
    if args.times_days is not None:
        return np.asarray(args.times_days, float)
    if args.times_weeks is not None:
        from ._units import to_days
        return to_days(np.asarray(args.times_weeks, float), "week")
    weeks = number("--weeks", args.weeks, above=0)
    step = number("--step-days", args.step_days, above=0)
    n = weeks * 7.0 / step
    if n > 1_000_000:
        raise PkpdError(f"--weeks {weeks:g} with --step-days {step:g} asks for {n:.3g} output times; at most "
                        "1,000,000. Use a larger step.")
    return np.arange(0.0, weeks * 7.0 + 1e-9, step)


def _simulate_data(args) -> int:
    """``pkpd simulate --data FILE --time-unit UNIT``: every ID of a NONMEM dataset its own records."""
    from ._io import DATASET_FORMATS, check_output, write_dataset
    from .dosing import read_nonmem
    from .pk import simulate
    if args.regimen or args.n is not None or args.plot:
        raise PkpdError("--data simulates the dataset's own IDs and records; give no --regimen, --n or --plot with it.")
    if args.time_unit is None:
        raise PkpdError("--data needs --time-unit (hour, day or week): the unit of TIME and II in the file.")
    if args.out:
        check_output(args.out, DATASET_FORMATS)
    data = read_nonmem(args.data, time_unit=args.time_unit)
    grid = _times(args) if args.times_days is not None or args.times_weeks is not None else None
    ds = simulate(args.model, data, grid, seed=args.seed, weight=args.weight)
    c = ds.concentration.values
    where = "on the grid" if grid is not None else "at observation records"
    if grid is None:
        c = c[(ds.EVID.values == 0)]
    lo, mid, hi = np.quantile(c, [0.05, 0.5, 0.95]) if c.size else (np.nan,) * 3
    print(f"{data.n_individuals} individuals, {data.n_records} records ({args.data}); concentration {where}: "
          f"median {mid:.3g} mg/L (5-95%: {lo:.3g}-{hi:.3g})")
    if args.out:
        write_dataset(ds, args.out)
        print(f"wrote {args.out}")
    return 0


def _simulate(args) -> int:
    from ._io import DATASET_FORMATS, check_output, write_dataset
    from .parallel import is_lazy
    from .pk import exposure, simulate
    if args.data:
        return _simulate_data(args)
    if not args.regimen:
        raise PkpdError("Give at least one --regimen (or --data FILE --time-unit UNIT for a NONMEM dataset).")
    if args.out:
        check_output(args.out, DATASET_FORMATS)
    if args.plot:
        check_output(args.plot, {".png": "PNG image"}, "--plot")
    times = _times(args)
    ds = simulate(args.model, args.regimen, times, n_subjects=args.n, seed=args.seed, weight=args.weight)
    if is_lazy(ds.concentration.data):
        return _simulate_large(args, ds)
    # The peak over the simulated range, exact (an infusion's end falls between grid times):
    # the exposure metric over [first, last time), and the last time's value (a dose given then).
    peaks = exposure(args.model, args.regimen, intervals=[(times[0], times[-1])], n_subjects=args.n,
                     seed=args.seed, weight=args.weight).Cmax.values[:, :, 0] if times.size > 1 else None
    last = ds.concentration.isel(time=-1).values
    print(_summary(ds, last if peaks is None else np.maximum(peaks, last)))
    if args.out:
        write_dataset(ds, args.out)
        print(f"wrote {args.out}")
    if args.plot:
        from .plot import plot_concentrations
        plot_concentrations(ds, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _exposure(args) -> int:
    """``pkpd exposure MODEL REGIMEN...``: metrics per dosing interval (or window), summarised."""
    import json

    from ._io import check_output, write_dataset
    from .pk import exposure, summarize_exposure
    if args.out:
        check_output(args.out, {".nc": "netCDF", ".csv": "CSV (one row per regimen, patient and interval)"})
    if args.window_weeks and args.window_days:
        raise PkpdError("Give --window-weeks or --window-days, not both.")
    windows, unit = (args.window_weeks, "week") if args.window_weeks else (args.window_days, "day")
    if windows and args.horizon_weeks is not None:
        raise PkpdError("--horizon-weeks ends the last dosing interval; --window-weeks/--window-days have their own "
                        "ends. Give one of them.")
    if len(set(args.regimen)) != len(args.regimen):
        raise PkpdError("A regimen is given twice; give each regimen once.")
    ds = exposure(args.model, {text: text for text in args.regimen}, intervals=windows or None,
                  horizon=args.horizon_weeks, time_unit=unit if windows else "week", n_subjects=args.n,
                  seed=args.seed, weight=args.weight)
    summary = summarize_exposure(ds, bands=args.bands)
    rows = _exposure_records(summary)
    if args.json:
        print(json.dumps({"model": ds.attrs["model"], "n_subjects": int(ds.sizes["subject"]),
                          "seed": int(ds.attrs["seed"]) if ds.attrs["seed"].isdigit() else None,
                          "intervals": ds.attrs["intervals"],
                          "engine": ds.attrs["engine"], "quantiles": summary["quantile"].values.tolist(),
                          "summary": rows}, indent=2))
    else:
        print(_exposure_table(ds, rows, "day" if args.window_days else "week"))
    if args.out:
        write_dataset(ds, args.out)
        if not args.json:
            print(f"wrote {args.out}")
    return 0


EXPOSURE_COLUMNS = ("AUC", "Cmax", "Tmax", "Cmin", "Ctrough", "Cavg")


def _exposure_records(summary) -> list[dict]:
    """One record per regimen, interval and weight band: n and each metric's quantiles (p5, p50, ...)."""
    names = [f"p{100 * q:g}" for q in summary["quantile"].values]
    rows = []
    for r, name in enumerate(summary.regimen.values):
        for k in summary.interval.values:
            start = float(summary.start.values[r, k])
            if not np.isfinite(start):
                continue  # a regimen with fewer dosing intervals than another
            for b, band in enumerate(summary.band.values):
                row = {"regimen": str(name), "interval": int(k), "start_week": float(summary.start_week.values[r, k]),
                       "end_week": float(summary.end_week.values[r, k]), "band": str(band),
                       "n": int(summary.n.values[b])}
                for key in EXPOSURE_COLUMNS:
                    values = summary[key].values[r, b, k]
                    row[key] = {"unit": summary[key].attrs["units"],
                                **{q: (float(v) if np.isfinite(v) else None) for q, v in zip(names, values)}}
                rows.append(row)
    return rows


def _exposure_table(ds, rows, unit: str) -> str:
    n = int(ds.sizes["subject"])
    typical = n == 1
    what = "the typical patient" if typical else f"{n} virtual patients (seed {ds.attrs['seed']}), median (5-95%)"
    kind = "dosing interval" if ds.attrs["intervals"] == "dosing" else "window"
    lines = [f"{ds.attrs['model']}: exposure per {kind}, {what}; Tmax in days after the interval's start"]
    units = {k: ds[k].attrs["units"] for k in EXPOSURE_COLUMNS}
    width = 10 if typical else 21
    head = f"  {unit + 's':<13} {'band':<18} {'n':>5}" + "".join(f" {k + ' ' + units[k]:>{width}}"
                                                               for k in EXPOSURE_COLUMNS)

    def number(x):
        return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"

    def cell(stats):
        if stats["p50"] is None:
            return "-"
        if typical:
            return f"{stats['p50']:.4g}"
        return f"{number(stats['p50'])} ({number(stats['p5'])}-{number(stats['p95'])})"
    regimen = None
    for row in rows:
        if row["regimen"] != regimen:
            regimen = row["regimen"]
            lines += ["", regimen, head]
        factor = 1.0 if unit == "week" else 7.0
        span = f"{row['start_week'] * factor:g}-{row['end_week'] * factor:g}"
        lines.append(f"  {span:<13} {row['band']:<18} {row['n']:>5}"
                     + "".join(f" {cell(row[k]):>{width}}" for k in EXPOSURE_COLUMNS))
    return "\n".join(lines)


def _simulate_large(args, ds) -> int:
    """A simulation too large for memory (lazy, chunked over subjects): streamed to --out, and
    summarised from the file written (or, without --out or to CSV, in one more pass over the chunks)."""
    from pathlib import Path

    from ._io import write_dataset
    c = ds.concentration
    if args.plot:
        raise PkpdError(f"--plot draws quantiles over all virtual patients, which needs them in memory: "
                        f"{c.sizes['subject']:,} subjects x {c.sizes['time']:,} times is "
                        f"{c.nbytes / c.sizes['regimen'] / 2 ** 30:.2g} GiB per regimen. Plot a smaller --n "
                        "(e.g. 10000) in a separate run.")
    if not args.out:
        print(_summary(ds))
        return 0
    path = write_dataset(ds, args.out)
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        print(_summary(ds))
    else:
        with (xr.open_zarr(path) if suffix == ".zarr" else xr.open_dataset(path, engine="h5netcdf", chunks={})) as f:
            print(_summary(f))
    print(f"wrote {args.out}")
    return 0


def _fit(args) -> int:
    import json

    from ._io import check_output
    from .inference import fit
    check_output(args.out, {".json": "pkpd fit file"})
    if args.plot:
        check_output(args.plot, {".png": "PNG image"}, "--plot")
    result = fit(args.model, args.trial, vary=args.vary, likelihood=args.likelihood, starts=args.starts,
                 seed=args.seed, profile=not args.no_profile)
    path = result.save(args.out)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.report())
        print(f"\nwrote {path}")
    if args.plot:
        from .plot import plot_fit
        plot_fit(result, args.plot)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


def _prediction_records(ds) -> list[dict]:
    rows = []
    for name in ds.regimen.values:
        for t, week in zip(ds.time.values, ds.week.values):
            for end in ds.endpoint.values:
                sel = dict(regimen=name, time=t, endpoint=end)
                row = {"regimen": str(name), "regimen_text": str(ds.regimen_text.sel(regimen=name).item()),
                       "week": float(week), "endpoint": str(end), "rate": float(ds.rate.sel(**sel))}
                for key in ("lower", "upper", "trial_lower", "trial_upper"):
                    if key in ds:
                        row[key] = float(ds[key].sel(**sel))
                rows.append(row)
    return rows


def _rule_records(ds) -> list[dict]:
    if "rule_fired" not in ds:
        return []
    out = []
    for name in ds.regimen.values:
        for j in ds.rule.values:
            text = str(ds.rule_text.sel(regimen=name, rule=j).item())
            if not text:
                continue
            row = {"regimen": str(name), "rule": text, "fired": float(ds.rule_fired.sel(regimen=name, rule=j))}
            if "rule_fired_lower" in ds:
                row["lower"] = float(ds.rule_fired_lower.sel(regimen=name, rule=j))
                row["upper"] = float(ds.rule_fired_upper.sel(regimen=name, rule=j))
            out.append(row)
    return out


def _predict(args) -> int:
    import json

    from ._checks import number
    from ._io import check_output
    from ._units import to_days
    from .plot import densify_times
    from .predict import predict
    if args.plot:
        check_output(args.plot, {".png": "PNG image"}, "--plot")
    weeks = [number("--at-week", w) for w in args.at_week]
    horizon = args.horizon_weeks if args.horizon_weeks is not None else max(weeks)
    horizon = number("--horizon-weeks", horizon, above=0)
    for w in weeks:
        if not 0 <= w <= horizon:
            raise PkpdError(f"Week {w:g} is outside the simulated range [0, {horizon:g}] weeks; give weeks in that "
                            "range or a longer --horizon-weeks.")
    if sorted(set(weeks)) != weeks:
        raise PkpdError(f"--at-week must list distinct weeks in increasing order, got {weeks}.")
    weight = args.weight
    if args.weight_median is not None or args.weight_cv is not None:
        if weight is not None:
            raise PkpdError("Give --weight or --weight-median/--weight-cv, not both.")
        if args.weight_median is None or args.weight_cv is None:
            raise PkpdError("--weight-median and --weight-cv go together (a log-normal weight distribution).")
        weight = {"median": args.weight_median, "cv": args.weight_cv}
    regimens = {text: text for text in args.regimen}
    options = dict(n_draws=args.draws, trial_size=args.trial_size, level=args.level, seed=args.seed,
                   weight=weight, subgroups=args.subgroup_weight, endpoints=args.endpoint,
                   progress=args.draws >= 50 and not args.quiet)
    reported = to_days(np.asarray(weeks, float), "week")
    # One prediction: with --plot on a grid from week 0 to the horizon that holds the reported
    # weeks; the table is those weeks of it and the figure all of it.
    days = densify_times(weeks, horizon, time_unit="week") if args.plot else reported
    curve = predict(args.fit, regimens, days, **options)
    ds = curve.sel(time=reported)
    if args.json:
        record = {"fit": args.fit, "level": args.level, "n_draws": args.draws, "trial_size": args.trial_size,
                  "predictions": _prediction_records(ds), "rules": _rule_records(ds)}
        if "rate_by_subgroup" in ds:
            record["subgroups"] = [
                {"regimen": str(r), "subgroup": str(g), "share": float(ds.subgroup_share.sel(subgroup=g)),
                 "week": float(w), "endpoint": str(e),
                 "rate": float(ds.rate_by_subgroup.sel(regimen=r, subgroup=g, time=t, endpoint=e))}
                for r in ds.regimen.values for g in ds.subgroup.values
                for t, w in zip(ds.time.values, ds.week.values) for e in ds.endpoint.values]
        print(json.dumps(record, indent=2))
    else:
        print(_prediction_table(ds, args))
    if args.plot:
        from .plot import plot_response
        plot_response(curve, args.plot, marks=weeks)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


def _prediction_table(ds, args) -> str:
    level = f"{args.level:.0%}"
    head = f"{'regimen':<58} {'week':>5} {'endpoint':<8} {'rate':>6}"
    if "lower" in ds:
        head += f"  {level + ' (parameters)':>20}"
    if "trial_lower" in ds:
        head += f"  {level + f' (trial of {args.trial_size})':>20}"
    lines = [head]
    for row in _prediction_records(ds):
        line = f"{row['regimen'][:58]:<58} {row['week']:>5g} {row['endpoint']:<8} {100 * row['rate']:5.1f}%"
        for lo, hi in (("lower", "upper"), ("trial_lower", "trial_upper")):
            if lo in row:
                interval = f"{100 * row[lo]:.1f}-{100 * row[hi]:.1f}%"
                line += f"  {interval:>20}"
        lines.append(line)
    for rule in _rule_records(ds):
        extra = f" ({level}: {100 * rule['lower']:.1f}-{100 * rule['upper']:.1f}%)" if "lower" in rule else ""
        lines.append(f"rule '{rule['rule']}' of '{rule['regimen'][:40]}': fired for {100 * rule['fired']:.1f}% "
                     f"of patients{extra}")
    if "rate_by_subgroup" in ds:
        lines.append("\nby body-weight subgroup (share of patients): " + ", ".join(
            f"{g} {100 * float(sh):.0f}%" for g, sh in zip(ds.subgroup.values, ds.subgroup_share.values)))
        for r in ds.regimen.values:
            for t, w in zip(ds.time.values, ds.week.values):
                for e in ds.endpoint.values:
                    vals = ds.rate_by_subgroup.sel(regimen=r, time=t, endpoint=e).values
                    lines.append(f"{str(r)[:58]:<58} {w:>5g} {e:<8} " +
                                 "  ".join(f"{g}: {100 * v:5.1f}%" for g, v in zip(ds.subgroup.values, vals)))
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line (``pkpd simulate: error: ...``, exit code 2), as every
    other error of the command line; ``pkpd COMMAND --help`` shows the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pkpd", description="PK/PD of therapeutic antibodies. Times are named "
                     "with their unit in every option (--weeks, --step-days, --at-week).")
    parser.add_argument("--version", action="version", version=f"pkpd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="list the library (models, trials, fits) or print a model's parameters")
    models.add_argument("name", nargs="?", help="a library model name or a .toml path")
    models.add_argument("--toml", action="store_true", help="print the model file itself (to copy and edit)")
    models.set_defaults(run=_models)

    sim = sub.add_parser("simulate", help="simulate concentrations for one or more regimens")
    sim.add_argument("--model", default="ustekinumab_pk", help="library model name or .toml path")
    sim.add_argument("--data", default=None, help="a NONMEM dataset (CSV): simulate its IDs at their records "
                     "(or on --times-days/--times-weeks)")
    sim.add_argument("--time-unit", default=None, help="unit of TIME and II in --data: hour, day or week (required)")
    sim.add_argument("--regimen", action="append", default=None,
                     help="regimen text, e.g. '45 mg SC at weeks 0, 4 then every 12 weeks until week 52' "
                          "(repeat the option for several)")
    sim.add_argument("--weeks", type=float, default=24.0, help="simulate from week 0 to this week (default 24)")
    sim.add_argument("--step-days", type=float, default=1.0, help="output grid step in days (default 1)")
    sim.add_argument("--times-days", type=float, nargs="+", default=None,
                     help="output times in days instead of the --weeks/--step-days grid")
    sim.add_argument("--times-weeks", type=float, nargs="+", default=None, help="output times in weeks")
    sim.add_argument("--n", type=int, default=None, help="virtual patients (default: the typical patient)")
    sim.add_argument("--seed", type=int, default=0, help="seed of the virtual patients (default 0)")
    sim.add_argument("--weight", type=float, default=None, help="body weight of every patient in kg")
    sim.add_argument("--out", help="write the dataset: .nc (netCDF), .zarr (zarr store) or .csv (long table); "
                     "a large simulation is computed and written chunk by chunk")
    sim.add_argument("--plot", help="write a PNG of the concentration profiles")
    sim.set_defaults(run=_simulate)

    exp = sub.add_parser("exposure", help="exposure metrics per dosing interval or window (AUC, Cmax, Tmax, Cmin, "
                         "Ctrough, Cavg), summarised by regimen and weight band")
    exp.add_argument("model", help="library model name or .toml path, e.g. ustekinumab_pk")
    exp.add_argument("regimen", nargs="+", help="regimen text, one or more, e.g. '45 mg SC at weeks 0, 4 then every "
                                                "12 weeks until week 52'")
    exp.add_argument("--n", type=int, default=None, help="virtual patients (default: the typical patient)")
    exp.add_argument("--seed", type=int, default=0, help="seed of the virtual patients (default 0)")
    exp.add_argument("--weight", type=float, default=None, help="body weight of every patient in kg")
    exp.add_argument("--horizon-weeks", type=float, default=None,
                     help="end of the last dosing interval in weeks (default: one repeat interval after the last dose)")
    exp.add_argument("--window-weeks", type=float, nargs=2, action="append", metavar=("START", "END"),
                     help="a window [START, END) in weeks instead of the dosing intervals (repeat for several)")
    exp.add_argument("--window-days", type=float, nargs=2, action="append", metavar=("START", "END"),
                     help="a window [START, END) in days (repeat for several)")
    exp.add_argument("--bands", type=float, nargs="+", default=None,
                     help="body-weight band limits in kg, e.g. 100 for <= 100 kg and > 100 kg")
    exp.add_argument("--out", help="write every patient's metrics: .nc (netCDF) or .csv (one row per regimen, "
                                   "patient and interval)")
    exp.add_argument("--json", action="store_true", help="print the summary as JSON")
    exp.set_defaults(run=_exposure)

    fit = sub.add_parser("fit", help="fit a response model to arm-level trial data")
    fit.add_argument("model", help="library model name or .toml path, e.g. ustekinumab_pasi")
    fit.add_argument("trial", help="library trial name or CSV path, e.g. krueger2007_phase2")
    fit.add_argument("--out", required=True, help="write the fit (JSON) to this file")
    fit.add_argument("--vary", nargs="+", default=None,
                     help="parameters to estimate (default: the response model's, e.g. kout IC50 Pmax omega_response)")
    fit.add_argument("--likelihood", choices=["multinomial", "binomial"], default="multinomial")
    fit.add_argument("--starts", type=int, default=4, help="local optimisations (default 4)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the start screening design (default 0)")
    fit.add_argument("--no-profile", action="store_true", help="skip the profile-likelihood intervals")
    fit.add_argument("--json", action="store_true", help="print the fit as JSON instead of the report")
    fit.add_argument("--plot", help="write a PNG of observed vs predicted rates")
    fit.set_defaults(run=_fit)

    pred = sub.add_parser("predict", help="predict responder rates of regimens from a fit")
    pred.add_argument("--fit", required=True, help="library fit name or fit file, e.g. ustekinumab_phase2")
    pred.add_argument("--regimen", action="append", required=True,
                      help="regimen text (repeat for several), e.g. '45 mg SC at weeks 0, 4 then every 12 weeks "
                           "until week 52; if not PASI75 at week 16: 45 mg SC at week 16'")
    pred.add_argument("--at-week", type=float, nargs="+", required=True, help="weeks to report")
    pred.add_argument("--endpoint", nargs="+", default=None,
                      help="endpoints to report and draw, e.g. PASI75 PASI90 (default: all of the model's)")
    pred.add_argument("--horizon-weeks", type=float, default=None,
                      help="the simulated range [0, horizon] in weeks (default: the last --at-week); the plot spans it")
    pred.add_argument("--draws", type=int, default=0, help="parameter draws for the uncertainty interval (e.g. 500)")
    pred.add_argument("--trial-size", type=int, default=None, help="also give the spread a trial arm of n would see")
    pred.add_argument("--level", type=float, default=0.95)
    pred.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    pred.add_argument("--weight", type=float, default=None, help="body weight of every patient in kg")
    pred.add_argument("--weight-median", type=float, default=None, help="log-normal weight distribution: median (kg)")
    pred.add_argument("--weight-cv", type=float, default=None, help="log-normal weight distribution: CV")
    pred.add_argument("--subgroup-weight", type=float, default=None,
                      help="also report rates for <= and > this weight in kg")
    pred.add_argument("--json", action="store_true", help="machine-readable output")
    pred.add_argument("--plot", help="write a PNG of response over time (weeks 0 to the horizon, the reported weeks "
                                     "marked, every interval drawn and labelled)")
    pred.add_argument("--quiet", action="store_true", help="no progress bar")
    pred.set_defaults(run=_predict)
    return parser


def _first_line(message) -> str:
    lines = str(message).strip().splitlines()
    return lines[0] if lines else type(message).__name__


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._errors import PkpdWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PkpdWarning)
        try:
            code = args.run(args)
        except (PkpdError, OSError) as err:  # SolverError is a PkpdError
            code, error = 2, err
        except MemoryError:
            code, error = 2, PkpdError("out of memory; ask for fewer subjects, draws, regimens or times (the memory "
                                       "budget, PKPD_MEMORY, is checked against estimates that can fall short).")
        else:
            error = None
    for message in dict.fromkeys(_first_line(w.message) for w in caught):
        print(f"pkpd {args.command}: warning: {message}", file=sys.stderr)
    if error is not None:
        print(f"pkpd {args.command}: error: {_first_line(error)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
