"""Exact concentrations of linear models: one-compartment propagation and superposition.

Both are vectorised over subjects and times; a Python loop runs over doses (or output
steps) only. Formulas: :mod:`pkpd.pk._formulas`.
"""

from __future__ import annotations

import numpy as np

from . import _formulas as _pk
from ._events import Event


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
    :func:`pkpd.pk._formulas.conc_depot`. Step coefficients are cached by step length, so a
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


