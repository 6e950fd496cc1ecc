"""Drug sensitivity correlated with the turnover rate (pasi_sensitivity with bsv_kout and corr_IC50_kout)."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import ndtr

import pkpd
from pkpd.design import Design, RateEngine
from pkpd.model import Parameter


def model_with_kout_variability():
    m = pkpd.load_model("ustekinumab_pasi_sensitivity").replace(kout=0.03, IC50=0.3, Pmax=0.4, omega_IC50=2.0)
    return replace(m, parameters=m.parameters + (
        Parameter("bsv_kout", 0.5, "SD", source="test value"),
        Parameter("corr_IC50_kout", 0.0, "1", lower=-0.9, upper=0.9, source="test value")))


@pytest.mark.parametrize("rho", [0.6, -0.5])
def test_correlated_sensitivity_is_the_conditional_normal_given_each_nodes_kout_score(rho):
    """Given a node's kout score u, z ~ N(rho u, 1 - rho^2): the rate is the node average of
    Phi((rho u - z*) / sqrt(1 - rho^2)), z* the responder cut of the uncorrelated tabulation.
    The two tabulations lie on different IC50 grids, so they agree to the grid's monotone-cubic
    interpolation error (measured 3e-5), not to rounding."""
    m = model_with_kout_variability()
    design = Design(n_nodes=512)
    pop = design.nodes(m)
    engine = RateEngine(m, {"45 mg": "45 mg SC at weeks 0, 4"}, np.array([84.0, 196.0]), pop, design)
    ends = m.select_endpoints(["PASI75"])
    rate = engine.rates({"corr_IC50_kout": rho}, ends)[0, :, 0]
    z_cut = engine.latent({"corr_IC50_kout": 0.0})[0].take(engine.out_index).zcut(engine.cuts(ends)[0])
    u = pop.z[:, pop.z_names.index("kout")][:, None]
    expected = ndtr((rho * u - z_cut) / math.sqrt(1 - rho * rho)).mean(axis=0)
    np.testing.assert_allclose(rate, expected, atol=1e-4)
    assert abs(rate[0] - engine.rates({}, ends)[0, 0, 0]) > 1e-3  # the correlation matters


def test_correlations_that_leave_no_variance_are_refused():
    m = model_with_kout_variability()
    m = replace(m, parameters=m.parameters + (Parameter("corr_IC50_Imax", 0.0, "1", lower=-0.9, upper=0.9,
                                                        source="test value"),))
    with pytest.raises(pkpd.PkpdError, match="their squares must add up to less than 1"):
        pkpd.response_rates(m.replace(corr_IC50_kout=0.8, corr_IC50_Imax=0.7), "45 mg SC at week 0", [12],
                            time_unit="week", design=Design(n_nodes=64))
