"""Simulate the five arms of the ustekinumab phase II trial (Krueger et al., N Engl J Med
2007;356:580-592, doi:10.1056/NEJMoa062382) over 24 weeks and plot the concentrations.

Run:  python examples/simulate_phase2.py [--n 1000] [--seed 2007] [--out out/]
Prints the typical patient's half-life and steady-state troughs, a table per arm, and
writes out/phase2_concentrations.png (median and 5-95% band of the arms; placebo named in
a note, since it has no drug to draw on a log axis), the dataset (.nc), and
out/typical_patient.png (the typical patient on the labelled schedule over a year).
"""

import argparse
import math
from pathlib import Path

import numpy as np

import pkpd

# The five arms; "weekly x4" doses at weeks 0, 1, 2, 3 (Krueger 2007, Methods).
PHASE2_ARMS = {
    "45 mg x1": "45 mg SC at week 0",
    "90 mg x1": "90 mg SC at week 0",
    "45 mg weekly x4": "45 mg SC weekly x4",
    "90 mg weekly x4": "90 mg SC weekly x4",
    "placebo": "placebo",
}
# The labelled maintenance schedule (STELARA prescribing information), for the typical patient.
LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"


def typical_patient_report(model) -> None:
    v = model.values
    half_life = math.log(2) / (v["CL"] / v["V"])
    print(f"Typical patient ({v['reference_weight']:g} kg): elimination half-life "
          f"{half_life:.1f} days = {half_life / 7:.1f} weeks")
    # Steady-state trough: the concentration just before a dose at steady state.
    troughs = pkpd.simulate(model, {"45 mg q12w": "45 mg SC every 12 weeks from week 0 x1 at steady state",
                                    "90 mg q12w": "90 mg SC every 12 weeks from week 0 x1 at steady state"},
                            [84.0 - 1e-9])
    for name in troughs.regimen.values:
        c = float(troughs.concentration.sel(regimen=name).squeeze())
        print(f"  steady-state trough, {name}: {c:.3f} ug/mL")
    print("  published (STELARA prescribing information, PHOENIX 1/2): 0.21-0.26 ug/mL (45 mg), "
          "0.47-0.49 ug/mL (90 mg)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="virtual patients per arm")
    parser.add_argument("--seed", type=int, default=2007)
    parser.add_argument("--out", default="out", help="folder for the PNG and netCDF file")
    args = parser.parse_args(argv)

    model = pkpd.load_model("ustekinumab_pk")
    typical_patient_report(model)
    ds = pkpd.simulate(model, PHASE2_ARMS, np.arange(0.0, 24 * 7 + 1), n_subjects=args.n, seed=args.seed)
    print(f"\nPhase II arms, {args.n} virtual patients each (weights: model default distribution)")
    peak = ds.concentration.max("time").quantile([0.05, 0.5, 0.95], dim="subject")
    print(f"{'arm':<18} {'Cmax on the daily grid, median (5-95%) ug/mL':>46}")
    for name in ds.regimen.values:
        lo, mid, hi = peak.sel(regimen=name).values
        print(f"  {name:<16} {mid:>10.3g} ({lo:.3g}-{hi:.3g})")
    week12 = ds.concentration.sel(time=84.0).quantile([0.05, 0.5, 0.95], dim="subject")
    print("\nWeek-12 concentration, median (5-95%) ug/mL")
    for name in ds.regimen.values:
        lo, mid, hi = week12.sel(regimen=name).values
        print(f"  {name:<18} {mid:.3g} ({lo:.3g}-{hi:.3g})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pkpd.plot_concentrations(ds, out / "phase2_concentrations.png")
    ds.to_netcdf(out / "phase2_concentrations.nc")
    typical = pkpd.simulate(model, {"45 mg at weeks 0, 4, then every 12 weeks": LABEL}, np.arange(0.0, 52 * 7 + 1))
    pkpd.plot_concentrations(typical, out / "typical_patient.png")
    print(f"\nwrote {out / 'phase2_concentrations.png'}, {out / 'phase2_concentrations.nc'} and "
          f"{out / 'typical_patient.png'}")


if __name__ == "__main__":
    main()
