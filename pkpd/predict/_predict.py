"""Predictions from a fit: response rates, with uncertainty, for regimens no trial has tested.

Uncertainty, two kinds (both optional):

* **Parameter uncertainty** (``n_draws``): parameter sets drawn from the fit's
  covariance on the fit scale (log or logit of each estimated parameter: the asymptotic
  normal approximation of the estimates, mapped back so draws respect each parameter's
  domain). Each draw's rates are computed on a coarser design (``draw_nodes`` Sobol
  nodes, 128 by default, twice the grid step) and the interval is the draws' central
  ``level`` quantile range, shifted by the difference between the two designs' rates at
  the estimates (on the logit scale, so that shifted rates stay within [0, 1];
  :func:`shift_rates`), so that point estimate and interval refer to one design. The coarse
  design's error is ~2e-3 at the estimates (removed by the shift) and varies far less
  than that across draws, against interval widths of several percentage points. Profile
  intervals of the fit are reported with the fit, not used for sampling.
* **Trial-size spread** (``trial_size=n``): the responder shares an n-patient arm would
  observe: for every parameter draw (or, without draws, 4,000 times at the estimates) one
  multinomial sample of n patients over the nested endpoint categories.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace as dc_replace
from typing import Mapping

import numpy as np
import xarray as xr
from scipy.special import expit, logit

from .. import _units
from .._budget import check_memory
from .._checks import increasing_times, number, whole
from .._errors import PkpdError
from ..design import RateEngine
from ..dosing import named_regimens
from ..parallel import run_chunks
from ..endpoints import from_categories, to_categories
from ..inference import FitResult, load_fit
from ..model import TRANSFORMS_BY_NAME, with_covariates
from ..model._covariates import weight_distribution
from ._rates import add_rule_shares, rates_dataset

TRIAL_SAMPLES_WITHOUT_DRAWS = 4000
# Regimens computed together: memory grows with it (about 50 MB per regimen for 1,024 nodes
# and a 52-week mesh), parallelism with the number of chunks.
REGIMEN_CHUNK = 8


def _population_model(model, weight):
    """The model, with its weight distribution replaced when ``weight`` is a {median, cv} mapping."""
    if isinstance(weight, Mapping):
        missing = {"median", "cv"} - set(weight)
        if missing:
            raise PkpdError(f"A weight distribution needs 'median' (kg) and 'cv'; missing {sorted(missing)}.")
        median = number("Weight distribution median (kg)", weight["median"], above=0)
        cv = number("Weight distribution cv", weight["cv"], minimum=0)
        spec = weight_distribution(median, cv, source="user input")
        return dc_replace(model, population=dict(model.population, weight=spec)), None
    return model, weight


def _subgroup_masks(subgroups, weight) -> tuple[list[str], np.ndarray]:
    """Names and (group, node) masks; a number L means '<= L kg' and '> L kg'."""
    if weight is None:
        raise PkpdError("subgroups are weight bands, but these virtual patients have no body weights; give the "
                        "model a weight distribution or pass weight=.")
    if isinstance(subgroups, (int, float)) and not isinstance(subgroups, bool):
        limit = number("Subgroup weight limit (kg)", subgroups, above=0)
        subgroups = {f"<= {limit:g} kg": (0.0, limit), f"> {limit:g} kg": (limit, math.inf)}
    if not isinstance(subgroups, Mapping) or not subgroups:
        raise PkpdError("subgroups must be a weight limit in kg (e.g. 100) or {name: (low_kg, high_kg)} "
                        "with weight in (low, high].")
    names, masks = ["all"], [np.ones(weight.size, bool)]
    for name, bounds in subgroups.items():
        low, high = (float(b) for b in bounds)
        if not low < high:
            raise PkpdError(f"Subgroup {name!r}: low {low:g} kg must be below high {high:g} kg.")
        mask = (weight > low) & (weight <= high)
        if not mask.any():
            raise PkpdError(f"Subgroup {name!r} ({low:g}, {high:g}] kg holds none of the {weight.size} virtual "
                            "patients; widen it or change the weight distribution.")
        names.append(str(name))
        masks.append(mask)
    return names, np.stack(masks)


def _draw_parameters(fit: FitResult, n_draws: int, seed) -> dict[str, np.ndarray]:
    """Parameter draws: from the fit's posterior draws when it has them (a seeded choice of
    rows, without replacement while there are enough), else from its covariance on the fit
    scale, mapped back to each domain.

    An estimate on the bound of its fit range has no normal uncertainty (the likelihood is
    flat or falling beyond it, and the Hessian's curvature there means nothing): such
    parameters are held at the bound and the others drawn from their covariance given them
    (the Schur complement). ``pkpd.sample_posterior`` accounts for them fully."""
    if fit.posterior is not None:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(fit.posterior), size=n_draws, replace=n_draws > len(fit.posterior))
        return {n: fit.posterior[n].to_numpy()[rows] for n in fit.posterior.columns}
    if fit.covariance is None:
        raise PkpdError("This fit has no covariance (its Hessian was not positive definite: a parameter is not "
                        "identifiable), so parameter uncertainty cannot be drawn. Refit with that parameter fixed.")
    names = list(fit.covariance.index)
    transforms = [TRANSFORMS_BY_NAME[fit.transforms[n]] for n in names]
    centre = np.array([float(t.forward(fit.values[n])) for n, t in zip(names, transforms)])
    problem = fit.problem()
    held = set(problem.at_bound(problem.to_fit(fit.values)))
    free = [i for i, n in enumerate(names) if n not in held]
    fixed = [i for i, n in enumerate(names) if n in held]
    cov = fit.covariance.values
    if fixed:
        cov = cov[np.ix_(free, free)] - cov[np.ix_(free, fixed)] @ np.linalg.solve(cov[np.ix_(fixed, fixed)],
                                                                                     cov[np.ix_(fixed, free)])
    else:
        cov = cov[np.ix_(free, free)]
    rng = np.random.default_rng(seed)
    y = np.tile(centre, (n_draws, 1))
    if free:
        y[:, free] = rng.multivariate_normal(centre[free], cov, size=n_draws, method="cholesky")
    return {n: t.inverse(y[:, i]) for i, (n, t) in enumerate(zip(names, transforms))}


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm import tqdm
    bar = tqdm(total=total, desc="regimen chunks", unit="chunk", file=sys.stderr, leave=False)

    def update(done, _total):
        bar.update(done - bar.n)
        if done >= _total:
            bar.close()
    return update


def _trial_spread(rates: np.ndarray, n: int, rng, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of the responder shares of an n-patient arm; ``rates`` (sample, ..., endpoint)."""
    probs = np.clip(to_categories(rates), 0.0, 1.0)  # rounding only: nested rates give non-negative categories
    counts = rng.multinomial(n, probs / probs.sum(axis=-1, keepdims=True))
    shares = from_categories(counts) / n  # at least each endpoint
    a = (1 - level) / 2
    return np.quantile(shares, a, axis=0), np.quantile(shares, 1 - a, axis=0)


def predict(fit, regimens, times, *, time_unit: str = "day", endpoints=None, weight=None, subgroups=None,
            n_draws: int = 0, draw_nodes: int = 128, level: float = 0.95, trial_size: int | None = None,
            seed: int = 0, progress: bool = False, client=None, weights=None, covariates=None) -> xr.Dataset:
    """Predicted responder rates of a fitted model, with optional uncertainty.

    Parameters
    ----------
    fit : FitResult, fit file path or library fit name (``"ustekinumab_phase2"``), or a list of them
        With several fits the prediction is model-averaged (see :func:`pkpd.average`
        below and ``weights``).
    regimens : regimen, text, list or {name: regimen}
        Regimen text may carry response-guided rules ("...; if not PASI75 at week 16:
        45 mg SC at week 16"); the share of patients each rule fired for is returned.
    times : array-like, in ``time_unit``
    time_unit : {"day", "week", "hour"}
        Unit of ``times`` (default days, as everywhere in pkpd; ``time_unit="week"`` for
        weeks).
    endpoints : list of endpoint names, optional (default: all of the model's)
    weight : float, array (one per node), or {"median": kg, "cv": cv}, optional
        Body weights instead of the model's weight distribution.
    subgroups : float or {name: (low_kg, high_kg)}, optional
        Also report rates within weight bands (low, high]; a number L gives "<= L kg" and
        "> L kg". Adds ``rate_by_subgroup`` with a ``subgroup`` dimension whose first
        entry is "all".
    n_draws : int
        Parameter draws for the uncertainty interval (0: none). See the module notes.
    draw_nodes : int
        Nodes of the design used for the draws.
    level : float
        Interval level, e.g. 0.95.
    trial_size : int, optional
        Also give the interval of the share an arm of this many patients would observe.
    seed : int
        Seed of the parameter draws and trial samples (default 0).
    progress : bool
        Show a progress bar (stderr) when there are parameter draws.
    client : dask.distributed.Client, optional
        Compute the chunks of regimens on this client's workers (default: the active
        client, if any, else threads); the results are identical.
    weights : sequence of float, optional
        With several fits: the models' weights (default: Akaike weights, which need the
        fits to share their trial table).
    covariates : {covariate: {field: value}}, optional
        The patients predicted for, described like a trial table's arm (README, 'Trial
        tables'): ``{"weight": {"upper": 100}}`` for patients of 100 kg or less (the
        model's population within the band), ``{"diabetes": {"proportion": 0.3}}``, ...

    Returns
    -------
    xarray.Dataset with ``rate`` (regimen, time, endpoint) at the estimates, and, as
    asked, ``lower``/``upper`` (parameter uncertainty), ``trial_lower``/``trial_upper``
    (trial of ``trial_size``), ``rate_draw`` (draw, ...), ``rule_fired``. The fit's
    integration design is used for ``rate``, so predictions of the fitted arms at the
    fitted times reproduce the fitted rates to the last bit.
    """
    if isinstance(fit, (list, tuple)):
        return _average(fit, weights, regimens, times, time_unit=time_unit, endpoints=endpoints, weight=weight,
                        subgroups=subgroups, n_draws=n_draws, draw_nodes=draw_nodes, level=level,
                        trial_size=trial_size, seed=seed, progress=progress, client=client, covariates=covariates)
    if weights is not None:
        raise PkpdError("weights go with a list of fits (model averaging); this is one fit.")
    fit = load_fit(fit)
    level = number("level", level, above=0, below=1)
    n_draws = whole("n_draws", n_draws, minimum=0)
    draw_nodes = whole("draw_nodes", draw_nodes, minimum=1)
    seed = whole("seed", seed, minimum=0)
    if trial_size is not None:
        trial_size = whole("trial_size", trial_size, minimum=1, hint=" It is a number of patients.")
    design = fit.design
    model, fixed_weight = _population_model(fit.model, weight)
    if covariates:
        if not isinstance(covariates, Mapping) or not all(isinstance(f, Mapping) for f in covariates.values()):
            raise PkpdError("covariates must map a covariate to its description, e.g. {'weight': {'upper': 100}}.")
        model = with_covariates(model, covariates, where="predict(covariates=...): ")
    ends = model.select_endpoints(endpoints)
    t = _units.to_days(increasing_times(times), time_unit)
    regs = named_regimens(regimens)
    samples = max(n_draws, TRIAL_SAMPLES_WITHOUT_DRAWS if trial_size is not None else 0)
    # Per sample (draw, or trial-spread sample): its rates, their categories and counts, kept and
    # summarised by quantiles; per draw also its parameters.
    check_memory(samples * len(regs) * t.size * (len(ends.names) + 1) * 8 * 5 + n_draws * 8 * 16,
                 f"{samples:,} samples of {len(regs)} regimen(s) x {t.size:,} times x {len(ends.names)} endpoints",
                 "Ask for fewer draws, regimens or times.")
    nodes = design.nodes(model, fixed_weight)
    masks = None
    if subgroups is not None:
        names, masks = _subgroup_masks(subgroups, nodes.weight)
    draws = _draw_parameters(fit, n_draws, seed) if n_draws else None
    chunks = [dict(list(regs.items())[i:i + REGIMEN_CHUNK]) for i in range(0, len(regs), REGIMEN_CHUNK)]
    parts = run_chunks(_predict_chunk, [(model, chunk, t, design, fixed_weight, ends, masks, draws, draw_nodes)
                                        for chunk in chunks], client, _progress_bar(progress and n_draws, len(chunks)))
    n_rules = max((len(r.rules) for r in regs.values()), default=0)
    rate = np.concatenate([p["rate"] for p in parts])
    fired = np.concatenate([_pad(p["fired"], n_rules) for p in parts], axis=-2)
    attrs = {"integration": design.describe(nodes) + " (the fit's design)", "mesh_step_day": design.step,
             "fit_file": fit.path, "level": level}
    if covariates:
        attrs["patients"] = "; ".join(f"{c}: {model.population[c].describe()}" for c in covariates)
    ds = rates_dataset(rate, regs, t, ends, model, attrs)
    ds = add_rule_shares(ds, regs, fired)
    if masks is not None:
        ds = ds.assign_coords(subgroup=names, subgroup_share=("subgroup", masks.mean(axis=1)))
        ds["rate_by_subgroup"] = (("regimen", "subgroup", "time", "endpoint"),
                                  np.concatenate([p["by_group"] for p in parts]),
                                  {"units": "1", "long_name": "responder share within the weight subgroup"})
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    samples = None
    dims = ("regimen", "time", "endpoint")
    a = (1 - level) / 2
    if n_draws:
        samples = np.concatenate([p["samples"] for p in parts], axis=1)
        fired_draws = np.concatenate([_pad(p["fired_draws"], n_rules) for p in parts], axis=-2)
        ds["lower"] = (dims, np.quantile(samples, a, axis=0), {"units": "1", "long_name": f"{level:.0%} interval "
                                                               "from parameter uncertainty, lower end"})
        ds["upper"] = (dims, np.quantile(samples, 1 - a, axis=0), {"units": "1", "long_name": f"{level:.0%} "
                                                                   "interval from parameter uncertainty, upper end"})
        ds["rate_draw"] = (("draw",) + dims, samples, {"units": "1"})
        for name, values in draws.items():
            ds[f"draw_{name}"] = (("draw",), values, {"units": model[name].unit})
        if n_rules:
            ds["rule_fired_lower"] = (("regimen", "rule"), np.quantile(fired_draws, a, axis=0))
            ds["rule_fired_upper"] = (("regimen", "rule"), np.quantile(fired_draws, 1 - a, axis=0))
        ds.attrs["parameter_uncertainty"] = (f"{n_draws} draws from the fit's covariance on the fit scale "
                                             f"(seed {seed}); rates on {draw_nodes} Sobol nodes")
    if trial_size is not None:
        base = samples if samples is not None else np.broadcast_to(rate, (TRIAL_SAMPLES_WITHOUT_DRAWS,) + rate.shape)
        lo, hi = _trial_spread(base, int(trial_size), rng, level)
        ds["trial_lower"] = (dims, lo, {"units": "1", "long_name": f"{level:.0%} interval of the share a "
                                        f"{trial_size}-patient arm would observe, lower end"})
        ds["trial_upper"] = (dims, hi, {"units": "1", "long_name": f"{level:.0%} interval of the share a "
                                        f"{trial_size}-patient arm would observe, upper end"})
        ds.attrs["trial_size"] = int(trial_size)
    return ds


def _pad(fired: np.ndarray, n_rules: int) -> np.ndarray:
    """Rule shares (..., regimen, rule) padded with NaN to ``n_rules`` rules."""
    out = np.full(fired.shape[:-1] + (n_rules,), np.nan)
    out[..., :fired.shape[-1]] = fired
    return out


def _predict_chunk(model, regimens, t, design, fixed_weight, ends, masks, draws, draw_nodes) -> dict:
    """Rates (and draws) of a few regimens: engines built, used and released within the chunk."""
    engine = RateEngine(model, regimens, t, design.nodes(model, fixed_weight), design)
    rate, fired = engine.evaluate(endpoints=ends)
    out = {"rate": rate, "fired": fired}
    if masks is not None:
        out["by_group"] = engine.rates_by_group(masks, endpoints=ends)
    if draws is not None:
        coarse = design.coarse(draw_nodes)
        draw_engine = RateEngine(model, regimens, t, coarse.nodes(model, _subsample(fixed_weight, draw_nodes)), coarse)
        samples, fired_draws = draw_engine.rates_draws(draws, ends)
        out["samples"] = shift_rates(samples, rate, draw_engine.rates(endpoints=ends))
        out["fired_draws"] = fired_draws
    return out


def shift_rates(samples: np.ndarray, main: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Draws' rates on the coarse design moved by the two designs' difference at the
    estimates, on the logit scale: a draw at the estimates gets the main design's rate
    exactly, and every moved rate stays within [0, 1] (a rate of 0 or 1 stays there). Where
    the designs agree (a rate of 0 at week 0 on both, say) the draws are not moved."""
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(main == coarse, 0.0, logit(main) - logit(coarse))
        return expit(logit(samples) + delta)


def _subsample(weight, n):
    """A per-node weight array is for the main design; the draw design takes its first n."""
    if weight is None or np.ndim(weight) == 0:
        return weight
    w = np.asarray(weight, float)
    if w.size < n:
        raise PkpdError(f"weight has {w.size} entries; the draw design needs {n}.")
    return w[:n]


# -- model averaging ---------------------------------------------------------------------------

# A model contributes to an averaged prediction when its weight is at least this.
CONTRIBUTING = 0.01


def akaike_weights(fits) -> np.ndarray:
    """exp(-dAIC/2), normalised: the Akaike weights of fits to the same data."""
    aic = np.array([f.aic for f in fits])
    w = np.exp(-0.5 * (aic - aic.min()))
    return w / w.sum()


def _allocate(n: int, weights: np.ndarray) -> np.ndarray:
    """n draws split in proportion to weights (largest remainders)."""
    raw = n * weights
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n - counts.sum()]] += 1
    return counts


def _average(fits, weights, regimens, times, *, n_draws, level, trial_size, seed, **kwargs) -> xr.Dataset:
    """Model-averaged prediction: weighted rates, pooled draws, per-model rates alongside."""
    fits = [load_fit(f) for f in fits]
    if not fits:
        raise PkpdError("Give at least one fit to average.")
    names = [f.model.name for f in fits]
    if len(set(names)) != len(names):
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    if weights is None:
        shas = {f.trial.sha256 if f.trial is not None else None for f in fits}
        if len(shas) != 1 or None in shas:
            raise PkpdError("Akaike weights compare fits to the same trial table; these fits were made on different "
                            "data. Pass weights=[...] explicitly.")
        w = akaike_weights(fits)
    else:
        w = np.array([number(f"weight of model {i + 1}", x, minimum=0) for i, x in enumerate(weights)])
        if w.size != len(fits) or not w.sum() > 0:
            raise PkpdError(f"weights must give one non-negative number per fit ({len(fits)}), not all 0.")
        w = w / w.sum()
    level = number("level", level, above=0, below=1)
    counts = _allocate(n_draws, w) if n_draws else np.zeros(len(fits), int)
    parts = [predict(f, regimens, times, n_draws=int(c), level=level, trial_size=None, seed=seed + i, **kwargs)
             for i, (f, c) in enumerate(zip(fits, counts))]
    first = parts[0]
    by_model = np.stack([p.rate.values for p in parts])
    rate = np.tensordot(w, by_model, axes=1)
    ds = first.drop_vars([v for v in first.data_vars if v not in ("rule_text",)])
    dims = ("regimen", "time", "endpoint")
    ds["rate"] = (dims, rate, {"units": "1", "long_name": "model-averaged share of patients with at least the "
                                                       "endpoint's improvement"})
    ds = ds.assign_coords(model=names)
    ds["model_weight"] = (("model",), w, {"units": "1", "long_name": "weight of each model in the average"})
    ds["rate_by_model"] = (("model",) + dims, by_model, {"units": "1", "long_name": "each model's own prediction"})
    contributing = w >= CONTRIBUTING
    a = (1 - level) / 2
    samples = None
    if n_draws:
        samples = np.concatenate([p.rate_draw.values for p in parts if "rate_draw" in p])
        lo, hi = np.quantile(samples, a, axis=0), np.quantile(samples, 1 - a, axis=0)
        # The interval never excludes a contributing model's own prediction (the mixture's quantiles
        # could, for a model of small weight far from the others).
        lo = np.minimum(lo, by_model[contributing].min(axis=0))
        hi = np.maximum(hi, by_model[contributing].max(axis=0))
        ds["lower"] = (dims, lo, {"units": "1", "long_name": f"{level:.0%} interval from parameter and model "
                                                            "uncertainty, lower end"})
        ds["upper"] = (dims, hi, {"units": "1", "long_name": f"{level:.0%} interval from parameter and model "
                                                            "uncertainty, upper end"})
        ds["rate_draw"] = (("draw",) + dims, samples, {"units": "1"})
        ds["draw_model"] = (("draw",), np.repeat(np.arange(len(fits)), counts))
    if "rule_fired" in first:
        ds["rule_fired"] = (("regimen", "rule"), np.tensordot(w, np.stack([p.rule_fired.values for p in parts]), 1))
    if "rate_by_subgroup" in first:
        ds["rate_by_subgroup"] = (first.rate_by_subgroup.dims,
                                  np.tensordot(w, np.stack([p.rate_by_subgroup.values for p in parts]), 1))
    if trial_size is not None:
        trial_size = whole("trial_size", trial_size, minimum=1, hint=" It is a number of patients.")
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        base = samples if samples is not None else np.broadcast_to(rate, (TRIAL_SAMPLES_WITHOUT_DRAWS,) + rate.shape)
        lo, hi = _trial_spread(base, trial_size, rng, level)
        ds["trial_lower"] = (dims, lo, {"units": "1"})
        ds["trial_upper"] = (dims, hi, {"units": "1"})
        ds.attrs["trial_size"] = trial_size
    ds.attrs["model_averaging"] = ("rates weighted by " + ("Akaike weights" if weights is None else "the weights given")
                                   + "; " + ", ".join(f"{n} {100 * x:.1f}%" for n, x in zip(names, w)))
    return ds
