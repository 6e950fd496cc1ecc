"""Monte-Carlo virtual trials: seeded patients, responder counts per arm."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import _provenance, _units
from .._budget import check_memory
from .._checks import increasing_times, whole
from .._errors import PkpdError
from ..design import Design, RateEngine, as_design
from ..dosing import named_regimens
from ..endpoints import Mixture
from ..model import DEFAULT_SEED, Population, load_model, sample_population
from ..parallel import run_chunks


# Each arm's patients draw their random numbers in blocks of this many, in order: patient i
# of an arm takes hers from the stream of block i // SEED_BLOCK, whatever the chunks.
SEED_BLOCK = 1000


def _patients(model, seed: int, arm: int, first: int, count: int, total: int, weight):
    """Patients ``first`` .. ``first + count - 1`` of an arm of ``total``: their virtual-patient
    draws, standard-normal response scores and uniforms for a mixture class.

    Block b of arm ``arm`` has its own stream, ``SeedSequence(seed, spawn_key=(arm, b))``,
    from which it draws all its patients at once; a chunk takes its patients out of the
    blocks it overlaps, so chunking never changes which patients are drawn.
    """
    z_pop, weights, covariates, z, u = [], [], [], [], []
    for b in range(first // SEED_BLOCK, (first + count - 1) // SEED_BLOCK + 1):
        start = b * SEED_BLOCK
        size = min(SEED_BLOCK, total - start)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(arm, b)))
        w = weight if np.ndim(weight) == 0 else np.asarray(weight, float)[start:start + size]
        pop = sample_population(model, size, seed=int(rng.integers(2 ** 63)), weight=w, method="random")
        scores, uniforms = rng.standard_normal(size), rng.random(size)
        keep = slice(max(first, start) - start, min(first + count, start + size) - start)
        z_pop.append(pop.z[keep])
        weights.append(None if pop.weight is None else pop.weight[keep])
        covariates.append({c: v[keep] for c, v in pop.covariates.items()})
        z.append(scores[keep])
        u.append(uniforms[keep])
    population = Population(weight=None if weights[0] is None else np.concatenate(weights),
                            z=np.concatenate(z_pop), z_names=pop.z_names, method="random",
                            covariates={c: np.concatenate([part[c] for part in covariates]) for c in covariates[0]})
    return population, np.concatenate(z), np.concatenate(u)


def _trial_chunk(model, regimen, times, first, n_patients, n_per_arm, seed, arm, total, endpoints, design, weight,
                 keep):
    """Responders per trial (trial, time, endpoint) of patients first .. first + n_patients - 1 of an
    arm, the index of the chunk's first trial, and (``keep``) each patient's flags and improvement."""
    pop, z, u = _patients(model, seed, arm, first, n_patients, total, weight)
    engine = RateEngine(model, {"r": regimen}, times, pop, design)
    score = engine.latent()[0].take(engine.out_index)
    z = z[:, None]
    if isinstance(score, Mixture):  # each patient belongs to one class of the mixture
        weights = np.asarray(score.weights, float)
        cls = np.minimum(np.searchsorted(np.cumsum(weights / weights.sum()), u, side="right"), weights.size - 1)
        cls = cls[:, None]
        cuts = [np.choose(cls, [s.zcut(c) for s in score.scores]) for c in engine.cuts(endpoints)]
        value = np.choose(cls, [s.value(z) for s in score.scores])
    else:
        cuts = [score.zcut(c) for c in engine.cuts(endpoints)]
        value = score.value(z)
    responder = np.stack([z >= c for c in cuts], axis=-1)
    trial = np.arange(first, first + n_patients) // n_per_arm
    counts = np.zeros((trial[-1] - trial[0] + 1,) + responder.shape[1:], dtype=np.int64)
    np.add.at(counts, trial - trial[0], responder)
    if keep:
        return int(trial[0]), counts, responder, engine.response.improvement(value)
    return int(trial[0]), counts, None, None


def simulate_trial(model, regimens, times, n_per_arm: int, *, time_unit: str = "day", n_trials: int = 1,
                   seed: int = DEFAULT_SEED, endpoints=None, weight=None, design: Design | None = None,
                   keep_patients: bool = False, chunk_size: int = 20_000, client=None) -> xr.Dataset:
    """Monte-Carlo virtual trials: ``n_trials`` trials of ``n_per_arm`` patients in each arm.

    Every arm of every trial gets its own patients (seeded, reproducible; default seed 0).
    An arm's patients are drawn in blocks of ``SEED_BLOCK`` (1,000), each block from its
    own seed stream, so the results do not depend on ``chunk_size``, nor on where or in
    which order the chunks run. Large runs are split into chunks of at most
    ``chunk_size`` patients, each reduced to responder counts as it is computed, on
    dask's threads or on a dask.distributed ``client`` (given, or active;
    :mod:`pkpd.parallel`). Each patient's score is drawn once, so their endpoints are
    nested.

    Memory: the counts, plus each chunk in flight (one per thread or worker), about 13 kB
    per patient for weekly outputs to week 24 (benchmarks/bench_memory.py): about 260 MB
    per chunk of the default 20,000, whatever ``n_per_arm`` (five arms of 2,000,000
    patients peaked at 840 MB on two threads, five of 200,000 at 760 MB). With
    ``keep_patients=True`` every patient's improvement and flags are kept as well.

    Returns ``responders`` (trial, regimen, time, endpoint) and ``rate`` = responders /
    n_per_arm; with ``keep_patients=True`` (one trial only) also each patient's latent
    ``improvement`` (regimen, subject, time) and ``responder`` flags.
    """
    model = load_model(model)
    if not model.pd:
        raise PkpdError(f"Model '{model.name}' has no response model ([pd]); virtual trials need one, e.g. "
                        "'ustekinumab_pasi'.")
    n_per_arm = whole("n_per_arm", n_per_arm, minimum=1)
    n_trials = whole("n_trials", n_trials, minimum=1)
    chunk_size = whole("chunk_size", chunk_size, minimum=1)
    seed = whole("seed", seed, minimum=0)
    if keep_patients and n_trials != 1:
        raise PkpdError("keep_patients=True keeps one trial's patients; use n_trials=1.")
    design = as_design(design)
    ends = model.select_endpoints(endpoints)
    regs = named_regimens(regimens)
    ruled = [name for name, r in regs.items() if r.rules]
    if ruled:
        raise PkpdError(f"simulate_trial does not follow response-guided rules (regimen {ruled[0]!r}); use "
                        "pkpd.predict(..., trial_size=n), which gives the spread of an n-patient trial for them.")
    t = _units.to_days(increasing_times(times), time_unit)
    total = n_per_arm * n_trials
    if weight is not None and np.ndim(weight) != 0 and np.shape(weight) != (total,):
        raise PkpdError(f"weight must be one number (kg) or one per patient of an arm, n_per_arm x n_trials = "
                        f"{total}; got shape {np.shape(weight)}.")
    kept = len(regs) * n_per_arm * t.size * (len(ends.names) + 8) * 2 if keep_patients else 0
    kept += -(-total // chunk_size) * len(regs) * 2048  # the chunks' task descriptions
    check_memory(n_trials * len(regs) * t.size * len(ends.names) * 8 * 3 + kept,
                 f"{n_trials:,} trial(s) of {len(regs)} arm(s) x {t.size:,} times x {len(ends.names)} endpoints"
                 + (f" with {n_per_arm:,} patients kept per arm" if keep_patients else ""),
                 "Ask for fewer trials, times or endpoints.")
    starts = list(range(0, total, chunk_size))
    tasks = [(model, reg, t, s, min(chunk_size, total - s), n_per_arm, seed, r, total, ends, design, weight,
              keep_patients) for r, reg in enumerate(regs.values()) for s in starts]
    results = run_chunks(_trial_chunk, tasks, client)
    counts = np.zeros((n_trials, len(regs), t.size, len(ends.names)), dtype=np.int64)
    flags, improvement = [], []
    for k, (first, chunk_counts, resp, imp) in enumerate(results):
        r = k // len(starts)
        counts[first:first + chunk_counts.shape[0], r] += chunk_counts
        if keep_patients:
            flags.append(resp)
            improvement.append(imp)
    dims = ("trial", "regimen", "time", "endpoint")
    ds = xr.Dataset(
        {"responders": (dims, counts, {"units": "patients"}),
         "rate": (dims, counts / n_per_arm, {"units": "1"})},
        coords={"trial": np.arange(n_trials), **_provenance.regimen_coords(regs), **_provenance.time_coords(t),
                "endpoint": list(ends.names), "threshold": ("endpoint", list(ends.thresholds.values()), {"units": "1"})},
        attrs=_provenance.attrs(model, n_per_arm=n_per_arm, seed=str(seed)))
    if keep_patients:
        n_chunks = len(starts)
        imp = np.stack([np.concatenate(improvement[r * n_chunks:(r + 1) * n_chunks]) for r in range(len(regs))])
        flg = np.stack([np.concatenate(flags[r * n_chunks:(r + 1) * n_chunks]) for r in range(len(regs))])
        ds["improvement"] = (("regimen", "subject", "time"), imp,
                             {"units": "1", "long_name": "fractional improvement from baseline"})
        ds["responder"] = (("regimen", "subject", "time", "endpoint"), flg)
    return ds
