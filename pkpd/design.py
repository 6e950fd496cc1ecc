"""The integration design and the deterministic rates it gives.

A :class:`Design` fixes how expectations over patients are computed: ``n_nodes``
scrambled-Sobol nodes (seed ``seed``) over between-subject variability and body weight,
and the time grid on which concentrations drive the response (``step`` days, plus the
requested times and a geometric run of points after each dose, ``refinement``). The same
design gives the same rates to the last bit.

:class:`RateEngine` ties the stages together for fixed regimens, times and nodes:
regimens (and the dosing histories their rules can lead to) -> concentrations
(:class:`pkpd.pk.Exposure`, cached) -> latent levels (the model's registered response
model) -> responder probabilities and rule splits (:mod:`pkpd.endpoints`) -> the mean over
nodes. The fit, the likelihood, :func:`pkpd.response_rates` and :func:`pkpd.predict` all
use it, so there is one copy of every formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ._checks import number, whole
from ._errors import PkpdError
from .dosing import named_regimens
from .endpoints import split_by_rules, responder_probability
from .model import EndpointFamily, Population, sample_population
from .pk import Exposure

# Extra grid points after each dose (days): a geometric run from 8 minutes to 4 days with
# ratio 2^(1/4). An SC dose's effect can swing from none to full within hours and keeps
# curving while absorption goes on; on a fixed absolute scale the refinement's own error
# stays put (~3e-5) whatever the step, and the step's error is second order.
DOSE_REFINEMENT = tuple(2.0 ** (np.arange(-30, 9) / 4))


@dataclass(frozen=True)
class Design:
    """Integration design: Sobol nodes over patients and the time grid of the response.

    Parameters
    ----------
    n_nodes : int
        Scrambled-Sobol nodes over between-subject variability and body weight (a power
        of 2 keeps the design balanced).
    seed : int
        Scrambling seed of the nodes.
    step : float
        Regular grid step (days) of the response's time grid.
    refinement : tuple of float
        Extra grid points after each dose (days after it).
    """

    n_nodes: int = 1024
    seed: int = 0
    step: float = 1.0
    refinement: tuple = field(default=DOSE_REFINEMENT, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "n_nodes", whole("Design n_nodes", self.n_nodes, minimum=1))
        object.__setattr__(self, "seed", whole("Design seed", self.seed, minimum=0))
        object.__setattr__(self, "step", number("Grid step (days)", self.step, above=0,
                                                hint=" It is the response's time-grid step."))
        object.__setattr__(self, "refinement", tuple(float(x) for x in self.refinement))

    def nodes(self, model, weight=None) -> Population:
        """The design's virtual patients for ``model`` (``weight``: kg, one or per node)."""
        return sample_population(model, self.n_nodes, seed=self.seed, weight=weight, method="sobol")

    def grid(self, dose_times: np.ndarray, eval_times: np.ndarray) -> np.ndarray:
        """Time grid (days) from 0 to the last evaluation time for doses at ``dose_times``."""
        horizon = eval_times[-1]
        grid = np.concatenate([np.arange(0.0, horizon + self.step, self.step), eval_times, [0.0], dose_times,
                               (dose_times[:, None] + np.asarray(self.refinement)[None, :]).ravel()])
        return np.unique(grid[(grid >= 0.0) & (grid <= horizon)])

    def coarse(self, n_nodes: int, step_factor: float = 2.0) -> "Design":
        """A cheaper design for parameter draws: fewer nodes, a wider step, half the refinement."""
        return Design(n_nodes, self.seed, self.step * step_factor, self.refinement[::2])

    @property
    def settings(self) -> dict:
        return {"n_nodes": self.n_nodes, "node_seed": self.seed, "step": self.step}

    def describe(self, population: Population) -> str:
        return (f"mean over {population.n} fixed {population.method} nodes (seed {population.seed}) of the "
                "analytic responder probability given each node's PK/PD")


class RateEngine:
    """Deterministic responder rates of one model for fixed regimens, times and nodes.

    ``values`` passed to the methods override the model's parameter values by name
    (internal units). A regimen with response-guided rules expands into the dosing
    histories a patient can end up on (its variants); each has its own time grid, so a
    regimen's rates never depend on which other regimens are computed with it.
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
        self.plans, variants = [], []
        for reg in self.regimens.values():
            plan = {}
            for fired, variant in reg.variants():
                plan[fired] = len(variants)
                variants.append(variant)
            self.plans.append(plan)
        lag = float(model.values.get("tlag", 0.0))
        horizon = self.eval_times[-1]
        self.grids = [design.grid(v.dose_times(horizon) + lag, self.eval_times) for v in variants]
        self.grid_index = [np.searchsorted(g, self.eval_times) for g in self.grids]
        self.exposure = Exposure(model, population, list(zip(variants, self.grids)), method)
        self._work = {}

    # -- values ---------------------------------------------------------------------------
    def node_values(self, values: Mapping | None = None) -> dict:
        """Response-model values per node: one float when all nodes share it, else an array (node,)."""
        p = self.population.individual(self.model, dict(values or {}))
        v = {}
        for name in self.model.pd_names:
            x = np.asarray(p[name], float)
            v[name] = float(x[0]) if np.all(x == x[0]) else x
        return v

    def spread(self, values: Mapping | None = None) -> float:
        v = dict(self.model.values, **dict(values or {}))
        s = self.response.spread(v)
        if not s > 0:
            name = self.response.spread_parameter
            raise PkpdError(f"Parameter '{name}' = {s!r} is not allowed; it must be > 0.")
        return s

    def cuts(self, endpoints: EndpointFamily) -> np.ndarray:
        return self.response.cut(list(endpoints.thresholds.values()))

    # -- latent levels ---------------------------------------------------------------------
    def latent(self, values: Mapping | None = None) -> list:
        """Latent level per dosing history at the evaluation times: list of (node, time)."""
        v = self.node_values(values)
        out = []
        for c, grid, idx in zip(self.exposure(values), self.grids, self.grid_index):
            work = self._work.get(c.shape)
            if work is None:
                work = self._work[c.shape] = np.empty_like(c)
            out.append(self.response.latent(grid, c, v, idx, work=work))
        return out

    # -- probabilities and rates -----------------------------------------------------------
    def _rules(self, r: int) -> list:
        reg = list(self.regimens.values())[r]
        family = self.model.endpoints
        out = []
        for rule in reg.rules:
            t = int(np.searchsorted(self.eval_times, rule.time))
            lower = None if rule.lower == 0 else float(self.response.cut([family.threshold_of(rule.lower)])[0])
            upper = None if rule.upper is None else float(self.response.cut([family.threshold_of(rule.upper)])[0])
            out.append((t, lower, upper))
        return out

    def probabilities(self, r: int, levels: list, spread, cuts) -> tuple[np.ndarray, np.ndarray]:
        """Per-node responder probabilities (..., node, time, endpoint) of regimen ``r``, and the
        per-node share for whom each rule fired (..., node, rule)."""
        spread = np.asarray(spread, float)
        plan = self.plans[r]
        rules = self._rules(r)
        if not rules:
            level = levels[plan[frozenset()]][..., self.out_index]
            return responder_probability(level, spread[..., None, None], cuts), np.zeros(level.shape[:-1] + (0,))
        return split_by_rules(rules, plan, levels, spread[..., None], cuts, self.out_index)

    def rates(self, values: Mapping | None = None, endpoints: EndpointFamily | None = None) -> np.ndarray:
        """Expected responder rates (regimen, time, endpoint): the mean over the nodes."""
        endpoints = endpoints or self.model.endpoints
        spread = self.spread(values)
        levels = self.latent(values)
        cuts = self.cuts(endpoints)
        return np.stack([self.probabilities(r, levels, spread, cuts)[0].mean(axis=0)
                         for r in range(len(self.regimens))])

    def rates_by_group(self, masks: np.ndarray, values: Mapping | None = None,
                       endpoints: EndpointFamily | None = None) -> np.ndarray:
        """Rates within groups of nodes, (regimen, group, time, endpoint); ``masks`` (group, node)."""
        endpoints = endpoints or self.model.endpoints
        spread, levels, cuts = self.spread(values), self.latent(values), self.cuts(endpoints)
        out = np.empty((len(self.regimens), len(masks), self.times.size, len(endpoints.names)))
        for r in range(len(self.regimens)):
            probs = self.probabilities(r, levels, spread, cuts)[0]
            for g, mask in enumerate(masks):
                out[r, g] = probs[mask].mean(axis=0)
        return out

    def fired(self, values: Mapping | None = None) -> np.ndarray:
        """Share of patients for whom each rule fired: (regimen, rule), NaN-padded."""
        spread, levels = self.spread(values), self.latent(values)
        n_rules = max((len(r.rules) for r in self.regimens.values()), default=0)
        out = np.full((len(self.regimens), n_rules), np.nan)
        for r in range(len(self.regimens)):
            share = self.probabilities(r, levels, spread, np.array([0.0]))[1].mean(axis=0)
            out[r, :share.size] = share
        return out

    # -- many parameter sets at once -------------------------------------------------------
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
        n_rules = max((len(r.rules) for r in self.regimens.values()), default=0)
        rates = np.empty((n, len(self.regimens), self.times.size, len(endpoints.names)))
        fired = np.full((n, len(self.regimens), n_rules), np.nan)
        cuts = self.cuts(endpoints)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            sets = [{k: float(draws[k][i]) for k in names} for i in range(sl.start, sl.stop)]
            if not batched:
                for i, values in zip(range(sl.start, sl.stop), sets):
                    rates[i] = self.rates(values, endpoints)
                    f = self.fired(values)
                    fired[i, :, :f.shape[1]] = f
            else:
                node_sets = [self.node_values(v) for v in sets]
                levels = [self.response.latent_draws(grid, c, node_sets, idx)
                          for c, grid, idx in zip(self.exposure(), self.grids, self.grid_index)]
                spread = np.array([self.spread(v) for v in sets])
                for r in range(len(self.regimens)):
                    probs, share = self.probabilities(r, levels, spread, cuts)
                    rates[sl, r] = probs.mean(axis=-3)
                    fired[sl, r, :share.shape[-1]] = share.mean(axis=-2)
            if progress is not None:
                progress(sl.stop, n)
        return rates, fired
