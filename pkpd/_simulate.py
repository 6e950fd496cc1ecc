"""Simulation: regimens x virtual patients x times -> labelled concentrations.

Two engines share one event list:

* ``"closed_form"`` (linear models): superposition of the exact single-dose responses
  in :mod:`pkpd._pk`, vectorised over subjects and times; a Python loop runs over doses
  only.
* ``"ode"`` (any model; required for Michaelis-Menten and TMDD): all subjects are one
  stacked system, integrated with :func:`scipy.integrate.solve_ivp` between dose times;
  a bolus is a jump in the state between segments. Dose times (after the lag) must be
  common to all subjects; amounts and infusion durations may differ. A solver failure
  raises :class:`pkpd.SolverError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy.integrate import solve_ivp
from scipy.sparse import kron, identity

from . import _pk
from ._dosing import Regimen, as_regimen
from ._errors import PkpdError, SolverError
from ._model import Model, load_model
from ._population import Population, sample_population, typical_population

METHODS = ("auto", "closed_form", "ode")
TIME_UNITS = {"day": 1.0, "week": 7.0}
# Steady state (SS=1) is simulated as explicit earlier doses until the forgotten tail
# exp(-rate * n * interval) is below this fraction of the steady state.
SS_TAIL = 1e-12
SS_MAX_DOSES = 100_000


@dataclass(frozen=True)
class Event:
    """A resolved dose: common time (days), route, and per-subject amount/duration."""

    time: float
    route: str
    amount: np.ndarray           # mg, shape (n,)
    duration: np.ndarray | None  # days, infusions only


def as_model(model) -> Model:
    return model if isinstance(model, Model) else load_model(model)


def named_regimens(regimens) -> dict[str, Regimen]:
    """Normalise one or many regimens (objects or text) to {name: Regimen}."""
    if isinstance(regimens, Mapping):
        items = [(str(k), as_regimen(v)) for k, v in regimens.items()]
    elif isinstance(regimens, (str, Regimen)):
        items = [(None, as_regimen(regimens))]
    elif isinstance(regimens, Sequence) and regimens:
        items = [(None, as_regimen(v)) for v in regimens]
    else:
        raise PkpdError(f"regimens must be a regimen, regimen text, a list of them or a {{name: regimen}} "
                        f"mapping, got {regimens!r}.")
    out = {}
    for name, reg in items:
        name = str(reg) if name is None else name
        if name in out:
            raise PkpdError(f"Regimen name {name!r} appears twice; give each regimen a unique name.")
        out[name] = reg
    return out


def check_times(times, time_unit: str = "day") -> np.ndarray:
    if time_unit not in TIME_UNITS:
        raise PkpdError(f"Unknown time unit {time_unit!r}; allowed: {list(TIME_UNITS)}.")
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise PkpdError(f"times must be a non-empty 1-D sequence, got shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise PkpdError(f"times must be finite; got {float(t[~np.isfinite(t)][0])!r}.")
    if np.any(t < 0):
        raise PkpdError(f"times must be >= 0 (time 0 is the first day of treatment); got {float(t[t < 0][0])!r}.")
    if np.any(np.diff(t) <= 0):
        i = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise PkpdError(f"times must increase strictly; {float(t[i + 1])!r} follows {float(t[i])!r}. Sort them and drop repeats.")
    return t * TIME_UNITS[time_unit]


def resolve_events(regimen: Regimen, weight: np.ndarray, params: dict, horizon: float | None = None) -> list[Event]:
    """Expand a regimen into events for these subjects, steady-state history included.

    ``horizon`` (days) ends open-ended repeats: doses after it cannot change output up to it.
    """
    if regimen.rules:
        raise PkpdError(f"Regimen '{regimen}' has response-guided rules: who gets which doses depends on "
                        "their PASI response. Use pkpd.predict or pkpd.response_rates with a PASI model; "
                        "for concentrations, simulate each variant (Regimen.variants()).")
    events = []
    for course in regimen.courses:
        amount = np.broadcast_to(course.amount.resolve(weight), weight.shape).astype(float)
        duration = None
        if course.route == "infusion":
            duration = np.broadcast_to(
                course.duration if course.duration is not None else amount / course.rate, weight.shape
            ).astype(float)
        times = list(course.dose_times(horizon))
        if course.steady_state:
            rate = float(np.min(_pk.terminal_rate(params)))
            n_hist = math.ceil(-math.log(SS_TAIL) / (rate * course.every))
            if n_hist > SS_MAX_DOSES:
                raise PkpdError(
                    f"Steady state at interval {course.every:g} d needs {n_hist} earlier doses for the slowest "
                    f"subject (rate {rate:.3g}/d); more than {SS_MAX_DOSES}. Check the parameters or simulate "
                    "the loading phase explicitly.")
            first = course.first_repeat
            times = [first - k * course.every for k in range(n_hist, 0, -1)] + times
        events += [Event(float(t), course.route, amount, duration) for t in times]
    return sorted(events, key=lambda e: e.time)


def concentration_closed_form(times: np.ndarray, events: list[Event], p: dict) -> np.ndarray:
    """Exact concentrations (n, k) of a linear model.

    One compartment with bolus doses and one lag time for all subjects: exact propagation
    between consecutive times (:func:`concentration_propagated`); otherwise superposition
    of single-dose responses (:func:`concentration_superposed`). Both are exact.
    """
    lag = np.asarray(p.get("tlag", 0.0), float)
    if "Q" not in p and all(ev.route != "infusion" for ev in events) and np.ptp(lag) == 0:
        return concentration_propagated(times, events, p)
    return concentration_superposed(times, events, p)


def concentration_propagated(times: np.ndarray, events: list[Event], p: dict) -> np.ndarray:
    """One-compartment concentrations by exact propagation of (depot, central) between times.

    Over a step h without doses: depot' = e^{-ka h} depot and central' = e^{-k h} central +
    ka h e^{-m h} phi(|ka - k| h) depot (m = min(ka, k)), the same stable form as
    :func:`pkpd._pk.conc_depot`. Step coefficients are cached by step length, so a
    regular grid costs a few multiply-adds per subject and time.
    """
    CL, V = np.asarray(p["CL"], float), np.asarray(p["V"], float)
    k = CL / V
    has_depot = "ka" in p
    ka = np.asarray(p["ka"], float) if has_depot else None
    lag = float(np.asarray(p.get("tlag", 0.0), float).flat[0]) if has_depot else 0.0
    n = V.size
    doses: dict[float, list] = {}
    for ev in events:
        if ev.route == "sc":
            doses.setdefault(ev.time + lag, []).append((0, p["F"] * ev.amount))
        else:
            doses.setdefault(ev.time, []).append((1, ev.amount))
    stops = np.union1d(times, np.fromiter(doses, float, len(doses)))
    stops = stops[stops <= times[-1]]
    is_output = np.isin(stops, times)
    out = np.empty((n, times.size))
    depot, central = np.zeros(n), np.zeros(n)
    cache: dict[float, tuple] = {}
    prev, j = stops[0], 0
    for t, output in zip(stops, is_output):
        h = t - prev
        if h > 0:
            coef = cache.get(h)
            if coef is None:
                e_k = np.exp(-k * h)
                if has_depot:
                    e_ka = np.exp(-ka * h)
                    cross = ka * h * np.exp(-np.minimum(ka, k) * h) * _pk.phi(np.abs(ka - k) * h)
                    coef = cache[h] = (e_k, e_ka, cross)
                else:
                    coef = cache[h] = (e_k, None, None)
            e_k, e_ka, cross = coef
            central = e_k * central
            if has_depot:
                central += cross * depot
                depot = e_ka * depot
            prev = t
        for state, amount in doses.get(t, ()):
            if state == 0:
                depot = depot + amount
            else:
                central = central + amount
        if output:
            out[:, j] = central / V
            j += 1
    return out


def concentration_superposed(times: np.ndarray, events: list[Event], p: dict) -> np.ndarray:
    """Exact concentrations (n, k) of a linear model by superposition of single-dose responses."""
    n = np.asarray(p["CL"]).size
    a, lam = _pk.disposition(p)
    out = np.zeros((n, times.size))
    lag = np.broadcast_to(np.asarray(p.get("tlag", 0.0), float), (n,)).reshape(-1, 1)
    for ev in events:
        # A dose contributes nothing before it is given (or absorbed, after the lag):
        # evaluate only the output times from there on.
        first = int(np.searchsorted(times, ev.time + (lag.min() if ev.route == "sc" else 0.0)))
        if first == times.size:
            continue
        t_rel = np.broadcast_to(times[first:] - ev.time, (n, times.size - first))
        if ev.route == "sc":
            out[:, first:] += (p["F"] * ev.amount)[:, None] * _pk.conc_depot(t_rel - lag, a, lam, p["ka"])
        elif ev.route == "iv":
            out[:, first:] += ev.amount[:, None] * _pk.conc_bolus(t_rel, a, lam)
        else:
            out[:, first:] += (ev.amount / ev.duration)[:, None] * _pk.conc_infusion(
                t_rel, ev.duration, a, lam)
    return out


def _solver_context(p: dict) -> str:
    parts = []
    for name, x in p.items():
        x = np.asarray(x)
        parts.append(f"{name}={x.min():.4g}..{x.max():.4g}" if x.size > 1 else f"{name}={float(x.flat[0]):.4g}")
    return ", ".join(parts)


def concentration_ode(times: np.ndarray, events: list[Event], p: dict, model: Model,
                      rtol: float = 1e-8, atol: float = 1e-10, solver: str = "DOP853") -> np.ndarray:
    """Concentrations (n, k) from the stacked ODE system; see :func:`pkpd._pk.rhs`."""
    n = np.asarray(p["CL"]).size
    two_cmt = model.structure == "2cmt"
    if any(ev.route == "sc" for ev in events):
        if "ka" not in p:
            raise PkpdError(f"Model '{model.name}' has no absorption depot (absorption='none'); "
                            "it takes IV doses only.")
        lag = np.asarray(p.get("tlag", 0.0), float)
        if np.ptp(lag) > 0:
            raise PkpdError("The ODE engine needs one lag time for all subjects; remove bsv_tlag "
                            "or use a linear model with method='closed_form'.")
        lag = float(lag.flat[0])
    boluses = []   # (time, state index, amount (n,))
    infusions = []  # (start, end (n,), rate (n,))
    for ev in events:
        if ev.route == "sc":
            boluses.append((ev.time + lag, 0, p["F"] * ev.amount))
        elif ev.route == "iv":
            boluses.append((ev.time, 1, ev.amount))
        else:
            infusions.append((ev.time, ev.time + ev.duration, ev.amount / ev.duration))
    marks = {b[0] for b in boluses} | {s for s, _, _ in infusions}
    marks |= {float(e) for _, ends, _ in infusions for e in np.unique(ends)}
    t0 = min([times[0]] + list(marks))
    grid = np.unique(np.asarray(sorted(marks | {t0, float(times[-1])})))
    grid = grid[grid <= times[-1]] if grid[-1] > times[-1] else grid

    y = np.zeros((4, n))
    if model.elimination == "tmdd_qss":
        y[3] = p["R0"]
    out = np.full((n, times.size), np.nan)
    options = dict(rtol=rtol, atol=atol, method=solver)
    if solver in ("BDF", "Radau"):
        options["jac_sparsity"] = kron(np.ones((4, 4)), identity(n), format="csr")

    p_column = {k: np.asarray(v, float).reshape(-1, 1) for k, v in p.items()}

    def record(idx, states):  # states: (4, n, len(idx))
        out[:, idx] = _pk.free_concentration(states[1], states[3], p_column, model.elimination)

    for i, start in enumerate(grid):
        for t_b, state, amount in boluses:
            if t_b == start:
                y[state] += amount
        stop = grid[i + 1] if i + 1 < grid.size else start
        last = i + 1 == grid.size
        in_seg = (times >= start) & ((times <= stop) if last else (times < stop))
        if stop == start:
            record(np.flatnonzero(in_seg), y[:, :, None])
            continue
        rate = np.zeros(n)
        for s, ends, r in infusions:
            rate = rate + np.where((s <= start) & (ends >= stop), r, 0.0)
        t_eval = np.append(times[in_seg], stop)
        t_eval = np.unique(t_eval)
        sol = solve_ivp(lambda t, yf: _pk.rhs(yf.reshape(4, n), p, rate, model.elimination,
                                               two_cmt).ravel(),
                        (start, stop), y.ravel(), t_eval=t_eval, **options)
        if not sol.success or sol.t.size != t_eval.size:
            raise SolverError(f"ODE solver ({solver}) failed between day {start:g} and day {stop:g}: "
                              f"{sol.message} Parameters: {_solver_context(p)}.")
        states = sol.y.reshape(4, n, -1)
        keep = np.isin(sol.t, times[in_seg])
        record(np.flatnonzero(in_seg), states[:, :, keep])
        y = states[:, :, -1].copy()
    if np.isnan(out).any():
        raise SolverError("Internal error: some output times were not reached by the ODE engine.")
    return out


def simulate(model, regimens, times, *, population: Population | None = None,
             n_subjects: int | None = None, seed: int | None = None, weight=None,
             time_unit: str = "day", method: str = "auto", rtol: float = 1e-8,
             atol: float = 1e-10, solver: str = "DOP853") -> xr.Dataset:
    """Simulate drug concentrations for regimens x virtual patients x times.

    Parameters
    ----------
    model : Model or str
        A model or the name/path of a model file (e.g. ``"ustekinumab_pk"``).
    regimens : Regimen, str, list or {name: regimen}
        Regimen objects or regimen text (``"45 mg SC at weeks 0, 4"``).
    times : array-like
        Output times, strictly increasing, >= 0, in ``time_unit``.
    population : Population, optional
        Virtual patients. Default: ``n_subjects`` drawn with ``seed`` (and ``weight``),
        or, when ``n_subjects`` is None, one typical patient at the reference weight.
    time_unit : {"day", "week"}
    method : {"auto", "closed_form", "ode"}
        ``"auto"`` takes the closed form for linear models and the ODE otherwise.
    rtol, atol, solver
        ODE settings (``atol`` in mg); ignored by the closed form.

    Returns
    -------
    xarray.Dataset
        ``concentration`` (regimen, subject, time) in mg/L, ``weight`` (subject) and each
        individual parameter (subject) with units; coordinates ``time`` (day) and
        ``week``; ``regimen_text``; attrs with the model file, its SHA-256, the typical
        parameters (JSON), the engine and the population's sampling and seed.

    Examples
    --------
    >>> ds = simulate("ustekinumab_pk", "45 mg SC at week 0", [0, 7, 84])
    >>> ds.concentration.sel(regimen="45 mg SC at week 0").round(3).values.tolist()
    [[0.0, 2.28, 0.26]]
    """
    model = as_model(model)
    if method not in METHODS:
        raise PkpdError(f"Unknown method {method!r}; allowed: {list(METHODS)}.")
    if method == "auto":
        method = "closed_form" if model.is_linear else "ode"
    if method == "closed_form" and not model.is_linear:
        raise PkpdError(f"Model '{model.name}' has {model.elimination} elimination, which has no closed "
                        "form; use method='ode' (or 'auto').")
    regs = named_regimens(regimens)
    t = check_times(times, time_unit)
    if population is None:
        population = (typical_population(model, weight) if n_subjects is None
                      else sample_population(model, n_subjects, seed=seed, weight=weight))
    elif n_subjects is not None or weight is not None:
        raise PkpdError("Give either population= or n_subjects=/weight=, not both.")
    p = population.individual(model)
    pk = {k: p[k] for k in model.pk_names}
    conc = np.empty((len(regs), population.n, t.size))
    for r, reg in enumerate(regs.values()):
        events = resolve_events(reg, population.weight, pk, horizon=float(t[-1]))
        if method == "closed_form":
            conc[r] = concentration_closed_form(t, events, pk)
        else:
            conc[r] = concentration_ode(t, events, pk, model, rtol=rtol, atol=atol, solver=solver)
    return to_dataset(conc, regs, t, population, model, p, method)


def to_dataset(conc, regs, t, population, model, individual, method) -> xr.Dataset:
    units = {prm.name: prm.unit for prm in model.parameters}
    data = {"concentration": (("regimen", "subject", "time"), conc,
                              {"units": "mg/L", "long_name": "free drug concentration in serum"}),
            "weight": (("subject",), population.weight.copy(), {"units": "kg", "long_name": "body weight"})}
    for name, values in individual.items():
        data[name] = (("subject",), np.asarray(values, float).copy(),
                      {"units": units.get(name, ""), "long_name": f"individual {name}"})
    from . import __version__
    return xr.Dataset(
        data,
        coords={"regimen": list(regs), "regimen_text": ("regimen", [str(r) for r in regs.values()]),
                "subject": np.arange(population.n), "time": ("time", t, {"units": "day"}),
                "week": ("time", t / 7.0, {"units": "week"})},
        attrs={"title": f"pkpd simulation of model {model.name}", "model": model.name,
               "model_file": model.path, "model_sha256": model.sha256,
               "parameters": json.dumps(model.values, sort_keys=True), "engine": method,
               "population": population.method,
               "seed": "none" if population.seed is None else str(population.seed),
               "pkpd_version": __version__})
