"""Parameter recovery: simulated trials like the fitted one, refitted (the full study is a benchmark)."""

import numpy as np
import pytest

import pkpd
from pkpd.design import Design
from pkpd.inference import Objective
from pkpd.inference._recovery import TrialSimulator
from pkpd.endpoints import to_categories


@pytest.fixture(scope="module")
def fit():
    return pkpd.fit("ustekinumab_pasi", "krueger2007_phase2", design=Design(n_nodes=256), profile=False)


def test_simulated_counts_are_multinomial_at_the_fitted_rates(fit):
    """Mean category counts over many simulated trials converge to n x the model's category probabilities."""
    objective = Objective(fit.model, fit.trial, design=fit.design)
    rates = objective.rates({})
    rng = np.random.default_rng(1)
    simulator = TrialSimulator(fit)
    draws = 20_000
    total = sum(np.array(simulator.counts(rng), float) for _ in range(draws))
    # the text form carries the same counts, and reads back as a trial table
    text = simulator.draw(np.random.default_rng(7))
    again = TrialSimulator(fit).counts(np.random.default_rng(7))
    for (arm, day, n, resp), k in zip(pkpd.inference.trial_from_text(text).groups(), again):
        assert day == 84.0 and n == 64 and [resp["PASI75"], resp["PASI90"]] == list(k)
    for i, arm in enumerate(objective.arms):
        p = rates[i, 0]
        mean = total[i] / draws
        se = np.sqrt(64 * p * (1 - p) / draws)
        assert np.all(np.abs(mean - 64 * p) < 4.5 * se), (arm, mean, 64 * p)
        assert np.all(to_categories(p) >= 0)


@pytest.mark.filterwarnings("ignore::pkpd.IdentifiabilityWarning")  # simulated trials may put Pmax on its bound
def test_recovery_is_seeded_independently_of_chunks_and_records_each_parameter(fit):
    a = pkpd.recovery(fit, 4, seed=3, profile=False, starts=1, chunk=1)
    b = pkpd.recovery(fit, 4, seed=3, profile=False, starts=1, chunk=3)
    assert a.table.equals(b.table) and not a.failed
    assert sorted(a.table["parameter"].unique()) == sorted(fit.varying)
    assert np.array_equal(a.table["truth"].to_numpy(),
                          np.tile([fit.values[n] for n in fit.varying], 4))
    # without profiles there are no intervals: nothing is counted as covered
    assert not a.table["covered"].any()
    with pytest.raises(pkpd.PkpdError, match="n_trials"):
        pkpd.recovery(fit, 0)
    # a design that cannot be refitted is an error: one arm, one time, one endpoint give 2 residuals,
    # and the kout prior one more, for 4 parameters
    one_arm = pkpd.inference.trial_from_text("arm,regimen,n,week,endpoint,responders\n"
                                             "a,45 mg SC at week 0,64,12,PASI75,0\n")
    with pytest.raises(pkpd.PkpdError, match=r"Every one of the 2 simulated trials failed to refit; simulated trial "
                                             r"0: Cannot fit 4 parameters"):
        pkpd.recovery(fit, 2, trial=one_arm, profile=False, starts=1, chunk=1)


def test_simulated_trials_take_the_design_of_a_given_table(fit):
    """With a design table (the phase II arms, visits at weeks 4 and 12, other sizes), each drawn
    trial has its arms, days, sizes and endpoints, and its counts are multinomial at the model's
    rates there; the design's own counts are not used."""
    phase2 = pkpd.load_trial("krueger2007_phase2")
    lines = ["arm,regimen,n,week,endpoint,responders"]
    for i, arm in enumerate(phase2.arms):
        regimen = str(phase2.regimens[arm]).replace('"', '""')
        lines += [f'"{arm}","{regimen}",{40 + i},{w},{e},0' for w in (4, 12) for e in ("PASI75", "PASI90")]
    design = pkpd.inference.trial_from_text("\n".join(lines) + "\n", source="design")
    simulator = TrialSimulator(fit, design)
    objective = Objective(fit.model, design, design=fit.design)
    rates = objective.rates({})
    drawn = pkpd.inference.trial_from_text(simulator.draw(np.random.default_rng(5)))
    assert [(arm, day, n) for arm, day, n, _ in drawn.groups()] == \
        [(arm, day, 40 + i) for i, arm in enumerate(phase2.arms) for day in (28.0, 84.0)]
    rng = np.random.default_rng(2)
    draws = 20_000
    total = sum(np.array(simulator.counts(rng), float) for _ in range(draws))
    for g, (arm, day, n, _) in enumerate(drawn.groups()):
        p = rates[objective.arms.index(arm), list(objective.days).index(day)]
        se = np.sqrt(n * p * (1 - p) / draws)
        assert np.all(np.abs(total[g] / draws - n * p) < 4.5 * se), (arm, day)
    assert rates[0, 0, 0] < rates[0, 1, 0]  # week 4 is not week 12: the design's times are used


def test_simulated_trials_keep_the_arms_own_patients_and_trials(fit):
    """Arms restricted to a weight band or with their own weight distribution, in two trials:
    the drawn tables describe the same patients (same covariates and trials, so the same rates
    at the truth), not the whole population."""
    text = """arm,regimen,n,week,endpoint,responders,trial,weight_lower,weight_upper,weight_median,weight_cv
light,"45 mg SC at weeks 0, 4",60,16,PASI75,0,"A, 2007",,100,,
light,"45 mg SC at weeks 0, 4",60,16,PASI90,0,"A, 2007",,100,,
heavy,"45 mg SC at weeks 0, 4",30,16,PASI75,0,"A, 2007",100,,,
heavy,"45 mg SC at weeks 0, 4",30,16,PASI90,0,"A, 2007",100,,,
other,"90 mg SC at week 0",50,16,PASI75,0,B,,,105.5,0.15
other,"90 mg SC at week 0",50,16,PASI90,0,B,,,105.5,0.15
"""
    design = pkpd.inference.trial_from_text(text, source="design")
    drawn = pkpd.inference.trial_from_text(TrialSimulator(fit, design).draw(np.random.default_rng(0)))
    assert drawn.covariates == design.covariates and drawn.trials == design.trials
    assert drawn.covariates["heavy"] == {"weight": {"lower": 100.0}}
    rates = Objective(fit.model, design, design=fit.design).rates({})
    np.testing.assert_array_equal(Objective(fit.model, drawn, design=fit.design).rates({}), rates)
    assert rates[1, 0, 0] < rates[0, 0, 0]  # the heavy arm's own patients respond less
