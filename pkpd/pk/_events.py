"""Dose events per virtual patient: a regimen resolved at each patient's weight and PK.

An :class:`Event` is a dose at one time for all patients, with per-patient amounts (and
infusion durations). Steady state (``at steady state``, NONMEM SS=1) is expanded into
explicit earlier doses, enough for the forgotten tail to fall below ``SS_TAIL`` of the
steady state for the slowest patient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..dosing import Regimen, infusion_duration
from .._errors import PkpdError
from ._formulas import terminal_rate

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


def resolve_events(regimen: Regimen, weight: np.ndarray | None, params: dict,
                   horizon: float | None = None) -> list[Event]:
    """Expand a regimen into events for these subjects, steady-state history included.

    ``weight`` (kg, (n,)) resolves weight-based amounts; None when nobody has a weight.
    ``horizon`` (days) ends open-ended repeats: doses after it cannot change output up to it.
    """
    n = np.asarray(params["CL"]).size
    if regimen.rules:
        raise PkpdError(f"Regimen '{regimen}' has response-guided rules: who gets which doses depends on "
                        "their PASI response. Use pkpd.predict or pkpd.response_rates with a PASI model; "
                        "for concentrations, simulate each variant (Regimen.variants()).")
    events = []
    for course in regimen.courses:
        amount = np.broadcast_to(course.amount.resolve(weight), (n,)).astype(float)
        duration = None
        if course.route == "infusion":
            duration = np.broadcast_to(infusion_duration(amount, course.rate, course.duration),
                                       amount.shape).astype(float)
        times = list(course.dose_times(horizon))
        if course.steady_state:
            rate = float(np.min(terminal_rate(params)))
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


