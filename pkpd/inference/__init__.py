"""Inference: trial tables, the likelihood, the fitting state, fits and fit files."""

from ._trial import TrialData, load_trial, trial_from_text
from ._likelihood import LIKELIHOODS, deviance_residuals, log_likelihood
from ._problem import FitProblem
from ._results import FitResult, load_fit
from ._fit import IdentifiabilityWarning, Objective, fit
from ._posterior import sample_posterior
from ._compare import Comparison, compare_models
from ._recovery import Recovery, recovery

__all__ = ["Comparison", "compare_models", "Recovery", "recovery", "FitProblem", "FitResult", "IdentifiabilityWarning", "LIKELIHOODS", "Objective", "TrialData",
           "deviance_residuals", "fit", "sample_posterior", "load_fit", "load_trial", "trial_from_text", "log_likelihood"]
