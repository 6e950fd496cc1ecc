"""Fitting to arm-level data: likelihood, the phase II fit, saved fits, bad input."""

import json
import shutil

import numpy as np
import pytest
from scipy.stats import binom, multinomial

import pkpd
from pkpd.cli import main
from pkpd.design import Design
from pkpd.inference import Objective

PHASE2 = "krueger2007_phase2"  # the library's trial table
# Krueger et al., N Engl J Med 2007 (abstract): week-12 PASI75 / PASI90 (%), 64 patients per arm.
PUBLISHED = {"45 mg x1": (52, 23), "90 mg x1": (59, 30), "45 mg weekly x4": (67, 44),
             "90 mg weekly x4": (81, 52), "placebo": (2, 2)}


@pytest.fixture(scope="module")
def phase2_fit():
    return pkpd.fit("ustekinumab_pasi", PHASE2)


def test_trial_file_reproduces_the_published_percentages():
    trial = pkpd.load_trial(PHASE2)
    for arm, day, n, resp in trial.groups():
        assert n == 64 and day == 84.0
        assert round(100 * resp["PASI75"] / n) == PUBLISHED[arm][0]
        assert round(100 * resp["PASI90"] / n) == PUBLISHED[arm][1]


def test_multinomial_likelihood_matches_scipy():
    trial = pkpd.load_trial(PHASE2)
    model = pkpd.load_model("ustekinumab_pasi").replace(kout=0.03, IC50=0.2, Pmax=0.3, omega_response=0.7)
    obj = Objective(model, trial, design=Design(n_nodes=64))
    rates = obj.rates({})
    expected = 0.0
    for g in obj.groups:
        p75, p90 = rates[g.arm, g.time]
        expected += multinomial.logpmf(g.counts, g.n, [1 - p75, p75 - p90, p90])
    assert obj({}) == pytest.approx(-2 * expected, rel=1e-12)
    binomial = Objective(model, trial, likelihood="binomial", design=Design(n_nodes=64))
    expected_b = sum(binom.logpmf(g.responders, g.n, rates[g.arm, g.time]).sum() for g in obj.groups)
    assert binomial({}) == pytest.approx(-2 * expected_b, rel=1e-12)


@pytest.mark.parametrize("kind", ["multinomial", "binomial"])
def test_squared_deviance_residuals_are_minus_2ll_up_to_a_constant(kind):
    trial = pkpd.load_trial(PHASE2)
    model = pkpd.load_model("ustekinumab_pasi")
    obj = Objective(model, trial, likelihood=kind, design=Design(n_nodes=64))
    gaps = []
    for values in (dict(kout=0.03, IC50=0.2), dict(kout=0.1, IC50=2.0, Pmax=0.05), dict(omega_response=1.5)):
        gaps.append(obj(values) - np.sum(obj.residuals(values) ** 2))
    assert np.ptp(gaps) < 1e-9  # the saturated -2LL: the same for every parameter value


def test_phase2_fit_reproduces_every_published_rate(phase2_fit):
    table = phase2_fit.fitted_rates
    assert len(table) == 10
    for row in table.itertuples():
        # 95% binomial interval (n = 64) around the fitted prediction, recomputed here
        lo, hi = binom.ppf(0.025, 64, row.predicted) / 64, binom.ppf(0.975, 64, row.predicted) / 64
        assert (row.lower, row.upper) == (lo, hi)
        assert lo <= row.observed <= hi, row
    assert "10 of 10 observed rates inside" in phase2_fit.report()


def test_phase2_fit_estimates_and_uncertainty(phase2_fit):
    v, se = phase2_fit.values, phase2_fit.standard_errors()
    assert phase2_fit.varying == ("kout", "IC50", "Pmax", "omega_response")
    assert v["Imax"] == 1.0 and v["CL"] == pkpd.load_model("ustekinumab_pk").values["CL"]  # fixed
    for name in phase2_fit.varying:
        prof = phase2_fit.profile[name]
        assert prof["identifiable"] and prof["lower"] < v[name] < prof["upper"]
        assert 0 < se[name] < v[name]
        # log/logit scale: the profile interval is close to the Wald interval on that scale
    corr = phase2_fit.correlation()
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert np.all(np.abs(corr) <= 1.0 + 1e-12)
    assert phase2_fit.aic == pytest.approx(phase2_fit.minus2ll + 8)
    assert max(phase2_fit.start_minus2ll) - min(phase2_fit.start_minus2ll) < 1e-4


# The phase II fit of pkpd 0.1 (commit 0210db6, fits/ustekinumab_phase2.json). 0.1 took the
# drug effect as linear between points of a 1-day grid (depth of response within 2e-4 of
# the exact turnover); 0.2 solves the turnover exactly, and the optimum moves by far less
# than that and than the standard errors (10-40%).
FIT_0_1 = {"kout": 0.0320075796786165, "IC50": 0.17281627023435833, "Pmax": 0.31913562099062837,
           "omega_response": 0.6714193639670847}


# The PK model of pkpd 0.1 and 0.2 (allometric exponents 0.75 and 1, no diabetes), which the
# library has since revised (Yao 2018 analogues); its fit of phase II is the reference above.
PK_0_1 = """[model]
name = "pk_0_1"
structure = "1cmt"
absorption = "first_order"
elimination = "linear"

[parameters]
CL     = { value = 0.26598, unit = "L/day", source = "Zhu 2009 x F" }
V      = { value = 8.9804,  unit = "L", source = "Zhu 2009 x F" }
ka     = { value = 0.354,   unit = "1/day", source = "Zhu 2009" }
F      = { value = 0.572,   unit = "1", source = "prescribing information" }
tlag   = { value = 0.0,     unit = "day", source = "Zhu 2009" }
bsv_CL = { value = 0.410,   unit = "CV", source = "Zhu 2009" }
bsv_V  = { value = 0.332,   unit = "CV", source = "Zhu 2009" }
reference_weight   = { value = 90.0, unit = "kg", source = "assumption of 0.1" }
weight_exponent_CL = { value = 0.75, unit = "1", source = "assumption of 0.1" }
weight_exponent_V  = { value = 1.0,  unit = "1", source = "assumption of 0.1" }

[population]
weight = { median = 90.0, cv = 0.22, unit = "kg", source = "assumption of 0.1" }
"""


def test_phase2_estimates_agree_with_version_0_1_to_its_accuracy(tmp_path):
    (tmp_path / "pk_0_1.toml").write_text(PK_0_1)
    pd = dict(pkpd.load_model("ustekinumab_pasi").sources)["ustekinumab_pasi"]
    pd = pd.replace('pk_model = "ustekinumab_pk"', 'pk_model = "pk_0_1"').split("[priors]")[0]
    (tmp_path / "pd_0_1.toml").write_text(pd)
    old = pkpd.fit(tmp_path / "pd_0_1.toml", PHASE2, priors=False, profile=False)
    for name, value in FIT_0_1.items():
        assert old.values[name] == pytest.approx(value, rel=1e-4)
    assert old.minus2ll == pytest.approx(42.88480892181418, abs=1e-3)


def test_profile_ends_are_where_minus_2ll_rises_by_the_chi2_quantile(phase2_fit):
    # Re-optimise the other parameters with omega_response held at its upper profile end; the
    # library model's kout prior makes this a MAP fit, so the objective is -2 log posterior.
    assert phase2_fit.is_map and list(phase2_fit.priors) == ["kout"]
    end = phase2_fit.profile["omega_response"]["upper"]
    model = phase2_fit.model.replace(omega_response=end)
    refit = pkpd.fit(model, PHASE2, vary=["kout", "IC50", "Pmax"], starts=2, profile=False)
    assert refit.objective - phase2_fit.objective == pytest.approx(3.8415, abs=2e-3)


# A trial simulated from the base structure's phase II fit (trial 21 of benchmarks/bench_recovery.py):
# no placebo responder, so the refit puts Pmax on its lower bound.
EDGE_TRIAL = [f"{arm},{regimen},64,12,{end},{k}" for arm, regimen, counts in (
    ("45 mg x1", "45 mg SC at week 0", (31, 16)), ("90 mg x1", "90 mg SC at week 0", (38, 19)),
    ("45 mg weekly x4", "45 mg SC weekly x4", (51, 33)), ("90 mg weekly x4", "90 mg SC weekly x4", (48, 27)),
    ("placebo", "placebo", (0, 0))) for end, k in zip(("PASI75", "PASI90"), counts)]


def test_profiles_from_an_optimum_on_a_bound_reach_the_chi2_rise(tmp_path):
    # Profiles continue from the optimum; a parameter on its bound there used to stay stuck (the
    # optimiser's bound transform has no slope on the bound), so IC50's upper end came at a rise of
    # 1.3 instead of 3.84 and the interval missed values the data allow.
    design = Design(n_nodes=256)
    trial = write_trial(tmp_path, EDGE_TRIAL)
    vary = ["kout", "IC50", "Pmax", "omega_response"]
    result = pkpd.fit("ustekinumab_pasi", trial, vary=vary, priors=False, design=design, starts=2)
    assert result.values["Pmax"] < 1.001e-4  # on its lower bound
    for side in ("lower", "upper"):
        end = result.profile["IC50"][side]
        held = pkpd.fit(result.model.replace(IC50=end), trial, vary=["kout", "Pmax", "omega_response"], priors=False,
                        design=design, starts=4, profile=False)
        assert held.minus2ll - result.minus2ll == pytest.approx(3.8415, abs=2e-3)


def test_saved_fit_loads_and_reproduces_rates_bit_for_bit(phase2_fit, tmp_path):
    path = phase2_fit.save(tmp_path / "fit.json")
    record = json.loads(path.read_text())
    assert record["model"]["sha256"] == phase2_fit.model.sha256
    assert record["trial"]["sha256"] == phase2_fit.trial.sha256
    assert set(record["versions"]) == {"pkpd", "numpy", "scipy", "lmfit", "python"}
    assert record["versions"]["pkpd"] == pkpd.__version__
    saved = pkpd.load_fit(path)
    assert type(saved) is type(phase2_fit) and saved.values == phase2_fit.values
    assert saved.covariance.index.tolist() == list(phase2_fit.varying)
    np.testing.assert_array_equal(saved.covariance.values, phase2_fit.covariance.values)
    assert saved.correlation().loc["kout", "IC50"] == phase2_fit.correlation().loc["kout", "IC50"]
    regimens = phase2_fit.trial.regimens
    direct = pkpd.predict(phase2_fit, regimens, [4, 12, 24], time_unit="week")
    loaded = pkpd.predict(saved, regimens, [4, 12, 24], time_unit="week")
    np.testing.assert_array_equal(direct.rate.values, loaded.rate.values)
    at_fit = pkpd.predict(saved, regimens, [12], time_unit="week", endpoints=["PASI75", "PASI90"])
    for row in phase2_fit.fitted_rates.itertuples():
        assert at_fit.rate.sel(regimen=row.arm, endpoint=row.endpoint).item() == row.predicted


def test_library_phase2_fit_is_current(phase2_fit):
    saved = pkpd.load_fit("ustekinumab_phase2")
    # The library's reference fit is what pkpd.fit gives today (examples/fit_phase2.py writes it):
    # estimates within the optimiser's tolerance (they are bit-equal on the machine that wrote it).
    for name in phase2_fit.varying:
        assert saved.values[name] == pytest.approx(phase2_fit.values[name], rel=1e-8)
    rates = pkpd.predict(saved, pkpd.load_trial(PHASE2).regimens, [12], time_unit="week",
                         endpoints=["PASI75", "PASI90"])
    for row in saved.fitted_rates.itertuples():
        assert rates.rate.sel(regimen=row.arm, endpoint=row.endpoint).item() == pytest.approx(row.predicted, rel=1e-12)


def test_fit_files_carry_their_model_and_refuse_a_changed_one(phase2_fit, tmp_path):
    record = phase2_fit.to_dict()
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(record))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = elsewhere / "fit.json"
    shutil.move(path, moved)
    assert pkpd.load_fit(moved).values == phase2_fit.values  # needs no model file on disk
    record["model"]["files"]["ustekinumab_pasi"] = record["model"]["files"]["ustekinumab_pasi"].replace(
        "value = 0.5,", "value = 0.6,")
    path.write_text(json.dumps(record))
    with pytest.raises(pkpd.PkpdError, match=r"model changed since the fit\. Refit"):
        pkpd.load_fit(path)
    with pytest.raises(pkpd.PkpdError, match=r"No fit file"):
        pkpd.load_fit(tmp_path / "missing.json")


def test_a_flat_profile_is_reported_by_name():
    model = pkpd.load_model("ustekinumab_pasi").replace(Imax=0.95)
    with pytest.warns(pkpd.IdentifiabilityWarning) as caught:
        result = pkpd.fit(model, PHASE2, vary=["kout", "IC50", "Pmax", "omega_response", "Imax"], starts=2,
                          design=Design(n_nodes=256))  # flatness does not depend on the design size; 4x faster
    assert any("Parameter 'Imax' is not identifiable" in str(w.message) for w in caught)
    assert not result.profile["Imax"]["identifiable"]
    assert "upper" in result.profile["Imax"]["open"]
    assert "Imax" in result.report().split("warnings:")[1]


def write_trial(tmp_path, rows, header="arm,regimen,n,week,endpoint,responders"):
    path = tmp_path / "trial.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("rows, message", [
    (["a,45 mg SC at week 0,64,12,PASI75,70"], r"row 1 \(arm 'a'\): responders 70 exceed n 64"),
    (["a,45 mg SC at week 0,64,12,PASI75,30", "a,45 mg SC at week 0,64,12,PASI90,31"],
     r"row 2: arm 'a' at day 84 has more PASI90 responders \(31\) than PASI75 responders \(30\)"),
    (["a,45 mg SC at week 0,-64,12,PASI75,3"], r"row 1 \(arm 'a'\): n must be a whole number >= 1, got -64"),
    (["a,45 mg SC evry week,64,12,PASI75,3"], r"row 1 \(arm 'a'\): regimen text does not parse.*'evry'"),
    (["a,45 mg SC at week 0,64,12,PASI80,3"], r"row 1 \(arm 'a'\): unknown endpoint 'PASI80'"),
    (["a,45 mg SC at week 0,64,12,PASI75,3", "a,45 mg SC at week 0,60,12,PASI90,1"], r"different n across endpoints"),
    (["a,45 mg SC at week 0,64,12,PASI75,-1"], r"responders must be a whole number >= 0, got -1"),
])
def test_bad_trial_rows_are_named(tmp_path, rows, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_trial(write_trial(tmp_path, rows))


def test_missing_columns_and_percent_reconstruction(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"lacks columns \['n'\]"):
        pkpd.load_trial(write_trial(tmp_path, ["a,45 mg SC at week 0,12,PASI75,3"], "arm,regimen,week,endpoint,responders"))
    trial = pkpd.load_trial(write_trial(tmp_path, ["a,45 mg SC at week 0,64,12,PASI75,52"], "arm,regimen,n,week,endpoint,percent"))
    assert trial.table["responders"].tolist() == [33]  # round(52% of 64) = 33 (51.6%)
    with pytest.raises(pkpd.PkpdError, match=r"33/64 responders is 51.6%, not the 55% given"):
        pkpd.load_trial(write_trial(tmp_path, ["a,45 mg SC at week 0,64,12,PASI75,33,55"],
                                    "arm,regimen,n,week,endpoint,responders,percent"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(vary=["EC50"]), r"Unknown parameter 'EC50' for model 'ustekinumab_pasi'"),
    (dict(vary=[]), r"Nothing to fit"),
    (dict(starts=0), r"starts must be a whole number >= 1, got 0"),
    (dict(likelihood="poisson"), r"Unknown likelihood 'poisson'; allowed: \['multinomial', 'binomial'\]"),
    (dict(vary=["Imax"]), r"Parameter 'Imax' = 1.0 is on the edge of its logit scale"),
])
def test_bad_fit_options(kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.fit("ustekinumab_pasi", PHASE2, profile=False, **kwargs)


def test_cli_fit_writes_the_file_and_json_parses(tmp_path, capsys):
    out = tmp_path / "fit.json"
    code = main(["fit", "ustekinumab_pasi", PHASE2, "--out", str(out), "--json",
                 "--no-profile", "--starts", "2"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["minus2ll"] == pytest.approx(json.loads(out.read_text())["minus2ll"])
    assert set(printed["estimates"]) == {"kout", "IC50", "Pmax", "omega_response"}
    assert main(["fit", "ustekinumab_pasi", str(tmp_path / "nope.csv"), "--out", str(out)]) == 2
    assert "No trial file" in capsys.readouterr().err
