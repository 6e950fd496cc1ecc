"""Simulation: regimens x virtual patients x times -> labelled concentrations."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import _provenance, _units
from .._checks import increasing_times
from .._errors import PkpdError
from ..dosing import named_regimens
from ..model import DEFAULT_SEED, Population, load_model, sample_population, typical_population
from ._exposure import concentrations, engine


def simulate(model, regimens, times, *, time_unit: str = "day", population: Population | None = None,
             n_subjects: int | None = None, seed: int = DEFAULT_SEED, weight=None, method: str = "auto",
             rtol: float = 1e-8, atol: float = 1e-10, solver: str = "DOP853") -> xr.Dataset:
    """Simulate drug concentrations for regimens x virtual patients x times.

    Parameters
    ----------
    model : Model or str
        A model, or the library name or path of a model file (e.g. ``"ustekinumab_pk"``).
    regimens : Regimen, str, list or {name: regimen}
        Regimen objects or regimen text (``"45 mg SC at weeks 0, 4"``).
    times : array-like
        Output times, strictly increasing, >= 0, in ``time_unit``.
    time_unit : {"day", "week", "hour"}
        Unit of ``times`` (default days, as everywhere in pkpd).
    population : Population, optional
        Virtual patients. Default: ``n_subjects`` drawn with ``seed`` (and ``weight``),
        or, when ``n_subjects`` is None, one typical patient at the reference weight.
    seed : int
        Seed of the virtual patients (default 0).
    method : {"auto", "closed_form", "ode"}
        ``"auto"`` takes the closed form for linear models and the ODE otherwise.
    rtol, atol, solver
        ODE settings (``atol`` in mg); ignored by the closed form.

    Returns
    -------
    xarray.Dataset
        ``concentration`` (regimen, subject, time) in mg/L, ``weight`` (subject) and each
        individual parameter (subject) with units; coordinates ``time`` (day) and
        ``week``; ``regimen_text``; attrs with the model file, its SHA-256, the typical
        parameters (JSON), the engine and the population's sampling and seed.

    Examples
    --------
    >>> ds = simulate("ustekinumab_pk", "45 mg SC at week 0", [0, 1, 12], time_unit="week")
    >>> ds.concentration.sel(regimen="45 mg SC at week 0").round(3).values.tolist()
    [[0.0, 2.28, 0.26]]
    """
    model = load_model(model)
    method = engine(model, method)
    regs = named_regimens(regimens)
    ruled = [name for name, r in regs.items() if r.rules]
    if ruled:
        raise PkpdError(f"Regimen {ruled[0]!r} has response-guided rules: who gets which doses depends on "
                        "the response. Use pkpd.predict or pkpd.response_rates with a response model; "
                        "for concentrations, simulate each variant (Regimen.variants()).")
    t = _units.to_days(increasing_times(times), time_unit)
    if population is None:
        population = (typical_population(model, weight) if n_subjects is None
                      else sample_population(model, n_subjects, seed=seed, weight=weight))
    elif n_subjects is not None or weight is not None:
        raise PkpdError("Give either population= or n_subjects=/weight=, not both.")
    p = population.individual(model)
    conc = np.empty((len(regs), population.n, t.size))
    for r, reg in enumerate(regs.values()):
        conc[r] = concentrations(model, reg, t, p, population.weight, method, rtol=rtol, atol=atol, solver=solver)
    return _dataset(conc, regs, t, population, model, p, method)


def _dataset(conc, regs, t, population, model, individual, method) -> xr.Dataset:
    data = {"concentration": (("regimen", "subject", "time"), conc,
                              {"units": "mg/L", "long_name": "free drug concentration in serum"})}
    if population.weight is not None:
        data["weight"] = (("subject",), population.weight.copy(), {"units": "kg", "long_name": "body weight"})
    for name, values in individual.items():
        data[name] = (("subject",), np.asarray(values, float).copy(),
                      {"units": model.spec(name).unit, "long_name": f"individual {name}"})
    return xr.Dataset(
        data, coords={**_provenance.regimen_coords(regs), "subject": np.arange(population.n),
                      **_provenance.time_coords(t)},
        attrs={"title": f"pkpd simulation of model {model.name}",
               **_provenance.attrs(model, engine=method, population=population.method,
                                   seed=None if population.seed is None else str(population.seed))})
