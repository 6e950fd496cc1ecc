"""Issue 10: every bad or hostile input of the sweep gets a clear PkpdError (the CLI: one line,
exit code 2) or a correct answer within a documented budget. One test per class of the
issue's examples: crashes, silent acceptances, unbounded work and data loss."""

import json
import math
import re
import os
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pkpd
from pkpd.cli import main
from helpers import make_model

TRIAL_HEAD = "arm,regimen,n,week,endpoint,responders\n"
LIBRARY_FIT = json.loads(pkpd.model._library.read("fits", "ustekinumab_phase2")[0])


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return path


def fit_file(tmp_path, change):
    record = json.loads(json.dumps(LIBRARY_FIT))
    record = change(record) or record
    return write(tmp_path, "f.json", json.dumps(record))


def cli_error(capsys, argv) -> str:
    """Run the command line; it must fail with exit code 2 and exactly one line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"pkpd {argv[0]}: error: "), err
    return err


# -- crashes: every one of them is now a PkpdError naming the value and what is allowed ---------

@pytest.mark.parametrize("text, message", [
    ("45 mg SC weekly x nan", r"word 6 'nan': expected a number of doses"),
    ("45 mg SC weekly x 1e400", r"word 6 '1e400': expected a number of doses \(a finite number\)"),
    ("45 mg SC at week 0; if PASI50-nan at week 4: 1 mg SC at week 4", r"word 11 'nan': expected a whole percentage"),
])
def test_regimen_text_with_numbers_that_are_not_finite_or_whole(text, message):
    with pytest.raises(pkpd.RegimenSyntaxError, match=message):
        pkpd.parse_regimen(text)


def test_1500_nested_weight_bands_parse_print_and_resolve_without_recursion():
    text = " ".join(f"{i} mg if weight <= {i} kg else" for i in range(1, 1501)) + " 2000 mg SC at week 0"
    regimen = pkpd.parse_regimen(text)
    assert str(regimen) == text and pkpd.parse_regimen(str(regimen)) == regimen
    # The band of a patient is the first limit at or above the weight (closed upper limits).
    amounts = regimen.courses[0].amount.resolve(np.array([0.5, 1.0, 1.5, 1500.0, 1500.5]))
    assert amounts.tolist() == [1.0, 1.0, 2.0, 1500.0, 2000.0]


@pytest.mark.parametrize("rows, message", [
    ("a,45 mg SC at week 0,64,12,PASI75,many\n", r"row 1 \(arm 'a'\): responders must be a whole number, got 'many'"),
    ("a,45 mg SC at week 0,64,12,PASI75,inf\n", r"row 1 \(arm 'a'\): responders must be a whole number, got inf"),
    ("a,45 mg SC at week 0,64,twelve,PASI75,10\n", r"row 1 \(arm 'a'\): week must be a number, got 'twelve'. Weeks are"),
    ("a,45 mg SC at week 0,64,12,PASI75,10\nb,45 mg SC at week 0,64,-1,PASI75,10\n",
     r"row 2 \(arm 'b'\): week must be >= 0, got -1"),
    ("a,45 mg SC at week 0,sixty,12,PASI75,10\n", r"row 1 \(arm 'a'\): n must be a whole number, got 'sixty'"),
    (",45 mg SC at week 0,64,12,PASI75,10\n", r"row 1: the arm has no name"),
])
def test_trial_tables_with_bad_cells(tmp_path, rows, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_trial(write(tmp_path, "t.csv", TRIAL_HEAD + rows))


@pytest.mark.parametrize("text, message", [
    ("", r"is empty; it needs a header line"),
    ("arm,regimen,n,week,endpoint,percent\na,45 mg SC at week 0,64,12,PASI75,abc\n",
     r"percent must be a number, got 'abc'"),
    ('arm,regimen,n,week,endpoint,responders\na,"45 mg SC,64,12,PASI75,1\n', r"is not a readable CSV table"),
])
def test_empty_and_unreadable_trial_files(tmp_path, text, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_trial(write(tmp_path, "t.csv", text))


def test_a_trial_with_fewer_residuals_than_parameters_names_the_counts(tmp_path):
    trial = write(tmp_path, "t.csv", TRIAL_HEAD + "a,45 mg SC at week 0,64,12,PASI75,20\n")
    with pytest.raises(pkpd.PkpdError, match=r"Cannot fit 4 parameters \['kout', 'IC50', 'Pmax', 'omega_response'\]: "
                                             r"trial table .*t.csv gives 2 multinomial residuals \(1 arm and time "
                                             r"group\(s\) over 1 endpoint\(s\)\) and the priors 1 more.*\(3 < 4\). "
                                             r"Estimate at most 3"):
        pkpd.fit("ustekinumab_pasi", trial, profile=False)
    # Fitting fewer parameters works: IC50 alone from one arm (20/64 PASI75 at week 12).
    result = pkpd.fit("ustekinumab_pasi", trial, vary=["IC50"], starts=1, profile=False, design=pkpd.Design(64))
    assert result.fitted_rates["predicted"].iloc[0] == pytest.approx(20 / 64, abs=1e-6)


def test_starts_beyond_the_screening_design_are_refused():
    with pytest.raises(pkpd.PkpdError, match=r"starts=10 asks for 9 starts from the screening design, but screen=4"):
        pkpd.fit("ustekinumab_pasi", "krueger2007_phase2", starts=10, screen=4)


@pytest.mark.parametrize("text, message", [
    (b"\xff\xfe[model]\n", r"is not UTF-8 text \(byte 0\); save it as UTF-8"),
    (pkpd.load_model("ustekinumab_pk").sources[0][1].replace("ka     = { value = 0.354,",
                                                             'ka     = { value = 0.354, lower = "abc",'),
     r"parameter 'ka': lower must be a number, got 'abc'"),
])
def test_bad_model_files(tmp_path, text, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_model(write(tmp_path, "m.toml", text))


def test_model_files_naming_each_other_as_pk_model(tmp_path):
    write(tmp_path, "a.toml", '[model]\nname="a"\npk_model="b"\n[parameters]\nkout={value=1,unit="1/day",source="x"}\n')
    write(tmp_path, "b.toml", '[model]\nname="b"\npk_model="a"\n[parameters]\nIC50={value=1,unit="mg/L",source="x"}\n')
    with pytest.raises(pkpd.PkpdError, match=r"pk_model 'a' leads back to .*a.toml; model files may not name each other "
                                             r"in a circle"):
        pkpd.load_model(tmp_path / "a.toml")


def _not_positive_definite(record):
    k = len(record["covariance"]["names"])
    record["covariance"]["matrix"] = [[1.0] * k for _ in range(k)]  # rank 1: its diagonal alone looks fine


@pytest.mark.parametrize("change, message", [
    (_not_positive_definite, r"the covariance matrix is not positive definite, so no parameter draws can be made"),
    (lambda r: r.pop("values") and None, r"has no `values`; it is not a complete pkpd-fit/3 file"),
    (lambda r: [1, 2], r"must hold a JSON object, got a list"),
    (lambda r: r["values"].update(kout=float("nan")), r"value of 'kout' is nan; estimates must be finite numbers"),
])
def test_bad_fit_files(tmp_path, change, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.predict(fit_file(tmp_path, change), "45 mg SC at week 0", [12], time_unit="week", n_draws=10)


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--regimen", "45 mg SC at week 0", "--seed", "-1"], "seed must be a whole number >= 0, got -1"),
    (["predict", "--fit", "ustekinumab_phase2", "--regimen", "placebo", "--at-week", "12", "--seed", "-1"],
     "seed must be a whole number >= 0, got -1"),
    (["simulate", "--regimen", "45 mg SC at week 0", "--weeks", "nan"], "--weeks must be finite, got nan"),
    (["predict", "--fit", "ustekinumab_phase2", "--regimen", "placebo", "--at-week", "nan"],
     "--at-week must be finite, got nan"),
    (["simulate", "--regimen", "45 mg SC at week 0", "--out", "."], "--out '.' is a folder; give a file name in it"),
    (["fit", "ustekinumab_pasi", "krueger2007_phase2", "--out", "f.json", "--plot", "x.txt"],
     "--plot 'x.txt': the file type follows the suffix; allowed: .png"),
    (["predict", "--fit", "ustekinumab_phase2", "--regimen", "placebo", "--at-week", "12", "--plot", "x.txt"],
     "--plot 'x.txt': the file type follows the suffix; allowed: .png"),
])
def test_bad_command_line_options_are_one_line_errors_before_any_output(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in cli_error(capsys, argv)
    assert list(tmp_path.iterdir()) == []  # nothing computed, nothing written


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--n", "abc"], "pkpd simulate: error: argument --n: invalid int value: 'abc' (see 'pkpd simulate --help')"),
    (["predict", "--fit", "ustekinumab_phase2", "--regimen", "placebo", "--at-week", "twelve"],
     "pkpd predict: error: argument --at-week: invalid float value: 'twelve'"),
])
def test_options_of_the_wrong_type_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and message in err


def test_simulate_checks_every_output_before_writing_any(capsys, tmp_path, monkeypatch):
    # --out is fine, --plot is not: the .nc must not be written and then the plot refused.
    monkeypatch.chdir(tmp_path)
    err = cli_error(capsys, ["simulate", "--regimen", "45 mg SC at week 0", "--out", "c.nc", "--plot", "x.txt"])
    assert "--plot 'x.txt'" in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", [
    lambda: pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", [1], n_subjects=3, seed="abc"),
    lambda: pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", [1], seed="abc"),
    lambda: pkpd.predict("ustekinumab_phase2", "45 mg SC at week 0", [1], seed="abc"),
    lambda: pkpd.sample_population(pkpd.load_model("ustekinumab_pk"), 3, seed="abc"),
])
def test_a_seed_that_is_text_is_refused(call):
    with pytest.raises(pkpd.PkpdError, match=r"seed must be a whole number, got 'abc'"):
        call()


def test_a_solver_error_is_a_pkpd_error_and_one_line_at_the_command_line(tmp_path, capsys, monkeypatch):
    assert issubclass(pkpd.SolverError, pkpd.PkpdError) and issubclass(pkpd.SolverError, RuntimeError)
    model = write(tmp_path, "mm.toml", '[model]\nname = "mm"\nabsorption = "none"\nelimination = "michaelis_menten"\n'
                  '[parameters]\nCL = { value = 0.1, unit = "L/day", source = "test" }\n'
                  'V = { value = 3, unit = "L", source = "test" }\n'
                  'Vmax = { value = 5, unit = "mg/day", source = "test" }\n'
                  'Km = { value = 2, unit = "mg/L", source = "test" }\n')
    monkeypatch.setenv("PKPD_ODE_SECONDS", "1e-9")  # any integration runs out of time at once
    err = cli_error(capsys, ["simulate", "--model", str(model), "--regimen", "100 mg IV at day 0", "--weeks", "1"])
    assert "ODE solver (DOP853) ran out of its time budget of 1e-09 s" in err
    assert "PKPD_ODE_SECONDS=1200" in err


def test_a_prediction_at_week_0_alone_is_baseline():
    # Found while hardening: a mesh to day 0 has no panels, which crashed with IndexError.
    ds = pkpd.predict("ustekinumab_phase2", {"a": "45 mg SC at week 0", "p": "placebo"}, [0], time_unit="week")
    np.testing.assert_array_equal(ds.rate.values, 0.0)
    assert pkpd.dose_response("ustekinumab_phase2", [45], week=0).rate.values.tolist() == [[[0.0, 0.0, 0.0, 0.0]]]


@pytest.mark.parametrize("unit, records, message", [
    ("week", dict(TIME=[0, 1e308], AMT=[45, 0]), r"column TIME: 1e\+308 is too large to convert to days"),
    ("hour", dict(TIME=[0, 1], AMT=[45, 0], RATE=[1e307, 0]), r"column RATE: 1e\+307 is too large to convert to days"),
])
def test_nonmem_numbers_that_overflow_in_days_are_refused(unit, records, message):
    table = pd.DataFrame(dict(ID=[1, 1], EVID=[1, 0], CMT=[2, 2], **records))
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.read_nonmem(table, time_unit=unit)


def test_concentrations_that_overflow_are_refused_not_returned():
    with pytest.raises(pkpd.PkpdError, match=r"Subject 0: the concentrations are not finite numbers \(inf\): doses"):
        pkpd.simulate("ustekinumab_pk", "1.7e308 mg IV daily x3", [0, 1, 2, 3], n_subjects=2)


# -- silent acceptances: refused, or allowed on purpose and documented ---------------------------

def test_zero_mg_doses_are_placebo_injections():
    # Decision (README, "Regimen text"): 0 mg is allowed, because dose-response series and trial
    # tables write their placebo arm as dose 0; it gives exactly placebo's concentrations and rates.
    zero = pkpd.parse_regimen("0 mg SC at weeks 0, 4")
    assert str(zero) == "0 mg SC at weeks 0, 4" and zero.events().amount_mg.tolist() == [0.0, 0.0]
    conc = pkpd.simulate("ustekinumab_pk", {"zero": zero, "placebo": "placebo"}, [0, 7, 28], n_subjects=4)
    np.testing.assert_array_equal(conc.concentration.sel(regimen="zero"), 0.0)
    rates = pkpd.predict("ustekinumab_phase2", {"zero": zero, "placebo": "placebo"}, [4, 12], time_unit="week")
    np.testing.assert_array_equal(rates.rate.sel(regimen="zero"), rates.rate.sel(regimen="placebo"))
    with pytest.raises(pkpd.PkpdError, match=r"Dose amount must be >= 0, got -1"):
        pkpd.Amount(-1)


def test_a_rule_at_week_0_is_refused():
    with pytest.raises(pkpd.RegimenSyntaxError, match=r"Rule time \(days\) must be > 0, got 0.0. At day 0 every "
                                                      r"patient is at baseline"):
        pkpd.parse_regimen("45 mg SC at week 0; if not PASI75 at week 0: 45 mg SC at week 0")


def test_a_rule_band_is_a_whole_percentage():
    with pytest.raises(pkpd.RegimenSyntaxError, match=r"word 11 '74.9': expected a whole percentage after '-'"):
        pkpd.parse_regimen("45 mg SC at week 0; if PASI50-74.9 at week 4: 1 mg SC at week 4")


@pytest.mark.parametrize("column, value, message", [
    ("EVID", 1.5, r"column EVID: 1.5 is not allowed; EVID is a whole number \(0..4\). Values are never rounded"),
    ("ADDL", 2.7, r"column ADDL: 2.7 is not allowed; ADDL is a whole number \(>= 0\)"),
])
def test_nonmem_whole_numbers_are_never_truncated(column, value, message):
    table = pd.DataFrame({"ID": [1], "TIME": [0], "AMT": [1], "II": [1], "EVID": [1], "ADDL": [0]})
    table[column] = [value]
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.read_nonmem(table, time_unit="day")


def test_empty_mapping_and_empty_list_of_regimens_are_both_refused():
    for empty in ({}, []):
        with pytest.raises(pkpd.PkpdError, match=r"regimens must be .* a non-empty list of them or a non-empty"):
            pkpd.simulate("ustekinumab_pk", empty, [1])


def test_dose_response_keeps_every_digit_of_a_dose():
    ds = pkpd.dose_response("ustekinumab_phase2", [12.3456789, 45], week=12)
    assert ds.regimen_text.values.tolist() == ["12.3456789 mg SC at week 0", "45 mg SC at week 0"]


# -- unbounded work: bounded answers, or errors that name the budget and how to raise it ---------

def test_a_long_daily_course_costs_only_the_doses_up_to_the_horizon():
    t = np.arange(0.0, 169.0)
    start = time.perf_counter()
    long = pkpd.simulate("ustekinumab_pk", "1 mg SC daily until day 10000000", t, n_subjects=8)
    elapsed = time.perf_counter() - start
    short = pkpd.simulate("ustekinumab_pk", "1 mg SC daily until day 168", t, n_subjects=8)
    np.testing.assert_array_equal(long.concentration.values, short.concentration.values)
    assert elapsed < 60  # generous: a timeout guard, not a speed test (10^7 doses would never finish)
    with pytest.raises(pkpd.PkpdError, match=r"has 10,000,001 doses up to the last time simulated, over the dose "
                                             r"budget of 1,000,000.*PKPD_DOSES="):
        pkpd.parse_regimen("1 mg SC daily until day 10000000").events()


def test_nonmem_addl_beyond_the_last_record_is_not_expanded():
    records = pd.DataFrame({"ID": [1, 1], "TIME": [0, 72], "AMT": [10, 0], "EVID": [1, 0], "CMT": [1, 1],
                            "II": [24, 0], "ADDL": [10 ** 9, 0]})
    few = records.assign(ADDL=[3, 0])  # doses at 0, 24, 48, 72: all that reach the record at 72 h
    model = make_model(absorption="none")
    a = pkpd.simulate(model, pkpd.read_nonmem(records, time_unit="hour"), variability=False).concentration.values
    b = pkpd.simulate(model, pkpd.read_nonmem(few, time_unit="hour"), variability=False).concentration.values
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--regimen", "45 mg SC at week 0", "--n", "1000000000"],
     r"1,000,000,000 virtual patients would need about"),
    (["predict", "--fit", "ustekinumab_phase2", "--regimen", "45 mg SC at week 0", "--at-week", "1000000000"],
     r"The integration mesh to day 7e\+09 \(1,000,000,0\d\d panels\)"),
    (["predict", "--fit", "ustekinumab_phase2", "--regimen", "45 mg SC at week 0", "--at-week", "12",
      "--draws", "1000000000"], r"1,000,000,000 samples of 1 regimen\(s\) x 1 times x 4 endpoints would need about"),
])
def test_huge_sizes_are_refused_before_allocating(argv, message, capsys):
    err = cli_error(capsys, argv)
    assert re.search(message, err), err
    assert "over the memory budget of 4 GiB" in err and "PKPD_MEMORY=16GB" in err


def test_budgets_can_be_raised_and_lowered():
    with pkpd.budget(memory="1 MB"):
        with pytest.raises(pkpd.PkpdError, match=r"over the memory budget of 977 KiB"):
            pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", np.arange(365.0), n_subjects=100)
    ds = pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", np.arange(365.0), n_subjects=100)  # restored
    assert ds.concentration.shape == (1, 100, 365)
    with pkpd.budget(doses=10):
        with pytest.raises(pkpd.PkpdError, match=r"over the dose budget of 10"):
            pkpd.simulate("ustekinumab_pk", "1 mg SC daily", np.arange(30.0))
    with pytest.raises(pkpd.PkpdError, match=r"Memory budget 'lots' \(pkpd.budget\(memory=...\)\) is not a size"):
        with pkpd.budget(memory="lots"):
            pass


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("PKPD_DOSES", "5")
    with pytest.raises(pkpd.PkpdError, match=r"over the dose budget of 5"):
        pkpd.simulate("ustekinumab_pk", "1 mg SC daily", np.arange(30.0))
    monkeypatch.setenv("PKPD_DOSES", "many")
    with pytest.raises(pkpd.PkpdError, match=r"Budget doses \(environment variable PKPD_DOSES\) must be a whole number"):
        pkpd.simulate("ustekinumab_pk", "1 mg SC daily", np.arange(30.0))


def _stiff_model():
    # Michaelis-Menten elimination with Km 1e-4 mg/L: near the end of the zero-order phase the
    # eigenvalue Vmax/(V Km) = 1e7 per day makes an explicit solver crawl.
    return make_model("1cmt", "none", "michaelis_menten", CL=1e-9, V=3.0, Vmax=3000.0, Km=1e-4)


def test_a_stiff_michaelis_menten_model_is_solved_by_the_automatic_solver():
    t = np.linspace(0.0, 0.2, 5)
    ds = pkpd.simulate(_stiff_model(), "300 mg IV at day 0", t, population=pkpd.typical_population(_stiff_model()))
    c = ds.concentration.values[0, 0]
    # Exact (CL -> 0): C + Km ln C = C0 + Km ln C0 - (Vmax/V) t, C0 = 100 mg/L, i.e. C = Km W(e^a) with
    # a = ln(C0/Km) + (C0 - 1000 t)/Km; W(e^a) = a - ln W by fixed point for large a.
    km = 1e-4
    a = np.log(100.0 / km) + (100.0 - 1000.0 * t) / km
    exact = np.empty_like(t)
    for i, ai in enumerate(a):
        if ai > 50:
            w = ai
            for _ in range(60):
                w = ai - math.log(w)
        else:
            from scipy.special import lambertw
            w = float(np.real(lambertw(math.exp(ai))))
        exact[i] = km * w
    assert exact[2] > 1e-4 and exact[3] < 1e-12  # the run crosses the stiff end of the zero-order phase
    np.testing.assert_allclose(c, exact, rtol=1e-5, atol=1e-9)


def test_an_explicit_solver_on_a_stiff_model_ends_in_a_solver_error_not_a_hang():
    start = time.perf_counter()
    with pkpd.budget(ode_seconds=1.0):
        with pytest.raises(pkpd.SolverError, match=r"ODE solver \(DOP853\) ran out of its time budget of 1 s .*If the "
                                                   r"system is stiff \(an explicit solver then crawls\), use solver='auto'"):
            pkpd.simulate(_stiff_model(), "300 mg IV at day 0", [0.0, 1.0],
                          population=pkpd.typical_population(_stiff_model()), solver="DOP853")
    assert time.perf_counter() - start < 60


# -- data loss: a failed write leaves the previous output whole -----------------------------------

class _DiskFull:
    """A writer that writes half of the content, then fails as a full disk does."""

    def __init__(self, real_open):
        self.real_open = real_open

    def __call__(self, path, mode="r", *args, **kwargs):
        f = self.real_open(path, mode, *args, **kwargs)
        if "w" not in mode:
            return f
        write = f.write

        def half(data):
            write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        f.write = half
        return f


def test_a_fit_file_survives_a_full_disk(tmp_path, monkeypatch):
    fit = pkpd.load_fit("ustekinumab_phase2")
    path = fit.save(tmp_path / "fit.json")
    good = path.read_bytes()
    monkeypatch.setattr(pkpd._io, "open", _DiskFull(open), raising=False)
    with pytest.raises(OSError, match="No space left on device"):
        fit.save(path)
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]
    assert pkpd.load_fit(path).values == fit.values


@pytest.mark.parametrize("suffix", [".nc", ".csv"])
def test_a_simulation_output_survives_a_failure_midway(tmp_path, monkeypatch, capsys, suffix):
    out = tmp_path / f"sim{suffix}"
    argv = ["simulate", "--regimen", "45 mg SC at week 0", "--times-days", "7", "14", "--out", str(out)]
    assert main(argv) == 0
    good = out.read_bytes()
    real = xr.Dataset.to_netcdf

    def fails_midway(self, path, *args, **kwargs):  # the netCDF writer dies after writing part of the file
        real(self, path, *args, **kwargs)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(xr.Dataset, "to_netcdf", fails_midway)
    monkeypatch.setattr(pkpd._io, "open", _DiskFull(open), raising=False)
    capsys.readouterr()
    err = cli_error(capsys, ["simulate", "--regimen", "90 mg SC at week 0", "--times-days", "7", "14", "--out",
                             str(out)])
    assert "No space left on device" in err
    assert out.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_figures_and_nonmem_records_survive_a_failure_midway(tmp_path, monkeypatch):
    ds = pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", np.arange(0.0, 28.0))
    png = tmp_path / "c.png"
    pkpd.plot_concentrations(ds, png)
    csv = tmp_path / "r.csv"
    pkpd.write_nonmem({1: pkpd.parse_regimen("45 mg SC at week 0")}, csv)
    good = {p: p.read_bytes() for p in (png, csv)}
    monkeypatch.setattr(pkpd._io, "open", _DiskFull(open), raising=False)
    with pytest.raises(OSError):
        pkpd.plot_concentrations(ds, png)
    with pytest.raises(OSError):
        pkpd.write_nonmem({1: pkpd.parse_regimen("90 mg SC at week 0")}, csv)
    assert {p: p.read_bytes() for p in good} == good and sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "r.csv"]


def test_a_killed_writer_leaves_the_old_file(tmp_path):
    # A process killed while writing never reaches the rename: the target keeps its old content.
    import subprocess
    import sys
    path = tmp_path / "out.json"
    path.write_text('{"good": true}\n')
    code = ("import os, pkpd._io as io\n"
            "def write(tmp):\n"
            "    with open(tmp, 'wb') as f:\n"
            "        f.write(b'{\"trunc')\n"
            "        f.flush()\n"
            "        os.kill(os.getpid(), 9)\n"
            f"io.replace_atomic({str(path)!r}, write)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert done.returncode == -9
    assert json.loads(path.read_text()) == {"good": True}
