"""Compiled loops for the hot paths (numba): the one place pkpd imports numba.

Pure numerics on arrays, no pkpd imports: the callers in the stage packages build the
inputs (meshes, weights, parameters) and document the mathematics. The first call of a
kernel compiles it (about a second); numba caches the machine code next to this file.

Parameter arrays have length 1 (shared by every row) or one entry per row.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _pick(a, i):
    return a[0] if a.shape[0] == 1 else a[i]


@njit(cache=True)
def _hill(c, c50, hill):
    if hill == 1.0:
        return c / (c50 + c)
    ch = c ** hill
    return ch / (c50 ** hill + ch)


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _weights(k, seg_len, seg_tau, seg_w, decay, wk):
    """decay = exp(-k h); wk = k w exp(-k (h - tau)): the exact step of y' = k (u - y)."""
    for g in range(seg_len.shape[0]):
        h = seg_len[g]
        decay[g] = math.exp(-k * h)
        for q in range(seg_tau.shape[1]):
            wk[g, q] = k * seg_w[g, q] * math.exp(-k * (h - seg_tau[g, q]))


@njit(cache=True)
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
