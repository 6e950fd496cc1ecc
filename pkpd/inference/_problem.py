"""The fitting state: which parameters vary, on which scale, within which bounds.

Positive parameters are estimated on a log scale, fractions on a logit scale, others as
they are (:class:`pkpd.Transform`); the model file's bounds, mapped to that scale, bound
the search. A :class:`FitProblem` carries names, transforms, bounds and the fixed values
together, so optimiser, Hessian and profiles share one object.
"""

from __future__ import annotations

from dataclasses import dataclass
from .._frozen import FrozenMap
from typing import Mapping, Sequence

import numpy as np

from .._checks import nearest, names as _names
from .._errors import PkpdError

# A fraction's natural bounds 0 and 1 are the edges of the logit scale; the search stops
# this far inside them.
LOGIT_EDGE = 1e-6


@dataclass(frozen=True, eq=False)
class FitProblem:
    """Parameters ``names`` vary on their transforms' scales within [lower, upper]; the rest
    stay at ``fixed`` (named values, internal units)."""

    names: tuple[str, ...]
    transforms: tuple
    lower: np.ndarray
    upper: np.ndarray
    fixed: Mapping[str, float]
    priors: tuple = ()   # a Prior or None per name
    held: tuple = ()     # (name, prior, transform) of parameters held fixed along a profile: their prior counts

    @classmethod
    def create(cls, model, names: Sequence[str] | None = None, priors: Mapping | None = None) -> "FitProblem":
        """The problem of fitting ``names`` (default: the response model's ``default_vary``) of ``model``,
        with the model file's priors updated by ``priors`` ({name: Prior}; those of fixed parameters
        play no part)."""
        if names is None:
            names = model.response.default_vary if model.pd else ()
        if not isinstance(names, (list, tuple)) or names:
            names = _names("vary", names, " Give parameter names, e.g. ['kout', 'IC50'].")
        names = tuple(names)
        if not names:
            raise PkpdError("Nothing to fit: give at least one parameter in vary=.")
        valid = {p.name for p in model.parameters}
        for n in names:
            if n not in valid:
                raise PkpdError(f"Unknown parameter '{n}' for model '{model.name}'; valid names: {sorted(valid)}."
                                + nearest(n, valid))
        if len(set(names)) != len(names):
            raise PkpdError(f"vary lists a parameter twice: {list(names)}.")
        transforms = tuple(model[n].transform for n in names)
        lower, upper = [], []
        for n, t in zip(names, transforms):
            p = model[n]
            lo, hi = p.lower, p.upper
            if t.name == "logit":
                lo, hi = max(lo, LOGIT_EDGE), min(hi, 1.0 - LOGIT_EDGE)
            a, b = t.forward([lo, hi])
            if not (np.isfinite(a) and np.isfinite(b)):
                raise PkpdError(f"Parameter '{n}' needs finite bounds in the model file to be fitted "
                                f"(got [{p.lower}, {p.upper}]; on its {t.name} scale [{a}, {b}]). "
                                "Add lower/upper to its row.")
            lower.append(float(a))
            upper.append(float(b))
        all_priors = dict(model.priors)
        all_priors.update(priors or {})
        unknown = [n for n in all_priors if n not in valid]
        if unknown:
            raise PkpdError(f"Priors for {unknown}, which are not parameters of model '{model.name}'; valid names: "
                            f"{sorted(valid)}." + nearest(unknown[0], valid))
        return cls(names, transforms, np.array(lower), np.array(upper), FrozenMap(dict(model.values)),
                   tuple(all_priors.get(n) for n in names))

    def values(self, y) -> dict:
        """Named values (fixed ones included) at fit-scale point ``y``."""
        v = dict(self.fixed)
        for n, t, yi in zip(self.names, self.transforms, y):
            v[n] = float(t.inverse(yi))
        return v

    def to_fit(self, values: Mapping) -> np.ndarray:
        return np.array([float(t.forward(values[n])) for n, t in zip(self.names, self.transforms)])

    def start(self) -> np.ndarray:
        """The fixed values of the varying parameters on the fit scale (the first start)."""
        y = self.to_fit(self.fixed)
        for n, t, yi in zip(self.names, self.transforms, y):
            if not np.isfinite(yi):
                raise PkpdError(f"Parameter '{n}' = {self.fixed[n]!r} is on the edge of its {t.name} scale and "
                                "cannot start a fit there; start it inside, e.g. model.replace("
                                f"{n}={0.95 if t.name == 'logit' else 1e-3}).")
        return y

    def hold(self, i: int, yi: float) -> "FitProblem":
        """The problem with parameter ``i`` held at fit-scale value ``yi`` (for profiles)."""
        keep = [j for j in range(len(self.names)) if j != i]
        fixed = dict(self.fixed)
        fixed[self.names[i]] = float(self.transforms[i].inverse(yi))
        priors = self.priors or (None,) * len(self.names)
        return FitProblem(tuple(self.names[j] for j in keep), tuple(self.transforms[j] for j in keep),
                          self.lower[keep], self.upper[keep], FrozenMap(fixed), tuple(priors[j] for j in keep),
                          self.held + ((self.names[i], priors[i], self.transforms[i]),))

    @property
    def has_priors(self) -> bool:
        return any(p is not None for p in self.priors) or any(p is not None for _, p, _ in self.held)

    def prior_residuals(self, values: Mapping) -> np.ndarray:
        """One residual per prior (of varying and held parameters): the squares sum to -2 log of
        the priors' fit-scale density, up to a constant."""
        rows = list(zip(self.names, self.priors or (None,) * len(self.names), self.transforms)) + list(self.held)
        return np.array([p.residual(values[n], t) for n, p, t in rows if p is not None], dtype=float)

    def penalty(self, values: Mapping) -> float:
        """-2 log prior (up to a constant) at these values; 0 without priors."""
        r = self.prior_residuals(values) if self.has_priors else np.zeros(0)
        return float(np.dot(r, r))

    def at_bound(self, y, tol: float = 1e-6) -> list[str]:
        return [n for n, yi, a, b in zip(self.names, y, self.lower, self.upper)
                if min(yi - a, b - yi) < tol * max(1, abs(yi))]


def with_trial_effect(model, vary, name: str):
    """The model with an ``omega_trial`` row (if it has none) and ``vary`` with it."""
    from ..model import Parameter
    from .._checks import nearest
    if name not in model.pd_names:
        raise PkpdError(f"trial_effect must be a parameter of the response model {list(model.pd_names)}, got "
                        f"{name!r}." + nearest(str(name), model.pd_names))
    if "omega_trial" not in {p.name for p in model.parameters}:
        from dataclasses import replace
        row = Parameter("omega_trial", 0.3, "1", lower=1e-3, upper=3.0, assumption=True,
                        source="ASSUMPTION: starting value and bounds of the between-trial SD (pkpd.fit)")
        model = replace(model, parameters=model.parameters + (row,))
    names = list(model.response.default_vary if vary is None else ([vary] if isinstance(vary, str) else vary))
    if "omega_trial" not in names:
        names.append("omega_trial")
    return model, names
