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
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from .._budget import check_memory
from .._checks import numbers, whole
from .._errors import PkpdError
from ._model import Model
from ._parameters import LOG, LOGIT
from ._registry import parameter_spec

SAMPLING = ("random", "sobol")
DEFAULT_SEED = 0


@dataclass(frozen=True, eq=False)
class Population:
    """Virtual patients: BSV scores ``z`` (shape (n, k), columns ``z_names``) and body
    weights ``weight`` (kg, shape (n,); None when neither the model nor the dosing needs them).

    Build one with :func:`sample_population` or :func:`typical_population`.
    """

    weight: np.ndarray | None
    z: np.ndarray
    z_names: tuple[str, ...]
    method: str = "random"
    seed: int | None = None

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
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "z", z)

    @property
    def n(self) -> int:
        return self.z.shape[0]

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
        ref = v.get("reference_weight")
        out = {}
        for name in model.pk_names + model.pd_names:
            x = np.full(self.n, float(v[name]))
            exponent = v.get(f"weight_exponent_{name}")
            if exponent is not None:
                if self.weight is None:
                    raise PkpdError(f"Model '{model.name}' scales {name} with body weight, but these virtual "
                                    "patients have no weights; pass weight= or give the model a weight distribution.")
                x = x * (self.weight / ref) ** exponent
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


def _weights_from(model: Model, weight, n: int, normal_scores) -> np.ndarray | None:
    if weight is None:
        spec = model.population.get("weight")
        if spec is None:
            if needs_weight(model):
                raise PkpdError(f"Model '{model.name}' scales {list(model.weight_effects)} with body weight but "
                                "gives no [population] weight distribution; pass weight= (kg) or add one.")
            return None
        median, cv = float(spec["median"]), float(spec["cv"])
        return median * np.exp(math.sqrt(math.log1p(cv * cv)) * normal_scores())
    w = numbers("Body weight (kg)", weight)  # > 0 is checked by Population, naming the subject
    if np.ndim(weight) == 0:
        return np.full(n, float(w[0]))
    if w.shape != (n,):
        raise PkpdError(f"weight must be one number or one per subject ({n}), got {w.size} of them.")
    return w


def sample_population(model: Model, n: int, seed: int | None = DEFAULT_SEED, weight=None,
                      method: str = "random") -> Population:
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
        distribution (median, cv); none when the model has no weight effect.
    method : {"random", "sobol"}
        ``"random"``: independent normal draws (Monte-Carlo virtual trials).
        ``"sobol"``: scrambled Sobol points mapped through the normal quantile function,
        a fixed quasi-random design for expectations over patients (use a power of 2).
    """
    model = _model(model)
    n = whole("Number of virtual patients", n, minimum=1)
    if method not in SAMPLING:
        raise PkpdError(f"Unknown sampling method {method!r}; allowed: {list(SAMPLING)}.")
    if seed is not None:
        seed = whole("seed", seed, minimum=0)
    names = _bsv_names(model)
    sample_weight = weight is None and "weight" in model.population
    k = len(names) + (1 if sample_weight else 0)
    # The scores, the weights, and the individual parameters computed from them (a few dozen).
    check_memory(n * 8 * (2 * k + 40), f"{n:,} virtual patients", "Ask for fewer patients.")
    if method == "random":
        rng = np.random.default_rng(seed)
        scores = rng.standard_normal((n, k))
    else:
        from scipy.stats import qmc
        scores = ndtri(qmc.Sobol(d=max(k, 1), scramble=True, seed=seed).random(n))[:, :k]
    w = _weights_from(model, weight, n, lambda: scores[:, -1])
    return Population(weight=w, z=scores[:, :len(names)], z_names=names, method=method, seed=seed)


def typical_population(model: Model, weight=None) -> Population:
    """One typical patient (all BSV scores 0) at ``weight`` kg (default: the reference weight).

    ``weight`` may be a list for several typical patients of different weights.
    """
    model = _model(model)
    ref = model.values.get("reference_weight")
    if weight is None and ref is None:
        names = _bsv_names(model)
        return Population(weight=None, z=np.zeros((1, len(names))), z_names=names, method="typical")
    w = numbers("Body weight (kg)", ref if weight is None else weight, above=0)
    names = _bsv_names(model)
    return Population(weight=w, z=np.zeros((w.size, len(names))), z_names=names, method="typical")
