"""One exposure dispatch: closed form for linear models, the stacked ODE otherwise, with a cache.

:class:`Exposure` holds fixed regimens, time grids and virtual patients and recomputes
concentrations only when a value that changes them changes, so a fit that varies PD
parameters computes the PK once.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .._errors import PkpdError
from ._closed_form import concentration_closed_form
from ._events import resolve_events
from ._ode import concentration_ode

METHODS = ("auto", "closed_form", "ode")


def engine(model, method: str = "auto") -> str:
    """'closed_form' or 'ode' for ``model`` and the requested ``method``."""
    if method not in METHODS:
        raise PkpdError(f"Unknown method {method!r}; allowed: {list(METHODS)}.")
    if method == "auto":
        return "closed_form" if model.is_linear else "ode"
    if method == "closed_form" and not model.is_linear:
        raise PkpdError(f"Model '{model.name}' has {model.elimination} elimination, which has no closed "
                        "form; use method='ode' (or 'auto').")
    return method


def concentrations(model, regimen, times: np.ndarray, individual: Mapping, weight, method: str = "auto",
                   **ode_options) -> np.ndarray:
    """Concentrations (subject, time) in mg/L of one regimen for patients with these parameters."""
    pk = {k: individual[k] for k in model.pk_names}
    events = resolve_events(regimen, weight, pk, horizon=float(times[-1]))
    if engine(model, method) == "closed_form":
        return concentration_closed_form(times, events, pk)
    return concentration_ode(times, events, pk, model, **ode_options)


def pk_key(model, values: Mapping) -> tuple:
    """The values that change concentrations: PK parameters, their variability and weight effects."""
    pk = set(model.pk_names)
    return tuple((n, values[n]) for n in sorted(values) if n in pk or n == "reference_weight"
                 or (n.startswith(("bsv_", "weight_exponent_")) and n.split("_")[-1] in pk))


class Exposure:
    """Concentrations of fixed (regimen, grid) pairs for one population, cached by PK values."""

    def __init__(self, model, population, schedules: Sequence[tuple], method: str = "auto"):
        self.model, self.population, self.schedules = model, population, list(schedules)
        self.method = engine(model, method)
        self._key, self._conc = None, None

    def __call__(self, values: Mapping | None = None) -> list[np.ndarray]:
        v = dict(self.model.values, **dict(values or {}))
        key = pk_key(self.model, v)
        if key != self._key:
            p = self.population.individual(self.model, values)
            self._conc = [concentrations(self.model, regimen, grid, p, self.population.weight, self.method)
                          for regimen, grid in self.schedules]
            self._key = key
        return self._conc
