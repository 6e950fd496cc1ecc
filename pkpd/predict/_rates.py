"""Deterministic responder rates of a model, as a labelled dataset."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import xarray as xr

from .. import _provenance, _units
from .._checks import increasing_times, mapping
from ..design import Design, RateEngine, as_design
from ..model import Population, load_model


def rates_dataset(rates, regimens, times_days, endpoints, model, attrs) -> xr.Dataset:
    """``rate`` (regimen, time, endpoint) with the endpoints' thresholds and the provenance attrs."""
    return xr.Dataset(
        {"rate": (("regimen", "time", "endpoint"), rates,
                  {"units": "1", "long_name": "share of patients with at least the endpoint's improvement"})},
        coords={**_provenance.regimen_coords(regimens), **_provenance.time_coords(times_days),
                "endpoint": list(endpoints.names),
                "threshold": ("endpoint", list(endpoints.thresholds.values()),
                              {"units": "1", "long_name": "minimum fractional improvement from baseline"})},
        attrs=_provenance.attrs(model, **attrs))


def add_rule_shares(ds: xr.Dataset, regimens: dict, fired: np.ndarray) -> xr.Dataset:
    """Attach each rule's text and the share of patients it fired for (``rule`` dim), if any."""
    n_rules = fired.shape[-1]
    if n_rules == 0:
        return ds
    texts = [[str(r.rules[j]) if j < len(r.rules) else "" for j in range(n_rules)] for r in regimens.values()]
    ds["rule_text"] = (("regimen", "rule"), np.array(texts, dtype=object).astype(str))
    ds["rule_fired"] = (("regimen", "rule"), fired,
                        {"units": "1", "long_name": "share of patients for whom the rule fired"})
    return ds


def response_rates(model, regimens, times, *, time_unit: str = "day", endpoints=None, design: Design | None = None,
                   weight=None, population: Population | None = None, values: Mapping | None = None) -> xr.Dataset:
    """Expected responder rates per regimen, time and endpoint (deterministic).

    Parameters
    ----------
    model : Model or str
        A model with a response model, e.g. ``"ustekinumab_pasi"``.
    regimens : regimen, text, list or {name: regimen}
    times : array-like
        Output times in ``time_unit``.
    time_unit : {"day", "week", "hour"}
        Unit of ``times`` (default days, as everywhere in pkpd).
    endpoints : list of names, or {name: threshold}, optional
        Default: the model's endpoints (for PASI: PASI50/75/90/100).
    design : Design, optional
        The integration design (default ``Design()``: 1024 Sobol nodes, seed 0, a 1-day
        grid refined after doses). The same inputs give bit-identical rates.
    weight : float or array, optional
        Body weight(s) in kg instead of the model's distribution (an array has one entry
        per node).
    population : Population, optional
        Use these virtual patients as nodes instead of the design's.
    values : mapping, optional
        Parameter values overriding the model's (internal units).

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
    model = load_model(model)
    values = mapping("values", values, " Give {name: value} in internal units, e.g. {'IC50': 0.5}.")
    if values:
        model = model.replace(values)
    design = as_design(design)
    t = _units.to_days(increasing_times(times), time_unit)
    if population is None:
        population = design.nodes(model, weight)
    engine = RateEngine(model, regimens, t, population, design)
    ends = model.select_endpoints(endpoints)
    rates, fired = engine.evaluate(endpoints=ends)
    ds = rates_dataset(rates, engine.regimens, t, ends, model,
                       {"integration": design.describe(population), "mesh_step_day": design.step})
    return add_rule_shares(ds, engine.regimens, fired)
