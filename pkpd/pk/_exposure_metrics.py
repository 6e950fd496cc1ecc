"""Exposure metrics per subject and interval (AUC, Cmax, Tmax, Cmin, Ctrough, Cavg) and their
summaries by regimen and body-weight band, as labelled datasets."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .. import _provenance, _units
from .._checks import format_number, number
from .._errors import PkpdError
from ..dosing import Dataset, named_regimens
from ..dosing._tables import DoseTable
from ..model import DEFAULT_SEED, Population, load_model
from . import _metrics
from ._exposure import engine, table_events
from ._simulate import virtual_patients

METRICS = {
    "AUC": ("mg*day/L", "area under the concentration curve over the interval"),
    "Cmax": ("mg/L", "peak concentration in the interval"),
    "Tmax": ("day", "time of the peak after the interval's start (the earliest, if reached twice)"),
    "Cmin": ("mg/L", "lowest concentration in the interval (its end included as a left limit)"),
    "Ctrough": ("mg/L", "concentration at the interval's end, before any dose given then"),
    "Cavg": ("mg/L", "average concentration over the interval: AUC / (end - start)"),
}
ACCURACY = {
    "closed_form": "exact: closed-form state, integrals and peaks (bisection on the exact slope), to rounding",
    "ode": "ODE at 8 Gauss-Legendre nodes per sub-interval of at most ode_step days between events (default "
           "1/fastest rate constant, 1 hour to 1 day); quadrature and interpolation errors about 1e-10 or less, "
           "the ODE tolerance (rtol) sets the accuracy",
}


def exposure(model, regimens, *, intervals=None, horizon=None, time_unit: str = "day",
             population: Population | None = None, n_subjects: int | None = None, seed: int = DEFAULT_SEED,
             weight=None, method: str = "auto", ode_step: float | None = None, rtol: float = 1e-8, atol: float = 1e-10,
             solver: str = "DOP853") -> xr.Dataset:
    r"""Exposure metrics per virtual patient and interval: AUC, Cmax, Tmax, Cmin, Ctrough, Cavg.

    Parameters
    ----------
    model : Model or str
        A model, or the library name or path of a model file.
    regimens : Regimen, str, list or {name: regimen}
        As for :func:`pkpd.simulate` (no response-guided rules).
    intervals : sequence of (start, end) pairs, optional
        Windows in ``time_unit``, the same for every regimen, e.g. ``[(0, 4), (16, 28)]``
        with ``time_unit="week"``. They may overlap. Default: each regimen's *dosing
        intervals*, from each dose time to the next, and from the last dose to ``horizon``.
    horizon : float, optional
        Dosing intervals only: the end of the last one (``time_unit``); doses at or after it
        are left out. Default: the last dose plus the repeat interval of the course it
        belongs to ("every 12 weeks"); a regimen whose last dose is not part of a repeat (or
        that repeats without end) needs ``horizon``.
    time_unit : {"day", "week", "hour"}
        Unit of ``intervals`` and ``horizon`` (default days). Results are in days.
    population, n_subjects, seed, weight
        The virtual patients, as for :func:`pkpd.simulate` (default: one typical patient).
    method : {"auto", "closed_form", "ode"}
        ``"auto"``: the closed form for linear models, the ODE otherwise.
    ode_step : float, optional
        ODE only: longest sub-interval (days) of the quadrature between events. Default:
        one over the model's fastest rate constant (ka, the disposition rates, Vmax/(V Km),
        kint R0/KSS, kint, kdeg), between 1 hour and 1 day; give a shorter one for rate
        constants above 24/day.
    rtol, atol, solver
        ODE settings (``atol`` in mg), as for :func:`pkpd.simulate`.

    Returns
    -------
    xarray.Dataset
        ``AUC`` (mg*day/L), ``Cmax``, ``Cmin``, ``Ctrough``, ``Cavg`` (mg/L) and ``Tmax``
        (day) with dimensions (regimen, subject, interval); ``weight`` and the individual
        parameters (subject); coordinates ``start`` and ``end`` (regimen, interval; days)
        with ``start_week`` and ``end_week``. A regimen with fewer dosing intervals than
        another has NaN in the ones it lacks. Attributes: the model and its parameters,
        the engine, its accuracy, the population's sampling and seed, and ``intervals``
        ("dosing" or "windows").

    Notes
    -----
    Definitions, for an interval :math:`[t_1, t_2)` with :math:`\tau = t_2 - t_1`:

    * It includes what happens at :math:`t_1` (a bolus given at :math:`t_1` is in it, as
      in every output of pkpd) and not what happens at :math:`t_2`: C at :math:`t_2` is
      the left limit :math:`C(t_2^-)`, before any dose given at :math:`t_2`.
    * Dosing intervals start at the dose *records* (the prescription's times); a lag time
      delays the drug's arrival within the interval, it does not move the interval.
    * ``AUC`` :math:`= \int_{t_1}^{t_2} C\,dt`; ``Cavg`` = AUC / :math:`\tau`.
    * ``Cmax`` = :math:`\max C` over the interval; ``Tmax`` its time after :math:`t_1`
      (the earliest time C comes within 4 rounding errors of Cmax).
    * ``Ctrough`` = :math:`C(t_2^-)`: the pre-dose concentration of the next dose for
      dosing intervals (PKNCA's ctrough), the concentration at the window's end otherwise.
    * ``Cmin`` = the lowest C over :math:`[t_1, t_2]` with :math:`C(t_2^-)` at the end, so
      ``Cmin <= Ctrough``; they differ when C falls and rises again within the interval
      (an SC dose after a lag, the first interval starting from zero).

    Linear models are exact: the state at :math:`t_1` propagated in closed form, AUC
    from the exact time integral of the state (the same exponential forms as the
    concentrations, exact when ka equals an elimination rate), Cmax at an event (a bolus,
    an infusion's end) or where the exact slope dC/dt changes sign (bisection to adjacent
    floating-point numbers, on brackets where the slope has at most one zero), whatever
    the output grid. Nonlinear models (Michaelis-Menten, TMDD) use the ODE engine at
    Gauss-Legendre nodes between events (:mod:`pkpd.pk._metrics` states the accuracy).

    Examples
    --------
    The typical patient on the labelled schedule: dosing intervals end at the next dose,
    the last one a repeat interval (12 weeks) after the last dose; the first peak is at
    ln(ka/k)/(ka - k) = 7.648 days.

    >>> ds = exposure("ustekinumab_pk", "45 mg SC at weeks 0, 4 then every 12 weeks until week 52")
    >>> ds.end_week.values[0].tolist()
    [4.0, 16.0, 28.0, 40.0, 52.0, 64.0]
    >>> ds.Tmax.values[0, 0, :2].round(3).tolist(), ds.Cmax.values[0, 0, :2].round(3).tolist()
    ([7.648, 6.532], [2.285, 3.393])
    """
    model = load_model(model)
    method = engine(model, method)
    if isinstance(regimens, Dataset):
        raise PkpdError("exposure works on regimens (every virtual patient the same dosing records); for a NONMEM "
                        "dataset, simulate it with pkpd.simulate(model, data, times=...).")
    regs = named_regimens(regimens)
    if intervals is not None:
        if horizon is not None:
            raise PkpdError("horizon= ends the last dosing interval; windows given with intervals= have their own "
                            "ends. Give one of them.")
        windows = _windows(intervals, time_unit)
        spans = {name: windows for name in regs}
        last_day = float(windows[:, 1].max())
    else:
        h = None if horizon is None else float(_units.to_days(number(f"horizon ({_units.time_unit(time_unit)}s)",
                                                                     horizon, above=0), time_unit))
        spans = {name: _dosing_intervals(name, reg, h, time_unit) for name, reg in regs.items()}
        if not any(s.size for s in spans.values()):
            raise PkpdError(f"No regimen gives a dose before the horizon, so there are no dosing intervals "
                            f"({list(regs)}); give intervals=[(start, end), ...] in {time_unit}s.")
        last_day = max(float(s[:, 1].max()) for s in spans.values() if s.size)
    if method == "ode" and ode_step is not None:
        ode_step = number("ode_step (days)", ode_step, above=0)
    population = virtual_patients(model, population, n_subjects, seed, weight)
    individual = population.individual(model)
    n = population.n
    K = max(s.shape[0] for s in spans.values())
    bounds = np.full((len(regs), K, 2), np.nan)
    out = {name: np.full((len(regs), n, K), np.nan) for name in METRICS}
    for r, (name, reg) in enumerate(regs.items()):
        span = spans[name]
        if not span.size:
            continue
        bounds[r, :span.shape[0]] = span
        table = DoseTable.from_regimen(reg, n, population.weight, horizon=last_day)
        events, pk = table_events(model, table, individual)
        start = np.broadcast_to(span[:, 0], (n, span.shape[0]))
        end = np.broadcast_to(span[:, 1], (n, span.shape[0]))
        if method == "closed_form":
            values = _metrics.linear(events, pk, start, end)
        else:
            values = _metrics.ode(events, pk, model, start, end, step=ode_step, rtol=rtol, atol=atol, solver=solver)
        for key in METRICS:
            out[key][r, :, :span.shape[0]] = values[key]
    return _labelled(out, bounds, regs, population, model, individual, method,
                     "windows" if intervals is not None else "dosing")


def _windows(intervals, time_unit) -> np.ndarray:
    """User windows (K, 2) in days, checked: pairs of finite times >= 0 with end > start."""
    unit = _units.time_unit(time_unit)
    hint = f" Give (start, end) pairs in {unit}s, e.g. intervals=[(0, 4), (16, 28)]."
    try:
        w = np.asarray(intervals, dtype=float)
    except (TypeError, ValueError):
        raise PkpdError(f"intervals must be (start, end) pairs of numbers, got {intervals!r}.{hint}") from None
    if w.ndim != 2 or w.shape[1] != 2 or w.shape[0] == 0:
        raise PkpdError(f"intervals must be a non-empty list of (start, end) pairs, got {intervals!r}.{hint}")
    for s, e in w:
        if not (np.isfinite(s) and np.isfinite(e) and 0 <= s < e):
            raise PkpdError(f"Interval ({format_number(s) if np.isfinite(s) else s}, "
                            f"{format_number(e) if np.isfinite(e) else e}) {unit}s: each needs finite times with "
                            f"0 <= start < end.{hint}")
    return np.asarray(_units.to_days(w, unit), float)


def _dosing_intervals(name: str, regimen, horizon: float | None, time_unit: str) -> np.ndarray:
    """(K, 2) days: from each dose time to the next, the last to ``horizon`` or one repeat interval on."""
    unit = _units.time_unit(time_unit)
    if horizon is None and regimen.open_ended:
        raise PkpdError(f"Regimen {name!r} repeats without end; give horizon= (in {unit}s; --horizon-weeks of pkpd "
                        "exposure), the end of its last dosing interval, or end the repeat with 'until' or 'x N'.")
    times = np.unique(regimen.dose_times(horizon))
    if horizon is not None:
        times = times[times < horizon]
    if not times.size:
        return np.zeros((0, 2))
    if horizon is None:
        last = times[-1]
        every = [c.every for c in regimen.courses if c.every is not None and c.dose_times().size
                 and c.dose_times()[-1] == last]
        if not every:
            raise PkpdError(f"Regimen {name!r}: its last dose (day {format_number(last)}) is not part of a repeat, so "
                            f"its dosing interval has no end; give horizon= (in {unit}s; --horizon-weeks of pkpd "
                            "exposure) or intervals=[(start, end), ...].")
        horizon = last + max(every)
    return np.stack([times, np.append(times[1:], horizon)], axis=1)


def _labelled(out, bounds, regs, population, model, individual, method, kind) -> xr.Dataset:
    data = {key: (("regimen", "subject", "interval"), out[key], {"units": unit, "long_name": text})
            for key, (unit, text) in METRICS.items()}
    if population.weight is not None:
        data["weight"] = (("subject",), population.weight.copy(), {"units": "kg", "long_name": "body weight"})
    for name, values in individual.items():
        data[name] = (("subject",), np.asarray(values, float).copy(),
                      {"units": model.spec(name).unit, "long_name": f"individual {name}"})
    span = ("regimen", "interval")
    coords = {**_provenance.regimen_coords(regs), "subject": np.arange(population.n),
              "interval": np.arange(bounds.shape[1]),
              "start": (span, bounds[..., 0], {"units": "day", "long_name": "start of the interval (included)"}),
              "end": (span, bounds[..., 1], {"units": "day", "long_name": "end of the interval (excluded)"}),
              "start_week": (span, _units.from_days(bounds[..., 0], "week"), {"units": "week"}),
              "end_week": (span, _units.from_days(bounds[..., 1], "week"), {"units": "week"})}
    return xr.Dataset(data, coords=coords, attrs={
        "title": f"pkpd exposure metrics of model {model.name}",
        **_provenance.attrs(model, engine=method, accuracy=ACCURACY[method], intervals=kind,
                            population=population.method,
                            seed=None if population.seed is None else str(population.seed))})


def summarize_exposure(ds: xr.Dataset, bands=None, quantiles=(0.05, 0.5, 0.95)) -> xr.Dataset:
    """Quantiles of each exposure metric over virtual patients, by regimen, weight band and interval.

    Parameters
    ----------
    ds : xarray.Dataset
        The result of :func:`exposure`.
    bands : float or sequence of float, optional
        Body-weight limits (kg), increasing: ``100`` gives the bands "<= 100 kg" and
        "> 100 kg" (a limit belongs to the lower band, as in weight-band dosing). Every
        summary also has the band "all".
    quantiles : sequence of float
        In [0, 1], increasing (default the 5th, 50th and 95th percentiles; numpy's linear
        interpolation between order statistics).

    Returns
    -------
    xarray.Dataset
        Each metric with dimensions (regimen, band, interval, quantile) and its unit;
        ``n`` (band), the number of virtual patients in each band, ``share`` their
        fraction; coordinates ``band_lower`` and ``band_upper`` (kg; a band holds weights
        in (lower, upper]) and the intervals' ``start`` and ``end``.

    Examples
    --------
    Steady-state troughs of 45 mg every 12 weeks, lower in patients over 100 kg:

    >>> ds = exposure("ustekinumab_pk", "45 mg SC every 12 weeks from week 0 x1 at steady state", n_subjects=200)
    >>> s = summarize_exposure(ds, bands=100)
    >>> s.band.values.tolist(), s.n.values.tolist()
    (['all', '<= 100 kg', '> 100 kg'], [200, 144, 56])
    >>> s.Ctrough.sel(regimen=s.regimen[0], interval=0, quantile=0.5).round(3).values.tolist()
    [0.287, 0.321, 0.182]
    """
    missing = [k for k in METRICS if k not in ds]
    if missing:
        raise PkpdError(f"summarize_exposure needs the dataset of pkpd.exposure; this one lacks {missing}.")
    q = np.atleast_1d(np.asarray(quantiles, dtype=float))
    if q.ndim != 1 or not q.size or not np.all(np.isfinite(q)) or np.any((q < 0) | (q > 1)) or np.any(np.diff(q) <= 0):
        raise PkpdError(f"quantiles must be increasing numbers in [0, 1], e.g. (0.05, 0.5, 0.95); got {quantiles!r}.")
    limits = () if bands is None else tuple(np.atleast_1d(np.asarray(bands, dtype=float)).tolist())
    for x in limits:
        number("Weight-band limit (kg)", x, above=0)
    if any(b <= a for a, b in zip(limits, limits[1:])):
        raise PkpdError(f"Weight-band limits must increase strictly, got {list(limits)} kg.")
    if limits and "weight" not in ds:
        raise PkpdError("Weight bands need body weights, and these virtual patients have none; give exposure() "
                        "weight= or a model with a [population] weight distribution.")
    edges = [0.0, *limits, np.inf]
    lower, upper = [0.0], [np.inf]
    labels = ["all"]
    for a, b in zip(edges[:-1], edges[1:]):
        if not limits:
            break
        lower.append(a)
        upper.append(b)
        labels.append(f"<= {format_number(b)} kg" if a == 0 else f"> {format_number(a)} kg" if b == np.inf
                      else f"> {format_number(a)} and <= {format_number(b)} kg")
    w = ds["weight"].values if limits else np.zeros(ds.sizes["subject"])
    members = [np.ones(w.size, bool)] + [(w > a) & (w <= b) for a, b in zip(lower[1:], upper[1:])]
    data = {}
    for key, (unit, text) in METRICS.items():
        values = ds[key].transpose("regimen", "subject", "interval").values
        stats = np.full((values.shape[0], len(members), values.shape[2], q.size), np.nan)
        for b, member in enumerate(members):
            if member.any():
                with warnings.catch_warnings():  # intervals a regimen lacks are NaN for every patient
                    warnings.simplefilter("ignore", RuntimeWarning)
                    stats[:, b] = np.moveaxis(np.nanquantile(values[:, member], q, axis=1), 0, -1)
        data[key] = (("regimen", "band", "interval", "quantile"), stats, {"units": unit, "long_name": text})
    count = np.array([int(m.sum()) for m in members])
    data["n"] = (("band",), count, {"long_name": "virtual patients in the band"})
    data["share"] = (("band",), count / count[0], {"long_name": "fraction of virtual patients in the band"})
    keep = ("regimen_text", "start", "end", "start_week", "end_week")
    coords = {"regimen": ds.regimen.values, "band": labels, "interval": ds.interval.values, "quantile": q,
              "band_lower": ("band", np.array(lower), {"units": "kg", "long_name": "weights above this"}),
              "band_upper": ("band", np.array(upper), {"units": "kg", "long_name": "weights up to this"}),
              **{k: ds[k].variable for k in keep if k in ds.coords}}
    return xr.Dataset(data, coords=coords, attrs={
        **ds.attrs, "title": f"summary of {ds.attrs.get('title', 'exposure metrics')}",
        "summary": "quantiles over virtual patients within each body-weight band (numpy linear interpolation)"})
