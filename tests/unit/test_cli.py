"""CLI basics: version, python -m pkpd, the library listing, outputs by suffix, one-line warnings."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pkpd
from pkpd.cli import main


def test_version_and_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "pkpd", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"pkpd {pkpd.__version__}"


def test_models_lists_the_library_and_prints_a_parameter_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ustekinumab_pk" in out and "ustekinumab_pasi" in out and "pasi_turnover" in out
    assert "krueger2007_phase2" in out and "ustekinumab_phase2" in out
    assert main(["models", "ustekinumab_pk"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("CL "))
    assert "0.26598" in row and "L/day" in row and "Zhu 2009" in row
    bsv = next(line for line in table.splitlines() if line.startswith("bsv_CL "))
    assert "0.41 CV" in bsv  # as given in the file, next to the internal SD
    assert main(["models", "ustekinumab_pk", "--toml"]) == 0
    assert capsys.readouterr().out == pkpd.load_model("ustekinumab_pk").sources[0][1]


def test_simulate_with_weight_times_and_a_csv_output(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert main(["simulate", "--regimen", "1 mg/kg SC at week 0", "--weight", "80", "--times-days", "7", "14",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.columns.tolist()[:3] == ["regimen", "subject", "time"]
    expected = pkpd.simulate("ustekinumab_pk", "80 mg SC at week 0", [7, 14], weight=80.0).concentration.values.ravel()
    np.testing.assert_allclose(table["concentration"], expected, rtol=1e-15)
    nc = tmp_path / "c.nc"
    assert main(["simulate", "--regimen", "45 mg SC at week 0", "--times-weeks", "1", "2", "--out", str(nc)]) == 0
    assert xr.load_dataset(nc).time.values.tolist() == [7.0, 14.0]


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--regimen", "45 mg SC at week 0", "--out", "x.txt"],
     "--out 'x.txt': the file type follows the suffix; allowed: .nc (netCDF), .csv"),
    (["simulate", "--regimen", "45 mg SC at week 0", "--plot", "x.pdf"], "--plot 'x.pdf': the file type follows"),
    (["fit", "ustekinumab_pasi", "krueger2007_phase2", "--out", "f.txt"], "--out 'f.txt': the file type follows"),
    (["simulate", "--regimen", "45 mg SC at week 0", "--times-days", "1", "--times-weeks", "1"],
     "Give --times-days or --times-weeks, not both"),
    (["predict", "--fit", "ustekinumab_phase3", "--regimen", "placebo", "--at-week", "12"],
     "No fit file 'ustekinumab_phase3'; give a fit file written by `pkpd fit` or FitResult.save, or one of the "
     "library fits: ['ustekinumab_phase2']. Did you mean 'ustekinumab_phase2'?"),
])
def test_bad_outputs_and_options_are_refused_before_computing(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_warnings_print_as_one_line(tmp_path, capsys):
    # With Imax free the phase II data push it to its bound of 1: the fit says so in a warning.
    model = tmp_path / "m.toml"
    model.write_text(pkpd.load_model("ustekinumab_pasi").sources[0][1].replace("value = 1.0,   unit = \"1\",     lower = 0.0",
                                                                              "value = 0.95,  unit = \"1\",     lower = 0.0"))
    out = tmp_path / "f.json"
    code = main(["fit", str(model), "krueger2007_phase2", "--out", str(out), "--no-profile", "--starts", "1",
                 "--vary", "kout", "IC50", "Pmax", "omega_response", "Imax"])
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("pkpd fit: warning: ") for line in err)
    assert json.loads(out.read_text())["warnings"]


def test_simulate_a_nonmem_dataset(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("ID,TIME,AMT,EVID,CMT,WT,DIABETES\n1,0,45,1,1,80,0\n1,168,.,0,2,80,0\nC,1,170,450,1,1,80,0\n"
                    "2,0,90,1,1,110,1\n2,336,.,0,2,110,1\n")
    out = tmp_path / "s.csv"
    assert main(["simulate", "--data", str(data), "--time-unit", "hour", "--seed", "3", "--out", str(out)]) == 0
    assert "2 individuals, 4 records" in capsys.readouterr().out
    table = pd.read_csv(out)
    expected = pkpd.simulate("ustekinumab_pk", pkpd.read_nonmem(data, time_unit="hour"), seed=3)
    np.testing.assert_array_equal(table["concentration"], expected.concentration.values)
    assert main(["simulate", "--data", str(data)]) == 2
    assert "--data needs --time-unit (hour, day or week)" in capsys.readouterr().err


LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"


def test_exposure_prints_summaries_by_weight_band_and_writes_every_patient(tmp_path, capsys):
    out = tmp_path / "e.csv"
    assert main(["exposure", "ustekinumab_pk", LABEL, "90 mg SC every 8 weeks until week 16", "--n", "40",
                 "--seed", "2", "--bands", "100", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    ds = pkpd.exposure("ustekinumab_pk", {LABEL: LABEL, "90": "90 mg SC every 8 weeks until week 16"},
                       n_subjects=40, seed=2)
    s = pkpd.summarize_exposure(ds, bands=100)
    row = next(line for line in text.splitlines() if line.strip().startswith("4-16") and "> 100 kg" in line)
    lo, mid, hi = s.AUC.sel(regimen=LABEL, band="> 100 kg", interval=1).values

    def printed(x):  # three digits, whole numbers from 100 up
        return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"
    assert f"{printed(mid)} ({printed(lo)}-{printed(hi)})" in row
    assert f" {int(s.n.sel(band='> 100 kg'))} " in row and LABEL in text and f"wrote {out}" in text
    table = pd.read_csv(out)
    assert table.columns.tolist()[:3] == ["regimen", "subject", "interval"]
    assert len(table) == 2 * 40 * 6  # the 90 mg regimen's missing intervals are NaN rows
    first = table[table.regimen == LABEL]
    np.testing.assert_array_equal(first["Cmax"], ds.Cmax.sel(regimen=LABEL).values.ravel())
    np.testing.assert_array_equal(first["end_week"], np.tile(ds.end_week.sel(regimen=LABEL).values, 40))


def test_exposure_json_and_windows(capsys):
    assert main(["exposure", "ustekinumab_pk", LABEL, "--n", "30", "--window-weeks", "0", "4",
                 "--window-weeks", "16", "28", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["intervals"] == "windows" and record["n_subjects"] == 30 and record["seed"] == 0
    ds = pkpd.exposure("ustekinumab_pk", LABEL, n_subjects=30, intervals=[(0, 4), (16, 28)], time_unit="week")
    rows = record["summary"]
    assert [(r["start_week"], r["end_week"], r["band"]) for r in rows] == [(0, 4, "all"), (16, 28, "all")]
    for r, k in zip(rows, (0, 1)):
        assert r["Ctrough"]["p50"] == float(np.quantile(ds.Ctrough.values[0, :, k], 0.5))
        assert r["AUC"]["unit"] == "mg*day/L" and r["Tmax"]["unit"] == "day"


@pytest.mark.parametrize("argv, message", [
    (["exposure", "ustekinumab_pk", LABEL, "--out", "x.nc4"], "--out 'x.nc4': the file type follows the suffix"),
    (["exposure", "ustekinumab_pk", LABEL, "--window-weeks", "0", "4", "--window-days", "0", "7"],
     "Give --window-weeks or --window-days, not both."),
    (["exposure", "ustekinumab_pk", LABEL, "--window-weeks", "0", "4", "--horizon-weeks", "8"],
     "--horizon-weeks ends the last dosing interval"),
    (["exposure", "ustekinumab_pk", "45 mg SC every 12 weeks"], "repeats without end; give horizon= (in weeks; "
                                                                 "--horizon-weeks of pkpd exposure)"),
    (["exposure", "ustekinumab_pk", LABEL, "--window-weeks", "4", "0"], "Interval (4, 0) weeks"),
    (["exposure", "ustekinumab_pk", LABEL, LABEL], "A regimen is given twice"),
    (["exposure", "nope", LABEL], "No model file 'nope'"),
])
def test_exposure_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("pkpd exposure: error: ")
    assert list(tmp_path.iterdir()) == []


def test_simulate_reports_the_exact_peak_not_the_grid_maximum(capsys, ustekinumab):
    # A 1-hour infusion on a daily grid: the grid's largest value is a day after the peak.
    assert main(["simulate", "--regimen", "100 mg IV over 1 h at day 0", "--weeks", "2"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    CL, V = ustekinumab.values["CL"], ustekinumab.values["V"]  # the typical patient
    peak = 2400 / CL * (1 - np.exp(-CL / V / 24))
    grid_max = peak * np.exp(-CL / V * (1 - 1 / 24))
    assert f"{peak:.3g} ({peak:.3g}-{peak:.3g})" in row and f"{grid_max:.3g}" not in row
