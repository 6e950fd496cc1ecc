"""PK engine accuracy: closed form vs exact textbook solutions, closed form vs ODE, invariants."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import lambertw

import pkpd
from pkpd.pk._formulas import conc_depot, disposition
from helpers import make_model

# The ODE runs at RTOL; agreement with the exact solution is asserted at TOL = 1e4 * RTOL,
# the head-room global error accumulation over many steps needs (scipy's own ivp tests
# compare errors against atol + rtol*|y| in the same way).
RTOL = 1e-10
TOL = 1e4 * RTOL
T = np.linspace(0.0, 120.0, 481)


def conc(model, regimen, times=T, **kw):
    return pkpd.simulate(model, regimen, times, **kw).concentration.values[0, 0]


# -- closed form against textbook formulas -------------------------------------------------

def test_iv_bolus_one_compartment_is_mono_exponential():
    m = make_model(absorption="none")
    expected = 100.0 / 3.0 * np.exp(-0.1 * T)  # D/V exp(-CL/V t)
    # Exact propagation multiplies one step factor per output time: rounding grows like
    # (number of steps) * eps, 5e-14 over these 481 steps.
    np.testing.assert_allclose(conc(m, "100 mg IV at day 0"), expected, rtol=1e-12)


def test_sc_one_compartment_is_the_bateman_function():
    m = make_model()
    k, ka, F, V, D = 0.1, 0.4, 0.7, 3.0, 100.0
    expected = F * D * ka / (V * (ka - k)) * (np.exp(-k * T) - np.exp(-ka * T))
    np.testing.assert_allclose(conc(m, "100 mg SC at day 0"), expected, rtol=1e-12, atol=1e-15)


def test_sc_when_ka_equals_k_uses_the_limit():
    m = make_model(ka=0.1)  # ka == CL/V: the Bateman formula divides 0 by 0
    expected = 0.7 * 100.0 * 0.1 * T * np.exp(-0.1 * T) / 3.0
    np.testing.assert_allclose(conc(m, "100 mg SC at day 0"), expected, rtol=1e-13, atol=1e-15)


def test_infusion_one_compartment_rises_to_rate_over_clearance():
    m = make_model(absorption="none")
    k, CL, R, Tinf = 0.1, 0.3, 50.0, 2.0  # 100 mg over 2 days
    during = R / CL * (1 - np.exp(-k * np.minimum(T, Tinf)))
    expected = during * np.exp(-k * np.maximum(T - Tinf, 0.0))
    np.testing.assert_allclose(conc(m, "100 mg IV over 2 days at day 0"), expected, rtol=1e-13)


def test_two_compartment_bolus_matches_macro_constants():
    m = make_model("2cmt", absorption="none")
    k10, k12, k21 = 0.1, 0.5 / 3.0, 0.5 / 2.5
    s = k10 + k12 + k21
    alpha = (s + math.sqrt(s * s - 4 * k10 * k21)) / 2
    beta = (s - math.sqrt(s * s - 4 * k10 * k21)) / 2
    A = 100 / 3.0 * (alpha - k21) / (alpha - beta)
    B = 100 / 3.0 * (k21 - beta) / (alpha - beta)
    expected = A * np.exp(-alpha * T) + B * np.exp(-beta * T)
    np.testing.assert_allclose(conc(m, "100 mg IV at day 0"), expected, rtol=1e-12)


@pytest.mark.parametrize("regimen", [
    "45 mg SC at weeks 0, 4 then every 12 weeks until week 52",
    "100 mg IV at days 0, 3.3; 20 mg SC every 5 days x9",
])
def test_event_engine_equals_superposition_of_single_doses(ustekinumab, regimen):
    # The engine steps a state from event to event; superposition sums textbook single-dose
    # responses (pkpd.pk._formulas): two different computations of the same linear model.
    from pkpd.pk._formulas import conc_bolus
    pop = pkpd.sample_population(ustekinumab, 200, seed=4)
    p = pop.individual(ustekinumab)
    t = np.sort(np.random.default_rng(0).uniform(0, 400, 300))
    engine = pkpd.simulate(ustekinumab, regimen, t, population=pop).concentration.values[0]
    a, lam = disposition(p)
    expected = np.zeros_like(engine)
    for dose in pkpd.parse_regimen(regimen).doses():
        since = np.broadcast_to(t - dose.time, engine.shape)
        if dose.route == "sc":
            expected += (p["F"] * float(dose.amount.value))[:, None] * conc_depot(since, a, lam, p["ka"])
        else:
            expected += float(dose.amount.value) * conc_bolus(since, a, lam)
    mask = expected > 1e-12 * expected.max()
    np.testing.assert_allclose(engine[mask], expected[mask], rtol=1e-12)


def test_flip_flop_with_very_fast_elimination_does_not_overflow():
    a, lam = np.array([[1.0]]), np.array([[50.0]])
    c = conc_depot(np.array([[1000.0]]), a, lam, np.array([0.01]))
    expected = 0.01 * (np.exp(-0.01 * 1000) - np.exp(-50 * 1000)) / (50 - 0.01)
    assert np.isfinite(c).all() and c[0, 0] == pytest.approx(expected, rel=1e-12)


# -- closed form against the ODE engine ----------------------------------------------------

CASES = {
    "iv bolus 1cmt": (dict(absorption="none"), "100 mg IV at day 0"),
    "iv bolus 2cmt": (dict(structure="2cmt", absorption="none"), "100 mg IV at days 0, 30"),
    "infusion by duration 1cmt": (dict(absorption="none"), "100 mg IV over 2 days at day 0"),
    "infusion by rate 2cmt": (dict(structure="2cmt", absorption="none"), "100 mg IV at 20 mg/day at days 0, 10"),
    "sc single 1cmt": (dict(), "100 mg SC at day 0"),
    "sc single 2cmt": (dict(structure="2cmt"), "100 mg SC at day 0"),
    "sc repeated 1cmt": (dict(), "100 mg SC every 7 days x4"),
    "sc repeated 2cmt": (dict(structure="2cmt"), "50 mg SC every 14 days until day 100"),
    "sc with lag 1cmt": (dict(tlag=0.75), "100 mg SC every 7 days x4"),
    "sc with lag 2cmt": (dict(structure="2cmt", tlag=1.5), "100 mg SC at days 0, 20"),
    "sc ka equals k": (dict(ka=0.1), "100 mg SC at days 0, 14"),
    "iv loading then sc": (dict(structure="2cmt"), "200 mg IV over 1 h at day 0 then 100 mg SC every 14 days x3"),
    "sc steady state": (dict(), "100 mg SC every 14 days from day 0 x2 at steady state"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_closed_form_equals_ode(case):
    overrides, regimen = CASES[case]
    m = make_model(**overrides)
    exact = conc(m, regimen, method="closed_form")
    ode = conc(m, regimen, method="ode", rtol=RTOL, atol=1e-14)
    mask = exact > 1e-6 * exact.max()
    assert mask.sum() > 100
    rel = np.abs(ode[mask] - exact[mask]) / exact[mask]
    assert rel.max() < TOL, f"{case}: max relative error {rel.max():.2e}"


def test_closed_form_equals_ode_across_a_population(ustekinumab):
    pop = pkpd.sample_population(ustekinumab, 50, seed=3)
    regimen = "1 mg/kg SC at weeks 0, 4 then every 12 weeks until week 28"
    times = np.arange(0.0, 200.0, 0.5)
    exact = pkpd.simulate(ustekinumab, regimen, times, population=pop).concentration.values[0]
    ode = pkpd.simulate(ustekinumab, regimen, times, population=pop, method="ode",
                        rtol=RTOL, atol=1e-14).concentration.values[0]
    mask = exact > 1e-6 * exact.max(axis=1, keepdims=True)
    assert np.max(np.abs(ode - exact)[mask] / exact[mask]) < TOL


# -- invariants -----------------------------------------------------------------------------

@pytest.mark.parametrize("structure", ["1cmt", "2cmt"])
def test_auc_of_one_sc_dose_is_f_dose_over_cl(structure):
    m = make_model(structure)
    p = {k: np.atleast_1d(v) for k, v in m.values.items()}
    a, lam = disposition(p)

    def c(t):
        return 100 * 0.7 * conc_depot(np.array([[t]]), a, lam, p["ka"])[0, 0]
    auc = quad(c, 0, np.inf, limit=200, epsabs=0, epsrel=1e-10)[0]
    assert auc == pytest.approx(0.7 * 100 / 0.3, rel=1e-4)


def test_auc_of_ustekinumab_45_mg_is_dose_over_apparent_clearance(ustekinumab):
    # Zhu 2009: CL/F 0.465 L/day, so AUC(0-inf) of 45 mg SC is 45/0.465 mg*day/L.
    t = np.linspace(0, 2000, 200001)
    c = conc(ustekinumab, "45 mg SC at day 0", t)
    auc = np.trapezoid(c, t)
    assert auc == pytest.approx(45 / 0.465, rel=1e-4)


def test_doubling_the_dose_doubles_the_concentration(ustekinumab):
    pop = pkpd.sample_population(ustekinumab, 20, seed=1)
    one = pkpd.simulate(ustekinumab, "45 mg SC at weeks 0, 4", T, population=pop).concentration.values
    two = pkpd.simulate(ustekinumab, "90 mg SC at weeks 0, 4", T, population=pop).concentration.values
    np.testing.assert_allclose(two, 2 * one, rtol=1e-14)


def test_superposition_of_two_regimens_equals_the_merged_regimen(ustekinumab):
    pop = pkpd.sample_population(ustekinumab, 20, seed=2)
    a, b = "45 mg SC at weeks 0, 4", "90 mg IV over 1 h at week 2"
    ds = pkpd.simulate(ustekinumab, {"a": a, "b": b, "ab": pkpd.parse_regimen(a) + pkpd.parse_regimen(b)},
                       T, population=pop)
    c = ds.concentration
    np.testing.assert_allclose(c.sel(regimen="ab"), c.sel(regimen="a") + c.sel(regimen="b"), rtol=1e-13)


def test_steady_state_trough_equals_the_geometric_series():
    m = make_model(absorption="none")
    k, tau = 0.1, 14.0
    trough = conc(m, "100 mg IV every 14 days from day 0 x1 at steady state", [tau - 1e-12])
    assert trough[0] == pytest.approx(100 / 3.0 * math.exp(-k * tau) / (1 - math.exp(-k * tau)), rel=1e-10)


def test_typical_ustekinumab_half_life_and_troughs(ustekinumab):
    v = ustekinumab.values
    half_life_weeks = math.log(2) * v["V"] / v["CL"] / 7
    assert 2.5 < half_life_weeks < 4.0  # "about 3 weeks" (label: 15-46 days across studies)
    reg = {"45": "45 mg SC every 12 weeks from week 0 x1 at steady state",
           "90": "90 mg SC every 12 weeks from week 0 x1 at steady state"}
    trough = pkpd.simulate(ustekinumab, reg, [84 - 1e-9]).concentration[:, 0, 0]
    # STELARA prescribing information (PHOENIX 1/2, q12w): steady-state troughs
    # 0.21-0.26 ug/mL (45 mg) and 0.47-0.49 ug/mL (90 mg). Within 30% of the mid-range.
    assert float(trough.sel(regimen="45")) == pytest.approx(0.235, rel=0.30)
    assert float(trough.sel(regimen="90")) == pytest.approx(0.48, rel=0.30)


# -- nonlinear kinetics --------------------------------------------------------------------

def test_michaelis_menten_bolus_matches_the_lambert_w_solution():
    # dC/dt = -Vmax/V * C/(Km + C) has C(t) = Km W(C0/Km exp((C0 - Vmax t/V)/Km)).
    # The structure needs CL > 0; at 1e-12 L/day its share of elimination is < 1e-11.
    m = make_model(absorption="none", elimination="michaelis_menten", CL=1e-12)
    c0, Km, kmax = 100 / 3.0, 2.0, 5.0 / 3.0
    t = np.linspace(0, 40, 161)
    exact = Km * lambertw(c0 / Km * np.exp((c0 - kmax * t) / Km)).real
    ode = conc(m, "100 mg IV at day 0", t, rtol=RTOL, atol=1e-14)
    mask = exact > 1e-6 * c0
    assert np.max(np.abs(ode[mask] - exact[mask]) / exact[mask]) < TOL


def test_tmdd_without_target_is_linear():
    linear = make_model("2cmt")
    tmdd = make_model("2cmt", elimination="tmdd_qss", R0=0.0)
    reg = "100 mg SC every 14 days x3"
    exact = conc(linear, reg)
    ode = conc(tmdd, reg, rtol=RTOL, atol=1e-14)
    mask = exact > 1e-6 * exact.max()
    assert np.max(np.abs(ode[mask] - exact[mask]) / exact[mask]) < TOL


def test_tmdd_clears_low_doses_faster():
    m = make_model(elimination="tmdd_qss", R0=2.0, KSS=0.05, kint=2.0)
    t = np.linspace(0, 400, 2001)
    low = conc(m, "10 mg IV at day 0", t)
    high = conc(m, "1000 mg IV at day 0", t)
    # Target-mediated clearance saturates: dose-normalised AUC rises with dose.
    assert np.trapezoid(high, t) / 1000 > 1.5 * np.trapezoid(low, t) / 10


def test_stiff_solver_with_sparse_jacobian_agrees():
    m = make_model(elimination="tmdd_qss")
    reg = "100 mg SC every 14 days x3"
    pop = pkpd.sample_population(m, 4, seed=0, weight=70.0)
    a = pkpd.simulate(m, reg, T, population=pop, rtol=1e-9, atol=1e-12).concentration.values
    b = pkpd.simulate(m, reg, T, population=pop, rtol=1e-9, atol=1e-12, solver="BDF").concentration.values
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


def test_solver_failure_raises_with_time_message_and_parameters(monkeypatch):
    import scipy.integrate as sim

    class Failed:
        success, message = False, "Required step size is less than spacing between numbers."
        t = np.array([0.0])
    monkeypatch.setattr(sim, "solve_ivp", lambda *a, **k: Failed())
    m = make_model(elimination="michaelis_menten")
    with pytest.raises(pkpd.SolverError, match=r"between day 0 and day 14: Required step size.*Vmax=5"):
        pkpd.simulate(m, "100 mg IV at days 0, 14", [0, 20])
