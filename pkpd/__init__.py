"""pkpd: PK/PD modelling of therapeutic antibodies.

Everything a user needs is importable from here; modules starting with ``_`` are private.
"""

__version__ = "0.1.0"

from ._dosing import Amount, Course, Dose, Regimen, WeightBands
from ._errors import PkpdError, SolverError
from ._model import Model, Parameter, load_model
from ._nonmem import read_nonmem, write_nonmem
from ._population import Population, sample_population, typical_population
from ._regimen_text import RegimenSyntaxError, parse_regimen
from ._simulate import simulate
from ._pasi import response_rates, simulate_trial

__all__ = [
    "Amount", "Course", "Dose", "Model", "Parameter", "PkpdError", "Population", "Regimen",
    "RegimenSyntaxError", "SolverError", "WeightBands", "load_model", "parse_regimen",
    "read_nonmem", "response_rates", "sample_population", "simulate", "simulate_trial",
    "typical_population", "write_nonmem",
]
from ._trial import TrialData, load_trial
from ._fit import FitResult, IdentifiabilityWarning, SavedFit, fit, load_fit

__all__ += ["FitResult", "IdentifiabilityWarning", "SavedFit", "TrialData", "fit", "load_fit", "load_trial"]
from ._predict import compare_regimens, dose_response, predict
from ._dosing import Rule
from ._pd import effect_compartment, emax, indirect_response, inhibition
from ._plot import plot_concentrations, plot_dose_response, plot_fit, plot_response

__all__ += ["Rule", "compare_regimens", "dose_response", "effect_compartment", "emax", "indirect_response",
            "inhibition", "plot_concentrations", "plot_dose_response", "plot_fit", "plot_response", "predict"]
