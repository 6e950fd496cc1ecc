"""Predictions: deterministic rates of a model, virtual trials, predictions from a fit with
uncertainty, regimen comparisons and dose-response."""

from ._rates import response_rates
from ._trials import simulate_trial
from ._predict import predict
from ._compare import compare_regimens, dose_response
from ._response import simulate_response

__all__ = ["compare_regimens", "dose_response", "predict", "response_rates", "simulate_response", "simulate_trial"]
