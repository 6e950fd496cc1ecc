"""Structure comparison (AIC, BIC, likelihood-ratio tests, Akaike weights) and model averaging."""

import math
import warnings

import numpy as np
import pytest
from scipy.stats import chi2

import pkpd
from pkpd.design import Design

PHASE2 = "krueger2007_phase2"
FAST = Design(n_nodes=128)
REGIMENS = {"label <=100 kg": "45 mg SC at weeks 0, 4 then every 12 weeks", "90 mg x1": "90 mg SC at week 0"}


@pytest.fixture(scope="module")
def comparison():
    # On phase II the extra parameters of two structures go to the edges where they become the base
    # structure (Imax to 1, no non-responders); the fits say so in warnings, recorded here.
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return pkpd.compare_models(["ustekinumab_pasi", "ustekinumab_pasi_hill", "ustekinumab_pasi_nonresponders"],
                               PHASE2, design=FAST, profile=False)


def test_table_and_weights_follow_their_definitions(comparison):
    t = comparison.table
    fits = comparison.fits
    for i, f in enumerate(fits):
        assert t["AIC"][i] == pytest.approx(f.minus2ll + 2 * f.n_parameters, rel=1e-14)
        assert t["BIC"][i] == pytest.approx(f.minus2ll + f.n_parameters * math.log(5 * 64), rel=1e-14)
        assert t["k"][i] == len(f.varying)
    delta = t["AIC"] - t["AIC"].min()
    w = np.exp(-delta / 2)
    np.testing.assert_allclose(t["akaike_weight"], w / w.sum(), rtol=1e-14)
    assert t["akaike_weight"].sum() == pytest.approx(1.0, abs=1e-15)
    assert comparison.best() is fits[int(np.argmin(t["AIC"]))]
    assert "weight" in comparison.report()


def test_likelihood_ratio_tests_of_nested_structures(comparison):
    tests = comparison.tests.set_index(["restricted", "larger"])
    base, hill, nonresp = (f.model.name for f in comparison.fits)
    f0, f1, f2 = comparison.fits
    # pasi_turnover is pasi_turnover_hill with Imax = 1 (the edge of its domain) and hill = 1: df 2,
    # a 50:50 mixture of chi-square 1 and 2 (Self and Liang 1987)
    row = tests.loc[(base, hill)]
    lr = max(f0.minus2ll - f1.minus2ll, 0.0)
    assert row["df"] == 2 and row["boundary"] == 1 and row["LR"] == pytest.approx(lr, abs=1e-12)
    assert row["p_value"] == pytest.approx(0.5 * chi2.sf(lr, 1) + 0.5 * chi2.sf(lr, 2), rel=1e-12)
    # no non-responders (a share of 0, the edge): df 1, half the chi-square 1 tail
    row = tests.loc[(base, nonresp)]
    lr = max(f0.minus2ll - f2.minus2ll, 0.0)
    assert row["df"] == 1 and row["boundary"] == 1
    assert row["p_value"] == pytest.approx(0.5 * chi2.sf(lr, 1) + 0.5 * float(lr <= 0), rel=1e-12)
    # the Hill and non-responder structures are not nested in one another
    assert (hill, nonresp) not in tests.index and (nonresp, hill) not in tests.index


def test_averaged_prediction_weights_models_and_its_interval_holds_each_contributing_model(comparison):
    fits = list(comparison.fits)
    ds = pkpd.predict(fits, REGIMENS, [12, 28, 52], time_unit="week", n_draws=60, draw_nodes=64, seed=2)
    w = ds.model_weight.values
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(w, comparison.weights, rtol=1e-12)
    np.testing.assert_allclose(ds.rate.values, np.tensordot(w, ds.rate_by_model.values, 1), rtol=1e-14)
    for m in range(len(fits)):
        single = pkpd.predict(fits[m], REGIMENS, [12, 28, 52], time_unit="week")
        np.testing.assert_array_equal(ds.rate_by_model.values[m], single.rate.values)
    contributing = w >= 0.01
    assert contributing.sum() >= 2
    by_model = ds.rate_by_model.values[contributing]
    assert np.all(ds.lower.values <= by_model) and np.all(by_model <= ds.upper.values)
    assert "weighted by Akaike weights" in ds.attrs["model_averaging"]


def test_with_one_dominant_model_the_average_is_that_model(comparison):
    good = comparison.fits[0]
    bad = pkpd.fit(pkpd.load_model("ustekinumab_pasi").replace(kout=0.5, omega_response=0.2), PHASE2,
                   vary=["IC50", "Pmax"], design=FAST, profile=False)
    assert bad.aic - good.aic > 40  # a weight below exp(-20)
    ds = pkpd.predict([good, bad], REGIMENS, [12, 52], time_unit="week")
    alone = pkpd.predict(good, REGIMENS, [12, 52], time_unit="week")
    np.testing.assert_allclose(ds.rate.values, alone.rate.values, atol=1e-6, rtol=0)


def test_bad_averaging_input(comparison):
    fits = list(comparison.fits[:2])
    with pytest.raises(pkpd.PkpdError, match="one non-negative number per fit"):
        pkpd.predict(fits, REGIMENS, [12], time_unit="week", weights=[1.0])
    with pytest.raises(pkpd.PkpdError, match="weights go with a list of fits"):
        pkpd.predict(fits[0], REGIMENS, [12], time_unit="week", weights=[1.0])
    other = pkpd.inference.trial_from_text(
        "arm,regimen,n,week,endpoint,responders\nA,45 mg SC at week 0,50,12,PASI75,20\n")
    f_other = pkpd.fit("ustekinumab_pasi", other, vary=["IC50"], design=FAST, profile=False)
    with pytest.raises(pkpd.PkpdError, match="different data. Pass weights"):
        pkpd.predict([fits[0], f_other], REGIMENS, [12], time_unit="week")
    with pytest.raises(pkpd.PkpdError, match="different trial tables"):
        pkpd.compare_models([fits[0], f_other])
