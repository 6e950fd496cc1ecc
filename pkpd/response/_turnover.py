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
from ..pk._formulas import phi
from ._links import _nonnegative, _positive, emax, inhibition


def first_order_response(t, u, k, y0=0.0, at=None):
    """Exact solution of ``dy/dt = k (u(t) - y)``, ``y(t[0]) = y0``, for ``u`` linear between grid points.

    Parameters
    ----------
    t : (n_times,) strictly increasing grid (days)
    u : (..., n_times) input on the grid
    k : float or (...,) rate constant(s) (1/day)
    y0 : float or (...,) initial value
    at : sequence of int, optional
        Grid indices to return (default: all), on the last axis of the result.

    Over a step of length h, with :math:`e = e^{-kh}` and :math:`\\varphi(x) = (1-e^{-x})/x`:
    :math:`y_{n+1} = e\\,y_n + (1-e)\\,u_n + (1-\\varphi(kh))(u_{n+1}-u_n)`.
    The solution is linear in ``u``; with one ``k`` for all rows the value at each
    requested index is one weighted sum over the grid, ``u @ M[:, j]``. Otherwise a loop
    over time steps runs, vectorised over rows.
    """
    t = np.asarray(t, float)
    u = np.asarray(u, float)
    k = _positive("Rate constant k", k)
    h = np.diff(t)
    if np.any(h <= 0):
        raise PkpdError("The time grid must increase strictly.")
    idx = np.arange(t.size) if at is None else np.asarray(at, dtype=int)
    lead = u.shape[:-1]
    y0 = np.broadcast_to(np.asarray(y0, float), lead)
    if t.size == 1:
        return np.broadcast_to(y0[..., None], lead + (idx.size,)).copy()
    if np.ndim(k) == 0 and idx.size * t.size <= 4_000_000:
        k = float(k)
        M = response_weights(t, idx, k)
        # One matrix-vector product per requested time, on exactly the same inputs whatever
        # else is requested: a value never depends on which other times were asked for
        # (a matrix-matrix product would: BLAS blocks by the number of columns), so a
        # prediction reproduces a fitted rate to the last bit. Grid points after t_j do
        # not contribute to y(t_j) and are left out.
        flat = u.reshape(-1, t.size)
        out = np.empty((flat.shape[0], idx.size))
        for c, j in enumerate(idx):
            out[:, c] = flat[:, : j + 1] @ np.ascontiguousarray(M[: j + 1, c])
        return out.reshape(lead + (idx.size,)) + y0[..., None] * np.exp(-k * (t[idx] - t[0]))
    k_rows = np.broadcast_to(k, lead)[..., None] if np.ndim(k) else k
    kh = k_rows * h
    e = np.broadcast_to(np.exp(-kh), lead + h.shape)
    w2 = 1.0 - phi(kh)
    drive = (1.0 - np.exp(-kh)) * u[..., :-1] + w2 * (u[..., 1:] - u[..., :-1])
    y = np.empty(u.shape)
    y[..., 0] = y0
    for n in range(h.size):
        y[..., n + 1] = e[..., n] * y[..., n] + drive[..., n]
    return y[..., idx]


def response_weights(t, idx, k):
    """Weights ``M`` with ``y(t_j) - y0 e^{-k(t_j - t_0)} = sum_n u_n M[n, j]`` (see first_order_response).

    ``k`` may be a scalar or an array of rate constants; the result has shape
    ``k.shape + (n_grid, len(idx))``.
    """
    t = np.asarray(t, float)
    k = np.asarray(k, float)[..., None, None]
    h = np.diff(t)[:, None]
    kh = k * h
    w1 = 1.0 - np.exp(-kh)   # weight of u_n in step n
    w2 = 1.0 - phi(kh)       # weight of (u_{n+1} - u_n) in step n
    # Step n's input reaches t_j (j >= n+1) decayed by exp(-k (t_j - t_{n+1})).
    lag = t[idx][None, :] - t[1:, None]
    decay = np.exp(-k * np.where(lag >= 0.0, lag, np.inf))
    M = np.zeros(k.shape[:-2] + (t.size, len(idx)))
    M[..., :-1, :] += (w1 - w2) * decay
    M[..., 1:, :] += w2 * decay
    return M


def effect_compartment(t, c, ke0, ce0=0.0):
    """Effect-site concentration ``dCe/dt = ke0 (C - Ce)`` on grid ``t`` (exact for piecewise-linear C)."""
    return first_order_response(t, _nonnegative("Concentration", c), ke0, ce0)


IDR_TYPES = ("I", "II", "III", "IV")


def indirect_response(t, c, kind, kout, R0=1.0, Imax=None, IC50=None, Emax=None, EC50=None,
                      hill=1.0, rtol=1e-10, atol=1e-12):
    """Turnover response R(t) for indirect-response model ``kind`` in I-IV, from R(t[0]) = R0.

    ``c`` is taken as piecewise linear between grid points. Types I and III are solved
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
