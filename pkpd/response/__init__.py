"""Response: drug-effect links, exact turnover kernels, and the registered response models."""

from ..model import register_response_model
from ._base import ResponseModel
from ._links import emax, hill_fraction, inhibition
from ._pasi_turnover import (PasiEffectCompartment, PasiNonResponders, PasiSensitivity, PasiTurnover,
                             PasiTurnoverHill)
from ._quadrature import Mesh, Trajectory, build_mesh
from ._idr import IndirectResponse
from ._turnover import effect_compartment, first_order_response, indirect_response

for _model in (PasiTurnover(), PasiTurnoverHill(), PasiNonResponders(), PasiEffectCompartment(), PasiSensitivity()):
    register_response_model(_model, replace=True)

__all__ = ["IndirectResponse", "PasiEffectCompartment", "PasiNonResponders", "PasiSensitivity", "PasiTurnover",
           "PasiTurnoverHill", "ResponseModel", "effect_compartment", "emax", "first_order_response", "hill_fraction",
           "indirect_response", "inhibition", "Mesh", "Trajectory", "build_mesh"]
