"""Exposure: NONMEM event semantics, the exact closed form and the stacked ODE, one dispatch, and
labelled simulation of regimens and NONMEM datasets."""

from ._exposure import METHODS, Exposure, concentrations, engine, table_concentrations
from ._simulate import simulate, simulate_dataset

__all__ = ["Exposure", "METHODS", "concentrations", "engine", "simulate", "simulate_dataset",
           "table_concentrations"]
