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

from ..dosing._tables import CENTRAL, DEPOT, DoseTable
from ._events import Events, resolve

_SAME = 1e-9  # days


def regimen_events(model, regimen, individual, weight, horizon: float) -> Events:
    """The resolved events (:mod:`pkpd.pk._events`) of a regimen (or of a dose table: each
    subject its own records) for these patients, up to ``horizon`` days."""
    from ._exposure import dose_parameters
    pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
    table = regimen if isinstance(regimen, DoseTable) else \
        DoseTable.from_regimen(regimen, pk["CL"].size, weight, horizon=horizon)
    return resolve(table, dose_parameters(model, pk), np.array([horizon]))


def changes(events: Events) -> np.ndarray:
    """(n, J) True where an event changes the state or its inputs (a dose arrives, an infusion
    starts or ends, a reset, a steady state)."""
    return (np.any(events.bolus != 0, axis=2) | np.any(events.rate != 0, axis=2) | events.reset
            | (events.ss >= 0))


def breakpoints(events: Events, horizon: float) -> np.ndarray:
    """Times (days) up to ``horizon`` where any patient's concentration has a kink or a jump."""
    t = events.time[changes(events)]
    return np.unique(t[t <= horizon])


def supports(model, events: Events) -> bool:
    """Whether the mesh kernel computes these events: a linear model, boluses into the depot or
    the central compartment and infusions into the central one; no resets or steady states."""
    return bool(model.is_linear and not np.any(events.reset) and not np.any(events.ss >= 0)
                and not np.any(events.rate[:, :, DEPOT] != 0))


class Propagators:
    """Per-patient propagator tables for a set of panel lengths, shared by every mesh that uses them
    (``infusions``: whether any regimen has infusions; without them their terms are skipped)."""

    def __init__(self, model, individual, meshes, infusions: bool = True):
        from .. import _kernels
        pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
        n = pk["CL"].size
        lengths = np.unique(np.concatenate([np.round(mesh.length, 12) for mesh in meshes]))
        # Node positions on [0, 1], the same for every segment (a mesh to day 0 has no segment).
        x = next((m.tau[0] / m.length[0] for m in meshes if m.length.size), np.zeros(meshes[0].tau.shape[1]))
        self.lengths = lengths
        two = "Q" in pk
        rates = [np.broadcast_to(pk.get("ka", np.zeros(n)), (n,)), pk["CL"] / pk["V"],
                 pk["Q"] / pk["V"] if two else np.zeros(n), pk["Q"] / pk["V2"] if two else np.zeros(n)]
        rates = [np.ascontiguousarray(np.broadcast_to(r, (n,)), dtype=float) for r in rates]
        self.infusions = bool(infusions)
        self.table = _kernels.propagator_table(*rates, bool(two), self.infusions, lengths, lengths[:, None] * x[None, :],
                                               np.empty((n, lengths.size, x.size + 1, 12)))
        self.inv_v = np.ascontiguousarray(1.0 / np.broadcast_to(pk["V"], (n,)), dtype=float)
        self.who = np.arange(n, dtype=np.int64)  # the patient whose tables each row reads

    def rows(self, index) -> "Propagators":
        """The tables of some of the patients (``index``; repeats allowed), shared, not copied."""
        out = object.__new__(Propagators)
        out.lengths, out.infusions, out.table, out.inv_v = self.lengths, self.infusions, self.table, self.inv_v
        out.who = np.ascontiguousarray(np.asarray(self.who)[index], dtype=np.int64)
        return out

    def classes(self, mesh) -> np.ndarray:
        return np.searchsorted(self.lengths, np.round(mesh.length, 12)).astype(np.int64)


def on_mesh(model, individual, events: Events, mesh, propagators: Propagators | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concentrations (row, segment, node) at the mesh's nodes, (row, T) at its output times and
    (row, segment, 2) at each segment's start (after a dose there) and end (before one).

    ``events`` are the regimen's (:func:`regimen_events`, which :func:`supports`); ``mesh``
    has ``start``, ``length``, ``source``, ``tau``, ``output`` and ``n_main`` (a
    :class:`pkpd.response.Mesh`), and every event time before its last output among its
    points (:func:`breakpoints`). ``propagators`` built for several meshes
    (:class:`Propagators`) saves recomputing them for each.
    """
    from .. import _kernels
    n = events.n
    horizon = float(mesh.times[-1])
    points = np.concatenate([[0.0], (mesh.start + mesh.length)[: mesh.n_main]])
    # Kernel inputs per event: 0 a bolus into the depot, 1 a bolus into the central
    # compartment, 2 a change of the infusion rate into it; -1 nothing.
    amount = np.stack([events.bolus[:, :, DEPOT], events.bolus[:, :, CENTRAL], events.rate[:, :, CENTRAL]], axis=2)
    kind = np.where(amount != 0, np.arange(3)[None, None, :], -1)
    ev_time = np.repeat(events.time, 3, axis=1)
    ev_kind, ev_amount = kind.reshape(n, -1), amount.reshape(n, -1)
    ev_kind[ev_time > horizon] = -1  # inputs after the last output change nothing asked for
    # The kernel reads each patient's inputs up to the first empty slot: move the empty slots
    # last (patients with their own records have them in different places).
    empty = ev_kind < 0
    if not np.array_equal(empty, np.broadcast_to(empty[:1], empty.shape)):
        order = np.argsort(empty, axis=1, kind="stable")
        ev_time, ev_kind, ev_amount = (np.take_along_axis(a, order, axis=1) for a in (ev_time, ev_kind, ev_amount))
    used = np.flatnonzero(np.any(ev_kind >= 0, axis=0))
    if used.size == 0:
        used = np.array([0])
    ev_time, ev_kind, ev_amount = ev_time[:, used], ev_kind[:, used], ev_amount[:, used]
    n_ev = used.size
    ev_point = np.minimum(np.searchsorted(points, ev_time), points.size - 1)
    if np.any((ev_kind >= 0) & (np.abs(points[ev_point] - ev_time) > _SAME)):
        raise RuntimeError("internal: a dose or infusion end is not a point of the response mesh")
    infusions = bool(np.any(ev_kind == 2))
    if propagators is None or (infusions and not propagators.infusions):
        propagators = Propagators(model, individual, [mesh], infusions)
    node_conc = np.empty((n, mesh.start.size, mesh.tau.shape[1]))
    out_conc = np.empty((n, mesh.times.size))
    edges = np.empty((n, mesh.start.size, 2))
    if propagators.who.size != n:
        raise RuntimeError("internal: the propagators are not those of these patients")
    _kernels.linear_on_mesh(propagators.inv_v, propagators.table, propagators.who, mesh.length.astype(float),
                            mesh.source.astype(np.int64), propagators.classes(mesh), int(mesh.n_main),
                            np.ascontiguousarray(ev_point, dtype=np.int64), np.ascontiguousarray(ev_kind),
                            np.ascontiguousarray(ev_amount), np.zeros((n, n_ev, 3)), mesh.output.astype(np.int64),
                            node_conc, out_conc, edges)
    return node_conc, out_conc, edges
