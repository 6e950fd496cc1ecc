"""Parameter definitions: domains, transforms and specs.

A :class:`ParameterSpec` is what a structure or response model *defines*: the name, its
internal unit, its domain and whether the engine individualises it (so that it may carry
between-subject variability). The rows of a model's table are :class:`pkpd.Parameter`
(:mod:`pkpd.model._rows`).

Transforms map a domain onto the real line, for fitting and for variability:
``log`` for positive parameters, ``logit`` for fractions in [0, 1], the identity
otherwise (PINTS keeps forward, inverse and Jacobian together in the same way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from .._errors import PkpdError


# -- transforms ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Transform:
    """A map of a parameter's domain onto the real line: ``forward``, ``inverse`` and the
    derivative of the natural value with respect to the transformed one."""

    name: str

    def forward(self, x):
        x = np.asarray(x, float)
        with np.errstate(divide="ignore"):
            if self.name == "log":
                return np.log(x)
            if self.name == "logit":
                return logit(x)
        return x

    def inverse(self, y):
        y = np.asarray(y, float)
        if self.name == "log":
            return np.exp(y)
        if self.name == "logit":
            return expit(y)
        return y

    def derivative(self, x):
        """d(natural)/d(transformed) at natural value ``x`` (the delta method's factor)."""
        x = np.asarray(x, float)
        if self.name == "log":
            return x
        if self.name == "logit":
            return x * (1 - x)
        return np.ones_like(x)

    def __str__(self) -> str:
        return self.name


LOG, LOGIT, IDENTITY = Transform("log"), Transform("logit"), Transform("identity")
TRANSFORMS = {t.name: t for t in (LOG, LOGIT, IDENTITY)}


# -- domains -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    """The values a parameter can physically take: [lower, upper], each end open or closed."""

    lower: float = -math.inf
    upper: float = math.inf
    lower_open: bool = False
    upper_open: bool = False

    def contains(self, x: float) -> bool:
        above = x > self.lower if self.lower_open else x >= self.lower
        below = x < self.upper if self.upper_open else x <= self.upper
        return above and below

    def describe(self) -> str:
        parts = []
        if self.lower > -math.inf:
            parts.append(f"{'>' if self.lower_open else '>='} {self.lower:g}")
        if self.upper < math.inf:
            parts.append(f"{'<' if self.upper_open else '<='} {self.upper:g}")
        return " and ".join(parts) or "any real number"

    @property
    def transform(self) -> Transform:
        if self.lower == 0.0 and self.upper == 1.0:
            return LOGIT
        if self.lower == 0.0 and self.upper == math.inf:
            return LOG
        return IDENTITY


POSITIVE = Domain(0.0, math.inf, lower_open=True)
NONNEGATIVE = Domain(0.0, math.inf)
FRACTION = Domain(0.0, 1.0)
POSITIVE_FRACTION = Domain(0.0, 1.0, lower_open=True)
REAL = Domain()


@dataclass(frozen=True)
class ParameterSpec:
    """The definition of a parameter name: internal unit, domain, meaning.

    ``individual``: the engine computes one value per virtual patient, so the parameter
    may carry between-subject variability (``bsv_<name>``). ``default``: the value of an
    optional parameter a model file may leave out (None: required). ``target``: for a
    variability parameter ``bsv_X``, the definition of X (its transform sets the scale).
    """

    name: str
    unit: str
    domain: Domain
    description: str
    individual: bool = True
    default: float | None = None
    target: "ParameterSpec | None" = None  # for bsv_X: the spec of X

    @property
    def transform(self) -> Transform:
        return self.domain.transform


# -- variability units ---------------------------------------------------------------------

BSV_UNITS = ("CV", "SD", "variance")


def variability_sd(value: float, unit: str, transform: Transform, what: str) -> float:
    """Between-subject variability as the SD of the random effect on the transform scale.

    ``CV`` (log-normal parameters only): omega = sqrt(ln(1 + CV^2)), the exact log-normal
    coefficient of variation; ``SD``: omega itself; ``variance``: omega^2 (NONMEM's $OMEGA).
    """
    if unit == "SD":
        return value
    if unit == "variance":
        return math.sqrt(value)
    if unit == "CV":
        if transform is not LOG:
            raise PkpdError(f"{what}: a CV describes log-normal variability, but this parameter varies on the "
                            f"{transform.name} scale; give the SD of the random effect on that scale "
                            "(unit = \"SD\") or its variance (unit = \"variance\").")
        return math.sqrt(math.log1p(value * value))
    raise PkpdError(f"{what}: unknown variability unit {unit!r}; allowed: {list(BSV_UNITS)} "
                    "(CV of a log-normal parameter, SD or variance of the random effect).")
