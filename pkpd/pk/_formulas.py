r"""Pharmacokinetic formulas as plain numpy functions (one place per formula).

Every function is vectorised: parameters are arrays over subjects with shape ``(n,)``
and times broadcast against them, so a population is evaluated without a Python loop
over patients.

Linear models (closed form)
---------------------------
The engine (:mod:`pkpd.pk._linear`) moves the state from event to event with the kernels
below (:func:`disposition_modes`, :func:`rate_psi`, :func:`chi`, :func:`phi`); the
single-dose responses here are the same kernels, summed (superposition).

The central concentration after a unit IV bolus is a sum of exponentials
:math:`h(t) = \sum_j a_j e^{-\lambda_j t}`. For one compartment :math:`a = 1/V`,
:math:`\lambda = CL/V`. For two compartments, with :math:`k_{10}=CL/V`,
:math:`k_{12}=Q/V`, :math:`k_{21}=Q/V_2`, the rates :math:`\alpha > \beta` solve
:math:`\lambda^2 - (k_{10}+k_{12}+k_{21})\lambda + k_{10}k_{21} = 0` and
:math:`a_1 = (\alpha-k_{21})/(V(\alpha-\beta))`, :math:`a_2 = (k_{21}-\beta)/(V(\alpha-\beta))`.

* IV bolus of amount :math:`D` at 0: :math:`C(t) = D\,h(t)`.
* Infusion at rate :math:`R` for :math:`T_{inf}`: with :math:`\tau = \min(t, T_{inf})`,
  :math:`C(t) = R\sum_j a_j (1-e^{-\lambda_j\tau}) e^{-\lambda_j (t-\tau)}/\lambda_j`.
* SC dose into a depot (rate :math:`k_a`, bioavailability :math:`F`, lag :math:`t_{lag}`),
  with :math:`s = t - t_{lag}`: :math:`C = F D \sum_j a_j k_a \int_0^s e^{-k_a u}
  e^{-\lambda_j (s-u)} du = F D \sum_j a_j k_a\, s\, e^{-m_j s}\,\varphi(|k_a-\lambda_j| s)`
  with :math:`m_j = \min(k_a, \lambda_j)` and :math:`\varphi(x) = (1-e^{-x})/x`
  (:math:`\varphi(0) = 1`). Written this way the formula is exact and stable when
  :math:`k_a = \lambda_j` (the degenerate case where textbook forms divide by zero) and
  never overflows in flip-flop kinetics.
* A constant rate into the depot for h: :func:`chi`, the integral of the above over time,
  with a series where the direct difference would cancel.

Nonlinear models (ODE)
----------------------
States per subject, in amounts (mg): depot, central, peripheral, and for TMDD the total
target ``Rtot`` (mg/L, drug-equivalent). Free concentration ``C`` is the central
amount over V; for the quasi-steady-state TMDD approximation (Gibiansky et al.,
J Pharmacokinet Pharmacodyn 2008;35:573-591, doi:10.1007/s10928-008-9102-8) the central
state is the *total* drug amount and

.. math:: C = \tfrac12\left[(C_{tot}-R_{tot}-K_{SS}) + \sqrt{(C_{tot}-R_{tot}-K_{SS})^2 + 4K_{SS}C_{tot}}\right]

.. math::
    \dot A_d &= -k_a A_d + \text{infusion into the depot} \\
    \dot A_c &= k_a A_d + \text{infusion into the central compartment} - CL\,C - \frac{V_{max} C}{K_m + C} - Q\,C + Q\,A_p/V_2
               - k_{int} V \frac{R_{tot} C}{K_{SS} + C} \\
    \dot A_p &= Q\,C - Q\,A_p/V_2 \\
    \dot R_{tot} &= k_{deg} R_0 - k_{deg} R_{tot} - (k_{int}-k_{deg}) \frac{R_{tot} C}{K_{SS}+C}
"""

from __future__ import annotations

import numpy as np


def phi(x):
    """(1 - exp(-x)) / x for x >= 0, with phi(0) = 1; accurate for tiny x.

    x is floored at 1e-300, where (1 - exp(-x))/x already equals 1 in floating point,
    so the limit needs no branch.
    """
    x = np.maximum(np.asarray(x, dtype=float), 1e-300)
    return -np.expm1(-x) / x


def _two_compartment(k10, k12, k21):
    """Rates alpha > beta and the gaps g1 = alpha - k21, g2 = k21 - beta of a 2-cmt system.

    With d = k10 + k12 - k21 and root = sqrt(d^2 + 4 k12 k21) = alpha - beta, each gap is
    (root +- d)/2, written as 2 k12 k21 / (root -+ d) where the sum would cancel.
    """
    d = k10 + k12 - k21
    root = np.sqrt(d * d + 4.0 * k12 * k21)
    cross = 2.0 * k12 * k21
    with np.errstate(divide="ignore", invalid="ignore"):
        g1 = np.where(d >= 0, 0.5 * (root + d), cross / (root - d))
        g2 = np.where(d <= 0, 0.5 * (root - d), cross / (root + d))
    return k21 + g1, k21 - g2, g1, g2, root


def disposition_modes(p: dict) -> tuple[np.ndarray, np.ndarray]:
    r"""Rates ``lam`` (..., m) and spectral projectors ``proj`` (..., m, 2, 2) of the disposition.

    The amounts (central, peripheral) follow :math:`\dot x = M x` with
    :math:`M = [[-(k_{10}+k_{12}), k_{21}], [k_{12}, -k_{21}]]`, so
    :math:`e^{Mt} = \sum_j P_j e^{-\lambda_j t}` with :math:`\sum_j P_j = I`. One
    compartment: :math:`\lambda = CL/V`, :math:`P = [[1, 0], [0, 0]]`. Two:
    :math:`P_\alpha = [[g_1, -k_{21}], [-k_{12}, g_2]]/(\alpha-\beta)`,
    :math:`P_\beta = [[g_2, k_{21}], [k_{12}, g_1]]/(\alpha-\beta)` with
    :math:`g_1 = \alpha - k_{21}`, :math:`g_2 = k_{21} - \beta`.
    """
    CL, V = np.asarray(p["CL"], float), np.asarray(p["V"], float)
    k10 = CL / V
    if "Q" not in p:
        proj = np.zeros(k10.shape + (1, 2, 2))
        proj[..., 0, 0, 0] = 1.0
        return k10[..., None], proj
    Q = np.asarray(p["Q"], float)
    k12, k21 = Q / V, Q / np.asarray(p["V2"], float)
    alpha, beta, g1, g2, root = _two_compartment(k10, k12, k21)
    proj = np.empty(k10.shape + (2, 2, 2))
    proj[..., 0, 0, 0], proj[..., 0, 0, 1], proj[..., 0, 1, 0], proj[..., 0, 1, 1] = g1, -k21, -k12, g2
    proj[..., 1, 0, 0], proj[..., 1, 0, 1], proj[..., 1, 1, 0], proj[..., 1, 1, 1] = g2, k21, k12, g1
    proj /= root[..., None, None, None]
    return np.stack([alpha, beta], axis=-1), proj


def disposition(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Unit-bolus response coefficients ``a`` (1/L) and rates ``lam`` (1/day), shape (n, m).

    ``p`` maps parameter names to arrays over subjects; it needs CL, V (and Q, V2 for
    two compartments). ``a_j`` is the central entry of the projector ``P_j`` over V.
    """
    lam, proj = disposition_modes(p)
    return proj[..., 0, 0] / np.asarray(p["V"], float)[..., None], lam


def rate_psi(a, b, h):
    r""":math:`a\int_0^h e^{-a u} e^{-b (h-u)} du = a h e^{-\min(a,b) h} \varphi(|a-b| h)`, exact at a = b.

    The amount reaching a compartment that empties at rate b, h after a unit amount was put
    into one that empties into it at rate a (the depot's share of the central amount).
    """
    return a * h * np.exp(-np.minimum(a, b) * h) * phi(np.abs(a - b) * h)


def _moment(j: int, x):
    """K_j(x) = int_0^1 s^j e^{-x s} ds for x >= 0 (a power series for x <= 1)."""
    from scipy.special import gammainc, gammaln
    x = np.asarray(x, float)
    small = x <= 1.0
    xs = np.where(small, x, 0.0)
    series = np.zeros_like(x)
    term = np.ones_like(x)
    for i in range(25):  # alternating, terms below 1/25! for x <= 1
        series += term / (j + i + 1)
        term = term * (-xs) / (i + 1)
    xl = np.where(small, 1.0, x)
    large = np.exp(gammaln(j + 1) - (j + 1) * np.log(xl)) * gammainc(j + 1, xl)
    return np.where(small, series, large)


def phi2(x):
    r""":math:`\varphi_2(x) = (x - 1 + e^{-x})/x^2 = \int_0^1 (1-s)e^{-xs}ds` for x >= 0, with
    :math:`\varphi_2(0) = 1/2`: :math:`h^2\varphi_2(\lambda h) = \int_0^h s\,\varphi(\lambda s)\,ds`,
    the time integral of the response to a unit rate.

    Written as :math:`K_0(x) - K_1(x)` (:math:`K_j(x) = \int_0^1 s^j e^{-xs} ds`, power series
    for x <= 1), which never cancels by more than a factor of about 3.
    """
    return _moment(0, x) - _moment(1, x)


def _depot_terms(a, b, h, order: int):
    """chi (order 1) or its time integral (order 2): the direct difference and where it cancels,
    the series in ``d = |a - b|`` (see :func:`chi`, :func:`chi_integral`)."""
    a, b, h = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float), np.asarray(h, float))
    m, d = np.minimum(a, b), np.abs(a - b)
    close = d * np.minimum(h, 1.0 / np.maximum(m, 1e-300)) <= 0.25
    with np.errstate(divide="ignore", invalid="ignore"):
        if order == 1:
            direct = (h * phi(b * h) - h * phi(a * h)) / (a - b)
        else:
            direct = h * h * (phi2(b * h) - phi2(a * h)) / (a - b)
    if not close.any():
        return direct
    direct = np.array(direct, dtype=float, ndmin=1).reshape(a.shape) if a.ndim else np.array([direct])
    shape = a.shape
    m, d, h, close = (np.atleast_1d(x) for x in (m, d, h, close))
    mc, dc, hc = m[close], d[close], h[close]
    total = np.zeros_like(mc)
    coef = hc * hc if order == 1 else hc * hc * hc
    for k in range(30):
        if order == 1:
            total += coef * _moment(k + 1, mc * hc)
        else:
            total += coef * (_moment(k + 1, mc * hc) - _moment(k + 2, mc * hc))
        coef = coef * (-dc * hc) / (k + 2)
    out = np.atleast_1d(direct).copy()
    out[close] = total
    return out.reshape(shape)


def chi(a, b, h):
    r""":math:`\int_0^h \psi(a, b, s)\,ds` with :math:`\psi = ` :func:`rate_psi` / a: the response
    to a unit-rate input into the depot.

    Directly :math:`(h\varphi(bh) - h\varphi(ah))/(a - b)`, which cancels when a and b are
    close relative to 1/h or to min(a, b); there the series
    :math:`\sum_k (-dh)^k h^2 K_{k+1}(mh)/(k+1)!` (m = min(a, b), d = |a - b|,
    :math:`K_j(x) = \int_0^1 s^j e^{-xs} ds`) converges at least like :math:`4^{-k}`.
    """
    return _depot_terms(a, b, h, 1)


def chi_integral(a, b, h):
    r""":math:`\int_0^h \chi(a, b, s)\,ds`: the time integral of the response to a unit-rate input
    into the depot (:func:`chi`).

    Directly :math:`h^2(\varphi_2(bh) - \varphi_2(ah))/(a - b)` (:func:`phi2`), where it cancels
    the series :math:`\sum_k (-dh)^k h^3 (K_{k+1} - K_{k+2})(mh)/(k+1)!`, which converges as
    the one of :func:`chi` does (term by term :math:`K_{k+1} - K_{k+2} \le K_{k+1}`).
    """
    return _depot_terms(a, b, h, 2)


# In the three responses below ``t`` has shape (n, k) (time since the dose, per subject),
# ``a`` and ``lam`` have shape (n, m); the loop runs over the m <= 2 exponentials only.

def conc_bolus(t, a, lam):
    """C(t) per unit amount of an IV bolus at time 0; 0 for t < 0."""
    t = np.asarray(t, float)
    tp = np.maximum(t, 0.0)
    out = np.zeros_like(tp)
    for j in range(lam.shape[-1]):
        out += a[:, j:j + 1] * np.exp(-lam[:, j:j + 1] * tp)
    out[t < 0.0] = 0.0
    return out


def conc_depot(t, a, lam, ka):
    """C(t) per unit *absorbed* amount of a dose into the depot at time 0 (lag removed)."""
    s = np.maximum(np.asarray(t, float), 0.0)
    ka = np.asarray(ka, float).reshape(-1, 1)
    out = np.zeros_like(s)
    for j in range(lam.shape[-1]):
        out += a[:, j:j + 1] * rate_psi(ka, lam[:, j:j + 1], s)
    return out  # s = 0 before the dose, so out is already 0 there


def conc_infusion(t, duration, a, lam):
    """C(t) per unit *rate* of an infusion starting at 0 and lasting ``duration`` (n,)."""
    t = np.asarray(t, float)
    tp = np.maximum(t, 0.0)
    tau = np.minimum(tp, np.asarray(duration, float).reshape(-1, 1))
    out = np.zeros_like(tp)
    for j in range(lam.shape[-1]):
        lam_j = lam[:, j:j + 1]
        # (1 - e^{-lam tau}) / lam, written with phi so it is exact as lam*tau -> 0
        out += a[:, j:j + 1] * tau * phi(lam_j * tau) * np.exp(-lam_j * (tp - tau))
    return out  # tau = tp = 0 before the start, so out is already 0 there


# -- ODE right-hand side -------------------------------------------------------------------

def free_concentration(central, target, p: dict, elimination: str):
    """Free drug concentration (mg/L) from the central amount (and total target for TMDD)."""
    ctot = central / p["V"]
    if elimination != "tmdd_qss":
        return ctot
    b = ctot - target - p["KSS"]
    # Numerically stable root of C^2 - b C - KSS*Ctot = 0: avoid cancellation when b < 0
    disc = np.sqrt(b * b + 4.0 * p["KSS"] * ctot)
    return np.where(b >= 0.0, 0.5 * (b + disc), 2.0 * p["KSS"] * ctot / np.maximum(disc - b, 1e-300))


def rhs(y, p: dict, rate, elimination: str, two_cmt: bool):
    """Time derivative of the stacked state ``y`` with shape (4, n) (see module docstring).

    ``rate`` (mg/day, shape (2, n)) is the zero-order input into (depot, central) in
    force over the current integration segment.
    """
    depot, central, periph, target = y
    C = free_concentration(central, target, p, elimination)
    absorbed = p["ka"] * depot if "ka" in p else 0.0 * depot
    out_central = p["CL"] * C
    if elimination == "michaelis_menten":
        out_central = out_central + p["Vmax"] * C / (p["Km"] + C)
    d_target = np.zeros_like(target)
    if elimination == "tmdd_qss":
        complex_ = target * C / (p["KSS"] + C)
        out_central = out_central + p["kint"] * p["V"] * complex_
        d_target = p["kdeg"] * p["R0"] - p["kdeg"] * target - (p["kint"] - p["kdeg"]) * complex_
    d_periph = np.zeros_like(periph)
    if two_cmt:
        flow = p["Q"] * C - p["Q"] * periph / p["V2"]
        out_central = out_central + flow
        d_periph = flow
    return np.stack([rate[0] - absorbed, absorbed + rate[1] - out_central, d_periph, d_target])
