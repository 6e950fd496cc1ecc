"""Compiled loops for the hot paths (numba): the one place pkpd imports numba.

Pure numerics on arrays, no pkpd imports: the callers in the stage packages build the
inputs (meshes, weights, parameters) and document the mathematics. The first call of a
kernel compiles it (about a second); numba caches the machine code next to this file.

Parameter arrays have length 1 (shared by every row) or one entry per row. The loops release
the GIL, so chunks computed on threads run in parallel. Kernels marked ``error_model="numpy"``
divide without Python's zero-division check, which lets their loops compile to SIMD code, and
``fastmath={"contract"}`` lets a multiply and an add fuse into one correctly rounded step (no
other reassociation).
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


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
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


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
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


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _tphi(tau, lam, e):
    """integral_0^tau e^{-lam s} ds = tau phi(lam tau), given e = e^{-lam tau} (lam >= 0)."""
    x = lam * tau
    if x > 0.5:
        return (1.0 - e) / lam
    return tau * _phi_small(x)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
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
# Node values are stored block-major, (block, segment, node, lane): patient lo + j of block
# lo // BLOCK is lane j, and every loop over lanes reads and writes contiguous memory. Per-patient
# parameters are copied into lane arrays once per block. A mesh is given by its classes of
# panel lengths (class_len), the Gauss-Legendre nodes x and weights w on [0, 1], each
# segment's class, side_ptr (side segments n_main.. starting from main point p are
# side_ptr[p]:side_ptr[p + 1]) and value_out (the output at each value index, or -1); value
# index p <= n_main is main point p, 1 + g the end of side segment g.
BLOCK = 64
N_NODE_ENTRIES = 4  # central amount from central, peripheral, depot amounts and a unit central infusion
N_END_ENTRIES = 9   # those, the same four for the peripheral amount, and depot from depot


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _lanes(a, lo, nb, out):
    """out[:nb] = a[lo:lo + nb], or a[0] in every lane when a has length 1."""
    if a.shape[0] == 1:
        for j in range(nb):
            out[j] = a[0]
    else:
        out[:nb] = a[lo:lo + nb]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _propagators(tau, nb, ka, k10, k12, k21, alpha, beta, two, infusions, node, out, work):
    """The exact response over tau of each lane's linear system (rate constants ka, k10, k12, k21
    and the two-compartment alpha, beta, per lane), out (entry, lane): see N_NODE_ENTRIES and
    N_END_ENTRIES (``node``: the first four only; without ``infusions`` the responses to an
    infusion rate are 0). The closed forms of pkpd.pk._formulas, in the stable phi-forms (exact
    when ka equals an elimination rate). ``work``: scratch (8, BLOCK). Each loop writes one array,
    so that all of them compile to SIMD code."""
    xs, e1, e2, e3, scratch = work[0], work[1], work[2], work[3], work[4]
    for j in range(nb):
        xs[j] = -(alpha[j] if two else k10[j]) * tau
    vexp(xs, e1, scratch, nb)
    for j in range(nb):
        xs[j] = -ka[j] * tau
    vexp(xs, e3, scratch, nb)
    if not two:
        for j in range(nb):
            out[0, j] = e1[j]
        for j in range(nb):
            out[1, j] = 0.0
        for j in range(nb):
            out[2, j] = ka[j] * _conv(tau, ka[j], k10[j], e3[j], e1[j])
        for j in range(nb):
            out[3, j] = _tphi(tau, k10[j], e1[j]) if infusions else 0.0
        if not node:
            for e in range(4, 8):
                for j in range(nb):
                    out[e, j] = 0.0
            for j in range(nb):
                out[8, j] = e3[j]
        return
    for j in range(nb):
        xs[j] = -beta[j] * tau
    vexp(xs, e2, scratch, nb)
    g, ba, bb, ia, ib = work[5], work[6], work[7], xs, scratch
    for j in range(nb):
        g[j] = _conv(tau, alpha[j], beta[j], e1[j], e2[j])  # (e^{-beta tau} - e^{-alpha tau}) / (alpha - beta)
    # depot into the modes (ba, bb) and the infusion terms (ia, ib); with d = alpha - beta, central
    # from depot = ka (ca ba + cb bb), ca = (alpha - k21)/d, cb = (k21 - beta)/d
    for j in range(nb):
        ba[j] = _conv(tau, ka[j], alpha[j], e3[j], e1[j])
    for j in range(nb):
        bb[j] = _conv(tau, ka[j], beta[j], e3[j], e2[j])
    for j in range(nb):
        ia[j] = _tphi(tau, alpha[j], e1[j])
    for j in range(nb):
        ib[j] = _tphi(tau, beta[j], e2[j])
    for j in range(nb):
        out[0, j] = e1[j] + (k21[j] - beta[j]) * g[j]
    for j in range(nb):
        out[1, j] = k21[j] * g[j]
    for j in range(nb):
        out[2, j] = ka[j] * ((alpha[j] - k21[j]) * ba[j] + (k21[j] - beta[j]) * bb[j]) / (alpha[j] - beta[j])
    for j in range(nb):
        out[3, j] = ((alpha[j] - k21[j]) * ia[j] + (k21[j] - beta[j]) * ib[j]) / (alpha[j] - beta[j]) \
            if infusions else 0.0
    if not node:
        for j in range(nb):
            out[4, j] = k12[j] * g[j]
        for j in range(nb):
            out[5, j] = e1[j] + (alpha[j] - k21[j]) * g[j]
        for j in range(nb):
            out[6, j] = -ka[j] * k12[j] * (ba[j] - bb[j]) / (alpha[j] - beta[j])
        for j in range(nb):
            out[7, j] = -k12[j] * (ia[j] - ib[j]) / (alpha[j] - beta[j]) if infusions else 0.0
        for j in range(nb):
            out[8, j] = e3[j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _block_tables(lo, nb, ka, k10, k12, k21, inv_v, two, infusions, class_len, x, TN, TE, lanes, work):
    """The propagators of patients lo .. lo + nb - 1 for every class of panel lengths: TN (class,
    node, N_NODE_ENTRIES, lane) at the node offsets, divided by V (they give concentrations),
    and TE (class, N_END_ENTRIES, lane) over the whole panel. ``lanes``: scratch (7, BLOCK)."""
    la, l10, l12, l21, iv, alpha, beta = lanes[0], lanes[1], lanes[2], lanes[3], lanes[4], lanes[5], lanes[6]
    _lanes(ka, lo, nb, la)
    _lanes(k10, lo, nb, l10)
    _lanes(k12, lo, nb, l12)
    _lanes(k21, lo, nb, l21)
    _lanes(inv_v, lo, nb, iv)
    if two:
        for j in range(nb):
            s = l10[j] + l12[j] + l21[j]
            alpha[j] = 0.5 * (s + math.sqrt(s * s - 4.0 * l10[j] * l21[j]))
        for j in range(nb):
            beta[j] = l10[j] * l21[j] / alpha[j]
    for c in range(class_len.shape[0]):
        h = class_len[c]
        for q in range(x.shape[0]):
            _propagators(x[q] * h, nb, la, l10, l12, l21, alpha, beta, two, infusions, True, TN[c, q], work)
            for e in range(N_NODE_ENTRIES):
                for j in range(nb):
                    TN[c, q, e, j] *= iv[j]
        _propagators(h, nb, la, l10, l12, l21, alpha, beta, two, infusions, False, TE[c], work)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def linear_tables(ka, k10, k12, k21, inv_v, two, infusions, class_len, x, TN, TE):
    """:func:`_block_tables` for every block of BLOCK patients: TN (block, class, node,
    N_NODE_ENTRIES, lane), TE (block, class, N_END_ENTRIES, lane). Meshes that share patients
    and panel lengths share them (:func:`linear_mesh`)."""
    work, lanes = np.empty((8, BLOCK)), np.zeros((7, BLOCK))
    for b in range(TN.shape[0]):
        lo = b * BLOCK
        _block_tables(lo, min(BLOCK, inv_v.shape[0] - lo), ka, k10, k12, k21, inv_v, two, infusions, class_len, x,
                      TN[b], TE[b], lanes, work)
    return TN, TE


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _turnover_weights(k, nb, class_len, x, w, W, D, xs, scratch):
    """D[c] = e^{-k h}, W[c, q] = k w_q h e^{-k h (1 - x_q)} for each lane's k: the exact step of
    y' = k (u - y) over a panel of length h."""
    for c in range(class_len.shape[0]):
        h = class_len[c]
        for j in range(nb):
            xs[j] = -k[j] * h
        vexp(xs, D[c], scratch, nb)
        for q in range(x.shape[0]):
            for j in range(nb):
                xs[j] = -k[j] * h * (1.0 - x[q])
            vexp(xs, W[c, q], scratch, nb)
            for j in range(nb):
                W[c, q, j] *= k[j] * w[q] * h


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _hill_step(c, nb, m, V, g, W, D, c50, c50h, hill, unit, shared, base, amp, y0, y1, acc):
    """y1 = the exact step of y' = k (base + amp f(C) - y) from y0 over a panel of class c, with
    f = C^h/(c50^h + C^h) at the panel's nodes, C = V[g, node, lane]. ``unit``: every hill is 1;
    ``shared``: k, c50, hill, base and amp are the same for every lane (lane 0 of them and of W
    and D is read)."""
    for j in range(nb):
        acc[j] = 0.0
    for q in range(m):
        if shared and unit:
            wq, cs = W[c, q, 0], c50[0]
            for j in range(nb):
                cj = V[g, q, j]
                acc[j] += wq * (cj / (cs + cj))
        elif shared:
            wq, hs, chs = W[c, q, 0], hill[0], c50h[0]
            for j in range(nb):
                ch = V[g, q, j] ** hs
                acc[j] += wq * (ch / (chs + ch))
        elif unit:
            for j in range(nb):
                cj = V[g, q, j]
                acc[j] += W[c, q, j] * (cj / (c50[j] + cj))
        else:
            for j in range(nb):
                ch = V[g, q, j] ** hill[j]
                acc[j] += W[c, q, j] * (ch / (c50h[j] + ch))
    _turnover_end(c, nb, D, shared, base, amp, y0, y1, acc)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _turnover_end(c, nb, D, shared, base, amp, y0, y1, acc):
    if shared:
        d, b, a = D[c, 0], base[0], amp[0]
        for j in range(nb):
            y1[j] = d * y0[j] + b * (1.0 - d) + a * acc[j]
    else:
        for j in range(nb):
            d = D[c, j]
            y1[j] = d * y0[j] + base[j] * (1.0 - d) + amp[j] * acc[j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _pk_hill_step(ct, c, nb, m, TN, ad, ac, ap, rc, simple, W, D, c50, shared, base, amp, y0, y1, acc):
    """:func:`_pk_step`'s node concentrations (table class ct) and :func:`_hill_step` (class c, hill 1)
    in one loop per node, the concentrations never stored."""
    for j in range(nb):
        acc[j] = 0.0
    for q in range(m):
        if simple and shared:
            wq, cs = W[c, q, 0], c50[0]
            for j in range(nb):
                cj = TN[ct, q, 0, j] * ac[j] + TN[ct, q, 2, j] * ad[j]
                acc[j] += wq * (cj / (cs + cj))
        elif simple:
            for j in range(nb):
                cj = TN[ct, q, 0, j] * ac[j] + TN[ct, q, 2, j] * ad[j]
                acc[j] += W[c, q, j] * (cj / (c50[j] + cj))
        else:
            for j in range(nb):
                cj = (TN[ct, q, 0, j] * ac[j] + TN[ct, q, 1, j] * ap[j] + TN[ct, q, 2, j] * ad[j]
                      + TN[ct, q, 3, j] * rc[j])
                acc[j] += W[c, q, j] * (cj / (c50[j] + cj))
    _turnover_end(c, nb, D, shared, base, amp, y0, y1, acc)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
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


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _pk_step(c, nb, m, TN, TE, ad, ac, ap, rc, simple, V, g, ad1, ac1, ap1):
    """Concentrations at the nodes of a panel of class c into V[g] (node, lane), and the amounts at
    its end (ad1, ac1, ap1), from the amounts and central infusion rate at its start (TN holds
    the node entries divided by V)."""
    for q in range(m):
        if simple:  # one compartment, no infusion
            for j in range(nb):
                V[g, q, j] = TN[c, q, 0, j] * ac[j] + TN[c, q, 2, j] * ad[j]
        else:
            for j in range(nb):
                V[g, q, j] = TN[c, q, 0, j] * ac[j] + TN[c, q, 1, j] * ap[j] + TN[c, q, 2, j] * ad[j] + TN[c, q, 3, j] * rc[j]
    _pk_end(c, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _input_step(c, nb, m, U, g, W, D, y0, y1):
    """y1 = the exact step of y' = k (u - y) from y0 over a panel of class c, u = U[g, node, lane]."""
    for j in range(nb):
        y1[j] = D[c, j] * y0[j]
    for q in range(m):
        for j in range(nb):
            y1[j] += W[c, q, j] * U[g, q, j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _unload(buf, lo, nb, out):
    """out[lo + j, :] = buf[:, j]: a block's outputs (output, lane) into the rows of out."""
    for j in range(nb):
        for o in range(buf.shape[0]):
            out[lo + j, o] = buf[o, j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def linear_mesh(ka, k10, k12, k21, inv_v, two, infusions, class_len, x, w, seg_class, side_ptr, n_main, value_out,
                has_event, ev_point, ev_kind, ev_amount, tables_n, tables_e, class_map, who, nodes, edges, out_conc,
                k, base, amp, c50, hill, y0, out_y):
    """A linear PK model's concentrations (mg/L) along an integration mesh, and optionally the exact
    solution of y' = k (base + amp C^h/(c50^h + C^h) - y), y(0) = y0, in the same pass.

    Per patient: first-order rates ka, k10, k12, k21 (1/day; ``two``: two compartments) and
    1/V. Events per patient, in time order: ev_point (value index of their mesh point), ev_kind
    (0 depot bolus, 1 central bolus, 2 change of the central infusion rate, -1 none), ev_amount
    (mg or mg/day); has_event[p]: any patient has one at main point p; ``infusions``: some do.
    Outputs: out_conc (patient, output); nodes (block, segment, node, lane) and edges (block,
    segment, 2, lane: C at each segment's start, after any dose there, and end, before any dose
    at the next point) when they are not empty; the response out_y (patient, output) when it is
    not empty (parameters and y0 of length 1 or one per patient). The propagators are computed
    block by block, or taken from tables_n and tables_e (:func:`linear_tables`) when these are
    not empty, class c of this mesh being class class_map[c] of the tables. When ``who`` is not
    empty, row i reads the tables of their patient who[i] (several rows, the dosing histories
    of one patient, share them): a block's lanes are gathered from the tables (the rates and
    1/V are then given per row).
    """
    n = inv_v.shape[0]
    C, m = class_len.shape[0], x.shape[0]
    B = BLOCK
    store, respond = nodes.shape[0] > 0, out_y.shape[0] > 0
    simple = not two and not infusions
    unit = True
    for v in hill:
        unit = unit and v == 1.0
    shared = k.shape[0] == 1 and c50.shape[0] == 1 and hill.shape[0] == 1 and base.shape[0] == 1 and amp.shape[0] == 1
    fuse = respond and unit and not store  # node concentrations used in registers only
    given = tables_n.shape[0] > 0
    gather = given and who.shape[0] > 0
    lookup = given and not gather  # a block's tables read in place, through class_map
    TN = np.zeros((0 if lookup else C, m, N_NODE_ENTRIES, B))
    TE = np.zeros((0 if lookup else C, N_END_ENTRIES, B))
    W, D = np.empty((C, m, B)), np.empty((C, B))
    xs, scratch = np.empty(B), np.empty(B)
    work, lanes = np.empty((8, B)), np.zeros((7, B))
    iv, kl = np.empty(B), np.empty(B)
    ad, ac, ap, rc = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    ad1, ac1, ap1 = np.empty(B), np.empty(B), np.empty(B)
    y, y1, acc = np.empty(B), np.empty(B), np.empty(B)
    c50b, c50h, hillb, baseb, ampb = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    conc = np.empty((1, m, B))
    ptr = np.zeros(B, np.int64)
    n_ev = ev_kind.shape[1]
    T = out_conc.shape[1]
    OC = np.empty((T, B))
    OY = np.empty((T if respond else 0, B))
    if respond and k.shape[0] == 1:
        _lanes(k, 0, B, kl)
        _turnover_weights(kl, B, class_len, x, w, W, D, xs, scratch)
    for b in range((n + B - 1) // B):
        lo = b * B
        nb = min(B, n - lo)
        _lanes(inv_v, lo, nb, iv)
        if gather:
            for j in range(nb):
                tb, tl = who[lo + j] // B, who[lo + j] % B
                for c in range(C):
                    ct = class_map[c]
                    for q in range(m):
                        for e in range(N_NODE_ENTRIES):
                            TN[c, q, e, j] = tables_n[tb, ct, q, e, tl]
                    for e in range(N_END_ENTRIES):
                        TE[c, e, j] = tables_e[tb, ct, e, tl]
        elif lookup:
            TN, TE = tables_n[b], tables_e[b]
        else:
            _block_tables(lo, nb, ka, k10, k12, k21, inv_v, two, infusions, class_len, x, TN, TE, lanes, work)
        V = nodes[b] if store else conc
        EG = edges[b] if store else conc
        if respond:
            if k.shape[0] > 1:
                _lanes(k, lo, nb, kl)
                _turnover_weights(kl, nb, class_len, x, w, W, D, xs, scratch)
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
                ct = class_map[c] if lookup else c
                gv = g if store else 0
                if fuse:
                    _pk_end(ct, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1)
                else:
                    _pk_step(ct, nb, m, TN, TE, ad, ac, ap, rc, simple, V, gv, ad1, ac1, ap1)
                if store:
                    for j in range(nb):
                        EG[g, 0, j] = ac[j] * iv[j]
                    for j in range(nb):
                        EG[g, 1, j] = ac1[j] * iv[j]
                o = value_out[g + 1]
                if o >= 0:
                    for j in range(nb):
                        OC[o, j] = ac1[j] * iv[j]
                    if fuse:
                        _pk_hill_step(ct, c, nb, m, TN, ad, ac, ap, rc, simple, W, D, c50b, shared, baseb, ampb, y, y1,
                                      acc)
                    elif respond:
                        _hill_step(c, nb, m, V, gv, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
                    if respond:
                        for j in range(nb):
                            OY[o, j] = y1[j]
            if p == n_main:
                break
            c = seg_class[p]
            ct = class_map[c] if lookup else c
            if fuse:
                _pk_hill_step(ct, c, nb, m, TN, ad, ac, ap, rc, simple, W, D, c50b, shared, baseb, ampb, y, y1, acc)
                _pk_end(ct, nb, TE, ad, ac, ap, rc, simple, ad1, ac1, ap1)
                y, y1 = y1, y
            else:
                gv = p if store else 0
                _pk_step(ct, nb, m, TN, TE, ad, ac, ap, rc, simple, V, gv, ad1, ac1, ap1)
                if store:
                    for j in range(nb):
                        EG[p, 0, j] = ac[j] * iv[j]
                    for j in range(nb):
                        EG[p, 1, j] = ac1[j] * iv[j]
                if respond:
                    _hill_step(c, nb, m, V, gv, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
                    y, y1 = y1, y
            ad, ad1 = ad1, ad
            ac, ac1 = ac1, ac
            ap, ap1 = ap1, ap
        _unload(OC, lo, nb, out_conc)
        if respond:
            _unload(OY, lo, nb, out_y)
    return out_conc


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def first_order_hill(nodes, n, class_len, x, w, seg_class, side_ptr, n_main, value_out, k, base, amp, c50, hill, y0,
                     out):
    """y' = k (base + amp C^h/(c50^h + C^h) - y), y(0) = y0, exact up to the quadrature, for the
    concentrations at a mesh's nodes (block, segment, node, lane) of n patients; out (patient,
    output). Parameters and y0 have length 1 or one per patient."""
    m = x.shape[0]
    B = BLOCK
    C = class_len.shape[0]
    T = out.shape[1]
    unit = True
    for v in hill:
        unit = unit and v == 1.0
    shared = k.shape[0] == 1 and c50.shape[0] == 1 and hill.shape[0] == 1 and base.shape[0] == 1 and amp.shape[0] == 1
    W, D = np.empty((C, m, B)), np.empty((C, B))
    xs, scratch, kl = np.empty(B), np.empty(B), np.empty(B)
    c50b, c50h, hillb, baseb, ampb = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    y, y1, ys, acc = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    OY = np.empty((T, B))
    if k.shape[0] == 1:
        _lanes(k, 0, B, kl)
        _turnover_weights(kl, B, class_len, x, w, W, D, xs, scratch)
    for b in range(nodes.shape[0]):
        lo = b * B
        nb = min(B, n - lo)
        V = nodes[b]
        if k.shape[0] > 1:
            _lanes(k, lo, nb, kl)
            _turnover_weights(kl, nb, class_len, x, w, W, D, xs, scratch)
        _lanes(c50, lo, nb, c50b)
        _lanes(hill, lo, nb, hillb)
        _lanes(base, lo, nb, baseb)
        _lanes(amp, lo, nb, ampb)
        _lanes(y0, lo, nb, y)
        for j in range(nb):
            c50h[j] = c50b[j] ** hillb[j]
        for p in range(n_main + 1):
            if value_out[p] >= 0:
                for j in range(nb):
                    OY[value_out[p], j] = y[j]
            for g in range(side_ptr[p], side_ptr[p + 1]):
                if value_out[g + 1] >= 0:
                    _hill_step(seg_class[g], nb, m, V, g, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, ys,
                               acc)
                    for j in range(nb):
                        OY[value_out[g + 1], j] = ys[j]
            if p == n_main:
                break
            _hill_step(seg_class[p], nb, m, V, p, W, D, c50b, c50h, hillb, unit, shared, baseb, ampb, y, y1, acc)
            y, y1 = y1, y
        _unload(OY, lo, nb, out)
    return out


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def first_order_hill_draws(nodes, n, class_len, x, w, seg_class, side_ptr, n_main, value_out, k, base, amp, c50, hill,
                           y0, out):
    """:func:`first_order_hill` for many parameter sets, k, base, amp, c50, hill of shape (draw,),
    sharing the concentrations; out (draw, patient, output). A block's node values are read
    once for every draw (they stay in cache)."""
    m = x.shape[0]
    B = BLOCK
    C = class_len.shape[0]
    T = out.shape[2]
    n_draws = k.shape[0]
    W, D = np.empty((n_draws, C, m, 1)), np.empty((n_draws, C, 1))  # parameters shared by the lanes
    xs, scratch, kl = np.empty(B), np.empty(B), np.empty(B)
    c50b, c50h, hillb, baseb, ampb = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    y, y1, ys, acc = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    OY = np.empty((T, B))
    for d in range(n_draws):
        kl[0] = k[d]
        _turnover_weights(kl, 1, class_len, x, w, W[d], D[d], xs, scratch)
    for b in range(nodes.shape[0]):
        lo = b * B
        nb = min(B, n - lo)
        V = nodes[b]
        for d in range(n_draws):
            unit = hill[d] == 1.0
            for j in range(B):
                c50b[j], hillb[j], baseb[j], ampb[j] = c50[d], hill[d], base[d], amp[d]
                c50h[j] = c50[d] ** hill[d]
                y[j] = y0
            Wd, Dd = W[d], D[d]
            for p in range(n_main + 1):
                if value_out[p] >= 0:
                    for j in range(nb):
                        OY[value_out[p], j] = y[j]
                for g in range(side_ptr[p], side_ptr[p + 1]):
                    if value_out[g + 1] >= 0:
                        _hill_step(seg_class[g], nb, m, V, g, Wd, Dd, c50b, c50h, hillb, unit, True, baseb, ampb, y,
                                   ys, acc)
                        for j in range(nb):
                            OY[value_out[g + 1], j] = ys[j]
                if p == n_main:
                    break
                _hill_step(seg_class[p], nb, m, V, p, Wd, Dd, c50b, c50h, hillb, unit, True, baseb, ampb, y, y1, acc)
                y, y1 = y1, y
            _unload(OY, lo, nb, out[d])
    return out


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def first_order(u, n, class_len, x, w, seg_class, side_ptr, n_main, value_out, k, y0, out):
    """y' = k (u(t) - y), y(0) = y0, for an input given at a mesh's nodes, u (block, segment, node,
    lane) for n patients; k and y0 of length 1 or one per patient; out (patient, output)."""
    m = x.shape[0]
    B = BLOCK
    C = class_len.shape[0]
    T = out.shape[1]
    W, D = np.empty((C, m, B)), np.empty((C, B))
    xs, scratch, kl = np.empty(B), np.empty(B), np.empty(B)
    y, y1, ys = np.empty(B), np.empty(B), np.empty(B)
    OY = np.empty((T, B))
    if k.shape[0] == 1:
        _lanes(k, 0, B, kl)
        _turnover_weights(kl, B, class_len, x, w, W, D, xs, scratch)
    for b in range(u.shape[0]):
        lo = b * B
        nb = min(B, n - lo)
        U = u[b]
        if k.shape[0] > 1:
            _lanes(k, lo, nb, kl)
            _turnover_weights(kl, nb, class_len, x, w, W, D, xs, scratch)
        _lanes(y0, lo, nb, y)
        for p in range(n_main + 1):
            if value_out[p] >= 0:
                for j in range(nb):
                    OY[value_out[p], j] = y[j]
            for g in range(side_ptr[p], side_ptr[p + 1]):
                if value_out[g + 1] >= 0:
                    _input_step(seg_class[g], nb, m, U, g, W, D, y, ys)
                    for j in range(nb):
                        OY[value_out[g + 1], j] = ys[j]
            if p == n_main:
                break
            _input_step(seg_class[p], nb, m, U, p, W, D, y, y1)
            y, y1 = y1, y
        _unload(OY, lo, nb, out)
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


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def effect_site(conc, edges, n, class_len, xs, coef, seg_class, side_ptr, n_main, value_out, ke0, nodes, out):
    """C_e' = ke0 (C - C_e), C_e(0) = 0, with C the interpolating polynomial of each segment's
    start, node and end values (conc (block, segment, node, lane), edges (block, segment, 2,
    lane); n patients): an exponential integrator (see pkpd.response.Trajectory.effect_site). xs
    (m + 2,) the interpolation points on [0, 1] (0, the nodes, 1), coef (m + 2, m + 2) monomial
    coefficients of their Lagrange polynomials. nodes (block, segment, node, lane): C_e at the
    nodes; out (patient, output)."""
    m = conc.shape[2]
    p_n = m + 2
    C = class_len.shape[0]
    B = BLOCK
    T = out.shape[1]
    W, E = np.empty((C, m + 1, p_n)), np.empty((C, m + 1))
    WL, EL = np.empty((C, m + 1, p_n, B)), np.empty((C, m + 1, B))
    data = np.empty((p_n, B))
    y, ys, y1 = np.empty(B), np.empty(B), np.empty(B)
    OY = np.empty((T, B))
    shared = ke0.shape[0] == 1
    for b in range(conc.shape[0]):
        lo = b * B
        nb = min(B, n - lo)
        for j in range(B if (shared and b == 0) else (0 if shared else nb)):  # shared ke0: the tables once
            if j == 0 or not shared:
                _effect_tables(ke0[0 if shared else lo + j], class_len, xs, coef, W, E)
            for c in range(C):
                for q in range(m + 1):
                    EL[c, q, j] = E[c, q]
                    for i in range(p_n):
                        WL[c, q, i, j] = W[c, q, i]
        V, EG, N = conc[b], edges[b], nodes[b]
        for j in range(nb):
            y[j] = 0.0
        for p in range(n_main + 1):
            if value_out[p] >= 0:
                for j in range(nb):
                    OY[value_out[p], j] = y[j]
            for g in range(side_ptr[p], side_ptr[p + 1] + (0 if p == n_main else 1)):
                seg = p if g == side_ptr[p + 1] else g  # the side segments from p, then main segment p
                c = seg_class[seg]
                for j in range(nb):
                    data[0, j] = EG[seg, 0, j]
                for j in range(nb):
                    data[p_n - 1, j] = EG[seg, 1, j]
                for q in range(m):
                    for j in range(nb):
                        data[q + 1, j] = V[seg, q, j]
                for q in range(m + 1):
                    target = ys if q == m else y1
                    for j in range(nb):
                        target[j] = EL[c, q, j] * y[j]
                    for i in range(p_n):
                        for j in range(nb):
                            target[j] += WL[c, q, i, j] * data[i, j]
                    if q < m:
                        for j in range(nb):
                            N[seg, q, j] = y1[j]
                if seg == p:
                    y, ys = ys, y
                elif value_out[seg + 1] >= 0:
                    for j in range(nb):
                        OY[value_out[seg + 1], j] = ys[j]
        _unload(OY, lo, nb, out)
    return nodes, out


# -- the standard normal CDF -------------------------------------------------------------------
# Phi(-a) = phi(a) M(a) for a >= 0, M the Mills ratio. (a + K) M(a) is smooth in t = (a - K)/(a + K)
# on [-1, 1] (a from 0 to infinity), and _MILLS holds its degree-20 Chebyshev interpolant, K = 4,
# computed from scipy.special.erfcx and written in powers of t (all coefficients below 2, so
# Estrin's scheme evaluates it without loss): relative error below 5e-15 for a in [0, 40];
# tests/unit/test_kernels.py recomputes it. phi(a) comes from vexp, so the loops compile to SIMD
# code, several times faster than scipy.special.ndtr, and agree with it to 1e-15 absolute and
# a^2 * 2e-16 relative (the conditioning of Phi(-a)).
_MILLS_K = 4.0
_MILLS = np.array([1.8932190633084827, -1.5237709108199564, 0.970409554868258, -0.46754096300083253,
                   0.15139176228487908, -0.01890045080001868, -0.008722294840718478, 0.004087855012183244,
                   0.00033424115605258767, -0.000579265410627848, -4.7672405892722e-06, 8.808234194496692e-05,
                   1.7501578154581836e-06, -1.481487616466571e-05, -1.4926287516590638e-06,
                   2.531408252433664e-06, 5.785014916629579e-07, -3.7124270107580684e-07,
                   -1.3680640621599724e-07, 3.275692807049741e-08, 1.5870480357276337e-08])
_INV_SQRT_2PI = 0.3989422804014327


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _ndtr_block(z, out, n, e, x, scratch):
    """out[:n] = Phi(z[:n]) (NaN stays NaN); e, x, scratch: float arrays of at least n entries."""
    for j in range(n):
        a = min(abs(z[j]), 40.0)  # Phi(-40) is below 1e-300
        x[j] = -0.5 * a * a
    vexp(x, e, scratch, n)
    P = _MILLS
    for j in range(n):
        a = min(abs(z[j]), 40.0)
        inv = 1.0 / (a + _MILLS_K)
        t = (a - _MILLS_K) * inv
        t2 = t * t
        t4 = t2 * t2
        t8 = t4 * t4
        r0 = (P[0] + P[1] * t) + (P[2] + P[3] * t) * t2
        r1 = (P[4] + P[5] * t) + (P[6] + P[7] * t) * t2
        r2 = (P[8] + P[9] * t) + (P[10] + P[11] * t) * t2
        r3 = (P[12] + P[13] * t) + (P[14] + P[15] * t) * t2
        r4 = (P[16] + P[17] * t) + (P[18] + P[19] * t) * t2
        h = (r0 + r1 * t4) + (r2 + r3 * t4) * t8 + (r4 + P[20] * t4) * (t8 * t8)
        lower = e[j] * h * inv * _INV_SQRT_2PI
        zj = z[j]
        out[j] = lower if zj <= 0.0 else (1.0 - lower if zj > 0.0 else zj)


_NDTR_CHUNK = 1024


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def ndtr(z, out):
    """out = Phi(z), the standard normal CDF, for 1-d arrays."""
    C = _NDTR_CHUNK
    zb, pb, e, x, scratch = np.empty(C), np.empty(C), np.empty(C), np.empty(C), np.empty(C)
    n = z.shape[0]
    for lo in range(0, n, C):
        k = min(C, n - lo)
        zb[:k] = z[lo:lo + k]
        _ndtr_block(zb, pb, k, e, x, scratch)
        out[lo:lo + k] = pb[:k]
    return out


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def normal_mean(level, inv_spread, cuts, out):
    """out[l, t, e] = the mean over i of Phi((level[l, i, t] - cuts[e]) * inv_spread[l, i]):
    responder rates, the mean over nodes of each node's probability, without the per-node array."""
    L, N, T = level.shape
    C = _NDTR_CHUNK
    rows = max(1, C // T)
    zb, pb, e, x, scratch = np.empty(rows * T), np.empty(rows * T), np.empty(rows * T), np.empty(rows * T), \
        np.empty(rows * T)
    acc = np.empty(T)
    for li in range(L):
        same = True  # every node alike (placebo, say): one node's probabilities are the mean
        for i in range(1, N):
            if not same:
                break
            same = inv_spread[li, i] == inv_spread[li, 0]
            for t in range(T):
                same = same and level[li, i, t] == level[li, 0, t]
        n_eval = 1 if same else N
        for ei in range(cuts.shape[0]):
            cut = cuts[ei]
            for t in range(T):
                acc[t] = 0.0
            for i0 in range(0, n_eval, rows):
                i1 = min(n_eval, i0 + rows)
                for i in range(i0, i1):
                    s = inv_spread[li, i]
                    k = (i - i0) * T
                    for t in range(T):
                        zb[k + t] = (level[li, i, t] - cut) * s
                _ndtr_block(zb, pb, (i1 - i0) * T, e, x, scratch)
                for i in range(i1 - i0):
                    for t in range(T):
                        acc[t] += pb[i * T + t]
            for t in range(T):
                out[li, t, ei] = acc[t] / n_eval
    return out


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
