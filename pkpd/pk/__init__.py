"""Exposure: NONMEM event semantics, the exact closed form and the stacked ODE, one dispatch,
labelled simulation of regimens and NONMEM datasets, and exposure metrics per interval."""

from ._exposure import METHODS, Exposure, concentrations, engine, table_concentrations
from ._simulate import simulate, simulate_dataset
from ._exposure_metrics import exposure, summarize_exposure

__all__ = ["Exposure", "METHODS", "concentrations", "engine", "exposure", "simulate", "simulate_dataset",
           "summarize_exposure", "table_concentrations"]
