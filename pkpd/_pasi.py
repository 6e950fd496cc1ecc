r"""PASI response: a turnover model of psoriatic lesions driven by drug concentration.

Structure (``[pd] type = "pasi_turnover"``)
-------------------------------------------
With :math:`R = PASI(t)/PASI(0)` for a patient whose response scale is 1, drug and
placebo inhibit lesion production (indirect-response model I, independent action):

.. math::
    \dot R = k_{out}\,(1 - I(t)) - k_{out} R, \qquad R(0) = 1,\qquad
    I(t) = 1 - \Big(1 - \frac{I_{max} C^h}{IC_{50}^h + C^h}\Big)(1 - P_{max})

:math:`P_{max}` is the placebo's fractional inhibition of lesion production, in force
from day 0 and acting through the same turnover. Each patient *i* responds with an
individual scale :math:`s_i = e^{\omega \eta_i}`, :math:`\eta_i \sim N(0,1)`, on the
log-PASI-ratio: :math:`PASI_i(t)/PASI_i(0) = R_i(t)^{s_i}`. So improvement
:math:`1 - R_i^{s_i}` is 0 at baseline for everyone, a patient's PASI50/75/90/100 are
thresholds on this *one* latent trajectory (PASI90 responders are always PASI75
responders), and with complete inhibition :math:`s_i` is simply a patient-specific
turnover rate. This is a latent-variable indirect-response model in the spirit of
Hu et al. (J Pharmacokinet Pharmacodyn 2011;38:237-260, doi:10.1007/s10928-011-9191-4),
who modelled ustekinumab PASI categories through a latent turnover variable.

Response rates
--------------
Patient *i* is a PASI-x responder when :math:`s_i\,d_i(t) \ge -\ln(1-x)`, with
:math:`d_i = -\ln R_i` (the depth of response). Given the patient's PK (and any PD
between-subject variability) the probability is analytic,
:math:`\Phi\big((\ln d_i(t) - \ln(-\ln(1-x)))/\omega\big)`, and the rate is its mean over a
fixed scrambled-Sobol design of the remaining variability (PK BSV, body weight, BSV on
PD parameters). The same parameters give the same rates to the last bit, and rates are
smooth in every parameter.

The concentration enters on a time grid (``step``, 1 day by default, plus the requested
times and a geometric run of points from 8 minutes to 4 days after each dose) and the
drug effect is taken as linear between grid points; the turnover is then solved exactly
(:func:`pkpd._pd.first_order_response`). For the ustekinumab model the depth of response
is within 2e-4 (relative) of an independent ODE solution (tests/test_pasi.py); a
uniform 1-day grid without the refinement would be off by 1e-3.
"""

from __future__ import annotations

import json
import math
import re
from typing import Mapping

import numpy as np
import xarray as xr
from scipy.special import ndtr

from ._errors import PkpdError
from ._pd import first_order_response
from ._population import Population, sample_population

PD_TYPES = {"pasi_turnover": ("kout", "Imax", "IC50", "hill", "Pmax", "omega_response")}
DEFAULT_ENDPOINTS = {"PASI50": 0.50, "PASI75": 0.75, "PASI90": 0.90, "PASI100": 0.995}
GRID_STEP = 1.0  # days
# Extra grid points after each dose (days): a geometric run from 8 minutes to 4 days with
# ratio 2^(1/4). An SC dose's effect can swing from none to full within hours and keeps
# curving while absorption goes on; on a fixed absolute scale the refinement's own error
# stays put (~3e-5) whatever the step, and the step's error is second order.
DOSE_REFINEMENT = 2.0 ** (np.arange(-30, 9) / 4)


def pd_parameter_names(pd: Mapping) -> tuple[str, ...]:
    kind = pd.get("type")
    if kind not in PD_TYPES:
        raise PkpdError(f"Unknown pd type {kind!r}; allowed: {list(PD_TYPES)}.")
    return PD_TYPES[kind]


def check_endpoints(endpoints: Mapping[str, float]) -> dict[str, float]:
    """Validate {"PASI75": 0.75, ...}: names PASI<number>, thresholds in (0, 1), in order."""
    if not endpoints:
        raise PkpdError("Give at least one endpoint, e.g. {'PASI75': 0.75}.")
    out = {}
    for name, thr in endpoints.items():
        m = re.fullmatch(r"PASI(\d+)", str(name))
        if not m:
            raise PkpdError(f"Unknown endpoint name {name!r}; endpoints are named PASI<percent>, "
                            f"e.g. {list(DEFAULT_ENDPOINTS)}.")
        thr = float(thr)
        if not 0.0 < thr < 1.0:
            raise PkpdError(f"Endpoint {name} threshold {thr!r} must lie in (0, 1) (fractional improvement; "
                            "PASI100 is a threshold just below 1 because the latent improvement never reaches 1).")
        out[str(name)] = thr
    order = sorted(out, key=lambda n: int(n[4:]))
    thresholds = [out[n] for n in order]
    for a, b, ta, tb in zip(order, order[1:], thresholds, thresholds[1:]):
        if not ta < tb:
            raise PkpdError(f"Endpoint thresholds out of order: {a} = {ta} must be below {b} = {tb}.")
    return {n: out[n] for n in order}


def model_endpoints(model) -> dict[str, float]:
    return check_endpoints(dict(model.pd.get("endpoints", DEFAULT_ENDPOINTS)))


def select_endpoints(model, endpoints) -> dict[str, float]:
    known = model_endpoints(model)
    if endpoints is None:
        return known
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if isinstance(endpoints, Mapping):
        return check_endpoints(endpoints)
    unknown = [e for e in endpoints if e not in known]
    if unknown:
        raise PkpdError(f"Unknown endpoint {unknown[0]!r}; model '{model.name}' defines {list(known)}.")
    return {e: known[e] for e in sorted(endpoints, key=lambda n: int(n[4:]))}


def drug_inhibition(c, v: Mapping, out=None) -> np.ndarray:
    """Total fractional inhibition of lesion production, 1 - (1 - I_drug)(1 - Pmax).

    ``out`` (same shape as ``c``) receives the result, so that repeated evaluations in a
    fit reuse one buffer instead of page-faulting fresh multi-megabyte temporaries.
    """
    Imax, IC50, hill, Pmax = v["Imax"], v["IC50"], v["hill"], v["Pmax"]
    if np.all(np.asarray(hill) == 1.0):
        out = np.add(c, IC50, out=out)
        np.divide(c, out, out=out)
    else:
        ch = np.power(c, hill)
        out = np.add(ch, np.power(IC50, hill), out=out)
        np.divide(ch, out, out=out)
    out *= Imax * (1.0 - np.asarray(Pmax))  # I_drug (1 - P) + P, written in place
    out += Pmax
    return out


def response_depth(grid, c, v: Mapping, at=None, work=None) -> np.ndarray:
    """Depth d = -ln R (>= 0) on ``grid`` for concentrations ``c`` (..., n_grid).

    ``v`` holds kout, Imax, IC50, hill, Pmax; each a scalar or an array that broadcasts
    against ``c`` without its time axis (kout) or with it (the others). ``at``: grid
    indices to return (default all); ``work``: optional buffer shaped like ``c``.
    """
    y = first_order_response(grid, drug_inhibition(c, v, out=work), v["kout"], 0.0, at=at)  # y = 1 - R
    return -np.log1p(-np.minimum(y, 1.0))


def responder_probability(depth, omega, cuts) -> np.ndarray:
    """P(s * depth >= c) for each cut c = -ln(1 - x) of a PASI-x response, on a new trailing axis.

    ``omega`` broadcasts against ``depth``; s = exp(omega * N(0, 1)).
    """
    with np.errstate(divide="ignore"):
        log_depth = np.log(depth)[..., None]
    return ndtr((log_depth - np.log(cuts)) / np.asarray(omega, float)[..., None])


def interval_probability(lo, hi, omega):
    """P(lo <= s < hi) for the log-normal response scale s = exp(omega * N(0, 1))."""
    with np.errstate(divide="ignore"):
        return np.maximum(ndtr(np.log(hi) / omega) - ndtr(np.log(lo) / omega), 0.0)


def _scale_cut(depth, c):
    """The response scale s above which a patient of this depth passes log-cut c (>= 0)."""
    if c == 0.0:
        return np.zeros(np.shape(depth))
    with np.errstate(divide="ignore"):
        return c / depth


PD_NAMES = ("kout", "Imax", "IC50", "hill", "Pmax")


class PasiEngine:
    """One model, fixed regimens, times and virtual patients: concentrations cached, PD on demand.

    Used by :func:`response_rates`, by the trial simulator, the fitting layer and
    :func:`pkpd.predict`, so there is one copy of every formula. ``values`` passed to the
    methods override the model's parameter values by name.

    A regimen with response-guided rules expands into the regimens a patient can end up
    on (its variants). Each variant has its own time grid, so a regimen's rates never
    depend on which other regimens are computed with it. A rule's condition is a
    threshold on the patient's response scale s (s d(t) >= -ln(1 - x) for a PASI-x
    response at depth d), so the patients of each node split into intervals of s, each on
    one variant, and every rate stays an analytic, smooth expectation.
    """

    def __init__(self, model, regimens, times_days: np.ndarray, population: Population, step: float = GRID_STEP,
                 method: str = "auto", refinement: np.ndarray = DOSE_REFINEMENT):
        from ._simulate import check_times, named_regimens
        if not model.pd:
            raise PkpdError(f"Model '{model.name}' has no [pd] section; load a PASI model such as "
                            "'ustekinumab_pasi'.")
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise PkpdError(f"Grid step must be a number of days > 0, got {step!r}.")
        self.model = model
        self.regimens = named_regimens(regimens)
        self.times = check_times(times_days)
        self.population = population
        self.method = method
        rule_times = [r.time for reg in self.regimens.values() for r in reg.rules]
        self.eval_times = np.union1d(self.times, rule_times)
        self.out_index = np.searchsorted(self.eval_times, self.times)
        self.plans, self.variants = [], []
        for reg in self.regimens.values():
            plan = {}
            for fired, variant in reg.variants():
                plan[fired] = len(self.variants)
                self.variants.append(variant)
            self.plans.append(plan)
        lag = float(model.values.get("tlag", 0.0))
        horizon = self.eval_times[-1]
        self.grids, self.grid_index = [], []
        for variant in self.variants:
            doses = variant.dose_times(horizon) + lag
            grid = np.concatenate([np.arange(0.0, horizon + step, step), self.eval_times, [0.0], doses,
                                   (doses[:, None] + np.asarray(refinement)[None, :]).ravel()])
            grid = np.unique(grid[(grid >= 0.0) & (grid <= horizon)])
            self.grids.append(grid)
            self.grid_index.append(np.searchsorted(grid, self.eval_times))
        self._pk_key = None
        self._conc = None
        self._work = {}

    # -- values ---------------------------------------------------------------------------
    def individual(self, values: Mapping | None = None) -> dict:
        return self.population.individual(self.model, dict(values or {}))

    def _node_values(self, values) -> dict:
        p = self.individual(values)
        v = {}
        for name in PD_NAMES:
            x = np.asarray(p[name], float)
            # One value for all nodes stays a scalar: it keeps the fast filter path.
            v[name] = float(x[0]) if np.all(x == x[0]) else (x if name == "kout" else x[:, None])
        return v

    def _cuts(self, thresholds):
        return [-math.log1p(-float(x)) for x in thresholds]

    def _rule_cut(self, percent: int | None) -> float:
        if percent is None:
            return math.inf
        known = model_endpoints(self.model)
        thr = known.get(f"PASI{percent}", percent / 100.0)
        return -math.log1p(-thr) if thr < 1.0 else math.inf

    # -- PK --------------------------------------------------------------------------------
    def concentrations(self, values: Mapping | None = None) -> list:
        """Concentrations per variant, (node, grid), recomputed only when PK values change."""
        from ._simulate import concentration_closed_form, concentration_ode, resolve_events
        v = dict(self.model.values, **dict(values or {}))
        pk = self.model.pk_names
        key = tuple((n, v[n]) for n in sorted(v) if n in pk or n == "reference_weight"
                    or (n.startswith(("bsv_", "weight_exponent_")) and n.split("_")[-1] in pk))
        if key != self._pk_key:
            p = self.individual(values)
            pkp = {k: p[k] for k in pk}
            method = self.method if self.method != "auto" else ("closed_form" if self.model.is_linear else "ode")
            conc = []
            for variant, grid in zip(self.variants, self.grids):
                events = resolve_events(variant, self.population.weight, pkp, horizon=float(grid[-1]))
                conc.append(concentration_closed_form(grid, events, pkp) if method == "closed_form"
                            else concentration_ode(grid, events, pkp, self.model))
            self._pk_key, self._conc = key, conc
        return self._conc

    # -- depth of response -----------------------------------------------------------------
    def depth(self, values: Mapping | None = None) -> list:
        """Depth d = -ln R per variant at the evaluation times: list of (node, time)."""
        v = self._node_values(values)
        out = []
        for c, grid, idx in zip(self.concentrations(values), self.grids, self.grid_index):
            work = self._work.get(c.shape)
            if work is None:
                work = self._work[c.shape] = np.empty_like(c)
            out.append(response_depth(grid, c, v, at=idx, work=work))
        return out

    # -- rates -----------------------------------------------------------------------------
    def _probabilities(self, r: int, depths: list, omega, cuts) -> tuple[np.ndarray, np.ndarray]:
        """Per-node responder probabilities (..., node, time, endpoint) of named regimen r,
        and the per-node share for whom each rule fired (..., node, rule)."""
        reg = list(self.regimens.values())[r]
        plan = self.plans[r]
        omega = np.asarray(omega, float)
        if not reg.rules:
            d = depths[plan[frozenset()]][..., self.out_index]
            return responder_probability(d, omega[..., None, None], cuts), np.zeros(d.shape[:-1] + (0,))
        om = omega[..., None]
        shape = depths[0].shape[:-1]
        pieces = [(frozenset(), np.zeros(shape), np.full(shape, np.inf))]
        fired_share = np.zeros(shape + (len(reg.rules),))
        for j, rule in enumerate(reg.rules):
            t = int(np.searchsorted(self.eval_times, rule.time))
            low, high = self._rule_cut(rule.lower if rule.lower else None), self._rule_cut(rule.upper)
            new = []
            for fired, lo, hi in pieces:
                d = depths[plan[fired]][..., t]
                L = _scale_cut(d, low) if rule.lower else np.zeros(shape)
                U = _scale_cut(d, high)
                in_lo, in_hi = np.maximum(lo, L), np.minimum(hi, U)
                fired_share[..., j] += interval_probability(in_lo, in_hi, om)
                for piece in ((fired | {j}, in_lo, in_hi), (fired, lo, np.minimum(hi, L)),
                              (fired, np.maximum(lo, U), hi)):
                    if np.any(piece[1] < piece[2]):
                        new.append(piece)
            pieces = new
        probs = np.zeros(shape + (self.times.size, len(cuts)))
        for fired, lo, hi in pieces:
            d = depths[plan[fired]][..., self.out_index]
            for e, c in enumerate(cuts):
                start = np.maximum(lo[..., None], _scale_cut(d, c))
                probs[..., e] += interval_probability(start, hi[..., None], om[..., None])
        return probs, fired_share

    def rates(self, values: Mapping | None = None, thresholds=(0.75, 0.9)) -> np.ndarray:
        """Expected responder rates (regimen, time, endpoint) over the nodes."""
        omega = self._omega(values)
        depths = self.depth(values)
        cuts = self._cuts(thresholds)
        return np.stack([self._probabilities(r, depths, omega, cuts)[0].mean(axis=0)
                         for r in range(len(self.regimens))])

    def fired(self, values: Mapping | None = None) -> np.ndarray:
        """Share of patients for whom each rule fired: (regimen, rule), NaN-padded."""
        omega = self._omega(values)
        depths = self.depth(values)
        n_rules = max((len(r.rules) for r in self.regimens.values()), default=0)
        out = np.full((len(self.regimens), n_rules), np.nan)
        for r in range(len(self.regimens)):
            share = self._probabilities(r, depths, omega, [1.0])[1].mean(axis=0)
            out[r, :share.size] = share
        return out

    def _omega(self, values) -> float:
        v = dict(self.model.values, **dict(values or {}))
        omega = v["omega_response"]
        if not omega > 0:
            raise PkpdError(f"Parameter 'omega_response' = {omega!r} is not allowed; it must be > 0.")
        return omega

    # -- many parameter sets at once -------------------------------------------------------
    def rates_draws(self, draws: Mapping[str, np.ndarray], thresholds, chunk: int = 50, progress=None):
        """Rates for many parameter sets: ``draws`` maps names to arrays (n_draws,).

        Returns (draw, regimen, time, endpoint) and the fired shares (draw, regimen, rule).
        When only PD parameters vary (and kout has no BSV) the draws run as batched
        matrix products; otherwise one draw at a time.
        """
        names = list(draws)
        n = len(next(iter(draws.values()))) if draws else 0
        fast = set(names) <= set(PD_NAMES) | {"omega_response"} and "bsv_kout" not in self.model.values
        n_rules = max((len(r.rules) for r in self.regimens.values()), default=0)
        rates = np.empty((n, len(self.regimens), self.times.size, len(thresholds)))
        fired = np.full((n, len(self.regimens), n_rules), np.nan)
        cuts = self._cuts(thresholds)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            sets = [{k: float(draws[k][i]) for k in names} for i in range(sl.start, sl.stop)]
            if not fast:
                for i, values in zip(range(sl.start, sl.stop), sets):
                    rates[i] = self.rates(values, thresholds)
                    f = self.fired(values)
                    fired[i, :, :f.shape[1]] = f
            else:
                depths = self._depth_batch(sets)
                omega = np.array([self._omega(v) for v in sets])
                for r in range(len(self.regimens)):
                    probs, share = self._probabilities(r, depths, omega, cuts)
                    rates[sl, r] = probs.mean(axis=-3)
                    fired[sl, r, :share.shape[-1]] = share.mean(axis=-2)
            if progress is not None:
                progress(sl.stop, n)
        return rates, fired

    def _depth_batch(self, sets: list[dict]) -> list:
        """Depth per variant for a batch of PD parameter sets: list of (draw, node, time)."""
        from ._pd import response_weights
        nodes = [self._node_values(v) for v in sets]
        stacked = {}
        for name in PD_NAMES:
            cols = [np.broadcast_to(nv[name], (self.population.n,) if name == "kout" else (self.population.n, 1))
                    for nv in nodes]
            stacked[name] = np.stack(cols)  # (draw, node) or (draw, node, 1)
        kout = stacked["kout"][:, 0]
        v = {name: stacked[name] for name in ("Imax", "IC50", "hill", "Pmax")}
        out = []
        for c, grid, idx in zip(self.concentrations(), self.grids, self.grid_index):
            inh = drug_inhibition(c[None, :, :], v)                    # (draw, node, grid)
            y = np.matmul(inh, response_weights(grid, idx, kout))      # (draw, node, time)
            out.append(-np.log1p(-np.minimum(y, 1.0)))
        return out


def _times_days(times, time_unit):
    from ._simulate import check_times
    return check_times(times, time_unit)


def rates_dataset(rates, regimens, times_days, endpoints, model, attrs) -> xr.Dataset:
    from . import __version__
    ds = xr.Dataset(
        {"rate": (("regimen", "time", "endpoint"), rates,
                  {"units": "1", "long_name": "share of patients with at least the endpoint's PASI improvement"})},
        coords={"regimen": list(regimens), "regimen_text": ("regimen", [str(r) for r in regimens.values()]),
                "time": ("time", times_days, {"units": "day"}),
                "week": ("time", times_days / 7.0, {"units": "week"}),
                "endpoint": list(endpoints),
                "threshold": ("endpoint", list(endpoints.values()), {"units": "1",
                                                                     "long_name": "minimum fractional PASI improvement"})},
        attrs={"model": model.name, "model_file": model.path, "model_sha256": model.sha256,
               "parameters": json.dumps(model.values, sort_keys=True), "pkpd_version": __version__, **attrs})
    return ds


def response_rates(model, regimens, times, *, time_unit: str = "day", endpoints=None,
                   n_nodes: int = 1024, seed: int = 0, weight=None, population: Population | None = None,
                   step: float = GRID_STEP, values: Mapping | None = None) -> xr.Dataset:
    """Expected PASI responder rates per regimen, time and endpoint (deterministic).

    Parameters
    ----------
    model : Model or str
        A PASI model, e.g. ``"ustekinumab_pasi"``.
    regimens : regimen, text, list or {name: regimen}
    times : array-like
        Output times in ``time_unit`` (``"day"`` or ``"week"``).
    endpoints : list of names, or {name: threshold}, optional
        Default: the model's endpoints (PASI50/75/90/100).
    n_nodes, seed : int
        Size and scrambling seed of the fixed Sobol design over PK/PD variability and
        body weight. Fixed seed: the same inputs give bit-identical rates.
    weight : float or array, optional
        Body weight(s) in kg instead of the model's distribution (an array must have
        ``n_nodes`` entries).
    population : Population, optional
        Use these virtual patients as nodes instead.
    step : float
        Time grid step (days) for the turnover model (module notes: accuracy).
    values : mapping, optional
        Parameter values overriding the model's.

    Returns
    -------
    xarray.Dataset with ``rate`` (regimen, time, endpoint), coordinates ``week`` and
    ``threshold``, and the model, parameters and integration design in attrs.

    Examples
    --------
    >>> ds = response_rates("ustekinumab_pasi", {"placebo": "placebo", "45 mg": "45 mg SC at week 0"},
    ...                     [12], time_unit="week", endpoints=["PASI75", "PASI90"])
    >>> bool((ds.rate.sel(endpoint="PASI90") <= ds.rate.sel(endpoint="PASI75")).all())
    True
    """
    from ._simulate import as_model
    model = as_model(model)
    if values:
        model = model.replace(values)
    ends = select_endpoints(model, endpoints)
    t = _times_days(times, time_unit)
    if population is None:
        population = sample_population(model, n_nodes, seed=seed, weight=weight, method="sobol")
    engine = PasiEngine(model, regimens, t, population, step=step)
    rates = engine.rates(thresholds=list(ends.values()))
    design = (f"mean over {population.n} fixed {population.method} nodes (seed {population.seed}) of the "
              "analytic responder probability given each node's PK/PD")
    ds = rates_dataset(rates, engine.regimens, t, ends, model, {"integration": design, "grid_step_day": step})
    return add_rule_shares(ds, engine, engine.fired())


def add_rule_shares(ds: xr.Dataset, engine: PasiEngine, fired: np.ndarray) -> xr.Dataset:
    """Attach each rule's text and the share of patients it fired for (``rule`` dim), if any."""
    n_rules = fired.shape[-1]
    if n_rules == 0:
        return ds
    texts = [[str(r.rules[j]) if j < len(r.rules) else "" for j in range(n_rules)]
             for r in engine.regimens.values()]
    dims = ds.rate.dims[:-3] + ("regimen", "rule") if fired.ndim == 3 else ("regimen", "rule")
    ds["rule_text"] = (("regimen", "rule"), np.array(texts, dtype=object).astype(str))
    ds["rule_fired"] = (dims, fired, {"units": "1", "long_name": "share of patients for whom the rule fired"})
    return ds


def _trial_chunk(model, regimen, times, n_patients, seed_seq, thresholds, step, weight):
    """Responder indicators (patient, time, endpoint) and improvement for one chunk of patients."""
    rng = np.random.default_rng(seed_seq)
    pop_seed = int(rng.integers(2 ** 63))
    pop = sample_population(model, n_patients, seed=pop_seed, weight=weight, method="random")
    depth = PasiEngine(model, {"r": regimen}, times, pop, step=step).depth()[0]
    scale = np.exp(model.values["omega_response"] * rng.standard_normal(n_patients))
    log_ratio = -scale[:, None] * depth          # ln(PASI(t)/PASI(0)) per patient
    cut = np.log1p(-np.asarray(thresholds, float))  # responder: log ratio <= ln(1 - x)
    return log_ratio[..., None] <= cut, -np.expm1(log_ratio)


def simulate_trial(model, regimens, times, n_per_arm: int, *, n_trials: int = 1, seed: int | None = None,
                   time_unit: str = "day", endpoints=None, weight=None, step: float = GRID_STEP,
                   keep_patients: bool = False, chunk_size: int = 100_000) -> xr.Dataset:
    """Monte-Carlo virtual trials: ``n_trials`` trials of ``n_per_arm`` patients in each arm.

    Every arm of every trial gets its own patients (seeded, reproducible). Large runs are
    split into chunks of at most ``chunk_size`` patients and computed with dask's
    threaded scheduler; the counts do not depend on the chunking order.

    Returns ``responders`` (trial, regimen, time, endpoint) and ``rate`` = responders /
    n_per_arm; with ``keep_patients=True`` (one trial only) also each patient's latent
    ``improvement`` (regimen, subject, time) and ``responder`` flags.
    """
    import dask

    from ._simulate import as_model, named_regimens
    model = as_model(model)
    for what, value in (("n_per_arm", n_per_arm), ("n_trials", n_trials), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise PkpdError(f"{what} must be a whole number >= 1, got {value!r}.")
    if keep_patients and n_trials != 1:
        raise PkpdError("keep_patients=True keeps one trial's patients; use n_trials=1.")
    ends = select_endpoints(model, endpoints)
    regs = named_regimens(regimens)
    ruled = [name for name, r in regs.items() if r.rules]
    if ruled:
        raise PkpdError(f"simulate_trial does not follow response-guided rules (regimen {ruled[0]!r}); use "
                        "pkpd.predict(..., trial_size=n), which gives the spread of an n-patient trial for them.")
    t = _times_days(times, time_unit)
    thresholds = list(ends.values())
    total = n_per_arm * n_trials
    trial_of = np.repeat(np.arange(n_trials), n_per_arm)
    starts = list(range(0, total, chunk_size))
    arm_seeds = np.random.SeedSequence(seed).spawn(len(regs))
    tasks = []
    for r, reg in enumerate(regs.values()):
        chunk_seeds = arm_seeds[r].spawn(len(starts))
        for j, s in enumerate(starts):
            size = min(chunk_size, total - s)
            tasks.append(dask.delayed(_trial_chunk)(model, reg, t, size, chunk_seeds[j], thresholds, step, weight))
    results = dask.compute(*tasks, scheduler="threads")
    counts = np.zeros((n_trials, len(regs), t.size, len(ends)), dtype=np.int64)
    flags, improvement = [], []
    k = 0
    for r in range(len(regs)):
        for s in starts:
            resp, imp = results[k]
            k += 1
            trials = trial_of[s:s + resp.shape[0]]
            np.add.at(counts[:, r], trials, resp.astype(np.int64))
            if keep_patients:
                flags.append(resp)
                improvement.append(imp)
    ds = xr.Dataset(
        {"responders": (("trial", "regimen", "time", "endpoint"), counts, {"units": "patients"}),
         "rate": (("trial", "regimen", "time", "endpoint"), counts / n_per_arm, {"units": "1"})},
        coords={"trial": np.arange(n_trials), "regimen": list(regs),
                "regimen_text": ("regimen", [str(r) for r in regs.values()]),
                "time": ("time", t, {"units": "day"}), "week": ("time", t / 7.0, {"units": "week"}),
                "endpoint": list(ends), "threshold": ("endpoint", thresholds, {"units": "1"})},
        attrs={"model": model.name, "model_sha256": model.sha256, "n_per_arm": n_per_arm,
               "seed": "none" if seed is None else str(seed),
               "parameters": json.dumps(model.values, sort_keys=True)})
    if keep_patients:
        n_chunks = len(starts)
        imp = np.stack([np.concatenate(improvement[r * n_chunks:(r + 1) * n_chunks]) for r in range(len(regs))])
        flg = np.stack([np.concatenate(flags[r * n_chunks:(r + 1) * n_chunks]) for r in range(len(regs))])
        ds["improvement"] = (("regimen", "subject", "time"), imp,
                             {"units": "1", "long_name": "fractional PASI improvement from baseline"})
        ds["responder"] = (("regimen", "subject", "time", "endpoint"), flg)
    return ds
