"""Dosing: frozen dose and regimen objects, their text form, and NONMEM dosing records."""

from ._objects import Amount, Course, Dose, Regimen, Rule, WeightBands, infusion_duration
from ._parser import RegimenSyntaxError, as_regimen, named_regimens, parse_regimen
from ._nonmem import read_nonmem, write_nonmem

__all__ = ["Amount", "Course", "Dose", "Regimen", "RegimenSyntaxError", "Rule", "WeightBands", "as_regimen",
           "infusion_duration", "named_regimens", "parse_regimen", "read_nonmem", "write_nonmem"]
