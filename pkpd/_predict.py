"""Predictions from a fit: response rates, with uncertainty, for regimens no trial has tested.

Uncertainty, two kinds (both optional):

* **Parameter uncertainty** (``n_draws``): parameter sets drawn from the fit's
  covariance on the fit scale (log or logit of each estimated parameter: the asymptotic
  normal approximation of the estimates, mapped back so draws respect each parameter's
  domain). Each draw's rates are computed on a coarser fixed design (``draw_nodes``
  Sobol nodes, 128 by default, a 2-day grid) and the interval is the draws' central
  ``level`` quantile range, shifted by the difference between the two designs' rates
  at the estimates, so that point estimate and interval refer to one design. The
  coarse design's error is ~2e-3 at the estimates (removed by the shift) and varies
  far less than that across draws, against interval widths of several percentage points. Profile intervals of the
  fit are reported with the fit, not used for sampling.
* **Trial-size spread** (``trial_size=n``): the responder shares an n-patient arm would
  observe: for every parameter draw (or, without draws, 4,000 times at the estimates) one
  multinomial sample of n patients over the nested endpoint categories.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr

from ._errors import PkpdError
from ._fit import FitResult, SavedFit, from_fit_scale, load_fit, to_fit_scale
from ._pasi import DOSE_REFINEMENT, PasiEngine, add_rule_shares, rates_dataset, select_endpoints
from ._population import sample_population

TRIAL_SAMPLES_WITHOUT_DRAWS = 4000
# The draws run on a coarser design than the point estimate: fewer nodes, twice the grid
# step, half the points after each dose. Its error at the estimates is removed by the
# offset (module notes); what remains is far below the spread of the draws.
DRAW_STEP_FACTOR = 2.0


def as_fit(fit) -> SavedFit:
    """Accept a SavedFit, a FitResult (as fitted, not yet saved) or a fit file path."""
    if isinstance(fit, SavedFit):
        return fit
    if isinstance(fit, FitResult):
        return SavedFit(model=fit.model, settings=dict(fit.settings, varying=fit.varying,
                                                        transforms=fit.transforms),
                        record=fit.to_dict(), path="")
    if isinstance(fit, (str, Path)):
        return load_fit(fit)
    raise PkpdError(f"Cannot use {fit!r} as a fit; give a fit file path, a SavedFit or a FitResult.")


def _population_model(model, weight):
    """The model, with its weight distribution replaced when ``weight`` is a {median, cv} mapping."""
    if isinstance(weight, Mapping):
        missing = {"median", "cv"} - set(weight)
        if missing:
            raise PkpdError(f"A weight distribution needs 'median' (kg) and 'cv'; missing {sorted(missing)}.")
        median, cv = float(weight["median"]), float(weight["cv"])
        if not (median > 0 and math.isfinite(median)) or not (cv >= 0 and math.isfinite(cv)):
            raise PkpdError(f"Weight distribution median must be > 0 kg and cv >= 0; got median {median!r}, cv {cv!r}.")
        spec = dict(model.population.get("weight", {}), median=median, cv=cv, source="user input")
        return dc_replace(model, population=dict(model.population, weight=spec)), None
    return model, weight


def _subgroup_masks(subgroups, weight: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Names and (group, node) masks; a number L means '<= L kg' and '> L kg'."""
    if isinstance(subgroups, (int, float)) and not isinstance(subgroups, bool):
        limit = float(subgroups)
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


def _draw_parameters(fit: SavedFit, n_draws: int, seed) -> dict[str, np.ndarray]:
    cov = fit.covariance()
    if cov is None:
        raise PkpdError("This fit has no covariance (its Hessian was not positive definite: a parameter is not "
                        "identifiable), so parameter uncertainty cannot be drawn. Refit with that parameter fixed.")
    names, matrix = cov
    transforms = fit.settings["transforms"]
    centre = np.array([float(to_fit_scale(transforms[n], fit.values[n])) for n in names])
    rng = np.random.default_rng(seed)
    y = rng.multivariate_normal(centre, matrix, size=n_draws, method="cholesky")
    return {n: from_fit_scale(transforms[n], y[:, i]) for i, n in enumerate(names)}


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm import tqdm
    bar = tqdm(total=total, desc="parameter draws", unit="draw", file=sys.stderr, leave=False)

    def update(done, _total):
        bar.update(done - bar.n)
        if done >= _total:
            bar.close()
    return update


def _trial_spread(rates: np.ndarray, n: int, rng, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of the responder shares of an n-patient arm; ``rates`` (sample, ..., endpoint)."""
    probs = np.concatenate([1.0 - rates[..., :1], rates[..., :-1] - rates[..., 1:], rates[..., -1:]], axis=-1)
    probs = np.clip(probs, 0.0, 1.0)  # rounding only: nested rates give non-negative categories
    counts = rng.multinomial(n, probs / probs.sum(axis=-1, keepdims=True))
    responders = np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1][..., 1:]  # at least each endpoint
    a = (1 - level) / 2
    return np.quantile(responders / n, a, axis=0), np.quantile(responders / n, 1 - a, axis=0)


def predict(fit, regimens, times, *, time_unit: str = "week", endpoints=None, weight=None, subgroups=None,
            n_draws: int = 0, draw_nodes: int = 128, level: float = 0.95, trial_size: int | None = None,
            seed: int = 0, progress: bool = False) -> xr.Dataset:
    """Predicted PASI responder rates of a fitted model, with optional uncertainty.

    Parameters
    ----------
    fit : fit file path, SavedFit or FitResult
    regimens : regimen, text, list or {name: regimen}
        Regimen text may carry response-guided rules ("...; if not PASI75 at week 16:
        45 mg SC at week 16"); the share of patients each rule fired for is returned.
    times : array-like, in ``time_unit`` (default weeks)
    endpoints : list of endpoint names, optional (default: all of the model's)
    weight : float, array (one per node), or {"median": kg, "cv": cv}, optional
        Body weights instead of the model's weight distribution.
    subgroups : float or {name: (low_kg, high_kg)}, optional
        Also report rates within weight bands (low, high]; a number L gives "<= L kg" and
        "> L kg". Adds a ``subgroup`` dimension whose first entry is "all".
    n_draws : int
        Parameter draws for the uncertainty interval (0: none). See the module notes.
    draw_nodes : int
        Nodes of the design used for the draws.
    level : float
        Interval level, e.g. 0.95.
    trial_size : int, optional
        Also give the interval of the share an arm of this many patients would observe.
    seed : int
        Seed of the parameter draws and trial samples.
    progress : bool
        Show a progress bar (stderr) over the parameter draws.

    Returns
    -------
    xarray.Dataset with ``rate`` (regimen, [subgroup,] time, endpoint) at the estimates,
    and, as asked, ``lower``/``upper`` (parameter uncertainty), ``trial_lower``/
    ``trial_upper`` (trial of ``trial_size``), ``rate_draw`` (draw, ...), ``rule_fired``.
    The fit's integration design is used for ``rate``, so predictions of the fitted arms
    at the fitted times reproduce the fitted rates to the last bit.
    """
    fit = as_fit(fit)
    if not 0 < level < 1:
        raise PkpdError(f"level must lie in (0, 1), got {level!r}.")
    for what, value, low in (("n_draws", n_draws, 0), ("draw_nodes", draw_nodes, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise PkpdError(f"{what} must be a whole number >= {low}, got {value!r}.")
    if trial_size is not None and (isinstance(trial_size, bool) or not isinstance(trial_size, (int, np.integer))
                                   or trial_size < 1):
        raise PkpdError(f"trial_size must be a whole number of patients >= 1, got {trial_size!r}.")
    from ._simulate import check_times
    s = fit.settings
    model, fixed_weight = _population_model(fit.model, weight)
    ends = select_endpoints(model, endpoints)
    thresholds = list(ends.values())
    t = check_times(times, time_unit)
    nodes = sample_population(model, s["n_nodes"], seed=s["node_seed"], weight=fixed_weight, method="sobol")
    engine = PasiEngine(model, regimens, t, nodes, step=s["step"])
    design = (f"mean over {nodes.n} fixed sobol nodes (seed {nodes.seed}) of the analytic responder "
              "probability given each node's PK/PD (the fit's design)")
    attrs = {"integration": design, "grid_step_day": s["step"], "fit_file": fit.path, "level": level}
    rate = engine.rates(thresholds=thresholds)
    ds = rates_dataset(rate, engine.regimens, t, ends, model, attrs)
    ds = add_rule_shares(ds, engine, engine.fired())
    if subgroups is not None:
        ds = _add_subgroups(ds, engine, subgroups, thresholds)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    samples = None
    if n_draws:
        draws = _draw_parameters(fit, n_draws, seed)
        small = sample_population(model, draw_nodes, seed=s["node_seed"], weight=_subsample(fixed_weight, draw_nodes),
                                  method="sobol")
        draw_engine = PasiEngine(model, regimens, t, small, step=DRAW_STEP_FACTOR * s["step"],
                                 refinement=DOSE_REFINEMENT[::2])
        samples, fired = draw_engine.rates_draws(draws, thresholds, progress=_progress_bar(progress, n_draws))
        offset = rate - draw_engine.rates(thresholds=thresholds)  # design difference at the estimates
        samples = samples + offset
        a = (1 - level) / 2
        dims = ("regimen", "time", "endpoint")
        ds["lower"] = (dims, np.quantile(samples, a, axis=0), {"units": "1", "long_name": f"{level:.0%} interval "
                                                                "from parameter uncertainty, lower end"})
        ds["upper"] = (dims, np.quantile(samples, 1 - a, axis=0), {"units": "1", "long_name": f"{level:.0%} "
                                                                   "interval from parameter uncertainty, upper end"})
        ds["rate_draw"] = (("draw",) + dims, samples, {"units": "1"})
        for name, values in draws.items():
            ds[f"draw_{name}"] = (("draw",), values, {"units": model[name].unit})
        if fired.shape[-1]:
            ds["rule_fired_lower"] = (("regimen", "rule"), np.quantile(fired, a, axis=0))
            ds["rule_fired_upper"] = (("regimen", "rule"), np.quantile(fired, 1 - a, axis=0))
        ds.attrs["parameter_uncertainty"] = (f"{n_draws} draws from the fit's covariance on the fit scale "
                                             f"(seed {seed}); rates on {draw_nodes} Sobol nodes")
    if trial_size is not None:
        base = samples if samples is not None else np.broadcast_to(rate, (TRIAL_SAMPLES_WITHOUT_DRAWS,) + rate.shape)
        lo, hi = _trial_spread(base, int(trial_size), rng, level)
        dims = ("regimen", "time", "endpoint")
        ds["trial_lower"] = (dims, lo, {"units": "1", "long_name": f"{level:.0%} interval of the share a "
                                        f"{trial_size}-patient arm would observe, lower end"})
        ds["trial_upper"] = (dims, hi, {"units": "1", "long_name": f"{level:.0%} interval of the share a "
                                        f"{trial_size}-patient arm would observe, upper end"})
        ds.attrs["trial_size"] = int(trial_size)
    return ds


def _subsample(weight, n):
    """A per-node weight array is for the main design; the draw design takes its first n."""
    if weight is None or np.ndim(weight) == 0:
        return weight
    w = np.asarray(weight, float)
    if w.size < n:
        raise PkpdError(f"weight has {w.size} entries; the draw design needs {n}.")
    return w[:n]


def _add_subgroups(ds, engine, subgroups, thresholds) -> xr.Dataset:
    names, masks = _subgroup_masks(subgroups, engine.population.weight)
    omega = engine._omega(None)
    depths = engine.depth()
    cuts = engine._cuts(thresholds)
    out = np.empty((len(engine.regimens), len(names)) + ds.rate.shape[1:])
    for r in range(len(engine.regimens)):
        probs = engine._probabilities(r, depths, omega, cuts)[0]  # (node, time, endpoint)
        for g, mask in enumerate(masks):
            out[r, g] = probs[mask].mean(axis=0)
    ds = ds.assign_coords(subgroup=names, subgroup_share=("subgroup", masks.mean(axis=1)))
    ds["rate_by_subgroup"] = (("regimen", "subgroup", "time", "endpoint"), out,
                              {"units": "1", "long_name": "responder share within the weight subgroup"})
    return ds


def compare_regimens(ds: xr.Dataset, week: float, endpoint: str = "PASI75"):
    """Regimens ranked by their rate at ``week`` for ``endpoint``, as a DataFrame."""
    import pandas as pd
    if week * 7.0 not in ds.time.values:
        raise PkpdError(f"Week {week:g} is not among the predicted weeks {list(ds.week.values)}.")
    if endpoint not in ds.endpoint.values:
        raise PkpdError(f"Endpoint {endpoint!r} was not predicted; predicted: {list(ds.endpoint.values)}.")
    sel = dict(time=week * 7.0, endpoint=endpoint)
    table = pd.DataFrame({"regimen": ds.regimen.values, "rate": ds.rate.sel(**sel).values})
    if "lower" in ds:
        table["lower"], table["upper"] = ds.lower.sel(**sel).values, ds.upper.sel(**sel).values
    if "trial_lower" in ds:
        table["trial_lower"], table["trial_upper"] = ds.trial_lower.sel(**sel).values, ds.trial_upper.sel(**sel).values
    table = table.sort_values("rate", ascending=False, kind="stable").reset_index(drop=True)
    table.index = table.index + 1
    table.index.name = f"rank ({endpoint}, week {week:g})"
    return table


def dose_response(fit, doses, schedule: str = "{dose} mg SC at week 0", week: float = 12, **kwargs) -> xr.Dataset:
    """Rates at ``week`` across doses: ``schedule`` is regimen text with a ``{dose}`` field.

    Returns predict's dataset with the regimen dimension renamed ``dose`` (mg).
    """
    if "{dose}" not in schedule:
        raise PkpdError(f"schedule must contain '{{dose}}', e.g. '{{dose}} mg SC at week 0'; got {schedule!r}.")
    doses = [float(d) for d in doses]
    regs = {f"{d:g}": schedule.format(dose=f"{d:g}") for d in doses}
    ds = predict(fit, regs, [week], **kwargs)
    ds.attrs["schedule"] = schedule
    return ds.rename(regimen="dose").assign_coords(dose=("dose", doses, {"units": "mg"}))
