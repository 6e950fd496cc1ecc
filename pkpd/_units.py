"""Units: the one place where times, doses and parameter units are named and converted.

Inside pkpd every number is in one internal unit per quantity: time in **days**, amounts
in **mg**, concentrations in **mg/L** (= ug/mL), volumes in **L**, body weight in **kg**.
Numbers are converted on entry and refused when they cannot be.

* Times at the surface: every function that takes times takes ``time_unit`` (``"day"``
  by default, ``"week"`` or ``"hour"``); results carry ``time`` in days and a ``week``
  coordinate.
* Dose amounts: ``mg``, ``ug`` (also ``µg``, ``mcg``), ``g``, and the same per ``kg``.
* Parameter rows of model files: any unit pint can read, of the dimension the parameter
  needs (``L/h`` for a clearance is converted to L/day; ``furlongs`` is refused). pint is
  imported only when a row's unit differs from the internal unit.
"""

from __future__ import annotations

import functools

import numpy as np

from ._errors import PkpdError

# Time units at the surface: (numerator, denominator) of the factor to days, so that
# hours divide by 24 (correctly rounded) and weeks multiply by 7 (exact for whole weeks).
_TIME = {"day": (1.0, 1.0), "week": (7.0, 1.0), "hour": (1.0, 24.0)}
TIME_UNITS = tuple(_TIME)
# Words that name a time unit in regimen text and tables.
TIME_WORDS = {"day": "day", "days": "day", "d": "day",
              "week": "week", "weeks": "week", "wk": "week", "wks": "week", "w": "week",
              "hour": "hour", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour"}
MINUTE_WORDS = ("min", "mins", "minute", "minutes")

# Dose amounts: factor to mg.
DOSE_UNITS = {"mg": 1.0, "ug": 1e-3, "µg": 1e-3, "μg": 1e-3, "mcg": 1e-3, "g": 1e3}
# Infusion rates in regimen text: factor to mg/day.
RATE_UNITS = {"mg/h": 24.0, "mg/day": 1.0, "mg/min": 1440.0}


def time_unit(unit) -> str:
    """The canonical name of a surface time unit ('day', 'week' or 'hour')."""
    name = TIME_WORDS.get(str(unit).strip().lower()) if isinstance(unit, str) else None
    if name is None:
        raise PkpdError(f"Unknown time unit {unit!r}; allowed: {list(TIME_UNITS)}.")
    return name


def to_days(values, unit: str = "day"):
    """``values`` (number or array) given in ``unit``, in days."""
    num, den = _TIME[time_unit(unit)]
    x = np.asarray(values, dtype=float) if not isinstance(values, float) else values
    if num != 1.0:
        x = x * num
    if den != 1.0:
        x = x / den
    return x


def from_days(days, unit: str = "day"):
    """Days expressed in ``unit`` (the inverse of :func:`to_days`)."""
    num, den = _TIME[time_unit(unit)]
    x = days
    if den != 1.0:
        x = x * den
    if num != 1.0:
        x = x / num
    return x


def dose_unit(unit: str) -> tuple[float, bool]:
    """(factor to mg, per kg?) of a dose unit such as 'ug' or 'mg/kg'."""
    text = str(unit).strip()
    per_kg = text.lower().endswith("/kg")
    base = text[:-3] if per_kg else text
    factor = DOSE_UNITS.get(base) or DOSE_UNITS.get(base.lower())
    if factor is None:
        allowed = list(DOSE_UNITS) + [f"{u}/kg" for u in ("mg", "ug", "g")]
        raise PkpdError(f"Unknown dose unit {unit!r}; allowed: {allowed}.")
    return factor, per_kg


# -- parameter units (pint) ----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _registry():
    import pint
    return pint.UnitRegistry()


@functools.lru_cache(maxsize=256)
def conversion_factor(unit: str, internal: str) -> float:
    """Factor that takes a value in ``unit`` to ``internal``; PkpdError if it cannot.

    The error says which dimension was expected. Offsets (degrees Celsius) do not occur
    in pharmacokinetic parameters and are refused by pint's multiplicative conversion.
    """
    if unit == internal:
        return 1.0
    ureg = _registry()
    import pint
    try:
        given = ureg.Quantity(1.0, unit or "dimensionless")
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, ValueError, AssertionError, SyntaxError, KeyError) as err:
        raise PkpdError(f"unit {unit!r} is not a unit pint can read ({type(err).__name__}); "
                        f"expected a unit convertible to {internal!r}") from None
    target = ureg.Quantity(1.0, internal or "dimensionless")
    if given.dimensionality != target.dimensionality:
        raise PkpdError(f"unit {unit!r} is a {_dimension_name(given)}, but this parameter is a "
                        f"{_dimension_name(target)} (internal unit {internal or '1'!r})")
    return float(given.to(target.units).magnitude)


def check_unit(unit: str) -> str:
    """``unit`` if pint can read it, else a PkpdError."""
    if unit in ("", "1"):
        return unit
    import pint
    try:
        _registry().Quantity(1.0, unit)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, ValueError, AssertionError, SyntaxError, KeyError) as err:
        raise PkpdError(f"unit {unit!r} is not a unit pint can read ({type(err).__name__})") from None
    return unit


_DIMENSION_NAMES = {
    "[length] ** 3 / [time]": "volume per time", "[length] ** 3": "volume", "1 / [time]": "rate (1/time)",
    "[time]": "time", "[mass]": "mass", "[mass] / [length] ** 3": "concentration (mass per volume)",
    "[mass] / [time]": "mass per time", "dimensionless": "dimensionless number", "[length]": "length",
    "[substance] / [length] ** 3": "molar concentration",
}


def _dimension_name(q) -> str:
    dim = str(q.dimensionality)
    return f"{_DIMENSION_NAMES.get(dim, 'quantity')} ({dim})"


def convert(value: float, unit: str, internal: str) -> float:
    """``value`` in ``unit`` converted to ``internal`` (identity when the two are the same text)."""
    factor = conversion_factor(str(unit).strip(), internal)
    return value if factor == 1.0 else value * factor
