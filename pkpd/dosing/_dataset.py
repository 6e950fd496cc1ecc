"""A NONMEM dataset as a frozen object: records per individual, in the units of its file.

:func:`pkpd.read_nonmem` builds one; :func:`pkpd.simulate` takes one and gives every
individual its own doses, covariates and output records; :func:`pkpd.write_nonmem` writes
one back. The record conventions are described in :mod:`pkpd.dosing._nonmem`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd

from .._checks import array
from .._errors import PkpdError

# The data items pkpd reads, in the order they are written. Their values are numbers in
# the dataset's units: TIME and II in ``time_unit``, AMT in mg, RATE in mg per ``time_unit``
# (or -1/-2 for a modelled rate/duration), DV in mg/L.
ITEMS = ("ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS", "DV", "MDV")


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Dataset:
    """Records of a NONMEM dataset, grouped into individuals (read with :func:`pkpd.read_nonmem`).

    Every record keeps its data items (``ID, TIME, EVID, AMT, CMT, RATE, II, ADDL, SS, DV,
    MDV``, NONMEM's missing ``.`` already read as NONMEM reads it), its covariates, the
    columns that give dose parameters per record, any other column as written, the CSV
    line it came from and the individual it belongs to. A new block of ID starts a new
    individual, as in NONMEM: IDs 1, 2, 1 are three individuals.

    Attributes
    ----------
    time_unit : {"hour", "day", "week"}
        Unit of TIME and II; RATE is mg per this unit.
    covariates : tuple of str
        Covariate columns (``WT``, body weight in kg, when the file has it, then those named).
    weight : str or None
        The covariate that is body weight (kg), or None.
    parameters : mapping
        Model dose parameter -> column giving its value per dose record (e.g.
        ``{"F_central": "BIOAV"}``, NONMEM's ``F2 = BIOAV``); a missing value leaves the model's.
    compartments : mapping or None
        CMT number -> compartment ("depot", "central"); None: the model's NONMEM numbering.
    skipped : tuple of int
        CSV lines skipped as comments (NONMEM's IGNORE).
    source : str
        Where the records came from.
    """

    columns: Mapping[str, np.ndarray]
    individual: np.ndarray
    line: np.ndarray
    time_unit: str
    covariates: tuple[str, ...] = ()
    weight: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    compartments: Mapping[int, str] | None = None
    extra: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    skipped: tuple[int, ...] = ()
    source: str = ""

    def __post_init__(self):
        cols = {name: _frozen(v) for name, v in self.columns.items()}
        missing = [c for c in ITEMS if c not in cols]
        if missing:
            raise PkpdError(f"A Dataset needs the data items {list(ITEMS)}; missing {missing}.")
        n = cols["TIME"].shape[0]
        if any(v.shape != (n,) for v in cols.values()):
            raise PkpdError("Every Dataset column must hold one value per record.")
        object.__setattr__(self, "columns", MappingProxyType(cols))
        object.__setattr__(self, "individual", _frozen(np.asarray(self.individual, dtype=np.int64)))
        object.__setattr__(self, "line", _frozen(np.asarray(self.line, dtype=np.int64)))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        if self.compartments is not None:
            object.__setattr__(self, "compartments", MappingProxyType(dict(self.compartments)))
        object.__setattr__(self, "extra", tuple(self.extra))
        object.__setattr__(self, "order", tuple(self.order) or tuple(cols))
        object.__setattr__(self, "skipped", tuple(self.skipped))

    # -- shape ----------------------------------------------------------------------------
    @property
    def n_records(self) -> int:
        return int(self.columns["TIME"].shape[0])

    @property
    def n_individuals(self) -> int:
        return int(self.individual[-1]) + 1 if self.n_records else 0

    def __len__(self) -> int:
        return self.n_individuals

    @property
    def ids(self) -> np.ndarray:
        """The ID of each individual (IDs may repeat: a new ID block is a new individual)."""
        first = np.flatnonzero(np.r_[True, np.diff(self.individual) != 0])
        return self.columns["ID"][first]

    def __getitem__(self, name: str) -> np.ndarray:
        """The values of one column, one per record (read-only)."""
        try:
            return self.columns[name]
        except KeyError:
            raise PkpdError(f"Dataset has no column {name!r}; columns: {list(self.order)}.") from None

    # -- views ----------------------------------------------------------------------------
    @property
    def table(self) -> pd.DataFrame:
        """A copy of the records: ``individual``, ``line`` and every column, in file units."""
        data = {"individual": self.individual, "line": self.line}
        data.update({name: self.columns[name] for name in self.order})
        return pd.DataFrame({k: np.array(v, copy=True) for k, v in data.items()})

    @property
    def doses(self) -> pd.DataFrame:
        """Dose records (EVID 1 and 4)."""
        t = self.table
        return t[t.EVID.isin([1, 4])].reset_index(drop=True)

    @property
    def observations(self) -> pd.DataFrame:
        """Observation records (EVID 0)."""
        t = self.table
        return t[t.EVID == 0].reset_index(drop=True)

    def weights(self) -> np.ndarray | None:
        """Body weight (kg) of every record, or None when the dataset has no weight column."""
        return None if self.weight is None else np.asarray(self.columns[self.weight], float)

    def time_varying(self) -> tuple[str, ...]:
        """Covariates whose value changes within some individual."""
        out = []
        for name in self.covariates:
            v = np.asarray(self.columns[name], float)
            same = (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
            if np.any(~same & (self.individual[1:] == self.individual[:-1])):
                out.append(name)
        return tuple(out)

    def constant_covariates(self) -> pd.DataFrame:
        """One row per individual (ID and each covariate that is constant within every individual)."""
        first = np.flatnonzero(np.r_[True, np.diff(self.individual) != 0])
        varying = set(self.time_varying())
        data = {"ID": self.ids}
        data.update({c: np.asarray(self.columns[c], float)[first] for c in self.covariates if c not in varying})
        return pd.DataFrame(data, index=pd.RangeIndex(self.n_individuals, name="individual"))

    # -- changes --------------------------------------------------------------------------
    def with_dv(self, dv) -> "Dataset":
        """A copy whose DV of every observation (EVID 0, MDV 0) is ``dv`` (mg/L).

        ``dv`` has one value per record (e.g. the simulated ``DV``, NaN where there is no
        observation) or one per observation; other records keep a missing DV.
        """
        dv = array("dv", dv)
        if np.any(np.isinf(dv)):
            raise PkpdError(f"dv must be finite numbers (NaN where there is no observation), got {dv[np.isinf(dv)][0]}.")
        observed = (self.columns["EVID"] == 0) & (self.columns["MDV"] == 0)
        new = np.full(self.n_records, np.nan)
        if dv.shape == (self.n_records,):
            new[observed] = dv[observed]
        elif dv.shape == (int(observed.sum()),):
            new[observed] = dv
        else:
            raise PkpdError(f"with_dv needs one DV per record ({self.n_records}) or per observation "
                            f"(EVID 0, MDV 0: {int(observed.sum())}); got shape {dv.shape}.")
        cols = dict(self.columns)
        cols["DV"] = new
        return Dataset(cols, self.individual, self.line, self.time_unit, self.covariates, self.weight,
                       self.parameters, self.compartments, self.extra, self.order, self.skipped, self.source)

    def equals(self, other: "Dataset") -> bool:
        """Same records (every column, missing values included), individuals, units and settings."""
        if not isinstance(other, Dataset):
            return False
        if (self.time_unit, self.covariates, self.weight, dict(self.parameters)) != \
                (other.time_unit, other.covariates, other.weight, dict(other.parameters)):
            return False
        if set(self.order) != set(other.order) or not np.array_equal(self.individual, other.individual):
            return False
        for name in self.order:
            a, b = self.columns[name], other.columns[name]
            if a.dtype.kind == "f" or b.dtype.kind == "f":
                if not np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True):
                    return False
            elif not np.array_equal(a, b):
                return False
        return True

    def __repr__(self) -> str:
        return (f"Dataset({self.n_individuals} individuals, {self.n_records} records, TIME in {self.time_unit}s, "
                f"covariates {list(self.covariates)}, from {self.source or 'a table'})")
