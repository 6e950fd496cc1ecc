"""Virtual patients: body weights plus standard-normal scores for between-subject variability.

A :class:`Population` holds *draws*, not parameter values: the individual parameters are
computed from a model's current values each time (:meth:`Population.individual`). The
same population therefore gives smooth, deterministic functions of the model parameters,
which the fitting layer relies on.

Individual parameter, on the parameter's transform scale (log for positive parameters,
logit for fractions):

.. math:: g(X_i) = g\\big(X \\cdot (WT_i/WT_{ref})^{\\theta_X}\\big) + \\omega_X z_{X,i},
          \\qquad z \\sim N(0, 1)

so a positive parameter is log-normal, :math:`X_i = X (WT_i/WT_{ref})^{\\theta_X}
e^{\\omega_X z}`, and a fraction is logit-normal and stays inside (0, 1). :math:`\\omega_X`
is ``bsv_X`` in the internal unit (SD of the random effect; a file's CV is converted with
:math:`\\omega^2 = \\ln(1 + CV^2)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from scipy.special import ndtri

from .._budget import check_memory
from .._checks import nearest, numbers, whole
from .._errors import PkpdError
from .._frozen import FrozenMap
from ._covariates import correlate, score_correlation
from ._model import Model
from ._parameters import LOG, LOGIT
from ._registry import parameter_spec

SAMPLING = ("random", "sobol")
DEFAULT_SEED = 0


@dataclass(frozen=True, eq=False)
class Population:
    """Virtual patients: BSV scores ``z`` (shape (n, k), columns ``z_names``), body weights
    ``weight`` (kg, shape (n,); None when neither the model nor the dosing needs them) and
    other covariates (``covariates``: {name: (n,)}, in the model's covariate units).

    Build one with :func:`sample_population` or :func:`typical_population`.
    """

    weight: np.ndarray | None
    z: np.ndarray
    z_names: tuple[str, ...]
    method: str = "random"
    seed: int | None = None
    covariates: Mapping = field(default_factory=dict)

    def __post_init__(self):
        z = np.asarray(self.z, dtype=float)
        if self.weight is None:
            if z.ndim != 2 or z.shape[0] == 0:
                raise PkpdError("A population without weights needs BSV scores z of shape (n, k) with n >= 1.")
            n = z.shape[0]
            w = None
        else:
            w = np.asarray(self.weight, dtype=float)
            if w.ndim != 1 or w.size == 0:
                raise PkpdError(f"Population weights must be a non-empty 1-D array, got shape {w.shape}.")
            bad = ~np.isfinite(w) | (w <= 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise PkpdError(f"Body weight of subject {i} is {float(w[i])!r} kg; weights must be finite and > 0.")
            n = w.size
            w.setflags(write=False)
        z = z.reshape(n, len(self.z_names))
        z.setflags(write=False)
        covariates = {}
        for name, values in dict(self.covariates).items():
            x = np.array(np.broadcast_to(np.asarray(values, float), (n,)))
            if not np.all(np.isfinite(x)):
                i = int(np.flatnonzero(~np.isfinite(x))[0])
                raise PkpdError(f"Covariate '{name}' of subject {i} is {float(x[i])!r}; covariates must be finite.")
            x.setflags(write=False)
            covariates[name] = x
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "covariates", FrozenMap(covariates))

    @property
    def n(self) -> int:
        return self.z.shape[0]

    def covariate(self, name: str, model: Model | None = None) -> np.ndarray:
        """The values (n,) of covariate ``name`` (``weight`` in kg)."""
        if name == "weight":
            if self.weight is None:
                owner = f"Model '{model.name}' changes {list(model.weight_effects)} with body weight, but these" \
                    if model is not None else "These"
                raise PkpdError(f"{owner} virtual patients have no weights; pass weight= or give the model a "
                                "weight distribution.")
            return self.weight
        if name not in self.covariates:
            owner = f"Model '{model.name}' has an effect of covariate '{name}', but these" if model is not None \
                else "These"
            raise PkpdError(f"{owner} virtual patients have no '{name}' (they have {sorted(self.covariates)}); give "
                            f"the model a [population] {name} distribution, or pass covariates={{'{name}': ...}}.")
        return self.covariates[name]

    def individual(self, model: Model, values: dict | None = None) -> dict[str, np.ndarray]:
        """Individual parameter arrays (n,) for every structural parameter of ``model``.

        ``values`` overrides the model's typical values (named, internal units).
        """
        v = dict(model.values)
        if values:
            v.update(values)
        missing = [name for name in self.z_names if f"bsv_{name}" not in v]
        if missing:
            raise PkpdError(f"This population has BSV scores for {missing}, which model '{model.name}' "
                            "has no bsv_ parameter for; sample the population from this model.")
        effects = {}
        for e in model.covariate_effects:
            effects.setdefault(e.parameter, []).append(e)
        out = {}
        for name in model.pk_names + model.pd_names:
            x = np.full(self.n, float(v[name]))
            for e in effects.get(name, ()):
                x = x * e.multiplier(self.covariate(e.covariate, model), v[e.name], v)
            if name in self.z_names:
                omega = v[f"bsv_{name}"]
                score = omega * self.z[:, self.z_names.index(name)]
                transform = parameter_spec(name).transform
                if transform is LOG:
                    x = x * np.exp(score)
                elif transform is LOGIT:
                    x = transform.inverse(transform.forward(x) + score)
                else:
                    x = x + score
            out[name] = x
        return out


def _model(model) -> Model:
    """A Model, or the library name or path of one."""
    from ._files import load_model
    return load_model(model)


def _bsv_names(model: Model) -> tuple[str, ...]:
    return tuple(p.name[4:] for p in model.parameters if p.name.startswith("bsv_"))


def needs_weight(model: Model) -> bool:
    return bool(model.weight_effects)


def _given(name: str, values, n: int) -> np.ndarray:
    x = numbers(name, values)
    if np.ndim(values) == 0:
        return np.full(n, float(x[0]))
    if x.shape != (n,):
        raise PkpdError(f"{name} must be one number or one per subject ({n}), got {x.size} of them.")
    return x


def sample_population(model: Model, n: int, seed: int | None = DEFAULT_SEED, weight=None,
                      method: str = "random", covariates: Mapping | None = None) -> Population:
    """Draw ``n`` virtual patients for ``model``.

    Parameters
    ----------
    model : Model
    n : int
        Number of virtual patients.
    seed : int
        Seed of the generator (default 0); the same seed gives the same patients.
    weight : float or array (n,), optional
        Body weights (kg). Default: the model file's ``[population] weight`` log-normal
        distribution (median, cv); none when the model has none.
    method : {"random", "sobol"}
        ``"random"``: independent normal draws (Monte-Carlo virtual trials).
        ``"sobol"``: scrambled Sobol points mapped through the normal quantile function,
        a fixed quasi-random design for expectations over patients (use a power of 2).
    covariates : {name: value or array (n,)}, optional
        Covariates given instead of drawn from the model's ``[population]`` (in its units).
        Correlations with a covariate given here are not applied.

    The draws are, per patient, one standard-normal score per BSV row (``bsv_X``), then
    one per covariate drawn (body weight first, then the others in the file's order),
    correlated as the model's ``correlations`` say (:mod:`pkpd.model._covariates`).
    """
    model = _model(model)
    n = whole("Number of virtual patients", n, minimum=1)
    if method not in SAMPLING:
        raise PkpdError(f"Unknown sampling method {method!r}; allowed: {list(SAMPLING)}.")
    if seed is not None:
        seed = whole("seed", seed, minimum=0)
    given = dict(covariates or {})
    unknown = [c for c in given if c == "weight"]
    if unknown:
        raise PkpdError("Give body weight as weight=, not in covariates=.")
    names = _bsv_names(model)
    drawn = [c for c in model.population if not (c == "weight" and weight is not None) and c not in given]
    drawn.sort(key=lambda c: c != "weight")  # weight first: the draws of pkpd 0.2 stay the same
    k = len(names) + len(drawn)
    # The scores, the covariates, and the individual parameters computed from them (a few dozen).
    check_memory(n * 8 * (2 * k + 40), f"{n:,} virtual patients", "Ask for fewer patients.")
    if method == "random":
        rng = np.random.default_rng(seed)
        scores = rng.standard_normal((n, k))
    else:
        from scipy.stats import qmc
        scores = ndtri(qmc.Sobol(d=max(k, 1), scramble=True, seed=seed).random(n))[:, :k]
    u = correlate(scores[:, len(names):], score_correlation(drawn, model.correlations))
    values = {c: model.population[c].values(u[:, j]) for j, c in enumerate(drawn)}
    values.update({c: _given(f"covariate '{c}'", x, n) for c, x in given.items()})
    w = values.pop("weight", None)
    if weight is not None:
        w = _given("weight", weight, n)
    elif w is None and needs_weight(model):
        raise PkpdError(f"Model '{model.name}' changes {list(model.weight_effects)} with body weight but "
                        "gives no [population] weight distribution; pass weight= (kg) or add one.")
    return Population(weight=w, z=scores[:, :len(names)], z_names=names, method=method, seed=seed,
                      covariates=values)


def typical_value(covariate) -> float:
    """The covariate of the typical patient: the median (log-normal), mean (normal), or 0
    (a 0/1 covariate: without it)."""
    return 0.0 if covariate.distribution == "bernoulli" else float(covariate.values(0.0))


def typical_population(model: Model, weight=None, covariates: Mapping | None = None) -> Population:
    """One typical patient (all BSV scores 0) at ``weight`` kg (default: the reference weight,
    else the median of the model's weight distribution), with the other covariates at their
    typical values (:func:`typical_value`) unless given.

    ``weight`` may be a list for several typical patients of different weights.
    """
    model = _model(model)
    ref = model.values.get("reference_weight")
    if ref is None and "weight" in model.population:
        ref = typical_value(model.population["weight"])
    names = _bsv_names(model)
    others = {c: typical_value(d) for c, d in model.population.items() if c != "weight"}
    others.update(dict(covariates or {}))
    if weight is None and ref is None:
        return Population(weight=None, z=np.zeros((1, len(names))), z_names=names, method="typical",
                          covariates=others)
    w = numbers("Body weight (kg)", ref if weight is None else weight, above=0)
    return Population(weight=w, z=np.zeros((w.size, len(names))), z_names=names, method="typical",
                      covariates=others)


_FIELDS = {"median": ("lognormal", "location"), "cv": ("lognormal", "spread"), "mean": ("normal", "location"),
           "sd": ("normal", "spread"), "proportion": ("bernoulli", "location")}


def with_covariates(model: Model, description: Mapping, where: str = "") -> Model:
    """``model`` with its population's covariates described anew: ``description`` maps a
    covariate to fields ``lower``/``upper`` (a band), ``median``/``cv``, ``mean``/``sd`` or
    ``proportion`` (its own distribution), in the covariate's unit (weight in kg)."""
    from dataclasses import replace as dc_replace
    population = dict(model.population)
    for name, fields in description.items():
        at = f"{where}covariate '{name}'"
        if name not in population:
            raise PkpdError(f"{at}: model '{model.name}' has no such covariate in its [population] "
                            f"({sorted(population)})." + nearest(name, list(population)))
        c = population[name]
        kinds = {_FIELDS[f][0] for f in fields if f in _FIELDS}
        if len(kinds) > 1 or (kinds and kinds != {c.distribution}):
            raise PkpdError(f"{at}: fields {sorted(fields)} do not describe its {c.distribution} distribution "
                            "(log-normal: median and cv; normal: mean and sd; 0/1: proportion).")
        changes = {}
        for f, x in fields.items():
            if f in _FIELDS:
                attr = _FIELDS[f][1]
                changes[attr] = math.sqrt(math.log1p(x * x)) if f == "cv" else x
        c = dc_replace(c, **changes)
        population[name] = c.within(fields.get("lower", -math.inf), fields.get("upper", math.inf))
    return dc_replace(model, population=population)
