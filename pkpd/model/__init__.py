"""Models as data: parameter definitions and rows, the registry, model files, the library,
and virtual populations."""

from ._parameters import (FRACTION, IDENTITY, LOG, LOGIT, NONNEGATIVE, POSITIVE, POSITIVE_FRACTION, REAL, Domain,
                          ParameterSpec, TRANSFORMS, Transform)
from ._rows import Parameter
TRANSFORMS_BY_NAME = TRANSFORMS
from ._registry import (EndpointFamily, endpoint_families, endpoint_family, parameter_spec, register_endpoint_family,
                        register_response_model, response_model, response_models)
from ._model import Model
from ._priors import DISTRIBUTIONS, Prior
from ._files import load_model, model_from_sources
from ._population import DEFAULT_SEED, Population, sample_population, typical_population, with_covariates
from . import _library as library

__all__ = ["DEFAULT_SEED", "Domain", "EndpointFamily", "FRACTION", "IDENTITY", "LOG", "LOGIT", "Model", "Prior", "DISTRIBUTIONS",
           "NONNEGATIVE", "POSITIVE", "POSITIVE_FRACTION", "Parameter", "ParameterSpec", "Population", "REAL",
           "TRANSFORMS_BY_NAME", "Transform", "endpoint_families", "endpoint_family", "library", "load_model", "model_from_sources",
           "parameter_spec", "register_endpoint_family", "register_response_model", "response_model",
           "response_models", "sample_population", "typical_population", "with_covariates"]
