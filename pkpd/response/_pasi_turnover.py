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

from ..endpoints import LinearScore, Mixture, TabulatedScore
from .._errors import PkpdError
from ..model import FRACTION, POSITIVE, Domain, ParameterSpec
from ._base import ResponseModel


CORRELATION = Domain(-1.0, 1.0, lower_open=True, upper_open=True)


def _log_depth(y, own: bool = False) -> np.ndarray:
    """ln d with d = -ln R = -ln(1 - y), from y = 1 - R (computed in y's memory when ``own``)."""
    out = np.minimum(y, 1.0, out=y if own else None)
    np.negative(out, out=out)
    np.log1p(out, out=out)
    np.negative(out, out=out)
    with np.errstate(divide="ignore"):
        return np.log(out, out=out)


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
    reduces_to = {"pasi_turnover_hill": {}}

    def latent(self, trajectory, values):
        # y = 1 - R solves y' = kout (I - y), I = Pmax + Imax (1 - Pmax) f, f = C^h / (IC50^h + C^h); it is
        # linear in I: y = Pmax (1 - e^{-kout t}) + Imax (1 - Pmax) J with J' = kout (f - J). J depends on
        # kout, IC50 and hill only, so changes of Pmax and Imax reuse it.
        kout = np.asarray(values["kout"], float)
        pmax = np.asarray(values["Pmax"], float)
        J = trajectory.first_order_hill(kout, 0.0, 1.0, values["IC50"], values["hill"])
        placebo = -np.expm1(-kout[..., None] * trajectory.mesh.times)
        y = (np.asarray(values["Imax"], float) * (1.0 - pmax))[..., None] * J  # a new array: J stays memoised
        y += pmax[..., None] * placebo
        return _log_depth(y, own=True)

    def latent_draws(self, trajectory, draws: Sequence[Mapping]):
        names = ("kout", "Imax", "IC50", "hill", "Pmax")
        if not all(isinstance(v[name], float) or np.ndim(v[name]) == 0 for v in draws for name in names):
            return super().latent_draws(trajectory, draws)  # values vary between nodes: one set at a time
        p = {name: np.array([float(v[name]) for v in draws]) for name in names}
        y = trajectory.first_order_hill_draws(p["kout"], p["Pmax"], p["Imax"] * (1.0 - p["Pmax"]), p["IC50"],
                                              p["hill"])
        return _log_depth(y, own=True)

    def cut(self, thresholds) -> np.ndarray:
        return np.log(np.array([-math.log1p(-float(x)) if x < 1 else math.inf for x in thresholds]))

    def improvement(self, score) -> np.ndarray:
        return -np.expm1(-np.exp(score))


class PasiTurnoverHill(PasiTurnover):
    """``pasi_turnover_hill``: the same equations with the maximal inhibition Imax (below 1) and
    the Hill coefficient estimated as well (structure (d))."""

    name = "pasi_turnover_hill"
    description = "lesion turnover with Imax below 1 and a Hill coefficient, placebo, log-normal response scale"
    default_vary = ("kout", "IC50", "Pmax", "omega_response", "Imax", "hill")
    reduces_to = {"pasi_turnover": {}}


class PasiNonResponders(PasiTurnover):
    """``pasi_nonresponders``: a share of patients on whom the drug has no effect (structure (c)).

    Drug non-response as a class of its own, as in Pan et al. (Clin Transl Sci 2020): a
    fraction ``nonresponders`` of patients follow the placebo course (Imax = 0), the
    others the turnover of :class:`PasiTurnover`; both classes keep the log-normal response
    scale, so each is nested and analytic, and the rates are their weighted sum.
    """

    name = "pasi_nonresponders"
    description = "lesion turnover with a class of drug non-responders, placebo, log-normal response scale"
    parameters = PasiTurnover.parameters + (
        ParameterSpec("nonresponders", "1", FRACTION, "share of patients on whom the drug has no effect",
                      individual=False),)
    default_vary = ("kout", "IC50", "Pmax", "omega_response", "nonresponders")
    reduces_to = {"pasi_turnover": {"nonresponders": 0.0}, "pasi_turnover_hill": {"nonresponders": 0.0}}

    def _placebo(self, trajectory, values):
        kout = np.asarray(values["kout"], float)
        y = np.asarray(values["Pmax"], float)[..., None] * -np.expm1(-kout[..., None] * trajectory.mesh.times)
        return _log_depth(np.broadcast_to(y, (trajectory.n, trajectory.mesh.times.size)))

    def latent(self, trajectory, values):
        share = float(values["nonresponders"])
        omega = values["omega_response"]
        return Mixture((1.0 - share, share), (LinearScore(super().latent(trajectory, values), omega),
                                              LinearScore(self._placebo(trajectory, values), omega)))

    def latent_draws(self, trajectory, draws):
        drug = super().latent_draws(trajectory, draws)                          # (draw, node, time)
        placebo = np.stack([self._placebo(trajectory, v) for v in draws])
        omega = np.array([float(v["omega_response"]) for v in draws])[:, None, None]
        share = np.array([float(v["nonresponders"]) for v in draws])[:, None]
        return Mixture((1.0 - share, share), (LinearScore(drug, omega), LinearScore(placebo, omega)))


class PasiEffectCompartment(PasiTurnover):
    r"""``pasi_effect_compartment``: the drug acts through an effect compartment (structure (e)).

    The inhibition follows the effect-site concentration :math:`\dot C_e = k_{e0}(C - C_e)`
    instead of C, which delays the drug effect further than the lesion turnover alone; the
    response scale and placebo are those of :class:`PasiTurnover`.
    """

    name = "pasi_effect_compartment"
    description = "lesion turnover driven by an effect compartment, placebo, log-normal response scale"
    parameters = PasiTurnover.parameters + (
        ParameterSpec("ke0", "1/day", POSITIVE, "rate constant of the effect compartment"),)
    default_vary = ("kout", "IC50", "Pmax", "omega_response", "ke0")
    reduces_to = {}  # pasi_turnover only in the limit ke0 -> infinity: not a nested test

    def latent(self, trajectory, values):
        return super().latent(trajectory.effect_site(values["ke0"]), values)

    def latent_draws(self, trajectory, draws):
        if len({float(v["ke0"]) for v in draws if np.ndim(v["ke0"]) == 0}) == 1 and all(
                np.ndim(v["ke0"]) == 0 for v in draws):
            return super().latent_draws(trajectory.effect_site(draws[0]["ke0"]), draws)
        return np.stack([self.latent(trajectory, v) for v in draws])


class PasiSensitivity(PasiTurnover):
    r"""``pasi_sensitivity``: patients differ in drug sensitivity, not in a response scale (structure (b)).

    Each patient's IC50 is log-normal around the node's, :math:`IC_{50,i} = IC_{50}
    e^{-\omega_{IC50} z}`, :math:`z \sim N(0, 1)`; given the node, a patient's PASI ratio is
    the turnover's R(t) (no response scale), so their depth of response increases with z.
    The rate is analytic over z: the log depth is tabulated on a grid of z (``Z_GRID``, a
    turnover per grid point) and inverted by monotone cubic interpolation. z is a patient's
    responsiveness: it also moves their placebo response, :math:`\mathrm{logit}\,P_{max,i} =
    \mathrm{logit}\,P_{max} + \omega_{P} z` (``omega_Pmax``), so that placebo patients
    differ and every arm's rate is smooth in every parameter (a placebo course shared by
    all patients of a node would make the placebo rate a step function). Total inhibition
    :math:`1 - (1 - I_{max} f)(1 - P_{max})` rises with both, so the depth of response
    rises with z in every arm. ``bsv_kout`` and ``bsv_Imax`` add variability in other
    directions, as Sobol dimensions of the design.

    Sensitivity may be correlated with those: ``corr_IC50_kout`` and ``corr_IC50_Imax``
    (default 0) are the correlations of z with the node's kout and Imax scores u. Given
    the node, z is normal with mean :math:`\rho_k u_k + \rho_I u_I` and SD
    :math:`\sqrt{1 - \rho_k^2 - \rho_I^2}`; the grid is laid on the standardised
    conditional score, so the rest of the machinery (cuts, rules, virtual trials) is that
    of an independent standard-normal latent.
    """

    name = "pasi_sensitivity"
    description = "lesion turnover with log-normal variability in drug sensitivity (IC50) as the latent variable"
    parameters = tuple(s for s in PasiTurnover.parameters if s.name != "omega_response") + (
        ParameterSpec("omega_IC50", "1", POSITIVE, "SD of the log IC50 between patients (the latent variable)",
                      individual=False),
        ParameterSpec("omega_Pmax", "1", POSITIVE, "SD of logit Pmax between patients, moving with the latent "
                      "responsiveness", individual=False),
        ParameterSpec("corr_IC50_kout", "1", CORRELATION, "correlation of drug sensitivity with the kout score "
                      "(bsv_kout)", individual=False, default=0.0),
        ParameterSpec("corr_IC50_Imax", "1", CORRELATION, "correlation of drug sensitivity with the Imax score "
                      "(bsv_Imax)", individual=False, default=0.0),
    )
    default_vary = ("kout", "IC50", "Pmax", "omega_IC50")
    spread_parameter = ""
    reduces_to = {}
    scores = ("kout", "Imax")
    Z_GRID = np.linspace(-5.0, 5.0, 21)

    def latent(self, trajectory, values):
        kout = np.asarray(values["kout"], float)
        pmax = np.asarray(values["Pmax"], float)
        placebo = -np.expm1(-kout[..., None] * trajectory.mesh.times)
        imax = np.asarray(values["Imax"], float)
        ic50 = np.asarray(values["IC50"], float)
        logit_pmax, omega_p = np.log(pmax) - np.log1p(-pmax), float(values["omega_Pmax"])
        rho_k, rho_i = float(values.get("corr_IC50_kout", 0.0)), float(values.get("corr_IC50_Imax", 0.0))
        residual = 1.0 - rho_k ** 2 - rho_i ** 2
        if not residual > 0:
            raise PkpdError(f"corr_IC50_kout = {rho_k:g} and corr_IC50_Imax = {rho_i:g} leave no variance of their "
                            "own to drug sensitivity (their squares must add up to less than 1).")
        shift = rho_k * np.asarray(values.get("score_kout", 0.0)) + rho_i * np.asarray(values.get("score_Imax", 0.0))
        omega = float(values["omega_IC50"])
        columns = []
        for z in self.Z_GRID:
            zi = shift + math.sqrt(residual) * z
            J = trajectory.first_order_hill(kout, 0.0, 1.0, ic50 * np.exp(-omega * zi), values["hill"])
            p = 1.0 / (1.0 + np.exp(-(logit_pmax + omega_p * zi)))
            columns.append(_log_depth(np.asarray(p)[..., None] * placebo + (imax * (1.0 - p))[..., None] * J,
                                      own=True))
        return TabulatedScore(self.Z_GRID, np.stack(columns, axis=-1))

    def latent_draws(self, trajectory, draws):
        return _stack_scores([self.latent(trajectory, v) for v in draws])


def _stack_scores(scores):
    first = scores[0]
    if isinstance(first, TabulatedScore):
        return TabulatedScore(first.z, np.stack([s.score for s in scores]))
    raise TypeError("cannot stack these scores")
