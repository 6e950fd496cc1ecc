r"""Exposure metrics over time intervals from resolved events: AUC, Cmax, Tmax, Cmin, Ctrough.

Both engines take :class:`pkpd.pk._events.Events` and each subject's intervals
``[start, end)`` (arrays (n, K) in days, NaN where a subject has no interval k) and return
arrays (n, K). An interval includes what happens at its start (a dose at ``start`` is in
it, as every output of pkpd includes the events at its time) and excludes what happens at
its end: the concentration at ``end`` is its left limit, before any dose at ``end``.

Each interval is cut into *pieces* at the distinct times of the subject's events inside
it (dose arrivals, infusion starts and ends, resets, steady states). Within a piece the
state moves smoothly; the concentration at the piece's start includes the events there.

Linear models (exact)
---------------------
With the state :math:`x_a` at the start of a piece and the input rates :math:`r` in force,
:math:`x(h) = E(h)x_a + G(h)r` (:mod:`pkpd.pk._linear`), so over a piece of length H

.. math:: \int_0^H x\,dh = G(H)\,x_a + W(H)\,r, \qquad W(H) = \int_0^H G,

and the AUC is the central entry over V (:func:`pkpd.pk._linear.integrals`: the same
phi-function forms, exact when :math:`k_a` equals a disposition rate). The derivative
:math:`\dot x(h) = E(h)z` with :math:`z = A x_a + r` (because :math:`AG + I = E`), so the
slope of C is a sum of at most three exponentials in h. The extremes of C over an interval
lie at piece ends or where the slope is zero:

* one compartment (and two compartments without a depot): the slope lives in a
  two-dimensional invariant space, :math:`c_1 e^{-\mu_1 h} + c_2 e^{-\mu_2 h}` (or
  :math:`(c_1 + c_2 h)e^{-\mu h}`), and has at most one zero, which a sign change between
  the piece's ends brackets;
* two compartments with a depot: :math:`e^{\beta h}` times the slope has derivative
  :math:`e^{\beta h}[E(h)(A + \beta I)z]_c`, and :math:`(A + \beta I)` removes the
  :math:`\beta` mode, leaving a two-term sum with at most one zero :math:`h^*`. So the
  slope has at most one zero on each of :math:`[0, h^*]` and :math:`[h^*, H]`, each
  bracketed by a sign change.

Every zero is found by bisection down to adjacent floating-point numbers (vectorised over
all pieces of all subjects), so Tmax is exact to the rounding of the slope and Cmax to
that of C. An infusion's peak is at its end, a piece end: exact whatever the output grid.

Nonlinear models (ODE)
----------------------
Each piece is split into sub-pieces of at most ``step`` days; the ODE engine gives C at the
ends of every sub-piece and at its 8 Gauss-Legendre nodes (one stacked system, the
outputs placed among the subject's events as above). AUC is the Gauss-Legendre sum, whose
remainder for a rate :math:`\lambda` is about :math:`2\cdot10^{-23}(\lambda\,step)^{16}`
relative; Cmax, Cmin and Tmax come from the degree-9 polynomial through the sub-piece's 10
values, evaluated on 41 points and refined by Newton's method on its derivative, whose
interpolation error is about :math:`(\lambda\,step/2)^{10}/10!\cdot 2^{-9}` relative. By
default ``step`` is one over the fastest rate constant of the model (:func:`fastest_rate`),
between 1 hour and 1 day, so :math:`\lambda\,step \le 1`: both errors stay below about
1e-10 (measured on linear systems: 1.5e-10 on Cmax at :math:`\lambda\,step = 1.5`,
1e-8 at 3) and the ODE tolerance (``rtol``) sets the accuracy. For rate constants above
24/day give a shorter ``step``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import PkpdError
from . import _linear
from ._events import Events

EPS = np.finfo(float).eps
GAUSS_NODES = 8
FINE_POINTS = 41


@dataclasses.dataclass(frozen=True)
class Pieces:
    """Pieces of every (subject, interval), flat arrays in subject-major order per interval.

    ``subject``, ``interval``; ``a``, ``b`` (days) the piece's ends; ``q`` the number of
    events applied at its start (all those at or before ``a``, none after), which indexes
    the engine's state after them; ``last`` marks the piece that ends its interval.
    """

    subject: np.ndarray
    interval: np.ndarray
    a: np.ndarray
    b: np.ndarray
    q: np.ndarray
    last: np.ndarray


def pieces(event_time: np.ndarray, start: np.ndarray, end: np.ndarray) -> Pieces:
    """Cut each subject's intervals ``[start, end)`` (n, K) at the distinct event times inside."""
    n, J = event_time.shape
    index = np.arange(J)
    first_of_time = np.ones((n, J), bool)
    first_of_time[:, 1:] = event_time[:, 1:] != event_time[:, :-1]
    last_of_time = np.ones((n, J), bool)
    last_of_time[:, :-1] = event_time[:, 1:] != event_time[:, :-1]
    # Events applied once a time is reached: up to the last event at that time.
    upto = np.flip(np.minimum.accumulate(np.flip(np.where(last_of_time, index, J), axis=1), axis=1), axis=1) + 1
    parts = []
    for k in range(start.shape[1]):
        s, e = start[:, k], end[:, k]
        valid = np.isfinite(s)
        inside = first_of_time & (event_time > s[:, None]) & (event_time < e[:, None]) & valid[:, None]
        count = np.where(valid, inside.sum(axis=1) + 1, 0)
        total = int(count.sum())
        offset = np.cumsum(count) - count
        subject = np.repeat(np.arange(n), count)
        a = np.empty(total)
        q = np.empty(total, dtype=np.int64)
        vi = np.flatnonzero(valid)
        a[offset[vi]] = s[vi]
        q[offset[vi]] = (event_time[vi] <= s[vi, None]).sum(axis=1)
        ii, jj = np.nonzero(inside)
        rank = np.arange(ii.size) - (np.cumsum(inside.sum(axis=1)) - inside.sum(axis=1))[ii]
        a[offset[ii] + 1 + rank] = event_time[ii, jj]
        q[offset[ii] + 1 + rank] = upto[ii, jj]
        b = np.empty(total)
        b[:-1] = a[1:]
        last = np.zeros(total, bool)
        last[offset[vi] + count[vi] - 1] = True
        b[last] = e[vi]
        parts.append((subject, np.full(total, k), a, b, q, last))
    return Pieces(*(np.concatenate([p[f] for p in parts]) for f in range(6)))


def _bisect(fun, lo, hi, flo) -> np.ndarray:
    """Zeros of ``fun(h, which)`` in brackets [lo, hi] where ``flo`` = fun(lo) and fun(hi) differ
    in sign, halved until lo and hi are adjacent floating-point numbers (at most 1100 steps,
    the distance from 0 to the largest double in halvings)."""
    lo, hi, flo = lo.copy(), hi.copy(), flo.copy()
    active = np.arange(lo.size)
    for _ in range(1100):
        mid = 0.5 * (lo[active] + hi[active])
        moving = (mid > lo[active]) & (mid < hi[active])
        active, mid = active[moving], mid[moving]
        if not active.size:
            break
        fm = fun(mid, active)
        left = np.sign(fm) == np.sign(flo[active])
        lo[active[left]], flo[active[left]] = mid[left], fm[left]
        hi[active[~left]] = mid[~left]
    return 0.5 * (lo + hi)


def _reduce(group: np.ndarray, n_groups: int, value: np.ndarray, time: np.ndarray, largest: bool):
    """Per group, the largest (or smallest) value and the earliest time within 4 eps of it."""
    best = np.full(n_groups, -np.inf if largest else np.inf)
    (np.maximum if largest else np.minimum).at(best, group, value)
    near = np.abs(value - best[group]) <= 4 * EPS * np.abs(best[group])
    when = np.full(n_groups, np.inf)
    np.minimum.at(when, group[near], time[near])
    return best, when


def linear(events: Events, p: dict, start: np.ndarray, end: np.ndarray) -> dict[str, np.ndarray]:
    """Exact AUC (mg*day/L), Cmax, Cmin, Ctrough (mg/L) and the time of Cmax (day) per (subject,
    interval) of a linear model; ``p`` holds one value per subject (n,)."""
    modes, X, Rt = _linear.states(events, p)
    if modes.width != 1:
        raise PkpdError("Internal error: exact interval metrics need one parameter value per subject.")
    n, K = start.shape
    cut = pieces(events.time, start, end)
    i, q = cut.subject, cut.q
    lam, proj, ka, V = modes.at(i, 0)
    V = np.asarray(V, float)
    padded_time = np.concatenate([events.time[:, :1], events.time], axis=1)
    # The state at each piece's start: from the last event at or before it.
    h0 = np.where(q == 0, 0.0, np.maximum(cut.a - padded_time[i, q], 0.0))
    r = Rt[i, q]
    E0, G0 = _linear.transition(lam, proj, ka, h0)
    xa = _linear._apply(E0, X[i, q]) + _linear._apply(G0, r)
    H = cut.b - cut.a
    E, G = _linear.transition(lam, proj, ka, H)
    W = _linear.integrals(lam, proj, ka, H)
    central = _linear.CENTRAL
    auc = (_linear._apply(G, xa) + _linear._apply(W, r))[:, central] / V
    c_start = xa[:, central] / V
    c_end = (_linear._apply(E, xa) + _linear._apply(G, r))[:, central] / V

    A = _linear.generator(lam, proj, ka)
    z = _linear._apply(A, xa) + r  # the state's derivative at the piece's start

    def along(vector):
        """The central entry of E(h) vector at h, for the pieces ``which``."""
        def fun(h, which):
            Eh, _ = _linear.transition(lam[which], proj[which], _linear._sub(ka, which), h, forced=False)
            return np.einsum("...b,...b->...", Eh[:, central], vector[which])
        return fun

    def zeros(fun, lo, hi, at_lo, at_hi):
        """Pieces and zeros of ``fun`` where it changes sign strictly between lo and hi."""
        sel = np.flatnonzero(at_lo * at_hi < 0)
        if not sel.size:
            return sel, np.empty(0)

        def restricted(h, which):
            return fun(h, sel[which])
        return sel, _bisect(restricted, lo[sel], hi[sel], at_lo[sel])

    slope = along(z)
    slope_end = np.einsum("...b,...b->...", E[:, central], z)
    # Brackets (pieces, lo, hi, slope at lo, slope at hi) holding at most one zero of the slope:
    # [0, H], or [0, h*] and [h*, H] where the pieces have two modes and a depot.
    every = np.arange(H.size)
    upper, slope_upper = H.copy(), slope_end.copy()
    brackets, piece_of, at = [], [], []
    if lam.shape[-1] == 2 and ka is not None:
        beta = lam[:, 1]
        w = _linear._apply(A, z) + beta[:, None] * z  # (A + beta I) z: the beta mode removed
        w_end = np.einsum("...b,...b->...", E[:, central], w)
        split, h_star = zeros(along(w), np.zeros_like(H), H, w[:, central], w_end)
        if split.size:
            f_star = slope(h_star, split)
            piece_of.append(split)  # C at h* is a value of C too (and is the peak if the slope touches 0 there)
            at.append(h_star)
            brackets.append((split, h_star, H[split], f_star, slope_end[split]))
            upper[split], slope_upper[split] = h_star, f_star
    brackets.insert(0, (every, np.zeros_like(H), upper, z[:, central], slope_upper))
    for who, lo, hi, f_lo, f_hi in brackets:
        sel, h = zeros(lambda hh, which, who=who: slope(hh, who[which]), lo, hi, f_lo, f_hi)
        piece_of.append(who[sel])
        at.append(h)
    piece_of, at = np.concatenate(piece_of), np.concatenate(at)
    Er, Gr = _linear.transition(lam[piece_of], proj[piece_of], _linear._sub(ka, piece_of), at)
    c_root = (_linear._apply(Er, xa[piece_of]) + _linear._apply(Gr, r[piece_of]))[:, central] / V[piece_of]

    group = i * K + cut.interval
    cand_group = np.concatenate([group, group, group[piece_of]])
    cand_value = np.concatenate([c_start, c_end, c_root])
    cand_time = np.concatenate([cut.a, cut.b, cut.a[piece_of] + at])
    cmax, t_max = _reduce(cand_group, n * K, cand_value, cand_time, largest=True)
    cmin, _ = _reduce(cand_group, n * K, cand_value, cand_time, largest=False)
    trough = np.full(n * K, np.nan)
    trough[group[cut.last]] = c_end[cut.last]
    return _finish(n, K, start, end, np.bincount(group, weights=auc, minlength=n * K), cmax, t_max, cmin, trough)


def _finish(n, K, start, end, auc, cmax, t_max, cmin, trough) -> dict[str, np.ndarray]:
    valid = np.isfinite(start)
    out = {"AUC": auc.reshape(n, K), "Cmax": cmax.reshape(n, K), "Tmax": t_max.reshape(n, K) - start,
           "Cmin": cmin.reshape(n, K), "Ctrough": trough.reshape(n, K)}
    with np.errstate(invalid="ignore"):
        out["Cavg"] = out["AUC"] / (end - start)
    return {k: np.where(valid, v, np.nan) for k, v in out.items()}


def _reference_nodes():
    """Gauss-Legendre nodes and weights on [-1, 1], and the sub-piece's 10 points (ends first and last)."""
    x, w = np.polynomial.legendre.leggauss(GAUSS_NODES)
    return x, w, np.concatenate([[-1.0], x, [1.0]])


def fastest_rate(p: dict) -> float:
    """The largest first-order rate constant (1/day) among the subjects' parameters ``p``: ka,
    CL/V + Q/V + Q/V2 (at least the fast disposition rate), Vmax/(V Km) (saturable elimination
    at low concentrations), kint R0/KSS (target-mediated elimination at low concentrations),
    kint and kdeg."""
    def get(name):
        return np.asarray(p[name], float) if name in p else None
    V = get("V")
    rates = [get("CL") / V]
    if "Q" in p:
        rates.append(rates[0] + get("Q") / V + get("Q") / get("V2"))
    for names in (("ka",), ("kint",), ("kdeg",)):
        if names[0] in p:
            rates.append(get(names[0]))
    if "Vmax" in p:
        rates.append(get("Vmax") / (V * get("Km")))
    if "R0" in p:
        rates.append(get("kint") * get("R0") / get("KSS"))
    return float(max(np.max(r) for r in rates))


def default_step(p: dict) -> float:
    """Sub-piece length (days) of the ODE path: 1 / :func:`fastest_rate`, between 1 hour and 1 day."""
    return float(np.clip(1.0 / fastest_rate(p), 1.0 / 24.0, 1.0))


def ode(events: Events, p: dict, model, start: np.ndarray, end: np.ndarray, *, step: float | None, rtol: float,
        atol: float, solver: str) -> dict[str, np.ndarray]:
    """AUC, Cmax, Cmin, Ctrough and the time of Cmax per (subject, interval) from the ODE engine
    at Gauss-Legendre nodes (see the module docstring for the accuracy); ``step`` (days) None
    for :func:`default_step`."""
    from numpy.polynomial import chebyshev

    from ._ode import concentration_ode
    n, K = start.shape
    if step is None:
        step = default_step(p)
    cut = pieces(events.time, start, end)
    H = cut.b - cut.a
    parts = np.maximum(np.ceil(H / step), 1).astype(np.int64)
    sub = np.repeat(np.arange(H.size), parts)
    k = np.arange(sub.size) - np.repeat(np.cumsum(parts) - parts, parts)
    sa = cut.a[sub] + H[sub] * (k / parts[sub])
    sb = np.where(k + 1 == parts[sub], cut.b[sub], cut.a[sub] + H[sub] * ((k + 1) / parts[sub]))
    x, w, points = _reference_nodes()
    times = sa[:, None] + (sb - sa)[:, None] * (0.5 * (1.0 + points))[None, :]
    times[:, 0], times[:, -1] = sa, sb
    # Every output of a piece comes after the events at its start and before those at its end.
    subject = np.repeat(cut.subject[sub], points.size)
    position = np.repeat(cut.q[sub], points.size)
    flat_time = times.ravel()
    order = np.lexsort((position, flat_time, subject))
    count = np.bincount(subject, minlength=n)
    width = int(count.max()) + 1  # one padding output after all events
    slot = np.empty(order.size, dtype=np.int64)
    slot[order] = np.arange(order.size) - np.repeat(np.cumsum(count) - count, count)
    J = events.time.shape[1]
    latest = np.maximum(events.time[:, -1], np.max(np.where(np.isfinite(end), end, 0.0), axis=1))
    out_time = np.broadcast_to(latest[:, None], (n, width)).copy()
    out_position = np.full((n, width), J, dtype=np.int64)
    out_time[subject, slot] = flat_time
    out_position[subject, slot] = position
    out_record = np.broadcast_to(events.out_record[:, -1:], (n, width)).copy()
    placed = dataclasses.replace(events, out_time=out_time, out_record=out_record, positions=out_position,
                                 event_slot=None)
    conc = concentration_ode(placed, p, model, rtol=rtol, atol=atol, solver=solver)
    values = conc[subject, slot].reshape(times.shape)

    half = 0.5 * (sb - sa)
    auc_sub = half * (values[:, 1:-1] @ w)
    group_sub = cut.subject[sub] * K + cut.interval[sub]
    auc = np.bincount(group_sub, weights=auc_sub, minlength=n * K)
    trough = np.full(n * K, np.nan)
    ends_interval = cut.last[sub] & (k + 1 == parts[sub])
    trough[group_sub[ends_interval]] = values[ends_interval, -1]

    # The degree-9 interpolant of each sub-piece (Chebyshev coefficients, (10, S)).
    coef = np.linalg.solve(chebyshev.chebvander(points, points.size - 1), values.T)
    fine = np.linspace(-1.0, 1.0, FINE_POINTS)
    on_fine = (chebyshev.chebvander(fine, points.size - 1) @ coef).T  # (S, FINE_POINTS)
    slope, curvature = chebyshev.chebder(coef), chebyshev.chebder(coef, 2)

    def extreme(largest: bool):
        pick = np.argmax(on_fine, axis=1) if largest else np.argmin(on_fine, axis=1)
        u = fine[pick]
        best = on_fine[np.arange(u.size), pick]
        y = u.copy()
        for _ in range(8):  # Newton on the interpolant's derivative from the best fine point
            d2 = chebyshev.chebval(y, curvature, tensor=False)
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.clip(y - chebyshev.chebval(y, slope, tensor=False) / d2, -1.0, 1.0)
            y = np.where(np.isfinite(y), y, u)
        refined = chebyshev.chebval(y, coef, tensor=False)
        better = refined > best if largest else refined < best
        u, best = np.where(better, y, u), np.where(better, refined, best)
        return _reduce(group_sub, n * K, best, sa + half * (1.0 + u), largest)

    cmax, t_max = extreme(True)
    cmin, _ = extreme(False)
    return _finish(n, K, start, end, auc, cmax, t_max, cmin, trough)
