"""The integration design and the deterministic rates it gives.

A :class:`Design` fixes how expectations over patients are computed: ``n_nodes``
scrambled-Sobol nodes (seed ``seed``) over between-subject variability and body weight,
and the mesh on which the response is integrated exactly for the known concentrations
(panels of ``step`` days, graded after each dose; :mod:`pkpd.response._quadrature`). The
same design gives the same rates to the last bit.

:class:`RateEngine` ties the stages together for fixed regimens, times and nodes:
regimens (and the dosing histories their rules can lead to) -> concentrations
(:class:`pkpd.pk.Exposure`, cached) -> latent levels (the model's registered response
model) -> responder probabilities and rule splits (:mod:`pkpd.endpoints`) -> the mean over
nodes. The fit, the likelihood, :func:`pkpd.response_rates` and :func:`pkpd.predict` all
use it, so there is one copy of every formula.
"""

from __future__ import annotations

import contextvars
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ._budget import check_memory, how_to_raise, limit
from ._checks import number, whole
from ._errors import PkpdError
from .dosing import DoseTable, Regimen, named_regimens
from .dosing._tables import course_records
from .endpoints import LinearScore, Mixture, TabulatedScore, split_by_rules
from .model import EndpointFamily, Population, sample_population
from .pk import concentrations
from .pk import engine as engine_for
from .pk._exposure import dose_parameters, pk_key
from .pk._on_mesh import MeshSource, Tables
from .pk._on_mesh import breakpoints as event_breakpoints, regimen_events, regimens_events
from .pk._on_mesh import supports as on_mesh_supports
from .response import Mesh, Trajectory, build_mesh
from .response._quadrature import DEFAULT_FIRST, DEFAULT_ORDER, DEFAULT_RATIO, DEFAULT_STEP



@dataclass(frozen=True)
class Design:
    """Integration design: Sobol nodes over patients and the response's integration mesh.

    Parameters
    ----------
    n_nodes : int
        Scrambled-Sobol nodes over between-subject variability and body weight (a power
        of 2 keeps the design balanced).
    seed : int
        Scrambling seed of the nodes.
    step : float
        Length (days) of the regular panels of the response's integration mesh; output
        times that are multiples of it lie on the mesh (the default 7 days: whole weeks).
    first, ratio : float
        After each dose (and infusion end) panels start at ``first`` days and grow by
        ``ratio`` up to ``step`` (:mod:`pkpd.response._quadrature`).
    order : int
        Gauss-Legendre nodes per panel.
    """

    n_nodes: int = 1024
    seed: int = 0
    step: float = DEFAULT_STEP
    first: float = DEFAULT_FIRST
    ratio: float = DEFAULT_RATIO
    order: int = DEFAULT_ORDER

    def __post_init__(self):
        object.__setattr__(self, "n_nodes", whole("Design n_nodes", self.n_nodes, minimum=1))
        object.__setattr__(self, "seed", whole("Design seed", self.seed, minimum=0))
        object.__setattr__(self, "step", number("Design step (days)", self.step, above=0,
                                                hint=" It is the length of the regular integration panels."))
        object.__setattr__(self, "first", number("Design first (days)", self.first, above=0, maximum=self.step))
        object.__setattr__(self, "ratio", number("Design ratio", self.ratio, above=1, maximum=16))
        object.__setattr__(self, "order", whole("Design order", self.order, minimum=1, maximum=20))

    def nodes(self, model, weight=None) -> Population:
        """The design's virtual patients for ``model`` (``weight``: kg, one or per node)."""
        return sample_population(model, self.n_nodes, seed=self.seed, weight=weight, method="sobol")

    def mesh(self, breakpoints, times, rows: int = 1) -> Mesh:
        """The integration mesh for output ``times`` (days) and the doses' ``breakpoints`` (days),
        checked first against the memory budget for ``rows`` patients' concentrations on it."""
        times = np.asarray(times, float)
        graded = math.ceil(math.log(self.step / self.first) / math.log(self.ratio)) + 1
        segments = float(times[-1]) / self.step + 2 + (np.size(breakpoints) + 1) * graded + times.size
        # Per patient: the concentrations at the nodes, the drug effect and a turnover's working
        # copy; and the mesh's own node offsets, weights and times.
        check_memory(segments * self.order * 8 * (4 * rows + 3),
                     f"The integration mesh to day {float(times[-1]):g} ({segments:,.0f} panels) for {rows:,} patients",
                     "Predict fewer weeks, use fewer nodes, or a longer Design step.")
        return build_mesh(breakpoints, times, self.step, self.first, self.ratio, self.order)

    def coarse(self, n_nodes: int) -> "Design":
        """A cheaper design for parameter draws: fewer nodes, panels four times as long, graded
        panels from 1.5 hours growing four-fold, three quadrature nodes. For the phase II fit's
        rates to week 52 it is within 2e-5 of the default design (absolute), against interval
        widths of percentage points; predict shifts the draws by the difference at the estimates."""
        return Design(n_nodes, self.seed, self.step * 4, 2.0 ** -4, 4.0, 3)

    @property
    def settings(self) -> dict:
        return {"n_nodes": self.n_nodes, "node_seed": self.seed, "step": self.step, "first": self.first,
                "ratio": self.ratio, "order": self.order}

    @classmethod
    def from_settings(cls, settings) -> "Design":
        return cls(settings["n_nodes"], settings["node_seed"], settings["step"], settings["first"],
                   settings["ratio"], settings["order"])

    def describe(self, population: Population) -> str:
        return (f"mean over {population.n} fixed {population.method} nodes (seed {population.seed}) of the "
                f"analytic responder probability given each node's PK/PD; response solved exactly on "
                f"{self.step:g}-day Gauss-Legendre panels ({self.order} nodes), graded after doses")


def as_design(design) -> Design:
    """``design``, or the default :class:`Design` for None; anything else is refused."""
    if design is None:
        return Design()
    if not isinstance(design, Design):
        raise PkpdError(f"design must be a pkpd.Design (e.g. pkpd.Design(n_nodes=1024)), got {design!r}.")
    return design


def mesh_times(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """The times to evaluate concentrations at for a mesh: its panels' nodes, and (separately, so
    that the panels never depend on the outputs) the side panels' nodes with the output times."""
    return mesh.nodes[: mesh.n_main].ravel(), np.union1d(mesh.nodes[mesh.n_main:].ravel(), mesh.times)


# Rule histories are computed in batches of at least this many (node, history) rows, the
# responses of HISTORY_THREADS batches at once on threads (the kernel releases the GIL) while the
# next batch's events are taken (benchmarks/bench_rules.py: 24 rules, 3,645 histories, peak of
# the whole process about 400 MB).
HISTORY_ROWS = 1024
HISTORY_THREADS = max(1, min(2, os.cpu_count() or 1))

# The concentration just before a segment's end (a dose there is not yet in the body) is taken
# this many days earlier, by engines that have no left limit of their own.
_BEFORE = 1e-9


def edge_times(mesh: Mesh) -> np.ndarray:
    """Each segment's start and (just before) its end, as one increasing set of times (days)."""
    return np.union1d(mesh.start, mesh.start + mesh.length - _BEFORE)


def assemble(mesh: Mesh, main: np.ndarray, side: np.ndarray, edges: np.ndarray | None = None) -> Trajectory:
    """A :class:`Trajectory` from concentrations (row, time) at the two sets of :func:`mesh_times`
    (and, optionally, at the :func:`edge_times`)."""
    n, m = main.shape[0], mesh.tau.shape[1]
    side_times = mesh_times(mesh)[1]
    at_side = np.searchsorted(side_times, mesh.nodes[mesh.n_main:].ravel())
    nodes = np.concatenate([main.reshape(n, mesh.n_main, m),
                            side[:, at_side].reshape(n, mesh.n_segments - mesh.n_main, m)], axis=1)
    edge = None
    if edges is not None:
        times = edge_times(mesh)
        edge = np.stack([edges[:, np.searchsorted(times, mesh.start)],
                         edges[:, np.searchsorted(times, mesh.start + mesh.length - _BEFORE)]], axis=-1)
    return Trajectory.from_rows(mesh, nodes, side[:, np.searchsorted(side_times, mesh.times)], edge)


def trajectory(model, regimen, individual: Mapping, weight, mesh: Mesh, method: str = "auto",
               events=None, tables=None) -> Trajectory:
    """A regimen's exact concentrations along a mesh: the mesh kernel for linear models, the PK
    engine at the node times otherwise (and for steady states). ``events``: the regimen's
    resolved events for these patients, if at hand (:func:`regimen_events`); ``tables``: their
    propagators (:class:`pkpd.pk._on_mesh.Tables`), if at hand."""
    horizon = float(mesh.times[-1])
    if engine_for(model, method) == "closed_form":
        if events is None:
            events = regimen_events(model, regimen, individual, weight, horizon)
        if on_mesh_supports(model, events):  # computed when first used (a first response without node values)
            return Trajectory(mesh, source=MeshSource(model, individual, events, mesh, tables))
    main, side = (concentrations(model, regimen, times, individual, weight, method) for times in mesh_times(mesh))
    edges = concentrations(model, regimen, edge_times(mesh), individual, weight, method)
    return assemble(mesh, main, side, edges)


def breakpoints(model, regimen, individual: Mapping, weight, horizon: float, events=None) -> np.ndarray:
    """Times (days) where a regimen's concentration has a kink or a jump for any of these
    patients: dose arrivals after their lag, infusion starts and ends, steady states."""
    if events is None:
        events = regimen_events(model, regimen, individual, weight, horizon)
    return event_breakpoints(events, horizon)


def _as_score(latent, spread, where: str = "The response model"):
    """A response model's latent: a score object, or a level array with the model's spread.
    A tabulated score must not decrease with z (rates and rules invert it as increasing)."""
    if isinstance(latent, Mixture):
        for part in latent.scores:
            _as_score(part, spread, where)
        return latent
    if isinstance(latent, TabulatedScore):
        latent.check_monotone(where)
        return latent
    score = latent if isinstance(latent, LinearScore) else LinearScore(latent, spread)
    if score.spread is None or not np.all(np.asarray(score.spread, float) > 0):
        raise PkpdError(f"{where} gives patients' scores with a spread that is not > 0 "
                        f"({score.spread!r}); a score must increase with z.")
    return score


def _every_course(regimen: Regimen) -> tuple:
    """The courses of a regimen and of all its rules: every dose some patient can get."""
    return regimen.courses + tuple(c for rule in regimen.rules for c in rule.courses)


def _rows(values: Mapping, rows) -> dict:
    """Per-node values (floats, or arrays (node,)) of some of the nodes."""
    return {k: v if np.ndim(v) == 0 else np.asarray(v)[rows] for k, v in values.items()}


class RateEngine:
    """Deterministic responder rates of one model for fixed regimens, times and nodes.

    ``values`` passed to the methods override the model's parameter values by name
    (internal units). Each regimen has its own integration mesh, so its rates do not depend on
    which other regimens are computed with it (beyond rounding: the propagators they share
    carry infusion terms when any of them is infused). A regimen with response-guided rules has one
    mesh for all the dosing histories its rules can lead to (every dose any rule can give is
    a point of it); a history is computed when some patients turn out to follow it, for the
    nodes where they are (:func:`pkpd.endpoints.split_by_rules`), never all 2^k of them.
    """

    def __init__(self, model, regimens, times_days: np.ndarray, population: Population, design: Design,
                 method: str = "auto"):
        if not model.pd:
            raise PkpdError(f"Model '{model.name}' has no [pd] section; load a model with a response model "
                            "such as 'ustekinumab_pasi'.")
        self.model, self.response, self.design = model, model.response, design
        self.regimens = named_regimens(regimens)
        self.times = np.asarray(times_days, float)
        self.population = population
        family = model.endpoints.prefix
        for name, reg in self.regimens.items():
            for rule in reg.rules:
                if rule.family != family:
                    raise PkpdError(f"Regimen {name!r} has a rule on {rule.family} ('{rule}'), but model "
                                    f"'{model.name}' measures {family} ({list(model.endpoints.names)}).")
        rule_times = [r.time for reg in self.regimens.values() for r in reg.rules]
        self.eval_times = np.union1d(self.times, rule_times)
        self.out_index = np.searchsorted(self.eval_times, self.times)
        horizon = float(self.eval_times[-1])
        individual = population.individual(model)
        self.method = engine_for(model, method)
        self.meshes = []
        # A regimen without rules: the events resolved for its mesh are those of its first
        # trajectories at the model's own PK values (kept for them, never resolved twice).
        self._first_events = []
        plain = [reg.base for reg in self.regimens.values() if not reg.rules]
        if self.method == "closed_form" and plain:
            resolved = iter(regimens_events(model, plain, individual, population.weight, horizon))
        for reg in self.regimens.values():
            every_dose = Regimen(_every_course(reg))
            events = next(resolved) if self.method == "closed_form" and not reg.rules else None
            self._first_events.append(events)
            self.meshes.append(design.mesh(breakpoints(model, every_dose, individual, population.weight, horizon,
                                                       events),
                                           self.eval_times, rows=population.n * len(self.regimens)))
        self.infusions = any(c.route == "infusion" for reg in self.regimens.values()
                             for c in _every_course(reg))
        self._values = dict(model.values)  # the model is frozen: its values once
        self._pk_names = {}  # names that change concentrations, per set of value names (pk_key's)
        self._first_key = self._key(self._values)
        self._trajectories, self._pk_key, self._tables = None, None, None
        # The regimen of each dosing history met in the last evaluation, per regimen (fired rules -> regimen).
        self._histories = [{frozenset(): reg.base} for reg in self.regimens.values()]
        self._groups = {}  # regimen -> nodes numbered by their weight-dependent amounts (_dose_groups)
        self._every = {}  # regimen -> its records with every rule's doses (_every_record)
        self._regimen_list = list(self.regimens.values())

    def _key(self, values: Mapping) -> tuple:
        """:func:`pkpd.pk._exposure.pk_key` of these values, its names found once per set of names."""
        names = frozenset(values)
        if names not in self._pk_names:
            self._pk_names[names] = tuple(n for n, _ in pk_key(self.model, values))
        return tuple((n, values[n]) for n in self._pk_names[names])

    # -- values ---------------------------------------------------------------------------
    def node_values(self, values: Mapping | None = None) -> dict:
        """Response-model values per node: one float when all nodes share it, else an array (node,)."""
        p = self.population.individual(self.model, dict(values or {}))
        v = {}
        for name in self.model.pd_names:
            x = np.asarray(p[name], float)
            v[name] = float(x[0]) if np.all(x == x[0]) else x
        for name in getattr(self.response, "scores", ()):  # BSV scores a response model correlates with
            z = self.population.z_names
            v[f"score_{name}"] = self.population.z[:, z.index(name)] if name in z else 0.0
        return v

    def spread(self, values: Mapping | None = None) -> float:
        v = dict(self._values, **dict(values or {}))
        s = self.response.spread(v)
        if not s > 0:
            name = self.response.spread_parameter
            raise PkpdError(f"Parameter '{name}' = {s!r} is not allowed; it must be > 0.")
        return s

    def cuts(self, endpoints: EndpointFamily) -> np.ndarray:
        return self.response.cut(list(endpoints.thresholds.values()))

    # -- latent levels ---------------------------------------------------------------------
    def trajectories(self, values: Mapping | None = None) -> list[Trajectory]:
        """Each regimen's concentrations along its mesh before any rule fires (recomputed only when
        PK values change)."""
        key = self._key(dict(self._values, **dict(values or {})))
        if key != self._pk_key:
            individual = self.population.individual(self.model, dict(values or {}))
            tables = None
            if self.method == "closed_form" and self.model.is_linear:  # propagators shared by the histories
                tables = Tables(self.model, individual, self.meshes, self.infusions)
            first = self._first_events if key == self._first_key else [None] * len(self.meshes)
            self._trajectories = [trajectory(self.model, reg.base, individual, self.population.weight, mesh,
                                             self.method, events=events, tables=tables)
                                  for reg, mesh, events in zip(self.regimens.values(), self.meshes, first)]
            self._pk_key, self._tables = key, tables
        return self._trajectories

    def _latent_of(self, values: Mapping | None = None) -> Callable:
        """(trajectory, nodes) -> the scores of those nodes' patients, at one set of values."""
        v = self.node_values(values)
        spread = self.spread(values) if self.response.spread_parameter else None
        where = f"Response model '{self.response.name}'"
        return lambda traj, rows: _as_score(self.response.latent(traj, v if rows is None else _rows(v, rows)),
                                            spread, where)

    def _latent_draws_of(self, draws: list) -> Callable:
        """(trajectory, nodes) -> the scores of those nodes' patients for many parameter sets (draw, ...)."""
        node_sets = self._node_sets(draws)
        spread = np.array([self.spread(d) for d in draws])[:, None, None] if self.response.spread_parameter else None
        where = f"Response model '{self.response.name}'"
        return lambda traj, rows: _as_score(self.response.latent_draws(
            traj, node_sets if rows is None else [_rows(v, rows) for v in node_sets]), spread, where)

    def latent(self, values: Mapping | None = None) -> list:
        """Scores of each regimen's patients at the evaluation times before any rule fires (one per
        regimen): :class:`pkpd.endpoints.LinearScore` (level (node, time) and spread), or
        whatever score the response model gives."""
        latent_of = self._latent_of(values)
        return [latent_of(traj, None) for traj in self.trajectories(values)]

    # -- dosing histories of rules ----------------------------------------------------------
    def _history_scores(self, r: int, asked: Mapping, values: Mapping | None, latent_of: Callable) -> dict:
        """Scores of regimen ``r``'s dosing histories ``asked`` ({fired rules: nodes}) at those nodes,
        computed in batches: each node with its history's own records, on the regimen's mesh."""
        name, regimen = list(self.regimens.items())[r]
        known = self._histories[r]  # the histories of this evaluation so far
        for fired in sorted(asked, key=len):
            if fired not in known:
                j = max(fired)
                known[fired] = regimen.rules[j].apply(known[fired - {j}])  # its parent is known: met earlier
        allowed = limit("rule_histories")
        if len(known) > allowed:
            j = max(max(f) for f in asked)
            raise PkpdError(
                f"Regimen {name!r}: its {len(regimen.rules)} response-guided rules lead to more than {allowed:,} "
                f"distinct dosing histories by rule {j + 1} ('{regimen.rules[j]}'), over the rule_histories budget. "
                "Histories multiply when responses fall between checks (README, 'Rule cost'): check less often, "
                f"or use fewer rules. {how_to_raise('rule_histories')}")
        self.trajectories(values)  # the base trajectories, and the propagators of this PK
        individual = self.population.individual(self.model, dict(values or {}))
        items = list(asked.items())
        # The events of every node asked for, resolved at once as a few patterns (one per history
        # and weight group) when nodes of a history share them; each batch takes its own.
        patterns = self._pattern_events(r, [(f, known[f], nodes) for f, nodes in items], individual)
        out, batch, size, pending, done = {}, [], 0, [], 0
        # Batches' scores (the response kernel, which releases the GIL) are computed on threads
        # while the next batch's events are taken; the results do not depend on them.
        with ThreadPoolExecutor(max_workers=HISTORY_THREADS) as pool:
            for k, (fired, nodes) in enumerate(items):
                batch.append((fired, nodes))
                size += nodes.size
                if size < HISTORY_ROWS and k + 1 < len(items):
                    continue
                rows = np.concatenate([nodes for _, nodes in batch])
                events = None
                if patterns is not None:  # this batch's patterns are consecutive: the histories are in order
                    which = patterns[1][done:done + size]
                    low = int(which.min())
                    events = patterns[0].rows(slice(low, int(which.max()) + 1)).take(which - low)
                traj = self._history_trajectory(r, [(f, known[f], nodes) for f, nodes in batch], individual, events)
                if len(pending) >= HISTORY_THREADS:
                    pending[-HISTORY_THREADS][1].result()  # at most HISTORY_THREADS in flight: bounded memory
                # in the caller's context: numpy's error state (np.errstate) is a context variable
                pending.append((batch, pool.submit(contextvars.copy_context().run, latent_of, traj, rows)))
                batch, done, size = [], done + size, 0
        for batch, score in pending:
            score, at = score.result(), 0
            for f, nodes in batch:
                out[f] = score.rows(slice(at, at + nodes.size))
                at += nodes.size
        return out

    def _pattern_events(self, r: int, histories: list, individual: Mapping) -> tuple | None:
        """The events of the nodes of some dosing histories of regimen ``r`` (``histories``:
        (fired rules, regimen, nodes)) as (events of a few patterns, the pattern of each node in
        the histories' order), the patterns in the histories' order. Nodes of one history whose
        doses resolve to the same amounts (one weight group) share their events, when dose
        parameters (F, lag, ...) do not differ between nodes and no dose is a steady state.
        None otherwise: each node's records are resolved on their own."""
        if self.method != "closed_form":
            return None
        rows = np.concatenate([nodes for _, _, nodes in histories])
        pk = {k: np.asarray(individual[k])[rows] for k in self.model.pk_names}
        dose = dose_parameters(self.model, pk)
        if not all(np.ndim(v) == 0 or np.all(v == np.asarray(v).flat[0]) for by in dose.values() for v in by.values()):
            return None
        weight, horizon = self.population.weight, float(self.eval_times[-1])
        group, every = self._dose_groups(r), self._every_record(r)
        if every is not None:  # the patterns (history, group) of all at once
            groups = 1 if group is None else int(group.max()) + 1
            key = np.repeat(np.arange(len(histories)), [nodes.size for _, _, nodes in histories]) * groups
            if group is not None:
                key += group[rows]
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            small = self._history_records(r, [histories[b][0] for b in key[first] // groups], key[first] % groups)
            inverse = inverse.ravel()
        else:
            tables, inverse, offset = [], [], 0
            for _, regimen, nodes in histories:
                first, where = np.zeros(1, np.int64), np.zeros(nodes.size, np.int64)
                if group is not None and regimen.depends_on_weight:
                    _, first, where = np.unique(group[nodes], return_index=True, return_inverse=True)
                tables.append(DoseTable.from_regimen(regimen, first.size, None if weight is None else
                                                     weight[nodes][first], horizon))
                inverse.append(where.ravel() + offset)
                offset += first.size
            small, inverse = DoseTable.stack(tables), np.concatenate(inverse)
        first_node = {k: np.full(small.n, v.flat[0]) for k, v in pk.items()}
        events = regimen_events(self.model, small, first_node, None, horizon, distinct=True)
        return None if events.steady.m else (events, inverse)

    def _history_trajectory(self, r: int, batch: list, individual: Mapping, events=None) -> Trajectory:
        """Concentrations along regimen ``r``'s mesh of the nodes of several dosing histories
        (``batch``: (fired rules, regimen, nodes)), each node with its history's records;
        ``events``: theirs, if resolved (:meth:`_pattern_events`)."""
        weight = self.population.weight
        rows = np.concatenate([nodes for _, _, nodes in batch])
        part = {key: np.asarray(x)[rows] for key, x in individual.items()}
        w = None if weight is None else weight[rows]
        shared = None if self._tables is None else self._tables.rows(rows)
        if events is not None and on_mesh_supports(self.model, events):
            return trajectory(self.model, None, part, w, self.meshes[r], self.method, events, shared)
        horizon = float(self.eval_times[-1])
        table = DoseTable.stack([DoseTable.from_regimen(regimen, nodes.size, None if weight is None else weight[nodes],
                                                        horizon) for _, regimen, nodes in batch])
        return trajectory(self.model, table, part, w, self.meshes[r], self.method, tables=shared)

    def _every_record(self, r: int) -> tuple | None:
        """When every rule of regimen ``r`` adds doses: the records of the regimen with every rule's
        doses, one row per group of :meth:`_dose_groups` (a :class:`DoseTable`), and the rule that
        gives each record (-1: the regimen's own). A history's records are those of the rules that
        fired and the regimen's own, in the same order. None for rules that switch."""
        if r not in self._every:
            reg, weight = self._regimen_list[r], self.population.weight
            every = None
            if reg.rules and all(rule.action == "add" for rule in reg.rules):
                group = self._dose_groups(r)
                first = np.zeros(1, np.int64) if group is None else np.unique(group, return_index=True)[1]
                courses = [(c, -1) for c in reg.courses] + [(c, j) for j, rule in enumerate(reg.rules)
                                                            for c in rule.courses]
                w, horizon = None if weight is None else weight[first], float(self.eval_times[-1])
                everything = Regimen(tuple(c for c, _ in courses))
                table = DoseTable.from_regimen(everything, first.size, w, horizon)
                owner = np.array([courses[c][1] for c, _ in course_records(everything, first.size, w, horizon)],
                                 dtype=np.int64)
                every = (table, owner) if owner.size else None  # no dose before the horizon: nothing to mask
            self._every[r] = every
        return self._every[r]

    def _history_records(self, r: int, histories: list, groups: np.ndarray) -> DoseTable:
        """The records of some histories of regimen ``r`` (``histories``: the rules that fired, one
        subject each, at that subject's group of :meth:`_dose_groups`), from
        :meth:`_every_record`: the records of rules that did not fire are made padding (invalid)."""
        table, owner = self._every_record(r)
        source = np.asarray(groups, np.int64)
        fired = np.zeros((source.size, len(self._regimen_list[r].rules) + 1), bool)
        fired[:, -1] = True  # owner -1: the regimen's own records
        for i, rules in enumerate(histories):
            fired[i, list(rules)] = True
        keep = fired[:, owner]
        fields = {name: np.asarray(getattr(table, name))[source] for name in (
            "time", "evid", "amount", "compartment", "rate", "interval", "additional", "steady_state", "valid",
            "output", "line")}
        fields["valid"] = fields["valid"] & keep
        fields["evid"] = np.where(keep, fields["evid"], 2)
        return DoseTable(**fields, labels=tuple(range(source.size)),
                         weight=None if table.weight is None else table.weight[source], time_unit=table.time_unit)

    def _dose_groups(self, r: int) -> np.ndarray | None:
        """Nodes of regimen ``r`` numbered by the amounts every weight-dependent dose of the regimen
        and its rules resolves to at their weight (equal numbers: equal amounts in any history);
        None when no dose depends on weight."""
        if r not in self._groups:
            reg, weight = self._regimen_list[r], self.population.weight
            by_weight = [c.amount for c in _every_course(reg) if c.amount.depends_on_weight]
            group = None
            if by_weight and weight is not None:
                amounts = np.stack([a.resolve(weight) for a in by_weight], axis=1)
                group = np.unique(amounts, axis=0, return_inverse=True)[1].ravel()
            self._groups[r] = group
        return self._groups[r]

    # -- probabilities and rates -----------------------------------------------------------
    def _rules(self, r: int) -> list:
        reg = self._regimen_list[r]
        family = self.model.endpoints
        out = []
        for rule in reg.rules:
            t = int(np.searchsorted(self.eval_times, rule.time))
            lower = None if rule.lower == 0 else float(self.response.cut([family.threshold_of(rule.lower)])[0])
            upper = None if rule.upper is None else float(self.response.cut([family.threshold_of(rule.upper)])[0])
            out.append((t, lower, upper))
        return out

    def probabilities(self, r: int, scores: list, cuts, values: Mapping | None = None,
                      latent_of: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-node responder probabilities (..., node, time, endpoint) of regimen ``r``, and the
        per-node share for whom each rule fired (..., node, rule). ``scores``: each regimen's
        scores before any rule fires (:meth:`latent`); ``values`` and ``latent_of`` give the
        scores of the histories its rules lead to (default: at ``values``)."""
        base = scores[r]
        rules = self._rules(r)
        if not rules:
            probs = base.take(self.out_index).probability(cuts)
            return probs, np.zeros(probs.shape[:-2] + (0,))
        latent_of = latent_of or self._latent_of(values)
        # Histories are met afresh at each evaluation (other values, other intervals): the budget
        # counts those of one evaluation.
        self._histories[r] = {frozenset(): self._regimen_list[r].base}
        return split_by_rules(rules, base, lambda asked: self._history_scores(r, asked, values, latent_of), cuts,
                              self.out_index)

    @property
    def n_rules(self) -> int:
        return max((len(r.rules) for r in self.regimens.values()), default=0)

    def evaluate(self, values: Mapping | None = None, endpoints: EndpointFamily | None = None):
        """Expected responder rates (regimen, time, endpoint), the mean over the nodes, and the
        share of patients each rule fired for (regimen, rule; NaN-padded), in one pass."""
        endpoints = endpoints or self.model.endpoints
        scores, cuts = self.latent(values), self.cuts(endpoints)
        rates = np.empty((len(self.regimens), self.times.size, len(endpoints.names)))
        fired = np.full((len(self.regimens), self.n_rules), np.nan)
        for r, regimen in enumerate(self.regimens.values()):
            if not regimen.rules:  # no rule machinery: the mean over nodes straight from the scores
                rates[r] = scores[r].take(self.out_index).mean_probability(cuts)
                continue
            probs, share = self.probabilities(r, scores, cuts, values)
            rates[r] = probs.mean(axis=0)
            fired[r, :share.shape[-1]] = share.mean(axis=0)
        return rates, fired

    def rates(self, values: Mapping | None = None, endpoints: EndpointFamily | None = None) -> np.ndarray:
        """Expected responder rates (regimen, time, endpoint): the mean over the nodes."""
        return self.evaluate(values, endpoints)[0]

    def rates_by_group(self, masks: np.ndarray, values: Mapping | None = None,
                       endpoints: EndpointFamily | None = None) -> np.ndarray:
        """Rates within groups of nodes, (regimen, group, time, endpoint); ``masks`` (group, node)."""
        endpoints = endpoints or self.model.endpoints
        scores, cuts = self.latent(values), self.cuts(endpoints)
        out = np.empty((len(self.regimens), len(masks), self.times.size, len(endpoints.names)))
        for r, regimen in enumerate(self.regimens.values()):
            if not regimen.rules:  # as evaluate does, so that the group of all nodes gives its rates exactly
                score = scores[r].take(self.out_index)
                for g, mask in enumerate(masks):
                    out[r, g] = score.rows(np.asarray(mask, bool)).mean_probability(cuts)
                continue
            probs = self.probabilities(r, scores, cuts, values)[0]
            for g, mask in enumerate(masks):
                out[r, g] = probs[mask].mean(axis=0)
        return out

    # -- many parameter sets at once -------------------------------------------------------
    def _node_sets(self, sets: list) -> list:
        """:meth:`node_values` of each parameter set. When two of them, differing in every varying
        parameter, show every node taking the set's own value of each (no variability, covariate or
        weight effect on it) and every other value unchanged (nothing else derived from them), the
        others are filled in directly instead of through the population's mapping."""
        if len(sets) < 2:
            return [self.node_values(v) for v in sets]
        probes = [self.node_values(v) for v in sets[:2]]
        a, b = sets[0], sets[1]
        direct = set(a) == set(b) and all(k in probes[0] and a[k] != b[k] for k in a) \
            and all(isinstance(p[k], float) and p[k] == v[k] for p, v in zip(probes, sets[:2]) for k in v) \
            and all(np.array_equal(probes[0][k], probes[1][k]) for k in probes[0] if k not in a)
        if not direct:
            return probes + [self.node_values(v) for v in sets[2:]]
        return probes + [dict(probes[0], **v) for v in sets[2:]]

    def rates_draws(self, draws: Mapping[str, np.ndarray], endpoints: EndpointFamily | None = None,
                    chunk: int = 50, progress=None):
        """Rates for many parameter sets: ``draws`` maps names to arrays (n_draws,).

        Returns (draw, regimen, time, endpoint) and the fired shares (draw, regimen, rule).
        When only response-model parameters vary, the concentrations are shared and the
        response model computes the draws batched; otherwise one draw at a time.
        """
        endpoints = endpoints or self.model.endpoints
        names = list(draws)
        n = len(next(iter(draws.values()))) if draws else 0
        batched = set(names) <= set(self.model.pd_names)
        rates = np.empty((n, len(self.regimens), self.times.size, len(endpoints.names)))
        fired = np.full((n, len(self.regimens), self.n_rules), np.nan)
        cuts = self.cuts(endpoints)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            sets = [{k: float(draws[k][i]) for k in names} for i in range(sl.start, sl.stop)]
            if not batched:
                for i, values in zip(range(sl.start, sl.stop), sets):
                    rates[i], fired[i] = self.evaluate(values, endpoints)
            else:
                latent_of = self._latent_draws_of(sets)
                scores = [latent_of(traj, None) for traj in self.trajectories()]
                for r, regimen in enumerate(self.regimens.values()):
                    if not regimen.rules:
                        rates[sl, r] = scores[r].take(self.out_index).mean_probability(cuts)
                        continue
                    probs, share = self.probabilities(r, scores, cuts, None, latent_of)
                    rates[sl, r] = probs.mean(axis=-3)
                    fired[sl, r, :share.shape[-1]] = share.mean(axis=-2)
            if progress is not None:
                progress(sl.stop, n)
        return rates, fired
