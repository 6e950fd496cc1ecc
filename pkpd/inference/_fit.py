r"""Fitting a response model to arm-level responder counts.

The user picks the parameters that vary (``vary=``; default: the response model's
``default_vary``); the rest stay at the model's values (PK at the population PK values).
Each varying parameter is estimated on its transform's scale (:class:`FitProblem`).
Several starts (the model's values, then the best points of a seeded screening design
inside the bounds) are run with lmfit's Levenberg-Marquardt on deviance residuals
(:func:`deviance_residuals`: their sum of squares is -2LL up to a constant); the best is
kept and polished.

Uncertainty
-----------
* Covariance: 2 H^-1, with H the central-difference Hessian of -2LL on the fit scale
  (step 1e-3: the truncation error of central differences is O(h^2), about 1e-6 relative
  here, and rounding adds O(eps |-2LL| / h^2), about 1e-9; the standard errors are thus
  good to about six digits, far more than the three reported). Standard errors on the
  natural scale by the delta method.
* 95% profile-likelihood intervals: for each varying parameter, the others re-optimised
  along a path in its fit-scale value, and the points where -2LL rises 3.841 (chi-square,
  1 df, 95%) above the minimum found by root-finding on the signed root of the rise. If
  the profile stays below that before the parameter's bound, that side is open and the
  parameter is reported as not identifiable from the data.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy.special import chdtri

from .._budget import check_memory
from .._checks import mapping, whole
from .._errors import PkpdError, PkpdWarning
from ..design import Design, RateEngine, as_design
from ..model import load_model, with_covariates
from ._likelihood import (LIKELIHOODS, deviance_residuals, group_log_likelihoods, groups, log_likelihood,
                          saturated_log_likelihoods)
from ._problem import FitProblem, with_trial_effect
from ._results import FitResult
from ._trial import TrialData, load_trial

PROFILE_LEVEL = 0.95
PROFILE_RISE = float(chdtri(1.0, 1 - PROFILE_LEVEL))  # 3.841, the chi-square(1) quantile; scipy.stats stays unimported
HESSIAN_STEP = 1e-3
# Profile points need -2LL to ~1e-4 (the 95% level is 3.84 above the minimum), not the
# fit's own 1e-10: a looser optimiser tolerance there saves iterations.
PROFILE_TOL = 1e-6
# LM needs ~15 iterations of k + 1 evaluations when the fit is well posed.
MAX_EVALUATIONS_PER_PARAMETER = 100
# lmfit bounds a parameter through a transform whose derivative is zero on the bound: a start
# exactly on a bound (a profile continuing from an optimum on the edge, say) would never move.
# Starts are moved this share of the range inside (or this far, times max(1, |bound|), inside a
# one-sided bound).
START_INSIDE = 1e-4


class IdentifiabilityWarning(PkpdWarning):
    """A parameter's profile likelihood is flat: the data do not pin it down."""


class Objective:
    """-2 log-likelihood of a trial as a function of named parameter values.

    Holds one :class:`pkpd.design.RateEngine` per group of arms with the same patients
    (arms restricted to a covariate band, or with their own covariate distribution, get
    their own virtual patients: :func:`pkpd.model.with_covariates`); concentrations are
    cached while PK is fixed, so fitting, profiling and prediction share one copy of every
    formula.

    With ``trial_effect`` (a parameter name) each trial of the table has its own value of
    that parameter, normal on its fit scale around the typical value with SD
    ``omega_trial``; the likelihood of a trial is integrated over it by adaptive
    Gauss-Hermite quadrature (:meth:`trial_log_likelihoods`), as model-based meta-analyses do.
    """

    def __init__(self, model, trial: TrialData | None, likelihood: str = "multinomial", design: Design = Design(),
                 trial_effect: str | None = None):
        if likelihood not in LIKELIHOODS:
            raise PkpdError(f"Unknown likelihood {likelihood!r}; allowed: {list(LIKELIHOODS)}.")
        if not model.pd:
            raise PkpdError(f"Model '{model.name}' has no response model ([pd]); fit a model such as "
                            "'ustekinumab_pasi'.")
        self.model, self.trial, self.likelihood, self.design = model, trial, likelihood, design
        self.trial_effect = trial_effect
        self.settings = dict(likelihood=likelihood, **design.settings)
        if trial_effect is not None:
            self.settings["trial_effect"] = trial_effect
        self.evaluations = 0
        self.capped = 0  # local optimisations that hit their evaluation cap
        if trial is None:  # no data: the posterior is the prior
            self.groups, self.engines = [], []
            return
        known = model.endpoints
        unknown = [e for e in trial.endpoints if e not in known.names]
        if unknown:
            raise PkpdError(f"Trial endpoints {unknown} are not defined by model '{model.name}' ({list(known.names)}).")
        self.endpoints = model.select_endpoints(trial.endpoints)
        self.arms = trial.arms
        self.days = trial.days
        self.engines = []
        for description, arms in trial.arm_groups():
            m = with_covariates(model, {c: dict(f) for c, f in description},
                                where=f"Trial arms {arms}: ") if description else model
            engine = RateEngine(m, {a: trial.regimens[a] for a in arms}, self.days, design.nodes(m), design)
            self.engines.append(([self.arms.index(a) for a in arms], engine))
        self.groups = groups(trial, self.arms, self.days, list(self.endpoints.names))
        if trial_effect is not None:
            names = trial.trial_names
            if len(names) < 2:
                raise PkpdError(f"A between-trial effect on {trial_effect} needs several trials (a trial column "
                                f"naming at least two); this table has {len(names)}.")
            arm_trial = [names.index(trial.trials[a]) for a in self.arms]
            self.group_trial = np.array([arm_trial[g.arm] for g in self.groups])
            self.transform = model[trial_effect].transform
            self.saturated = saturated_log_likelihoods(self.groups, likelihood)

    @property
    def engine(self):
        """The rate engine of a table whose arms share their patients (the usual case)."""
        if len(self.engines) != 1:
            raise PkpdError("Internal error: this trial's arms have different patients; use Objective.rates.")
        return self.engines[0][1]

    def rates(self, values: Mapping) -> np.ndarray:
        """Rates (arm, time, endpoint) at these values (for the typical trial)."""
        if len(self.engines) == 1:
            return self.engines[0][1].rates(values, self.endpoints)
        out = np.empty((len(self.arms), self.days.size, len(self.endpoints.names)))
        for rows, engine in self.engines:
            out[rows] = engine.rates(values, self.endpoints)
        return out

    def _trial_terms(self, values: Mapping, u: np.ndarray) -> np.ndarray:
        """h_k(u_k) = log L_k + log phi(u_k) of each trial k at its effect score u_k (on the
        fit scale of ``trial_effect``, in units of ``omega_trial``)."""
        v = dict(self.model.values, **dict(values))
        omega, typical = float(v["omega_trial"]), float(self.transform.forward(v[self.trial_effect]))
        out = np.empty(u.size)
        for k, uk in enumerate(u):
            shifted = dict(values, **{self.trial_effect: float(self.transform.inverse(typical + omega * uk))})
            rows = self.group_trial == k
            ll = group_log_likelihoods(self.rates(shifted), [g for g, r in zip(self.groups, rows) if r],
                                       self.likelihood)
            out[k] = ll.sum() - 0.5 * uk * uk - 0.5 * math.log(2 * math.pi)
        return out

    def trial_log_likelihoods(self, values: Mapping) -> np.ndarray:
        """Each trial's log-likelihood, integrated over its effect by adaptive Gauss-Hermite
        quadrature: the nodes are centred on the mode of the trial's integrand and scaled by its
        curvature there (found by Newton steps on central differences), so that a trial whose
        data pin its effect down sharply is integrated as accurately as a vague one."""
        from numpy.polynomial.hermite_e import hermegauss
        from scipy.special import logsumexp
        n_trials = int(self.group_trial.max()) + 1
        u = np.zeros(n_trials)
        h0 = self._trial_terms(values, u)
        step = np.full(n_trials, np.inf)
        for _ in range(TRIAL_NEWTON_STEPS):
            hp, hm = self._trial_terms(values, u + TRIAL_DELTA), self._trial_terms(values, u - TRIAL_DELTA)
            gradient = (hp - hm) / (2 * TRIAL_DELTA)
            curvature = np.minimum((hp - 2 * h0 + hm) / TRIAL_DELTA ** 2, -1e-3)
            if np.all(np.abs(step) < TRIAL_TOL):
                break
            step = np.clip(-gradient / curvature, -2.0, 2.0)
            new = self._trial_terms(values, u + step)
            worse = new < h0  # a step that lowers the integrand: halve it (once per round)
            if np.any(worse):
                step = np.where(worse, step / 2, step)
                new = np.where(worse, self._trial_terms(values, u + step), new)
            u, h0 = u + step, new
        scale = 1.0 / np.sqrt(-curvature)
        x, w = hermegauss(TRIAL_NODES)
        terms = np.stack([self._trial_terms(values, u + scale * xq) + 0.5 * xq * xq for xq in x])
        return logsumexp(terms + np.log(w)[:, None], axis=0) + np.log(scale)

    def __call__(self, values: Mapping) -> float:
        """-2 log-likelihood."""
        self.evaluations += 1
        if not self.groups:
            return 0.0
        if self.trial_effect is not None:
            return -2.0 * float(np.sum(self.trial_log_likelihoods(values)))
        return -2.0 * log_likelihood(self.rates(values), self.groups, self.likelihood)

    def residuals(self, values: Mapping) -> np.ndarray:
        """Deviance residuals (sum of squares = -2LL + constant); with a between-trial effect,
        one per trial (the root of its -2LL above its saturated value)."""
        self.evaluations += 1
        if not self.groups:
            return np.zeros(0)
        if self.trial_effect is not None:
            sat = np.bincount(self.group_trial, weights=self.saturated)
            return np.sqrt(np.maximum(2.0 * (sat - self.trial_log_likelihoods(values)), 0.0))
        return deviance_residuals(self.rates(values), self.groups, self.likelihood)

    def penalized(self, problem: FitProblem, values: Mapping) -> float:
        """-2 log posterior up to a constant: -2LL plus the problem's priors' -2 log density."""
        return self(values) + problem.penalty(values)


# Adaptive Gauss-Hermite quadrature of the between-trial integral: nodes (exact for a
# Gaussian integrand times a polynomial of degree 2*15-1; on a trial of 400 patients with
# its effect on logit Pmax, -2LL within 2e-7 of adaptive quadrature to 1e-11), Newton steps
# to find each trial's mode, their difference step and the tolerance at which the mode is
# taken as found.
TRIAL_NODES = 15
TRIAL_NEWTON_STEPS = 12
TRIAL_DELTA = 1e-3
TRIAL_TOL = 1e-7


def _start_points(objective, problem: FitProblem, n: int, screen: int, seed: int) -> np.ndarray:
    """The model's values, then the best n - 1 of ``screen`` scrambled-Sobol points in the box."""
    first = problem.start()
    if n == 1:
        return first[None, :]
    check_memory(screen * (problem.lower.size + 1) * 8 * 3, f"A screening design of {screen:,} points",
                 "Use a smaller screen.")
    from scipy.stats import qmc
    points = qmc.scale(qmc.Sobol(problem.lower.size, scramble=True, seed=seed).random(screen),
                       problem.lower, problem.upper)
    scores = np.array([objective.penalized(problem, problem.values(y)) for y in points])
    return np.vstack([first[None, :], points[np.argsort(scores)[: n - 1]]])


def minimize(objective, problem: FitProblem, y0, tol: float = 1e-10):
    """One Levenberg-Marquardt run (lmfit 'leastsq') on the fit scale; returns (y, -2LL).

    Capped at 100 (k + 1) evaluations: along a flat ridge (a non-identifiable parameter)
    LM can otherwise crawl for thousands. The cap is far above what a well-posed fit
    uses; ``objective.capped`` counts the runs that hit it.
    """
    import lmfit  # imported here so that `import pkpd` stays light

    params = lmfit.Parameters()
    for n, y, a, b in zip(problem.names, y0, problem.lower, problem.upper):
        params.add(f"fit_{n}", value=_inside(float(y), a, b), min=a, max=b)

    def f(p):
        values = problem.values([p[f"fit_{n}"].value for n in problem.names])
        r = objective.residuals(values)
        return np.concatenate([r, problem.prior_residuals(values)]) if problem.has_priors else r

    cap = MAX_EVALUATIONS_PER_PARAMETER * (len(problem.names) + 1)
    result = lmfit.minimize(f, params, method="leastsq", calc_covar=False, xtol=tol, ftol=tol, max_nfev=cap)
    if result.nfev >= cap:
        objective.capped += 1
    y = np.array([result.params[f"fit_{n}"].value for n in problem.names])
    return y, objective.penalized(problem, problem.values(y))


def _inside(y: float, a: float, b: float) -> float:
    """``y`` within [a, b], at least START_INSIDE (of the range, or of max(1, |bound|) when the other
    side is open) away from a finite bound, where lmfit's bound transform can move it."""
    if math.isfinite(a) and math.isfinite(b):
        margin = START_INSIDE * (b - a)
        return min(max(y, a + margin), b - margin)
    if math.isfinite(a):
        y = max(y, a + START_INSIDE * max(1.0, abs(a)))
    if math.isfinite(b):
        y = min(y, b - START_INSIDE * max(1.0, abs(b)))
    return y


def hessian(fun, y, h: float = HESSIAN_STEP) -> np.ndarray:
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
        starts: int = 4, screen: int = 64, seed: int = 0, design: Design | None = None,
        profile: bool = True, priors: Mapping | None = None, trial_effect: str | None = None) -> FitResult:
    """Fit a response model to arm-level responder counts: maximum likelihood, or maximum a
    posteriori with priors.

    Parameters
    ----------
    model : Model or str
        A model with a response model (e.g. ``"ustekinumab_pasi"``); its values are the
        fixed values and the first start.
    trial : TrialData, str or DataFrame
        The trial table: a library name (``"krueger2007_phase2"``), a CSV path or a table
        (see :func:`pkpd.load_trial`).
    vary : list of str, optional
        Parameters to estimate. Default: the response model's ``default_vary`` (for
        ``pasi_turnover``: kout, IC50, Pmax, omega_response).
    likelihood : {"multinomial", "binomial"}
    starts : int
        Number of local optimisations: from the model's values, then from the best
        ``starts - 1`` of ``screen`` scrambled-Sobol points inside the bounds (fit scale).
        The surface can have more than one optimum (for ustekinumab a second one has kout
        on its upper bound, the direct-effect limit), so use more than one.
    screen : int
        Size of the screening design.
    seed : int
        Seed of the screening design (default 0).
    design : Design, optional
        The integration design of the rates (default ``Design()``: 1024 nodes, seed 0,
        1-day grid); predictions from the fit reuse it.
    profile : bool
        Compute 95% profile-likelihood intervals (the slow part).
    priors : {name: Prior or dict} or False, optional
        Priors of varying parameters, in addition to (or instead of) the model file's
        ``[priors]`` (:class:`pkpd.Prior`; a dict such as ``{"distribution": "lognormal",
        "median": 0.016, "sd": 0.5, "source": "..."}`` is read like a model file row). With
        priors the fit maximises the posterior density (MAP); its covariance and profiles
        are those of -2 log posterior. ``trial=None`` fits the priors alone. ``False``:
        no priors at all, not even the model file's (maximum likelihood).
    trial_effect : str, optional
        A parameter (e.g. ``"Pmax"``) that differs between the trials of a table with a
        ``trial`` column: normal on its fit scale (log or logit) around the typical value,
        with SD ``omega_trial``, which is fitted too (start 0.3, bounds [0.001, 3] unless
        the model gives an ``omega_trial`` row). The estimates are those of the typical
        trial, and predictions from the fit are for it.

    Returns
    -------
    FitResult
    """
    model = load_model(model)
    if not model.pd:
        raise PkpdError(f"Model '{model.name}' has no response model ([pd]); fit a model such as 'ustekinumab_pasi'.")
    trial = None if trial is None else load_trial(trial, endpoints=model.endpoints)
    starts = whole("starts", starts, minimum=1)
    screen = whole("screen", screen, minimum=1)
    seed = whole("seed", seed, minimum=0)
    if priors is False:
        from dataclasses import replace
        model, priors = replace(model, priors={}), None
    if trial_effect is not None:
        model, vary = with_trial_effect(model, vary, trial_effect)
    problem = FitProblem.create(model, vary, _read_priors(model, priors))
    if trial is None and any(p is None for p in problem.priors):
        missing = [n for n, p in zip(problem.names, problem.priors) if p is None]
        raise PkpdError(f"Without a trial table every varying parameter needs a prior; {missing} have none.")
    if starts > screen + 1:
        raise PkpdError(f"starts={starts} asks for {starts - 1} starts from the screening design, but screen={screen} "
                        f"points give at most {screen}; raise screen to at least {starts - 1} or use fewer starts.")
    objective = Objective(model, trial, likelihood, as_design(design), trial_effect)
    _check_enough_residuals(objective, problem, trial)
    results = [minimize(objective, problem, y0) for y0 in _start_points(objective, problem, starts, screen, seed)]
    best_y, best = min(results, key=lambda r: r[1])
    # Polish from the best start so that the reported optimum is converged tightly.
    best_y, best = min([(best_y, best), minimize(objective, problem, best_y, tol=1e-14)], key=lambda r: r[1])
    estimates = problem.values(best_y)
    fitted = model.replace({n: estimates[n] for n in problem.names})
    notes = []
    for n in problem.at_bound(best_y):
        notes.append(f"Parameter '{n}' ended on its bound ({estimates[n]:.6g}); the data do not hold it "
                     "inside. Fix it (leave it out of vary) or widen its bounds in the model file.")
    covariance = None
    try:
        H = hessian(lambda y: objective.penalized(problem, problem.values(y)), best_y)
        covariance = 2.0 * np.linalg.inv(H)
        if np.any(np.diag(covariance) <= 0) or not np.all(np.isfinite(covariance)):
            raise np.linalg.LinAlgError("Hessian not positive definite")
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        covariance = None
        notes.append("The Hessian of -2LL at the optimum is not positive definite: standard errors are "
                     "unavailable; at least one parameter is not identifiable (see the profiles).")
    if objective.capped:
        notes.append(f"{objective.capped} local optimisation(s) stopped at the evaluation cap before converging; "
                     "the surface is flat in some direction (see the profiles).")
    profiles = {}
    if profile:
        capped_before = objective.capped
        profiles = profile_intervals(objective, problem, best_y, best, covariance)
        if objective.capped > capped_before:
            notes.append(f"{objective.capped - capped_before} profile point(s) stopped at the evaluation cap: "
                         "along a flat ridge the profile there is an upper bound on -2LL.")
        for n, prof in profiles.items():
            if not prof["identifiable"]:
                notes.append(f"Parameter '{n}' is not identifiable from these data: its profile likelihood stays "
                             f"within {PROFILE_RISE:.2f} of the minimum up to its bound on the "
                             f"{' and '.join(prof['open'])} side(s). Fix it at a literature value or add data "
                             "that inform it.")
    for note in notes:
        warnings.warn(note, IdentifiabilityWarning, stacklevel=2)
    settings = dict(objective.settings, starts=int(starts), screen=int(screen), start_seed=seed)
    rates = objective.rates(fitted.values) if trial is not None else None
    return FitResult.create(fitted, trial, problem, settings, objective(fitted.values), [r[1] for r in results],
                            covariance, profiles, notes, rates, objective_value=best)


def _check_enough_residuals(objective, problem: FitProblem, trial) -> None:
    """Levenberg-Marquardt needs at least as many residuals (category cells, and one per prior)
    as parameters: refuse a fit of k parameters to fewer, naming the counts."""
    if objective.likelihood == "multinomial":
        cells = sum(g.counts.size for g in objective.groups)
    else:
        cells = sum(2 * g.responders.size for g in objective.groups)
    priors = problem.prior_residuals(problem.values(problem.start())).size if problem.has_priors else 0
    k = len(problem.names)
    if cells + priors >= k:
        return
    data = (f"trial table {trial.name or trial.source} gives {cells} {objective.likelihood} residuals "
            f"({len(objective.groups)} arm and time group(s) over {len(trial.endpoints)} endpoint(s))"
            if trial is not None else "no trial table gives no residuals")
    raise PkpdError(f"Cannot fit {k} parameters {list(problem.names)}: {data}"
                    + (f" and the priors {priors} more" if priors else "")
                    + f", and least squares needs at least as many residuals as parameters ({cells + priors} < {k}). "
                      f"Estimate at most {cells + priors} of them (vary=[...], --vary), add arms, time points or "
                      "endpoints to the table, or give priors for the others.")


def _read_priors(model, priors: Mapping | None) -> dict:
    """{name: Prior} from Prior objects or model-file-like rows."""
    from ..model import Prior, parameter_spec
    from ..model._priors import prior_from_row
    out = {}
    for name, value in mapping("priors", priors, " Give {name: Prior or {distribution: ...}}.").items():
        if not isinstance(value, (Prior, Mapping)):
            raise PkpdError(f"Prior of {name!r} must be a pkpd.Prior or a table such as {{'distribution': "
                            f"'lognormal', 'median': 0.016, 'sd': 0.5, 'source': '...'}}; got {value!r}.")
        spec = model.spec(name) if name in model.valid_names else parameter_spec(name)
        out[name] = value if isinstance(value, Prior) else prior_from_row(name, dict(value), spec,
                                                                           "fit(priors=...)")
    return out


def _root_estimate(points) -> float:
    """Where the curve through the last three (or two) evaluated points [(x, f(x)), ...] meets f = 0:
    inverse quadratic interpolation (x as a polynomial in f), or the secant; NaN if they coincide."""
    pts = points[-3:]
    fs = [p[1] for p in pts]
    if len(set(fs)) < len(fs):
        pts = points[-2:]
        fs = [p[1] for p in pts]
        if fs[0] == fs[1]:
            return math.nan
    x = 0.0
    for k, (xk, fk) in enumerate(pts):
        weight = 1.0
        for j, (_, fj) in enumerate(pts):
            if j != k:
                weight *= -fj / (fk - fj)
        x += xk * weight
    return x


def _crossing(f, points, tol: float = 1e-4, max_iter: int = 60) -> float:
    """A root of f from evaluated ``points`` [(x, f(x)), ...] that bracket it (some f < 0 < others).

    Inverse quadratic (or secant) steps through the most recent points while they stay well
    inside the bracket; otherwise regula falsi on the bracket with the Illinois modification.
    Stops at |f| < tol.
    """
    points = list(points)
    lo = max((p for p in points if p[1] < 0), key=lambda p: p[1])
    hi = min((p for p in points if p[1] > 0), key=lambda p: p[1])
    side = 0
    x = lo[0]
    for _ in range(max_iter):
        x = _root_estimate(points)
        a, b = sorted((lo[0], hi[0]))
        margin = 1e-3 * (b - a)
        if not (a + margin < x < b - margin):
            fa, fb = lo[1] / (2.0 if side == -1 else 1.0), hi[1] / (2.0 if side == 1 else 1.0)
            x = (lo[0] * fb - hi[0] * fa) / (fb - fa)  # regula falsi, the Illinois way
        fx = f(x)
        if abs(fx) < tol or abs(hi[0] - lo[0]) < 1e-12 * max(1.0, abs(x)):
            return x
        if fx < 0:
            side, lo = -1, (x, fx)
        else:
            side, hi = 1, (x, fx)
        points.append((x, fx))
    return x


def profile_intervals(objective, problem: FitProblem, best_y, best, covariance, max_steps: int = 12) -> dict:
    """95% profile-likelihood interval of each parameter (natural scale), with flatness flags.

    Along a profile the signed root of the -2LL rise is close to linear in the parameter
    (exactly so for a quadratic surface), so the search starts at the Wald end (1.96
    standard errors out), extrapolates the signed root through its last values (inverse
    quadratic interpolation, a tenth beyond its zero) until the crossing is bracketed, and
    closes it the same way (regula falsi with the Illinois modification as the safeguard)
    to a signed root within 1e-4 (the rise within 4e-4 of 3.84). The other parameters start from the line through the
    two optimised points nearest to the new value (from the covariance-predicted direction
    while only the optimum is known), so each re-optimisation begins close to its answer.
    Without a covariance it steps by half a unit.
    """
    out = {}
    floor = -math.sqrt(PROFILE_RISE)
    for i, name in enumerate(problem.names):
        others = [j for j in range(len(problem.names)) if j != i]
        has_cov = covariance is not None and covariance[i, i] > 0
        sd = math.sqrt(covariance[i, i]) if has_cov else 0.5
        slope = covariance[others, i] / covariance[i, i] if has_cov else np.zeros(len(others))
        stride = min(max(math.sqrt(PROFILE_RISE) * sd, 0.05), 2.0)
        ends, open_sides = [], []
        for side, bound in ((-1, problem.lower[i]), (+1, problem.upper[i])):
            cache = {float(best_y[i]): floor}
            solved = {float(best_y[i]): best_y[others]}

            def rise(yi):
                """Signed root of the -2LL rise with parameter i held at yi."""
                yi = float(yi)
                if yi in cache:
                    return cache[yi]
                held = problem.hold(i, yi)
                if others:
                    near = sorted(solved, key=lambda y: abs(y - yi))[:2]
                    if len(near) == 2 and near[0] != near[1]:  # the line through the two nearest solutions
                        y0, y1 = near
                        start = solved[y0] + (solved[y1] - solved[y0]) * (yi - y0) / (y1 - y0)
                    else:
                        start = solved[near[0]] + slope * (yi - near[0])
                    y_o, val = minimize(objective, held, np.clip(start, held.lower, held.upper), tol=PROFILE_TOL)
                    if held.at_bound(y_o, tol=1e-3):
                        # Near a bound the optimiser's transform flattens the surface and LM can stop
                        # short; a second run from where it stopped finishes the job.
                        y_2, val_2 = minimize(objective, held, y_o, tol=PROFILE_TOL)
                        if val_2 < val:
                            y_o, val = y_2, val_2
                    solved[yi] = y_o
                else:
                    val = objective.penalized(held, held.values([]))
                cache[yi] = math.sqrt(max(val - best, 0.0)) + floor
                return cache[yi]

            points = [(float(best_y[i]), floor)]
            found = None
            yi = best_y[i] + side * stride
            for _ in range(max_steps):
                if (side < 0 and yi <= bound) or (side > 0 and yi >= bound):
                    yi = bound
                r = rise(yi)
                points.append((float(yi), r))
                if abs(r) < 1e-4:
                    found = yi
                    break
                if r > 0:
                    found = _crossing(rise, points)
                    break
                if yi == bound:
                    break
                # extrapolate the signed root to 0 through the last points and go a tenth further, to
                # bracket the crossing; a full stride when the profile is not rising, at most four strides
                y1, r1 = points[-1]
                ahead = 1.1 * side * (_root_estimate(points) - y1) if r1 > points[-2][1] else math.nan
                ahead = stride if not ahead > 0 else ahead
                yi = y1 + side * min(max(ahead, 1e-6 * stride), 4.0 * stride)
            transform = problem.transforms[i]
            if found is None:
                open_sides.append("lower" if side < 0 else "upper")
                ends.append(float(transform.inverse(bound)))
            else:
                ends.append(float(transform.inverse(found)))
        out[name] = dict(lower=ends[0], upper=ends[1], level=PROFILE_LEVEL,
                         identifiable=not open_sides, open=open_sides)
    return out
