r"""Covariates: their distribution in the virtual population, and their effects on parameters.

A model file's ``[population]`` gives each covariate's distribution; ``[effects]`` says how
a covariate changes a parameter::

    [population]
    weight   = { median = 90, cv = 0.22, unit = "kg", source = "..." }        # log-normal
    diabetes = { proportion = 0.12, source = "..." }                          # 0/1
    age      = { mean = 46, sd = 13, unit = "year", source = "..." }          # normal
    correlations = [ { between = ["weight", "diabetes"], value = 0.3, source = "..." } ]

    [effects]
    CL_weight   = { parameter = "CL", covariate = "weight", form = "power", reference = 87.1,
                    unit = "kg", value = 0.998, source = "..." }
    CL_diabetes = { parameter = "CL", covariate = "diabetes", form = "factor", value = 1.12, source = "..." }
    CL_heavy    = { parameter = "CL", covariate = "weight", form = "above", threshold = 100,
                    unit = "kg", value = 1.55, source = "..." }

Each effect multiplies the parameter's typical value, before between-subject variability:

* ``power``: :math:`(x / x_{ref})^{\theta}` (continuous covariates, e.g. allometry);
* ``factor``: :math:`\theta^{x}` for a 0/1 covariate (:math:`\theta` in patients with it);
* ``above``: :math:`\theta` where :math:`x > x_{thr}`, 1 elsewhere (a category by a cut).

:math:`\theta` (``value``) is a parameter of the model like any other, named by the row:
it can be fitted (``vary=["IC50_weight"]``), given a prior, or changed with
``Model.replace``. ``weight_exponent_X`` rows with ``reference_weight`` are the power
effect of weight on X, written the way pkpd 0.1 did.

Virtual patients draw one standard normal score per covariate; the scores may be
correlated (a Gaussian copula: ``correlations`` give the correlation of the *scores*, which
for a 0/1 covariate is the tetrachoric correlation). A score u becomes a covariate value
through the marginal: median :math:`e^{\sigma u}` (log-normal, :math:`\sigma^2 =
\ln(1 + CV^2)`), mean + sd u (normal), or :math:`1[u > \Phi^{-1}(1 - p)]` (proportion p).
A trial arm restricted to a band of a covariate (``weight <= 100 kg``) maps the same
scores into the band (:meth:`Covariate.within`), so that an arm's patients are the model's
population conditioned on the band, smoothly and without rejection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr, ndtri

from .._checks import nearest, number
from .._errors import PkpdError

DISTRIBUTIONS = ("lognormal", "normal", "bernoulli")
FORMS = ("power", "factor", "above")


@dataclass(frozen=True)
class Covariate:
    """The distribution of one covariate in the virtual population.

    ``location`` is the median (log-normal), the mean (normal) or the proportion with the
    covariate (bernoulli); ``spread`` the SD of the log (log-normal) or the SD (normal).
    ``lower`` and ``upper`` restrict it to a band (lower < x <= upper).
    """

    name: str
    distribution: str
    location: float
    spread: float = 0.0
    unit: str = "1"
    source: str = ""
    lower: float = -math.inf
    upper: float = math.inf

    def __post_init__(self):
        if self.distribution not in DISTRIBUTIONS:
            raise PkpdError(f"Covariate '{self.name}': unknown distribution {self.distribution!r}; allowed: "
                            f"{list(DISTRIBUTIONS)}." + nearest(self.distribution, DISTRIBUTIONS))
        if self.distribution == "bernoulli":
            number(f"Covariate '{self.name}': proportion", self.location, minimum=0, maximum=1)
        elif self.distribution == "lognormal":
            number(f"Covariate '{self.name}': median", self.location, above=0)
        else:
            number(f"Covariate '{self.name}': mean", self.location)
        number(f"Covariate '{self.name}': spread", self.spread, minimum=0)
        if not self.lower < self.upper:
            raise PkpdError(f"Covariate '{self.name}': the band's lower end {self.lower:g} must be below its upper "
                            f"end {self.upper:g}.")
        if self._mass() <= 0:
            raise PkpdError(f"Covariate '{self.name}': no patient of this distribution lies in ({self.lower:g}, "
                            f"{self.upper:g}] {self.unit}; widen the band.")

    # -- scores and values -------------------------------------------------------------------
    def _score(self, x: float) -> float:
        """The standard-normal score at which the covariate passes x (for band ends)."""
        if math.isinf(x):
            return x
        if self.distribution == "lognormal":
            if x <= 0:
                return -math.inf
            return math.log(x / self.location) / self.spread if self.spread > 0 else math.copysign(math.inf, x -
                                                                                                   self.location)
        if self.distribution == "normal":
            return (x - self.location) / self.spread if self.spread > 0 else math.copysign(math.inf,
                                                                                          x - self.location)
        # bernoulli: values 0 and 1; the score cut between them
        cut = float(ndtri(1.0 - self.location))
        if x < 0:
            return -math.inf
        return cut if x < 1 else math.inf

    def _mass(self) -> float:
        """The share of the distribution within the band (from the nearer tail: no rounding to 1)."""
        lo, hi = self._score(self.lower), self._score(self.upper)
        return float(ndtr(-lo) - ndtr(-hi)) if lo > 0 else float(ndtr(hi) - ndtr(lo))

    def values(self, u) -> np.ndarray:
        """Covariate values of patients with standard-normal scores ``u``."""
        u = np.asarray(u, float)
        lo, hi = self._score(self.lower), self._score(self.upper)
        # A band: the scores mapped into it, keeping their order. A band above the median is
        # mapped through upper-tail probabilities, which keep their precision far out (weight >
        # 500 kg has a share of 1e-15: as lower-tail ones they would round to 1).
        if lo > 0:
            u = -ndtri(ndtr(-hi) + (ndtr(-lo) - ndtr(-hi)) * ndtr(-u))
        elif (lo, hi) != (-math.inf, math.inf):
            u = ndtri(ndtr(lo) + (ndtr(hi) - ndtr(lo)) * ndtr(u))
        if self.distribution == "lognormal":
            return self.location * np.exp(self.spread * u)
        if self.distribution == "normal":
            return self.location + self.spread * u
        return (u > ndtri(1.0 - self.location)).astype(float)

    def within(self, lower: float = -math.inf, upper: float = math.inf) -> "Covariate":
        """This distribution restricted to lower < x <= upper (in the covariate's unit)."""
        return replace(self, lower=max(self.lower, float(lower)), upper=min(self.upper, float(upper)))

    def describe(self) -> str:
        if self.distribution == "bernoulli":
            text = f"proportion {self.location:g}"
        elif self.distribution == "lognormal":
            text = f"log-normal, median {self.location:g} {self.unit}, CV {math.sqrt(math.expm1(self.spread ** 2)):.3g}"
        else:
            text = f"normal, mean {self.location:g} {self.unit}, SD {self.spread:g}"
        if self.lower > -math.inf or self.upper < math.inf:
            text += f", within ({self.lower:g}, {self.upper:g}] {self.unit}"
        return text


def weight_distribution(median: float, cv: float, source: str = "") -> Covariate:
    """Body weight (kg), log-normal with this median and coefficient of variation."""
    return Covariate("weight", "lognormal", float(median), math.sqrt(math.log1p(float(cv) ** 2)), "kg", source)


@dataclass(frozen=True)
class Correlation:
    """Correlation of two covariates' normal scores (a Gaussian copula)."""

    first: str
    second: str
    value: float
    source: str = ""


def score_correlation(names, correlations) -> np.ndarray | None:
    """The correlation matrix of the scores of ``names`` (None when they are independent)."""
    if not correlations:
        return None
    index = {n: i for i, n in enumerate(names)}
    R = np.eye(len(names))
    for c in correlations:
        if c.first in index and c.second in index:
            R[index[c.first], index[c.second]] = R[index[c.second], index[c.first]] = c.value
    if np.array_equal(R, np.eye(len(names))):
        return None
    eig = np.linalg.eigvalsh(R)
    if eig.min() <= 1e-10:
        raise PkpdError(f"The correlations of covariates {list(names)} do not form a valid correlation matrix "
                        f"(smallest eigenvalue {eig.min():.3g}); reduce them.")
    return R


def correlate(scores: np.ndarray, R: np.ndarray | None) -> np.ndarray:
    """Independent standard-normal scores (n, k) made correlated as R says."""
    return scores if R is None else scores @ np.linalg.cholesky(R).T


# -- effects -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Effect:
    """A covariate's effect on a parameter; its strength is the model parameter ``name``.

    ``reference`` (power) is a number, or the name of a parameter holding it (the
    ``reference_weight`` of ``weight_exponent_X`` rows); ``threshold`` is the cut of
    ``above``; both in ``unit`` (a model converts them to its covariate's unit; "" means
    that unit).
    """

    name: str
    parameter: str
    covariate: str
    form: str
    reference: float | str | None = None
    threshold: float | None = None
    unit: str = ""
    source: str = ""

    def __post_init__(self):
        if self.form not in FORMS:
            raise PkpdError(f"Effect '{self.name}': unknown form {self.form!r}; allowed: {list(FORMS)}."
                            + nearest(self.form, FORMS))
        if self.form == "power" and self.reference is None:
            raise PkpdError(f"Effect '{self.name}' (power) needs a reference value of '{self.covariate}' "
                            "(e.g. reference = 90, unit = \"kg\").")
        if self.form == "above" and self.threshold is None:
            raise PkpdError(f"Effect '{self.name}' (above) needs a threshold of '{self.covariate}' "
                            "(e.g. threshold = 100, unit = \"kg\").")

    def in_unit(self, unit: str) -> "Effect":
        """This effect with its reference or threshold converted to ``unit``."""
        if self.unit in ("", unit) or (self.reference is None or isinstance(self.reference, str)) and self.threshold is None:
            return replace(self, unit=unit)
        from .. import _units
        try:
            f = _units.conversion_factor(self.unit, unit)
        except PkpdError as err:
            raise PkpdError(f"Effect '{self.name}': {err} (the covariate '{self.covariate}' is in {unit!r}).") from None
        return replace(self, unit=unit, reference=None if self.reference is None else self.reference * f,
                       threshold=None if self.threshold is None else self.threshold * f)

    def multiplier(self, x, strength: float, values) -> np.ndarray:
        """The factor on the parameter for covariate values ``x`` (``values``: the model's values)."""
        x = np.asarray(x, float)
        if self.form == "power":
            ref = values[self.reference] if isinstance(self.reference, str) else self.reference
            return (x / ref) ** strength
        if self.form == "factor":
            return np.where(x != 0, strength ** x, 1.0)
        return np.where(x > self.threshold, strength, 1.0)

    def describe(self) -> str:
        if self.form == "power":
            ref = self.reference if isinstance(self.reference, str) else f"{self.reference:g}"
            return f"{self.parameter} x ({self.covariate} / {ref})^{self.name}"
        if self.form == "factor":
            return f"{self.parameter} x {self.name} if {self.covariate}"
        return f"{self.parameter} x {self.name} if {self.covariate} > {self.threshold:g}"
