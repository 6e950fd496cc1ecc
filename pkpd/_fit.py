r"""Fitting a PASI model to arm-level responder counts.

Likelihood
----------
``"multinomial"`` (default): in one arm at one time, the endpoints reported (say PASI75
and PASI90) split the n patients into ordered categories (<75, 75-89, >=90) with
probabilities (1 - p75, p75 - p90, p90) from the response model:

.. math:: \log L = \sum_{\text{arm, time}} \Big[\log n! - \sum_c \log k_c! + \sum_c k_c \log p_c\Big]

``"binomial"``: each endpoint an independent binomial (ignores that PASI90 responders are
PASI75 responders; offered for comparison with published analyses that do so).
Probabilities are floored at 1e-300 inside the logarithm, so that a model giving exactly
zero where responders were seen yields a huge but finite -2LL for the optimiser.

Parameters and transforms
-------------------------
The user picks the parameters that vary (``vary=``); the rest stay at the model's values
(PK at the population PK values). Each varying parameter is estimated on an
unconstrained scale: ``log`` for positive ones, ``logit`` for fractions in [0, 1]
(Imax, Pmax, F), the identity otherwise. The model file's bounds, mapped to that scale,
bound the search. Several starts (the model's values, then the best points of a seeded
screening design inside those bounds) are run
with lmfit's Levenberg-Marquardt on deviance residuals (:func:`deviance_residuals`:
their sum of squares is -2LL up to a constant); the best is kept and polished.

Uncertainty
-----------
* Covariance: 2 H^-1, with H the central-difference Hessian of -2LL on the transformed
  scale; standard errors on the natural scale by the delta method.
* 95% profile-likelihood intervals: for each varying parameter, the others re-optimised
  along a path in its transformed value, and the points where -2LL rises 3.841
  (chi-square, 1 df, 95%) above the minimum found by root-finding on the signed root of the
  rise. If the profile stays below that before the parameter's bound, that side is
  open and the parameter is reported as not identifiable from the data.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import lmfit
import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, gammaln, logit, xlogy
from scipy.stats import binom, chi2

from ._errors import PkpdError
from ._model import MODELS_DIR, Model, load_model
from ._pasi import PasiEngine, model_endpoints
from ._population import sample_population
from ._trial import TrialData, load_trial

LIKELIHOODS = ("multinomial", "binomial")
DEFAULT_VARY = ("kout", "IC50", "Pmax", "omega_response")
PROFILE_LEVEL = 0.95
PROFILE_RISE = float(chi2.ppf(PROFILE_LEVEL, 1))  # 3.841
FIT_FORMAT = "pkpd-fit/1"
PROJECT_ROOT = MODELS_DIR.parent


class IdentifiabilityWarning(UserWarning):
    """A parameter's profile likelihood is flat: the data do not pin it down."""


# -- transforms ----------------------------------------------------------------------------

def transform_of(model: Model, name: str) -> str:
    """'logit' for fractions in [0, 1], 'log' for positive parameters, else 'identity'."""
    from ._model import _domain
    dom = _domain(name)
    if dom is None:
        return "identity"
    lo, hi, _ = dom
    if lo == 0.0 and hi == 1.0:
        return "logit"
    if lo == 0.0:
        return "log"
    return "identity"


def to_fit_scale(kind: str, x):
    with np.errstate(divide="ignore"):
        return {"log": np.log, "logit": logit, "identity": np.asarray}[kind](np.asarray(x, float))


def from_fit_scale(kind: str, y):
    return {"log": np.exp, "logit": expit, "identity": np.asarray}[kind](np.asarray(y, float))


def natural_se(kind: str, x: float, se_fit: float) -> float:
    """Delta-method standard error on the natural scale."""
    return float({"log": x, "logit": x * (1 - x), "identity": 1.0}[kind] * se_fit)


# -- likelihood ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Group:
    arm: int
    time: int
    n: int
    endpoints: tuple[int, ...]  # indices into the endpoint axis, ascending threshold
    counts: np.ndarray          # multinomial category counts, lowest category first
    responders: np.ndarray      # per endpoint
    constant: float             # log multinomial coefficient


def _groups(trial: TrialData, arms: list[str], days: np.ndarray, endpoints: list[str]) -> list[_Group]:
    out = []
    for arm, day, n, resp in trial.groups():
        ends = sorted(resp, key=lambda e: int(e[4:]))
        r = np.array([resp[e] for e in ends])
        counts = np.concatenate([[n - r[0]], r[:-1] - r[1:], [r[-1]]])
        out.append(_Group(arms.index(arm), int(np.searchsorted(days, day)), n,
                          tuple(endpoints.index(e) for e in ends), counts, r,
                          float(gammaln(n + 1) - gammaln(counts + 1).sum())))
    return out


def log_likelihood(rates: np.ndarray, groups: Sequence[_Group], kind: str = "multinomial") -> float:
    """Log-likelihood of the trial counts given rates (arm, time, endpoint)."""
    total = 0.0
    for g in groups:
        p = rates[g.arm, g.time, list(g.endpoints)]
        if kind == "multinomial":
            probs = np.concatenate([[1.0 - p[0]], p[:-1] - p[1:], [p[-1]]])
            total += g.constant + float(np.dot(g.counts, np.log(np.maximum(probs, 1e-300))))
        else:
            k = g.responders
            total += float(np.sum(gammaln(g.n + 1) - gammaln(k + 1) - gammaln(g.n - k + 1)
                                  + k * np.log(np.maximum(p, 1e-300))
                                  + (g.n - k) * np.log(np.maximum(1.0 - p, 1e-300))))
    return total


def deviance_residuals(rates: np.ndarray, groups: Sequence[_Group], kind: str = "multinomial") -> np.ndarray:
    """Signed deviance residuals, one per category cell; their sum of squares is -2LL + const.

    For a cell with count k and expected count mu = n p the residual is
    ``sign(k - mu) * sqrt(2 [k ln(k/mu) - (k - mu)])``. Within a group the expected counts
    add up to n, so the ``k - mu`` terms cancel and the squares sum to the deviance,
    -2LL minus its saturated value: least squares on these residuals *is* maximum
    likelihood, and lets lmfit's Levenberg-Marquardt do the fitting.
    """
    out = []
    for g in groups:
        p = rates[g.arm, g.time, list(g.endpoints)]
        if kind == "multinomial":
            probs, k = np.concatenate([[1.0 - p[0]], p[:-1] - p[1:], [p[-1]]]), g.counts
        else:
            probs = np.concatenate([p, 1.0 - p])
            k = np.concatenate([g.responders, g.n - g.responders])
        mu = g.n * np.maximum(probs, 1e-300)
        d = 2.0 * (xlogy(k, k / mu) - (k - mu))
        out.append(np.sign(k - mu) * np.sqrt(np.maximum(d, 0.0)))
    return np.concatenate(out)


# -- the objective -------------------------------------------------------------------------

class Objective:
    """-2 log-likelihood of a trial as a function of named parameter values.

    Holds one :class:`pkpd._pasi.PasiEngine` (concentrations cached while PK is fixed),
    so fitting, profiling and prediction share one copy of every formula.
    """

    def __init__(self, model: Model, trial: TrialData, likelihood: str = "multinomial",
                 n_nodes: int = 1024, node_seed: int = 0, step: float = 1.0):
        if likelihood not in LIKELIHOODS:
            raise PkpdError(f"Unknown likelihood {likelihood!r}; allowed: {list(LIKELIHOODS)}.")
        known = model_endpoints(model)
        unknown = [e for e in trial.endpoints if e not in known]
        if unknown:
            raise PkpdError(f"Trial endpoints {unknown} are not defined by model '{model.name}' ({list(known)}).")
        self.model, self.trial, self.likelihood = model, trial, likelihood
        self.endpoints = trial.endpoints
        self.thresholds = [known[e] for e in self.endpoints]
        self.arms = trial.arms
        self.days = trial.days
        self.settings = dict(likelihood=likelihood, n_nodes=n_nodes, node_seed=node_seed, step=step)
        nodes = sample_population(model, n_nodes, seed=node_seed, method="sobol")
        self.engine = PasiEngine(model, trial.regimens, self.days, nodes, step=step)
        self.groups = _groups(trial, self.arms, self.days, self.endpoints)
        self.evaluations = 0
        self.capped = 0  # local optimisations that hit their evaluation cap

    def rates(self, values: Mapping) -> np.ndarray:
        return self.engine.rates(values, self.thresholds)

    def __call__(self, values: Mapping) -> float:
        """-2 log-likelihood."""
        self.evaluations += 1
        return -2.0 * log_likelihood(self.rates(values), self.groups, self.likelihood)

    def residuals(self, values: Mapping) -> np.ndarray:
        """Deviance residuals (sum of squares = -2LL + constant)."""
        self.evaluations += 1
        return deviance_residuals(self.rates(values), self.groups, self.likelihood)


# -- fitting -------------------------------------------------------------------------------

@dataclass
class FitResult:
    """A fitted model: estimates, uncertainty, fit quality and the settings that made it.

    ``model`` carries the fitted values (``model.values``); ``report()`` prints the
    summary; ``save(path)`` writes the fit file that :func:`load_fit` reads back.
    """

    model: Model
    trial: TrialData
    varying: list[str]
    transforms: dict[str, str]
    settings: dict
    minus2ll: float
    start_minus2ll: list[float]
    covariance: np.ndarray | None = None  # on the fit scale, order of `varying`
    profile: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    fitted_rates: pd.DataFrame | None = None

    @property
    def values(self) -> dict[str, float]:
        return dict(self.model.values)

    @property
    def n_parameters(self) -> int:
        return len(self.varying)

    @property
    def aic(self) -> float:
        return self.minus2ll + 2 * self.n_parameters

    def standard_errors(self) -> dict[str, float]:
        """Natural-scale standard errors (delta method); NaN where the Hessian gives none."""
        out = {}
        for i, name in enumerate(self.varying):
            var = self.covariance[i, i] if self.covariance is not None else np.nan
            out[name] = natural_se(self.transforms[name], self.values[name], math.sqrt(var)) \
                if np.isfinite(var) and var >= 0 else float("nan")
        return out

    def correlation(self) -> np.ndarray:
        if self.covariance is None:
            return np.full((self.n_parameters,) * 2, np.nan)
        sd = np.sqrt(np.diag(self.covariance))
        return self.covariance / np.outer(sd, sd)

    def report(self) -> str:
        return format_report(self)

    def to_dict(self) -> dict:
        return fit_to_dict(self)

    def save(self, path) -> Path:
        return save_fit(self, path)


def _start_points(objective, fixed, names, transforms, lower, upper, first, n, screen, seed) -> np.ndarray:
    """The model's values, then the best n - 1 of ``screen`` scrambled-Sobol points in the box."""
    if n == 1:
        return first[None, :]
    from scipy.stats import qmc
    points = qmc.scale(qmc.Sobol(lower.size, scramble=True, seed=seed).random(screen), lower, upper)
    scores = np.array([objective(_values_at(fixed, names, transforms, y)) for y in points])
    return np.vstack([first[None, :], points[np.argsort(scores)[: n - 1]]])


LOGIT_EDGE = 1e-6


def _fit_scale_bounds(model: Model, names, transforms):
    """Model-file bounds on the fit scale. A fraction's natural bounds 0 and 1 are the
    edges of the logit scale; the search stops LOGIT_EDGE inside them."""
    lo, hi = [], []
    for n in names:
        p = model[n]
        lower, upper = p.lower, p.upper
        if transforms[n] == "logit":
            lower, upper = max(lower, LOGIT_EDGE), min(upper, 1.0 - LOGIT_EDGE)
        a, b = to_fit_scale(transforms[n], [lower, upper])
        if not (np.isfinite(a) and np.isfinite(b)):
            raise PkpdError(f"Parameter '{n}' needs finite bounds in the model file to be fitted "
                            f"(got [{p.lower}, {p.upper}]; on its {transforms[n]} scale [{a}, {b}]). "
                            "Add lower/upper to its row.")
        lo.append(float(a))
        hi.append(float(b))
    return np.array(lo), np.array(hi)


MAX_EVALUATIONS_PER_PARAMETER = 100  # LM needs ~15 iterations of k + 1 evaluations when the fit is well posed


def _minimize(objective, fixed_values, names, transforms, y0, lower, upper, tol=1e-10):
    """One Levenberg-Marquardt run (lmfit 'leastsq') on the fit scale; returns (y, -2LL).

    Capped at 100 (k + 1) evaluations: along a flat ridge (a non-identifiable parameter)
    LM can otherwise crawl for thousands. The cap is far above what a well-posed fit
    uses; ``objective.capped`` counts the runs that hit it.
    """
    params = lmfit.Parameters()
    for n, y, a, b in zip(names, y0, lower, upper):
        params.add(f"fit_{n}", value=float(np.clip(y, a, b)), min=a, max=b)

    def f(p):
        return objective.residuals(_values_at(fixed_values, names, transforms,
                                              [p[f"fit_{n}"].value for n in names]))

    cap = MAX_EVALUATIONS_PER_PARAMETER * (len(names) + 1)
    result = lmfit.minimize(f, params, method="leastsq", calc_covar=False, xtol=tol, ftol=tol, max_nfev=cap)
    if result.nfev >= cap:
        objective.capped += 1
    y = np.array([result.params[f"fit_{n}"].value for n in names])
    return y, objective(_values_at(fixed_values, names, transforms, y))


def _values_at(fixed_values, names, transforms, y) -> dict:
    v = dict(fixed_values)
    for n, yi in zip(names, y):
        v[n] = float(from_fit_scale(transforms[n], yi))
    return v


def _hessian(fun, y, h=1e-3):
    """Central-difference Hessian of ``fun`` at ``y`` (fit scale; step h)."""
    k = y.size
    f0 = fun(y)
    H = np.empty((k, k))
    for i in range(k):
        e_i = np.eye(k)[i] * h
        H[i, i] = (fun(y + e_i) - 2 * f0 + fun(y - e_i)) / h ** 2
        for j in range(i):
            e_j = np.eye(k)[j] * h
            H[i, j] = H[j, i] = (fun(y + e_i + e_j) - fun(y + e_i - e_j) - fun(y - e_i + e_j)
                                 + fun(y - e_i - e_j)) / (4 * h * h)
    return H


def fit(model, trial, *, vary: Sequence[str] | None = None, likelihood: str = "multinomial",
        starts: int = 4, screen: int = 64, seed: int = 0, n_nodes: int = 1024, node_seed: int = 0, step: float = 1.0,
        profile: bool = True) -> FitResult:
    """Fit a PASI model to arm-level responder counts.

    Parameters
    ----------
    model : Model or str
        A PASI model (e.g. ``"ustekinumab_pasi"``); its values are the fixed values and
        the first start.
    trial : TrialData, str or DataFrame
        The trial table (see :func:`pkpd.load_trial`).
    vary : list of str, optional
        Parameters to estimate. Default: kout, IC50, Pmax, omega_response (PK fixed at the
        population PK values; Imax and hill fixed at the model file's values).
    likelihood : {"multinomial", "binomial"}
    starts : int
        Number of local optimisations: from the model's values, then from the best
        ``starts - 1`` of ``screen`` scrambled-Sobol points inside the bounds (fit scale).
        The surface can have more than one optimum (for ustekinumab a second one has kout
        on its upper bound, the direct-effect limit), so use more than one.
    screen : int
        Size of the screening design.
    seed : int
        Seed of the screening design.
    n_nodes, node_seed, step
        The integration design of the response rates (see :func:`pkpd.response_rates`).
    profile : bool
        Compute 95% profile-likelihood intervals (the slow part).

    Returns
    -------
    FitResult
    """
    from ._simulate import as_model
    model = as_model(model)
    trial = trial if isinstance(trial, TrialData) else load_trial(trial, endpoints=model_endpoints(model))
    names = list(DEFAULT_VARY if vary is None else vary)
    if not names:
        raise PkpdError("Nothing to fit: give at least one parameter in vary=.")
    valid = {p.name for p in model.parameters}
    for n in names:
        if n not in valid:
            raise PkpdError(f"Unknown parameter '{n}' for model '{model.name}'; valid names: {sorted(valid)}.")
    if len(set(names)) != len(names):
        raise PkpdError(f"vary lists a parameter twice: {names}.")
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 1:
        raise PkpdError(f"starts must be a whole number >= 1, got {starts!r}.")
    transforms = {n: transform_of(model, n) for n in names}
    objective = Objective(model, trial, likelihood, n_nodes, node_seed, step)
    fixed = dict(model.values)
    first = np.array([float(to_fit_scale(transforms[n], fixed[n])) for n in names])
    for n, y in zip(names, first):
        if not np.isfinite(y):
            raise PkpdError(f"Parameter '{n}' = {fixed[n]!r} is on the edge of its {transforms[n]} scale and "
                            "cannot start a fit there; start it inside, e.g. model.replace("
                            f"{n}={0.95 if transforms[n] == 'logit' else 1e-3}).")
    lower, upper = _fit_scale_bounds(model, names, transforms)
    results = []
    for y0 in _start_points(objective, fixed, names, transforms, lower, upper, first, starts, screen, seed):
        results.append(_minimize(objective, fixed, names, transforms, y0, lower, upper))
    best_y, best = min(results, key=lambda r: r[1])
    # Polish from the best start so that the reported optimum is converged tightly.
    best_y, best = min([(best_y, best), _minimize(objective, fixed, names, transforms, best_y, lower, upper,
                                                  tol=1e-14)], key=lambda r: r[1])
    estimates = _values_at(fixed, names, transforms, best_y)
    fitted = model.replace({n: estimates[n] for n in names})
    notes = []
    at_bound = [n for n, y, a, b in zip(names, best_y, lower, upper) if min(y - a, b - y) < 1e-6 * max(1, abs(y))]
    for n in at_bound:
        notes.append(f"Parameter '{n}' ended on its bound ({estimates[n]:.6g}); the data do not hold it "
                     "inside. Fix it (leave it out of vary) or widen its bounds in the model file.")
    covariance = None
    try:
        H = _hessian(lambda y: objective(_values_at(fixed, names, transforms, y)), best_y)
        covariance = 2.0 * np.linalg.inv(H)
        if np.any(np.diag(covariance) <= 0) or not np.all(np.isfinite(covariance)):
            raise np.linalg.LinAlgError("Hessian not positive definite")
    except np.linalg.LinAlgError:
        covariance = None
        notes.append("The Hessian of -2LL at the optimum is not positive definite: standard errors are "
                     "unavailable; at least one parameter is not identifiable (see the profiles).")
    result = FitResult(model=fitted, trial=trial, varying=names, transforms=transforms,
                       settings=dict(objective.settings, starts=int(starts), screen=int(screen), start_seed=seed),
                       minus2ll=best, start_minus2ll=[r[1] for r in results], covariance=covariance,
                       warnings=notes)
    if objective.capped:
        notes.append(f"{objective.capped} local optimisation(s) stopped at the evaluation cap before converging; "
                     "the surface is flat in some direction (see the profiles).")
    if profile:
        capped_before = objective.capped
        result.profile = profile_intervals(objective, fixed, names, transforms, best_y, best, lower, upper,
                                           covariance)
        if objective.capped > capped_before:
            result.warnings.append(f"{objective.capped - capped_before} profile point(s) stopped at the evaluation cap: "
                                   "along a flat ridge the profile there is an upper bound on -2LL.")
        for n, prof in result.profile.items():
            if not prof["identifiable"]:
                result.warnings.append(
                    f"Parameter '{n}' is not identifiable from these data: its profile likelihood stays within "
                    f"{PROFILE_RISE:.2f} of the minimum up to its bound on the {' and '.join(prof['open'])} "
                    "side(s). Fix it at a literature value or add data that inform it.")
    for note in result.warnings:
        warnings.warn(note, IdentifiabilityWarning, stacklevel=2)
    result.fitted_rates = fitted_rate_table(result, objective.rates(result.values))
    return result


def profile_intervals(objective, fixed, names, transforms, best_y, best, lower, upper, covariance,
                      max_steps: int = 12) -> dict:
    """95% profile-likelihood interval of each parameter (natural scale), with flatness flags."""
    out = {}
    for i, name in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        sd = math.sqrt(covariance[i, i]) if covariance is not None and covariance[i, i] > 0 else 0.5
        stride = min(max(sd, 0.05), 2.0)
        ends, open_sides = [], []
        for side, bound in ((-1, lower[i]), (+1, upper[i])):
            cache = {}

            def rise(yi, warm=[best_y[others]]):
                """Signed root of the -2LL rise with parameter i held at yi."""
                if yi in cache:
                    return cache[yi]
                if others:
                    y_o, val = _minimize_sub(objective, fixed, names, transforms, i, yi, others, warm[0],
                                             lower, upper, best_y)
                    warm[0] = y_o
                else:
                    val = objective(_values_at(fixed, names, transforms, np.array([yi])))
                r = math.sqrt(max(val - best, 0.0)) - math.sqrt(PROFILE_RISE)
                cache[yi] = r
                return r

            prev = best_y[i]
            found = None
            for step_no in range(1, max_steps + 1):
                yi = best_y[i] + side * stride * step_no
                if (side < 0 and yi <= bound) or (side > 0 and yi >= bound):
                    yi = bound
                if rise(yi) > 0:
                    found = brentq(rise, min(prev, yi), max(prev, yi), xtol=1e-4)
                    break
                if yi == bound:
                    break
                prev = yi
            if found is None:
                open_sides.append("lower" if side < 0 else "upper")
                ends.append(float(from_fit_scale(transforms[name], bound)))
            else:
                ends.append(float(from_fit_scale(transforms[name], found)))
        out[name] = dict(lower=ends[0], upper=ends[1], level=PROFILE_LEVEL,
                         identifiable=not open_sides, open=open_sides)
    return out


def _minimize_sub(objective, fixed, names, transforms, i, yi, others, warm, lower, upper, best_y):
    sub_fixed = _values_at(fixed, [names[i]], {names[i]: transforms[names[i]]}, [yi])
    sub_names = [names[j] for j in others]
    return _minimize(objective, sub_fixed, sub_names, transforms, warm, lower[others], upper[others])


def fitted_rate_table(result: FitResult, rates: np.ndarray) -> pd.DataFrame:
    """Observed vs predicted rates, with the 95% binomial interval around each prediction."""
    trial = result.trial
    arms, days, ends = trial.arms, trial.days, trial.endpoints
    rows = []
    for arm, day, n, resp in trial.groups():
        for e, k in sorted(resp.items(), key=lambda x: int(x[0][4:])):
            p = float(rates[arms.index(arm), int(np.searchsorted(days, day)), ends.index(e)])
            lo, hi = binom.ppf(0.025, n, p) / n, binom.ppf(0.975, n, p) / n
            rows.append(dict(arm=arm, week=day / 7.0, endpoint=e, n=n, responders=k, observed=k / n,
                             predicted=p, lower=float(lo), upper=float(hi), inside=bool(lo <= k / n <= hi)))
    return pd.DataFrame(rows)


# -- report --------------------------------------------------------------------------------

def format_report(result: FitResult) -> str:
    s = result.settings
    source = _portable_path(result.trial.source) if result.trial.sha256 else result.trial.source
    lines = [f"Fit of model '{result.model.name}' to {source}",
             f"likelihood: {s['likelihood']}; {s['n_nodes']} Sobol nodes (seed {s['node_seed']}); "
             f"{s['starts']} starts (seed {s['start_seed']})",
             f"-2 log-likelihood {result.minus2ll:.4f}   AIC {result.aic:.4f}   parameters {result.n_parameters}",
             f"starts' -2LL: min {min(result.start_minus2ll):.4f}, max {max(result.start_minus2ll):.4f}",
             "", f"{'parameter':<16} {'estimate':>11} {'SE':>10} {'95% profile interval':>26}  unit   scale"]
    se = result.standard_errors()
    for n in result.varying:
        prof = result.profile.get(n)
        interval = (f"[{prof['lower']:.4g}, {prof['upper']:.4g}]" + ("*" if not prof["identifiable"] else "")
                    if prof else "(not computed)")
        lines.append(f"{n:<16} {result.values[n]:>11.5g} {se[n]:>10.3g} {interval:>26}  "
                     f"{result.model[n].unit:<6} {result.transforms[n]}")
    fixed = [p for p in result.model.parameters if p.name not in result.varying and p.name in result.model.pd_names]
    lines.append("fixed: " + ", ".join(f"{p.name}={p.value:g}" for p in fixed) + "; PK at the population PK values")
    if any(not p["identifiable"] for p in result.profile.values()):
        lines.append("* open interval: the profile stays below the 95% level up to the bound")
    corr = result.correlation()
    lines += ["", "correlation of estimates (fit scale):"]
    lines.append(" " * 16 + "".join(f"{n[:8]:>9}" for n in result.varying))
    for i, n in enumerate(result.varying):
        lines.append(f"{n:<16}" + "".join(f"{corr[i, j]:>9.2f}" for j in range(len(result.varying))))
    lines += ["", "observed vs predicted (95% interval: binomial spread of n patients around the prediction)",
              f"{'arm':<18} {'week':>4} {'endpoint':<8} {'observed':>13} {'predicted':>9} {'95% interval':>15} inside"]
    for r in result.fitted_rates.itertuples():
        lines.append(f"{r.arm:<18} {r.week:>4g} {r.endpoint:<8} {r.responders:>3}/{r.n:<3} {100 * r.observed:5.1f}% "
                     f"{100 * r.predicted:8.1f}% {100 * r.lower:6.1f}-{100 * r.upper:5.1f}%  {'yes' if r.inside else 'NO'}")
    inside = int(result.fitted_rates["inside"].sum())
    lines.append(f"{inside} of {len(result.fitted_rates)} observed rates inside the 95% interval of the prediction")
    if result.warnings:
        lines += ["", "warnings:"] + [f"  - {w}" for w in result.warnings]
    return "\n".join(lines)


# -- fit files -----------------------------------------------------------------------------

def _portable_path(path: str) -> str:
    p = Path(path).resolve()
    try:
        return p.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(p)


def _records(table: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values; floats keep every digit (pandas' to_json rounds to 10)."""
    out = []
    for row in table.to_dict("records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else (None if isinstance(v, float) and
                                                                     math.isnan(v) else v))
                    for k, v in row.items()})
    return out


def fit_to_dict(result: FitResult) -> dict:
    from . import __version__
    se = result.standard_errors()
    return {
        "format": FIT_FORMAT,
        "pkpd_version": __version__,
        "model": {"name": result.model.name, "file": _portable_path(result.model.path),
                  "sha256": result.model.sha256},
        "data": {"file": _portable_path(result.trial.source) if result.trial.sha256 else result.trial.source,
                 "sha256": result.trial.sha256,
                 "table": _records(result.trial.table.drop(columns=["day"]))},
        "settings": dict(result.settings, varying=result.varying, transforms=result.transforms),
        "values": result.values,
        "estimates": {n: {"value": result.values[n], "se": se[n], "unit": result.model[n].unit,
                          "profile_95": result.profile.get(n)} for n in result.varying},
        "covariance": None if result.covariance is None else {
            "scale": "fit (transformed) scale; see settings.transforms", "names": result.varying,
            "matrix": result.covariance.tolist()},
        "minus2ll": result.minus2ll,
        "aic": result.aic,
        "start_minus2ll": result.start_minus2ll,
        "fitted_rates": _records(result.fitted_rates),
        "warnings": result.warnings,
    }


def save_fit(result: FitResult, path) -> Path:
    """Write the fit as JSON (readable; floats round-trip exactly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fit_to_dict(result), indent=2, allow_nan=True)
    path.write_text(text + "\n")
    return path


@dataclass(frozen=True)
class SavedFit:
    """A fit read back from its file: the fitted model plus the settings that made it."""

    model: Model
    settings: dict
    record: dict
    path: str

    @property
    def values(self) -> dict:
        return dict(self.model.values)

    def covariance(self) -> tuple[list[str], np.ndarray] | None:
        cov = self.record.get("covariance")
        return None if cov is None else (cov["names"], np.asarray(cov["matrix"], float))


def load_fit(path) -> SavedFit:
    """Read a fit file; the model file it names must still have the recorded SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise PkpdError(f"No fit file {str(path)!r}; run examples/fit_phase2.py or `pkpd fit` to make one.")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PkpdError(f"Fit file {path} is not valid JSON: {err}.") from None
    if not isinstance(record, dict) or record.get("format") != FIT_FORMAT:
        raise PkpdError(f"Fit file {path} is not a {FIT_FORMAT} file (format {record.get('format')!r}).")
    stored = record["model"]["file"]
    candidates = [Path(stored), PROJECT_ROOT / stored, path.parent / stored]
    model_path = next((c for c in candidates if c.is_file()), None)
    if model_path is None:
        raise PkpdError(f"Fit file {path} names model file {stored!r}, which is not found.")
    model = load_model(model_path)
    if model.sha256 != record["model"]["sha256"]:
        raise PkpdError(f"Fit file {path} was made with model file {stored} of SHA-256 "
                        f"{record['model']['sha256'][:12]}..., but that file now has {model.sha256[:12]}...: "
                        "the model changed since the fit. Refit (examples/fit_phase2.py or `pkpd fit`).")
    model = model.replace(record["values"])
    return SavedFit(model=model, settings=record["settings"], record=record, path=str(path))
