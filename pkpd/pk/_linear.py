r"""Exact concentrations of linear models from :class:`pkpd.pk._events.Events`.

The state (depot, central, peripheral amounts) of a linear model with a constant input
rate :math:`r` over a step :math:`h` moves exactly as :math:`x(h) = E(h)\,x(0) + G(h)\,r`,
with :math:`E(h) = e^{Ah}` and :math:`G(h) = \int_0^h e^{As} ds`. Both are sums over the
disposition modes (:func:`pkpd.pk._formulas.disposition_modes`):

* :math:`E_{dd} = e^{-k_a h}`, disposition block :math:`\sum_j P_j e^{-\lambda_j h}`,
  depot into (central, peripheral) :math:`\sum_j P_j e_c\,k_a \psi(k_a, \lambda_j, h)`;
* :math:`G_{dd} = h\varphi(k_a h)`, disposition block :math:`\sum_j P_j h\varphi(\lambda_j h)`,
  depot input into (central, peripheral) :math:`\sum_j P_j e_c\,k_a \chi(k_a, \lambda_j, h)`,

in forms that stay exact when :math:`k_a = \lambda_j` (:func:`~pkpd.pk._formulas.rate_psi`,
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
        """The modes of subjects ``rows`` at parameter sets ``cols`` (broadcast together).

        With one parameter set per subject the result keeps the shape of ``rows`` (it
        broadcasts against ``cols``), so no (subject x output) copy is made.
        """
        if self.width == 1:
            cols = 0
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
        E[..., 1:, DEPOT] = np.einsum("...ja,...j->...a", proj[..., :, 0], _pk.rate_psi(kam, lam, hm))
        if forced:
            G[..., DEPOT, DEPOT] = h * _pk.phi(ka * h)
            G[..., 1:, DEPOT] = np.einsum("...ja,...j->...a", proj[..., :, 0], kam * _pk.chi(kam, lam, hm))
    return E, G


def integrals(lam, proj, ka, h) -> np.ndarray:
    r"""W(h) = :math:`\int_0^h G(s)\,ds` (..., 3, 3): the time integral of the state's response to
    constant input rates, so that :math:`\int_0^h x = G(h)\,x(0) + W(h)\,r` (with
    :math:`\int_0^h E = G`).

    Entries: :math:`h^2\varphi_2(k_a h)` (depot), :math:`\sum_j P_j h^2\varphi_2(\lambda_j h)`
    (disposition block) and :math:`\sum_j P_j e_c\,k_a \int_0^h\chi(k_a, \lambda_j, s)ds` (depot
    input into central and peripheral): :func:`~pkpd.pk._formulas.phi2`,
    :func:`~pkpd.pk._formulas.chi_integral`, exact when :math:`k_a = \lambda_j`.
    """
    h = np.asarray(h, float)
    W = np.zeros(h.shape + (3, 3))
    hm = h[..., None]
    W[..., 1:, 1:] = np.einsum("...jab,...j->...ab", proj, hm * hm * _pk.phi2(lam * hm))
    if ka is not None:
        kam = ka[..., None]
        W[..., DEPOT, DEPOT] = h * h * _pk.phi2(ka * h)
        W[..., 1:, DEPOT] = np.einsum("...ja,...j->...a", proj[..., :, 0], kam * _pk.chi_integral(kam, lam, hm))
    return W


def generator(lam, proj, ka) -> np.ndarray:
    r"""The matrix A (..., 3, 3) of :math:`\dot x = A x + r`, from the modes: the disposition
    block :math:`-\sum_j \lambda_j P_j`, the depot emptying at rate :math:`k_a` into the
    central compartment."""
    A = np.zeros(lam.shape[:-1] + (3, 3))
    A[..., 1:, 1:] = -np.einsum("...jab,...j->...ab", proj, lam)
    if ka is not None:
        A[..., DEPOT, DEPOT] = -ka
        A[..., CENTRAL, DEPOT] = ka
    return A


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
        into = np.einsum("...ja,...j->...a", proj[..., :, 0], _pk.rate_psi(kam, lam, tm))  # E(tau)[1:, depot]
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
    modes, X, Rt = states(events, p)
    return _outputs(events, modes, X, Rt)


def states(events: Events, p: dict) -> tuple[Modes, np.ndarray, np.ndarray]:
    """The modes, and the state ``X`` and input rates ``Rt`` (n, J + 1, 3) after each event.

    ``X[:, j + 1]`` is the state (depot, central, peripheral amounts, mg) just after event j,
    at ``events.time[:, j]``, and ``Rt[:, j + 1]`` the input rates (mg/day) in force from
    there to the next event; ``X[:, 0]`` and ``Rt[:, 0]`` are the initial (empty) ones.
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
    return modes, X, Rt


def _outputs(events: Events, modes: Modes, X, Rt) -> np.ndarray:
    """Central concentrations at the outputs: a walk along shared output times, else one by one."""
    shared = events.event_slot is not None or bool(np.all(events.out_time == events.out_time[:1]))
    if shared and modes.width == 1:
        return _walk(events, modes, X, Rt)
    return _each(events, modes, X, Rt)


def _walk(events: Events, modes: Modes, X, Rt) -> np.ndarray:
    """Outputs at times shared by all subjects, stepping from one output to the next.

    Between two outputs every subject moves by E(h) x + G(h) r with the step h common to
    all (E and G computed once per distinct step). A subject's events between two outputs
    are added on top by superposition, each moved from its own time to the output: a
    bolus b as E(t - s) b, a rate change dr as G(t - s) dr. Where a reset or a steady state
    is among them, the state is instead the state after the last of them (from the event
    loop) moved to the output. These per-subject terms are computed at once, before the walk.
    """
    n, K = events.out_time.shape
    times = events.out_time[0]
    rows = np.arange(n)
    lam, proj, ka, V = modes.at(rows, np.zeros(n, dtype=np.int64))
    forced = bool(np.any(Rt != 0))
    slot = events.event_slot
    if slot is None:  # outputs at shared times but placed by position (dataset records)
        pos = events.out_position
        J = events.time.shape[1]
        # The first output after event j is the number of outputs placed at or before it.
        placed = np.zeros((n, J + 1), dtype=np.int64)
        np.add.at(placed, (np.repeat(np.arange(n), K), np.minimum(pos, J).ravel()), 1)
        slot = np.cumsum(placed, axis=1)[:, :J]
    J = slot.shape[1]
    inside = slot < K
    # Pairs (subject, output) with events since the previous output, and the number of
    # events applied once the output is reached.
    last = np.ones(slot.shape, bool)
    last[:, :-1] = slot[:, 1:] != slot[:, :-1]
    pi, pj = np.nonzero(last & inside)
    pk, e = slot[pi, pj], pj + 1
    pair = np.full((n, J), -1)
    pair[pi, pj] = np.arange(pi.size)
    # Every event points to its pair: the pair at the end of its run of equal slots (pair
    # numbers increase along a row, so it is the smallest one at or after the event).
    big = pi.size
    owner = np.flip(np.minimum.accumulate(np.flip(np.where(pair >= 0, pair, big), axis=1), axis=1), axis=1)
    owner = np.where(inside, owner, 0)
    hard = np.zeros(pi.size, bool)
    ei, ej = np.nonzero(inside)
    np.logical_or.at(hard, owner[ei, ej], events.reset[ei, ej] | (events.ss[ei, ej] >= 0))
    padded_time = np.concatenate([events.time[:, :1], events.time], axis=1)
    # Replacements: the state after the last event, moved to the output.
    hi = np.flatnonzero(hard)
    h = np.maximum(times[pk[hi]] - padded_time[pi[hi], e[hi]], 0.0)
    E, G = transition(lam[pi[hi]], proj[pi[hi]], _sub(ka, pi[hi]), h, forced=forced)
    replace = _apply(E, X[pi[hi], e[hi]])
    if forced:
        replace += _apply(G, Rt[pi[hi], e[hi]])
    # Additions: each event of the other pairs, moved to its output, summed per pair.
    soft = inside & ~hard[owner] if pi.size else inside
    si, sj = np.nonzero(soft)
    h = np.maximum(times[slot[si, sj]] - events.time[si, sj], 0.0)
    E, G = transition(lam[si], proj[si], _sub(ka, si), h, forced=forced)
    bolus = np.zeros((si.size, 3))
    bolus[:, :2] = events.bolus[si, sj]
    change = np.zeros((si.size, 3))
    change[:, :2] = events.rate[si, sj]
    gain = _apply(E, bolus)
    if forced:
        gain += _apply(G, change)
    added = np.zeros((pi.size, 3))
    added_rate = np.zeros((pi.size, 3))
    np.add.at(added, owner[si, sj], gain)
    np.add.at(added_rate, owner[si, sj], change)
    where_hard = np.full(pi.size, -1)
    where_hard[hi] = np.arange(hi.size)

    order = np.argsort(pk, kind="stable")
    bounds = np.searchsorted(pk[order], np.arange(K + 1))
    out = np.empty((K, n))  # filled by rows (contiguous), transposed at the end
    x, spare, tmp = np.zeros((3, n)), np.zeros((3, n)), np.empty(n)
    r = np.zeros((3, n))
    cache: dict[float, list] = {}
    previous = times[0]
    for k in range(K):
        step = times[k] - previous
        previous = times[k]
        if step > 0:
            plan = cache.get(step)
            if plan is None:
                E, G = transition(lam, proj, ka, np.full(n, step), forced=forced)
                plan = cache[step] = _plan(E, G if forced else None)
            for a, terms in plan:  # spare[a] = sum of (matrix entry) * (state or rate) over the row
                if not terms:
                    spare[a].fill(0.0)
                    continue
                (v, source, b), rest = terms[0], terms[1:]
                np.multiply(v, (x if source == 0 else r)[b], out=spare[a])
                for v, source, b in rest:
                    np.multiply(v, (x if source == 0 else r)[b], out=tmp)
                    spare[a] += tmp
            x, spare = spare, x
        sel = order[bounds[k]:bounds[k + 1]]
        if sel.size:
            easy = sel[~hard[sel]]
            if easy.size:
                who = pi[easy]
                x[:, who] += added[easy].T
                r[:, who] += added_rate[easy].T
            tough = sel[hard[sel]]
            if tough.size:
                who = pi[tough]
                x[:, who] = replace[where_hard[tough]].T
                r[:, who] = Rt[who, e[tough]].T
        out[k] = x[CENTRAL]
    return np.ascontiguousarray(out.T) / V[:, None]  # C order, as callers' BLAS products expect


def _plan(E, G) -> list:
    """Per state row, the (entry, source, column) products of E x + G r that are not zero
    for every subject (source 0: the state x, 1: the rate r)."""
    plan = []
    for a in range(3):
        terms = [(np.ascontiguousarray(M[:, a, b]), source, b)
                 for source, M in ((0, E), (1, G)) if M is not None for b in range(3) if np.any(M[:, a, b])]
        plan.append((a, terms))
    return plan


def _each(events: Events, modes: Modes, X, Rt) -> np.ndarray:
    """Every output from the state after the last event before it (outputs at any times)."""
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
        h = np.where(pos == 0, 0.0, np.maximum(t_out - padded_time[rows, pos], 0.0))
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
            amount += np.einsum("...j,...j->...", pc, _pk.rate_psi(kam, lam, hm)) * x[..., DEPOT]
            if depot_rate:
                amount += np.einsum("...j,...j->...", pc, kam * _pk.chi(kam, lam, hm)) * Rt[rows, pos, DEPOT]
        if central_rate:
            amount += np.einsum("...j,...j->...", pc, hm * _pk.phi(lam * hm)) * Rt[rows, pos, CENTRAL]
        out[:, a:b] = amount / V
    return out
