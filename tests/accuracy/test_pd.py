"""PD links against analytic solutions."""


import numpy as np
import pytest

import pkpd
from pkpd import effect_compartment, emax, indirect_response, inhibition
from pkpd.response import first_order_response


def test_direct_and_sigmoid_emax_at_known_concentrations():
    assert emax(2.0, Emax=10.0, EC50=2.0) == pytest.approx(5.0, rel=1e-15)      # C = EC50: half
    assert emax(6.0, Emax=10.0, EC50=2.0) == pytest.approx(7.5, rel=1e-15)      # 3/(1+3)
    assert emax(6.0, Emax=10.0, EC50=2.0, hill=2.0) == pytest.approx(9.0, rel=1e-15)  # 9/(1+9)
    assert emax(0.0, Emax=10.0, EC50=2.0) == 0.0
    assert inhibition(1.0, Imax=0.8, IC50=3.0) == pytest.approx(0.2, rel=1e-15)


@pytest.mark.parametrize("k", [0.05, np.array([0.05, 0.05])])
def test_first_order_response_is_exact_for_a_linear_input(k):
    # u = a + b t: y = a + b t - b/k + (y0 - a + b/k) e^{-kt}, for both solution paths.
    t = np.linspace(0, 60, 31)
    a, b, y0 = 0.3, 0.02, 1.0
    u = np.broadcast_to(a + b * t, (2, t.size))
    kk = 0.05
    exact = a + b * t - b / kk + (y0 - a + b / kk) * np.exp(-kk * t)
    y = first_order_response(t, u, k, y0)
    np.testing.assert_allclose(y, np.broadcast_to(exact, (2, t.size)), rtol=1e-13)


def test_first_order_response_on_an_irregular_grid_and_selected_indices():
    t = np.array([0.0, 0.5, 3.0, 3.1, 10.0, 40.0])
    u = np.array([0.0, 1.0, 1.0, 0.2, 0.2, 0.9])
    full = first_order_response(t, u, 0.1, 0.0)
    loop = first_order_response(t, u[None], np.array([0.1]), 0.0)[0]
    np.testing.assert_allclose(full, loop, rtol=1e-13)
    np.testing.assert_allclose(first_order_response(t, u, 0.1, 0.0, at=[2, 5]), full[[2, 5]], rtol=1e-15)


def test_turnover_steady_state_under_constant_concentration():
    # IDR I with constant C: R(t) = R_ss + (1 - R_ss) e^{-kout t}, R_ss = 1 - Imax C/(IC50 + C).
    t = np.linspace(0, 400, 401)
    c = np.full((3, t.size), [[0.1], [1.0], [10.0]])
    R = indirect_response(t, c, "I", kout=0.016, Imax=0.9, IC50=1.0)
    R_ss = 1 - 0.9 * c[:, :1] / (1.0 + c[:, :1])
    np.testing.assert_allclose(R, R_ss + (1 - R_ss) * np.exp(-0.016 * t), rtol=1e-13)


@pytest.mark.parametrize("kind, steady, rate", [
    # Constant C: R(t) = R_ss + (R0 - R_ss) e^{-r t}; s = C/(EC50 + C) = 2/3 below.
    ("II", lambda s: 1 / (1 - 0.6 * s), lambda s: 0.1 * (1 - 0.6 * s)),   # loss inhibited
    ("III", lambda s: 1 + 2.0 * s, lambda s: 0.1),                          # production stimulated
    ("IV", lambda s: 1 / (1 + 2.0 * s), lambda s: 0.1 * (1 + 2.0 * s)),    # loss stimulated
])
def test_indirect_response_types_follow_their_exact_solution(kind, steady, rate):
    t = np.linspace(0, 300, 301)
    c = np.full((1, t.size), 2.0)
    s = 2.0 / (1.0 + 2.0)
    kw = dict(Imax=0.6, IC50=1.0) if kind == "II" else dict(Emax=2.0, EC50=1.0)
    R = indirect_response(t, c, kind, kout=0.1, **kw)
    exact = steady(s) + (1 - steady(s)) * np.exp(-rate(s) * t)
    np.testing.assert_allclose(R[0], exact, rtol=1e-8)  # solver rtol 1e-10


def test_effect_compartment_matches_its_closed_form_for_a_constant_infusion():
    # 1-cmt infusion at rate R0 from t = 0: C = R0/CL (1 - e^{-kt});
    # Ce = R0/CL [1 - (ke0 e^{-kt} - k e^{-ke0 t}) / (ke0 - k)].
    k, ke0, css = 0.1, 0.5, 4.0
    t = np.arange(0.0, 60.0 + 1e-9, 0.01)
    c = css * (1 - np.exp(-k * t))
    ce = effect_compartment(t, c, ke0)
    exact = css * (1 - (ke0 * np.exp(-k * t) - k * np.exp(-ke0 * t)) / (ke0 - k))
    # Linear interpolation of C between grid points: error <= h^2 max|C''| / 8 = 5e-7.
    np.testing.assert_allclose(ce, exact, rtol=0, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: emax(-1.0, 1.0, 1.0), r"Concentration must be >= 0, got -1.0"),
    (lambda: emax(1.0, 1.0, -2.0), r"EC50 must be finite and > 0, got -2.0"),
    (lambda: inhibition(1.0, 1.5, 1.0), r"Imax must lie in \[0, 1\], got 1.5"),
    (lambda: indirect_response([0, 1], [1.0, 1.0], "V", kout=1.0), r"Unknown indirect-response type 'V'"),
    (lambda: indirect_response([0, 1], [1.0, 1.0], "I", kout=-1.0, Imax=1, IC50=1), r"kout must be finite and > 0"),
    (lambda: indirect_response([0, 1], [1.0, 1.0], "III", kout=1.0), r"give Emax and EC50"),
])
def test_bad_pd_input(call, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        call()
