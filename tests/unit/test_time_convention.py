"""One time convention: every entry point reads ``times`` in ``time_unit`` (days by default)."""

import numpy as np
import pytest

import pkpd

REGIMEN = {"label": "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"}


@pytest.fixture(scope="module")
def fit():
    return pkpd.load_fit("ustekinumab_phase2")


@pytest.mark.parametrize("unit, times", [("day", [14.0, 84.0]), ("week", [2.0, 12.0]), ("hour", [336.0, 2016.0])])
def test_simulate_rates_trials_and_predict_evaluate_the_same_instants(fit, unit, times):
    sim = pkpd.simulate(fit.model, REGIMEN, times, time_unit=unit)
    rates = pkpd.response_rates(fit.model, REGIMEN, times, time_unit=unit, design=fit.design)
    trial = pkpd.simulate_trial(fit.model, REGIMEN, times, 20, time_unit=unit)
    pred = pkpd.predict(fit, REGIMEN, times, time_unit=unit)
    for ds in (sim, rates, trial, pred):
        assert ds.time.values.tolist() == [14.0, 84.0] and ds.week.values.tolist() == [2.0, 12.0]
        assert ds.time.attrs["units"] == "day"
    # The same instants give the same numbers: rates of the fitted model from the model and from the fit.
    np.testing.assert_array_equal(rates.rate.values, pred.rate.values)
    days = pkpd.simulate(fit.model, REGIMEN, [14.0, 84.0])  # the default unit is the day everywhere
    np.testing.assert_array_equal(sim.concentration.values, days.concentration.values)


def test_the_default_unit_is_the_day_for_every_entry_point(fit):
    default = pkpd.predict(fit, REGIMEN, [84.0]).rate.values
    np.testing.assert_array_equal(default, pkpd.predict(fit, REGIMEN, [12.0], time_unit="week").rate.values)
    np.testing.assert_array_equal(pkpd.response_rates(fit.model, REGIMEN, [84.0], design=fit.design).rate.values,
                                  default)


def test_unknown_time_unit(fit):
    with pytest.raises(pkpd.PkpdError, match=r"Unknown time unit 'month'; allowed: \['day', 'week', 'hour'\]"):
        pkpd.predict(fit, REGIMEN, [3], time_unit="month")


def test_random_entry_points_default_to_seed_zero(fit):
    a = pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", [7.0], n_subjects=10)
    b = pkpd.simulate("ustekinumab_pk", "45 mg SC at week 0", [7.0], n_subjects=10, seed=0)
    np.testing.assert_array_equal(a.concentration, b.concentration)
    assert a.attrs["seed"] == "0"
    t1 = pkpd.simulate_trial(fit.model, REGIMEN, [84.0], 64, n_trials=3)
    t2 = pkpd.simulate_trial(fit.model, REGIMEN, [84.0], 64, n_trials=3, seed=0)
    np.testing.assert_array_equal(t1.responders, t2.responders)
