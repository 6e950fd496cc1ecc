"""The move of parameter draws' rates from the coarse draw design to the main design."""

import numpy as np
from scipy.special import expit, logit

from pkpd.predict._predict import shift_rates


def test_a_draw_at_the_estimates_gets_the_main_rate_and_every_rate_stays_a_rate():
    main, coarse = np.array([0.6742, 0.3, 0.002]), np.array([0.6761, 0.2985, 0.004])
    np.testing.assert_allclose(shift_rates(coarse, main, coarse), main, rtol=1e-14)
    # draws near 0 (a draw far from the data) are moved down but stay above 0, never below
    draws = np.array([[1e-6, 0.0, 1.0], [0.5, 0.01, 0.999]])
    moved = shift_rates(draws, main, coarse)
    assert np.all((moved >= 0) & (moved <= 1))
    assert moved[0, 1] == 0.0 and moved[0, 2] == 1.0
    np.testing.assert_allclose(moved[1], expit(logit(draws[1]) + logit(main) - logit(coarse)), rtol=1e-14)
    assert 0 < moved[0, 0] < 1e-6


def test_where_both_designs_give_0_or_1_the_draws_stay():
    main = coarse = np.array([0.0, 1.0, 0.3])
    draws = np.array([[0.0, 1.0, 0.25], [0.001, 0.999, 0.35]])
    np.testing.assert_allclose(shift_rates(draws, main, coarse), draws, rtol=1e-14, atol=0)  # expit(logit(x))
