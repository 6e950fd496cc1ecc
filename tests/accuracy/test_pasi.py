"""PASI response model: analytic rates, nesting, placebo, monotonicity, quadrature accuracy."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy.stats import norm

import pkpd
from pkpd.design import Design, RateEngine

# A parameter set in the range a fit to the phase II trial explores (test input, not literature).
VALUES = dict(kout=0.04, IC50=0.3, Pmax=0.15, omega_response=0.6, Imax=0.95)
ARMS = {"45 mg x1": "45 mg SC at week 0", "90 mg x1": "90 mg SC at week 0",
        "45 mg x4": "45 mg SC weekly x4", "90 mg x4": "90 mg SC weekly x4", "placebo": "placebo"}


@pytest.fixture(scope="module")
def pasi():
    return pkpd.load_model("ustekinumab_pasi").replace(VALUES)


def test_model_file_sources_and_published_kout():
    m = pkpd.load_model("ustekinumab_pasi")
    # Rodriguez-Fernandez et al., Pharmaceutics 2024;16:1295: kout about 0.016 /day.
    assert m.values["kout"] == 0.016 and "Rodriguez-Fernandez" in m["kout"].source
    for name in ("Imax", "IC50", "hill", "Pmax", "omega_response"):
        assert m[name].assumption and m[name].source.startswith("ASSUMPTION")
    assert m.values["CL"] == pkpd.load_model("ustekinumab_pk").values["CL"]  # PK comes from pk_model


def test_placebo_rates_equal_the_closed_form(pasi):
    # Placebo: constant inhibition Pmax, so R(t) = 1 - Pmax (1 - e^{-kout t}) for every
    # patient, and P(PASI-x) = Phi((ln(-ln R) - ln(-ln(1-x))) / omega) exactly.
    weeks = np.array([1.0, 4.0, 12.0, 24.0])
    ds = pkpd.response_rates(pasi, {"placebo": "placebo"}, weeks, time_unit="week", design=Design(n_nodes=64))
    t = weeks * 7
    R = 1 - 0.15 * (1 - np.exp(-0.04 * t))
    for name, x in (("PASI50", 0.5), ("PASI75", 0.75), ("PASI90", 0.9)):
        expected = norm.cdf((np.log(-np.log(R)) - np.log(-np.log(1 - x))) / 0.6)
        np.testing.assert_allclose(ds.rate.sel(regimen="placebo", endpoint=name), expected, rtol=1e-12)


def test_zero_dose_gives_placebo_rates(pasi):
    ds = pkpd.response_rates(pasi, {"zero": "0 mg SC at week 0", "placebo": "placebo"},
                             [2, 12, 24], time_unit="week", design=Design(n_nodes=256))
    # Equal to rounding: the zero dose's time grid is refined after its (empty) dose.
    np.testing.assert_allclose(ds.rate.sel(regimen="zero"), ds.rate.sel(regimen="placebo"), rtol=1e-12, atol=1e-15)


def test_single_dose_rates_rise_with_dose(pasi):
    doses = [0, 5, 22.5, 45, 90, 180, 360]
    ds = pkpd.response_rates(pasi, {f"{d}": f"{d} mg SC at week 0" for d in doses}, [2, 4, 8, 12, 24],
                             time_unit="week", design=Design(n_nodes=256))
    diffs = ds.rate.diff("regimen")
    assert float(diffs.min()) > 0  # strictly rising at every time and endpoint


def test_rates_are_bit_identical_between_calls_and_smooth(pasi):
    a = pkpd.response_rates(pasi, ARMS, [12], time_unit="week").rate.values
    b = pkpd.response_rates(pasi, ARMS, [12], time_unit="week").rate.values
    np.testing.assert_array_equal(a, b)
    # Smooth in parameters: forward differences at h and h/2 agree to O(h).
    def f(ic50):
        return pkpd.response_rates(pasi, {"a": ARMS["45 mg x1"]}, [12], time_unit="week",
                                   values={"IC50": ic50}).rate.values.ravel()
    h = 1e-4
    d1 = (f(0.3 + h) - f(0.3)) / h
    d2 = (f(0.3 + h / 2) - f(0.3)) / (h / 2)
    assert np.all(d1 < 0) and np.max(np.abs(d1 - d2)) < 1e-3 * np.max(np.abs(d1)) + 1e-9


def test_a_regimens_rates_do_not_depend_on_the_others_computed_with_it(pasi):
    # Regimens whose patients share their records are resolved together; each keeps its own
    # events, mesh and rates, whatever the others are (a steady state, an infusion, placebo).
    nodes = pkpd.sample_population(pasi, 256, seed=0, method="sobol")
    design, times = Design(256), np.array([4.0, 12.0, 30.0]) * 7
    others = {"ss": "90 mg SC every 5 weeks from week 1 at steady state", "iv": "130 mg IV over 1 hour at week 0",
              "placebo": "placebo"}
    for name, text in ARMS.items():
        alone = RateEngine(pasi, {name: text}, times, nodes, design)
        together = RateEngine(pasi, {**others, name: text}, times, nodes, design)
        assert alone.meshes[0].n_segments == together.meshes[-1].n_segments
        # Equal to rounding (the propagators shared by the regimens include infusion terms when any
        # regimen is infused).
        np.testing.assert_allclose(alone.rates()[0], together.rates()[-1], rtol=1e-14, atol=1e-15)


@st.composite
def regimens_and_values(draw):
    amount = draw(st.floats(0.0, 400.0))
    n = draw(st.integers(1, 6))
    every = draw(st.integers(1, 12))
    regimen = f"{amount:.3f} mg SC every {every} weeks x{n}"
    values = dict(kout=draw(st.floats(0.002, 0.5)), IC50=draw(st.floats(0.001, 50.0)),
                  Imax=draw(st.floats(0.0, 1.0)), Pmax=draw(st.floats(1e-4, 0.99)),  # inside the file bounds
                  hill=draw(st.floats(0.2, 5.0)), omega_response=draw(st.floats(0.05, 3.0)))
    return regimen, values


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regimens_and_values())
def test_endpoints_are_nested_and_rates_lie_in_0_1(case):
    regimen, values = case
    m = pkpd.load_model("ustekinumab_pasi").replace(values)
    pop = pkpd.sample_population(m, 16, seed=1, method="sobol")
    eng = RateEngine(m, {"r": regimen}, np.array([7.0, 28.0, 84.0, 168.0]), pop, Design(step=2.0))
    r = eng.rates()  # PASI50, 75, 90, 100
    assert np.all((r >= 0) & (r <= 1))
    assert np.all(np.diff(r, axis=-1) <= 0)  # PASI100 <= PASI90 <= PASI75 <= PASI50


def test_each_virtual_patient_is_nested_and_counts_match(pasi):
    ds = pkpd.simulate_trial(pasi, ARMS, [4, 12], 500, time_unit="week", seed=5, keep_patients=True)
    flags = ds.responder
    for lower, higher in (("PASI50", "PASI75"), ("PASI75", "PASI90"), ("PASI90", "PASI100")):
        assert not bool((flags.sel(endpoint=higher) & ~flags.sel(endpoint=lower)).any())
    np.testing.assert_array_equal(ds.responders.isel(trial=0), flags.sum("subject"))
    imp = ds.improvement.sel(regimen="90 mg x4", time=84.0)
    assert int(ds.responders.sel(trial=0, regimen="90 mg x4", time=84.0, endpoint="PASI75")) == int((imp >= 0.75).sum())


def test_trials_are_seeded_and_wider_for_small_arms(pasi):
    a = pkpd.simulate_trial(pasi, {"a": "45 mg SC at week 0"}, [12], 64, n_trials=300, seed=1, time_unit="week")
    b = pkpd.simulate_trial(pasi, {"a": "45 mg SC at week 0"}, [12], 64, n_trials=300, seed=1, time_unit="week")
    np.testing.assert_array_equal(a.responders, b.responders)
    expected = pkpd.response_rates(pasi, {"a": "45 mg SC at week 0"}, [12], time_unit="week").rate
    p = expected.sel(endpoint="PASI75").item()
    sd = float(a.rate.sel(endpoint="PASI75").std())
    # Binomial spread of a 64-patient arm: sqrt(p(1-p)/64); 300 trials estimate it to ~4%.
    assert sd == pytest.approx(math.sqrt(p * (1 - p) / 64), rel=0.15)


def test_deterministic_rates_agree_with_a_large_monte_carlo(pasi):
    # 200,000 patients per arm here; benchmarks/bench_pasi.py runs 10^6 and prints the table.
    n = 200_000
    det = pkpd.response_rates(pasi, ARMS, [12], time_unit="week").rate
    mc = pkpd.simulate_trial(pasi, ARMS, [12], n, seed=2007, time_unit="week").rate.isel(trial=0)
    se = np.sqrt(np.maximum(det * (1 - det), 1e-12) / n)
    z = np.abs(mc - det) / se
    assert float(z.max()) < 4.5, z.values  # 20 comparisons; 4.5 SE is p < 1e-4 for any one


def test_response_dataset_is_labelled(pasi):
    ds = pkpd.response_rates(pasi, ARMS, [0, 12, 24], time_unit="week")
    assert ds.rate.dims == ("regimen", "time", "endpoint")
    assert ds.endpoint.values.tolist() == ["PASI50", "PASI75", "PASI90", "PASI100"]
    assert ds.threshold.values.tolist() == [0.5, 0.75, 0.9, 0.995]
    assert ds.week.values.tolist() == [0, 12, 24] and ds.rate.attrs["units"] == "1"
    assert float(ds.rate.sel(time=0.0).max()) == 0.0  # nobody has improved at baseline
    assert "Sobol" in ds.attrs["integration"] or "sobol" in ds.attrs["integration"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(endpoints=["PASI80"]), r"Unknown endpoint 'PASI80'; model 'ustekinumab_pasi' defines \['PASI50'"),
    (dict(endpoints={"PASI75": 0.9, "PASI90": 0.75}), r"thresholds out of order: PASI75 = 0.9 must be below PASI90 = 0.75"),
    (dict(endpoints={"PASI 75": 0.75}), r"Unknown endpoint name 'PASI 75'"),
    (dict(endpoints={"PASI100": 1.0}), r"threshold must be > 0 and < 1, got 1.0"),
    (dict(values={"kout": -0.1}), r"Parameter 'kout' = -0.1 is not allowed; it must be > 0"),
    (dict(values={"EC50": 1.0}), r"Unknown parameter 'EC50' for model 'ustekinumab_pasi'"),
])
def test_bad_response_input(pasi, kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.response_rates(pasi, ARMS, [12], time_unit="week", **kwargs)


def test_pk_only_model_and_missing_pd_parameters(tmp_path):
    with pytest.raises(pkpd.PkpdError, match="has no \\[pd\\] section"):
        pkpd.response_rates("ustekinumab_pk", ARMS, [12], time_unit="week")
    with pytest.raises(pkpd.PkpdError, match=r"Design step \(days\) must be > 0, got 0. It is the length"):
        Design(step=0)
    text = pkpd.load_model("ustekinumab_pasi").sources[0][1]
    text = "\n".join(line for line in text.splitlines() if not line.startswith("IC50"))
    path = tmp_path / "pasi.toml"
    path.write_text(text)
    with pytest.raises(pkpd.PkpdError, match=r"missing parameters \['IC50'\]"):
        pkpd.load_model(path)


def test_response_plot_is_written(pasi, tmp_path):
    ds = pkpd.response_rates(pasi, ARMS, np.arange(0, 25), time_unit="week", design=Design(n_nodes=128))
    path = tmp_path / "response.png"
    fig = pkpd.plot_response(ds, path)
    assert path.stat().st_size > 20_000
    # one panel per endpoint, one line per regimen, drawn from the rates
    assert [ax.get_gid() for ax in fig.axes if ax.get_gid() != "doses"] == list(ds.endpoint.values)
    panel = next(ax for ax in fig.axes if ax.get_gid() == "PASI75")
    (line,) = [a for a in panel.lines if a.get_gid() == "rate" and a.get_label() == "90 mg x4"]
    np.testing.assert_array_equal(line.get_ydata(), 100 * ds.rate.sel(regimen="90 mg x4", endpoint="PASI75"))
