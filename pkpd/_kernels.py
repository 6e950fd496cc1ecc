"""Compiled loops for the hot paths (numba): the one place pkpd imports numba.

Pure numerics on arrays, no pkpd imports: the callers in the stage packages build the
inputs (meshes, weights, parameters) and document the mathematics. The first call of a
kernel compiles it (about a second); numba caches the machine code next to this file.

Parameter arrays have length 1 (shared by every row) or one entry per row. The loops release
the GIL, so chunks computed on threads run in parallel. Kernels marked ``error_model="numpy"``
divide without Python's zero-division check, which lets their loops compile to SIMD code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _pick(a, i):
    return a[0] if a.shape[0] == 1 else a[i]



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


# -- exponential that vectorises ---------------------------------------------------------
# exp(x) = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 in [-ln2/2, ln2/2]: e^r by its
# Taylor polynomial of degree 13 (truncation below 5e-18), 2^k added to the exponent bits.
# A loop of it compiles to SIMD code (math.exp does not, without Intel's SVML), which makes
# the per-patient propagators and weights of the mesh kernels and the normal tails cheap.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 = _LN2_HI + _LN2_LO; k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_EXP_FLOOR = -708.0                   # exp is subnormal below: taken as 0


@njit(cache=True, nogil=True, error_model="numpy")
def vexp(x, out, scratch, n):
    """out[:n] = exp(x[:n]) for x <= 709: relative error below 3e-16; 0 below -708 (where exp is
    subnormal, below 3.3e-308). ``scratch``: a float array of at least n entries."""
    for j in range(n):
        xj = x[j]
        under = xj < _EXP_FLOOR
        xj = max(xj, _EXP_FLOOR)
        k = math.floor(xj * _LOG2E + 0.5)
        r = (xj - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        out[j] = 0.0 if under else p
        scratch[j] = 0.0 if under else k
    bits = out.view(np.int64)
    for j in range(n):
        bits[j] += np.int64(scratch[j]) << 52
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _phi_small(x):
    """(1 - e^-x)/x for 0 <= x <= 0.5 by its Taylor series (truncation below 2e-18)."""
    p = 1.0 / 1307674368000.0
    p = p * -x + 1.0 / 87178291200.0
    p = p * -x + 1.0 / 6227020800.0
    p = p * -x + 1.0 / 479001600.0
    p = p * -x + 1.0 / 39916800.0
    p = p * -x + 1.0 / 3628800.0
    p = p * -x + 1.0 / 362880.0
    p = p * -x + 1.0 / 40320.0
    p = p * -x + 1.0 / 5040.0
    p = p * -x + 1.0 / 720.0
    p = p * -x + 1.0 / 120.0
    p = p * -x + 1.0 / 24.0
    p = p * -x + 1.0 / 6.0
    p = p * -x + 0.5
    return p * -x + 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def _tphi(tau, lam, e):
    """integral_0^tau e^{-lam s} ds = tau phi(lam tau), given e = e^{-lam tau} (lam >= 0)."""
    x = lam * tau
    if x > 0.5:
        return (1.0 - e) / lam
    return tau * _phi_small(x)


@njit(cache=True, nogil=True, error_model="numpy")
def _conv(tau, a, b, ea, eb):
    """integral_0^tau e^{-b (tau - s)} e^{-a s} ds, given ea = e^{-a tau} and eb = e^{-b tau}:
    (eb - ea)/(a - b), or its series form where that cancels (exact when a = b)."""
    diff = a - b
    x = abs(diff) * tau
    if x > 0.5:
        return (eb - ea) / diff
    return tau * (eb if b < a else ea) * _phi_small(x)


# -- linear PK on an integration mesh -----------------------------------------------------
# The mesh kernels run over blocks of BLOCK patients with the patient as the innermost loop,
# so that the arithmetic of a panel runs in SIMD lanes across patients (the mesh is shared).
# Node values are stored node-major, (segment, node, patient). A mesh is given by its classes
# of panel lengths (class_len), the Gauss-Legendre nodes x and weights w on [0, 1], each
# segment's class, side_ptr (side segments n_main.. starting from main point p are
# side_ptr[p]:side_ptr[p + 1]) and value_out (the output at each value index, or -1); value
# index p <= n_main is main point p, 1 + g the end of side segment g.
BLOCK = 64
N_NODE_ENTRIES = 4  # central amount from central, peripheral, depot amounts and a unit central infusion
N_END_ENTRIES = 9   # those, the same four for the peripheral amount, and depot from depot


@njit(cache=True, nogil=True, error_model="numpy")
def _propagators(tau, lo, nb, ka, k10, k12, k21, alpha, beta, two, node, out, xs, e1, e2, e3, scratch):
    """The exact response over tau of each patient's linear system (patients lo .. lo + nb - 1),
    out (entry, lane): see N_NODE_ENTRIES and N_END_ENTRIES (``node``: the first four only).
    The closed forms of pkpd.pk._formulas, in the stable phi-forms (exact when ka equals an
    elimination rate)."""
    for j in range(nb):
        xs[j] = -(alpha[j] if two else k10[lo + j]) * tau
    vexp(xs, e1, scratch, nb)
    for j in range(nb):
        xs[j] = -ka[lo + j] * tau
    vexp(xs, e3, scratch, nb)
    if not two:
        for j in range(nb):
            k, a, ek, ea = k10[lo + j], ka[lo + j], e1[j], e3[j]
            out[0, j] = ek
            out[1, j] = 0.0
            out[2, j] = a * _conv(tau, a, k, ea, ek)
            out[3, j] = _tphi(tau, k, ek)
            if not node:
                out[4, j] = 0.0
                out[5, j] = 0.0
                out[6, j] = 0.0
                out[7, j] = 0.0
                out[8, j] = ea
        return
    for j in range(nb):
        xs[j] = -beta[j] * tau
    vexp(xs, e2, scratch, nb)
    for j in range(nb):
        al, be, a = alpha[j], beta[j], ka[lo + j]
        q12, q21 = k12[lo + j], k21[lo + j]
        ea, eb, eka = e1[j], e2[j], e3[j]
        d = al - be
        g = _conv(tau, al, be, ea, eb)                 # (e^{-beta tau} - e^{-alpha tau}) / d
        ca, cb, pa = (al - q21) / d, (q21 - be) / d, -q12 / d
        ba, bb = _conv(tau, a, al, eka, ea), _conv(tau, a, be, eka, eb)
        ia, ib = _tphi(tau, al, ea), _tphi(tau, be, eb)
        out[0, j] = ea + (q21 - be) * g
        out[1, j] = q21 * g
        out[2, j] = a * (ca * ba + cb * bb)
        out[3, j] = ca * ia + cb * ib
        if not node:
            out[4, j] = q12 * g
            out[5, j] = ea + (al - q21) * g
            out[6, j] = a * pa * (ba - bb)
            out[7, j] = pa * (ia - ib)
            out[8, j] = eka


@njit(cache=True, nogil=True, error_model="numpy")
def _turnover_weights(k, lo, nb, class_len, x, w, W, D, xs, scratch):
    """D[c] = e^{-k h}, W[c, q] = k w_q h e^{-k h (1 - x_q)} per lane (k[lo + j], or k[0] for every
    lane when k has length 1): the exact step of y' = k (u - y) over a panel of length h."""
    shared = k.shape[0] == 1
    for c in range(class_len.shape[0]):
        h = class_len[c]
        for j in range(nb):
            xs[j] = -k[0 if shared else lo + j] * h
        vexp(xs, D[c], scratch, nb)
        for q in range(x.shape[0]):
            for j in range(nb):
                xs[j] = -k[0 if shared else lo + j] * h * (1.0 - x[q])
            vexp(xs, W[c, q], scratch, nb)
            for j in range(nb):
                W[c, q, j] *= k[0 if shared else lo + j] * w[q] * h


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _lanes(a, lo, nb, out):
    """out[:nb] = a[lo:lo + nb], or a[0] in every lane when a has length 1."""
    if a.shape[0] == 1:
        for j in range(nb):
            out[j] = a[0]
    else:
        for j in range(nb):
            out[j] = a[lo + j]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _hill_step(c, nb, m, conc, W, D, c50, c50h, hill, unit, shared, base, amp, y0, y1, acc):
    """y1 = the exact step of y' = k (base + amp f(C) - y) from y0 over a panel of class c, with
    f = C^h/(c50^h + C^h) at the panel's nodes conc (node, lane). ``unit``: every hill is 1;
    ``shared``: so are k, c50, base and amp for every lane (their lane 0 is read)."""
    for j in range(nb):
        acc[j] = 0.0
    for q in range(m):
        if shared:
            wq, cs = W[c, q, 0], c50[0]
            for j in range(nb):
                cj = conc[q, j]
                acc[j] += wq * (cj / (cs + cj))
        elif unit:
            for j in range(nb):
                cj = conc[q, j]
                acc[j] += W[c, q, j] * (cj / (c50[j] + cj))
        else:
            for j in range(nb):
                ch = conc[q, j] ** hill[j]
                acc[j] += W[c, q, j] * (ch / (c50h[j] + ch))
    _turnover_end(c, nb, D, shared, base, amp, y0, y1, acc)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _turnover_end(c, nb, D, shared, base, amp, y0, y1, acc):
    if shared:
        d, b, a = D[c, 0], base[0], amp[0]
        for j in range(nb):
            y1[j] = d * y0[j] + b * (1.0 - d) + a * acc[j]
    else:
        for j in range(nb):
            d = D[c, j]
            y1[j] = d * y0[j] + base[j] * (1.0 - d) + amp[j] * acc[j]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pk_hill_step(c, nb, m, TN, ad, ac, ap, rc, simple, W, D, c50, shared, base, amp, y0, y1, acc):
    """:func:`_pk_step`'s node concentrations and :func:`_hill_step` (hill 1) in one loop per node,
    the concentrations never stored."""
    for j in range(nb):
        acc[j] = 0.0
    for q in range(m):
        if simple and shared:
            wq, cs = W[c, q, 0], c50[0]
            for j in range(nb):
                cj = TN[c, q, 0, j] * ac[j] + TN[c, q, 2, j] * ad[j]
                acc[j] += wq * (cj / (cs + cj))
        elif simple:
            for j in range(nb):
                cj = TN[c, q, 0, j] * ac[j] + TN[c, q, 2, j] * ad[j]
                acc[j] += W[c, q, j] * (cj / (c50[j] + cj))
        else:
            for j in range(nb):
                cj = TN[c, q, 0, j] * ac[j] + TN[c, q, 1, j] * ap[j] + TN[c, q, 2, j] * ad[j] + TN[c, q, 3, j] * rc[j]
                acc[j] += W[c, q, j] * (cj / (c50[j] + cj))
    _turnover_end(c, nb, D, shared, base, amp, y0, y1, acc)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pk_end(c, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1):
    """The amounts at the end of a panel of class c (ad1, ac1, ap1) from those at its start."""
    # One output array per loop: with more, the compiler's run-time overlap checks defeat SIMD.
    if simple:
        for j in range(nb):
            ac1[j] = TE[c, 0, j] * ac[j] + TE[c, 2, j] * ad[j]
    else:
        for j in range(nb):
            ac1[j] = TE[c, 0, j] * ac[j] + TE[c, 1, j] * ap[j] + TE[c, 2, j] * ad[j] + TE[c, 3, j] * rc[j]
        for j in range(nb):
            ap1[j] = TE[c, 4, j] * ac[j] + TE[c, 5, j] * ap[j] + TE[c, 6, j] * ad[j] + TE[c, 7, j] * rc[j]
    for j in range(nb):
        ad1[j] = TE[c, 8, j] * ad[j]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _input_step(c, nb, m, u, W, D, y0, y1):
    """y1 = the exact step of y' = k (u - y) from y0 over a panel of class c, u (node, lane) at its nodes."""
    for j in range(nb):
        y1[j] = D[c, j] * y0[j]
    for q in range(m):
        for j in range(nb):
            y1[j] += W[c, q, j] * u[q, j]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pk_step(c, nb, m, TN, TE, ad, ac, ap, rc, simple, conc, ad1, ac1, ap1):
    """Concentrations at the nodes of a panel of class c, conc (node, lane), and the amounts at
    its end (ad1, ac1, ap1), from the amounts and central infusion rate at its start (TN holds
    the node entries divided by V)."""
    for q in range(m):
        if simple:  # one compartment, no infusion
            for j in range(nb):
                conc[q, j] = TN[c, q, 0, j] * ac[j] + TN[c, q, 2, j] * ad[j]
        else:
            for j in range(nb):
                conc[q, j] = TN[c, q, 0, j] * ac[j] + TN[c, q, 1, j] * ap[j] + TN[c, q, 2, j] * ad[j] + TN[c, q, 3, j] * rc[j]
    _pk_end(c, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _load(values, g, lo, nb, out):
    """out (node, lane) = values[g, :, lo:lo + nb] (node-major values)."""
    for q in range(values.shape[1]):
        for j in range(nb):
            out[q, j] = values[g, q, lo + j]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _store(conc, g, lo, nb, values):
    for q in range(conc.shape[0]):
        for j in range(nb):
            values[g, q, lo + j] = conc[q, j]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _write(o, lo, nb, y, scale, out):
    """out[lo + j, o] = y[j] * scale[j]."""
    for j in range(nb):
        out[lo + j, o] = y[j] * scale[j]


@njit(cache=True, nogil=True, error_model="numpy")
def linear_mesh(ka, k10, k12, k21, inv_v, two, infusions, class_len, x, w, seg_class, side_ptr, n_main, value_out,
                has_event, ev_point, ev_kind, ev_amount, nodes, edges, out_conc,
                k, base, amp, c50, hill, y0, out_y):
    """A linear PK model's concentrations (mg/L) along an integration mesh, and optionally the exact
    solution of y' = k (base + amp C^h/(c50^h + C^h) - y), y(0) = y0, in the same pass.

    Per patient: first-order rates ka, k10, k12, k21 (1/day; ``two``: two compartments) and
    1/V. Events per patient, in time order: ev_point (value index of their mesh point), ev_kind
    (0 depot bolus, 1 central bolus, 2 change of the central infusion rate, -1 none), ev_amount
    (mg or mg/day); has_event[p]: any patient has one at main point p; ``infusions``: some do.
    Outputs: out_conc (patient, output); nodes (segment, node, patient) and edges (segment, 2,
    patient: C at each segment's start, after any dose there, and end, before any dose at the
    next point) when they are not empty; the response out_y (patient, output) when it is not
    empty (parameters and y0 of length 1 or one per patient).
    """
    n = inv_v.shape[0]
    C, m = class_len.shape[0], x.shape[0]
    B = BLOCK
    store, respond = nodes.shape[0] > 0, out_y.shape[0] > 0
    simple = not two and not infusions
    unit = True
    for v in hill:
        unit = unit and v == 1.0
    shared = unit and k.shape[0] == 1 and c50.shape[0] == 1 and base.shape[0] == 1 and amp.shape[0] == 1
    fuse = respond and unit and not store  # node concentrations used in registers only
    TN = np.zeros((C, m, N_NODE_ENTRIES, B))
    TE = np.zeros((C, N_END_ENTRIES, B))
    W = np.empty((C, m, B))
    D = np.empty((C, B))
    xs, e1, e2, e3, scratch = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    alpha, beta, iv = np.zeros(B), np.zeros(B), np.empty(B)
    ad, ac, ap, rc = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    ad1, ac1, ap1 = np.empty(B), np.empty(B), np.empty(B)
    y, y1, acc = np.empty(B), np.empty(B), np.empty(B)
    c50b, c50h, hillb, baseb, ampb = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    conc = np.empty((m, B))
    ptr = np.zeros(B, np.int64)
    n_ev = ev_kind.shape[1]
    T = out_conc.shape[1]
    OC = np.empty((T, B))
    OY = np.empty((T if respond else 0, B))
    if respond and k.shape[0] == 1:
        _turnover_weights(k, 0, B, class_len, x, w, W, D, xs, scratch)
    for lo in range(0, n, B):
        nb = min(B, n - lo)
        _lanes(inv_v, lo, nb, iv)
        if two:
            for j in range(nb):
                s = k10[lo + j] + k12[lo + j] + k21[lo + j]
                alpha[j] = 0.5 * (s + math.sqrt(s * s - 4.0 * k10[lo + j] * k21[lo + j]))
                beta[j] = k10[lo + j] * k21[lo + j] / alpha[j]
        for c in range(C):
            h = class_len[c]
            for q in range(m):
                _propagators(x[q] * h, lo, nb, ka, k10, k12, k21, alpha, beta, two, True, TN[c, q], xs, e1, e2, e3,
                             scratch)
                for e in range(N_NODE_ENTRIES):  # node entries give concentrations: divided by V once here
                    for j in range(nb):
                        TN[c, q, e, j] *= iv[j]
            _propagators(h, lo, nb, ka, k10, k12, k21, alpha, beta, two, False, TE[c], xs, e1, e2, e3, scratch)
        if respond:
            if k.shape[0] > 1:
                _turnover_weights(k, lo, nb, class_len, x, w, W, D, xs, scratch)
            _lanes(c50, lo, nb, c50b)
            _lanes(hill, lo, nb, hillb)
            _lanes(base, lo, nb, baseb)
            _lanes(amp, lo, nb, ampb)
            _lanes(y0, lo, nb, y)
            for j in range(nb):
                c50h[j] = c50b[j] ** hillb[j]
        for j in range(nb):
            ad[j] = 0.0
            ac[j] = 0.0
            ap[j] = 0.0
            ap1[j] = 0.0  # one compartment: the peripheral amount stays 0
            rc[j] = 0.0
            ptr[j] = 0
        for p in range(n_main + 1):
            if has_event[p]:
                for j in range(nb):
                    i, e = lo + j, ptr[j]
                    while e < n_ev and ev_point[i, e] <= p:
                        if ev_point[i, e] == p:
                            kind = ev_kind[i, e]
                            if kind == 0:
                                ad[j] += ev_amount[i, e]
                            elif kind == 1:
                                ac[j] += ev_amount[i, e]
                            elif kind == 2:
                                rc[j] += ev_amount[i, e]
                        e += 1
                    ptr[j] = e
            o = value_out[p]
            if o >= 0:
                for j in range(nb):
                    OC[o, j] = ac[j] * iv[j]
                if respond:
                    for j in range(nb):
                        OY[o, j] = y[j]
            for g in range(side_ptr[p], side_ptr[p + 1]):  # side segments from point p to their output
                c = seg_class[g]
                if fuse:
                    _pk_end(c, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1)
                else:
                    _pk_step(c, nb, m, TN, TE, ad, ac, ap, rc, simple, conc, ad1, ac1, ap1)
                if store:
                    _store(conc, g, lo, nb, nodes)
                    for j in range(nb):
                        edges[g, 0, lo + j] = ac[j] * iv[j]
                        edges[g, 1, lo + j] = ac1[j] * iv[j]
                o = value_out[g + 1]
                if o >= 0:
                    for j in range(nb):
                        OC[o, j] = ac1[j] * iv[j]
                    if fuse:
                        _pk_hill_step(c, nb, m, TN, ad, ac, ap, rc, simple, W, D, c50b, shared, baseb, ampb, y, y1, acc)
                    elif respond:
                        _hill_step(c, nb, m, conc, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
                    if respond:
                        for j in range(nb):
                            OY[o, j] = y1[j]
            if p == n_main:
                break
            c = seg_class[p]
            if fuse:
                _pk_hill_step(c, nb, m, TN, ad, ac, ap, rc, simple, W, D, c50b, shared, baseb, ampb, y, y1, acc)
                _pk_end(c, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1)
                y, y1 = y1, y
            else:
                _pk_step(c, nb, m, TN, TE, ad, ac, ap, rc, simple, conc, ad1, ac1, ap1)
                if store:
                    _store(conc, p, lo, nb, nodes)
                    for j in range(nb):
                        edges[p, 0, lo + j] = ac[j] * iv[j]
                        edges[p, 1, lo + j] = ac1[j] * iv[j]
                if respond:
                    _hill_step(c, nb, m, conc, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
                    y, y1 = y1, y
            ad, ad1 = ad1, ad
            ac, ac1 = ac1, ac
            ap, ap1 = ap1, ap
        for j in range(nb):
            for o in range(T):
                out_conc[lo + j, o] = OC[o, j]
        if respond:
            for j in range(nb):
                for o in range(T):
                    out_y[lo + j, o] = OY[o, j]
    return out_conc


@njit(cache=True, nogil=True, error_model="numpy")
def first_order_hill(nodes, class_len, x, w, seg_class, side_ptr, n_main, value_out, k, base, amp, c50, hill, y0,
                     out):
    """y' = k (base + amp C^h/(c50^h + C^h) - y), y(0) = y0, exact up to the quadrature, for the
    concentrations at a mesh's nodes (segment, node, patient); out (patient, output).
    Parameters and y0 have length 1 or one per patient."""
    G, m, n = nodes.shape
    B = BLOCK
    C = class_len.shape[0]
    unit = True
    for v in hill:
        unit = unit and v == 1.0
    shared = unit and k.shape[0] == 1 and c50.shape[0] == 1 and base.shape[0] == 1 and amp.shape[0] == 1
    W, D = np.empty((C, m, B)), np.empty((C, B))
    xs, scratch = np.empty(B), np.empty(B)
    c50b, c50h, hillb, baseb, ampb = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    y, y1, ys, acc, ones = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.ones(B)
    conc = np.empty((m, B))
    if k.shape[0] == 1:
        _turnover_weights(k, 0, B, class_len, x, w, W, D, xs, scratch)
    for lo in range(0, n, B):
        nb = min(B, n - lo)
        if k.shape[0] > 1:
            _turnover_weights(k, lo, nb, class_len, x, w, W, D, xs, scratch)
        _lanes(c50, lo, nb, c50b)
        _lanes(hill, lo, nb, hillb)
        _lanes(base, lo, nb, baseb)
        _lanes(amp, lo, nb, ampb)
        _lanes(y0, lo, nb, y)
        for j in range(nb):
            c50h[j] = c50b[j] ** hillb[j]
        for p in range(n_main + 1):
            if value_out[p] >= 0:
                _write(value_out[p], lo, nb, y, ones, out)
            for g in range(side_ptr[p], side_ptr[p + 1]):
                if value_out[g + 1] >= 0:
                    _load(nodes, g, lo, nb, conc)
                    _hill_step(seg_class[g], nb, m, conc, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, ys, acc)
                    _write(value_out[g + 1], lo, nb, ys, ones, out)
            if p == n_main:
                break
            _load(nodes, p, lo, nb, conc)
            _hill_step(seg_class[p], nb, m, conc, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
            y, y1 = y1, y
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def first_order_hill_draws(nodes, class_len, x, w, seg_class, side_ptr, n_main, value_out, k, base, amp, c50, hill,
                           y0, out):
    """:func:`first_order_hill` for many parameter sets, k, base, amp, c50, hill of shape (draw,),
    sharing the concentrations; out (draw, patient, output)."""
    G, m, n = nodes.shape
    B = BLOCK
    C = class_len.shape[0]
    W, D = np.empty((C, m, B)), np.empty((C, B))
    xs, scratch = np.empty(B), np.empty(B)
    c50b, c50h, hillb, baseb, ampb = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    y, y1, ys, acc, ones = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.ones(B)
    conc = np.empty((m, B))
    for d in range(k.shape[0]):
        _turnover_weights(k[d:d + 1], 0, B, class_len, x, w, W, D, xs, scratch)
        unit = hill[d] == 1.0
        shared = unit
        for j in range(B):
            c50b[j], hillb[j], baseb[j], ampb[j] = c50[d], hill[d], base[d], amp[d]
            c50h[j] = c50[d] ** hill[d]
        outd = out[d]
        for lo in range(0, n, B):
            nb = min(B, n - lo)
            for j in range(nb):
                y[j] = y0
            for p in range(n_main + 1):
                if value_out[p] >= 0:
                    _write(value_out[p], lo, nb, y, ones, outd)
                for g in range(side_ptr[p], side_ptr[p + 1]):
                    if value_out[g + 1] >= 0:
                        _load(nodes, g, lo, nb, conc)
                        _hill_step(seg_class[g], nb, m, conc, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, ys, acc)
                        _write(value_out[g + 1], lo, nb, ys, ones, outd)
                if p == n_main:
                    break
                _load(nodes, p, lo, nb, conc)
                _hill_step(seg_class[p], nb, m, conc, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
                y, y1 = y1, y
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def first_order(u, class_len, x, w, seg_class, side_ptr, n_main, value_out, k, y0, out):
    """y' = k (u(t) - y), y(0) = y0, for an input given at a mesh's nodes, u (segment, node, patient);
    k and y0 of length 1 or one per patient; out (patient, output)."""
    G, m, n = u.shape
    B = BLOCK
    C = class_len.shape[0]
    W, D = np.empty((C, m, B)), np.empty((C, B))
    xs, scratch = np.empty(B), np.empty(B)
    y, y1, ys, ones = np.empty(B), np.empty(B), np.empty(B), np.ones(B)
    vals = np.empty((m, B))
    if k.shape[0] == 1:
        _turnover_weights(k, 0, B, class_len, x, w, W, D, xs, scratch)
    for lo in range(0, n, B):
        nb = min(B, n - lo)
        if k.shape[0] > 1:
            _turnover_weights(k, lo, nb, class_len, x, w, W, D, xs, scratch)
        _lanes(y0, lo, nb, y)
        for p in range(n_main + 1):
            if value_out[p] >= 0:
                _write(value_out[p], lo, nb, y, ones, out)
            for g in range(side_ptr[p], side_ptr[p + 1]):
                if value_out[g + 1] >= 0:
                    _load(u, g, lo, nb, vals)
                    _input_step(seg_class[g], nb, m, vals, W, D, y, ys)
                    _write(value_out[g + 1], lo, nb, ys, ones, out)
            if p == n_main:
                break
            _load(u, p, lo, nb, vals)
            _input_step(seg_class[p], nb, m, vals, W, D, y, y1)
            y, y1 = y1, y
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
def _effect_tables(k, class_len, xs, coef, W, E):
    """W (class, m + 1, m + 2), E (class, m + 1): the exponential integrator's weights of the
    interpolation data and of the start value, at each node offset and at the panel end."""
    m = xs.shape[0] - 2
    p_n = m + 2
    mom, ph, fact = np.empty(p_n), np.empty(p_n), np.empty(p_n)
    f = 1.0
    for p in range(p_n):
        fact[p] = f
        f *= p + 1
    for c in range(class_len.shape[0]):
        h = class_len[c]
        for q in range(m + 1):
            tau = h if q == m else xs[q + 1] * h
            _phis(-k * tau, p_n, ph)
            for p in range(p_n):
                mom[p] = k * fact[p] * tau ** (p + 1) / h ** p * ph[p]
            for j in range(p_n):
                acc = 0.0
                for p in range(p_n):
                    acc += mom[p] * coef[p, j]
                W[c, q, j] = acc
            E[c, q] = math.exp(-k * tau)


@njit(cache=True, nogil=True, error_model="numpy")
def effect_site(conc, edges, class_len, xs, coef, seg_class, side_ptr, n_main, value_out, ke0, nodes, out):
    """C_e' = ke0 (C - C_e), C_e(0) = 0, with C the interpolating polynomial of each segment's
    start, node and end values (conc (segment, node, patient), edges (segment, 2, patient)): an
    exponential integrator (see pkpd.response.Trajectory.effect_site). xs (m + 2,) the
    interpolation points on [0, 1] (0, the nodes, 1), coef (m + 2, m + 2) monomial coefficients
    of their Lagrange polynomials. nodes (segment, node, patient): C_e at the nodes; out
    (patient, output)."""
    G, m, n = conc.shape
    p_n = m + 2
    C = class_len.shape[0]
    B = BLOCK
    W, E = np.empty((C, m + 1, p_n)), np.empty((C, m + 1))
    WL, EL = np.empty((C, m + 1, p_n, B)), np.empty((C, m + 1, B))
    data = np.empty((p_n, B))
    y, ys, y1, ones = np.empty(B), np.empty(B), np.empty(B), np.ones(B)
    shared = ke0.shape[0] == 1
    for lo in range(0, n, B):
        nb = min(B, n - lo)
        for j in range(B if (shared and lo == 0) else (0 if shared else nb)):  # shared ke0: the tables once
            if j == 0 or not shared:
                _effect_tables(ke0[0 if shared else lo + j], class_len, xs, coef, W, E)
            for c in range(C):
                for q in range(m + 1):
                    EL[c, q, j] = E[c, q]
                    for i in range(p_n):
                        WL[c, q, i, j] = W[c, q, i]
        for j in range(nb):
            y[j] = 0.0
        for p in range(n_main + 1):
            if value_out[p] >= 0:
                _write(value_out[p], lo, nb, y, ones, out)
            for g in range(side_ptr[p], side_ptr[p + 1] + (0 if p == n_main else 1)):
                seg = p if g == side_ptr[p + 1] else g  # the side segments from p, then main segment p
                c = seg_class[seg]
                for j in range(nb):
                    data[0, j] = edges[seg, 0, lo + j]
                    data[p_n - 1, j] = edges[seg, 1, lo + j]
                for q in range(m):
                    for j in range(nb):
                        data[q + 1, j] = conc[seg, q, lo + j]
                for q in range(m + 1):
                    target = ys if q == m else y1
                    for j in range(nb):
                        target[j] = EL[c, q, j] * y[j]
                    for i in range(p_n):
                        for j in range(nb):
                            target[j] += WL[c, q, i, j] * data[i, j]
                    if q < m:
                        for j in range(nb):
                            nodes[seg, q, lo + j] = y1[j]
                if seg == p:
                    y, ys = ys, y
                elif value_out[seg + 1] >= 0:
                    _write(value_out[seg + 1], lo, nb, ys, ones, out)
    return nodes, out


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
