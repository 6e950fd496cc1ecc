"""Arm-level covariates (subgroups fitted as arms) and several trials with a between-trial effect."""

import math

import numpy as np
import pytest
from scipy import integrate

import pkpd
from pkpd.design import Design
from pkpd.inference import Objective
from pkpd.inference._likelihood import group_log_likelihoods

FAST = Design(n_nodes=128)
ARMS = [("45 mg <=100 kg", "45 mg SC at weeks 0, 4", ",100"), ("45 mg >100 kg", "45 mg SC at weeks 0, 4", "100,"),
        ("90 mg <=100 kg", "90 mg SC at weeks 0, 4", ",100"), ("90 mg >100 kg", "90 mg SC at weeks 0, 4", "100,"),
        ("placebo", "placebo", ",")]


def pasi_with_weight_effect(tmp_path, exponent=1.0):
    """The library PASI model with an effect of weight on IC50 (beyond PK), as Hu et al. 2018 found for
    guselkumab; the exponent here is a test value."""
    text = dict(pkpd.load_model("ustekinumab_pasi").sources)["ustekinumab_pasi"]
    path = tmp_path / "pasi_weight.toml"
    path.write_text(text.replace('name = "ustekinumab_pasi"', 'name = "pasi_weight"') + f'''
[effects]
IC50_weight = {{ parameter = "IC50", covariate = "weight", form = "power", reference = 90, unit = "kg", value = {exponent}, lower = -3, upper = 3, source = "test value" }}
''')
    return pkpd.load_model(path)


def band_table(counts=None, n=64):
    rows = ["arm,regimen,n,week,endpoint,responders,weight_lower,weight_upper"]
    for i, (arm, regimen, band) in enumerate(ARMS):
        lo, hi = band.split(",")
        for j, e in enumerate(("PASI75", "PASI90")):
            k = 0 if counts is None else counts[i][j]
            rows.append(f'{arm},"{regimen}",{n},16,{e},{k},{lo},{hi}')
    return "\n".join(rows) + "\n"


def test_band_columns_are_read_per_arm_and_checked():
    trial = pkpd.inference.trial_from_text(band_table())
    assert trial.covariates["45 mg >100 kg"] == {"weight": {"lower": 100.0}}
    assert trial.covariates["90 mg <=100 kg"] == {"weight": {"upper": 100.0}}
    assert "placebo" not in trial.covariates
    assert [arms for _, arms in trial.arm_groups()] == [["45 mg <=100 kg", "90 mg <=100 kg"],
                                                        ["45 mg >100 kg", "90 mg >100 kg"], ["placebo"]]
    bad = band_table().replace('45 mg SC at weeks 0, 4",64,16,PASI90,0,,100', '45 mg SC at weeks 0, 4",64,16,PASI90,0,,90')
    with pytest.raises(pkpd.PkpdError, match=r"arm '45 mg <=100 kg' has different weight_upper"):
        pkpd.inference.trial_from_text(bad)
    with pytest.raises(pkpd.PkpdError, match=r"unknown column 'wieght'"):
        pkpd.inference.trial_from_text(band_table().replace("weight_lower", "wieght"))
    with pytest.raises(pkpd.PkpdError, match=r"weight_lower 100 must be below weight_upper 90"):
        pkpd.inference.trial_from_text(band_table().replace(",100,\n", ",100,90\n"))


def test_an_arm_in_a_band_has_the_rates_of_those_patients(tmp_path):
    """The rate of an arm restricted to > 100 kg equals the population's rate averaged over the
    patients above 100 kg only (a fine Sobol design, weight mapped into the band)."""
    model = pasi_with_weight_effect(tmp_path)
    trial = pkpd.inference.trial_from_text(band_table())
    rates = Objective(model, trial, design=Design(n_nodes=4096)).rates({})
    big = Design(n_nodes=2 ** 16)
    pop = big.nodes(model)
    engine = pkpd.design.RateEngine(model, {"45 mg": "45 mg SC at weeks 0, 4"}, np.array([112.0]), pop, big)
    masks = np.stack([pop.weight > 100.0, pop.weight <= 100.0])
    by_band = engine.rates_by_group(masks, endpoints=model.select_endpoints(["PASI75", "PASI90"]))
    # the band's rate from 4096 mapped nodes and from the 65,536-node design's patients in the band
    # agree to the quadrature error of the smaller design (a few 1e-3 at most)
    np.testing.assert_allclose(rates[1, 0], by_band[0, 0, 0], atol=4e-3)
    np.testing.assert_allclose(rates[0, 0], by_band[0, 1, 0], atol=4e-3)
    assert rates[1, 0, 0] < rates[0, 0, 0]  # heavier patients respond less (less drug per kg, higher IC50)


def test_fitting_weight_band_arms_recovers_the_weight_effect(tmp_path):
    """Counts made from the model's own rates (a very large trial: rounding is the only error)
    give back the exponent of weight on IC50 that made them."""
    model = pasi_with_weight_effect(tmp_path, exponent=1.2)
    truth = dict(kout=0.03, IC50=0.15, Pmax=0.3, omega_response=0.7, IC50_weight=1.2)
    n = 100_000
    rates = Objective(model, pkpd.inference.trial_from_text(band_table()), design=FAST).rates(truth)
    counts = [[int(round(n * r)) for r in rates[i, 0]] for i in range(len(ARMS))]
    trial = pkpd.inference.trial_from_text(band_table(counts, n))
    start = model.replace(IC50_weight=0.0)
    fit = pkpd.fit(start, trial, vary=list(truth), design=FAST, profile=False)
    for name, value in truth.items():
        assert fit.values[name] == pytest.approx(value, rel=2e-3), name
    se = fit.standard_errors()["IC50_weight"]
    assert abs(fit.values["IC50_weight"] - 1.2) < 2 * se


def three_trials(pmax=(0.2, 0.35, 0.5), n=200, tmp_counts=None):
    rows = ["trial,arm,regimen,n,week,endpoint,responders"]
    for t, p in enumerate(pmax):
        for arm, regimen in (("45 mg", "45 mg SC at weeks 0, 4"), ("placebo", "placebo")):
            for e in ("PASI75", "PASI90"):
                k = 0 if tmp_counts is None else tmp_counts[(t, arm, e)]
                rows.append(f'T{t},{arm} T{t},"{regimen}",{n},12,{e},{k}')
    return "\n".join(rows) + "\n"


def test_between_trial_likelihood_is_the_integral_over_the_trial_effect(monkeypatch, tmp_path):
    model = pkpd.load_model("ustekinumab_pasi").replace(kout=0.03, IC50=0.15, Pmax=0.3, omega_response=0.7)
    counts = {}
    for t, p in enumerate((0.2, 0.35, 0.5)):
        rates = Objective(model.replace(Pmax=p), pkpd.inference.trial_from_text(three_trials()),
                          design=FAST).rates({})
        for a, arm in enumerate(("45 mg", "placebo")):
            for j, e in enumerate(("PASI75", "PASI90")):
                counts[(t, arm, e)] = int(round(200 * rates[2 * t + a, 0, j]))
    trial = pkpd.inference.trial_from_text(three_trials(tmp_counts=counts))
    assert trial.trial_names == ["T0", "T1", "T2"]
    from pkpd.inference._problem import with_trial_effect
    m, _ = with_trial_effect(model, None, "Pmax")
    objective = Objective(m, trial, design=FAST, trial_effect="Pmax")
    plain = Objective(m, trial, design=FAST)
    omega = 0.6
    values = dict(omega_trial=omega)
    # brute force: each trial's likelihood integrated over its logit-Pmax effect by adaptive quadrature
    expected = 0.0
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    for t in range(3):
        rows = [g for g in plain.groups if trial.trials[plain.arms[g.arm]] == f"T{t}"]

        def density(u):
            p = 1 / (1 + math.exp(-(logit(0.3) + omega * u)))
            ll = group_log_likelihoods(plain.rates({"Pmax": p}), rows)
            return math.exp(ll.sum()) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
        value, err = integrate.quad(density, -9, 9, epsabs=0, epsrel=1e-11, limit=200)
        expected += -2 * math.log(value)
    # 15 adaptive Gauss-Hermite nodes: within 2e-7 of -2LL ~ 60; 25 nodes: converged to 1e-11
    assert objective(values) == pytest.approx(expected, rel=1e-8)
    from pkpd.inference import _fit
    monkeypatch.setattr(_fit, "TRIAL_NODES", 25)
    assert objective(values) == pytest.approx(expected, rel=1e-11)
    monkeypatch.undo()
    # as the trial SD goes to 0 the trials share Pmax: the likelihood without a trial effect
    assert objective(dict(omega_trial=1e-7)) == pytest.approx(plain({}), rel=1e-12)
    # the fit runs and reports omega_trial; one trial alone cannot inform it
    fit = pkpd.fit(m, trial, trial_effect="Pmax", vary=["Pmax", "omega_trial"], design=FAST, profile=False)
    assert fit.settings["trial_effect"] == "Pmax" and 0.2 < fit.values["omega_trial"] < 1.5
    back = pkpd.load_fit(fit.save(tmp_path / "trials.json"))
    assert back.values["omega_trial"] == fit.values["omega_trial"] and back.settings["trial_effect"] == "Pmax"
    single = pkpd.inference.trial_from_text("\n".join("T0" + line[2:] if line.startswith("T") else line
                                                      for line in three_trials().splitlines()))
    with pytest.raises(pkpd.PkpdError, match="needs several trials"):
        pkpd.fit(m, single, trial_effect="Pmax", design=FAST, profile=False)
    with pytest.raises(pkpd.PkpdError, match="trial_effect must be a parameter of the response model"):
        pkpd.fit(m, trial, trial_effect="CL", design=FAST, profile=False)
