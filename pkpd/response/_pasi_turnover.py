r"""``pasi_turnover``: a turnover model of psoriatic lesions driven by drug concentration.

Structure
---------
With :math:`R = PASI(t)/PASI(0)` for a patient whose response scale is 1, drug and
placebo inhibit lesion production (indirect-response model I, independent action):

.. math::
    \dot R = k_{out}\,(1 - I(t)) - k_{out} R, \qquad R(0) = 1,\qquad
    I(t) = 1 - \Big(1 - \frac{I_{max} C^h}{IC_{50}^h + C^h}\Big)(1 - P_{max})

:math:`P_{max}` is the placebo's fractional inhibition of lesion production, in force
from day 0 and acting through the same turnover. Each patient *i* responds with an
individual scale :math:`s_i = e^{\omega \eta_i}`, :math:`\eta_i \sim N(0,1)`, on the
log-PASI-ratio: :math:`PASI_i(t)/PASI_i(0) = R_i(t)^{s_i}`. So improvement
:math:`1 - R_i^{s_i}` is 0 at baseline for everyone, a patient's PASI50/75/90/100 are
thresholds on this *one* latent trajectory, and with complete inhibition :math:`s_i` is
simply a patient-specific turnover rate. This is a latent-variable indirect-response model
in the spirit of Hu et al. (J Pharmacokinet Pharmacodyn 2011;38:237-260,
doi:10.1007/s10928-011-9191-4), who modelled ustekinumab PASI categories through a latent
turnover variable.

In the terms of :class:`pkpd.ResponseModel`: the latent level is the log depth of
response :math:`\ell = \ln d`, :math:`d = -\ln R`; the spread is ``omega_response``; a
patient's improvement is :math:`1 - \exp(-e^{\ell + \omega z})`, so the cut of threshold
:math:`x` is :math:`\ln(-\ln(1 - x))`.

Accuracy
--------
The turnover is solved exactly for the known concentration: Gauss-Legendre panels on a
mesh that follows the doses (:mod:`pkpd.response._quadrature`), within 1e-9 of a
tight-tolerance ODE solution whatever the output times (tests/accuracy/test_exact_pd.py).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from ..model import FRACTION, POSITIVE, ParameterSpec
from ._base import ResponseModel


def _log_depth(y) -> np.ndarray:
    """ln d with d = -ln R = -ln(1 - y), from y = 1 - R."""
    depth = -np.log1p(-np.minimum(y, 1.0))
    with np.errstate(divide="ignore"):
        return np.log(depth)


class PasiTurnover(ResponseModel):
    """The turnover model of the module notes (``[pd] type = "pasi_turnover"``)."""

    name = "pasi_turnover"
    description = "lesion turnover with drug (Imax/IC50) and placebo (Pmax) inhibition, log-normal response scale"
    parameters = (
        ParameterSpec("kout", "1/day", POSITIVE, "first-order turnover rate of psoriatic lesions"),
        ParameterSpec("Imax", "1", FRACTION, "maximal fractional inhibition of lesion production by the drug"),
        ParameterSpec("IC50", "mg/L", POSITIVE, "serum concentration giving half-maximal inhibition"),
        ParameterSpec("hill", "1", POSITIVE, "Hill coefficient of the inhibition"),
        ParameterSpec("Pmax", "1", FRACTION, "fractional inhibition of lesion production by placebo"),
        ParameterSpec("omega_response", "1", POSITIVE, "SD of the log individual response scale",
                      individual=False),
    )
    default_vary = ("kout", "IC50", "Pmax", "omega_response")
    spread_parameter = "omega_response"

    def latent(self, trajectory, values):
        # y = 1 - R solves y' = kout (I - y), I = Pmax + Imax (1 - Pmax) f, f = C^h / (IC50^h + C^h); it is
        # linear in I: y = Pmax (1 - e^{-kout t}) + Imax (1 - Pmax) J with J' = kout (f - J). J depends on
        # kout, IC50 and hill only, so changes of Pmax and Imax reuse it.
        kout = np.asarray(values["kout"], float)
        pmax = np.asarray(values["Pmax"], float)
        J = trajectory.first_order_hill(kout, 0.0, 1.0, values["IC50"], values["hill"])
        placebo = -np.expm1(-kout[..., None] * trajectory.mesh.times)
        y = pmax[..., None] * placebo + (np.asarray(values["Imax"], float) * (1.0 - pmax))[..., None] * J
        return _log_depth(y)

    def latent_draws(self, trajectory, draws: Sequence[Mapping]):
        if any(np.ndim(v[name]) for v in draws for name in ("kout", "Imax", "IC50", "hill", "Pmax")):
            return super().latent_draws(trajectory, draws)  # values vary between nodes: one set at a time
        p = {name: np.array([float(v[name]) for v in draws]) for name in ("kout", "Imax", "IC50", "hill", "Pmax")}
        y = trajectory.first_order_hill_draws(p["kout"], p["Pmax"], p["Imax"] * (1.0 - p["Pmax"]), p["IC50"],
                                              p["hill"])
        return _log_depth(y)

    def cut(self, thresholds) -> np.ndarray:
        return np.log(np.array([-math.log1p(-float(x)) if x < 1 else math.inf for x in thresholds]))

    def improvement(self, score) -> np.ndarray:
        return -np.expm1(-np.exp(score))
