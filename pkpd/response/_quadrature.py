r"""Exact response to a known concentration: Gauss-Legendre panels on a dose-aware mesh.

A turnover :math:`\dot y = k\,(u(C(t)) - y)` has the exact step

.. math:: y(a + h) = e^{-kh}\,y(a) + k\int_0^h e^{-k(h-s)}\,u(C(a+s))\,ds .

The concentration :math:`C(t)` is known exactly at any time (closed form or ODE), so the
integral is computed by Gauss-Legendre quadrature on panels between *breakpoints* (dose
times after any lag, infusion ends), where :math:`u(C(t))` is analytic: the quadrature
then converges exponentially with the number of nodes. Right after a dose the drug
effect can change within minutes (an SC dose's effect saturates as soon as C passes
the potency), so each breakpoint is followed by panels that double in length from
``first`` days up to the regular panel length ``step``; elsewhere panels are ``step``
days long.

The mesh depends on the breakpoints and on the design only, never on the output times:
an output time on the mesh (a multiple of ``step`` days, with the default 7 days every
whole week) is read off the chain of panels, and any other output time gets its own
side panel from the mesh point before it. So a value at a given time is the same, to
the last bit, whatever else is asked for, and the accuracy does not depend on the output
grid.

Accuracy (ustekinumab PASI model, 45-90 mg SC, weekly x4, and the 1-cmt SC indirect-
response reference problem of ``benchmarks/bench_pd.py``): with the defaults (7-day
panels, 5 nodes, graded panels from 2^-10 days) the response is within 1e-9 (relative)
of a tight-tolerance ODE solution; tests/accuracy/test_exact_pd.py pins 1e-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.polynomial.legendre import leggauss

from .._errors import PkpdError

DEFAULT_STEP = 7.0          # days between regular mesh points
DEFAULT_FIRST = 2.0 ** -10  # days: the first graded panel after a breakpoint (1.4 minutes)
DEFAULT_RATIO = 2.0         # growth of graded panels
DEFAULT_ORDER = 5           # Gauss-Legendre nodes per panel
MAX_BREAKPOINTS = 4096      # distinct breakpoints one mesh accepts
_SAME = 1e-9                # days: mesh points closer than this are one point
MEMO = 8                    # turnover results kept per trajectory


@dataclass(frozen=True, eq=False)
class Mesh:
    """Segments (mesh panels, then side panels to off-mesh outputs) with their nodes.

    Values live in an array ``v``: ``v[0]`` is the value at t = 0 and ``v[1 + g]`` the
    value at the end of segment ``g``; segment ``g`` starts from ``v[source[g]]``.
    ``output[j]`` is the index in ``v`` of output time ``times[j]``. Side segments start
    from mesh points, in the order of their start.
    """

    start: np.ndarray    # (G,) days
    length: np.ndarray   # (G,) days
    source: np.ndarray   # (G,) int
    tau: np.ndarray      # (G, m) node offsets from the segment start, days
    weight: np.ndarray   # (G, m) Gauss-Legendre weights, summing to the segment length
    output: np.ndarray   # (T,) int
    times: np.ndarray    # (T,) output times, days
    n_main: int          # segments 0 .. n_main - 1 are the mesh panels
    unit_nodes: np.ndarray | None = None    # (m,) the Gauss-Legendre nodes on [0, 1]
    unit_weights: np.ndarray | None = None  # (m,) and their weights

    @property
    def nodes(self) -> np.ndarray:
        """Absolute node times (G, m), days."""
        return self.start[:, None] + self.tau

    @property
    def n_segments(self) -> int:
        return self.start.size

    @cached_property
    def kernel_args(self) -> tuple:
        """The mesh as the compiled kernels take it (:mod:`pkpd._kernels`, mesh kernels): classes of
        segment lengths (equal to 1e-12 days), nodes and weights on [0, 1], each segment's class,
        where each main point's side segments are, the number of main segments, and the output
        at each value index (-1: none)."""
        class_len, seg_class = np.unique(np.round(self.length, 12), return_inverse=True)
        if self.unit_nodes is None:
            x, w = _unit_rule(self.tau.shape[1])
        else:
            x, w = self.unit_nodes, self.unit_weights
        sources = self.source[self.n_main:]
        if np.any(np.diff(sources) < 0) or np.any(sources > self.n_main):
            raise PkpdError("internal: side segments must start from mesh points, in order")
        side_ptr = self.n_main + np.searchsorted(sources, np.arange(self.n_main + 2), side="left")
        value_out = np.full(self.n_segments + 1, -1, dtype=np.int64)
        value_out[self.output] = np.arange(self.output.size)
        return (np.ascontiguousarray(class_len, dtype=float), np.ascontiguousarray(x, dtype=float),
                np.ascontiguousarray(w, dtype=float), seg_class.astype(np.int64).reshape(-1),
                side_ptr.astype(np.int64), int(self.n_main), value_out)


@lru_cache(maxsize=32)
def _unit_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (read-only, computed once per order)."""
    x, w = leggauss(int(order))
    x, w = (x + 1.0) / 2.0, w / 2.0
    x.flags.writeable = w.flags.writeable = False
    return x, w


def build_mesh(breakpoints, times, step: float = DEFAULT_STEP, first: float = DEFAULT_FIRST,
               ratio: float = DEFAULT_RATIO, order: int = DEFAULT_ORDER) -> Mesh:
    """The mesh for output ``times`` (days, increasing, >= 0) and ``breakpoints`` (days)."""
    times = np.asarray(times, float)
    horizon = float(times[-1])
    bps = np.unique(np.asarray(breakpoints, float))
    bps = bps[(bps > 0.0) & (bps < horizon)]
    if bps.size > MAX_BREAKPOINTS:
        raise PkpdError(f"{bps.size} distinct dose and infusion-end times before day {horizon:g}; an exact "
                        f"response mesh takes at most {MAX_BREAKPOINTS}. Per-patient lag times or infusion "
                        "durations multiply them: give them one value, or fewer output days.")
    regular = np.arange(0.0, horizon + _SAME, step)
    anchors = np.union1d(regular[regular <= horizon], bps)
    graded = [0.0]
    offset = first
    while offset < step:
        graded.append(offset)
        offset *= ratio
    fine = (np.concatenate([[0.0], bps])[:, None] + np.asarray(graded[1:])[None, :]).ravel()
    fine = fine[fine < horizon]
    # Graded points that fall on an anchor (within _SAME) are dropped: anchors are kept exactly.
    at = np.searchsorted(anchors, fine)
    gap = np.minimum(np.abs(fine - anchors[np.maximum(at - 1, 0)]), np.abs(anchors[np.minimum(at, anchors.size - 1)] - fine))
    points = np.union1d(anchors, fine[gap >= _SAME])
    x, w = _unit_rule(order)
    # Outputs on a mesh point read its value; any other gets a side panel from the point before it.
    at = np.searchsorted(points, times)
    on = (at < points.size) & (points[np.minimum(at, points.size - 1)] == times)
    before = np.searchsorted(points, times[~on], side="right") - 1
    output = np.empty(times.size, dtype=np.int64)
    output[on] = at[on]
    output[~on] = points.size + np.arange(before.size)  # value index 1 + g of side segment g
    start = np.concatenate([points[:-1], points[before]])
    length = np.concatenate([np.diff(points), times[~on] - points[before]])
    source = np.concatenate([np.arange(points.size - 1), before]).astype(np.int64)
    return Mesh(start=start, length=length, source=source, tau=length[:, None] * x[None, :],
                weight=length[:, None] * w[None, :], output=output, times=times, n_main=points.size - 1,
                unit_nodes=x, unit_weights=w)


def to_blocks(values: np.ndarray) -> np.ndarray:
    """(row, ...) -> the compiled kernels' block-major layout (block, ..., lane), rows padded to
    whole blocks of :data:`pkpd._kernels.BLOCK` (with their last value)."""
    from .. import _kernels
    B = _kernels.BLOCK
    values = np.asarray(values, float)
    n = values.shape[0]
    blocks = -(-n // B)
    padded = np.concatenate([values, np.repeat(values[-1:], blocks * B - n, axis=0)]) if blocks * B > n else values
    return np.ascontiguousarray(np.moveaxis(padded.reshape((blocks, B) + values.shape[1:]), 1, -1))


def from_blocks(values: np.ndarray, n: int) -> np.ndarray:
    """The inverse of :func:`to_blocks`: (block, ..., lane) -> (row, ...) for n rows."""
    rows = np.moveaxis(values, -1, 1)
    return rows.reshape((-1,) + rows.shape[2:])[:n]


class Trajectory:
    """Concentrations along a mesh: at its nodes, at its output times (row, T) and at each
    segment's start and end (needed by :meth:`effect_site`).

    Node values are kept block-major, ``nodes`` (block, segment, node, lane; see
    :func:`to_blocks`), so that the compiled kernels run across rows (patients) in SIMD lanes;
    :attr:`node_conc` gives them as (row, segment, node). ``edges`` is (block, segment, 2,
    lane) or None.

    A trajectory may be given a ``source`` instead of the arrays (an object with ``n``,
    ``store()``, returning nodes, conc and edges, and ``respond(k, base, amp, c50, hill, y0)``,
    returning conc and the response of :meth:`first_order_hill`): the arrays are then computed
    when first asked for, and a first :meth:`first_order_hill` runs in the same pass as the
    concentrations without storing the node values (a single evaluation, such as
    :func:`pkpd.response_rates`, never writes them).
    """

    def __init__(self, mesh: Mesh, nodes=None, conc=None, edges=None, source=None, n: int | None = None):
        if nodes is None and source is None:
            raise PkpdError("internal: a trajectory needs its node values or a source for them")
        self.mesh, self._nodes, self._conc, self._edges, self._source = mesh, nodes, conc, edges, source
        self._n = source.n if n is None and source is not None else (conc.shape[0] if n is None else int(n))
        self._memo, self._responded = {}, False

    @classmethod
    def from_rows(cls, mesh: Mesh, node_conc, conc, edges=None) -> "Trajectory":
        """A trajectory from concentrations at the nodes (row, segment, node), at the outputs (row, T)
        and, optionally, at the segments' starts and ends (row, segment, 2)."""
        conc = np.asarray(conc, float)
        return cls(mesh, to_blocks(node_conc), conc, None if edges is None else to_blocks(edges), n=conc.shape[0])

    def _fill(self) -> None:
        if self._nodes is None:
            self._nodes, self._conc, self._edges = self._source.store()

    @property
    def nodes(self) -> np.ndarray:
        self._fill()
        return self._nodes

    @property
    def conc(self) -> np.ndarray:
        if self._conc is None:
            self._fill()
        return self._conc

    @property
    def edges(self) -> np.ndarray | None:
        self._fill()
        return self._edges

    @property
    def n(self) -> int:
        return self._n

    @property
    def node_conc(self) -> np.ndarray:
        """Concentrations at the nodes, (row, segment, node)."""
        return from_blocks(self.nodes, self.n)

    def first_order(self, u_nodes, k, y0=0.0) -> np.ndarray:
        """Exact solution (row, T) of y' = k (u(t) - y), y(0) = y0, for u at the nodes (row, segment, node)."""
        from .. import _kernels
        shape = (self.n, self.mesh.n_segments, self.mesh.tau.shape[1])
        u = to_blocks(np.broadcast_to(np.asarray(u_nodes, float), shape))
        out = np.empty((self.n, self.mesh.times.size))
        return _kernels.first_order(u, self.n, *self.mesh.kernel_args, _vector(k), _vector(y0), out)

    def first_order_hill(self, k, base, amp, c50, hill, y0=0.0) -> np.ndarray:
        """Exact y (row, T) of y' = k (base + amp C^h/(c50^h + C^h) - y), y(0) = y0.

        Parameters and y0 are floats (shared) or arrays (row,). The last few results are kept,
        keyed by the parameters, so a fit that changes parameters this does not depend on
        reuses them.
        """
        from .. import _kernels
        parts = (k, base, amp, c50, hill, y0)
        key = tuple(float(x) if isinstance(x, (float, int)) or np.ndim(x) == 0 else np.asarray(x, float).tobytes()
                    for x in parts)
        if key in self._memo:
            return self._memo[key]
        arrays = [_vector(x) for x in parts]
        if self._nodes is None and getattr(self._source, "zero", False):  # no drug: C = 0, f(C) = 0
            decay = np.exp(-np.outer(arrays[0], self.mesh.times))
            base, y0 = arrays[1][:, None], arrays[5][:, None]
            out = np.ascontiguousarray(np.broadcast_to(y0 * decay + base * (1.0 - decay), (self.n, self.mesh.times.size)))
            if self._conc is None:
                self._conc = np.zeros((self.n, self.mesh.times.size))
        elif self._nodes is None and not self._responded:  # the first response: in the concentrations' pass
            conc, out = self._source.respond(*arrays)
            self._responded = True
            if self._conc is None:
                self._conc = conc
        else:  # later ones (a fit varying the response's parameters) from the stored node values
            out = np.empty((self.n, self.mesh.times.size))
            out = _kernels.first_order_hill(self.nodes, self.n, *self.mesh.kernel_args, *arrays, out)
        self._remember(key, out)
        return out

    def _remember(self, key, value) -> None:
        if len(self._memo) >= MEMO:
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = value

    def modulated_loss(self, kin, kout, g_nodes, y0) -> np.ndarray:
        r"""Exact R (row, T) of R' = kin - kout g(t) R, R(0) = y0, for g at the nodes (row, segment, node).

        On a segment, with :math:`\Lambda(s) = k_{out}\int_0^s g`, the step is
        :math:`R(h) = e^{-\Lambda(h)} R(0) + k_{in}\int_0^h e^{-(\Lambda(h)-\Lambda(s))} ds`;
        :math:`\Lambda` at the nodes comes from integrating g's interpolating polynomial
        (spectral accuracy), the outer integral from the same Gauss-Legendre rule.
        """
        m = self.mesh
        g = np.broadcast_to(np.asarray(g_nodes, float), (self.n, m.n_segments, m.tau.shape[1]))
        n = g.shape[0]
        kin = np.broadcast_to(np.asarray(kin, float), (n,))
        kout = np.broadcast_to(np.asarray(kout, float), (n,))
        S = _integration_matrix(m.tau.shape[1])
        vals = np.empty((n, m.n_segments + 1))
        vals[:, 0] = y0
        for seg in range(m.n_segments):
            h = m.length[seg]
            lam_nodes = kout[:, None] * h * (g[:, seg, :] @ S.T)              # Lambda at the nodes
            lam_end = kout * (g[:, seg, :] @ m.weight[seg])                    # Lambda(h)
            inner = np.exp(-(lam_end[:, None] - lam_nodes)) @ m.weight[seg]
            vals[:, seg + 1] = np.exp(-lam_end) * vals[:, m.source[seg]] + kin * inner
        return vals[:, m.output]

    def effect_site(self, ke0) -> "Trajectory":
        r"""The trajectory of the effect-site concentration :math:`\dot C_e = k_{e0}(C - C_e)`, C_e(0) = 0.

        On each segment C is represented by its interpolating polynomial through the
        segment's start, its Gauss-Legendre nodes and its end, and the exponential kernel
        is integrated exactly against it (an exponential integrator: the error is that of
        interpolating C, whatever :math:`k_{e0} h`), at the nodes and at the segment end.
        ``ke0`` is a number or one value per row (1/day).
        """
        from .. import _kernels
        m = self.mesh
        if self.edges is None:
            raise PkpdError("This trajectory has no concentrations at its segments' ends; build it with "
                            "pkpd.design.trajectory.")
        key = ("effect_site", _vector(ke0).tobytes())
        if key in self._memo:
            return self._memo[key]
        class_len, x, _, seg_class, side_ptr, n_main, value_out = m.kernel_args
        xs = np.concatenate([[0.0], x, [1.0]])
        coef = np.linalg.inv(np.vander(xs, increasing=True))   # column j: monomial coefficients of l_j on [0, 1]
        nodes = np.empty_like(self.nodes)
        out = np.empty((self.n, m.times.size))
        _kernels.effect_site(self.nodes, self.edges, self.n, class_len, xs, coef, seg_class, side_ptr, n_main,
                             value_out, _vector(ke0), nodes, out)
        result = Trajectory(m, nodes, out, n=self.n)
        self._remember(key, result)
        return result

    def first_order_hill_draws(self, k, base, amp, c50, hill, y0=0.0) -> np.ndarray:
        """:meth:`first_order_hill` for parameter arrays of shape (draw,): returns (draw, row, T)."""
        from .. import _kernels
        d = np.asarray(k).size
        out = np.empty((d, self.n, self.mesh.times.size))
        arrays = [np.ascontiguousarray(np.broadcast_to(np.asarray(x, float), (d,))) for x in (k, base, amp, c50, hill)]
        return _kernels.first_order_hill_draws(self.nodes, self.n, *self.mesh.kernel_args, *arrays, float(y0), out)


def _integration_matrix(order: int) -> np.ndarray:
    """S[q, j] = integral from 0 to x_q of the j-th Lagrange polynomial on the Gauss-Legendre nodes of [0, 1]."""
    from numpy.polynomial import legendre as L
    x, _ = leggauss(order)
    V = L.legvander(x, order - 1)                      # P_k at the nodes (on [-1, 1])
    coef = np.linalg.inv(V)                            # column j: Legendre coefficients of l_j
    out = np.empty((order, order))
    for j in range(order):
        integral = L.legint(coef[:, j], lbnd=-1.0)     # antiderivative from -1
        out[:, j] = L.legval(x, integral) / 2.0        # d(u) = 2 d(s) on [0, 1]
    return out


def _vector(x) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_1d(np.asarray(x, dtype=float)))
