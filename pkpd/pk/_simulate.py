"""Simulation: regimens x virtual patients x times, or a NONMEM dataset per record -> labelled results.

Large simulations of regimens are lazy: their concentrations are a dask array chunked over
subjects, each chunk computed when it is written or reduced (see :func:`simulate`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import _provenance, _units
from .._budget import check_memory
from .._checks import increasing_times, whole
from .._errors import PkpdError
from ..dosing import Dataset, named_regimens
from ..dosing._tables import DoseTable
from ..model import DEFAULT_SEED, Population, load_model, sample_population, typical_population
from ..model._registry import nonmem_compartments
from ..parallel import active_client, lazy_array, run_chunks
from ._exposure import concentrations, engine, table_concentrations

# A simulation of regimens whose concentrations take more than this is returned lazily,
# chunked over subjects (1,000,000 subjects x 393 times take 3.1 GB; this is 42,000 of them).
IN_MEMORY_BYTES = 128 * 2 ** 20
# Memory a chunk of subjects may take while its concentrations are computed: the default
# chunk size is this over the bytes one subject takes (CHUNK_BYTES_PER_TIME per output
# time, CHUNK_BYTES_PER_DOSE per dose, measured on the closed form: the result itself, the
# state walked along the outputs and its transposed copy, and the per-dose event arrays).
CHUNK_BYTES = 128 * 2 ** 20
CHUNK_BYTES_PER_TIME = 56
CHUNK_BYTES_PER_DOSE = 400


def simulate(model, regimens, times=None, *, time_unit: str = "day", population: Population | None = None,
             n_subjects: int | None = None, seed: int = DEFAULT_SEED, weight=None, method: str = "auto",
             variability: bool = True, rtol: float = 1e-8, atol: float = 1e-10,
             solver: str = "auto", chunk_size: int | None = None, client=None) -> xr.Dataset:
    """Simulate drug concentrations: regimens x virtual patients x times, or a NONMEM dataset.

    Parameters
    ----------
    model : Model or str
        A model, or the library name or path of a model file (e.g. ``"ustekinumab_pk"``).
    regimens : Regimen, str, list, {name: regimen} or Dataset
        Regimen objects or regimen text (``"45 mg SC at weeks 0, 4"``), or a NONMEM
        dataset (:func:`pkpd.read_nonmem`): then every individual gets its own records,
        covariates and outputs (see Returns).
    times : array-like
        Output times, strictly increasing, >= 0, in ``time_unit``. Required for regimens;
        for a dataset, optional: without it the outputs are the dataset's records, with it
        every individual's concentrations on this grid.
    time_unit : {"day", "week", "hour"}
        Unit of ``times`` (default days, as everywhere in pkpd).
    population : Population, optional
        Virtual patients (regimens). Default: ``n_subjects`` drawn with ``seed`` (and
        ``weight``), or, when ``n_subjects`` is None, one typical patient at the reference
        weight.
    seed : int
        Seed of the virtual patients, and for a dataset of the individuals' random
        effects and the residual errors (default 0).
    weight : float or array, optional
        Body weight (kg). For a dataset, only when it has no WT column (one weight for all).
    variability : bool
        Datasets only. True (default): each individual's between-subject random effects
        (the model's ``bsv_`` rows) and each observation's residual error (its ``[error]``)
        are drawn with ``seed``, as NONMEM's $SIMULATION does. False: every individual at
        the typical values (NONMEM's PRED) and DV equal to the prediction.
    method : {"auto", "closed_form", "ode"}
        ``"auto"`` takes the closed form for linear models and the ODE otherwise.
    rtol, atol, solver
        ODE settings (``atol`` in mg); ignored by the closed form. ``solver="auto"``
        integrates with DOP853 and switches to Radau when the system turns out stiff; any
        :func:`scipy.integrate.solve_ivp` method may be named instead. One integration may
        take at most the ``ode_seconds`` budget (:func:`pkpd.budget`), then
        :class:`pkpd.SolverError`.
    chunk_size : int, optional
        Regimens only. Subjects per chunk of a lazy result. Default: a simulation whose
        concentrations fit in ``IN_MEMORY_BYTES`` (128 MiB) is computed at once and
        returned in memory; a larger one is returned lazily, in chunks of subjects that
        take about ``CHUNK_BYTES`` (128 MiB) each while computed (about 5,000 subjects
        for 393 daily times). Giving ``chunk_size`` always returns a lazy result.
    client : dask.distributed.Client, optional
        Regimens only, for a result computed at once: compute each regimen on this
        client's workers (default: the active client, if any, else here, one regimen
        after another); the values are identical. A lazy result runs where it is
        computed or written (see Returns).

    Returns
    -------
    xarray.Dataset
        For regimens: ``concentration`` (regimen, subject, time) in mg/L, ``weight``
        (subject) and each individual parameter (subject) with units; coordinates ``time``
        (day) and ``week``; ``regimen_text``; attrs with the model file, its SHA-256, the
        typical parameters (JSON), the engine and the population's sampling and seed.

        A lazy result has the same variables, but ``concentration`` is a dask array with
        one chunk per regimen and chunk of subjects, computed when it is needed:
        :func:`pkpd.write_dataset` streams it to netCDF, zarr or CSV chunk by chunk
        (memory: the chunks in flight, not the whole array; on ``client=`` or the active
        client, else threads); ``ds.compute()`` loads it; reductions over time
        (``ds.concentration.max("time")``) run chunk by chunk. Every subject's parameters
        are drawn at once, as for an in-memory result (the same patients whatever the
        chunks); with the closed form each subject's concentrations are computed alone,
        so the values equal the in-memory ones to the bit for any ``chunk_size``. The ODE
        integrates a chunk's subjects as one system with shared steps, so ODE values agree
        with an in-memory run to the solver's tolerance, and to the bit for the same
        ``chunk_size`` anywhere (threads or cluster).

        For a dataset with ``times``: ``concentration`` (individual, time) in mg/L, with
        ``ID`` per individual and the individual parameters (those constant within every
        individual).

        For a dataset without ``times``, one entry per record (dimension ``record``, in the
        file's order):
        ``concentration`` (mg/L, the individual prediction after the record's own events,
        at every record as NONMEM tabulates it), ``DV`` (simulated observation at EVID 0
        records with MDV 0, NaN elsewhere), ``observed`` (the file's DV, when it has one),
        the individual parameters in force at each record and ``weight``; coordinates
        ``ID``, ``individual`` (0, 1, ... by ID block), ``TIME`` (file unit), ``time``
        (day), ``EVID``, ``MDV``, ``line`` (CSV line).

    Examples
    --------
    >>> ds = simulate("ustekinumab_pk", "45 mg SC at week 0", [0, 1, 12], time_unit="week")
    >>> ds.concentration.sel(regimen="45 mg SC at week 0").round(3).values.tolist()
    [[0.0, 2.28, 0.26]]
    """
    model = load_model(model)
    method = engine(model, method)
    if isinstance(regimens, Dataset):
        if population is not None or n_subjects is not None:
            raise PkpdError("A dataset brings its own individuals; give no population= or n_subjects= with it.")
        if chunk_size is not None or client is not None:
            raise PkpdError("chunk_size= and client= apply to simulations of regimens; a dataset is simulated at "
                            "once, in memory. Leave them out.")
        grid = None if times is None else _units.to_days(increasing_times(times), time_unit)
        return simulate_dataset(model, regimens, times=grid, seed=seed, weight=weight, variability=variability,
                                method=method, rtol=rtol, atol=atol, solver=solver)
    if variability is not True:
        raise PkpdError("variability= applies to datasets; for regimens, choose the virtual patients with "
                        "population= or n_subjects=.")
    if chunk_size is not None:
        chunk_size = whole("chunk_size", chunk_size, minimum=1, hint=" It is a number of subjects per chunk.")
    regs, t, population, p = prepare(model, regimens, times, time_unit, population, n_subjects, seed, weight)
    ode = dict(rtol=rtol, atol=atol, solver=solver)
    n, w = population.n, population.weight
    size = 8 * len(regs) * n * t.size
    if chunk_size is None and size <= IN_MEMORY_BYTES:
        # The concentrations, and per regimen an engine's working arrays of about four
        # (subject, time) arrays (states, outputs); at most a few times IN_MEMORY_BYTES.
        check_memory(size // len(regs) * (len(regs) + 4) + n * 8 * 32,
                     f"Simulating {len(regs)} regimen(s) x {n:,} subjects x {t.size:,} times",
                     "Ask for fewer subjects or output times, or give chunk_size= for a lazy result.")
        tasks = [(model, reg, t, p, w, method, ode) for reg in regs.values()]
        # Small enough to compute here, a regimen at a time, unless a client is given or active.
        parts = (run_chunks(_concentration_block, tasks, client) if active_client(client) is not None
                 else [_concentration_block(*task) for task in tasks])
        return labelled(np.concatenate(parts), regs, t, population, model, p, method)
    if client is not None:
        raise PkpdError(f"This simulation ({len(regs)} regimens x {n:,} subjects x {t.size:,} times, "
                        f"{size / 2 ** 30:.2g} GiB) is returned lazily: its chunks run when it is written or "
                        "computed, not here. Leave out client= and write it on the client with "
                        "pkpd.write_dataset(ds, path, client=client), or compute it with the client active.")
    chunk = chunk_size or default_chunk_size(regs, t)
    starts = range(0, n, chunk)
    blocks = {}
    for r, reg in enumerate(regs.values()):
        for j, a in enumerate(starts):
            b = min(a + chunk, n)
            blocks[(r, j, 0)] = (model, reg, t, {k: v[a:b] for k, v in p.items()}, None if w is None else w[a:b],
                                 method, ode)
    chunks = ((1,) * len(regs), tuple(min(chunk, n - a) for a in starts), (t.size,))
    return labelled(lazy_array(_concentration_block, blocks, chunks), regs, t, population, model, p, method)


def _concentration_block(model, regimen, t, individual, weight, method, ode_options) -> np.ndarray:
    """Concentrations (1, subject, time) in mg/L of one regimen for some subjects: a chunk of a simulation."""
    return concentrations(model, regimen, t, individual, weight, method, **ode_options)[None]


def default_chunk_size(regimens: dict, times: np.ndarray) -> int:
    """Subjects per chunk whose computation takes about ``CHUNK_BYTES`` (at least one subject)."""
    horizon = float(times[-1])
    doses = max(sum(c.dose_times(horizon).size for c in reg.courses) for reg in regimens.values())
    per_subject = CHUNK_BYTES_PER_TIME * times.size + CHUNK_BYTES_PER_DOSE * doses
    return max(1, CHUNK_BYTES // per_subject)


def prepare(model, regimens, times, time_unit, population, n_subjects, seed, weight):
    """The checked inputs of a simulation of regimens: ({name: regimen}, times in days, the
    virtual patients, their individual parameters)."""
    if times is None:
        raise PkpdError("simulate needs output times for regimens, e.g. simulate(model, regimen, [0, 7, 14]).")
    regs = named_regimens(regimens)
    ruled = [name for name, r in regs.items() if r.rules]
    if ruled:
        raise PkpdError(f"Regimen {ruled[0]!r} has response-guided rules: who gets which doses depends on "
                        "the response. Use pkpd.predict or pkpd.response_rates with a response model; "
                        "for concentrations, simulate a dosing history (Regimen.history({0}): rule 0 fired).")
    t = _units.to_days(increasing_times(times), time_unit)
    if seed is not None:
        seed = whole("seed", seed, minimum=0)
    population = virtual_patients(model, population, n_subjects, seed, weight)
    return regs, t, population, population.individual(model)


def virtual_patients(model, population, n_subjects, seed, weight) -> Population:
    """``population``, or ``n_subjects`` drawn with ``seed`` (and ``weight``), or one typical patient."""
    if population is None:
        return (typical_population(model, weight) if n_subjects is None
                else sample_population(model, n_subjects, seed=seed, weight=weight))
    if n_subjects is not None or weight is not None:
        raise PkpdError("Give either population= or n_subjects=/weight=, not both.")
    return population


def labelled(conc, regs, t, population, model, individual, method) -> xr.Dataset:
    """The labelled dataset of concentrations (regimen, subject, time) and the patients' parameters."""
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


def _record_parameters(model, data: Dataset, seed, weight, variability: bool) -> tuple[dict, np.ndarray | None]:
    """Individual parameters at every record (arrays over records) and the weight used."""
    n = data.n_individuals
    w = data.weights()
    if w is not None and weight is not None:
        raise PkpdError(f"The dataset has a body-weight column ({data.weight}); give no weight= with it.")
    if w is None and weight is not None:
        w = np.broadcast_to(np.asarray(weight, float), (data.n_records,)).astype(float)
    if w is None and model.weight_effects:
        raise PkpdError(f"Model '{model.name}' scales {list(model.weight_effects)} with body weight, but the "
                        "dataset has no WT column; add WT (kg) to the file, or pass weight= (kg) for everyone.")
    covariates = {}
    for e in model.covariate_effects:
        if e.covariate == "weight" or e.covariate in covariates:
            continue
        column = _covariate_column(data, e.covariate)
        if column is None:
            raise PkpdError(f"Model '{model.name}' has an effect of covariate '{e.covariate}' ({e.name}), but the "
                            f"dataset has no column of that name (columns: {list(data.order)}); add a "
                            f"'{e.covariate}' column (one value per record, in the model's unit).")
        values = np.asarray(data[column], float)
        if not np.all(np.isfinite(values)):
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            raise PkpdError(f"Dataset column {column!r}, CSV line {int(data.line[i])}: covariate '{e.covariate}' is "
                            "missing; the model's effect needs it on every record.")
        covariates[e.covariate] = values
    draws = sample_population(model, n, seed=seed, weight=np.ones(n), covariates={c: 0.0 for c in covariates})
    z = draws.z if variability else np.zeros_like(draws.z)
    records = Population(weight=w, z=z[data.individual], z_names=draws.z_names, method="dataset", seed=seed,
                         covariates=covariates)
    return records.individual(model), w


def _covariate_column(data: Dataset, name: str) -> str | None:
    """The dataset column holding covariate ``name``: the same name, in any case (DIABETES)."""
    for column in data.order:
        if column.lower() == name.lower():
            return column
    return None


def simulate_dataset(model, data: Dataset, *, times=None, seed: int = DEFAULT_SEED, weight=None,
                     variability: bool = True, method: str = "auto", **ode_options) -> xr.Dataset:
    """Predictions of ``data``'s individuals, at its records or on a grid (days); see :func:`simulate`."""
    model = load_model(model)
    seed = whole("seed", seed, minimum=0)
    if not isinstance(variability, bool):
        raise PkpdError(f"variability must be True or False, got {variability!r}.")
    known = set(model.dose_parameter_names) | ({"F", "tlag"} if model.absorption == "first_order" else set())
    for name, column in data.parameters.items():
        if name not in known:
            from .._checks import nearest
            raise PkpdError(f"Dataset column {column!r} gives parameter {name!r}, which is not a dose parameter of "
                            f"model '{model.name}'; per-record columns may give {sorted(known)}."
                            + nearest(name, known))
    per_record, w = _record_parameters(model, data, seed, weight, variability)
    compartments = dict(data.compartments) if data.compartments is not None else nonmem_compartments(model)
    grid = None if times is None else np.asarray(times, float)
    conc = np.empty(data.n_records) if grid is None else np.empty((data.n_individuals, grid.size))
    # Individuals with similar numbers of records share a table (padding at most doubles it).
    counts = np.bincount(data.individual, minlength=data.n_individuals)
    bucket = np.ceil(np.log2(np.maximum(counts, 1))).astype(int)
    starts = np.searchsorted(data.individual, np.arange(data.n_individuals), side="left")
    for b in np.unique(bucket):
        who = np.flatnonzero(bucket == b)
        table = DoseTable.from_dataset(data, who, compartments)
        R = table.time.shape[1]
        index = np.minimum(starts[who, None] + np.arange(R)[None, :], starts[who, None] + counts[who, None] - 1)
        individual = {k: np.asarray(v, float)[index] for k, v in per_record.items()}
        c = table_concentrations(model, table, individual, grid, method, **ode_options)
        if grid is None:
            conc[index[table.valid]] = c[:, :R][table.valid]
        else:
            conc[who] = c
    if grid is not None:
        return _grid_dataset(model, data, conc, grid, per_record, w, method, seed, variability)
    observed = (np.asarray(data["EVID"]) == 0) & (np.asarray(data["MDV"]) == 0)
    dv = np.where(observed, conc, np.nan)
    err = model.error_values
    if variability and (err["proportional"] > 0 or err["additive"] > 0):
        rng = np.random.default_rng([seed, 1])  # a stream apart from the random effects
        e = rng.standard_normal((2, data.n_records))
        dv = np.where(observed, conc * (1.0 + err["proportional"] * e[0]) + err["additive"] * e[1], np.nan)
    return _record_dataset(model, data, conc, dv, per_record, w, method, seed, variability)


def _grid_dataset(model, data: Dataset, conc, grid, per_record, w, method, seed, variability) -> xr.Dataset:
    first = np.searchsorted(data.individual, np.arange(data.n_individuals), side="left")
    out = {"concentration": (("individual", "time"), conc, {"units": "mg/L",
                                                            "long_name": "free drug concentration in serum"})}

    def same(v) -> bool:  # constant within every individual
        return bool(np.all(v == v[first][data.individual]))
    if w is not None and same(np.asarray(w, float)):
        out["weight"] = (("individual",), np.asarray(w, float)[first], {"units": "kg", "long_name": "body weight"})
    for name, values in per_record.items():
        values = np.asarray(values, float)
        if same(values):
            out[name] = (("individual",), values[first], {"units": model.spec(name).unit,
                                                          "long_name": f"individual {name}"})
    coords = {"individual": np.arange(data.n_individuals), "ID": ("individual", np.asarray(data.ids, float)),
              **_provenance.time_coords(grid)}
    return xr.Dataset(out, coords=coords, attrs={
        "title": f"pkpd simulation of model {model.name} for the individuals of a NONMEM dataset",
        **_provenance.attrs(model, engine=method, population="dataset", seed=str(seed),
                            variability=str(variability).lower(), dataset=data.source,
                            time_varying_covariates=",".join(data.time_varying()))})


def _record_dataset(model, data: Dataset, conc, dv, per_record, w, method, seed, variability) -> xr.Dataset:
    time = _units.to_days(np.asarray(data["TIME"], float), data.time_unit)
    out = {"concentration": (("record",), conc, {"units": "mg/L", "long_name": "individual prediction "
                                                   "(free drug concentration after the record's events)"}),
           "DV": (("record",), dv, {"units": "mg/L", "long_name": "simulated observation (EVID 0, MDV 0)"})}
    observed = np.asarray(data["DV"], float)
    if not np.all(np.isnan(observed)):
        out["observed"] = (("record",), observed, {"units": "mg/L", "long_name": "DV of the dataset"})
    if w is not None:
        out["weight"] = (("record",), np.asarray(w, float), {"units": "kg", "long_name": "body weight"})
    for name, values in per_record.items():
        out[name] = (("record",), np.asarray(values, float), {"units": model.spec(name).unit,
                                                              "long_name": f"individual {name}"})
    coords = {"record": np.arange(data.n_records), "ID": ("record", np.asarray(data["ID"], float)),
              "individual": ("record", np.asarray(data.individual)),
              "TIME": ("record", np.asarray(data["TIME"], float), {"units": data.time_unit}),
              "time": ("record", time, {"units": "day"}),
              "EVID": ("record", np.asarray(data["EVID"], float).astype(int)),
              "MDV": ("record", np.asarray(data["MDV"], float).astype(int)),
              "line": ("record", np.asarray(data.line))}
    return xr.Dataset(out, coords=coords, attrs={
        "title": f"pkpd simulation of model {model.name} for a NONMEM dataset",
        **_provenance.attrs(model, engine=method, population="dataset", seed=str(seed),
                            variability=str(variability).lower(), dataset=data.source, time_unit=data.time_unit)})
