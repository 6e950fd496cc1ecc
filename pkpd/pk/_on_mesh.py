"""Linear PK on an integration mesh: exact concentrations at every quadrature node, fast.

The response layer integrates the drug effect over panels of a mesh whose points include
every dose time (after the lag) and infusion end (:mod:`pkpd.response._quadrature`). Between
mesh points the inputs are constant, so the state (depot, central, peripheral amounts) is
carried exactly from panel to panel, and the concentration at a node is a fixed linear
combination of the state at its panel's start: the combinations depend only on the panel
length, so they are computed once per patient and length (:func:`pkpd._kernels.linear_on_mesh`).
The arithmetic is that of the closed forms in :mod:`pkpd.pk._formulas` (the same stable
phi-forms, exact when ka equals an elimination rate), organised as a propagation.
"""

from __future__ import annotations

import numpy as np

from ._events import resolve_events

_SAME = 1e-9  # days


def supports(model, regimen, individual, horizon: float) -> bool:
    """Whether the mesh kernel computes this case (linear model, no steady-state history before day 0)."""
    if not model.is_linear:
        return False
    return all(not c.steady_state for c in regimen.courses)


class Propagators:
    """Per-patient propagator tables for a set of panel lengths, shared by every mesh that uses them
    (``infusions``: whether any regimen has infusions; without them their terms are skipped)."""

    def __init__(self, model, individual, meshes, infusions: bool = True):
        from .. import _kernels
        pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
        n = pk["CL"].size
        lengths = np.unique(np.concatenate([np.round(mesh.length, 12) for mesh in meshes]))
        x = meshes[0].tau[0] / meshes[0].length[0]  # node positions on [0, 1], the same for every segment
        self.lengths = lengths
        two = "Q" in pk
        rates = [np.broadcast_to(pk.get("ka", np.zeros(n)), (n,)), pk["CL"] / pk["V"],
                 pk["Q"] / pk["V"] if two else np.zeros(n), pk["Q"] / pk["V2"] if two else np.zeros(n)]
        rates = [np.ascontiguousarray(np.broadcast_to(r, (n,)), dtype=float) for r in rates]
        self.infusions = bool(infusions)
        self.table = _kernels.propagator_table(*rates, bool(two), self.infusions, lengths, lengths[:, None] * x[None, :],
                                               np.empty((n, lengths.size, x.size + 1, 12)))
        self.inv_v = np.ascontiguousarray(1.0 / np.broadcast_to(pk["V"], (n,)), dtype=float)

    def classes(self, mesh) -> np.ndarray:
        return np.searchsorted(self.lengths, np.round(mesh.length, 12)).astype(np.int64)


def on_mesh(model, regimen, individual, weight, mesh, propagators: Propagators | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concentrations (row, segment, node) at the mesh's nodes, (row, T) at its output times and
    (row, segment, 2) at each segment's start (after a dose there) and end (before one).

    ``mesh`` has ``start``, ``length``, ``source``, ``tau``, ``output`` and ``n_main`` (a
    :class:`pkpd.response.Mesh`); every dose time (plus the lag for SC doses) and infusion
    end before the last output must be one of its points. ``propagators`` built for several
    meshes (:class:`Propagators`) saves recomputing them for each.
    """
    from .. import _kernels
    pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
    n = pk["CL"].size
    horizon = float(mesh.times[-1])
    points = np.concatenate([[0.0], (mesh.start + mesh.length)[: mesh.n_main]])
    events = resolve_events(regimen, weight, pk, horizon=horizon)
    lag = np.broadcast_to(pk.get("tlag", np.zeros(n)), (n,))
    F = np.broadcast_to(pk.get("F", np.ones(n)), (n,))
    rows = []  # (time (n,), kind, amount (n,))
    for ev in events:
        if ev.route == "sc":
            rows.append((ev.time + lag, 0, F * ev.amount))
        elif ev.route == "iv":
            rows.append((np.full(n, ev.time), 1, ev.amount))
        else:
            rate = ev.amount / ev.duration
            rows.append((np.full(n, ev.time), 2, rate))
            rows.append((ev.time + ev.duration, 2, -rate))
    n_ev = max(len(rows), 1)
    ev_time = np.full((n, n_ev), np.inf)
    ev_kind = np.full((n, n_ev), -1, dtype=np.int64)
    ev_amount = np.zeros((n, n_ev))
    for j, (time, kind, amount) in enumerate(rows):
        ev_time[:, j], ev_kind[:, j], ev_amount[:, j] = time, kind, amount
    ev_kind[ev_time > horizon] = -1  # inputs after the last output change nothing asked for
    order = np.argsort(np.where(ev_kind >= 0, ev_time, np.inf), axis=1, kind="stable")
    ev_time, ev_kind, ev_amount = (np.take_along_axis(a, order, axis=1) for a in (ev_time, ev_kind, ev_amount))
    ev_point = np.minimum(np.searchsorted(points, ev_time), points.size - 1)
    if np.any((ev_kind >= 0) & (np.abs(points[ev_point] - ev_time) > _SAME)):
        raise RuntimeError("internal: a dose or infusion end is not a point of the response mesh")
    infusions = any(c.route == "infusion" for c in regimen.courses)
    if propagators is None or (infusions and not propagators.infusions):
        propagators = Propagators(model, individual, [mesh], infusions)
    node_conc = np.empty((n, mesh.start.size, mesh.tau.shape[1]))
    out_conc = np.empty((n, mesh.times.size))
    edges = np.empty((n, mesh.start.size, 2))
    _kernels.linear_on_mesh(propagators.inv_v, propagators.table, mesh.length.astype(float),
                            mesh.source.astype(np.int64), propagators.classes(mesh), int(mesh.n_main),
                            np.ascontiguousarray(ev_point, dtype=np.int64), np.ascontiguousarray(ev_kind),
                            np.ascontiguousarray(ev_amount), np.zeros((n, n_ev, 3)), mesh.output.astype(np.int64),
                            node_conc, out_conc, edges)
    return node_conc, out_conc, edges
