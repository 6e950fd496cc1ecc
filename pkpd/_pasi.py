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


def pd_extra_names(pd: Mapping) -> tuple[str, ...]:
    return ()


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


def responder_probability(depth, omega, thresholds) -> np.ndarray:
    """P(PASI-x response | depth) for each threshold x, on a new trailing axis."""
    cut = np.log(-np.log1p(-np.asarray(thresholds, float)))
    with np.errstate(divide="ignore"):
        log_depth = np.log(depth)[..., None]
    return ndtr((log_depth - cut) / omega)


class PasiEngine:
    """One model, fixed regimens, times and virtual patients: concentrations cached, PD on demand.

    Used by :func:`response_rates`, by the trial simulator and by the fitting layer, so
    there is one copy of every formula. ``values`` passed to the methods override the
    model's parameter values by name.
    """

    def __init__(self, model, regimens, times_days: np.ndarray, population: Population, step: float = GRID_STEP,
                 method: str = "auto"):
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
        grid = np.arange(0.0, self.times[-1] + step, step)
        # The drug effect can swing from none to full within hours of a dose; a geometric
        # run of extra points after each dose keeps linear interpolation accurate there.
        doses = np.unique(np.concatenate([r.dose_times() for r in self.regimens.values()] + [[]]))
        near = (doses[:, None] + DOSE_REFINEMENT[None, :]).ravel()
        grid = np.concatenate([grid, near, self.times, [0.0]])
        self.grid = np.unique(grid[(grid >= 0.0) & (grid <= self.times[-1])])
        self.index = np.searchsorted(self.grid, self.times)
        self._pk_key = None
        self._conc = None
        self._work = None

    def individual(self, values: Mapping | None = None) -> dict:
        return self.population.individual(self.model, dict(values or {}))

    def concentrations(self, values: Mapping | None = None) -> np.ndarray:
        """Concentrations (regimen, node, grid), recomputed only when PK values change."""
        from ._simulate import concentration_closed_form, concentration_ode, resolve_events
        v = dict(self.model.values, **dict(values or {}))
        pk = self.model.pk_names
        key = tuple((n, v[n]) for n in sorted(v) if n in pk or n == "reference_weight"
                    or (n.startswith(("bsv_", "weight_exponent_")) and n.split("_")[-1] in pk))
        if key != self._pk_key:
            p = self.individual(values)
            pk = {k: p[k] for k in self.model.pk_names}
            method = self.method if self.method != "auto" else ("closed_form" if self.model.is_linear else "ode")
            conc = np.empty((len(self.regimens), self.population.n, self.grid.size))
            for r, reg in enumerate(self.regimens.values()):
                events = resolve_events(reg, self.population.weight, pk)
                conc[r] = (concentration_closed_form(self.grid, events, pk) if method == "closed_form"
                           else concentration_ode(self.grid, events, pk, self.model))
            self._pk_key, self._conc = key, conc
        return self._conc

    def depth(self, values: Mapping | None = None) -> np.ndarray:
        """Depth of response d = -ln R at the requested times: (regimen, node, time)."""
        c = self.concentrations(values)
        p = self.individual(values)
        v = {}
        for name in ("kout", "Imax", "IC50", "hill", "Pmax"):
            x = np.asarray(p[name], float)
            # One value for all nodes stays a scalar: it keeps the fast filter path.
            v[name] = float(x[0]) if np.all(x == x[0]) else (x if name == "kout" else x[:, None])
        if self._work is None or self._work.shape != c.shape:
            self._work = np.empty_like(c)
        return response_depth(self.grid, c, v, at=self.index, work=self._work)

    def rates(self, values: Mapping | None = None, thresholds=(0.75, 0.9)) -> np.ndarray:
        """Expected responder rates (regimen, time, endpoint) over the nodes."""
        v = dict(self.model.values, **dict(values or {}))
        omega = v["omega_response"]
        if not omega > 0:
            raise PkpdError(f"Parameter 'omega_response' = {omega!r} is not allowed; it must be > 0.")
        return responder_probability(self.depth(values), omega, thresholds).mean(axis=1)


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
    return rates_dataset(rates, engine.regimens, t, ends, model, {"integration": design, "grid_step_day": step})


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
