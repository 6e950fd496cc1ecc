"""One exposure dispatch: closed form for linear models, the stacked ODE otherwise, with a cache.

Every input becomes a dose table (:class:`pkpd.dosing.DoseTable`): a regimen gives every
subject the same records, a NONMEM dataset each individual its own. The table and the
subjects' dose parameters resolve into events (:mod:`pkpd.pk._events`), which an engine
propagates. :class:`Exposure` holds fixed regimens, time grids and virtual patients and
recomputes concentrations only when a value that changes them changes, so a fit that
varies PD parameters computes the PK once.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .._errors import PkpdError
from ..dosing._tables import DEPOT, DoseTable
from ..model._registry import DOSE_PARAMETERS
from . import _linear
from ._events import resolve
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


_DEFAULTS = {"F": 1.0, "lag": 0.0, "rate": np.nan, "duration": np.nan}


def dose_parameters(model, individual: Mapping) -> dict:
    """Each compartment's F, lag, modelled rate and duration: arrays, or their defaults."""
    out = {}
    for what, default in _DEFAULTS.items():
        out[what] = {}
        for role, names in DOSE_PARAMETERS.items():
            name = names[what]
            value = individual.get(name)
            out[what][role] = np.asarray(default if value is None else value, float)
    return out


def table_events(model, table: DoseTable, individual: Mapping, grid: np.ndarray | None = None):
    """The events of a dose table and the PK parameters they go with (arrays (n,), or (n, R)
    when they change from record to record)."""
    if model.absorption == "none" and np.any(table.valid & (table.compartment == DEPOT)):
        raise PkpdError(f"Model '{model.name}' has no absorption depot (absorption='none'); it takes doses into "
                        "the central compartment only (IV boluses and infusions).")
    n = table.n
    if any(np.asarray(individual[k]).size not in (n, n * np.shape(table.time)[1]) for k in model.pk_names):
        raise PkpdError("Internal error: parameters do not match the subjects of the dose table.")
    pk = {k: np.asarray(individual[k], float) for k in model.pk_names}
    varying = any(v.ndim == 2 and v.shape[1] > 1 and np.any(v != v[:, :1]) for v in pk.values())
    if not varying:  # one value per subject: the engines skip per-record gathers
        pk = {k: v if v.ndim == 1 else v[:, 0] for k, v in pk.items()}
    return resolve(table, dose_parameters(model, pk), grid, varying=varying), pk


def table_concentrations(model, table: DoseTable, individual: Mapping, grid: np.ndarray | None = None,
                         method: str = "auto", **ode_options) -> np.ndarray:
    """Concentrations (subject, output) in mg/L for a dose table.

    ``individual`` maps parameter names to arrays (n,) or (n, R) (per record); ``grid``
    (days) gives output times common to all subjects, else the table's output records.
    """
    events, pk = table_events(model, table, individual, grid)
    with np.errstate(over="ignore", invalid="ignore"):
        if engine(model, method) == "closed_form":
            out = _linear.concentrations(events, pk)
        else:
            out = concentration_ode(events, pk, model, **ode_options)
    check_finite(out, table)
    return out


def check_finite(conc: np.ndarray, table: DoseTable | None = None) -> None:
    """Refuse concentrations that overflowed (amounts, rates or parameters beyond a float's range)
    rather than return them as inf or NaN."""
    bad = ~np.isfinite(conc)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        who = "" if table is None else f"Subject {i}: " if table.line[i, 0] < 0 else f"{table.where(i, 0)}: "
        raise PkpdError(f"{who}the concentrations are not finite numbers ({float(conc[bad].flat[0])!r}): doses, "
                        "infusion rates or parameters too large for the arithmetic. Check the amounts and units.")


def concentrations(model, regimen, times: np.ndarray, individual: Mapping, weight, method: str = "auto",
                   **ode_options) -> np.ndarray:
    """Concentrations (subject, time) in mg/L of one regimen (or of a dose table: each subject its
    own records) for patients with these parameters."""
    n = np.asarray(individual["CL"]).size
    table = regimen if isinstance(regimen, DoseTable) else \
        DoseTable.from_regimen(regimen, n, weight, horizon=float(times[-1]))
    return table_concentrations(model, table, individual, np.asarray(times, float), method, **ode_options)


def pk_key(model, values: Mapping) -> tuple:
    """The values that change concentrations: PK parameters, their variability and covariate effects."""
    pk = set(model.pk_names)
    effects = {e.name for e in model.covariate_effects if e.parameter in pk}

    def changes_pk(name: str) -> bool:
        return (name in pk or (name.startswith("bsv_") and name[4:] in pk) or name in effects
                or name == "reference_weight")
    return tuple((n, values[n]) for n in sorted(values) if changes_pk(n))


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
