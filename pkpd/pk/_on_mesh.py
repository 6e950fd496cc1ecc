"""Linear PK on an integration mesh: exact concentrations at every quadrature node, fast.

The response layer integrates the drug effect over panels of a mesh whose points include
every dose time (after the lag) and infusion end (:mod:`pkpd.response._quadrature`). Between
mesh points the inputs are constant, so the state (depot, central, peripheral amounts) is
carried exactly from panel to panel, and the concentration at a node is a fixed linear
combination of the state at its panel's start: the combinations depend only on the panel
length, so they are computed once per patient and length (:func:`pkpd._kernels.linear_mesh`,
which runs across patients in SIMD lanes and can solve a first-order Hill response in the
same pass, never storing the node concentrations).
The arithmetic is that of the closed forms in :mod:`pkpd.pk._formulas` (the same stable
phi-forms, exact when ka equals an elimination rate), organised as a propagation.
"""

from __future__ import annotations

import numpy as np

from ..dosing._tables import CENTRAL, DEPOT, DoseTable
from ._events import Events, _resolve, resolve, same_rows
from ._exposure import check_finite

_SAME = 1e-9  # days


def regimen_events(model, regimen, individual, weight, horizon: float, distinct: bool = False) -> Events:
    """The resolved events (:mod:`pkpd.pk._events`) of a regimen (or of a dose table: each
    subject its own records) for these patients, up to ``horizon`` days. ``distinct``: the
    table's subjects are known to differ, so no time is spent looking for equal ones."""
    if distinct and isinstance(regimen, DoseTable):
        from ._exposure import dose_parameters
        pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
        return _resolve(regimen, dose_parameters(model, pk), np.array([horizon]))
    return regimens_events(model, [regimen], individual, weight, horizon)[0]


def regimens_events(model, regimens, individual, weight, horizon: float, share: bool = True) -> list[Events]:
    """:func:`regimen_events` of several regimens for the same patients. When every patient of
    every regimen has the same records and dose parameters (doses in mg, no variability in F,
    lag, rate or duration), one patient per regimen is resolved, all regimens in one pass, and
    each regimen's events are shared by its patients."""
    from ._exposure import dose_parameters
    pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
    dose = dose_parameters(model, pk)
    n = pk["CL"].size
    grid = np.array([horizon])
    shared = share and n > 1 and not any(isinstance(r, DoseTable) or r.depends_on_weight for r in regimens) and \
        all(same_rows(v, n) for what in dose.values() for v in what.values())
    if not shared:
        return [resolve(r if isinstance(r, DoseTable) else DoseTable.from_regimen(r, n, weight, horizon=horizon),
                        dose, grid) for r in regimens]
    w = None if weight is None else np.asarray(weight, float).reshape(-1)[:1]
    ones = DoseTable.stack([DoseTable.from_regimen(r, 1, w, horizon=horizon) for r in regimens])
    first = {what: {role: (v[:1] if np.ndim(v) >= 1 else v) for role, v in by_role.items()}
             for what, by_role in dose.items()}
    events = _resolve(ones, first, grid)  # one pattern per regimen: nothing to share between rows
    if events.steady.m:  # steady states name their subject's records in messages: each patient's own
        return regimens_events(model, regimens, individual, weight, horizon, share=False)
    # Without steady states take() gives views of row r alone: nothing of the other regimens.
    return [events.take(np.full(n, r, dtype=np.int64)) for r in range(len(regimens))]


def changes(events: Events) -> np.ndarray:
    """(n, J) True where an event changes the state or its inputs (a dose arrives, an infusion
    starts or ends, a reset, a steady state)."""
    return (np.any(events.bolus != 0, axis=2) | np.any(events.rate != 0, axis=2) | events.reset
            | (events.ss >= 0))


def breakpoints(events: Events, horizon: float) -> np.ndarray:
    """Times (days) up to ``horizon`` where any patient's concentration has a kink or a jump."""
    events = events.patterns()[0]
    t = events.time[changes(events)]
    return np.unique(t[t <= horizon])


def supports(model, events: Events) -> bool:
    """Whether the mesh kernel computes these events: a linear model, boluses into the depot or
    the central compartment and infusions into the central one; no resets or steady states."""
    events = events.patterns()[0]
    return bool(model.is_linear and not np.any(events.reset) and not np.any(events.ss >= 0)
                and not np.any(events.rate[:, :, DEPOT] != 0))


def _rates(model, individual, n: int) -> tuple:
    """First-order rate constants (ka, k10, k12, k21; 1/day), 1/V (1/L) and whether there are two compartments."""
    pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
    two = "Q" in pk
    rates = [pk.get("ka", np.zeros(n)), pk["CL"] / pk["V"], pk["Q"] / pk["V"] if two else np.zeros(n),
             pk["Q"] / pk["V2"] if two else np.zeros(n), 1.0 / pk["V"]]
    return tuple(np.ascontiguousarray(np.broadcast_to(r, (n,)), dtype=float) for r in rates) + (bool(two),)


def _kernel_events(events: Events, mesh) -> tuple:
    """Per patient, in time order: the mesh point, kind (0 a bolus into the depot, 1 into the
    central compartment, 2 a change of the central infusion rate; -1 nothing) and amount of
    each input; which main points have any; whether any patient is infused."""
    n = events.n
    distinct, index = events.patterns()
    if index is not None:  # a few subjects' inputs, copied to all
        has_event, ev_point, ev_kind, ev_amount, infusions = _kernel_events(distinct, mesh)
        return (has_event,) + tuple(np.ascontiguousarray(a[index]) for a in (ev_point, ev_kind, ev_amount)) + \
            (infusions,)
    horizon = float(mesh.times[-1])
    points = np.concatenate([[0.0], (mesh.start + mesh.length)[: mesh.n_main]])
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
    ev_point = np.minimum(np.searchsorted(points, ev_time), points.size - 1)
    active = ev_kind >= 0
    if np.any(active & (np.abs(points[ev_point] - ev_time) > _SAME)):
        raise RuntimeError("internal: a dose or infusion end is not a point of the response mesh")
    has_event = np.zeros(mesh.n_main + 1, dtype=np.bool_)
    has_event[ev_point[active]] = True
    return (has_event, np.ascontiguousarray(ev_point, dtype=np.int64), np.ascontiguousarray(ev_kind, dtype=np.int64),
            np.ascontiguousarray(ev_amount, dtype=float), bool(np.any(ev_kind == 2)))


class Tables:
    """Propagator tables of one population's patients for a set of panel lengths, shared by the
    meshes (of several dosing histories) that use them (:func:`pkpd._kernels.linear_tables`)."""

    def __init__(self, model, individual, meshes, infusions: bool):
        from .. import _kernels
        n = np.asarray(individual["CL"]).size
        self.rates = _rates(model, individual, n)
        self.classes = np.unique(np.concatenate([mesh.kernel_args[0] for mesh in meshes]))
        x = meshes[0].kernel_args[1]
        blocks = -(-n // _kernels.BLOCK)
        self.infusions = bool(infusions)
        ka, k10, k12, k21, inv_v, two = self.rates
        self.node, self.end = _kernels.linear_tables(
            ka, k10, k12, k21, inv_v, two, self.infusions, self.classes, x,
            np.zeros((blocks, self.classes.size, x.size, _kernels.N_NODE_ENTRIES, _kernels.BLOCK)),
            np.zeros((blocks, self.classes.size, _kernels.N_END_ENTRIES, _kernels.BLOCK)))

        self.who = None  # the patient whose tables each row reads (None: row i is patient i)

    def rows(self, index) -> "Tables":
        """The tables of some of the patients (``index``; repeats allowed), shared, not copied: the
        rows of several dosing histories of one patient read that patient's propagators."""
        out = object.__new__(Tables)
        out.__dict__.update(self.__dict__)
        n = self.rates[4].size
        who = np.arange(n, dtype=np.int64) if self.who is None else self.who
        out.who = np.ascontiguousarray(who[index], dtype=np.int64)
        return out

    @property
    def n(self) -> int:
        return self.rates[4].size if self.who is None else self.who.size

    def row_rates(self) -> tuple:
        """The rate constants and 1/V of each row, and whether there are two compartments."""
        if self.who is None:
            return self.rates
        return tuple(np.ascontiguousarray(r[self.who]) for r in self.rates[:5]) + (self.rates[5],)

    def class_map(self, mesh) -> np.ndarray:
        return np.searchsorted(self.classes, mesh.kernel_args[0]).astype(np.int64)


def on_mesh(model, individual, events: Events, mesh, response=None, store: bool = True, out=None,
            tables: Tables | None = None):
    """Concentrations along a mesh for the mesh kernel (:func:`pkpd._kernels.linear_mesh`).

    Returns (nodes, conc, edges): concentrations (mg/L) at the mesh's nodes (block, segment,
    node, lane; :func:`pkpd.response._quadrature.to_blocks`), at its output times (patient, T)
    and at each segment's start (after a dose there) and end (before one), (block, segment, 2,
    lane); with ``store=False`` nodes and edges
    are None (not computed). With ``response`` = (k, base, amp, c50, hill, y0), arrays of
    length 1 or one per patient, the exact solution (patient, T) of
    y' = k (base + amp C^h/(c50^h + C^h) - y), y(0) = y0, computed in the same pass, is
    returned fourth. ``out``: arrays (patient, T) to write the concentrations (and the
    response) into. ``tables``: these patients' propagators for the mesh's panel lengths, if
    at hand (:class:`Tables`, shared by several meshes).

    ``events`` are the regimen's (:func:`regimen_events`, which :func:`supports`); ``mesh``
    is a :class:`pkpd.response.Mesh` with every event time before its last output among its
    points (:func:`breakpoints`).
    """
    from .. import _kernels
    n = events.n
    has_event, ev_point, ev_kind, ev_amount, infusions = _kernel_events(events, mesh)
    if tables is not None and (infusions and not tables.infusions):
        tables = None
    if tables is not None and tables.n != n:
        raise RuntimeError("internal: the propagator tables are not those of these patients")
    ka, k10, k12, k21, inv_v, two = _rates(model, individual, n) if tables is None else tables.row_rates()
    if tables is None:
        given = (np.zeros((0, 0, 0, 0, 0)), np.zeros((0, 0, 0, 0)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    else:
        who = np.zeros(0, np.int64) if tables.who is None else tables.who
        given = (tables.node, tables.end, tables.class_map(mesh), who)
    G, m, T = mesh.n_segments, mesh.tau.shape[1], mesh.times.size
    blocks, B = -(-n // _kernels.BLOCK), _kernels.BLOCK
    nodes = np.empty((blocks, G, m, B)) if store else np.empty((0, 0, 0, 0))
    edges = np.empty((blocks, G, 2, B)) if store else np.empty((0, 0, 0, 0))
    conc = np.empty((n, T)) if out is None else out[0]
    if response is None:
        pd = (np.ones(1), np.zeros(1), np.zeros(1), np.ones(1), np.ones(1), np.zeros(1))
        out_y = np.empty((0, 0))
    else:
        pd = tuple(np.ascontiguousarray(np.atleast_1d(np.asarray(v, float))) for v in response)
        out_y = np.empty((n, T)) if out is None else out[1]
    _kernels.linear_mesh(ka, k10, k12, k21, inv_v, two, infusions or (tables is not None and tables.infusions),
                         *mesh.kernel_args, has_event, ev_point, ev_kind, ev_amount, *given, nodes, edges, conc, *pd,
                         out_y)
    result = (nodes if store else None, conc, edges if store else None)
    return result if response is None else result + (out_y,)


class MeshSource:
    """A linear model's concentrations along a mesh, computed when asked for: the ``source`` of a
    :class:`pkpd.response.Trajectory` (``store``: nodes, conc and edges; ``respond``: conc and a
    first-order Hill response in one pass, nothing stored)."""

    def __init__(self, model, individual, events: Events, mesh, tables: Tables | None = None):
        self.model, self.individual, self.events, self.mesh, self.tables = model, individual, events, mesh, tables
        self.n = events.n
        # No dose before the last output (placebo): the concentrations are 0 throughout.
        distinct = events.patterns()[0]
        self.zero = not bool(np.any(changes(distinct) & (distinct.time <= float(mesh.times[-1]))))

    def store(self):
        with np.errstate(over="ignore", invalid="ignore"):
            nodes, conc, edges = on_mesh(self.model, self.individual, self.events, self.mesh, tables=self.tables)
        check_finite(_lanes_used(nodes, self.n))
        return nodes, conc, edges

    def respond(self, k, base, amp, c50, hill, y0):
        with np.errstate(over="ignore", invalid="ignore"):
            _, conc, _, y = on_mesh(self.model, self.individual, self.events, self.mesh,
                                    (k, base, amp, c50, hill, y0), store=False, tables=self.tables)
        check_finite(conc)
        return conc, y


def _lanes_used(blocks: np.ndarray, n: int) -> np.ndarray:
    """The values (block, ..., lane) of rows 0 .. n - 1, as (row-block, ...) pieces flattened:
    the lanes past the last row of the last block hold nothing."""
    if blocks.shape[0] == 0:
        return blocks.ravel()
    full = blocks.shape[0] - 1
    last = n - full * blocks.shape[-1]
    return np.concatenate([blocks[:full].ravel(), blocks[full, ..., :last].ravel()])
