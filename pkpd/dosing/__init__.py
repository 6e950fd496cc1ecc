"""Dosing: frozen dose and regimen objects, their text form, NONMEM datasets, dose tables."""

from ._objects import Amount, Course, Dose, Regimen, Rule, WeightBands, infusion_duration
from ._parser import RegimenSyntaxError, as_regimen, named_regimens, parse_regimen
from ._dataset import Dataset
from ._nonmem import dataset_from_regimens, read_nonmem, write_nonmem
from ._tables import DoseTable

__all__ = ["Amount", "Course", "Dataset", "Dose", "DoseTable", "Regimen", "RegimenSyntaxError", "Rule", "WeightBands",
           "as_regimen", "dataset_from_regimens", "infusion_duration", "named_regimens", "parse_regimen",
           "read_nonmem", "write_nonmem"]
