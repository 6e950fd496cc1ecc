"""pkpd: PK/PD modelling of therapeutic antibodies.

Everything a user needs is importable from here, grouped by the stage data flows through;
modules and subpackages starting with ``_`` are private. ``import pkpd`` loads neither
matplotlib nor lmfit (plots and fits import them when called).

Units inside pkpd: time in days, amounts in mg, concentrations in mg/L, volumes in L,
body weight in kg. Every function that takes times takes ``time_unit`` ("day" by default,
"week" or "hour").
"""

from ._version import __version__
from ._errors import PkpdError, PkpdWarning, SolverError
from ._budget import budget

# dosing: doses and regimens, their text form, NONMEM datasets
from .dosing import (Amount, Course, Dataset, Dose, Regimen, RegimenSyntaxError, Rule, WeightBands, parse_regimen,
                     read_nonmem, write_nonmem)
# models: parameters, the registry, model files and the library, virtual patients
from .model import (Domain, EndpointFamily, Model, Parameter, ParameterSpec, Population, Prior, Transform, load_model,
                    register_endpoint_family, register_response_model, sample_population, typical_population)
# exposure: concentrations and exposure metrics per interval
from .pk import exposure, simulate, summarize_exposure
# response: links, turnover kernels, response models
from .response import (IndirectResponse, PasiTurnover, ResponseModel, effect_compartment, emax, indirect_response,
                       inhibition)
from . import endpoints as _endpoints  # registers the PASI and EASI endpoint families
# the integration design
from .design import Design
# inference
from .inference import (Comparison, FitProblem, FitResult, IdentifiabilityWarning, Recovery, TrialData,
                        compare_models, fit, load_fit, load_trial, recovery, sample_posterior)
# predictions
from .predict import compare_regimens, dose_response, predict, response_rates, simulate_response, simulate_trial
# writing results whole or not at all (large simulations chunk by chunk)
from ._io import write_dataset
# figures (matplotlib is imported when one is drawn)
from .plot import (densify_times, plot_comparison, plot_concentrations, plot_dose_response, plot_fit,
                   plot_response)

__all__ = [
    "__version__", "PkpdError", "PkpdWarning", "SolverError", "budget",
    "Amount", "Course", "Dataset", "Dose", "Regimen", "RegimenSyntaxError", "Rule", "WeightBands", "parse_regimen",
    "read_nonmem", "write_nonmem",
    "Domain", "EndpointFamily", "Model", "Parameter", "ParameterSpec", "Population", "Prior", "Transform",
    "load_model",
    "register_endpoint_family", "register_response_model", "sample_population", "typical_population",
    "exposure", "simulate", "summarize_exposure",
    "IndirectResponse", "PasiTurnover", "ResponseModel", "effect_compartment", "emax", "indirect_response", "inhibition",
    "Design",
    "Comparison", "FitProblem", "FitResult", "IdentifiabilityWarning", "Recovery", "TrialData", "compare_models",
    "fit", "load_fit", "load_trial", "recovery", "sample_posterior",
    "compare_regimens", "dose_response", "predict", "response_rates", "simulate_response", "simulate_trial",
    "write_dataset",
    "densify_times", "plot_comparison", "plot_concentrations", "plot_dose_response", "plot_fit", "plot_response",
]
