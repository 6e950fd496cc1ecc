r"""Turnover kernels: first-order response to a driving input, solved exactly.

* :func:`first_order_response`: :math:`\dot y = k(u(t) - y)`, solved *exactly* for an
  input ``u`` that is piecewise linear between grid points (exponential integrator).
  It is the engine behind the effect compartment and indirect-response models I and III,
  whose drug effect enters the production term.
* :func:`effect_compartment`: :math:`\dot C_e = k_{e0}(C - C_e)`.
* :func:`indirect_response`: turnover models I-IV (Dayneka, Garg & Jusko,
  J Pharmacokinet Biopharm 1993;21:457-478, doi:10.1007/BF01061691):

  ====  ==========================================================
  I     :math:`\dot R = k_{in}(1 - I(C)) - k_{out} R`  (inhibit production)
  II    :math:`\dot R = k_{in} - k_{out}(1 - I(C)) R`  (inhibit loss)
  III   :math:`\dot R = k_{in}(1 + S(C)) - k_{out} R`  (stimulate production)
  IV    :math:`\dot R = k_{in} - k_{out}(1 + S(C)) R`  (stimulate loss)
  ====  ==========================================================

  with :math:`I = I_{max}C^h/(IC_{50}^h + C^h)`, :math:`S = E_{max}C^h/(EC_{50}^h + C^h)`,
  baseline :math:`R_0 = k_{in}/k_{out}`.

Arrays: concentrations have shape (..., n_times) on a time grid ``t`` (days); parameters
broadcast against the leading axes (one value per subject, say).
"""

from __future__ import annotations

import numpy as np

from .._errors import PkpdError, SolverError
from ._links import _nonnegative, _positive, emax, inhibition


def first_order_response(t, u, k, y0=0.0, at=None):
    r"""Solution of ``dy/dt = k (u(t) - y)``, ``y(t[0]) = y0``, for ``u`` *sampled* on a grid.

    ``u`` is taken as linear between grid points, and for that input the step is exact:
    :math:`y_{n+1} = e\,y_n + (1-e)\,u_n + (1-\varphi(kh))(u_{n+1}-u_n)` with
    :math:`e = e^{-kh}`, :math:`\varphi(x) = (1-e^{-x})/x`. The cost is linear in the
    number of grid points (a compiled recurrence, no matrix products).

    Interpolation error: when the samples come from a smooth u, taking u linear between
    them errs by at most :math:`h^2 \max|u''|/8` in u, so by about that much (relative
    to the range of u) in y; a dose makes u kink, and the error there is first order in
    h unless the dose time is a grid point. For the exact response to a PK model's
    concentrations, whatever the output grid, use :func:`pkpd.simulate_response`.

    Parameters
    ----------
    t : (n_times,) strictly increasing grid (days)
    u : (..., n_times) input on the grid
    k : float or (...,) rate constant(s) (1/day)
    y0 : float or (...,) initial value
    at : sequence of int, optional
        Grid indices to return (default: all), on the last axis of the result.
    """
    from .. import _kernels
    t = np.asarray(t, float)
    u = np.asarray(u, float)
    k = _positive("Rate constant k", k)
    if t.ndim != 1 or t.size != u.shape[-1]:
        raise PkpdError(f"The time grid has {t.size} points but u has {u.shape[-1]} on its last axis.")
    if np.any(np.diff(t) <= 0):
        raise PkpdError("The time grid must increase strictly.")
    lead = u.shape[:-1]
    rows = u.reshape(-1, t.size)
    k_rows = np.ascontiguousarray(np.broadcast_to(k, lead).reshape(-1) if np.ndim(k) else np.atleast_1d(k), float)
    y0_rows = np.ascontiguousarray(np.broadcast_to(np.asarray(y0, float), lead).reshape(-1) if np.ndim(y0)
                                   else np.atleast_1d(np.asarray(y0, float)))
    out = _kernels.first_order_linear(t, np.ascontiguousarray(rows), k_rows, y0_rows, np.empty(rows.shape))
    out = out.reshape(lead + (t.size,))
    return out if at is None else out[..., np.asarray(at, dtype=int)]


def effect_compartment(t, c, ke0, ce0=0.0):
    """Effect-site concentration ``dCe/dt = ke0 (C - Ce)`` for concentrations sampled on grid ``t``.

    Exact for C linear between the samples; see :func:`first_order_response` for the
    interpolation error.
    """
    return first_order_response(t, _nonnegative("Concentration", c), ke0, ce0)


IDR_TYPES = ("I", "II", "III", "IV")


def indirect_response(t, c, kind, kout, R0=1.0, Imax=None, IC50=None, Emax=None, EC50=None,
                      hill=1.0, rtol=1e-10, atol=1e-12):
    r"""Turnover response R(t) for indirect-response model ``kind`` in I-IV, from R(t[0]) = R0.

    ``c`` is *sampled*: the drug effect is taken as linear between grid points, which errs
    by about :math:`h^2 \max|E''|/8` (relative to the effect's range; first order in h
    at a dose between grid points). For the exact response to a PK model's
    concentrations use :func:`pkpd.simulate_response`. Types I and III are then solved
    exactly by :func:`first_order_response`; II and IV have a drug-dependent loss rate
    and are integrated with :func:`scipy.integrate.solve_ivp` (``rtol``, ``atol``), all
    rows as one stacked system.
    """
    if kind not in IDR_TYPES:
        raise PkpdError(f"Unknown indirect-response type {kind!r}; allowed: {list(IDR_TYPES)}.")
    t = np.asarray(t, float)
    c = _nonnegative("Concentration", c)
    kout = _positive("kout", kout)
    R0 = _positive("R0", R0)
    if kind in ("I", "II"):
        if Imax is None or IC50 is None:
            raise PkpdError(f"Indirect-response type {kind} inhibits; give Imax and IC50.")
        effect = -inhibition(c, Imax, IC50, hill)
    else:
        if Emax is None or EC50 is None:
            raise PkpdError(f"Indirect-response type {kind} stimulates; give Emax and EC50.")
        effect = emax(c, Emax, EC50, hill)
        if np.any(np.asarray(Emax) < 0):
            raise PkpdError(f"Emax of a stimulation model must be >= 0, got {float(np.min(Emax))!r}.")
    if kind in ("I", "III"):
        return first_order_response(t, np.asarray(R0)[..., None] * (1.0 + effect), kout, R0)
    from scipy.integrate import solve_ivp
    lead = c.shape[:-1]
    n_rows = int(np.prod(lead)) if lead else 1
    eff = np.broadcast_to(effect, c.shape).reshape(n_rows, t.size)
    kout_r = np.broadcast_to(kout, lead).reshape(n_rows) if lead else np.atleast_1d(kout)
    R0_r = np.broadcast_to(R0, lead).reshape(n_rows) if lead else np.atleast_1d(R0)
    kin = kout_r * R0_r

    def rhs(time, r):
        j = min(max(int(np.searchsorted(t, time, side="right")) - 1, 0), t.size - 2)
        frac = (time - t[j]) / (t[j + 1] - t[j])
        e_now = eff[:, j] + frac * (eff[:, j + 1] - eff[:, j])
        return kin - kout_r * (1.0 + e_now) * r

    sol = solve_ivp(rhs, (t[0], t[-1]), R0_r, t_eval=t, rtol=rtol, atol=atol, method="DOP853",
                    max_step=float(np.min(np.diff(t))) if t.size > 1 else np.inf)
    if not sol.success:
        raise SolverError(f"Indirect-response ({kind}) solver failed near day {sol.t[-1]:g}: {sol.message}")
    return sol.y.reshape(lead + (t.size,)) if lead else sol.y[0]
