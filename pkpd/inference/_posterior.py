r"""Posterior sampling of a fit with emcee's affine-invariant ensemble sampler.

The target is the posterior density of the varying parameters on their fit scale y (log
or logit): :math:`\log p(y \mid data) = \log L + \sum \log p(y_i)`, the priors taken
with their Jacobians (:mod:`pkpd.model._priors`; a parameter without a prior is flat on
its fit scale). Walkers start in
a small ball around the fit's optimum, shaped by its covariance; after ``burn`` steps per
walker, every ``thin``-th state is kept. The integrated autocorrelation time is reported so
that the user can judge whether the chain is long enough.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from .._budget import check_memory
from .._checks import whole
from .._errors import PkpdError
from .._frozen import FrozenMap
from ._fit import Objective
from ._results import FitResult, load_fit


def sample_posterior(fit, n_draws: int = 2000, *, walkers: int | None = None, burn: int = 300, thin: int = 10,
                     seed: int = 0) -> FitResult:
    """The fit with ``posterior``: ``n_draws`` draws of its varying parameters (natural scale).

    Parameters
    ----------
    fit : FitResult, fit file or library fit name
        An MLE or MAP fit (with its priors, or none: flat on the fit scale).
    n_draws : int
        Draws kept.
    walkers : int, optional
        Ensemble size (default: max(16, 4 x the number of parameters)).
    burn, thin : int
        Steps per walker discarded at the start; keep every ``thin``-th step after them.
    seed : int
        Seed of the walkers' start and of the sampler (default 0): the same seed gives the
        same draws.

    Returns a new :class:`FitResult`; :func:`pkpd.predict` then draws parameters from the
    posterior instead of the covariance.
    """
    import emcee  # imported here: only sampling needs it

    fit = load_fit(fit)
    n_draws = whole("n_draws", n_draws, minimum=1)
    burn = whole("burn", burn, minimum=0)
    thin = whole("thin", thin, minimum=1)
    seed = whole("seed", seed, minimum=0)
    problem = fit.problem()
    k = len(problem.names)
    walkers = whole("walkers", walkers if walkers is not None else max(16, 4 * k), minimum=2 * k,
                    hint=" emcee needs at least twice as many walkers as parameters.")
    steps = burn + math.ceil(n_draws * thin / walkers)
    # emcee keeps every step of every walker: its chain, and its log posterior values.
    check_memory(steps * walkers * (k + 2) * 8 * 2, f"{steps:,} steps of {walkers} walkers over {k} parameters",
                 "Ask for fewer draws, a smaller thin or burn.")
    objective = Objective(fit.model, fit.trial, fit.settings["likelihood"], fit.design,
                          fit.settings.get("trial_effect"))

    def log_posterior(y):
        if np.any(y < problem.lower) or np.any(y > problem.upper):
            return -np.inf
        values = problem.values(y)
        return -0.5 * objective.penalized(problem, values)

    rng = np.random.default_rng(seed)
    centre = problem.to_fit(fit.values)
    if fit.covariance is not None:
        scale = np.linalg.cholesky(fit.covariance.loc[list(problem.names), list(problem.names)].values)
        start = centre + 0.1 * rng.standard_normal((walkers, k)) @ scale.T
    else:
        start = centre + 1e-3 * rng.standard_normal((walkers, k))
    start = np.clip(start, problem.lower + 1e-9, problem.upper - 1e-9)
    sampler = emcee.EnsembleSampler(walkers, k, log_posterior)
    sampler.random_state = np.random.RandomState(seed).get_state()
    sampler.run_mcmc(start, steps, progress=False)
    chain = sampler.get_chain(discard=burn, thin=thin, flat=True)[:n_draws]
    if chain.shape[0] < n_draws:
        raise PkpdError(f"The sampler kept {chain.shape[0]} draws, fewer than {n_draws}; raise thin or n_draws.")
    natural = np.column_stack([t.inverse(chain[:, i]) for i, t in enumerate(problem.transforms)])
    import logging
    log = logging.getLogger("emcee")
    level = log.level
    log.setLevel(logging.ERROR)  # the length check is reported in posterior_info instead
    try:
        autocorr = sampler.get_autocorr_time(discard=burn, quiet=True)
    finally:
        log.setLevel(level)
    info = {"sampler": f"emcee {emcee.__version__} affine-invariant ensemble", "walkers": walkers, "burn": burn,
            "thin": thin, "steps": steps, "seed": seed,
            "acceptance": float(np.mean(sampler.acceptance_fraction)),
            "autocorrelation_steps": float(np.max(autocorr)),
            "effective_draws": float(walkers * (steps - burn) / np.max(autocorr)),
            "long_enough": bool(steps - burn >= 50 * np.max(autocorr))}
    if not info["long_enough"]:
        import warnings
        from .._errors import PkpdWarning
        warnings.warn(f"The posterior chain ran {steps - burn} steps after burn-in, fewer than 50 integrated "
                      f"autocorrelation times ({np.max(autocorr):.0f} steps): the draws may not yet represent the "
                      "posterior. Raise n_draws or thin.", PkpdWarning, stacklevel=2)
    return dataclasses.replace(fit, posterior=pd.DataFrame(natural, columns=list(problem.names)),
                               posterior_info=FrozenMap(info))
