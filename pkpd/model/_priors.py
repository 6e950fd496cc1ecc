r"""Prior distributions of parameters, as model files and :func:`pkpd.fit` give them.

A model file's ``[priors]`` section (or ``fit(..., priors=...)``) gives, per parameter::

    kout = { distribution = "lognormal", median = 0.016, unit = "1/day", sd = 0.5, source = "..." }
    IC50 = { distribution = "normal", mean = 0.1, sd = 0.05, unit = "mg/L", source = "..." }
    Pmax = { distribution = "beta", a = 2, b = 5, source = "..." }
    hill = { distribution = "flat", source = "..." }

* ``normal``: mean and sd (in ``unit``, converted like a parameter row);
* ``lognormal``: median (in ``unit``) and sd of the natural log (positive parameters);
* ``beta``: shape parameters a, b > 0 (fractions);
* ``flat``: flat on the parameter's fit scale within its bounds (log-uniform for positive
  parameters, logit-uniform for fractions). A parameter without a prior has this one.

The priors are densities of the natural values. The posterior is a density of the fit-scale
values y (log or logit of the parameters), where the fit, its covariance and the posterior
sampler work, so each prior enters it with its Jacobian: p(y) = p(theta(y)) |dtheta/dy|.
The maximum a posteriori fit is the mode of that density, which is also the centre of the
Laplace approximation (normal on the fit scale) that :func:`pkpd.predict` draws from. For a
lognormal prior of a log-scale parameter the prior alone puts it at the median (not at the
natural-scale mode median x exp(-sd^2)); for a beta prior of a fraction, at a / (a + b).
Each prior adds one residual to the least-squares fit whose square is -2 log p(y) above its
minimum (:meth:`Prior.residual`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import betaln

from .. import _units
from .._checks import nearest, number
from .._errors import PkpdError

DISTRIBUTIONS = {"normal": ("mean", "sd"), "lognormal": ("median", "sd"), "beta": ("a", "b"), "flat": ()}
_FIELDS = ("distribution", "unit", "source", "mean", "median", "sd", "a", "b")


@dataclass(frozen=True)
class Prior:
    """A prior distribution of one parameter (natural scale, internal units)."""

    distribution: str
    mean: float | None = None
    median: float | None = None
    sd: float | None = None
    a: float | None = None
    b: float | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not isinstance(self.distribution, str) or self.distribution not in DISTRIBUTIONS:
            raise PkpdError(f"Unknown prior distribution {self.distribution!r}; allowed: {list(DISTRIBUTIONS)}."
                            + nearest(str(self.distribution), DISTRIBUTIONS))
        for name in DISTRIBUTIONS[self.distribution]:
            if getattr(self, name) is None:
                raise PkpdError(f"A {self.distribution} prior needs {' and '.join(DISTRIBUTIONS[self.distribution])}; "
                                f"{name} is missing.")
        extra = [n for n in ("mean", "median", "sd", "a", "b")
                 if getattr(self, n) is not None and n not in DISTRIBUTIONS[self.distribution]]
        if extra:
            raise PkpdError(f"A {self.distribution} prior takes {list(DISTRIBUTIONS[self.distribution]) or 'nothing'}, "
                            f"not {extra}.")
        if self.sd is not None:
            object.__setattr__(self, "sd", number("Prior sd", self.sd, above=0))
        if self.mean is not None:
            object.__setattr__(self, "mean", number("Prior mean", self.mean))
        if self.median is not None:
            object.__setattr__(self, "median", number("Prior median", self.median, above=0))
        for name in ("a", "b"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, number(f"Beta prior {name}", getattr(self, name), above=0))

    def logpdf(self, x) -> np.ndarray:
        """Log density at natural values x (a proper density; 0 for flat)."""
        x = np.asarray(x, float)
        if self.distribution == "normal":
            return -0.5 * ((x - self.mean) / self.sd) ** 2 - math.log(self.sd * math.sqrt(2 * math.pi))
        if self.distribution == "lognormal":
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (np.log(x) - math.log(self.median)) / self.sd
                return -0.5 * z * z - np.log(x * self.sd * math.sqrt(2 * math.pi))
        if self.distribution == "beta":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (self.a - 1) * np.log(x) + (self.b - 1) * np.log1p(-x) - betaln(self.a, self.b)
        return np.zeros_like(x)

    def fit_logpdf(self, x, transform) -> np.ndarray:
        """Log density of the fit-scale value y = transform(x), at natural values x."""
        if self.distribution == "flat":
            return np.zeros_like(np.asarray(x, float))
        with np.errstate(divide="ignore"):
            return self.logpdf(x) + np.log(transform.derivative(x))

    def fit_mode(self, transform) -> float | None:
        """The natural value at the mode of the fit-scale density (None for flat)."""
        d, name = self.distribution, transform.name
        if d == "flat":
            return None
        if d == "lognormal" and name == "log":
            return self.median
        if d == "beta" and name == "logit":
            return self.a / (self.a + self.b)
        if d == "normal" and name == "identity":
            return self.mean
        if d == "normal" and name == "log":  # the positive root of x^2 - mean x - sd^2 = 0
            return 0.5 * (self.mean + math.sqrt(self.mean ** 2 + 4 * self.sd ** 2))
        from scipy.optimize import minimize_scalar  # other pairs: a one-dimensional search on y
        res = minimize_scalar(lambda y: -float(self.fit_logpdf(transform.inverse(y), transform)),
                              bracket=(-1.0, 1.0), tol=1e-12)
        return float(transform.inverse(res.x))

    def residual(self, x: float, transform) -> float:
        """A residual whose square is -2 log p(y) above its minimum (y the fit-scale value)."""
        d, name = self.distribution, transform.name
        if d == "flat":
            return 0.0
        if d == "normal" and name == "identity":
            return (x - self.mean) / self.sd
        if d == "lognormal" and name == "log":
            return (math.log(x) - math.log(self.median)) / self.sd
        mode = self.fit_mode(transform)
        rise = 2.0 * float(self.fit_logpdf(mode, transform) - self.fit_logpdf(x, transform))
        return math.copysign(math.sqrt(max(rise, 0.0)), x - mode)

    def sample(self, rng, size: int) -> np.ndarray:
        if self.distribution == "normal":
            return rng.normal(self.mean, self.sd, size)
        if self.distribution == "lognormal":
            return self.median * np.exp(self.sd * rng.standard_normal(size))
        if self.distribution == "beta":
            return rng.beta(self.a, self.b, size)
        raise PkpdError("A flat prior has no draws without bounds.")

    def describe(self) -> str:
        parts = [f"{n} {getattr(self, n):g}" for n in DISTRIBUTIONS[self.distribution]]
        return f"{self.distribution}({', '.join(parts)})" if parts else self.distribution


def prior_from_row(name: str, row, spec, where: str) -> Prior:
    """A Prior from a model file's row for parameter ``name`` with definition ``spec``."""
    at = f"{where}, prior of '{name}'"
    if not isinstance(row, dict) and not hasattr(row, "items"):
        raise PkpdError(f"{at} must be a table such as {{ distribution = \"lognormal\", median = 1, sd = 0.5, "
                        "unit = \"...\", source = \"...\" }}.")
    for key in row:
        if key not in _FIELDS:
            raise PkpdError(f"{at}: unknown field {key!r}.{nearest(key, _FIELDS)} Allowed: {list(_FIELDS)}.")
    source = row.get("source")
    if not isinstance(source, str) or not source.strip():
        raise PkpdError(f"{at} names no source; say where the prior comes from (or why, as an ASSUMPTION).")
    distribution = row.get("distribution")
    if not isinstance(distribution, str):
        raise PkpdError(f"{at}: `distribution` must be one of {list(DISTRIBUTIONS)}.")
    values = {}
    for key in ("mean", "median", "sd", "a", "b"):
        if key in row:
            values[key] = number(f"{at}: {key}", row[key])
    unit = row.get("unit", spec.unit if spec is not None else "")
    if not isinstance(unit, str):
        raise PkpdError(f"{at}: `unit` must be text.")
    if spec is not None and spec.unit not in ("1", "", "SD"):
        try:
            factor = _units.conversion_factor(unit.strip(), spec.unit)
        except PkpdError as err:
            raise PkpdError(f"{at}: {err}.") from None
        for key in ("mean", "sd") if distribution == "normal" else ("median",):
            if key in values:
                values[key] *= factor
    if distribution == "beta" and spec is not None and spec.transform.name != "logit":
        raise PkpdError(f"{at}: a beta prior is for fractions in [0, 1]; {name} is not one.")
    if distribution == "lognormal" and spec is not None and spec.transform.name != "log":
        raise PkpdError(f"{at}: a lognormal prior is for positive parameters; {name} is not one.")
    try:
        return Prior(distribution, source=source, **values)
    except PkpdError as err:
        raise PkpdError(f"{at}: {err}") from None
