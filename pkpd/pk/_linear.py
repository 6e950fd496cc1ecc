r"""Exact concentrations of linear models from :class:`pkpd.pk._events.Events`.

The state (depot, central, peripheral amounts) of a linear model with a constant input
rate :math:`r` over a step :math:`h` moves exactly as :math:`x(h) = E(h)\,x(0) + G(h)\,r`,
with :math:`E(h) = e^{Ah}` and :math:`G(h) = \int_0^h e^{As} ds`. Both are sums over the
disposition modes (:func:`pkpd.pk._formulas.disposition_modes`):

* :math:`E_{dd} = e^{-k_a h}`, disposition block :math:`\sum_j P_j e^{-\lambda_j h}`,
  depot into (central, peripheral) :math:`\sum_j P_j e_c\,k_a \psi(k_a, \lambda_j, h)`;
* :math:`G_{dd} = h\varphi(k_a h)`, disposition block :math:`\sum_j P_j h\varphi(\lambda_j h)`,
  depot input into (central, peripheral) :math:`\sum_j P_j e_c\,k_a \chi(k_a, \lambda_j, h)`,

in forms that stay exact when :math:`k_a = \lambda_j` (:func:`~pkpd.pk._formulas.psi`,
:func:`~pkpd.pk._formulas.chi`). The engine steps every subject from event to event
(a loop over event positions, vectorised over subjects, each with its own step), then
evaluates every output from the state after the last event before it.

Steady state is exact too: the state just after a dose in the periodic regime solves
:math:`(I - E(\tau))x_0 = b`, and :math:`(I - E(\tau))^{-1}` is explicit,
:math:`x_d = b_d/(1-e^{-k_a\tau})` and :math:`\sum_j P_j (\cdot)/(1-e^{-\lambda_j\tau})` for
the disposition (a geometric series per mode). An infusion of duration D over interval
:math:`\tau` (q = floor(D/tau) full overlaps, D' = D - q tau) has input (q+1)R on
[0, D') and qR on [D', tau) of each cycle; D a multiple of tau is the constant infusion qR.
"""

from __future__ import annotations

import numpy as np

from . import _formulas as _pk
from ._events import SS_BOLUS, SS_CONSTANT, SS_INFUSION, Events

DEPOT, CENTRAL, PERIPHERAL = 0, 1, 2
OUTPUT_CHUNK = 1 << 18  # (subject x output) elements per block: keeps temporaries in cache


class Modes:
    """Disposition modes of each (subject, parameter set): rates, projectors, ka and V."""

    def __init__(self, p: dict, n: int):
        table = {k: np.asarray(v, float).reshape(n, -1) for k, v in p.items()}
        width = max(v.shape[1] for v in table.values())
        table = {k: np.broadcast_to(v, (n, width)) for k, v in table.items()}
        self.lam, self.proj = _pk.disposition_modes(table)
        self.ka = table.get("ka")
        self.V = table["V"]
        self.width = width

    def at(self, rows, cols):
        """The modes of subjects ``rows`` at parameter sets ``cols`` (broadcast together)."""
        cols = cols if self.width > 1 else np.zeros_like(cols)
        ka = None if self.ka is None else self.ka[rows, cols]
        return self.lam[rows, cols], self.proj[rows, cols], ka, self.V[rows, cols]


def transition(lam, proj, ka, h, forced: bool = True):
    """E(h) and G(h) (..., 3, 3) for modes of shape (...) and steps h (...)."""
    h = np.asarray(h, float)
    shape = h.shape
    E = np.zeros(shape + (3, 3))
    G = np.zeros(shape + (3, 3)) if forced else None
    hm = h[..., None]
    e_lam = np.exp(-lam * hm)
    E[..., 1:, 1:] = np.einsum("...jab,...j->...ab", proj, e_lam)
    if forced:
        G[..., 1:, 1:] = np.einsum("...jab,...j->...ab", proj, hm * _pk.phi(lam * hm))
    if ka is not None:
        kam = ka[..., None]
        E[..., DEPOT, DEPOT] = np.exp(-ka * h)
        E[..., 1:, DEPOT] = np.einsum("...ja,...j->...a", proj[..., :, 0], kam * _pk.psi(kam, lam, hm))
        if forced:
            G[..., DEPOT, DEPOT] = h * _pk.phi(ka * h)
            G[..., 1:, DEPOT] = np.einsum("...ja,...j->...a", proj[..., :, 0], kam * _pk.chi(kam, lam, hm))
    return E, G


def _apply(M, x):
    return np.einsum("...ab,...b->...a", M, x)


def _solve_periodic(lam, proj, ka, tau, y):
    """x with (I - E(tau)) x = y, explicitly (a geometric series per mode)."""
    x = np.zeros_like(y)
    tm = tau[..., None]
    z = y[..., 1:].copy()
    if ka is not None:
        x[..., DEPOT] = y[..., DEPOT] / -np.expm1(-ka * tau)
        kam = ka[..., None]
        into = np.einsum("...ja,...j->...a", proj[..., :, 0], kam * _pk.psi(kam, lam, tm))  # E(tau)[1:, depot]
        z += into * x[..., DEPOT, None]
    x[..., 1:] = np.einsum("...jab,...b,...j->...a", proj, z, 1.0 / -np.expm1(-lam * tm))
    return x


def steady_states(events: Events, modes: Modes) -> np.ndarray:
    """The state (m, 3) each steady-state record enters (before its own dose)."""
    ss = events.steady
    out = np.zeros((ss.m, 3))
    if ss.m == 0:
        return out
    lam, proj, ka, _ = modes.at(ss.subject, ss.record)
    unit = np.zeros((ss.m, 3))
    unit[np.arange(ss.m), ss.compartment] = 1.0
    tau, phase = ss.interval, ss.phase

    kind = ss.kind
    b = kind == SS_BOLUS
    if b.any():
        s = np.flatnonzero(b)
        x0 = _solve_periodic(lam[s], proj[s], _sub(ka, s), tau[s], unit[s] * ss.amount[s, None])
        E, _ = transition(lam[s], proj[s], _sub(ka, s), phase[s], forced=False)
        out[s] = _apply(E, x0)
    f = kind == SS_INFUSION
    if f.any():
        s = np.flatnonzero(f)
        L, P, K = lam[s], proj[s], _sub(ka, s)
        D, T, R, p = ss.duration[s], tau[s], ss.rate[s], phase[s]
        q = np.floor(D / T)
        rest = np.clip(D - q * T, 0.0, T)
        u_full, u_part = unit[s] * ((q + 1) * R)[:, None], unit[s] * (q * R)[:, None]
        E1, G1 = transition(L, P, K, rest)
        E2, G2 = transition(L, P, K, T - rest)
        x0 = _solve_periodic(L, P, K, T, _apply(E2, _apply(G1, u_full)) + _apply(G2, u_part))
        early = p <= rest
        Ea, Ga = transition(L, P, K, np.where(early, p, rest))
        xa = _apply(Ea, x0) + _apply(Ga, u_full)
        Eb, Gb = transition(L, P, K, np.where(early, 0.0, p - rest))
        out[s] = np.where(early[:, None], xa, _apply(Eb, xa) + _apply(Gb, u_part))
    c = kind == SS_CONSTANT
    if c.any():
        s = np.flatnonzero(c)
        R = ss.rate[s]
        into_depot = ss.compartment[s] == DEPOT
        if ka is not None:
            out[s, DEPOT] = np.where(into_depot, R / ka[s], 0.0)
        # At steady state whatever enters reaches the central compartment at rate R.
        out[s, 1:] = np.einsum("...ja,...j->...a", proj[s][..., :, 0], R[:, None] / lam[s])
    return out


def _sub(a, s):
    return None if a is None else a[s]


def concentrations(events: Events, p: dict) -> np.ndarray:
    """Concentrations (n, K) in mg/L at the outputs of ``events`` for parameters ``p``.

    ``p`` maps names to arrays (n,) or (n, R) (one value per record).
    """
    n, J = events.time.shape
    modes = Modes(p, n)
    rows = np.arange(n)
    forced = bool(np.any(events.rate != 0)) or bool(np.any(events.steady.kind == SS_INFUSION))
    ss_state = steady_states(events, modes)
    X = np.zeros((n, J + 1, 3))
    Rt = np.zeros((n, J + 1, 3))
    x = np.zeros((n, 3))
    r = np.zeros((n, 3))
    previous = events.time[:, 0]
    for j in range(J):
        t = events.time[:, j]
        h = t - previous
        previous = t
        if np.any(h > 0):
            lam, proj, ka, _ = modes.at(rows, events.record[:, j])
            E, G = transition(lam, proj, ka, h, forced=forced)
            x = _apply(E, x)
            if forced:
                x += _apply(G, r)
        reset = events.reset[:, j]
        if reset.any():
            x[reset] = 0.0
            r[reset] = 0.0
        x[:, :2] += events.bolus[:, j]
        k = events.ss[:, j]
        if np.any(k >= 0):
            has = k >= 0
            x[has] += ss_state[k[has]]
        r[:, :2] += events.rate[:, j]
        X[:, j + 1] = x
        Rt[:, j + 1] = r
    return _outputs(events, modes, X, Rt)


def _outputs(events: Events, modes: Modes, X, Rt) -> np.ndarray:
    """Central concentration at every output from the state after the last event before it."""
    n, K = events.out_position.shape
    out = np.empty((n, K))
    depot_rate = bool(np.any(Rt[..., DEPOT] != 0))
    central_rate = bool(np.any(Rt[..., CENTRAL] != 0))
    step = max(1, OUTPUT_CHUNK // max(n, 1))
    rows = np.arange(n)[:, None]
    padded_time = np.concatenate([events.time[:, :1], events.time], axis=1)
    for a in range(0, K, step):
        b = min(K, a + step)
        pos = events.out_position[:, a:b]
        t_out = events.out_time[:, a:b]
        h = np.maximum(t_out - padded_time[rows, pos], 0.0)
        h = np.where(pos == 0, 0.0, h)
        x = X[rows, pos]
        lam, proj, ka, V = modes.at(rows, events.out_record[:, a:b])
        hm = h[..., None]
        pc = proj[..., :, 0, 0]  # central entries of the projectors
        e_lam = np.exp(-lam * hm)
        amount = np.einsum("...j,...j->...", pc, e_lam) * x[..., CENTRAL]
        if proj.shape[-3] > 1:
            amount += np.einsum("...j,...j->...", proj[..., :, 0, 1], e_lam) * x[..., PERIPHERAL]
        if ka is not None:
            kam = ka[..., None]
            amount += np.einsum("...j,...j->...", pc, kam * _pk.psi(kam, lam, hm)) * x[..., DEPOT]
            if depot_rate:
                amount += np.einsum("...j,...j->...", pc, kam * _pk.chi(kam, lam, hm)) * Rt[rows, pos, DEPOT]
        if central_rate:
            amount += np.einsum("...j,...j->...", pc, hm * _pk.phi(lam * hm)) * Rt[rows, pos, CENTRAL]
        out[:, a:b] = amount / V
    return out
