"""NONMEM event semantics against exact solutions, invariants and the ODE engine.

Models are small test models in days (tests/helpers.py); datasets are built in code. The
closed form is exact to rounding (~1e-14 relative); the ODE runs at RTOL and is compared at
TOL = 1e4 * RTOL as in test_pk_accuracy.py.
"""

import math

import numpy as np
import pandas as pd
import pytest

import pkpd
from helpers import make_model

RTOL = 1e-10
TOL = 1e4 * RTOL
COLUMNS = ["ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS"]


def dataset(rows, obs=(), ids=None, **kw):
    """Records (ID, TIME, EVID, AMT, CMT, RATE, II, ADDL, SS[, extra]) plus observations at ``obs`` (days)."""
    records = [dict(zip(COLUMNS, r[:9]), **(r[9] if len(r) > 9 else {})) for r in rows]
    for ident in ids or sorted({r["ID"] for r in records}):
        records += [dict(ID=ident, TIME=t, EVID=0, AMT=0, CMT=2, RATE=0, II=0, ADDL=0, SS=0) for t in obs]
    table = pd.DataFrame(records).astype(object).fillna(".")
    table = table.sort_values(["ID", "TIME"], kind="stable")  # stable: doses before observations at one time
    return pkpd.read_nonmem(table, time_unit="day", **kw)


def predict(model, data, method="closed_form", **kw):
    sim = pkpd.simulate(model, data, variability=False, method=method, **kw)
    return sim.concentration.values, sim


def at_observations(model, data, **kw):
    c, sim = predict(model, data, **kw)
    obs = sim.EVID.values == 0
    return c[obs], sim.time.values[obs], sim.ID.values[obs]


# -- steady state ---------------------------------------------------------------------------

def test_an_ss_record_shows_no_drug_before_it():
    # NONMEM resets the state at the SS record; implied doses act only through that state.
    model = make_model()
    data = dataset([(1, 5.0, 1, 100, 1, 0, 7, 0, 1)], obs=[0.0, 4.0, 4.999])
    c, t, _ = at_observations(model, data)
    assert c.tolist() == [0.0, 0.0, 0.0]


SS_CASES = {
    "depot bolus": (dict(), (100, 1, 0)),
    "central bolus with lag": (dict(tlag_central=2.1), (100, 2, 0)),
    "central infusion D < II": (dict(), (100, 2, 100 / 2.8)),
    "central infusion D = II": (dict(), (100, 2, 100 / 7.0)),
    "central infusion D > II": (dict(), (100, 2, 100 / 17.5)),
    "depot infusion": (dict(), (100, 1, 100 / 3.5)),
    "infusion with F and lag": (dict(F_central=0.6, tlag_central=1.3), (100, 2, 10.0)),
    "modelled duration": (dict(duration_central=9.0, F_central=0.8), (100, 2, -2)),
    "two compartments, depot": (dict(structure="2cmt"), (100, 1, 0)),
    "two compartments, infusion D > II": (dict(structure="2cmt"), (100, 2, 100 / 10.0)),
}


@pytest.mark.parametrize("case", list(SS_CASES))
def test_steady_state_is_the_limit_of_repeated_doses(case):
    # SS=1 at T (II 7 d) against 400 explicit earlier doses: the forgotten tail is
    # exp(-0.1 * 7 * 400) ~ 1e-122 of the steady state; the rest is rounding.
    overrides, (amt, cmt, rate) = SS_CASES[case]
    structure = overrides.pop("structure", "1cmt")
    model = make_model(structure, **overrides)
    T, II, N = 2800.0, 7.0, 400
    obs = T + np.linspace(0.0, 3 * II, 61)
    steady = dataset([(1, T, 1, amt, cmt, rate, II, 2, 1)], obs=obs)
    explicit = dataset([(1, T - N * II, 1, amt, cmt, rate, II, N + 2, 0)], obs=obs)
    a, _, _ = at_observations(model, steady)
    b, _, _ = at_observations(model, explicit)
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13 * b.max())


def test_steady_state_infusion_matches_the_textbook_formula():
    # One compartment, infusion R for D every tau: C at the end of an infusion is
    # R/CL (1 - e^{-kD}) / (1 - e^{-k tau}) (e.g. Gibaldi & Perrier, Pharmacokinetics, ch. 1).
    model = make_model(absorption="none")
    CL, k, R, D, tau = 0.3, 0.1, 50.0, 2.0, 7.0
    data = dataset([(1, 0.0, 1, R * D, 1, R, tau, 0, 1)], obs=[D, tau - 1e-9])
    c, _, _ = at_observations(model, data)
    peak = R / CL * -math.expm1(-k * D) / -math.expm1(-k * tau)
    assert c[0] == pytest.approx(peak, rel=1e-13)
    assert c[1] == pytest.approx(peak * math.exp(-k * (tau - 1e-9 - D)), rel=1e-13)


def test_lag_longer_than_the_interval_starts_the_cycle_at_an_arrival():
    # NONMEM: with ALAG >= II the state at the SS record is the state just after an arrival;
    # the record's own dose arrives ALAG later. Central bolus: C(T) = D/V / (1 - e^{-k tau}).
    model = make_model(absorption="none", tlag_central=10.5)
    D, V, k, tau, T = 100.0, 3.0, 0.1, 7.0, 20.0
    data = dataset([(1, T, 1, D, 1, 0, tau, 0, 1)], obs=[T, T + 10.4, T + 10.5, T + 12.0])
    c, _, _ = at_observations(model, data)
    peak = D / V / -math.expm1(-k * tau)
    expected = [peak, peak * math.exp(-k * 10.4), peak * math.exp(-k * 10.5) + D / V,
                peak * math.exp(-k * 12.0) + D / V * math.exp(-k * 1.5)]
    np.testing.assert_allclose(c, expected, rtol=1e-13)


def test_ss2_adds_the_steady_state_to_the_current_state():
    # By linearity, SS=1 then SS=2 equals the SS=1 course plus a lone SS=1 course at the SS=2 time.
    model = make_model()
    obs = np.linspace(0.0, 60.0, 121)
    both = dataset([(1, 0.0, 1, 100, 1, 0, 14, 3, 1), (1, 5.0, 1, 50, 1, 0, 14, 3, 2)], obs=obs)
    first = dataset([(1, 0.0, 1, 100, 1, 0, 14, 3, 1)], obs=obs)
    second = dataset([(1, 5.0, 1, 50, 1, 0, 14, 3, 1)], obs=obs)
    a, b, c = (at_observations(model, d)[0] for d in (both, first, second))
    np.testing.assert_allclose(a, b + c, rtol=1e-13, atol=1e-15)


def test_co_timed_records_follow_the_row_order():
    # A bolus before an SS=1 row at the same time is wiped by its reset; one after it is kept.
    model = make_model(absorption="none")
    obs = [10.5]
    before = dataset([(1, 10.0, 1, 100, 1, 0, 0, 0, 0), (1, 10.0, 1, 100, 1, 0, 7, 0, 1)], obs=obs)
    after = dataset([(1, 10.0, 1, 100, 1, 0, 7, 0, 1), (1, 10.0, 1, 100, 1, 0, 0, 0, 0)], obs=obs)
    alone = dataset([(1, 10.0, 1, 100, 1, 0, 7, 0, 1)], obs=obs)
    a, b, s = (at_observations(model, d)[0][0] for d in (before, after, alone))
    assert a == s
    assert b == pytest.approx(s + 100 / 3.0 * math.exp(-0.1 * 0.5), rel=1e-14)


# -- resets, F, rates -------------------------------------------------------------------------

def test_resets_cancel_additional_doses_lagged_doses_and_infusions():
    model = make_model(tlag=0.7)
    rows = [(1, 0.0, 1, 100, 1, 0, 1.0, 5, 0),          # depot doses daily x6, lag 0.7 d
            (1, 1.9, 1, 100, 2, 40.0, 0, 0, 0),         # central infusion 1.9 -> 4.4 d
            (1, 2.5, 3, 0, 1, 0, 0, 0, 0)]              # EVID 3 at 2.5 d
    obs = np.linspace(2.5, 10.0, 16)
    c, _, _ = at_observations(model, dataset(rows, obs=obs))
    assert np.all(c == 0.0)
    rows[2] = (1, 2.5, 4, 60, 2, 0, 0, 0, 0)            # EVID 4: reset, then 60 mg IV
    c, t, _ = at_observations(model, dataset(rows, obs=obs))
    np.testing.assert_allclose(c, 60 / 3.0 * np.exp(-0.1 * (t - 2.5)), rtol=1e-14)


def test_bioavailability_scales_an_infusions_duration_not_its_rate():
    # NONMEM: RATE is kept and the duration becomes F*AMT/RATE; with RATE -2 the modelled
    # duration is kept and the rate becomes F*AMT/D. One compartment, IV.
    model = make_model(absorption="none", F_central=0.5, duration_central=4.0)
    CL, k, t = 0.3, 0.1, np.array([1.0, 2.5, 4.0, 8.0])
    given = dataset([(1, 0.0, 1, 100, 1, 20.0, 0, 0, 0)], obs=t)           # 50 mg at 20 mg/d: 2.5 d
    modelled = dataset([(1, 0.0, 1, 100, 1, -2, 0, 0, 0)], obs=t)          # 50 mg over 4 d: 12.5 mg/d

    def infusion(rate, duration):
        during = rate / CL * -np.expm1(-k * np.minimum(t, duration))
        return during * np.exp(-k * np.maximum(t - duration, 0.0))
    np.testing.assert_allclose(at_observations(model, given)[0], infusion(20.0, 2.5), rtol=1e-13)
    np.testing.assert_allclose(at_observations(model, modelled)[0], infusion(12.5, 4.0), rtol=1e-13)


def test_per_record_columns_give_dose_parameters_in_the_files_units():
    # F and lag of central doses from data columns (NONMEM's F2 = BIOAV, ALAG2 = LAGT), TIME in hours.
    model = make_model(absorption="none")
    table = pd.DataFrame(dict(ID=[1, 1, 1], TIME=[0.0, 0.0, 12.0], EVID=[1, 0, 0], AMT=[100, 0, 0], CMT=[1, 1, 1],
                              BIOAV=[0.4, 1.0, 1.0], LAGT=[6.0, 0.0, 0.0]))
    data = pkpd.read_nonmem(table, time_unit="hour", parameters={"F_central": "BIOAV", "tlag_central": "LAGT"})
    c, _ = predict(model, data)
    # The dose record's values hold: 40 mg arriving at 6 h, observed 6 h later.
    assert c.tolist()[:2] == [0.0, 0.0]
    assert c[2] == pytest.approx(40 / 3.0 * math.exp(-0.1 * 0.25), rel=1e-14)


def test_time_varying_weight_holds_from_the_previous_record_to_its_own():
    # NONMEM advances the state to a record with that record's parameters: here CL and V
    # scale with WT, which is 70 kg up to day 10 and 100 kg from the record at day 20.
    model = make_model(absorption="none", reference_weight=70.0, weight_exponent_CL=0.75, weight_exponent_V=1.0)
    table = pd.DataFrame(dict(ID=[1] * 3, TIME=[0.0, 10.0, 20.0], EVID=[1, 0, 0], AMT=[100, 0, 0], CMT=[1, 1, 1],
                              WT=[70.0, 70.0, 100.0]))
    data = pkpd.read_nonmem(table, time_unit="day")
    assert data.time_varying() == ("WT",)
    c, _ = predict(model, data)
    k70 = 0.1
    CL100, V100 = 0.3 * (100 / 70) ** 0.75, 3.0 * 100 / 70
    amount10 = 100 * math.exp(-k70 * 10)
    np.testing.assert_allclose(c, [100 / 3.0, amount10 / 3.0, amount10 * math.exp(-CL100 / V100 * 10) / V100],
                               rtol=1e-14)
    ode, _ = predict(model, data, method="ode", rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(ode, c, rtol=TOL)


# -- subjects with their own dose times -----------------------------------------------------------

def test_individual_dose_times_equal_one_regimen_per_subject():
    model = make_model()
    rng = np.random.default_rng(5)
    first, lag = rng.integers(0, 14, 12).astype(float), rng.uniform(0.0, 1.0, 12)
    times = np.arange(0.0, 120.0, 0.5)
    rows = [(i + 1, first[i], 1, 45, 1, 0, 28.0, 3, 0, {"LAG": lag[i]}) for i in range(12)]
    data = dataset(rows, obs=times, parameters={"tlag": "LAG"})
    grid = pkpd.simulate(model, data, times=times, variability=False).concentration.values
    c, t, ident = at_observations(model, data)
    for i in range(12):
        one = model.replace(tlag=lag[i])
        reg = pkpd.Regimen((pkpd.Course(45, "sc", every=28.0, start=first[i], count=4),))
        expected = pkpd.simulate(one, reg, times).concentration.values[0, 0]
        np.testing.assert_allclose(grid[i], expected, rtol=1e-13, atol=1e-15)      # shared output grid
        np.testing.assert_allclose(c[ident == i + 1], expected, rtol=1e-12, atol=1e-15)  # output records


def test_walk_along_shared_times_equals_output_by_output(monkeypatch):
    # Two algorithms for the outputs of the same events: stepping along shared output times
    # (events added or, after resets and steady states, replaced) and evaluating each output
    # from the last event before it.
    from pkpd.pk import _linear
    model = make_model("2cmt")
    rows = [(1, 0.0, 1, 100, 1, 0, 5.0, 4, 0), (1, 12.3, 3, 0, 1, 0, 0, 0, 0), (1, 15.0, 1, 80, 2, 30, 7, 2, 1),
            (2, 1.7, 1, 50, 1, 20.0, 3.0, 6, 0), (2, 9.9, 4, 70, 2, 0, 0, 0, 0),
            (3, 3.0, 1, 100, 1, 0, 7.0, 3, 2), (3, 3.0, 1, 60, 2, 0, 0, 0, 0)]
    data = dataset(rows)
    times = np.linspace(0.0, 40.0, 161)
    walk = pkpd.simulate(model, data, times=times, variability=False).concentration.values
    # Records at the same times for every ID: the outputs are records, placed by position.
    same = dataset([(i, 0.0, 1, 100 * i, 1, 0, 5.0, 4, 0) for i in (1, 2, 3)] +
                   [(i, 10.0, 1, 50, 2, 0, 7.0 if i == 2 else 0, 0, 1 if i == 2 else 0) for i in (1, 2, 3)] +
                   [(i, 10.0, 3 if i == 3 else 2, 0, 1, 0, 0, 0, 0) for i in (1, 2, 3)],
                   obs=np.linspace(0.0, 30.0, 31))
    walk_records = pkpd.simulate(model, same, variability=False).concentration.values
    monkeypatch.setattr(_linear, "_walk", _linear._each)
    each = pkpd.simulate(model, data, times=times, variability=False).concentration.values
    np.testing.assert_allclose(walk, each, rtol=1e-12, atol=1e-14 * each.max())
    each_records = pkpd.simulate(model, same, variability=False).concentration.values
    np.testing.assert_allclose(walk_records, each_records, rtol=1e-12, atol=1e-14 * each_records.max())


# -- closed form against the ODE ---------------------------------------------------------------

ODE_ROWS = [
    (1, 0.0, 1, 100, 1, 0, 5.0, 4, 0),                  # depot boluses with ADDL
    (1, 12.3, 3, 0, 1, 0, 0, 0, 0),                     # reset
    (1, 15.0, 1, 80, 2, 30, 7, 2, 1),                   # SS central infusion
    (2, 1.7, 1, 50, 1, 20.0, 3.0, 6, 0),                # depot infusions
    (2, 9.9, 4, 70, 2, 0, 0, 0, 0),                     # reset and dose
    (3, 3.0, 1, 100, 1, 0, 7.0, 3, 1),                  # SS depot bolus
    (3, 3.0, 1, 60, 2, -2, 0, 0, 0),                    # modelled duration, co-timed
    (4, 0.5, 1, 100, 2, 0, 2.0, 10, 0),                 # central boluses (lag), then SS=2
    (4, 11.0, 1, 40, 1, 0, 6.0, 3, 2),
]


@pytest.mark.parametrize("structure", ["1cmt", "2cmt"])
def test_closed_form_equals_ode_for_nonmem_records(structure):
    model = make_model(structure, tlag=0.4, tlag_central=0.25, F_central=0.8, duration_central=1.5)
    data = dataset(ODE_ROWS, obs=np.linspace(0.0, 40.0, 81))
    exact, _ = predict(model, data)
    ode, _ = predict(model, data, method="ode", rtol=RTOL, atol=1e-14)  # one clock per individual
    mask = exact > 1e-6 * exact.max()
    assert mask.sum() > 200
    assert np.max(np.abs(ode[mask] - exact[mask]) / exact[mask]) < TOL
    assert np.all(np.abs(ode[~mask]) < 1e-5 * exact.max())


def test_depot_infusion_when_ka_equals_k():
    model = make_model(ka=0.1)  # ka = CL/V: the depot-infusion response's degenerate case
    data = dataset([(1, 0.0, 1, 100, 1, 25.0, 10.0, 3, 0)], obs=np.linspace(0.0, 50.0, 101))
    exact, _ = predict(model, data)
    ode, _ = predict(model, data, method="ode", rtol=RTOL, atol=1e-14)
    mask = exact > 1e-6 * exact.max()
    assert np.max(np.abs(ode[mask] - exact[mask]) / exact[mask]) < TOL


# -- nonlinear steady state ------------------------------------------------------------------------

def test_nonlinear_steady_state_by_cycling_equals_the_linear_one_without_target():
    # TMDD with no target is linear; its steady state is found by Newton on one dosing cycle.
    linear = make_model("2cmt")
    tmdd = make_model("2cmt", elimination="tmdd_qss", R0=0.0)
    rows = [(1, 0.0, 1, 100, 1, 0, 14.0, 2, 1), (2, 0.0, 1, 100, 2, 40.0, 14.0, 2, 1)]
    data = dataset(rows, obs=np.linspace(0.0, 40.0, 81))
    exact, _ = predict(linear, data)
    ode, _ = predict(tmdd, data, method="ode", rtol=RTOL, atol=1e-14)
    mask = exact > 1e-6 * exact.max()
    assert np.max(np.abs(ode[mask] - exact[mask]) / exact[mask]) < TOL


def test_nonlinear_steady_state_repeats_every_interval():
    # Michaelis-Menten: no closed form, but the steady state is periodic: C(T + p) = C(T + II + p).
    model = make_model(elimination="michaelis_menten", Vmax=20.0, Km=1.0)
    p = np.linspace(0.0, 6.9, 24)
    data = dataset([(1, 0.0, 1, 100, 1, 0, 7.0, 3, 1)], obs=np.concatenate([p, 7.0 + p, 14.0 + p]))
    c, _, _ = at_observations(model, data, method="ode", rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(c[24:48], c[:24], rtol=1e-6)
    np.testing.assert_allclose(c[48:], c[:24], rtol=1e-6)
    assert c.max() > 2 * 1.0  # above Km: saturation matters here


def test_nonlinear_steady_state_that_does_not_converge_raises(monkeypatch):
    from pkpd.pk import _ode
    monkeypatch.setattr(_ode, "SS_MAX_ITERATIONS", 1)
    model = make_model(elimination="michaelis_menten")
    data = dataset([(1, 0.0, 1, 100, 1, 0, 7.0, 0, 1)], obs=[1.0])
    with pytest.raises(pkpd.SolverError, match=r"ID 1, CSV line 2: the steady state did not converge within 1 "
                                               r"Newton iterations"):
        predict(model, data, method="ode")


def test_ss2_is_refused_for_nonlinear_kinetics():
    model = make_model(elimination="michaelis_menten")
    data = dataset([(1, 0.0, 1, 100, 1, 0, 7.0, 0, 2)], obs=[1.0])
    with pytest.raises(pkpd.PkpdError, match=r"SS 2 adds a steady state to the current state, which is defined for "
                                             r"linear kinetics only"):
        predict(model, data, method="ode")


def test_subjects_with_equal_records_are_resolved_once_with_the_same_events(monkeypatch):
    """Identical subjects share one resolution; their events, steady states included, equal
    those of each subject resolved alone, and Events.rows keeps every subject's own."""
    from pkpd.dosing._tables import DoseTable
    from pkpd.pk import _events
    from pkpd.pk._events import resolve
    sizes = []
    inner = _events._resolve
    monkeypatch.setattr(_events, "_resolve", lambda table, *a: sizes.append(table.n) or inner(table, *a))
    from pkpd.pk._exposure import dose_parameters
    model = make_model("2cmt")
    rows = []
    for ident, amt in ((1, 100), (2, 70), (3, 100), (4, 100)):
        rows += [(ident, 0, 1, amt, 1, 0, 14, 0, 1), (ident, 3, 1, 50, 2, 25, 0, 0, 0),
                 (ident, 20, 4, amt, 1, 0, 7, 2, 0)]
    data = dataset(rows, obs=(1, 10, 30))
    table = DoseTable.from_dataset(data, np.arange(4), {1: "depot", 2: "central"})
    F = np.array([0.7, 0.7, 0.7, 0.9])  # subject 4 differs by its bioavailability only
    pk = dict(model.values, F=F)
    together = resolve(table, dose_parameters(model, pk))
    assert sizes == [3]  # IDs 1 and 3 are one pattern
    for i in range(4):
        alone_table = DoseTable(**{k: getattr(table, k)[i:i + 1] for k in (
            "time", "evid", "amount", "compartment", "rate", "interval", "additional", "steady_state", "valid",
            "output", "line")}, time_unit=table.time_unit)
        alone = resolve(alone_table, dose_parameters(model, dict(pk, F=F[i:i + 1])))
        part = together.rows(slice(i, i + 1))
        for name in ("time", "bolus", "rate", "reset", "ss", "record", "out_time", "out_position"):
            np.testing.assert_array_equal(getattr(part, name), getattr(alone, name), err_msg=name)
        for name in ("subject", "amount", "interval", "phase", "kind"):
            np.testing.assert_array_equal(getattr(part.steady, name), getattr(alone.steady, name), err_msg=name)
    assert together.steady.m == 4 and np.array_equal(together.steady.subject, np.arange(4))


def test_subjects_copied_from_patterns_read_each_subjects_own_events():
    """Without steady states, subjects resolved as a few patterns are copies whose arrays are
    taken from the patterns when read: every field, the output positions included, equals the
    subject's own events resolved alone, also after a second take and a dataclasses.replace."""
    import dataclasses
    from pkpd.dosing._tables import DoseTable
    from pkpd.pk._events import resolve
    from pkpd.pk._exposure import dose_parameters
    model = make_model("2cmt")
    rows = []
    for ident, amt in ((1, 100), (2, 70), (3, 100), (4, 70), (5, 100)):
        rows += [(ident, 0, 1, amt, 1, 0, 14, 3, 0), (ident, 3, 1, 50, 2, 25, 0, 0, 0)]
    data = dataset(rows, obs=(1, 10, 30, 60))
    table = DoseTable.from_dataset(data, np.arange(5), {1: "depot", 2: "central"})
    pk = dict(model.values)
    together = resolve(table, dose_parameters(model, pk))
    source, index = together.patterns()
    assert source.n == 2 and together.n == 5 and index.tolist() == [0, 1, 0, 1, 0]
    names = ("time", "bolus", "rate", "reset", "ss", "record", "out_time", "out_record", "out_position")
    alone = []
    for i in range(5):
        one = DoseTable(**{k: getattr(table, k)[i:i + 1] for k in (
            "time", "evid", "amount", "compartment", "rate", "interval", "additional", "steady_state", "valid",
            "output", "line")}, time_unit=table.time_unit)
        alone.append(resolve(one, dose_parameters(model, pk)))
    again = together.take(np.array([4, 1, 1]))
    assert again.n == 3 and again.patterns()[0] is source and again.patterns()[1].tolist() == [0, 1, 1]
    replaced = dataclasses.replace(together, same_rows=False)
    for events, who in ((together, range(5)), (again, (4, 1, 1)), (replaced, range(5))):
        for name in names:
            np.testing.assert_array_equal(getattr(events, name), np.concatenate(
                [getattr(alone[i], name) for i in who]), err_msg=name)
