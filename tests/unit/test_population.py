"""Virtual populations: allometry, variability, seeds, Sobol designs; and the labelled simulation output."""

import math

import numpy as np
import pytest
import xarray as xr

import pkpd


# -- population ----------------------------------------------------------------------------

def test_allometric_weight_scaling_of_the_typical_patient(ustekinumab):
    p = pkpd.typical_population(ustekinumab, weight=[90.0, 180.0]).individual(ustekinumab)
    v = ustekinumab.values
    # the library's exponents, 0.998 on CL and 0.829 on V (Yao et al. 2018, by analogy)
    np.testing.assert_allclose(p["CL"], [v["CL"], v["CL"] * 2 ** 0.998], rtol=1e-14)
    np.testing.assert_allclose(p["V"], [v["V"], v["V"] * 2 ** 0.829], rtol=1e-14)
    np.testing.assert_allclose(p["ka"], [v["ka"]] * 2)


def test_between_subject_variability_has_the_stated_cv(ustekinumab):
    pop = pkpd.sample_population(ustekinumab, 200_000, seed=7, weight=90.0, covariates={"diabetes": 0})
    p = pop.individual(ustekinumab)
    for name, cv in (("CL", 0.41), ("V", 0.332)):
        omega = math.sqrt(math.log1p(cv * cv))
        log_sd = np.std(np.log(p[name]))
        assert log_sd == pytest.approx(omega, rel=0.01)  # SE of an SD at n=2e5 is 0.16%
        assert np.median(p[name]) == pytest.approx(ustekinumab.values[name], rel=0.01)


def test_default_weight_distribution_from_the_model_file(ustekinumab):
    w = pkpd.sample_population(ustekinumab, 100_000, seed=8).weight
    assert np.median(w) == pytest.approx(90.0, rel=0.01)
    assert np.std(np.log(w)) == pytest.approx(math.sqrt(math.log1p(0.22 ** 2)), rel=0.02)


def test_populations_are_seeded(ustekinumab):
    times = np.arange(0, 100.0)
    a = pkpd.simulate(ustekinumab, "45 mg SC at week 0", times, n_subjects=30, seed=11)
    b = pkpd.simulate(ustekinumab, "45 mg SC at week 0", times, n_subjects=30, seed=11)
    c = pkpd.simulate(ustekinumab, "45 mg SC at week 0", times, n_subjects=30, seed=12)
    np.testing.assert_array_equal(a.concentration.values, b.concentration.values)
    assert np.abs(a.concentration.values - c.concentration.values).max() > 0.01


def test_sobol_design_is_deterministic_and_balanced(ustekinumab):
    a = pkpd.sample_population(ustekinumab, 1024, seed=1, method="sobol")
    b = pkpd.sample_population(ustekinumab, 1024, seed=1, method="sobol")
    np.testing.assert_array_equal(a.z, b.z)
    assert abs(a.z.mean()) < 0.01  # scrambled Sobol normal scores: mean error ~1/n, not 1/sqrt(n)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), r"whole number >= 1, got 0"),
    (dict(n=10, method="lhs"), r"Unknown sampling method 'lhs'; allowed: \['random', 'sobol'\]"),
    (dict(n=3, weight=[70.0, -1.0, 80.0]), r"Body weight of subject 1 is -1.0 kg"),
    (dict(n=3, weight=[70.0, 80.0]), r"one per subject \(3\)"),
])
def test_bad_population_input(ustekinumab, kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.sample_population(ustekinumab, **kwargs)


# -- simulate output -----------------------------------------------------------------------

def test_simulation_is_labelled_and_round_trips_through_netcdf(ustekinumab, tmp_path):
    ds = pkpd.simulate(ustekinumab, {"label": "45 mg SC at weeks 0, 4", "pbo": "placebo"},
                       np.arange(0, 13.0, 0.5), time_unit="week", n_subjects=5, seed=3)
    assert ds.concentration.dims == ("regimen", "subject", "time")
    assert ds.concentration.attrs["units"] == "mg/L" and ds.time.attrs["units"] == "day"
    assert ds.CL.attrs["units"] == "L/day" and ds.weight.attrs["units"] == "kg"
    assert ds.regimen_text.sel(regimen="label").item() == "45 mg SC at weeks 0, 4"
    assert ds.week.values[-1] == 12.5 and ds.time.values[-1] == 87.5
    assert ds.attrs["model_sha256"] == ustekinumab.sha256 and ds.attrs["seed"] == "3"
    assert float(ds.concentration.sel(regimen="pbo").max()) == 0.0
    path = tmp_path / "sim.nc"
    ds.to_netcdf(path)
    xr.testing.assert_identical(xr.load_dataset(path), ds)


def test_weight_band_dosing_gives_each_patient_their_band(ustekinumab):
    pop = pkpd.typical_population(ustekinumab, weight=[80.0, 120.0])
    banded = pkpd.simulate(ustekinumab, "45 mg if weight <= 100 kg else 90 mg SC at week 0",
                           [0, 14, 28], population=pop).concentration.values[0]
    fixed45 = pkpd.simulate(ustekinumab, "45 mg SC at week 0", [0, 14, 28], population=pop).concentration.values[0]
    np.testing.assert_allclose(banded[0], fixed45[0], rtol=1e-15)
    np.testing.assert_allclose(banded[1], 2 * fixed45[1], rtol=1e-15)


def test_mg_per_kg_scales_with_weight(ustekinumab):
    pop = pkpd.typical_population(ustekinumab, weight=[90.0])
    per_kg = pkpd.simulate(ustekinumab, "0.5 mg/kg SC at week 0", [10.0], population=pop)
    flat = pkpd.simulate(ustekinumab, "45 mg SC at week 0", [10.0], population=pop)
    assert per_kg.concentration.item() == pytest.approx(flat.concentration.item(), rel=1e-15)


@pytest.mark.parametrize("times, message", [
    ([0, -1], r"times must be >= 0"),
    ([0, 5, 3], r"times must increase strictly; 3.0 follows 5.0"),
    ([0, float("nan")], r"times must be finite"),
    ([], r"non-empty"),
])
def test_bad_times_are_rejected(ustekinumab, times, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.simulate(ustekinumab, "45 mg SC at week 0", times)


def test_bad_simulate_options(ustekinumab):
    with pytest.raises(pkpd.PkpdError, match=r"Unknown method 'exact'; allowed"):
        pkpd.simulate(ustekinumab, "45 mg SC at week 0", [1.0], method="exact")
    with pytest.raises(pkpd.PkpdError, match="appears twice"):
        pkpd.simulate(ustekinumab, ["45 mg SC at week 0", "45 mg SC at week 0"], [1.0])
    with pytest.raises(pkpd.RegimenSyntaxError, match="word 4 'evry'"):
        pkpd.simulate(ustekinumab, "45 mg SC evry week", [1.0])
    with pytest.raises(pkpd.PkpdError, match="Unknown time unit 'month'"):
        pkpd.simulate(ustekinumab, "45 mg SC at week 0", [1.0], time_unit="month")
