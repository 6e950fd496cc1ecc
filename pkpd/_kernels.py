"""Compiled loops for the hot paths (numba): the one place pkpd imports numba.

Pure numerics on arrays, no pkpd imports: the callers in the stage packages build the
inputs (meshes, weights, parameters) and document the mathematics. The first call of a
kernel compiles it (about a second); numba caches the machine code next to this file.

Parameter arrays have length 1 (shared by every row) or one entry per row. The loops release
the GIL, so chunks computed on threads run in parallel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _pick(a, i):
    return a[0] if a.shape[0] == 1 else a[i]


@njit(cache=True, nogil=True)
def _hill(c, c50, hill):
    if hill == 1.0:
        return c / (c50 + c)
    ch = c ** hill
    return ch / (c50 ** hill + ch)


@njit(cache=True, nogil=True)
def first_order_hill(conc, seg_len, seg_src, seg_tau, seg_w, out_idx, k, base, amp, c50, hill, y0, out):
    """y' = k (base + amp C^h/(c50^h + C^h) - y) on a mesh of segments, exact up to the quadrature.

    conc (row, segment, node): concentrations at the segments' Gauss-Legendre nodes;
    seg_len (G,), seg_src (G,) index of each segment's start value (0: y0 at t = 0,
    1 + g: the end of segment g), seg_tau (G, m) node offsets, seg_w (G, m) weights
    (summing to the segment length); out_idx (T,) value indices of the outputs.
    """
    n_rows, n_seg, m = conc.shape
    vals = np.empty(n_seg + 1)
    decay = np.empty(n_seg)
    wk = np.empty((n_seg, m))
    shared_k = k.shape[0] == 1
    if shared_k:
        _weights(k[0], seg_len, seg_tau, seg_w, decay, wk)
    for i in range(n_rows):
        if not shared_k:
            _weights(k[i], seg_len, seg_tau, seg_w, decay, wk)
        b, a, c50i, hi = _pick(base, i), _pick(amp, i), _pick(c50, i), _pick(hill, i)
        vals[0] = y0
        for g in range(n_seg):
            acc = 0.0
            for q in range(m):
                acc += wk[g, q] * _hill(conc[i, g, q], c50i, hi)
            vals[g + 1] = decay[g] * vals[seg_src[g]] + b * (1.0 - decay[g]) + a * acc
        for o in range(out_idx.shape[0]):
            out[i, o] = vals[out_idx[o]]
    return out


@njit(cache=True, nogil=True)
def first_order_hill_draws(conc, seg_len, seg_src, seg_tau, seg_w, out_idx, k, base, amp, c50, hill, y0, out):
    """:func:`first_order_hill` for many parameter sets: k, base, amp, c50, hill of shape (draw,);
    out (draw, row, output). The concentrations are shared by every draw."""
    n_rows, n_seg, m = conc.shape
    vals = np.empty(n_seg + 1)
    decay = np.empty(n_seg)
    wk = np.empty((n_seg, m))
    for d in range(k.shape[0]):
        _weights(k[d], seg_len, seg_tau, seg_w, decay, wk)
        for i in range(n_rows):
            vals[0] = y0
            for g in range(n_seg):
                acc = 0.0
                for q in range(m):
                    acc += wk[g, q] * _hill(conc[i, g, q], c50[d], hill[d])
                vals[g + 1] = decay[g] * vals[seg_src[g]] + base[d] * (1.0 - decay[g]) + amp[d] * acc
            for o in range(out_idx.shape[0]):
                out[d, i, o] = vals[out_idx[o]]
    return out


@njit(cache=True, nogil=True)
def first_order(u, seg_len, seg_src, seg_tau, seg_w, out_idx, k, y0, out):
    """y' = k (u(t) - y) for an input given at the segments' nodes, u (row, segment, node)."""
    n_rows, n_seg, m = u.shape
    vals = np.empty(n_seg + 1)
    decay = np.empty(n_seg)
    wk = np.empty((n_seg, m))
    shared_k = k.shape[0] == 1
    if shared_k:
        _weights(k[0], seg_len, seg_tau, seg_w, decay, wk)
    for i in range(n_rows):
        if not shared_k:
            _weights(k[i], seg_len, seg_tau, seg_w, decay, wk)
        vals[0] = _pick(y0, i)
        for g in range(n_seg):
            acc = 0.0
            for q in range(m):
                acc += wk[g, q] * u[i, g, q]
            vals[g + 1] = decay[g] * vals[seg_src[g]] + acc
        for o in range(out_idx.shape[0]):
            out[i, o] = vals[out_idx[o]]
    return out


@njit(cache=True, nogil=True)
def _weights(k, seg_len, seg_tau, seg_w, decay, wk):
    """decay = exp(-k h); wk = k w exp(-k (h - tau)): the exact step of y' = k (u - y)."""
    for g in range(seg_len.shape[0]):
        h = seg_len[g]
        decay[g] = math.exp(-k * h)
        for q in range(seg_tau.shape[1]):
            wk[g, q] = k * seg_w[g, q] * math.exp(-k * (h - seg_tau[g, q]))


@njit(cache=True, nogil=True)
def first_order_linear(t, u, k, y0, out):
    """y' = k (u(t) - y) for u linear between the samples u (row, time) on grid t: the exact
    step y1 = e y0 + (1 - e) u0 + (1 - phi(k h)) (u1 - u0), e = exp(-k h), phi(x) = (1 - e^-x)/x.
    k and y0 have length 1 or one per row; out (row, time)."""
    n_rows, n_t = u.shape
    for i in range(n_rows):
        ki = _pick(k, i)
        y = _pick(y0, i)
        out[i, 0] = y
        for j in range(n_t - 1):
            x = ki * (t[j + 1] - t[j])
            e = math.exp(-x)
            phi = 1.0 if x == 0.0 else -math.expm1(-x) / x
            y = e * y + (1.0 - e) * u[i, j] + (1.0 - phi) * (u[i, j + 1] - u[i, j])
            out[i, j + 1] = y
    return out


# -- linear PK on a mesh ---------------------------------------------------------------------
# States per patient: depot, central and peripheral amounts (mg); inputs piecewise constant
# between mesh points: infusion rates into the central compartment and into the depot (mg/day).

@njit(cache=True, nogil=True)
def _phi(x):
    """(1 - e^-x)/x, with phi(0) = 1."""
    if x < 1e-300:
        return 1.0
    return -math.expm1(-x) / x


@njit(cache=True, nogil=True)
def _b(tau, ka, lam):
    """integral_0^tau e^{-lam (tau - s)} e^{-ka s} ds, stable when ka = lam."""
    return tau * math.exp(-min(ka, lam) * tau) * _phi(abs(ka - lam) * tau)


@njit(cache=True, nogil=True)
def _propagator(tau, ka, k10, k12, k21, two, infusions, out):
    """Exact response over tau of the linear system to each state and unit input.

    out[0..2]: central from central, peripheral, depot amount; out[3]: central from a unit
    central infusion; out[4]: central from a unit depot infusion; out[5..9]: the same five for
    the peripheral amount; out[10]: depot from depot (e^{-ka tau}); out[11]: depot from a unit
    depot infusion.
    """
    if not two:
        k = k10
        out[0] = math.exp(-k * tau)
        out[1] = 0.0
        bk = _b(tau, ka, k) if ka > 0.0 else 0.0
        out[2] = ka * bk
        if infusions:
            out[3] = tau * _phi(k * tau)
            out[4] = out[3] - bk
        else:
            out[3] = 0.0
            out[4] = 0.0
        for j in range(5, 10):
            out[j] = 0.0
    else:
        s = k10 + k12 + k21
        root = math.sqrt(s * s - 4.0 * k10 * k21)
        alpha = 0.5 * (s + root)
        beta = k10 * k21 / alpha
        d = alpha - beta
        ea = math.exp(-alpha * tau)
        g = tau * math.exp(-beta * tau) * _phi(d * tau)        # (e^{-beta tau} - e^{-alpha tau}) / d
        ca, cb = (alpha - k21) / d, (k21 - beta) / d           # central parts of the two modes for a central input
        pa = -k12 / d                                          # peripheral parts (pb = -pa)
        ba, bb = _b(tau, ka, alpha), _b(tau, ka, beta)
        ia, ib = tau * _phi(alpha * tau), tau * _phi(beta * tau)
        out[0] = ea + (k21 - beta) * g
        out[1] = k21 * g
        out[2] = ka * (ca * ba + cb * bb)
        out[3] = ca * ia + cb * ib
        out[4] = ca * (ia - ba) + cb * (ib - bb)
        out[5] = k12 * g
        out[6] = ea + (alpha - k21) * g
        out[7] = ka * pa * (ba - bb)
        out[8] = pa * (ia - ib)
        out[9] = pa * ((ia - ba) - (ib - bb))
    out[10] = math.exp(-ka * tau)
    out[11] = tau * _phi(ka * tau) if infusions else 0.0


@njit(cache=True, nogil=True)
def propagator_table(ka, k10, k12, k21, two, infusions, class_len, class_tau, table):
    """table (row, class, node + 1, 12): :func:`_propagator` at every class's node offsets and,
    in the last slot, at its full length, for each patient's rates. Without ``infusions`` the
    responses to infusion rates are left at 0 (none is given)."""
    n_rows = ka.shape[0]
    n_class, m = class_tau.shape
    for i in range(n_rows):
        for c in range(n_class):
            for q in range(m):
                _propagator(class_tau[c, q], ka[i], k10[i], k12[i], k21[i], two, infusions, table[i, c, q])
            _propagator(class_len[c], ka[i], k10[i], k12[i], k21[i], two, infusions, table[i, c, m])
    return table


@njit(cache=True, nogil=True)
def linear_on_mesh(inv_v, table, who, seg_len, seg_src, seg_class, n_main, ev_point, ev_kind, ev_amount, ev_state,
                   out_idx, node_conc, out_conc, edge_conc):
    """Concentrations (mg/L) of a linear model at every node of a mesh, at its outputs, and at
    each segment's start and end (edge_conc (i, g, 2); the start after any dose there, the end
    before any dose at the next point).

    Row i is patient who[i]: 1/V and the propagator ``table`` (:func:`propagator_table`) are
    read at who[i], so several rows (dosing histories) of one patient share them. Mesh:
    segments g with start value index seg_src[g] and length class seg_class[g]; segments
    0 .. n_main - 1 are the chain of mesh points. Events per patient, sorted by mesh point:
    ev_point (i, e) value index (a mesh point), ev_kind (i, e): 0 depot bolus, 1 central
    bolus, 2 central infusion rate change, 3 depot infusion rate change, 4 states set to
    ev_state (i, e, 3) (depot, central, peripheral), -1 none; ev_amount (i, e) mg or mg/day.
    """
    n_rows = who.shape[0]
    n_seg = seg_len.shape[0]
    m = table.shape[2] - 1
    n_ev = ev_kind.shape[1]
    S = np.zeros((n_seg + 1, 3))      # depot, central, peripheral at each value index
    R = np.zeros((n_seg + 1, 2))      # central and depot infusion rates in force after each value index
    for i in range(n_rows):
        p = who[i]
        S[0, 0] = 0.0
        S[0, 1] = 0.0
        S[0, 2] = 0.0
        R[0, 0] = 0.0
        R[0, 1] = 0.0
        e = 0
        for g in range(n_seg + 1):
            if g <= n_main:  # apply the events at mesh point g (value index g)
                while e < n_ev and ev_kind[i, e] >= 0 and ev_point[i, e] == g:
                    kind = ev_kind[i, e]
                    if kind == 0:
                        S[g, 0] += ev_amount[i, e]
                    elif kind == 1:
                        S[g, 1] += ev_amount[i, e]
                    elif kind == 2:
                        R[g, 0] += ev_amount[i, e]
                    elif kind == 3:
                        R[g, 1] += ev_amount[i, e]
                    elif kind == 4:
                        S[g, 0] = ev_state[i, e, 0]
                        S[g, 1] = ev_state[i, e, 1]
                        S[g, 2] = ev_state[i, e, 2]
                    e += 1
            if g == n_seg:
                break
            src = seg_src[g]
            c = seg_class[g]
            ad, ac, ap = S[src, 0], S[src, 1], S[src, 2]
            rc, rd = R[src, 0], R[src, 1]
            iv = inv_v[p]
            edge_conc[i, g, 0] = ac * iv
            if rc == 0.0 and rd == 0.0:
                for q in range(m):
                    node_conc[i, g, q] = (table[p, c, q, 0] * ac + table[p, c, q, 1] * ap
                                          + table[p, c, q, 2] * ad) * iv
            else:
                for q in range(m):
                    node_conc[i, g, q] = (table[p, c, q, 0] * ac + table[p, c, q, 1] * ap + table[p, c, q, 2] * ad
                                          + table[p, c, q, 3] * rc + table[p, c, q, 4] * rd) * iv
            S[g + 1, 1] = (table[p, c, m, 0] * ac + table[p, c, m, 1] * ap + table[p, c, m, 2] * ad
                           + table[p, c, m, 3] * rc + table[p, c, m, 4] * rd)
            S[g + 1, 2] = (table[p, c, m, 5] * ac + table[p, c, m, 6] * ap + table[p, c, m, 7] * ad
                           + table[p, c, m, 8] * rc + table[p, c, m, 9] * rd)
            S[g + 1, 0] = table[p, c, m, 10] * ad + table[p, c, m, 11] * rd
            edge_conc[i, g, 1] = S[g + 1, 1] * iv
            R[g + 1, 0] = rc
            R[g + 1, 1] = rd
        for o in range(out_idx.shape[0]):
            out_conc[i, o] = S[out_idx[o], 1] * inv_v[p]
    return node_conc, out_conc


# -- monotone cubic inverse ------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _fc_slopes(x, row, d):
    """Fritsch-Carlson slopes of the monotone cubic Hermite interpolant through (x, row)."""
    K = x.shape[0]
    for k in range(K):
        if k == 0:
            d[k] = (row[1] - row[0]) / (x[1] - x[0])
        elif k == K - 1:
            d[k] = (row[K - 1] - row[K - 2]) / (x[K - 1] - x[K - 2])
        else:
            s0 = (row[k] - row[k - 1]) / (x[k] - x[k - 1])
            s1 = (row[k + 1] - row[k]) / (x[k + 1] - x[k])
            if s0 * s1 <= 0.0:
                d[k] = 0.0
            else:
                h0, h1 = x[k] - x[k - 1], x[k + 1] - x[k]
                w0, w1 = 2 * h1 + h0, h1 + 2 * h0
                d[k] = (w0 + w1) / (w0 / s0 + w1 / s1)


@njit(cache=True, nogil=True)
def monotone_value(x, y, at, out):
    """The monotone cubic interpolant of each row of y (row, K) at at[row]; linear beyond the grid."""
    n_rows, K = y.shape
    d = np.empty(K)
    for i in range(n_rows):
        row = y[i]
        v = at[i]
        if v <= x[0]:
            out[i] = row[0] + (v - x[0]) * (row[1] - row[0]) / (x[1] - x[0])
            continue
        if v >= x[K - 1]:
            out[i] = row[K - 1] + (v - x[K - 1]) * (row[K - 1] - row[K - 2]) / (x[K - 1] - x[K - 2])
            continue
        _fc_slopes(x, row, d)
        lo = 0
        while x[lo + 1] < v:
            lo += 1
        h = x[lo + 1] - x[lo]
        t = (v - x[lo]) / h
        t2, t3 = t * t, t * t * t
        out[i] = ((2 * t3 - 3 * t2 + 1) * row[lo] + (t3 - 2 * t2 + t) * d[lo] * h + (-2 * t3 + 3 * t2) * row[lo + 1]
                  + (t3 - t2) * d[lo + 1] * h)
    return out


@njit(cache=True, nogil=True)
def monotone_inverse(x, y, target, out):
    """For each row of y (row, K), non-decreasing in x (K,), the x at which the monotone cubic
    Hermite interpolant (Fritsch-Carlson slopes) reaches ``target``; beyond the grid the end
    segments continue linearly (+-inf where they are flat)."""
    n_rows, K = y.shape
    d = np.empty(K)
    for i in range(n_rows):
        row = y[i]
        if target <= row[0] or target >= row[K - 1]:
            if target <= row[0]:
                slope = (row[1] - row[0]) / (x[1] - x[0])
                out[i] = x[0] - (row[0] - target) / slope if slope > 0.0 else (-np.inf if target < row[0] else x[0])
            else:
                slope = (row[K - 1] - row[K - 2]) / (x[K - 1] - x[K - 2])
                out[i] = x[K - 1] + (target - row[K - 1]) / slope if slope > 0.0 else \
                    (np.inf if target > row[K - 1] else x[K - 1])
            continue
        _fc_slopes(x, row, d)
        lo = 0
        while row[lo + 1] < target:
            lo += 1
        h = x[lo + 1] - x[lo]
        y0, y1 = row[lo], row[lo + 1]
        m0, m1 = d[lo] * h, d[lo + 1] * h
        # solve the cubic Hermite p(t) = target on [0, 1] by safeguarded Newton from the secant guess
        t = (target - y0) / (y1 - y0) if y1 > y0 else 0.0
        a, b = 0.0, 1.0
        for _ in range(50):
            t2, t3 = t * t, t * t * t
            p = (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * m1
            dp = (6 * t2 - 6 * t) * y0 + (3 * t2 - 4 * t + 1) * m0 + (-6 * t2 + 6 * t) * y1 + (3 * t2 - 2 * t) * m1
            f = p - target
            if f > 0.0:
                b = t
            else:
                a = t
            if abs(f) <= 1e-14 * (abs(target) + 1e-300) or b - a < 1e-15:
                break
            step = f / dp if dp > 0.0 else 0.5
            t_new = t - step
            t = t_new if a < t_new < b else 0.5 * (a + b)
        out[i] = x[lo] + t * h
    return out


# -- effect site: exponential integrator -----------------------------------------------------

@njit(cache=True, nogil=True)
def _phis(z, count, out):
    """phi_1 .. phi_count at z <= 0 into out (see pkpd.response._quadrature._phi_functions)."""
    if abs(z) > 1.0:
        prev = math.exp(z)
        fact = 1.0
        for k in range(1, count + 1):
            prev = (prev - 1.0 / fact) / z
            out[k - 1] = prev
            fact *= k
    else:
        fact = 1.0
        for k in range(1, count + 1):
            fact *= k  # k!
            term = 1.0 / fact
            acc = term
            for i in range(1, 22):  # |z| <= 1: the terms fall below 1e-16 of the first
                term = term * z / (i + k)
                acc += term
            out[k - 1] = acc


@njit(cache=True, nogil=True)
def effect_site(conc, edges, seg_len, seg_src, seg_class, class_len, x, coef, out_idx, ke0, nodes, out):
    """C_e' = ke0 (C - C_e), C_e(0) = 0, with C the interpolating polynomial of each segment's
    start, node and end values (edges (row, segment, 2)): an exponential integrator (see
    pkpd.response.Trajectory.effect_site). x (m + 2,) the interpolation points on [0, 1]
    (0, the nodes, 1), coef (m + 2, m + 2) monomial coefficients of their Lagrange polynomials."""
    n_rows, n_seg, m = conc.shape
    p_n = m + 2
    n_class = class_len.shape[0]
    W = np.empty((n_class, m + 1, p_n))
    E = np.empty((n_class, m + 1))
    mom = np.empty(p_n)
    ph = np.empty(p_n)
    vals = np.empty(n_seg + 1)
    data = np.empty(p_n)
    fact = np.empty(p_n)
    f = 1.0
    for p in range(p_n):
        fact[p] = f
        f *= p + 1
    for i in range(n_rows):
        k = _pick(ke0, i)
        for c in range(n_class if (i == 0 or ke0.shape[0] > 1) else 0):  # shared ke0: the tables once
            h = class_len[c]
            for q in range(m + 1):
                tau = h if q == m else x[q + 1] * h
                _phis(-k * tau, p_n, ph)
                for p in range(p_n):
                    mom[p] = k * fact[p] * tau ** (p + 1) / h ** p * ph[p]
                for j in range(p_n):
                    acc = 0.0
                    for p in range(p_n):
                        acc += mom[p] * coef[p, j]
                    W[c, q, j] = acc
                E[c, q] = math.exp(-k * tau)
        vals[0] = 0.0
        for g in range(n_seg):
            c = seg_class[g]
            start = vals[seg_src[g]]
            data[0] = edges[i, g, 0]
            for j in range(m):
                data[j + 1] = conc[i, g, j]
            data[m + 1] = edges[i, g, 1]
            for q in range(m + 1):
                acc = E[c, q] * start
                for j in range(p_n):
                    acc += W[c, q, j] * data[j]
                if q < m:
                    nodes[i, g, q] = acc
                else:
                    vals[g + 1] = acc
        for o in range(out_idx.shape[0]):
            out[i, o] = vals[out_idx[o]]
    return nodes, out
