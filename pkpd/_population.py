"""Virtual patients: body weights plus standard-normal scores for between-subject variability.

A :class:`Population` holds *draws*, not parameter values: the individual parameters are
computed from a model's current values each time (:meth:`Population.individual`). The
same population therefore gives smooth, deterministic functions of the model parameters,
which the fitting layer relies on.

Individual parameter :math:`X_i = X \\cdot (WT_i/WT_{ref})^{\\theta_X} \\cdot e^{\\omega_X z_{X,i}}`
with :math:`\\omega_X^2 = \\ln(1 + CV_X^2)` and :math:`z \\sim N(0, 1)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from ._errors import PkpdError
from ._model import Model

SAMPLING = ("random", "sobol")


@dataclass(frozen=True, eq=False)
class Population:
    """Virtual patients: ``weight`` (kg, shape (n,)) and BSV scores ``z`` (shape (n, k)).

    Build one with :func:`sample_population` or :func:`typical_population`.
    """

    weight: np.ndarray
    z: np.ndarray
    z_names: tuple[str, ...]
    method: str = "random"
    seed: int | None = None

    def __post_init__(self):
        w = np.asarray(self.weight, dtype=float)
        if w.ndim != 1 or w.size == 0:
            raise PkpdError(f"Population weights must be a non-empty 1-D array, got shape {w.shape}.")
        bad = ~np.isfinite(w) | (w <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PkpdError(f"Body weight of subject {i} is {float(w[i])!r} kg; weights must be finite and > 0.")
        z = np.asarray(self.z, dtype=float).reshape(w.size, len(self.z_names))
        w.setflags(write=False)
        z.setflags(write=False)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "z", z)

    @property
    def n(self) -> int:
        return self.weight.size

    def individual(self, model: Model, values: dict | None = None) -> dict[str, np.ndarray]:
        """Individual parameter arrays (n,) for every structural parameter of ``model``.

        ``values`` overrides the model's typical values (named, as in ``model.values``).
        """
        v = dict(model.values)
        if values:
            v.update(values)
        missing = [name for name in self.z_names if f"bsv_{name}" not in v]
        if missing:
            raise PkpdError(f"This population has BSV scores for {missing}, which model '{model.name}' "
                            "has no bsv_ parameter for; sample the population from this model.")
        names = model.pk_names + model.pd_names
        ref = v.get("reference_weight")
        out = {}
        for name in names:
            x = np.full(self.n, float(v[name]))
            exponent = v.get(f"weight_exponent_{name}")
            if exponent is not None:
                x = x * (self.weight / ref) ** exponent
            if name in self.z_names:
                omega = math.sqrt(math.log1p(v[f"bsv_{name}"] ** 2))
                x = x * np.exp(omega * self.z[:, self.z_names.index(name)])
            out[name] = x
        if "F" in out and np.any(out["F"] > 1.0):
            raise PkpdError("Individual bioavailability F exceeds 1 for some subjects; remove bsv_F or "
                            "lower it (log-normal BSV is unbounded above).")
        return out


def _bsv_names(model: Model) -> tuple[str, ...]:
    return tuple(p.name[4:] for p in model.parameters if p.name.startswith("bsv_"))


def _weights_from(model: Model, weight, n: int, normal_scores) -> np.ndarray:
    if weight is None:
        spec = model.population.get("weight")
        if spec is None:
            ref = model.values.get("reference_weight")
            if ref is None:
                raise PkpdError(f"Model '{model.name}' gives no body-weight distribution; pass weight=.")
            return np.full(n, float(ref))
        median, cv = float(spec["median"]), float(spec["cv"])
        return median * np.exp(math.sqrt(math.log1p(cv * cv)) * normal_scores())
    w = np.asarray(weight, dtype=float)
    if w.ndim == 0:
        return np.full(n, float(w))
    if w.shape != (n,):
        raise PkpdError(f"weight must be one number or one per subject ({n}), got shape {w.shape}.")
    return w


def sample_population(model: Model, n: int, seed: int | None = None, weight=None,
                      method: str = "random") -> Population:
    """Draw ``n`` virtual patients for ``model``.

    Parameters
    ----------
    model : Model
    n : int
        Number of virtual patients.
    seed : int, optional
        Seed of the generator; the same seed gives the same patients.
    weight : float or array (n,), optional
        Body weights (kg). Default: the model file's ``[population] weight`` log-normal
        distribution (median, cv).
    method : {"random", "sobol"}
        ``"random"``: independent normal draws (Monte-Carlo virtual trials).
        ``"sobol"``: scrambled Sobol points mapped through the normal quantile function,
        a fixed quasi-random design for expectations over patients (use a power of 2).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PkpdError(f"Number of virtual patients must be a whole number >= 1, got {n!r}.")
    if method not in SAMPLING:
        raise PkpdError(f"Unknown sampling method {method!r}; allowed: {list(SAMPLING)}.")
    names = _bsv_names(model)
    sample_weight = weight is None and "weight" in model.population
    k = len(names) + (1 if sample_weight else 0)
    if method == "random":
        rng = np.random.default_rng(seed)
        scores = rng.standard_normal((int(n), k))
    else:
        from scipy.stats import qmc
        scores = ndtri(qmc.Sobol(d=max(k, 1), scramble=True, seed=seed).random(int(n)))[:, :k]
    w = _weights_from(model, weight, int(n), lambda: scores[:, -1])
    return Population(weight=w, z=scores[:, :len(names)], z_names=names, method=method, seed=seed)


def typical_population(model: Model, weight=None) -> Population:
    """One typical patient (all BSV scores 0) at ``weight`` kg (default: the reference weight)."""
    ref = model.values.get("reference_weight", 70.0)
    w = np.atleast_1d(np.asarray(ref if weight is None else weight, dtype=float))
    names = _bsv_names(model)
    return Population(weight=w, z=np.zeros((w.size, len(names))), z_names=names, method="typical")
