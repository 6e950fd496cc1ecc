"""Predict regimens no trial tested, from the phase II fit (the library fit ``ustekinumab_phase2``).

Run:  python examples/predict_regimens.py [--draws 500] [--out out/]

Compares, at weeks 12, 28 and 52, with 95% intervals from parameter uncertainty (and the
spread a 64-patient arm would observe):
  - the five phase II arms (Krueger et al., N Engl J Med 2007);
  - the schedule later used in practice: 45 mg at weeks 0 and 4, then every 12 weeks,
    90 mg for patients over 100 kg (STELARA prescribing information);
  - every-8-week maintenance on the same weight bands;
  - the labelled schedule plus a week-16 top-up for patients who are not PASI75
    responders (the phase II trial gave "one additional dose at week 16 if needed");
  - a flat 45 mg labelled schedule for everyone, to show what the weight band buys
    patients over 100 kg.
Writes a ranked table and three figures: response over time of the new regimens (weeks
0-52, the reported weeks marked), the regimens ranked at week 52 with their intervals,
and a week-12 dose-response curve on a log dose axis.
"""

import argparse
from pathlib import Path

import pandas as pd

import pkpd

BAND = "45 mg if weight <= 100 kg else 90 mg"
REGIMENS = {
    "45 mg x1 (phase II)": "45 mg SC at week 0",
    "90 mg x1 (phase II)": "90 mg SC at week 0",
    "45 mg weekly x4 (phase II)": "45 mg SC weekly x4",
    "90 mg weekly x4 (phase II)": "90 mg SC weekly x4",
    "placebo (phase II)": "placebo",
    "label: wk 0, 4, q12w (90 mg > 100 kg)": f"{BAND} SC at weeks 0, 4 then every 12 weeks until week 52",
    "q8w maintenance (90 mg > 100 kg)": f"{BAND} SC at weeks 0, 4 then every 8 weeks until week 52",
    "label + week-16 top-up if not PASI75": (f"{BAND} SC at weeks 0, 4 then every 12 weeks until week 52; "
                                             f"if not PASI75 at week 16: {BAND} SC at week 16"),
    "label, 45 mg for everyone": "45 mg SC at weeks 0, 4 then every 12 weeks until week 52",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", default="ustekinumab_phase2", help="library fit name or fit file")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fit = pkpd.load_fit(args.fit)

    weeks = [12, 28, 52]
    # One prediction on a grid from week 0 to 52 that holds the reported weeks: the tables
    # read those weeks, the figures draw the whole course.
    curve = pkpd.predict(fit, REGIMENS, pkpd.densify_times(weeks, time_unit="week"), n_draws=args.draws,
                         trial_size=64, subgroups=100)
    ds = curve.sel(time=[w * 7.0 for w in weeks])
    print(f"Predicted responders, {args.draws} parameter draws; 95% intervals: parameters [trial of 64]\n")
    for end in ("PASI75", "PASI90"):
        rows = {}
        for name in ds.regimen.values:
            cells = []
            for w in weeks:
                sel = dict(regimen=name, time=w * 7.0, endpoint=end)
                cells.append(f"{100 * float(ds.rate.sel(**sel)):4.0f}% ({100 * float(ds.lower.sel(**sel)):.0f}-"
                             f"{100 * float(ds.upper.sel(**sel)):.0f}) [{100 * float(ds.trial_lower.sel(**sel)):.0f}-"
                             f"{100 * float(ds.trial_upper.sel(**sel)):.0f}]")
            rows[name] = cells
        table = pd.DataFrame.from_dict(rows, orient="index", columns=[f"week {w}" for w in weeks])
        with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_colwidth", 40):
            print(f"{end}\n{table}\n")

    ranked = pkpd.compare_regimens(ds, 52, "PASI75")
    numeric = ranked.columns.drop("regimen")
    ranked[numeric] = (100 * ranked[numeric]).round(1)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print("Ranked by PASI75 at week 52 (%):")
        print(ranked.to_string(), "\n")
    fired = ds.rule_fired.sel(regimen="label + week-16 top-up if not PASI75").item()
    pasi75_16 = pkpd.predict(fit, {"label": REGIMENS["label: wk 0, 4, q12w (90 mg > 100 kg)"]}, [16],
                             time_unit="week", endpoints=["PASI75"]).rate.item()
    print(f"Week-16 top-up given to {100 * fired:.1f}% of patients "
          f"(non-responders at week 16 on the label: {100 * (1 - pasi75_16):.1f}%)")
    sub = ds.rate_by_subgroup.sel(endpoint="PASI75", time=52 * 7.0)
    print("\nPASI75 at week 52 by weight subgroup (share of patients: "
          + ", ".join(f"{g} {100 * float(s):.0f}%" for g, s in zip(ds.subgroup.values, ds.subgroup_share.values))
          + ")")
    for name in ("label: wk 0, 4, q12w (90 mg > 100 kg)", "label, 45 mg for everyone"):
        print(f"  {name:<40} " + "  ".join(f"{g}: {100 * float(v):.1f}%" for g, v in
                                           zip(sub.subgroup.values, sub.sel(regimen=name).values)))

    new = list(REGIMENS)[5:]  # the regimens no trial tested
    pkpd.plot_response(curve.sel(regimen=new), out / "predict_regimens.png", endpoints=["PASI75", "PASI90"],
                       marks=weeks)
    pkpd.plot_comparison(curve, out / "compare_regimens.png", week=52, endpoint="PASI75")
    doses = [0, 5, 10, 22.5, 45, 67.5, 90, 135, 180, 270]
    dr = pkpd.dose_response(fit, doses, "{dose} mg SC at week 0", week=12, n_draws=args.draws, trial_size=64)
    pkpd.plot_dose_response(dr, out / "dose_response.png", endpoints=["PASI75", "PASI90"])
    print("\nwrote " + ", ".join(str(out / name) for name in ("predict_regimens.png", "compare_regimens.png",
                                                              "dose_response.png")))


if __name__ == "__main__":
    main()
