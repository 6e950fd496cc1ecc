"""Predictions from a fit: response rates for regimens no trial has tested."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ._errors import PkpdError
from ._fit import FitResult, SavedFit, load_fit
from ._pasi import response_rates


def as_fit(fit) -> SavedFit:
    """Accept a SavedFit, a FitResult (as fitted, not yet saved) or a fit file path."""
    if isinstance(fit, SavedFit):
        return fit
    if isinstance(fit, FitResult):
        return SavedFit(model=fit.model, settings=dict(fit.settings, varying=fit.varying,
                                                        transforms=fit.transforms),
                        record=fit.to_dict(), path="")
    if isinstance(fit, (str, Path)):
        return load_fit(fit)
    raise PkpdError(f"Cannot use {fit!r} as a fit; give a fit file path, a SavedFit or a FitResult.")


def predict(fit, regimens, times, *, time_unit: str = "week", endpoints=None, weight=None) -> xr.Dataset:
    """Predicted PASI responder rates of a fitted model.

    Uses the fit's own integration design (nodes, seed, grid step), so that predictions
    for the fitted arms at the fitted times reproduce the fitted rates to the last bit.

    Parameters
    ----------
    fit : fit file path, SavedFit or FitResult
    regimens : regimen, text, list or {name: regimen}
    times : array-like, in ``time_unit`` (default weeks)
    endpoints : optional list of endpoint names
    weight : float or array, optional
        Body weight(s) in kg instead of the model's weight distribution.
    """
    fit = as_fit(fit)
    s = fit.settings
    ds = response_rates(fit.model, regimens, times, time_unit=time_unit, endpoints=endpoints,
                        n_nodes=s["n_nodes"], seed=s["node_seed"], step=s["step"], weight=weight)
    ds.attrs["fit_file"] = fit.path
    return ds
