"""Fit the PASI model to the ustekinumab phase II trial and print the report and predictions.

Trial: Krueger et al., N Engl J Med 2007;356:580-592 (doi:10.1056/NEJMoa062382), week-12
PASI75/PASI90 in five arms of 64 patients (library trial ``krueger2007_phase2``).

Run:  python examples/fit_phase2.py [--out out/ustekinumab_phase2.json] [--plot out/fit_phase2.png]

Prints the fit report (estimates, SEs, profile intervals, correlations, -2LL, AIC,
observed vs predicted with 95% binomial intervals) and the fitted model's predicted
PASI75/PASI90 over weeks 4-24 for the five arms; writes the fit file and a PNG of
observed vs predicted rates, and says whether the fit equals the library's reference fit
``ustekinumab_phase2`` (regenerate that with --out pkpd/model/library/fits/ustekinumab_phase2.json).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

import pkpd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ustekinumab_pasi", help="library model name or .toml path")
    parser.add_argument("--trial", default="krueger2007_phase2", help="library trial name or CSV path")
    parser.add_argument("--out", default="out/ustekinumab_phase2.json")
    parser.add_argument("--plot", default="out/fit_phase2.png")
    args = parser.parse_args(argv)

    result = pkpd.fit(args.model, args.trial)
    print(result.report())
    path = result.save(args.out)
    print(f"\nwrote {path}")

    saved = pkpd.load_fit(path)
    weeks = [4, 8, 12, 16, 20, 24]
    rates = pkpd.predict(saved, result.trial.regimens, weeks, time_unit="week").rate
    print("\nPredicted responders (%) of the fitted model, by week")
    table = (100 * rates.sel(endpoint=["PASI75", "PASI90"])).round(1).to_dataframe(name="%")["%"].unstack("time")
    table.columns = [f"wk {w:g}" for w in weeks]
    with pd.option_context("display.width", 120):
        print(table)

    reference = pkpd.load_fit("ustekinumab_phase2")
    same = reference.values == saved.values and reference.minus2ll == saved.minus2ll
    print(f"\nestimates {'equal' if same else 'DIFFER from'} the library's reference fit 'ustekinumab_phase2'")

    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    pkpd.plot_fit(result, args.plot)
    print(f"wrote {args.plot} (lines: fitted model; points: observed with 95% Clopper-Pearson intervals, side by "
          "side where arms share a week; boxes: 95% range of a 64-patient arm under the fitted model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
