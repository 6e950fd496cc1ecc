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
