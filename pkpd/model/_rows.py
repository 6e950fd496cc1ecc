"""The rows of a model's parameter table.

A :class:`Parameter` is one row of a model file: a value with its unit, bounds and
source. Rows are validated once, at construction: the value is converted from the row's
unit to the internal unit of its definition (pint reads the unit), then checked against
the domain and the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import _units
from .._checks import format_number, number
from .._errors import PkpdError
from ._parameters import IDENTITY, ParameterSpec, Transform, variability_sd
from ._registry import parameter_spec


@dataclass(frozen=True)
class Parameter:
    """One row of a model's parameter table, in the internal unit of its name.

    ``unit`` is the unit ``value`` and the bounds are given in; it is converted to the
    internal unit on construction (``given`` keeps the row as written when that changed
    anything). ``spec`` defaults to the registered definition of ``name``.

    Examples
    --------
    >>> p = Parameter("CL", 0.011083, "L/h", source="example")
    >>> p.value, p.unit, p.given
    (0.265992, 'L/day', '0.011083 L/h')
    """

    name: str
    value: float
    unit: str = ""
    description: str = ""
    source: str = ""
    lower: float = -math.inf
    upper: float = math.inf
    assumption: bool = False
    given: str = field(default="", compare=False)
    spec: ParameterSpec | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise PkpdError(f"A parameter name is a word such as 'CL' or 'bsv_V', got {self.name!r}.")
        what = f"Parameter '{self.name}'"
        value = number(what, self.value)
        lower = self.lower if self.lower in (-math.inf, math.inf) else number(f"{what}: lower bound", self.lower)
        upper = self.upper if self.upper in (-math.inf, math.inf) else number(f"{what}: upper bound", self.upper)
        if not isinstance(self.unit, str):
            raise PkpdError(f"{what}: unit must be text such as 'L/day', got {self.unit!r}.")
        spec = self.spec if self.spec is not None else parameter_spec(self.name)
        unit = self.unit.strip()
        if spec is not None:
            value, lower, upper, unit, given = _to_internal(spec, value, lower, upper, unit, what)
        else:
            given = ""
        if not lower < upper:
            raise PkpdError(f"{what}: lower bound {lower!r} must be below upper bound {upper!r}. "
                            "Swap them if they are reversed.")
        if spec is not None and not spec.domain.contains(value):
            raise PkpdError(f"{what} = {value!r} is not allowed; it must be {spec.domain.describe()}.")
        if not lower <= value <= upper:
            raise PkpdError(f"{what} = {value!r} is outside its bounds [{lower!r}, {upper!r}].")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "given", self.given or given)
        object.__setattr__(self, "spec", spec)

    @property
    def transform(self) -> Transform:
        return self.spec.transform if self.spec is not None else IDENTITY


def _to_internal(spec: ParameterSpec, value, lower, upper, unit, what):
    """(value, lower, upper, internal unit, given text) of a row in its unit."""
    if spec.unit == "SD":  # between-subject variability
        unit = unit or "SD"
        transform = spec.target.transform
        convert = lambda x: x if x in (-math.inf, math.inf) or x < 0 else variability_sd(x, unit, transform, what)
        if value < 0:
            raise PkpdError(f"{what} = {value!r} is not allowed; variability must be >= 0.")
    else:
        if unit == "" and spec.unit not in ("1", ""):
            raise PkpdError(f"{what} gives no unit; it is a {spec.description or 'quantity'} in {spec.unit!r}: "
                            f"add unit = \"{spec.unit}\" (or any unit of that dimension).")
        try:
            factor = _units.conversion_factor(unit or "1", spec.unit)
        except PkpdError as err:
            raise PkpdError(f"{what}: {err}.") from None
        convert = lambda x: x if factor == 1.0 or x in (-math.inf, math.inf) else x * factor
    new = convert(value)
    given = "" if new == value and unit in (spec.unit, "") else f"{format_number(value)} {unit}"
    return new, convert(lower), convert(upper), spec.unit, given
