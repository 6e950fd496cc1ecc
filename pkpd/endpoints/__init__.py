"""Endpoints: families of nested responder thresholds, and responder probabilities from latent
levels, categories and response-guided rules (the same for every response model).

``EndpointFamily`` is defined with the registry (model files read it) and re-exported here.
"""

from ..model import EndpointFamily, register_endpoint_family
from ._probability import (from_categories, interval_probability, responder_probability, split_by_rules,
                           to_categories)
from ._scores import LinearScore, Mixture, TabulatedScore, normal_cdf

PASI = register_endpoint_family(EndpointFamily(
    "PASI", {"PASI50": 0.50, "PASI75": 0.75, "PASI90": 0.90, "PASI100": 0.995},
    description="improvement of the Psoriasis Area and Severity Index from baseline",
    source="PASI-x: at least x% improvement. PASI100 as >= 99.5% is an ASSUMPTION: a latent improvement never "
           "reaches exactly 1, and PASI is scored in steps of 0.1 (a recorded 0 from a baseline near 20)."),
    replace=True)
EASI = register_endpoint_family(EndpointFamily(
    "EASI", {"EASI50": 0.50, "EASI75": 0.75, "EASI90": 0.90},
    description="improvement of the Eczema Area and Severity Index from baseline",
    source="EASI-x: at least x% improvement from baseline"), replace=True)

__all__ = ["EASI", "EndpointFamily", "LinearScore", "Mixture", "PASI", "TabulatedScore", "from_categories", "interval_probability", "normal_cdf",
           "responder_probability", "split_by_rules", "to_categories"]
