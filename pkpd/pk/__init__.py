"""Exposure: closed-form and ODE pharmacokinetics, one dispatch, and labelled simulation."""

from ._exposure import METHODS, Exposure, concentrations, engine
from ._simulate import simulate

__all__ = ["Exposure", "METHODS", "concentrations", "engine", "simulate"]
